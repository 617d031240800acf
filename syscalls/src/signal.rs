//! Signals: sigaltstack, itimers and the raw rt_sigreturn entry.
//!
//! # Safety
//!
//! Installing an alternate stack or jumping into a signal frame hands the
//! kernel addresses it will use later; those are `unsafe fn`. Reading the
//! current state only writes into a borrowed struct.
#![allow(unsafe_code)]

use arch::x86_64::{nr, sigframe::SIGRETURN_RSP_OFFSET};

use crate::raw::{syscall2, syscall4};
use crate::Errno;

/// Mirror of the kernel's `stack_t`, as sigaltstack reads and writes it.
pub type Stack = arch::x86_64::sigframe::UcStack;

/// `SS_ONSTACK`: the thread runs on its alternate stack.
pub const SS_ONSTACK: i32 = 1;
/// `SS_DISABLE`: no alternate stack.
pub const SS_DISABLE: i32 = 2;

/// `ITIMER_REAL`: wall clock timer, delivers SIGALRM.
pub const ITIMER_REAL: i32 = 0;
/// `ITIMER_VIRTUAL`: user CPU time, delivers SIGVTALRM.
pub const ITIMER_VIRTUAL: i32 = 1;
/// `ITIMER_PROF`: user and system CPU time, delivers SIGPROF.
pub const ITIMER_PROF: i32 = 2;

/// Mirror of the kernel's `struct timeval` (64-bit).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timeval {
    /// Seconds.
    pub sec: i64,
    /// Microseconds.
    pub usec: i64,
}

/// Mirror of the kernel's `struct itimerval`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Itimerval {
    /// Reload value.
    pub interval: Timeval,
    /// Time to the next expiry (zero: disarmed).
    pub value: Timeval,
}

/// `sigaltstack(NULL, old)`: the calling thread's alternate signal stack.
pub fn sigaltstack_get(old: &mut Stack) -> Result<usize, Errno> {
    // SAFETY: with a NULL new stack the kernel only writes a stack_t to old.
    Errno::result(unsafe { syscall2(nr::SIGALTSTACK, 0, old as *mut Stack as usize) })
}

/// `int sigaltstack(const stack_t *ss, stack_t *old_ss)`.
///
/// # Safety
///
/// `new.ss_sp .. + ss_size` must stay mapped and unused by anything else for
/// as long as it is the thread's alternate stack.
pub unsafe fn sigaltstack(new: &Stack, old: Option<&mut Stack>) -> Result<usize, Errno> {
    let old = old.map_or(0, |o| o as *mut Stack as usize);
    // SAFETY: the kernel reads one stack_t from new and writes one to old;
    // the caller vouches for the stack new describes.
    Errno::result(unsafe { syscall2(nr::SIGALTSTACK, new as *const Stack as usize, old) })
}

/// `int getitimer(int which, struct itimerval *curr)`.
pub fn getitimer(which: i32, curr: &mut Itimerval) -> Result<usize, Errno> {
    let curr = curr as *mut Itimerval as usize;
    // SAFETY: the kernel writes one itimerval into curr.
    Errno::result(unsafe { syscall2(nr::GETITIMER, which as usize, curr) })
}

/// `SIGPIPE`.
pub const SIGPIPE: u32 = 13;

/// Mirror of the kernel's `struct timespec` (64-bit).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timespec {
    /// Seconds.
    pub sec: i64,
    /// Nanoseconds.
    pub nsec: i64,
}

/// `rt_sigtimedwait(set, NULL, {0, 0}, 8)`: takes one pending signal of
/// `set` (bit `n - 1` for signal `n`) off the thread or process queue
/// without waiting. Returns its number; `EAGAIN` if none is pending.
pub fn sigtimedwait_now(set: u64) -> Result<usize, Errno> {
    let zero = Timespec::default();
    let (set, zero) = (
        &set as *const u64 as usize,
        &zero as *const Timespec as usize,
    );
    // SAFETY: the kernel reads an 8-byte sigset and a timespec, both on our
    // stack for the duration of the call, and writes no siginfo (NULL).
    Errno::result(unsafe { syscall4(nr::RT_SIGTIMEDWAIT, set, 0, zero, 8) })
}

/// Restores the thread from the rt_sigframe at `frame`: switches the stack
/// to `frame + 8` (as after a handler's `ret`) and calls `rt_sigreturn`.
///
/// # Safety
///
/// `frame` must hold a valid x86_64 rt_sigframe (see
/// [`arch::x86_64::sigframe`]); the thread then continues wherever that
/// frame says, abandoning the current stack and every Rust frame on it.
pub unsafe fn rt_sigreturn(frame: usize) -> ! {
    let rsp = frame.wrapping_add(SIGRETURN_RSP_OFFSET as usize);
    // SAFETY: the caller vouches for the frame; nothing after the syscall
    // runs in this context.
    unsafe {
        core::arch::asm!("mov rsp, {rsp}", "syscall", "ud2", rsp = in(reg) rsp,
            in("rax") nr::RT_SIGRETURN, options(noreturn));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use memoffset::offset_of;

    #[test]
    fn itimerval_layout_matches_libc() {
        assert_eq!(
            core::mem::size_of::<Itimerval>(),
            core::mem::size_of::<libc::itimerval>()
        );
        assert_eq!(
            offset_of!(Itimerval, value),
            offset_of!(libc::itimerval, it_value)
        );
    }

    #[test]
    fn altstack_query_agrees_with_libc() {
        let mut ours = Stack {
            ss_flags: -1,
            ..Stack::default()
        };
        assert_eq!(sigaltstack_get(&mut ours), Ok(0));
        // SAFETY: stack_t is plain data; all zeroes is a valid value.
        let mut theirs: libc::stack_t = unsafe { core::mem::zeroed() };
        // SAFETY: a NULL new stack: the kernel only writes into `theirs`.
        let rc = unsafe { libc::sigaltstack(core::ptr::null(), &mut theirs) };
        assert_eq!(rc, 0);
        assert_eq!(ours.ss_sp, theirs.ss_sp as u64);
        assert_eq!(ours.ss_flags, theirs.ss_flags);
        assert_eq!(ours.ss_size, theirs.ss_size as u64);
    }

    #[test]
    fn nothing_pending_means_eagain() {
        assert_eq!(sigtimedwait_now(1 << (SIGPIPE - 1)), Err(Errno::EAGAIN));
    }

    #[test]
    fn unarmed_virtual_timer_reads_zero() {
        let mut t = Itimerval {
            value: Timeval { sec: 9, usec: 9 },
            ..Itimerval::default()
        };
        assert_eq!(getitimer(ITIMER_VIRTUAL, &mut t), Ok(0));
        assert_eq!(t, Itimerval::default());
        assert_eq!(getitimer(17, &mut t), Err(Errno::EINVAL));
    }
}
