//! The memory functions the code generator calls. With `-nostdlib` nobody
//! else provides them; string instructions keep the compiler from turning
//! them back into calls to themselves.
//!
//! # Safety
//!
//! Same contracts as the C functions: callers pass valid, non-null
//! pointers for `n` bytes (overlap allowed only for memmove).
#![allow(unsafe_code)]

use core::arch::asm;

/// `void *memcpy(void *dst, const void *src, size_t n)`.
///
/// # Safety
///
/// `dst` and `src` valid for `n` bytes, not overlapping.
#[no_mangle]
pub unsafe extern "C" fn memcpy(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    // SAFETY: the caller's contract; rep movsb copies n bytes forward.
    unsafe {
        asm!("rep movsb", inout("rcx") n => _, inout("rdi") dst => _, inout("rsi") src => _,
            options(nostack, preserves_flags));
    }
    dst
}

/// `void *memmove(void *dst, const void *src, size_t n)`.
///
/// # Safety
///
/// `dst` and `src` valid for `n` bytes; they may overlap.
#[no_mangle]
pub unsafe extern "C" fn memmove(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    if (dst as usize).wrapping_sub(src as usize) >= n {
        // SAFETY: dst is below src or past its end: a forward copy never
        // reads a byte it already overwrote.
        return unsafe { memcpy(dst, src, n) };
    }
    // SAFETY: dst overlaps the tail of src: copy backwards from the last
    // byte (direction flag set for the copy and cleared again, as the ABI
    // requires).
    unsafe {
        asm!("std", "rep movsb", "cld",
            inout("rcx") n => _,
            inout("rdi") dst.wrapping_add(n).wrapping_sub(1) => _,
            inout("rsi") src.wrapping_add(n).wrapping_sub(1) => _,
            options(nostack));
    }
    dst
}

/// `void *memset(void *dst, int c, size_t n)`.
///
/// # Safety
///
/// `dst` valid for `n` bytes.
#[no_mangle]
pub unsafe extern "C" fn memset(dst: *mut u8, c: i32, n: usize) -> *mut u8 {
    // SAFETY: the caller's contract; rep stosb writes n bytes of al.
    unsafe {
        asm!("rep stosb", inout("rcx") n => _, inout("rdi") dst => _, in("al") c as u8,
            options(nostack, preserves_flags));
    }
    dst
}

/// `int memcmp(const void *a, const void *b, size_t n)`.
///
/// # Safety
///
/// `a` and `b` valid for `n` bytes.
#[no_mangle]
pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    let mut i = 0;
    while i < n {
        // SAFETY: i < n and both are valid for n bytes; volatile reads keep
        // the loop from being recognized as a memcmp call.
        let (x, y) = unsafe { (a.add(i).read_volatile(), b.add(i).read_volatile()) };
        if x != y {
            return i32::from(x) - i32::from(y);
        }
        i += 1;
    }
    0
}

/// `int bcmp(const void *a, const void *b, size_t n)`: zero when equal.
///
/// # Safety
///
/// `a` and `b` valid for `n` bytes.
#[no_mangle]
pub unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    // SAFETY: same contract as memcmp.
    unsafe { memcmp(a, b, n) }
}
