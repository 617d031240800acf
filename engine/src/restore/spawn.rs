//! Creating the task a process is restored into, with its original pid.

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;

use super::RestoreError;
use crate::clone3::CloneArgs;

/// A child created for a restore. Until [`Spawned::release`] it is killed
/// and reaped when dropped, so a failed restore leaves nothing behind.
#[derive(Debug)]
pub struct Spawned {
    pid: Pid,
    armed: bool,
}

impl Spawned {
    /// Forks crust into a child whose pid is `pid` (clone3 with set_tid), in an IPC
    /// namespace of its own when `new_ipc` asks for one. The child only waits in pause(2)
    /// until it is seized and rebuilt.
    pub fn fork_with_pid(pid: i32, new_ipc: bool) -> Result<Spawned, RestoreError> {
        let set_tid = [pid];
        let args = CloneArgs {
            flags: match new_ipc {
                true => libc::CLONE_NEWIPC as u64,
                false => 0,
            },
            exit_signal: libc::SIGCHLD as u64,
            set_tid: set_tid.as_ptr() as u64,
            set_tid_size: 1,
            ..Default::default()
        };
        // SAFETY: clone3 reads `args` and `set_tid`, both alive across the call.
        // Without CLONE_VM the child gets a copy of this address space; it runs
        // nothing but the raw pause loop below (no allocation, no locks), which
        // is safe in a forked copy of a multi-threaded process.
        let rc = unsafe { libc::syscall(libc::SYS_clone3, &args, CloneArgs::SIZE) };
        match Errno::result(rc) {
            Ok(0) => park(),
            Ok(child) => {
                log::debug!("forked pid {child} for the restore");
                Ok(Spawned {
                    pid: Pid::from_raw(child as i32),
                    armed: true,
                })
            }
            Err(errno) => Err(RestoreError::Clone { pid, errno }),
        }
    }

    /// The child's pid.
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// The restore is done: the child lives on without this guard.
    pub fn release(mut self) -> Pid {
        self.armed = false;
        self.pid
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        if self.armed {
            log::debug!("killing half-restored pid {}", self.pid);
            let _ = kill(self.pid, Signal::SIGKILL);
            let _ = waitpid(self.pid, None);
        }
    }
}

/// The child's whole life before it is seized.
fn park() -> ! {
    loop {
        // SAFETY: pause takes no arguments and touches no memory.
        unsafe { libc::syscall(libc::SYS_pause) };
    }
}
