//! A process a test starts, guaranteed killed and reaped when the test ends.

use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::process::{Child, Command, ExitStatus};
use std::thread;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::unistd::Pid;

/// How often a process that should be ending is checked.
const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// How long a killed process may take to go away.
const KILL_GRACE_MS: u16 = 2000;

/// Why a workload could not be started, collected or adopted.
#[derive(Debug, thiserror::Error)]
pub enum WorkloadError {
    /// It could not be started.
    #[error("cannot start `{program}`: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// What went wrong.
        source: io::Error,
    },
    /// Waiting for it failed.
    #[error("waiting for pid {pid}: {source}")]
    Wait {
        /// Its pid.
        pid: Pid,
        /// What went wrong.
        source: io::Error,
    },
    /// It was expected to have ended (killed by a dump) but still runs.
    #[error("pid {pid} still runs {timeout:?} after it should have ended")]
    StillRunning {
        /// Its pid.
        pid: Pid,
        /// How long it was given.
        timeout: Duration,
    },
    /// A pidfd for a restored process could not be opened.
    #[error("pidfd_open of restored pid {pid} failed: {errno}")]
    PidfdOpen {
        /// The restored pid.
        pid: Pid,
        /// What the kernel said.
        errno: Errno,
    },
}

/// A process a test started; on drop it is killed by pid and reaped.
///
/// After `crust dump` kills it, [`Workload::collect_dumped`] reaps it; after
/// `crust restore` brings it back, [`Workload::adopt_restored`] makes the
/// guard kill the restored process instead.
#[derive(Debug)]
pub struct Workload {
    pid: Pid,
    state: State,
}

#[derive(Debug)]
enum State {
    /// Our child, not reaped: its pid cannot have been reused.
    Started(Child),
    /// Reaped; nothing to clean up.
    Gone,
    /// Restored by crust and not our child: held by a pidfd, which names
    /// this process and no later one with the same pid.
    Restored(OwnedFd),
}

impl Workload {
    /// Starts `command` (its stdio as the caller set it).
    pub fn spawn(command: &mut Command) -> Result<Self, WorkloadError> {
        let program = command.get_program().to_string_lossy().into_owned();
        let spawn_error = |source| WorkloadError::Spawn {
            program: program.clone(),
            source,
        };
        let mut child = command.spawn().map_err(spawn_error)?;
        let Ok(raw_pid) = i32::try_from(child.id()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(spawn_error(io::Error::from(io::ErrorKind::InvalidData)));
        };
        let pid = Pid::from_raw(raw_pid);
        Ok(Self {
            pid,
            state: State::Started(child),
        })
    }

    /// Its pid (also the pid it has once restored).
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// Reaps the workload a dump has killed; fails if it is still running
    /// after `timeout`.
    pub fn collect_dumped(&mut self, timeout: Duration) -> Result<ExitStatus, WorkloadError> {
        let State::Started(child) = &mut self.state else {
            return Err(WorkloadError::Wait {
                pid: self.pid,
                source: io::Error::from(io::ErrorKind::NotFound),
            });
        };
        let deadline = Instant::now() + timeout;
        loop {
            let wait_error = |source| WorkloadError::Wait {
                pid: self.pid,
                source,
            };
            if let Some(status) = child.try_wait().map_err(wait_error)? {
                self.state = State::Gone;
                return Ok(status);
            }
            if Instant::now() >= deadline {
                return Err(WorkloadError::StillRunning {
                    pid: self.pid,
                    timeout,
                });
            }
            thread::sleep(POLL_INTERVAL);
        }
    }

    /// Takes charge of the process crust restored with this workload's pid
    /// (call right after the restore reports it running).
    pub fn adopt_restored(&mut self) -> Result<(), WorkloadError> {
        let pidfd = pidfd_open(self.pid).map_err(|errno| WorkloadError::PidfdOpen {
            pid: self.pid,
            errno,
        })?;
        self.state = State::Restored(pidfd);
        Ok(())
    }
}

impl Drop for Workload {
    fn drop(&mut self) {
        match std::mem::replace(&mut self.state, State::Gone) {
            State::Started(mut child) => {
                let _ = child.kill();
                let _ = child.wait();
            }
            State::Restored(pidfd) => {
                let _ = pidfd_send_sigkill(&pidfd);
                // Its parent reaps it; wait until it has exited.
                let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
                let _ = poll(&mut fds, PollTimeout::from(KILL_GRACE_MS));
            }
            State::Gone => {}
        }
    }
}

pub(crate) fn pidfd_open(pid: Pid) -> Result<OwnedFd, Errno> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor.
    let ret = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
    let fd = Errno::result(ret).and_then(|fd| i32::try_from(fd).map_err(|_| Errno::EBADF))?;
    // SAFETY: the kernel just returned this descriptor and nothing else holds it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

pub(crate) fn pidfd_send_sigkill(pidfd: &OwnedFd) -> Result<(), Errno> {
    // SAFETY: pidfd_send_signal with a null siginfo sends a plain signal; it reads no memory.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            libc::SIGKILL,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    Errno::result(ret).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use std::process::Stdio;

    fn sleeper() -> Workload {
        let mut command = Command::new("sleep");
        command.arg("600").stdin(Stdio::null());
        Workload::spawn(&mut command).expect("sleep started")
    }

    fn exists(pid: Pid) -> bool {
        Path::new(&format!("/proc/{pid}")).exists()
    }

    #[test]
    fn a_dropped_workload_is_killed_and_reaped() {
        let workload = sleeper();
        let pid = workload.pid();
        assert!(exists(pid));
        drop(workload);
        assert!(!exists(pid));
    }

    #[test]
    fn collecting_a_running_workload_times_out() {
        let mut workload = sleeper();
        let result = workload.collect_dumped(Duration::from_millis(50));
        assert!(
            matches!(result, Err(WorkloadError::StillRunning { .. })),
            "{result:?}"
        );
    }

    #[test]
    fn an_adopted_process_is_killed_through_its_pidfd() {
        let mut workload = sleeper();
        let pid = workload.pid();
        workload.adopt_restored().expect("pidfd");
        drop(workload);
        // Our own child, so it lingers as a zombie until reaped here.
        let status = nix::sys::wait::waitpid(pid, None).expect("reaped");
        assert!(matches!(
            status,
            nix::sys::wait::WaitStatus::Signaled(_, nix::sys::signal::Signal::SIGKILL, _)
        ));
    }
}

/// A process a test started (a child of its workload, say) that is killed, by pid, when this
/// is dropped: declared after the workload, it ends before the workload is waited for.
#[derive(Debug)]
pub struct KillOnDrop(pub Pid);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(self.0, nix::sys::signal::Signal::SIGKILL);
    }
}
