//! The x86_64 `syscall` instruction: number in rax, arguments in rdi, rsi,
//! rdx, r10, r8, r9, result in rax; the CPU clobbers rcx and r11.
//!
//! # Safety
//!
//! These functions are the one place the crate executes `syscall`. They
//! are `unsafe fn`: the kernel may read or write any memory an argument
//! points to, or change the address space, so the caller vouches for the
//! arguments. The assembly itself preserves every register but rax, rcx
//! and r11 and is declared to touch memory.
#![allow(unsafe_code)]

use core::arch::asm;

/// A syscall number, as put in rax.
pub type Nr = arch::x86_64::nr::Nr;

/// Runs syscall `nr` with no argument; returns rax unchanged.
///
/// # Safety
///
/// The syscall must be sound to make in this process with these arguments.
#[inline]
pub unsafe fn syscall0(nr: Nr) -> isize {
    let ret;
    // SAFETY: the caller vouches for the syscall; see the module doc.
    unsafe {
        asm!("syscall", inlateout("rax") nr as isize => ret,
            lateout("rcx") _, lateout("r11") _, options(nostack));
    }
    ret
}

/// Runs syscall `nr` with one argument; returns rax unchanged.
///
/// # Safety
///
/// The syscall must be sound to make in this process with these arguments.
#[inline]
pub unsafe fn syscall1(nr: Nr, a1: usize) -> isize {
    let ret;
    // SAFETY: the caller vouches for the syscall; see the module doc.
    unsafe {
        asm!("syscall", inlateout("rax") nr as isize => ret, in("rdi") a1,
            lateout("rcx") _, lateout("r11") _, options(nostack));
    }
    ret
}

/// Runs syscall `nr` with two arguments; returns rax unchanged.
///
/// # Safety
///
/// The syscall must be sound to make in this process with these arguments.
#[inline]
pub unsafe fn syscall2(nr: Nr, a1: usize, a2: usize) -> isize {
    let ret;
    // SAFETY: the caller vouches for the syscall; see the module doc.
    unsafe {
        asm!("syscall", inlateout("rax") nr as isize => ret, in("rdi") a1, in("rsi") a2,
            lateout("rcx") _, lateout("r11") _, options(nostack));
    }
    ret
}

/// Runs syscall `nr` with three arguments; returns rax unchanged.
///
/// # Safety
///
/// The syscall must be sound to make in this process with these arguments.
#[inline]
pub unsafe fn syscall3(nr: Nr, a1: usize, a2: usize, a3: usize) -> isize {
    let ret;
    // SAFETY: the caller vouches for the syscall; see the module doc.
    unsafe {
        asm!("syscall", inlateout("rax") nr as isize => ret, in("rdi") a1, in("rsi") a2,
            in("rdx") a3, lateout("rcx") _, lateout("r11") _, options(nostack));
    }
    ret
}

/// Runs syscall `nr` with four arguments; returns rax unchanged.
///
/// # Safety
///
/// The syscall must be sound to make in this process with these arguments.
#[inline]
pub unsafe fn syscall4(nr: Nr, a1: usize, a2: usize, a3: usize, a4: usize) -> isize {
    let ret;
    // SAFETY: the caller vouches for the syscall; see the module doc.
    unsafe {
        asm!("syscall", inlateout("rax") nr as isize => ret, in("rdi") a1, in("rsi") a2,
            in("rdx") a3, in("r10") a4, lateout("rcx") _, lateout("r11") _, options(nostack));
    }
    ret
}

/// Runs syscall `nr` with five arguments; returns rax unchanged.
///
/// # Safety
///
/// The syscall must be sound to make in this process with these arguments.
#[inline]
pub unsafe fn syscall5(nr: Nr, a1: usize, a2: usize, a3: usize, a4: usize, a5: usize) -> isize {
    let ret;
    // SAFETY: the caller vouches for the syscall; see the module doc.
    unsafe {
        asm!("syscall", inlateout("rax") nr as isize => ret, in("rdi") a1, in("rsi") a2,
            in("rdx") a3, in("r10") a4, in("r8") a5,
            lateout("rcx") _, lateout("r11") _, options(nostack));
    }
    ret
}

/// Runs syscall `nr` with six arguments; returns rax unchanged.
///
/// # Safety
///
/// The syscall must be sound to make in this process with these arguments.
#[inline]
pub unsafe fn syscall6(
    nr: Nr,
    a1: usize,
    a2: usize,
    a3: usize,
    a4: usize,
    a5: usize,
    a6: usize,
) -> isize {
    let ret;
    // SAFETY: the caller vouches for the syscall; see the module doc.
    unsafe {
        asm!("syscall", inlateout("rax") nr as isize => ret, in("rdi") a1, in("rsi") a2,
            in("rdx") a3, in("r10") a4, in("r8") a5, in("r9") a6,
            lateout("rcx") _, lateout("r11") _, options(nostack));
    }
    ret
}
