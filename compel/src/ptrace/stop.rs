//! Waiting for a tracee and telling its stops apart.
//!
//! A seized tracee reports through `waitpid(2)` with `__WALL`; the raw status
//! is classified once here so that callers match on what happened instead of
//! decoding bits.

use nix::errno::Errno;
use nix::sys::signal::Signal;
use nix::unistd::Pid;

/// `PTRACE_EVENT_STOP`: the stop kind of `PTRACE_INTERRUPT` and of group-stops
/// under `PTRACE_SEIZE`.
const PTRACE_EVENT_STOP: i32 = 128;

/// One report of a tracee, classified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// A syscall-entry or syscall-exit stop (`SIGTRAP | 0x80`, needs
    /// `PTRACE_O_TRACESYSGOOD`).
    Syscall,
    /// The stop `PTRACE_INTERRUPT` asked for (`PTRACE_EVENT_STOP` with SIGTRAP).
    Interrupt,
    /// A group-stop reported under `PTRACE_SEIZE` (`PTRACE_EVENT_STOP` with a
    /// stopping signal).
    GroupStop(Signal),
    /// Another `PTRACE_EVENT_*` stop, such as `PTRACE_EVENT_CLONE` (3).
    Event(i32),
    /// A signal-delivery stop: the tracee is about to receive this signal.
    Signal(i32),
    /// The tracee exited with this code.
    Exited(i32),
    /// The tracee was killed by this signal.
    Killed(i32),
}

impl Stop {
    /// Classifies a raw `waitpid` status.
    pub fn from_status(status: i32) -> Self {
        if libc::WIFEXITED(status) {
            return Stop::Exited(libc::WEXITSTATUS(status));
        }
        if libc::WIFSIGNALED(status) {
            return Stop::Killed(libc::WTERMSIG(status));
        }
        let signal = libc::WSTOPSIG(status);
        let event = (status >> 16) & 0xff;
        if signal == libc::SIGTRAP | 0x80 {
            return Stop::Syscall;
        }
        match event {
            0 => Stop::Signal(signal),
            PTRACE_EVENT_STOP => match Signal::try_from(signal) {
                Ok(
                    stop @ (Signal::SIGSTOP | Signal::SIGTSTP | Signal::SIGTTIN | Signal::SIGTTOU),
                ) => Stop::GroupStop(stop),
                _ => Stop::Interrupt,
            },
            other => Stop::Event(other),
        }
    }

    /// True if the tracee is gone (exited or killed).
    pub fn is_gone(&self) -> bool {
        matches!(self, Stop::Exited(_) | Stop::Killed(_))
    }
}

/// Waits for the next report of `tid` (`waitpid(tid, __WALL)`), retrying on EINTR.
pub fn wait(tid: Pid) -> Result<Stop, Errno> {
    loop {
        match waitpid(tid, libc::__WALL) {
            Err(Errno::EINTR) => continue,
            Err(errno) => return Err(errno),
            Ok(stop) => return stop.ok_or(Errno::ECHILD),
        }
    }
}

/// Returns the next report of `tid` if there is one already (`WNOHANG`).
pub fn poll(tid: Pid) -> Result<Option<Stop>, Errno> {
    loop {
        match waitpid(tid, libc::__WALL | libc::WNOHANG) {
            Err(Errno::EINTR) => continue,
            other => return other,
        }
    }
}

fn waitpid(tid: Pid, flags: libc::c_int) -> Result<Option<Stop>, Errno> {
    let mut status = 0;
    // SAFETY: `status` is a valid, writable c_int for the duration of the call.
    let rc = unsafe { libc::waitpid(tid.as_raw(), &mut status, flags) };
    match rc {
        0 => Ok(None),
        rc if rc > 0 => {
            log::trace!("waitpid({tid}) -> status {status:#x}");
            Ok(Some(Stop::from_status(status)))
        }
        _ => Err(Errno::last()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stopped(signal: i32, event: i32) -> i32 {
        (event << 16) | (signal << 8) | 0x7f
    }

    #[test]
    fn classifies_syscall_stops() {
        assert_eq!(
            Stop::from_status(stopped(libc::SIGTRAP | 0x80, 0)),
            Stop::Syscall
        );
    }

    #[test]
    fn classifies_interrupt_and_group_stops() {
        let interrupt = stopped(libc::SIGTRAP, PTRACE_EVENT_STOP);
        assert_eq!(Stop::from_status(interrupt), Stop::Interrupt);
        let group = stopped(libc::SIGSTOP, PTRACE_EVENT_STOP);
        assert_eq!(Stop::from_status(group), Stop::GroupStop(Signal::SIGSTOP));
    }

    #[test]
    fn classifies_signal_and_clone_stops() {
        assert_eq!(
            Stop::from_status(stopped(libc::SIGSEGV, 0)),
            Stop::Signal(libc::SIGSEGV)
        );
        assert_eq!(Stop::from_status(stopped(libc::SIGTRAP, 3)), Stop::Event(3));
    }

    #[test]
    fn classifies_exits() {
        assert_eq!(Stop::from_status(3 << 8), Stop::Exited(3));
        assert_eq!(
            Stop::from_status(libc::SIGKILL),
            Stop::Killed(libc::SIGKILL)
        );
    }
}
