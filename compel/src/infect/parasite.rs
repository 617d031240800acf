//! The parasite running in the victim's leader, and the host's end of it.

use std::os::fd::{BorrowedFd, OwnedFd};

use arch::x86_64::nr;
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::unistd::Pid;

use super::control::{ControlError, ControlSocket, Listener};
use super::drain::DrainPipe;
use super::infection::Infection;
use super::protocol::PROTOCOL_VERSION;
use super::protocol::{AreaHeader, Command, CommandKind, Reply, TaskInfo, AREA_MAGIC};
use super::shared::SharedError;
use super::InfectError;
use crate::ptrace::Stop;
use crate::signals;

/// How often a wait for the parasite looks at the leader's ptrace state.
pub(crate) const WATCH_INTERVAL_MS: u16 = 20;

/// `eflags` bits the parasite must start without: DF (string ops go up) and TF.
const EFLAGS_DF_TF: u64 = 0x400 | 0x100;

/// Errors while the parasite runs; each names the victim.
#[derive(Debug, thiserror::Error)]
pub enum ParasiteError {
    /// Seizing, remote syscalls or the cure failed.
    #[error(transparent)]
    Infect(#[from] InfectError),
    /// The control socket failed.
    #[error(transparent)]
    Control(#[from] ControlError),
    /// The parasite crashed; the victim was cured (see `cure` for how that went).
    #[error("pid {pid}: parasite crashed in tid {tid}: signal {signal} at rip {rip:#x}{}",
        cure.as_ref().map(|e| format!("; cure failed: {e}")).unwrap_or_default())]
    Crashed {
        /// The victim.
        pid: Pid,
        /// The thread the parasite ran in.
        tid: Pid,
        /// The fault signal.
        signal: i32,
        /// Where it faulted.
        rip: u64,
        /// The cure's error, if it failed.
        cure: Option<Box<InfectError>>,
    },
    /// The parasite answered a command with an error.
    #[error("pid {pid}: parasite command {command:?} failed: {errno}")]
    Command {
        /// The victim.
        pid: Pid,
        /// The command.
        command: CommandKind,
        /// The parasite's errno.
        errno: Errno,
    },
    /// The parasite closed the control socket without crashing.
    #[error("pid {pid}: parasite closed the control socket")]
    Hangup {
        /// The victim.
        pid: Pid,
    },
    /// The parasite is no longer running (it crashed or finished).
    #[error("pid {pid}: parasite is not running")]
    NotRunning {
        /// The victim.
        pid: Pid,
    },
    /// A remote syscall was asked for while the parasite runs in the leader.
    #[error("pid {pid}: the parasite still runs; finish it before remote syscalls")]
    StillRunning {
        /// The victim.
        pid: Pid,
    },
    /// The args region cannot hold a command's arguments.
    #[error("pid {pid}: {len} bytes of arguments exceed the args region of {size} bytes")]
    ArgsTooLarge {
        /// The victim.
        pid: Pid,
        /// Bytes needed.
        len: usize,
        /// Size of the region.
        size: usize,
    },
    /// A drain's sink or host pipe failed.
    #[error("pid {pid}: draining pages: {source}")]
    Drain {
        /// The victim.
        pid: Pid,
        /// The I/O error.
        source: std::io::Error,
    },
    /// SendFds returned a different number of fds than asked.
    #[error("pid {pid}: asked for {asked} fds, received {got}")]
    FdCount {
        /// The victim.
        pid: Pid,
        /// Fds asked in the batch.
        asked: usize,
        /// Fds received.
        got: usize,
    },
}

impl From<signals::Interrupted> for ParasiteError {
    fn from(interrupted: signals::Interrupted) -> Self {
        ParasiteError::Infect(interrupted.into())
    }
}

/// Where the parasite stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// Running and in step with the host: the next message is the reply to
    /// the last command.
    Serving,
    /// Running, but a command was abandoned: stop it with PTRACE_INTERRUPT.
    Astray,
    /// Stopped (finished, crashed, or interrupted) and not running.
    Stopped,
}

/// The parasite running in the victim's leader. Dropping it stops it and
/// cures the victim (best effort, logged); [`Parasite::cure`] returns the error.
#[derive(Debug)]
pub struct Parasite {
    pub(crate) infection: Infection,
    pub(crate) control: Option<ControlSocket>,
    pub(crate) pipe: Option<DrainPipe>,
    pub(crate) state: State,
}

impl Infection {
    /// Connects the victim to a fresh control socket and starts the parasite.
    pub fn start_parasite(mut self) -> Result<Parasite, ParasiteError> {
        let listener = Listener::new(self.pid())?;
        let fd = self.remote_socket()?;
        self.remote_connect(fd, &listener.sockaddr())?;
        let control = listener.accept()?;
        self.write_header(fd)?;
        let mut parasite = Parasite {
            infection: self,
            control: Some(control),
            pipe: None,
            state: State::Stopped,
        };
        parasite.start()?;
        Ok(parasite)
    }

    fn remote_socket(&mut self) -> Result<i32, InfectError> {
        let domain = libc::AF_UNIX as u64;
        let kind = (libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC) as u64;
        let fd = self.syscall_checked(nr::SOCKET as i64, [domain, kind, 0, 0, 0, 0])?;
        let fd = fd as i32;
        self.remote_fds.push(fd);
        Ok(fd)
    }

    fn remote_connect(&mut self, fd: i32, sockaddr: &[u8]) -> Result<(), InfectError> {
        let pid = self.pid();
        self.area()
            .write(self.layout.args, sockaddr)
            .map_err(|source| InfectError::Shared { pid, source })?;
        let addr = self.area().remote_at(self.layout.args);
        let args = [fd as u64, addr, sockaddr.len() as u64, 0, 0, 0];
        self.syscall_checked(nr::CONNECT as i64, args)?;
        Ok(())
    }

    fn write_header(&mut self, control_fd: i32) -> Result<(), InfectError> {
        let layout = self.layout;
        let header = AreaHeader {
            magic: AREA_MAGIC,
            version: PROTOCOL_VERSION,
            control_fd,
            args_offset: (layout.args - layout.header) as u64,
            args_size: layout.args_size as u64,
            sigframe_offset: (layout.sigframe - layout.header) as u64,
        };
        let pid = self.pid();
        self.area()
            .write_value(layout.header, &header)
            .map_err(|source| InfectError::Shared { pid, source })
    }
}

impl Parasite {
    /// The victim's process id.
    pub fn pid(&self) -> Pid {
        self.infection.pid()
    }

    /// Points the leader at the blob entry and lets it run.
    fn start(&mut self) -> Result<(), InfectError> {
        let pid = self.pid();
        let layout = self.infection.layout;
        let area = self.infection.area();
        let entry = area.remote() + self.infection.blob.entry();
        let stack_top = area.remote_at(layout.stack_top) - 8;
        let header = area.remote_at(layout.header);
        let leader = &mut self.infection.victim_mut().leader_mut().tracee;
        let ptrace = |source| InfectError::ptrace(pid, source);
        let mut regs = leader.regs().map_err(ptrace)?;
        regs.rip = entry;
        regs.rsp = stack_top;
        regs.rdi = header;
        regs.orig_rax = u64::MAX;
        regs.eflags &= !EFLAGS_DF_TF;
        leader.set_regs(&regs).map_err(ptrace)?;
        leader.resume().map_err(ptrace)?;
        self.state = State::Serving;
        log::debug!("pid {pid}: parasite started at {entry:#x}");
        Ok(())
    }

    /// Sends one command (with an fd attached if given) and waits for its reply.
    pub(crate) fn command(
        &mut self,
        kind: CommandKind,
        count: u32,
        fd: Option<BorrowedFd<'_>>,
        fds: &mut Vec<OwnedFd>,
    ) -> Result<Reply, ParasiteError> {
        self.send_command_with(kind, count, fd)?;
        self.receive_reply(kind, fds)
    }

    /// Sends one command without an fd; pair with [`Parasite::receive_reply`].
    pub(crate) fn send_command(
        &mut self,
        kind: CommandKind,
        count: u32,
    ) -> Result<(), ParasiteError> {
        self.send_command_with(kind, count, None)
    }

    fn send_command_with(
        &mut self,
        kind: CommandKind,
        count: u32,
        fd: Option<BorrowedFd<'_>>,
    ) -> Result<(), ParasiteError> {
        self.ensure_serving()?;
        let command = Command {
            kind: kind as u32,
            count,
            arg: 0,
        };
        self.state = State::Astray;
        match self.control()?.send(&command, fd) {
            Err(ControlError::Socket {
                errno: Errno::EPIPE,
                ..
            }) => Err(self.hangup()),
            other => Ok(other?),
        }
    }

    /// Waits for the reply to `kind`; a reply with a negative status is an
    /// error naming the command. Either way the parasite is in step again.
    pub(crate) fn receive_reply(
        &mut self,
        kind: CommandKind,
        fds: &mut Vec<OwnedFd>,
    ) -> Result<Reply, ParasiteError> {
        let reply = self.next_reply(fds)?;
        self.state = State::Serving;
        if reply.status < 0 {
            let errno = Errno::from_raw(i32::try_from(-reply.status).unwrap_or(libc::EIO));
            return Err(ParasiteError::Command {
                pid: self.pid(),
                command: kind,
                errno,
            });
        }
        Ok(reply)
    }

    /// More replies of the last command are on their way but will not be read.
    pub(crate) fn mark_astray(&mut self) {
        if self.state == State::Serving {
            self.state = State::Astray;
        }
    }

    pub(crate) fn ensure_serving(&self) -> Result<(), ParasiteError> {
        match self.state {
            State::Serving => Ok(()),
            _ => Err(ParasiteError::NotRunning { pid: self.pid() }),
        }
    }

    fn control(&self) -> Result<&ControlSocket, ParasiteError> {
        self.control
            .as_ref()
            .ok_or(ParasiteError::NotRunning { pid: self.pid() })
    }

    /// Waits for the next message, watching the leader for crashes meanwhile.
    pub(crate) fn next_reply(&mut self, fds: &mut Vec<OwnedFd>) -> Result<Reply, ParasiteError> {
        loop {
            signals::check()?;
            let control = self.control()?;
            let mut poll = [PollFd::new(control.as_fd(), PollFlags::POLLIN)];
            match nix::poll::poll(&mut poll, PollTimeout::from(WATCH_INTERVAL_MS)) {
                Ok(0) | Err(Errno::EINTR) => self.watch_leader()?,
                Ok(_) => match control.recv(fds) {
                    Ok(Some(reply)) => return Ok(reply),
                    Ok(None) => return Err(self.hangup()),
                    Err(ControlError::Socket {
                        errno: Errno::ECONNRESET,
                        ..
                    }) => return Err(self.hangup()),
                    Err(error) => return Err(error.into()),
                },
                Err(errno) => {
                    let pid = self.pid();
                    return Err(ControlError::Socket {
                        pid,
                        call: "poll",
                        errno,
                    }
                    .into());
                }
            }
        }
    }

    /// Handles any stop the leader reported while the parasite ran.
    pub(crate) fn watch_leader(&mut self) -> Result<(), ParasiteError> {
        let pid = self.pid();
        let leader = &mut self.infection.victim_mut().leader_mut().tracee;
        let ptrace = |source| ParasiteError::Infect(InfectError::ptrace(pid, source));
        let Some(stop) = leader.poll().map_err(ptrace)? else {
            return Ok(());
        };
        match stop {
            Stop::Exited(_) | Stop::Killed(_) => Err(self.exited()),
            Stop::Signal(signal) if is_fault(signal) => Err(self.crashed(signal)),
            Stop::Signal(signal) => {
                leader.defer_signal(signal);
                leader.resume().map_err(ptrace)
            }
            _ => leader.resume().map_err(ptrace),
        }
    }

    /// The parasite faulted: cure at once from the fault stop and report it.
    pub(crate) fn crashed(&mut self, signal: i32) -> ParasiteError {
        self.state = State::Stopped;
        let pid = self.pid();
        let leader = &self.infection.victim().leader().tracee;
        let tid = leader.tid();
        let rip = leader.regs().map(|regs| regs.rip).unwrap_or(0);
        log::warn!("pid {pid}: parasite crashed in tid {tid}: signal {signal} at rip {rip:#x}");
        let cure = self.cure_in_place().err().map(Box::new);
        ParasiteError::Crashed {
            pid,
            tid,
            signal,
            rip,
            cure,
        }
    }

    pub(crate) fn exited(&mut self) -> ParasiteError {
        self.state = State::Stopped;
        let pid = self.pid();
        self.infection.victim_mut().mark_exited();
        ParasiteError::Infect(InfectError::Exited { pid })
    }

    /// The control socket closed: the victim died, or the parasite crashed or quit.
    fn hangup(&mut self) -> ParasiteError {
        let pid = self.pid();
        let leader = &mut self.infection.victim_mut().leader_mut().tracee;
        match leader.wait() {
            Ok(Stop::Signal(signal)) if is_fault(signal) => self.crashed(signal),
            Ok(Stop::Exited(_) | Stop::Killed(_)) | Err(_) => self.exited(),
            Ok(stop) => {
                log::warn!("pid {pid}: parasite hung up, leader reported {stop:?}");
                self.state = State::Stopped;
                ParasiteError::Hangup { pid }
            }
        }
    }

    /// Reads what the parasite reports about its thread (pid, tid,
    /// sigaltstack, interval timers).
    pub fn info(&mut self) -> Result<TaskInfo, ParasiteError> {
        self.command(CommandKind::Info, 0, None, &mut Vec::new())?;
        let pid = self.pid();
        let args = self.infection.layout.args;
        let shared = |source: SharedError| InfectError::Shared { pid, source };
        Ok(self.infection.area().read_value(args).map_err(shared)?)
    }

    /// Makes the parasite crash on purpose (touch address 0): exists to test
    /// that a crashing parasite is cured cleanly. Returns the crash error.
    pub fn fault(&mut self) -> Result<(), ParasiteError> {
        self.command(CommandKind::Fault, 0, None, &mut Vec::new())
            .map(drop)
    }
}

pub(crate) fn is_fault(signal: i32) -> bool {
    [
        libc::SIGSEGV,
        libc::SIGBUS,
        libc::SIGILL,
        libc::SIGFPE,
        libc::SIGTRAP,
        libc::SIGSYS,
    ]
    .contains(&signal)
}
