//! The end of a parasite's run: bring it to a stop, then cure the victim.
//!
//! In the normal case the parasite is told to Finish and stops at its own
//! `int3`. A parasite that was left mid-command (an error, a termination
//! signal) is stopped with `PTRACE_INTERRUPT` wherever it is instead: its
//! registers do not matter, the cure puts back the saved ones. Either way the
//! cure then runs remote syscalls from that stop.

use super::parasite::{is_fault, Parasite, ParasiteError, State};
use super::protocol::CommandKind;
use super::InfectError;
use crate::ptrace::{PtraceError, Stop};

impl Parasite {
    /// Stops the parasite (Finish, then its int3 stop), closes compel's fds in
    /// the victim, unmaps the area, restores every thread and detaches.
    pub fn cure(mut self) -> Result<(), ParasiteError> {
        self.cure_in_place().map_err(ParasiteError::Infect)
    }

    /// Ends the victim with SIGKILL instead of curing it (see
    /// [`super::Infection::kill`]); the parasite dies with it.
    pub fn kill(mut self) -> Result<(), ParasiteError> {
        // SIGKILL first: the parasite takes a closed control socket for a
        // dead crust and cures itself, which would let the program run on
        // after its state was saved.
        self.state = State::Stopped;
        let killed = self.infection.kill_in_place();
        self.control = None;
        self.pipe = None;
        killed.map_err(ParasiteError::Infect)
    }

    pub(crate) fn cure_in_place(&mut self) -> Result<(), InfectError> {
        let stopped = self.stop();
        if let Err(error) = &stopped {
            log::debug!("pid {}: stopping the parasite: {error}", self.pid());
        }
        self.control = None;
        self.close_leaked_pipes();
        self.pipe = None;
        self.infection.cure_in_place()
    }

    /// Brings the leader to a ptrace stop: Finish if the parasite is in step,
    /// PTRACE_INTERRUPT otherwise.
    fn stop(&mut self) -> Result<(), ParasiteError> {
        match self.state {
            State::Stopped => Ok(()),
            State::Serving => match self.send_finish() {
                Ok(()) => Ok(()),
                Err(_) if self.state != State::Stopped => self.interrupt(),
                Err(error) => Err(error),
            },
            State::Astray => self.interrupt(),
        }
    }

    /// Ends the parasite's run without curing the victim: Finish and the
    /// blob's `int3` stop (or `PTRACE_INTERRUPT` for a parasite left
    /// mid-command). Remote syscalls may follow ([`Parasite::syscall`]), then
    /// [`Parasite::cure`].
    pub fn finish(&mut self) -> Result<(), ParasiteError> {
        self.stop()
    }

    /// Runs a syscall in the leader through the area trampoline once the
    /// parasite has finished; see [`crate::Infection::syscall`].
    pub fn syscall(&mut self, nr: i64, args: [u64; 6]) -> Result<i64, ParasiteError> {
        if self.state != State::Stopped {
            return Err(ParasiteError::StillRunning { pid: self.pid() });
        }
        Ok(self.infection.syscall(nr, args)?)
    }

    fn send_finish(&mut self) -> Result<(), ParasiteError> {
        self.command(CommandKind::Finish, 0, None, &mut Vec::new())?;
        self.state = State::Astray;
        self.wait_for_stop(|stop| stop == Stop::Signal(libc::SIGTRAP))
    }

    fn interrupt(&mut self) -> Result<(), ParasiteError> {
        let pid = self.pid();
        let leader = &mut self.infection.victim_mut().leader_mut().tracee;
        leader
            .interrupt()
            .map_err(|source| InfectError::ptrace(pid, source))?;
        self.wait_for_stop(|stop| matches!(stop, Stop::Interrupt | Stop::GroupStop(_)))
    }

    /// Waits (blocking) until the leader reports a stop `wanted` accepts.
    fn wait_for_stop(&mut self, wanted: impl Fn(Stop) -> bool) -> Result<(), ParasiteError> {
        let pid = self.pid();
        loop {
            let leader = &mut self.infection.victim_mut().leader_mut().tracee;
            let ptrace = |source: PtraceError| InfectError::ptrace(pid, source);
            let stop = leader.wait().map_err(ptrace)?;
            match stop {
                stop if wanted(stop) => {
                    self.state = State::Stopped;
                    return Ok(());
                }
                Stop::Exited(_) | Stop::Killed(_) => return Err(self.exited()),
                Stop::Signal(signal) if is_fault(signal) => return Err(self.crashed(signal)),
                Stop::Signal(signal) => {
                    leader.defer_signal(signal);
                    leader.resume().map_err(ptrace)?;
                }
                _ => leader.resume().map_err(ptrace)?,
            }
        }
    }

    /// The victim's copies of compel's pipe, left open if the parasite did
    /// not finish cleanly, join the fds the cure closes.
    fn close_leaked_pipes(&mut self) {
        let Some(pipe) = &self.pipe else { return };
        let pid = self.pid();
        for fd in pipe.fds_in(pid) {
            log::debug!("pid {pid}: closing compel's pipe left at fd {fd}");
            self.infection.remote_fds.push(fd);
        }
    }
}

impl Drop for Parasite {
    fn drop(&mut self) {
        if let Err(error) = self.cure_in_place() {
            log::warn!("curing pid {}: {error}", self.pid());
        }
    }
}
