//! x86_64: the native 64-bit mode.

pub mod nr;
mod regs;
pub mod sigframe;
pub mod trampoline;
pub mod xsave;

#[cfg(target_arch = "x86_64")]
pub mod cpuid;

pub use regs::UserRegs;

/// Code segment selector of 64-bit user mode (`__USER_CS`).
pub const USER_CS: u64 = 0x33;
/// Code segment selector of 32-bit compat user mode (`__USER32_CS`).
pub const USER32_CS: u64 = 0x23;
/// Stack segment selector of user mode (`__USER_DS`), valid in both modes.
pub const USER_DS: u64 = 0x2b;

/// Whether a task whose `cs` is `cs` runs in ia32 compat mode.
pub fn is_compat(cs: u64) -> bool {
    cs == USER32_CS
}

/// The kernel's internal "restart this syscall" errnos, seen in `rax` of a
/// task stopped inside an interrupted syscall. They never reach user space
/// when the task runs on, but ptrace shows them.
pub mod restart {
    /// Restart unless a handler without `SA_RESTART` ran.
    pub const ERESTARTSYS: i64 = 512;
    /// Always restart.
    pub const ERESTARTNOINTR: i64 = 513;
    /// Restart if no handler ran.
    pub const ERESTARTNOHAND: i64 = 514;
    /// Restart through `restart_syscall` with the saved restart block.
    pub const ERESTART_RESTARTBLOCK: i64 = 516;
    /// `EINTR`, what an interrupted syscall reports when it is not restarted.
    pub const EINTR: i64 = 4;
}

/// Prepares registers saved at a syscall stop for a return through
/// `rt_sigreturn`, which clears `orig_rax` and so never restarts a syscall.
///
/// A restartable syscall is rewound (rax = orig_rax, rip back over the
/// 2-byte `syscall`) so the task enters it again. `ERESTART_RESTARTBLOCK`
/// becomes `-EINTR`: its restart block does not survive the sigreturn.
/// Registers not stopped in a syscall (`orig_rax < 0`) are left unchanged.
pub fn restart_fixup(regs: &mut UserRegs) {
    if (regs.orig_rax as i64) < 0 {
        return;
    }
    match -(regs.rax as i64) {
        restart::ERESTARTSYS | restart::ERESTARTNOINTR | restart::ERESTARTNOHAND => {
            regs.rax = regs.orig_rax;
            regs.rip = regs.rip.wrapping_sub(trampoline::SYSCALL_LEN as u64);
        }
        restart::ERESTART_RESTARTBLOCK => regs.rax = (-restart::EINTR) as u64,
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compat_detection_follows_the_code_segment() {
        assert!(is_compat(USER32_CS));
        assert!(!is_compat(USER_CS));
    }

    #[test]
    fn restartable_syscall_is_rewound() {
        let mut regs = UserRegs {
            orig_rax: nr::NANOSLEEP as u64,
            rax: (-restart::ERESTARTNOHAND) as u64,
            rip: 0x1002,
            ..UserRegs::default()
        };
        restart_fixup(&mut regs);
        assert_eq!(regs.rax, nr::NANOSLEEP as u64);
        assert_eq!(regs.rip, 0x1000);
    }

    #[test]
    fn restart_block_becomes_eintr() {
        let mut regs = UserRegs {
            orig_rax: nr::NANOSLEEP as u64,
            rax: (-restart::ERESTART_RESTARTBLOCK) as u64,
            rip: 0x1002,
            ..UserRegs::default()
        };
        restart_fixup(&mut regs);
        assert_eq!(regs.rax as i64, -4);
        assert_eq!(regs.rip, 0x1002);
    }

    #[test]
    fn registers_outside_a_syscall_are_untouched() {
        let mut regs = UserRegs {
            orig_rax: u64::MAX,
            rax: (-restart::ERESTARTSYS) as u64,
            rip: 0x1002,
            ..UserRegs::default()
        };
        let before = regs;
        restart_fixup(&mut regs);
        assert_eq!(regs, before);
    }
}
