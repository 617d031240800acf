//! The syscall-restart fix-up applied to a thread's saved registers before
//! they are given back to it.
//!
//! A thread stopped inside an interruptible syscall has `orig_rax` = the
//! syscall number and `rax` = one of the kernel's internal restart codes. The
//! kernel rewinds such a thread (rax = orig_rax, rip back over the 2-byte
//! `syscall` instruction) only on its way out of signal handling; compel
//! resumes the thread from a syscall-exit stop of its own, where that path may
//! not run, so it applies the rewind itself and sets orig_rax = -1.

use arch::x86_64::nr;
use arch::x86_64::restart::{
    EINTR, ERESTARTNOHAND, ERESTARTNOINTR, ERESTARTSYS, ERESTART_RESTARTBLOCK,
};
use arch::x86_64::trampoline::SYSCALL_LEN;

use crate::ptrace::UserRegs;

/// Registers to resume a thread with directly (PTRACE_SETREGS then detach):
/// interrupted syscalls are re-entered, `ERESTART_RESTARTBLOCK` ones through
/// `restart_syscall` (the restart block is intact as no sigreturn ran).
pub fn for_direct_resume(saved: &UserRegs) -> UserRegs {
    let mut regs = *saved;
    if (saved.orig_rax as i64) < 0 {
        return regs;
    }
    match -(saved.rax as i64) {
        ERESTARTSYS | ERESTARTNOINTR | ERESTARTNOHAND => {
            regs.rax = saved.orig_rax;
            regs.rip = saved.rip.wrapping_sub(SYSCALL_LEN as u64);
        }
        ERESTART_RESTARTBLOCK => {
            regs.rax = nr::RESTART_SYSCALL as u64;
            regs.rip = saved.rip.wrapping_sub(SYSCALL_LEN as u64);
        }
        _ => {}
    }
    regs.orig_rax = u64::MAX;
    regs
}

/// epoll_wait, epoll_pwait, epoll_pwait2, semop, semtimedop and rt_sigtimedwait do not use
/// the restart codes: any stop, even a ptrace interrupt with no signal, makes them return a
/// plain `-EINTR`. For a thread stopped that way while waiting without a timeout, and with
/// no signal to take (the caller checks), the EINTR is compel's doing: marks the call
/// restartable (rax = -ERESTARTNOHAND) so the fix-ups above re-enter it. Calls with a finite
/// timeout keep their EINTR, since re-entering them would wait longer than asked.
pub fn undo_interrupt_eintr(saved: &UserRegs) -> Option<UserRegs> {
    let waits_forever = match saved.orig_rax as i64 {
        libc::SYS_epoll_wait | libc::SYS_epoll_pwait => saved.r10 as i32 == -1,
        // The timeout is a pointer: none waits forever.
        libc::SYS_epoll_pwait2 | libc::SYS_semtimedop => saved.r10 == 0,
        libc::SYS_rt_sigtimedwait => saved.rdx == 0,
        libc::SYS_semop => true,
        _ => false,
    };
    if !waits_forever || saved.rax as i64 != -EINTR {
        return None;
    }
    Some(UserRegs {
        rax: (-ERESTARTNOHAND) as u64,
        ..*saved
    })
}

/// Registers for a sigframe that `rt_sigreturn` will load: `rt_sigreturn`
/// drops the restart block, so `ERESTART_RESTARTBLOCK` calls return EINTR.
pub fn for_sigreturn(saved: &UserRegs) -> UserRegs {
    let mut regs = *saved;
    arch::x86_64::restart_fixup(&mut regs);
    regs.orig_rax = u64::MAX;
    regs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn in_syscall(nr: u64, rax: i64) -> UserRegs {
        UserRegs {
            orig_rax: nr,
            rax: rax as u64,
            rip: 0x1002,
            ..UserRegs::default()
        }
    }

    #[test]
    fn interrupted_read_is_reentered() {
        let regs = for_direct_resume(&in_syscall(0, -ERESTARTSYS));
        assert_eq!((regs.rax, regs.rip, regs.orig_rax), (0, 0x1000, u64::MAX));
    }

    #[test]
    fn interrupted_nanosleep_goes_through_restart_syscall() {
        let regs = for_direct_resume(&in_syscall(35, -ERESTART_RESTARTBLOCK));
        assert_eq!((regs.rax, regs.rip), (219, 0x1000));
        let regs = for_sigreturn(&in_syscall(35, -ERESTART_RESTARTBLOCK));
        assert_eq!(
            (regs.rax as i64, regs.rip),
            (-i64::from(libc::EINTR), 0x1002)
        );
    }

    #[test]
    fn epoll_wait_without_timeout_is_rewound_after_an_interrupt() {
        let mut regs = in_syscall(libc::SYS_epoll_wait as u64, -EINTR);
        regs.r10 = u64::MAX;
        let marked = undo_interrupt_eintr(&regs).expect("rewound");
        assert_eq!(for_direct_resume(&marked).rip, 0x1000);
        regs.r10 = 100;
        assert_eq!(undo_interrupt_eintr(&regs), None);
        assert_eq!(undo_interrupt_eintr(&in_syscall(0, -EINTR)), None);
    }

    #[test]
    fn semop_and_sigtimedwait_without_timeout_are_rewound_after_an_interrupt() {
        let semop = in_syscall(libc::SYS_semop as u64, -EINTR);
        assert!(undo_interrupt_eintr(&semop).is_some());
        let mut semtimedop = in_syscall(libc::SYS_semtimedop as u64, -EINTR);
        assert!(undo_interrupt_eintr(&semtimedop).is_some());
        semtimedop.r10 = 0x7ffd_0000;
        assert_eq!(undo_interrupt_eintr(&semtimedop), None);
        let mut sigtimedwait = in_syscall(libc::SYS_rt_sigtimedwait as u64, -EINTR);
        assert!(undo_interrupt_eintr(&sigtimedwait).is_some());
        sigtimedwait.rdx = 0x7ffd_0000;
        assert_eq!(undo_interrupt_eintr(&sigtimedwait), None);
    }

    #[test]
    fn finished_syscalls_and_user_code_are_untouched() {
        let regs = for_direct_resume(&in_syscall(1, 5));
        assert_eq!((regs.rax, regs.rip, regs.orig_rax), (5, 0x1002, u64::MAX));
        let user = in_syscall(u64::MAX, -ERESTARTSYS);
        assert_eq!(for_direct_resume(&user).rip, 0x1002);
    }
}
