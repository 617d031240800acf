//! The x86_64 `rt_sigframe`: what `rt_sigreturn` reads to restore a thread's
//! registers, FPU state and signal mask in one step.
//!
//! ```text
//! frame +0    pretcode (the handler's return address; unused here)
//!       +8    ucontext: flags, link, stack, sigcontext, sigmask (304 bytes)
//!       +312  siginfo (128 bytes)
//!       +440  padding up to a 64-byte aligned remote address
//! fpstate     xsave area (uc_mcontext.fpstate points here)
//!             FP_XSTATE_MAGIC2 (u32)
//! ```
//!
//! `rt_sigreturn` finds the frame at `rsp - 8`: a thread jumps into it with
//! `rsp = frame + 8` (as if a handler's `ret` had popped `pretcode`),
//! `rax = __NR_rt_sigreturn` and `syscall`.
//!
//! # Safety
//!
//! [`RtSigframe`] is viewed as bytes once; it is `repr(C)`, made only of
//! integers and integer arrays, and has no implicit padding (its size test
//! proves the fields add up to the size).
#![allow(unsafe_code)]

use core::fmt;
use core::mem::size_of;

use super::xsave::{FxSwBytes, FP_XSTATE_MAGIC2, XSAVE_ALIGN, XSAVE_MIN_SIZE};
use super::{UserRegs, USER_DS};

/// `UC_FP_XSTATE`: the fpstate holds an xsave area, not only FXSAVE.
pub const UC_FP_XSTATE: u64 = 0x1;
/// `UC_SIGCONTEXT_SS`: the sigcontext's `ss` is valid.
pub const UC_SIGCONTEXT_SS: u64 = 0x2;
/// `UC_STRICT_RESTORE_SS`: restore `ss` exactly as saved.
pub const UC_STRICT_RESTORE_SS: u64 = 0x4;

/// Offset from the frame to the `rsp` a thread must have when it calls
/// `rt_sigreturn`.
pub const SIGRETURN_RSP_OFFSET: u64 = 8;

/// Size of the kernel's `siginfo_t`.
pub const SIGINFO_SIZE: usize = 128;

/// Mirror of the kernel's x86_64 `struct sigcontext`
/// (`arch/x86/include/uapi/asm/sigcontext.h`), 256 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct SigContext {
    pub r8: u64,
    pub r9: u64,
    pub r10: u64,
    pub r11: u64,
    pub r12: u64,
    pub r13: u64,
    pub r14: u64,
    pub r15: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rbp: u64,
    pub rbx: u64,
    pub rdx: u64,
    pub rax: u64,
    pub rcx: u64,
    pub rsp: u64,
    pub rip: u64,
    pub eflags: u64,
    pub cs: u16,
    pub gs: u16,
    pub fs: u16,
    /// `__pad0` in older headers; valid when [`UC_SIGCONTEXT_SS`] is set.
    pub ss: u16,
    pub err: u64,
    pub trapno: u64,
    pub oldmask: u64,
    pub cr2: u64,
    /// Remote address of the xsave area, 64-byte aligned (0: none).
    pub fpstate: u64,
    pub reserved1: [u64; 8],
}

/// Mirror of the kernel's `stack_t` (the `uc_stack` of a ucontext).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UcStack {
    /// Base of the alternate signal stack.
    pub ss_sp: u64,
    /// `SS_ONSTACK`, `SS_DISABLE`, `SS_AUTODISARM`.
    pub ss_flags: i32,
    /// Alignment padding, zero.
    pub pad: u32,
    /// Size of the alternate signal stack.
    pub ss_size: u64,
}

/// Mirror of the kernel's `struct ucontext` with its 8-byte `sigset_t`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UContext {
    /// `UC_*` flags.
    pub uc_flags: u64,
    /// Unused by `rt_sigreturn`.
    pub uc_link: u64,
    /// Restored as the thread's sigaltstack.
    pub uc_stack: UcStack,
    /// The registers.
    pub uc_mcontext: SigContext,
    /// The signal mask.
    pub uc_sigmask: u64,
}

/// The fixed head of the kernel's x86_64 `struct rt_sigframe`; the xsave
/// area follows at [`SigContext::fpstate`].
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RtSigframe {
    /// Return address of the handler.
    pub pretcode: u64,
    /// The context `rt_sigreturn` restores.
    pub uc: UContext,
    /// `siginfo_t`, not read by `rt_sigreturn`.
    pub info: [u8; SIGINFO_SIZE],
}

impl RtSigframe {
    /// Size of the fixed head.
    pub const SIZE: usize = 440;

    fn as_bytes(&self) -> &[u8] {
        // SAFETY: see the module's Safety paragraph: a padding-free repr(C)
        // struct of integers, so all SIZE bytes are initialized; the slice
        // borrows `self` and cannot outlive it.
        unsafe { core::slice::from_raw_parts((self as *const Self).cast::<u8>(), Self::SIZE) }
    }
}

const _: () = assert!(size_of::<RtSigframe>() == RtSigframe::SIZE);

/// The FPU state to put in a frame.
#[derive(Clone, Copy, Debug)]
pub struct FpuState<'a> {
    /// Standard-format xsave area, as `PTRACE_GETREGSET NT_X86_XSTATE`
    /// returns it; its length is the xstate size.
    pub xsave: &'a [u8],
    /// Features to restore (the XCR0 user mask, as in the area's
    /// `sw_reserved` from ptrace or [`super::cpuid::xstate_info`]).
    pub xfeatures: u64,
}

/// Why a frame could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SigframeError {
    /// The xsave area is shorter than the FXSAVE area plus its header.
    XsaveTooShort {
        /// Length given.
        len: usize,
    },
    /// The frame would wrap around the address space.
    AddressOverflow {
        /// Remote address of the frame.
        remote: u64,
    },
    /// The output buffer cannot hold the frame.
    BufferTooSmall {
        /// Bytes the frame needs.
        need: usize,
        /// Bytes available.
        have: usize,
    },
}

impl fmt::Display for SigframeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::XsaveTooShort { len } => write!(f, "xsave area of {len} bytes is too short"),
            Self::AddressOverflow { remote } => {
                write!(f, "sigframe at {remote:#x} overflows the address space")
            }
            Self::BufferTooSmall { need, have } => {
                write!(f, "sigframe needs {need} bytes, buffer has {have}")
            }
        }
    }
}

/// Offset of the xsave area and total size of a frame placed at `remote`
/// with an xsave area of `xsave_len` bytes.
pub fn layout(remote: u64, xsave_len: usize) -> Result<(usize, usize), SigframeError> {
    let overflow = SigframeError::AddressOverflow { remote };
    let head_end = remote
        .checked_add(RtSigframe::SIZE as u64)
        .ok_or(overflow)?;
    let fpstate = head_end
        .checked_next_multiple_of(XSAVE_ALIGN as u64)
        .ok_or(overflow)?;
    let fp_off = usize::try_from(fpstate - remote).map_err(|_| overflow)?;
    let size = fp_off
        .checked_add(xsave_len)
        .and_then(|s| s.checked_add(size_of::<u32>()))
        .ok_or(overflow)?;
    remote.checked_add(size as u64).ok_or(overflow)?;
    Ok((fp_off, size))
}

/// Largest frame with an xsave area of `xsave_len` bytes, wherever it lands.
pub fn max_size(xsave_len: usize) -> usize {
    RtSigframe::SIZE + XSAVE_ALIGN + xsave_len + size_of::<u32>()
}

/// The ucontext that restores `regs`, `sigmask` and the xsave area at
/// remote address `fpstate`.
pub fn ucontext(regs: &UserRegs, sigmask: u64, fpstate: u64) -> UContext {
    let uc_mcontext = SigContext {
        r8: regs.r8,
        r9: regs.r9,
        r10: regs.r10,
        r11: regs.r11,
        r12: regs.r12,
        r13: regs.r13,
        r14: regs.r14,
        r15: regs.r15,
        rdi: regs.rdi,
        rsi: regs.rsi,
        rbp: regs.rbp,
        rbx: regs.rbx,
        rdx: regs.rdx,
        rax: regs.rax,
        rcx: regs.rcx,
        rsp: regs.rsp,
        rip: regs.rip,
        eflags: regs.eflags,
        cs: selector(regs.cs),
        ss: if regs.ss == 0 {
            USER_DS as u16
        } else {
            selector(regs.ss)
        },
        oldmask: sigmask,
        fpstate,
        ..SigContext::default()
    };
    UContext {
        uc_flags: UC_FP_XSTATE | UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS,
        uc_link: 0,
        uc_stack: UcStack {
            ss_flags: SS_DISABLE,
            ..UcStack::default()
        },
        uc_mcontext,
        uc_sigmask: sigmask,
    }
}

/// `SS_DISABLE`: no alternate stack. `rt_sigreturn` restores `uc_stack` as
/// the sigaltstack, so the caller sets the thread's real one with
/// [`build_with_altstack`] when it has one.
const SS_DISABLE: i32 = 2;

fn selector(value: u64) -> u16 {
    (value & 0xffff) as u16
}

/// Writes into `out` an rt_sigframe that will live at remote address
/// `remote` and restores `regs`, `fpu` and `sigmask`. Returns the frame size.
///
/// The thread's sigaltstack is set to "disabled" by the sigreturn; use
/// [`build_with_altstack`] to keep one.
pub fn build(
    out: &mut [u8],
    remote: u64,
    regs: &UserRegs,
    fpu: FpuState<'_>,
    sigmask: u64,
) -> Result<usize, SigframeError> {
    build_with_altstack(
        out,
        remote,
        regs,
        fpu,
        sigmask,
        UcStack {
            ss_flags: SS_DISABLE,
            ..UcStack::default()
        },
    )
}

/// [`build`], restoring `altstack` as the thread's sigaltstack.
pub fn build_with_altstack(
    out: &mut [u8],
    remote: u64,
    regs: &UserRegs,
    fpu: FpuState<'_>,
    sigmask: u64,
    altstack: UcStack,
) -> Result<usize, SigframeError> {
    let len = fpu.xsave.len();
    if len < XSAVE_MIN_SIZE {
        return Err(SigframeError::XsaveTooShort { len });
    }
    let (fp_off, size) = layout(remote, len)?;
    let have = out.len();
    let frame = out
        .get_mut(..size)
        .ok_or(SigframeError::BufferTooSmall { need: size, have })?;
    frame.fill(0);

    let mut uc = ucontext(regs, sigmask, remote + fp_off as u64);
    uc.uc_stack = altstack;
    let head = RtSigframe {
        pretcode: 0,
        uc,
        info: [0; SIGINFO_SIZE],
    };
    frame[..RtSigframe::SIZE].copy_from_slice(head.as_bytes());

    let (_, fp) = frame.split_at_mut(fp_off);
    let (area, magic2) = fp.split_at_mut(len);
    area.copy_from_slice(fpu.xsave);
    let xstate_size = u32::try_from(len).map_err(|_| SigframeError::XsaveTooShort { len })?;
    FxSwBytes::for_area(xstate_size, fpu.xfeatures)
        .write_to(area)
        .ok_or(SigframeError::XsaveTooShort { len })?;
    magic2.copy_from_slice(&FP_XSTATE_MAGIC2.to_le_bytes());
    Ok(size)
}

#[cfg(test)]
mod tests;
