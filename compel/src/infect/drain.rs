//! Pulling pages and file descriptors out of the victim through the parasite.
//!
//! Pages travel through one pipe: the parasite `vmsplice`s the victim's pages
//! into its write end (no copy in the victim), the host reads them out, or
//! `splice`s them straight into a file. The pipe is made as large as
//! `/proc/sys/fs/pipe-max-size` allows, so each wake-up moves up to that much.

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::fs::MetadataExt;

use nix::errno::Errno;
use nix::fcntl::{self, FcntlArg, OFlag, SpliceFFlags};
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::unistd::Pid;

use super::parasite::{Parasite, ParasiteError, WATCH_INTERVAL_MS};
use super::protocol::{CommandKind, PageRange, MAX_FDS_PER_MESSAGE};
use super::InfectError;
use crate::signals;

/// Where drained pages go.
pub enum DrainSink<'a> {
    /// Called with each chunk read from the pipe, in order.
    Callback(&'a mut dyn FnMut(&[u8]) -> std::io::Result<()>),
    /// `splice`d into this fd (a file, a pipe, a socket) without a copy
    /// through the host's memory.
    Fd(BorrowedFd<'a>),
}

impl std::fmt::Debug for DrainSink<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DrainSink::Callback(_) => f.write_str("DrainSink::Callback"),
            DrainSink::Fd(fd) => write!(f, "DrainSink::Fd({})", fd.as_raw_fd()),
        }
    }
}

/// The host's read end of the page pipe (the parasite holds the write end).
#[derive(Debug)]
pub(crate) struct DrainPipe {
    read: File,
    capacity: usize,
    inode: u64,
    buffer: Vec<u8>,
}

impl DrainPipe {
    /// A fresh pipe grown to pipe-max-size; returns it and the write end to send.
    fn new() -> std::io::Result<(Self, OwnedFd)> {
        let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
        let wanted = std::fs::read_to_string("/proc/sys/fs/pipe-max-size")
            .ok()
            .and_then(|text| text.trim().parse::<i32>().ok())
            .unwrap_or(1 << 20);
        let capacity = match fcntl::fcntl(read.as_raw_fd(), FcntlArg::F_SETPIPE_SZ(wanted)) {
            Ok(size) => size,
            Err(errno) => {
                log::debug!("F_SETPIPE_SZ({wanted}) failed ({errno}); keeping the default");
                fcntl::fcntl(read.as_raw_fd(), FcntlArg::F_GETPIPE_SZ)?
            }
        };
        let capacity = usize::try_from(capacity).unwrap_or(65536);
        let read = File::from(read);
        let inode = read.metadata()?.ino();
        Ok((
            DrainPipe {
                read,
                capacity,
                inode,
                buffer: Vec::new(),
            },
            write,
        ))
    }

    /// Fds of the victim `pid` that are this pipe (left open by a parasite
    /// that did not finish cleanly).
    pub(crate) fn fds_in(&self, pid: Pid) -> Vec<i32> {
        let target = format!("pipe:[{}]", self.inode);
        let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter(|entry| {
                std::fs::read_link(entry.path()).is_ok_and(|link| link.as_os_str() == &*target)
            })
            .filter_map(|entry| entry.file_name().to_str()?.parse().ok())
            .collect()
    }

    /// Moves up to `limit` bytes that are in the pipe now into `sink`.
    fn forward(&mut self, sink: &mut DrainSink<'_>, limit: usize) -> std::io::Result<usize> {
        // A quarter of the pipe at a time: the parasite refills what was
        // read while the host moves the rest, instead of taking turns.
        let chunk = limit.min(self.capacity / 4).max(4096);
        match sink {
            DrainSink::Fd(fd) => {
                let flags = SpliceFFlags::SPLICE_F_MOVE | SpliceFFlags::SPLICE_F_NONBLOCK;
                Ok(fcntl::splice(&self.read, None, fd, None, chunk, flags)?)
            }
            DrainSink::Callback(callback) => {
                self.buffer.resize(self.capacity, 0);
                let n = self.read.read(&mut self.buffer[..chunk])?;
                callback(&self.buffer[..n])?;
                Ok(n)
            }
        }
    }
}

impl Parasite {
    /// Pulls the victim's memory in `ranges` (page aligned) through the
    /// parasite into `sink`, in order; returns the bytes moved.
    pub fn drain(
        &mut self,
        ranges: &[PageRange],
        mut sink: DrainSink<'_>,
    ) -> Result<u64, ParasiteError> {
        self.ensure_pipe()?;
        let per_batch = self.infection.layout.args_size / size_of::<PageRange>();
        let mut total = 0u64;
        for batch in ranges.chunks(per_batch.max(1)) {
            total += self.drain_batch(batch, &mut sink)?;
        }
        Ok(total)
    }

    fn ensure_pipe(&mut self) -> Result<(), ParasiteError> {
        if self.pipe.is_some() {
            return Ok(());
        }
        let pid = self.pid();
        let (pipe, write) =
            DrainPipe::new().map_err(|source| ParasiteError::Drain { pid, source })?;
        self.pipe = Some(pipe);
        self.command(
            CommandKind::ReceivePipe,
            0,
            Some(write.as_fd()),
            &mut Vec::new(),
        )?;
        Ok(())
    }

    fn drain_batch(
        &mut self,
        batch: &[PageRange],
        sink: &mut DrainSink<'_>,
    ) -> Result<u64, ParasiteError> {
        let pid = self.pid();
        let expected = batch
            .iter()
            .try_fold(0u64, |sum, range| sum.checked_add(range.len));
        let expected = expected.ok_or(ParasiteError::ArgsTooLarge {
            pid,
            len: usize::MAX,
            size: 0,
        })?;
        let args = self.infection.layout.args;
        for (i, range) in batch.iter().enumerate() {
            let offset = args + i * size_of::<PageRange>();
            let area = self.infection.area();
            area.write_value(offset, range)
                .map_err(|source| InfectError::Shared { pid, source })?;
        }
        let count = u32::try_from(batch.len()).unwrap_or(u32::MAX);
        let mut answered = false;
        let drained = self.exchange_pages(count, expected, sink, &mut answered);
        if drained.is_err() {
            if answered {
                // The parasite finished the command (with an error): bytes
                // of the abandoned drain must not reach the next one.
                self.pipe = None;
            } else {
                // It may still be in vmsplice on a full pipe: no further
                // command, and the pipe stays open until the cure has
                // stopped it. Closing it now would fail the vmsplice with
                // EPIPE and queue a SIGPIPE that kills the victim once its
                // signal mask is back.
                self.mark_astray();
            }
        }
        drained
    }

    /// Sends DrainPages and moves pages to the sink while waiting for the
    /// reply; `replied` tells, on error too, whether the reply came.
    fn exchange_pages(
        &mut self,
        count: u32,
        expected: u64,
        sink: &mut DrainSink<'_>,
        replied: &mut bool,
    ) -> Result<u64, ParasiteError> {
        let pid = self.pid();
        let io = |source| ParasiteError::Drain { pid, source };
        self.send_command(CommandKind::DrainPages, count)?;
        let mut moved = 0u64;
        while moved < expected || !*replied {
            signals::check()?;
            let (pipe_ready, control_ready) = self.poll_drain(!*replied)?;
            if pipe_ready {
                let pipe = self
                    .pipe
                    .as_mut()
                    .ok_or(ParasiteError::NotRunning { pid })?;
                // Empty the pipe before polling again: each poll is a
                // syscall and a wake-up the parasite waits for.
                while moved < expected {
                    let limit = usize::try_from(expected - moved).unwrap_or(usize::MAX);
                    match pipe.forward(sink, limit) {
                        Ok(0) => break,
                        Ok(n) => moved += n as u64,
                        Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => break,
                        Err(error) => return Err(io(error)),
                    }
                }
            }
            if control_ready && !*replied {
                // Whatever it says, the parasite is done with the command.
                *replied = true;
                self.receive_reply(CommandKind::DrainPages, &mut Vec::new())?;
            }
            if !pipe_ready && !control_ready {
                self.watch_leader()?;
            }
        }
        Ok(moved)
    }

    /// Polls the pipe and, unless the reply came already, the control
    /// socket; a timeout gives (false, false).
    fn poll_drain(&mut self, with_control: bool) -> Result<(bool, bool), ParasiteError> {
        let pid = self.pid();
        let (Some(pipe), Some(control)) = (&self.pipe, &self.control) else {
            return Err(ParasiteError::NotRunning { pid });
        };
        let mut fds = vec![PollFd::new(pipe.read.as_fd(), PollFlags::POLLIN)];
        if with_control {
            fds.push(PollFd::new(control.as_fd(), PollFlags::POLLIN));
        }
        match nix::poll::poll(&mut fds, PollTimeout::from(WATCH_INTERVAL_MS)) {
            Ok(0) | Err(Errno::EINTR) => Ok((false, false)),
            Ok(_) => {
                let ready = |fd: Option<&PollFd>| fd.and_then(|fd| fd.any()).unwrap_or(false);
                Ok((ready(fds.first()), ready(fds.get(1))))
            }
            Err(errno) => Err(super::ControlError::Socket {
                pid,
                call: "poll",
                errno,
            }
            .into()),
        }
    }

    /// Asks the parasite for the victim's fds `fds` (its numbers); returns them
    /// as fds of the host, in order.
    pub fn take_fds(&mut self, fds: &[RawFd]) -> Result<Vec<OwnedFd>, ParasiteError> {
        let per_batch = (self.infection.layout.args_size / size_of::<i32>()).max(1);
        let mut taken = Vec::with_capacity(fds.len());
        for batch in fds.chunks(per_batch) {
            self.take_batch(batch, &mut taken)?;
        }
        Ok(taken)
    }

    fn take_batch(
        &mut self,
        batch: &[RawFd],
        taken: &mut Vec<OwnedFd>,
    ) -> Result<(), ParasiteError> {
        let pid = self.pid();
        let bytes: Vec<u8> = batch.iter().flat_map(|fd| fd.to_ne_bytes()).collect();
        let args = self.infection.layout.args;
        let area = self.infection.area();
        area.write(args, &bytes)
            .map_err(|source| InfectError::Shared { pid, source })?;
        let count = u32::try_from(batch.len()).unwrap_or(u32::MAX);
        self.send_command(CommandKind::SendFds, count)?;
        let messages = batch.len().div_ceil(MAX_FDS_PER_MESSAGE).max(1);
        for message in 0..messages {
            let asked = (batch.len() - message * MAX_FDS_PER_MESSAGE).min(MAX_FDS_PER_MESSAGE);
            let before = taken.len();
            let last = message + 1 == messages;
            self.receive_reply(CommandKind::SendFds, taken)?;
            let got = taken.len() - before;
            if got != asked {
                if !last {
                    self.mark_astray();
                }
                return Err(ParasiteError::FdCount { pid, asked, got });
            }
        }
        Ok(())
    }
}
