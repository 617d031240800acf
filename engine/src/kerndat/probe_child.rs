//! Children forked only to be probed, and killed and reaped before the probe returns.

use nix::errno::Errno;
use nix::sys::ptrace;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};

use super::KerndatError;

/// A child that waits in `pause()` until its guard kills and reaps it.
#[derive(Debug)]
pub(super) struct ProbeChild {
    pid: Pid,
}

impl ProbeChild {
    /// Forks a child that does nothing until it is killed.
    pub(super) fn spawn_paused() -> Result<Self, KerndatError> {
        // SAFETY: the child only calls prctl and pause, which are async-signal-safe,
        // so locks held by other threads of this process at the fork cannot block it.
        match unsafe { fork() }.map_err(KerndatError::Fork)? {
            ForkResult::Child => wait_to_be_killed(),
            ForkResult::Parent { child } => Ok(Self { pid: child }),
        }
    }

    pub(super) fn pid(&self) -> Pid {
        self.pid
    }

    /// Attaches to the child with PTRACE_SEIZE (no stop, no signal).
    pub(super) fn seize(&self) -> Result<(), KerndatError> {
        ptrace::seize(self.pid, ptrace::Options::empty()).map_err(|errno| KerndatError::Ptrace {
            request: "PTRACE_SEIZE",
            pid: self.pid,
            errno,
        })
    }

    /// Stops the seized child with PTRACE_INTERRUPT and waits for the stop.
    pub(super) fn interrupt(&self) -> Result<(), KerndatError> {
        ptrace::interrupt(self.pid).map_err(|errno| KerndatError::Ptrace {
            request: "PTRACE_INTERRUPT",
            pid: self.pid,
            errno,
        })?;
        match waitpid(self.pid, Some(WaitPidFlag::__WALL)) {
            Ok(WaitStatus::PtraceEvent(_, Signal::SIGTRAP, libc::PTRACE_EVENT_STOP)) => Ok(()),
            Ok(status) => Err(KerndatError::UnexpectedStatus {
                pid: self.pid,
                status,
            }),
            Err(errno) => Err(KerndatError::Wait {
                pid: self.pid,
                errno,
            }),
        }
    }
}

impl Drop for ProbeChild {
    fn drop(&mut self) {
        // The child is ours and not yet reaped, so its pid cannot have been reused.
        let _ = kill(self.pid, Signal::SIGKILL);
        let _ = reap(self.pid);
    }
}

fn wait_to_be_killed() -> ! {
    // SAFETY: PR_SET_PDEATHSIG takes a signal number and touches no memory.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
    loop {
        // SAFETY: pause takes no arguments and returns only when a signal is handled.
        unsafe { libc::pause() };
    }
}

/// Waits until `pid` has ended, passing over stop reports.
fn reap(pid: Pid) -> Result<WaitStatus, KerndatError> {
    loop {
        match waitpid(pid, Some(WaitPidFlag::__WALL)) {
            Ok(status @ (WaitStatus::Exited(..) | WaitStatus::Signaled(..))) => return Ok(status),
            Ok(_) | Err(Errno::EINTR) => continue,
            Err(errno) => return Err(KerndatError::Wait { pid, errno }),
        }
    }
}

/// Runs `body` in a forked child that exits with the code `body` returns,
/// and reports how the child ended once it is reaped.
///
/// `body` must make only async-signal-safe calls (raw syscalls, reading
/// errno): other threads of this process may hold locks at the fork.
pub(super) fn run_in_child(body: fn() -> i32) -> Result<(Pid, WaitStatus), KerndatError> {
    // SAFETY: the child runs `body`, which by this function's contract makes only
    // async-signal-safe calls, then leaves with _exit.
    match unsafe { fork() }.map_err(KerndatError::Fork)? {
        ForkResult::Child => {
            let code = body();
            // SAFETY: _exit ends the child at once, running no destructors or atexit
            // handlers that belong to the parent.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => reap(child).map(|status| (child, status)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropping_a_probe_child_kills_and_reaps_it() {
        let child = ProbeChild::spawn_paused().expect("fork");
        let pid = child.pid();
        drop(child);
        assert_eq!(waitpid(pid, Some(WaitPidFlag::WNOHANG)), Err(Errno::ECHILD));
    }

    #[test]
    fn run_in_child_reports_the_exit_code() {
        let (pid, status) = run_in_child(|| 7).expect("fork");
        assert_eq!(status, WaitStatus::Exited(pid, 7));
    }
}
