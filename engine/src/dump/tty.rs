//! Terminals: each pty end the process holds becomes a `TtyInfo` (read
//! through crust's copy of one of its fds), each open description of it a
//! tty file; the bytes queued in a pty the process holds both ends of are
//! taken out for the images and put back unless the process dies.

use std::os::fd::{AsFd, OwnedFd};

use nix::errno::Errno;
use nix::unistd::Pid;

use crate::proc::fdinfo::FdInfo;
use crate::proc::socket::pidfd_getfd;
use crate::proc::stat::Stat;
use crate::proc::DevId;
use crate::snapshot::tty::{is_external, is_ptmx, slave_index, MAX_QUEUED};
use crate::snapshot::{FdSnapshot, FileSnapshot, PtyEnd, Termios, TtyFile, TtyInfo};

use super::DumpError;

/// Whether `dev` is a pty end: `/dev/ptmx` or `/dev/pts/N`.
pub fn is_pty(dev: DevId) -> bool {
    is_ptmx(dev.major, dev.minor) || slave_index(dev.major, dev.minor).is_some()
}

/// The id of the `TtyInfo` of pty `index`'s `end`: one per end, so that the
/// descriptions of one end share it.
fn info_id(index: u32, end: PtyEnd) -> u32 {
    let master = u32::from(end == PtyEnd::Master);
    index * 2 + 1 + master
}

/// The tty file for fd `fd` of `pid`, a pty end (`dev`) opened with `flags`.
pub fn pty_file(
    pid: Pid,
    fd: i32,
    dev: DevId,
    info: &FdInfo,
    flags: u32,
) -> Result<TtyFile, DumpError> {
    let (index, end) = match slave_index(dev.major, dev.minor) {
        Some(index) => (index, PtyEnd::Slave),
        None => {
            let index = info.extra_value("tty-index").and_then(|i| i.parse().ok());
            let index = index.ok_or_else(|| DumpError::Unsupported {
                pid: pid.as_raw(),
                what: format!("fd {fd}: a pty master whose index fdinfo does not show"),
            })?;
            (index, PtyEnd::Master)
        }
    };
    Ok(TtyFile {
        info_id: info_id(index, end),
        flags,
    })
}

/// Why a request about a terminal failed, with the fd it was made through.
fn terminal_error(pid: Pid, fd: i32, what: &'static str) -> impl Fn(Errno) -> DumpError {
    move |errno| DumpError::Terminal {
        pid: pid.as_raw(),
        fd,
        what,
        errno,
    }
}

/// The state of every pty end the files of `pid` refer to, without the
/// queued bytes ([`drain_queues`] takes those).
pub fn collect_ttys(
    pid: Pid,
    stat: &Stat,
    files: &[FileSnapshot],
    fds: &[FdSnapshot],
) -> Result<Vec<TtyInfo>, DumpError> {
    let mut ttys: Vec<TtyInfo> = Vec::new();
    for file in files {
        let FileSnapshot::Tty { id, tty } = file else {
            continue;
        };
        if ttys.iter().any(|t| t.id == tty.info_id) {
            continue;
        }
        let Some(slot) = fds.iter().find(|slot| slot.file_id == *id) else {
            continue;
        };
        ttys.push(read_end(pid, stat, slot.fd, tty.info_id)?);
    }
    // A slave's session and group are the pair's: ask its master's side.
    let masters: Vec<(u32, i32, i32)> = ttys
        .iter()
        .filter(|t| t.end == PtyEnd::Master)
        .map(|t| (t.index, t.sid, t.pgrp))
        .collect();
    for tty in ttys.iter_mut().filter(|t| t.end == PtyEnd::Slave) {
        if let Some((_, sid, pgrp)) = masters.iter().find(|(i, _, _)| *i == tty.index) {
            (tty.sid, tty.pgrp) = (*sid, *pgrp);
        }
    }
    Ok(ttys)
}

fn read_end(pid: Pid, stat: &Stat, fd: i32, id: u32) -> Result<TtyInfo, DumpError> {
    let copy = pidfd_getfd(pid, fd)?;
    let end = if id.is_multiple_of(2) {
        PtyEnd::Master
    } else {
        PtyEnd::Slave
    };
    let index = (id - 1) / 2;
    let failed = |what| terminal_error(pid, fd, what);
    let master = end == PtyEnd::Master;
    let (sid, pgrp) = if master {
        crate::pty::session_of(copy.as_fd()).map_err(failed("TIOCGSID"))?
    } else if is_controlling(stat, index) {
        (stat.session.as_raw(), stat.tpgid.max(0))
    } else {
        (0, 0)
    };
    Ok(TtyInfo {
        id,
        index,
        end,
        locked: master && crate::pty::locked(copy.as_fd()).map_err(failed("TIOCGPTLCK"))?,
        exclusive: crate::pty::exclusive(copy.as_fd()).map_err(failed("TIOCGEXCL"))?,
        packet_mode: master && crate::pty::packet_mode(copy.as_fd()).map_err(failed("TIOCGPKT"))?,
        sid,
        pgrp,
        termios: crate::pty::termios(copy.as_fd()).map_err(failed("TCGETS2"))?,
        winsize: crate::pty::winsize(copy.as_fd()).map_err(failed("TIOCGWINSZ"))?,
        queued: Vec::new(),
    })
}

/// Whether pty slave `index` is the controlling terminal `stat` names.
fn is_controlling(stat: &Stat, index: u32) -> bool {
    let tty = stat.tty_nr;
    let major = tty >> 8 & 0xfff;
    let minor = (tty & 0xff) | (tty >> 12 & 0xfff00);
    tty != 0 && slave_index(major, minor) == Some(index)
}

/// Gives each process that holds a pty master the slave's description when another process
/// of the tree holds the slave (a terminal emulator and its shell): the master's process
/// drains and restores the pair.
pub fn share_pty_peers(processes: &mut [crate::snapshot::ProcessSnapshot]) {
    let slaves: Vec<TtyInfo> = processes
        .iter()
        .flat_map(|p| &p.ttys)
        .filter(|t| t.end == PtyEnd::Slave)
        .cloned()
        .collect();
    for process in processes.iter_mut() {
        let masters: Vec<u32> = process
            .ttys
            .iter()
            .filter(|t| t.end == PtyEnd::Master)
            .map(|t| t.index)
            .collect();
        for index in masters {
            let held = process
                .ttys
                .iter()
                .any(|t| t.end == PtyEnd::Slave && t.index == index);
            if held {
                continue;
            }
            if let Some(slave) = slaves.iter().find(|t| t.index == index) {
                process.ttys.push(slave.clone());
            }
        }
    }
}

/// Copies the bytes taken for each pty end to every process's description of that end.
pub fn spread_queued(processes: &mut [crate::snapshot::ProcessSnapshot]) {
    let taken: Vec<(u32, Vec<u8>)> = processes
        .iter()
        .flat_map(|p| &p.ttys)
        .filter(|t| !t.queued.is_empty())
        .map(|t| (t.id, t.queued.clone()))
        .collect();
    for tty in processes.iter_mut().flat_map(|p| p.ttys.iter_mut()) {
        if let Some((_, bytes)) = taken.iter().find(|(id, _)| *id == tty.id) {
            tty.queued = bytes.clone();
        }
    }
}

/// The bytes taken out of the ptys of a frozen process. Until
/// [`QueuedTtys::forget`] (the process was killed) or
/// [`QueuedTtys::put_back`], dropping it writes them back where they were.
#[derive(Debug)]
pub struct QueuedTtys {
    pid: Pid,
    pairs: Vec<TakenPair>,
}

#[derive(Debug)]
struct TakenPair {
    index: u32,
    master: OwnedFd,
    slave: OwnedFd,
    termios: Termios,
    packet_mode: bool,
    output: Vec<u8>,
    input: Vec<u8>,
}

/// Takes the bytes queued in every pty of `ttys` whose two ends the process
/// holds, into the ttys' `queued`. The shell job's terminal keeps its own:
/// they belong to whoever holds its master.
pub fn drain_queues(
    pid: Pid,
    ttys: &mut [TtyInfo],
    files: &[FileSnapshot],
    fds: &[FdSnapshot],
) -> Result<QueuedTtys, DumpError> {
    let mut queued = QueuedTtys {
        pid,
        pairs: Vec::new(),
    };
    let pairs: Vec<(u32, u32, i32)> = ttys
        .iter()
        .filter(|t| t.end == PtyEnd::Master)
        .filter_map(|master| {
            let slave = ttys
                .iter()
                .find(|t| t.end == PtyEnd::Slave && t.index == master.index)?;
            let fd = fd_of_info(files, fds, master.id)?;
            Some((master.id, slave.id, fd))
        })
        .collect();
    for (master_id, slave_id, fd) in pairs {
        let master_info = ttys.iter().find(|t| t.id == master_id);
        let slave_info = ttys.iter().find(|t| t.id == slave_id);
        let (Some(master_info), Some(slave_info)) = (master_info, slave_info) else {
            continue;
        };
        let pair = take_pair(pid, fd, master_info, slave_info.termios)?;
        for tty in ttys.iter_mut() {
            if tty.id == master_id {
                tty.queued = pair.output.clone();
            } else if tty.id == slave_id {
                tty.queued = pair.input.clone();
            }
        }
        log::debug!(
            "pid {pid}: pty {}: took {} bytes for the master, {} for the slave",
            pair.index,
            pair.output.len(),
            pair.input.len()
        );
        queued.pairs.push(pair);
    }
    debug_assert!(ttys
        .iter()
        .all(|t| !is_external(t, ttys) || t.queued.is_empty()));
    Ok(queued)
}

fn fd_of_info(files: &[FileSnapshot], fds: &[FdSnapshot], info_id: u32) -> Option<i32> {
    files.iter().find_map(|file| match file {
        FileSnapshot::Tty { id, tty } if tty.info_id == info_id => fds
            .iter()
            .find(|slot| slot.file_id == *id)
            .map(|slot| slot.fd),
        _ => None,
    })
}

/// Takes the queues of the pty whose master is fd `fd` of `pid`, through
/// a copy of the master and a description of the slave of crust's own.
fn take_pair(
    pid: Pid,
    fd: i32,
    master_info: &TtyInfo,
    termios: Termios,
) -> Result<TakenPair, DumpError> {
    let failed = |what| terminal_error(pid, fd, what);
    let master = pidfd_getfd(pid, fd)?;
    let slave = open_slave(master.as_fd(), master_info.locked).map_err(failed("TIOCGPTPEER"))?;
    let packet_mode = master_info.packet_mode;
    if packet_mode {
        crate::pty::set_packet_mode(master.as_fd(), false).map_err(failed("TIOCPKT"))?;
    }
    let taken = crate::pty::take_queues(master.as_fd(), slave.as_fd(), &termios, MAX_QUEUED);
    if packet_mode {
        crate::pty::set_packet_mode(master.as_fd(), true).map_err(failed("TIOCPKT"))?;
    }
    let (output, input) = taken.map_err(failed("taking the queued bytes"))?;
    Ok(TakenPair {
        index: master_info.index,
        master,
        slave,
        termios,
        packet_mode,
        output,
        input,
    })
}

/// A non-blocking description of the slave of `master`, unlocking a locked
/// one for the time of the open.
pub(crate) fn open_slave(master: std::os::fd::BorrowedFd, locked: bool) -> nix::Result<OwnedFd> {
    if locked {
        crate::pty::set_locked(master, false)?;
    }
    let slave = crate::pty::open_peer(master, libc::O_RDWR | libc::O_NONBLOCK);
    if locked {
        crate::pty::set_locked(master, true)?;
    }
    slave
}

impl QueuedTtys {
    /// Writes every byte back where it was taken from (the process goes on);
    /// every pty is tried, the first failure is returned.
    pub fn put_back(mut self) -> Result<(), DumpError> {
        let pid = self.pid;
        let mut first_error = None;
        for pair in std::mem::take(&mut self.pairs) {
            if let Err(errno) = pair.put_back() {
                first_error.get_or_insert(DumpError::TerminalQueue {
                    pid: pid.as_raw(),
                    index: pair.index,
                    errno,
                });
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// The process is gone: the bytes need no putting back.
    pub fn forget(mut self) {
        self.pairs.clear();
    }
}

impl TakenPair {
    fn put_back(&self) -> nix::Result<()> {
        let master = self.master.as_fd();
        if self.packet_mode {
            crate::pty::set_packet_mode(master, false)?;
        }
        let slave = self.slave.as_fd();
        let pushed =
            crate::pty::push_queues(master, slave, &self.termios, &self.output, &self.input);
        if self.packet_mode {
            crate::pty::set_packet_mode(master, true)?;
        }
        pushed
    }
}

impl Drop for QueuedTtys {
    fn drop(&mut self) {
        for pair in &self.pairs {
            if let Err(errno) = pair.put_back() {
                log::warn!(
                    "pid {}: pty {}: could not put its queued bytes back: {errno}",
                    self.pid,
                    pair.index
                );
            }
        }
    }
}
