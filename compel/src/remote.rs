//! Running one syscall inside a stopped thread.
//!
//! The thread is pointed at a trampoline (a `syscall` instruction in its own
//! address space) with the syscall number and arguments in registers, then led
//! through the syscall-entry and syscall-exit stops with `PTRACE_SYSCALL`. The
//! thread is left at the syscall-exit stop, so nothing after the `syscall`
//! instruction ever runs: the trampoline may even unmap itself.
//!
//! This layer knows nothing of infections: any seized [`Tracee`] will do,
//! including a freshly forked child driven entirely by remote syscalls.

use std::fmt;

use nix::errno::Errno;
use nix::unistd::Pid;

use crate::ptrace::{PtraceError, Stop, Tracee, CHILD_EVENTS};

/// Errors of a remote syscall.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// A ptrace request around the syscall failed.
    #[error(transparent)]
    Ptrace(#[from] PtraceError),
    /// The task exited or was killed while compel drove it.
    #[error("pid {pid} exited during infection ({stop:?})")]
    Exited {
        /// The thread that was being driven.
        pid: Pid,
        /// How it ended.
        stop: Stop,
    },
    /// The thread took a fault instead of making the syscall.
    #[error("tid {tid}: signal {signal} at rip {rip:#x} during remote {syscall}")]
    Fault {
        /// The thread.
        tid: Pid,
        /// The signal reported (SIGSEGV, SIGBUS, ...).
        signal: i32,
        /// Where the thread was.
        rip: u64,
        /// The syscall being made.
        syscall: SyscallName,
    },
    /// The syscall ran and returned an error.
    #[error("tid {tid}: remote {syscall} failed: {errno}")]
    Failed {
        /// The thread.
        tid: Pid,
        /// The syscall.
        syscall: SyscallName,
        /// What it returned.
        errno: Errno,
    },
}

/// A syscall number that prints as the syscall's name where compel knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyscallName(pub i64);

impl fmt::Display for SyscallName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.0 {
            libc::SYS_read => "read",
            libc::SYS_write => "write",
            libc::SYS_close => "close",
            libc::SYS_mmap => "mmap",
            libc::SYS_mprotect => "mprotect",
            libc::SYS_munmap => "munmap",
            libc::SYS_getpid => "getpid",
            libc::SYS_socket => "socket",
            libc::SYS_connect => "connect",
            libc::SYS_gettid => "gettid",
            libc::SYS_mremap => "mremap",
            libc::SYS_prctl => "prctl",
            libc::SYS_clone => "clone",
            libc::SYS_rt_sigreturn => "rt_sigreturn",
            nr => return write!(f, "syscall {nr}"),
        };
        f.write_str(name)
    }
}

/// Signals that mean the thread faulted in compel's code rather than received
/// something from outside.
const FAULT_SIGNALS: [i32; 6] = [
    libc::SIGSEGV,
    libc::SIGBUS,
    libc::SIGILL,
    libc::SIGFPE,
    libc::SIGTRAP,
    libc::SIGSYS,
];

impl Tracee {
    /// Runs syscall `nr` with `args` in this stopped thread through the
    /// `syscall` instruction at `trampoline`; returns the raw result (a
    /// negative errno on failure).
    ///
    /// Registers are taken from the current stop with rip = `trampoline`, rax =
    /// `nr`, arguments in rdi, rsi, rdx, r10, r8, r9 and orig_rax = -1 (so no
    /// syscall restart logic touches them). The thread is left at the
    /// syscall-exit stop with its registers changed: the caller restores them.
    ///
    /// Called at a signal-delivery stop, the signal is discarded (compel uses
    /// this after the parasite's `int3` or fault). A signal from outside that
    /// arrives meanwhile (only SIGSTOP can, in a thread whose signals are all
    /// blocked) is held back and sent again on [`Tracee::detach`]; a fault is
    /// an error.
    pub fn syscall(
        &mut self,
        trampoline: u64,
        nr: i64,
        args: [u64; 6],
    ) -> Result<i64, RemoteError> {
        let syscall = SyscallName(nr);
        let mut regs = self.regs()?;
        regs.rip = trampoline;
        regs.rax = nr as u64;
        regs.orig_rax = u64::MAX;
        [regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8, regs.r9] = args;
        self.set_regs(&regs)?;

        self.run_to_syscall_stop(syscall)?;
        self.run_to_syscall_stop(syscall)?;
        let result = self.regs()?.rax as i64;
        log::trace!(
            "tid {}: remote {syscall}({args:x?}) = {result:#x}",
            self.tid()
        );
        Ok(result)
    }

    /// Like [`Tracee::syscall`], with a negative result turned into
    /// [`RemoteError::Failed`] naming the syscall.
    pub fn syscall_checked(
        &mut self,
        trampoline: u64,
        nr: i64,
        args: [u64; 6],
    ) -> Result<u64, RemoteError> {
        let result = self.syscall(trampoline, nr, args)?;
        check_result(self.tid(), nr, result)
    }

    fn run_to_syscall_stop(&mut self, syscall: SyscallName) -> Result<(), RemoteError> {
        loop {
            self.resume_to_syscall()?;
            match self.wait()? {
                Stop::Syscall => return Ok(()),
                // Job-control traps pending from the seize: harmless, go on.
                Stop::Interrupt | Stop::GroupStop(_) => continue,
                Stop::Signal(signal) if FAULT_SIGNALS.contains(&signal) => {
                    let rip = self.regs()?.rip;
                    return Err(RemoteError::Fault {
                        tid: self.tid(),
                        signal,
                        rip,
                        syscall,
                    });
                }
                Stop::Signal(signal) => self.defer_signal(signal),
                Stop::Event(event) if CHILD_EVENTS.contains(&event) => {
                    let child = self.event_child()?;
                    self.note_child(child);
                }
                stop @ (Stop::Exited(_) | Stop::Killed(_)) => {
                    return Err(RemoteError::Exited {
                        pid: self.tid(),
                        stop,
                    })
                }
                stop => {
                    let step = "running a remote syscall";
                    let tid = self.tid();
                    return Err(PtraceError::UnexpectedStop { tid, stop, step }.into());
                }
            }
        }
    }
}

/// Turns a raw remote result into a value or [`RemoteError::Failed`].
pub fn check_result(tid: Pid, nr: i64, result: i64) -> Result<u64, RemoteError> {
    if (-4095..0).contains(&result) {
        let errno = Errno::from_raw(-result as i32);
        return Err(RemoteError::Failed {
            tid,
            syscall: SyscallName(nr),
            errno,
        });
    }
    Ok(result as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_known_syscalls() {
        assert_eq!(SyscallName(libc::SYS_mmap).to_string(), "mmap");
        assert_eq!(SyscallName(4242).to_string(), "syscall 4242");
    }

    #[test]
    fn negative_errno_is_an_error_and_addresses_are_not() {
        let tid = Pid::from_raw(7);
        assert_eq!(
            check_result(tid, libc::SYS_mmap, 0x7f00_0000_0000).ok(),
            Some(0x7f00_0000_0000)
        );
        let error = check_result(tid, libc::SYS_munmap, -22)
            .map(drop)
            .map_err(|e| e.to_string());
        assert_eq!(
            error,
            Err("tid 7: remote munmap failed: EINVAL: Invalid argument".into())
        );
        assert!(check_result(tid, libc::SYS_mmap, -4096).is_ok());
    }
}
