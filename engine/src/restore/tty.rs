//! Terminals: the pty pairs of the process recreated at their old indexes
//! with their settings and queued bytes, and a shell job put on crust's own
//! terminal.
//!
//! A pty is recreated by opening `/dev/ptmx` until the kernel hands out the
//! old index (it gives the lowest free one; the extra pairs are closed), so
//! that `/dev/pts/N` names the same pty as before; an index in use by
//! someone else fails the restore. A shell job (a process that ran in a
//! session led from outside, or on a pty whose master was outside) joins
//! crust's session, leads a new group if it led one, gets crust's terminal
//! in place of its old one and, if its group was in the foreground, the
//! terminal's foreground.

use std::collections::HashMap;
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::signal::{SigSet, SigmaskHow, Signal};

use crate::snapshot::tty::is_external;
use crate::snapshot::{FileSnapshot, ProcessSnapshot, PtyEnd, TreeSnapshot, TtyFile, TtyInfo};

use super::remote::{RemoteThread, Scratch};
use super::RestoreError;

/// Most pty pairs crust opens on its way to an index.
const MAX_PTMX_OPENS: usize = 4096;

/// Flags a tty file keeps when reopened: access mode and status flags.
const KEPT_FLAGS: i32 = libc::O_ACCMODE | libc::O_NONBLOCK | libc::O_APPEND | libc::O_ASYNC;

/// Whether the process was a shell job: in a session or group led from
/// outside, or on a terminal whose master was outside.
pub fn is_shell_job(process: &ProcessSnapshot) -> bool {
    process.sid != process.pid
        || process.pgid != process.pid
        || process.ttys.iter().any(|t| is_external(t, &process.ttys))
}

/// crust's own terminal: the first of its stdin, stdout and stderr that is
/// a terminal, which must be the controlling terminal of crust's session.
#[derive(Debug, Clone, Copy)]
pub struct CrustTerminal {
    fd: RawFd,
}

/// What `--shell-job` needs, checked before anything is made: the flag
/// for a shell job, and crust on a terminal when the process had one.
pub fn check_shell_job(
    process: &ProcessSnapshot,
    shell_job: bool,
) -> Result<Option<CrustTerminal>, RestoreError> {
    let pid = process.pid;
    let external = process.ttys.iter().find(|t| is_external(t, &process.ttys));
    if !shell_job {
        if !is_shell_job(process) {
            return Ok(None);
        }
        let why = match external {
            Some(tty) => format!("it ran on /dev/pts/{}, a terminal held outside", tty.index),
            None => format!("it ran in the session of pid {}", process.sid),
        };
        return Err(RestoreError::ShellJobNeeded { pid, why });
    }
    let terminal = crust_terminal();
    if external.is_some() && terminal.is_none() {
        return Err(RestoreError::NotOnTerminal { pid });
    }
    Ok(terminal)
}

fn crust_terminal() -> Option<CrustTerminal> {
    let session = nix::unistd::getsid(None).ok()?;
    (0..3).find_map(|fd| {
        // SAFETY: tcgetsid takes an fd number and reads no memory of ours.
        let sid = unsafe { libc::tcgetsid(fd) };
        let is_ours = nix::unistd::isatty(fd).unwrap_or(false) && sid == session.as_raw();
        is_ours.then_some(CrustTerminal { fd })
    })
}

/// The pty masters crust opened for the process, by info id, and crust's
/// terminal for a shell job.
#[derive(Debug, Default)]
pub struct HostTerminals {
    masters: HashMap<u32, OwnedFd>,
    terminal: Option<CrustTerminal>,
    shell_job: bool,
}

fn failed(pid: i32, index: u32, what: &'static str) -> impl Fn(Errno) -> RestoreError {
    move |errno| RestoreError::Terminal {
        pid,
        index,
        what,
        errno,
    }
}

impl HostTerminals {
    /// Recreates every pty pair the processes of `tree` hold with its settings and queued
    /// bytes; `terminal` is crust's, for a shell job (`--shell-job`).
    pub fn open(
        tree: &TreeSnapshot,
        terminal: Option<CrustTerminal>,
        shell_job: bool,
    ) -> Result<HostTerminals, RestoreError> {
        let mut masters = HashMap::new();
        for process in &tree.processes {
            let ttys = &process.ttys;
            for master in ttys.iter().filter(|t| t.end == PtyEnd::Master) {
                if masters.contains_key(&master.id) {
                    continue;
                }
                let slave = ttys
                    .iter()
                    .find(|t| t.end == PtyEnd::Slave && t.index == master.index);
                let flags = master_flags(process, master.id);
                let fd = recreate_pair(process.pid, master, slave, flags)?;
                masters.insert(master.id, fd);
            }
        }
        Ok(HostTerminals {
            masters,
            terminal,
            shell_job,
        })
    }

    /// Whether the process is restored as a shell job, into crust's session.
    pub fn shell_job(&self) -> bool {
        self.shell_job
    }

    /// A new open file description of the pty end `tty` names, for `pid`.
    pub fn file(&self, process: &ProcessSnapshot, tty: &TtyFile) -> Result<OwnedFd, RestoreError> {
        let pid = process.pid;
        let info = process.ttys.iter().find(|t| t.id == tty.info_id);
        let info = info.ok_or(RestoreError::MissingTty {
            pid,
            id: tty.info_id,
        })?;
        let flags = tty.flags as i32 & KEPT_FLAGS;
        if is_external(info, &process.ttys) {
            let terminal = self.terminal.ok_or(RestoreError::NotOnTerminal { pid })?;
            return reopen_terminal(pid, terminal, flags);
        }
        let master_id = process
            .ttys
            .iter()
            .find(|t| t.end == PtyEnd::Master && t.index == info.index)
            .map(|t| t.id);
        let master = master_id.and_then(|id| self.masters.get(&id));
        let master = master.ok_or(RestoreError::MissingTty {
            pid,
            id: tty.info_id,
        })?;
        let index = info.index;
        match info.end {
            PtyEnd::Master => master.try_clone().map_err(|source| RestoreError::OpenFile {
                pid,
                path: format!("/dev/ptmx (pty {index})"),
                source,
            }),
            PtyEnd::Slave => {
                let locked = master_locked(process, index);
                open_slave(master.as_fd(), locked, flags).map_err(failed(pid, index, "TIOCGPTPEER"))
            }
        }
    }

    /// Gives crust's terminal the settings the shell job's terminal had, and
    /// makes the process's group its foreground group if it was at dump
    /// (crust, put in the background by it, has SIGTTOU blocked for the call).
    pub fn hand_over_terminal(&self, process: &ProcessSnapshot) -> Result<(), RestoreError> {
        let Some(terminal) = self.terminal.filter(|_| self.shell_job) else {
            return Ok(());
        };
        let Some(old) = process.ttys.iter().find(|t| is_external(t, &process.ttys)) else {
            return Ok(());
        };
        let pid = process.pid;
        let failed = |what| {
            move |errno| RestoreError::Terminal {
                pid,
                index: old.index,
                what,
                errno,
            }
        };
        // SAFETY: fd 0, 1 or 2 of crust's, found to be a terminal before the restore; borrowed
        // for the calls below only.
        let fd = unsafe { BorrowedFd::borrow_raw(terminal.fd) };
        crate::pty::set_termios(fd, &old.termios).map_err(failed("TCSETS2 on crust's terminal"))?;
        if old.pgrp != process.pgid || process.pgid != pid {
            return Ok(());
        }
        let mut ttou = SigSet::empty();
        ttou.add(Signal::SIGTTOU);
        let mut mask = SigSet::empty();
        nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&ttou), Some(&mut mask))
            .map_err(failed("blocking SIGTTOU"))?;
        let set = nix::unistd::tcsetpgrp(fd, nix::unistd::Pid::from_raw(pid));
        let unblocked =
            nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&mask), None);
        set.map_err(failed("tcsetpgrp on crust's terminal"))?;
        unblocked.map_err(failed("unblocking SIGTTOU"))?;
        log::debug!("pid {pid}: its group has the foreground of crust's terminal");
        Ok(())
    }
}

/// Open flags of the master's description (the first file of it).
fn master_flags(process: &ProcessSnapshot, master_id: u32) -> i32 {
    process
        .files
        .iter()
        .find_map(|f| match f {
            FileSnapshot::Tty { tty, .. } if tty.info_id == master_id => Some(tty.flags as i32),
            _ => None,
        })
        .unwrap_or(libc::O_RDWR)
        & KEPT_FLAGS
}

fn master_locked(process: &ProcessSnapshot, index: u32) -> bool {
    process
        .ttys
        .iter()
        .any(|t| t.end == PtyEnd::Master && t.index == index && t.locked)
}

fn open_slave(master: BorrowedFd, locked: bool, flags: i32) -> nix::Result<OwnedFd> {
    if locked {
        crate::pty::set_locked(master, false)?;
    }
    let slave = crate::pty::open_peer(master, flags);
    if locked {
        crate::pty::set_locked(master, true)?;
    }
    slave
}

/// A new description of crust's terminal, with `flags`.
fn reopen_terminal(pid: i32, terminal: CrustTerminal, flags: i32) -> Result<OwnedFd, RestoreError> {
    let path = format!("/proc/self/fd/{}", terminal.fd);
    let flags = OFlag::from_bits_truncate(flags) | OFlag::O_NOCTTY | OFlag::O_CLOEXEC;
    let fd =
        nix::fcntl::open(path.as_str(), flags, nix::sys::stat::Mode::empty()).map_err(|errno| {
            RestoreError::OpenFile {
                pid,
                path: path.clone(),
                source: errno.into(),
            }
        })?;
    // SAFETY: open returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Opens the pty `master` describes at its index and gives both ends their
/// settings, modes and queued bytes; returns the master.
fn recreate_pair(
    pid: i32,
    master: &TtyInfo,
    slave: Option<&TtyInfo>,
    flags: i32,
) -> Result<OwnedFd, RestoreError> {
    let index = master.index;
    let fd = open_ptmx_at(pid, index, flags)?;
    let ptm = fd.as_fd();
    crate::pty::set_locked(ptm, false).map_err(failed(pid, index, "TIOCSPTLCK"))?;
    let peer = crate::pty::open_peer(ptm, libc::O_RDWR | libc::O_NONBLOCK).map_err(failed(
        pid,
        index,
        "TIOCGPTPEER",
    ))?;
    crate::pty::set_termios(ptm, &master.termios).map_err(failed(pid, index, "TCSETS2"))?;
    if let Some(slave) = slave {
        let pts = peer.as_fd();
        crate::pty::set_winsize(pts, &slave.winsize).map_err(failed(pid, index, "TIOCSWINSZ"))?;
        crate::pty::push_queues(ptm, pts, &slave.termios, &master.queued, &slave.queued)
            .map_err(failed(pid, index, "writing the queued bytes"))?;
        if slave.exclusive {
            crate::pty::set_exclusive(pts).map_err(failed(pid, index, "TIOCEXCL"))?;
        }
    }
    if master.packet_mode {
        crate::pty::set_packet_mode(ptm, true).map_err(failed(pid, index, "TIOCPKT"))?;
    }
    if master.locked {
        crate::pty::set_locked(ptm, true).map_err(failed(pid, index, "TIOCSPTLCK"))?;
    }
    log::debug!(
        "pid {pid}: pty {index} recreated, {} + {} queued bytes",
        master.queued.len(),
        slave.map_or(0, |s| s.queued.len())
    );
    Ok(fd)
}

/// `/dev/ptmx` opened until the kernel hands out `index`.
fn open_ptmx_at(pid: i32, index: u32, flags: i32) -> Result<OwnedFd, RestoreError> {
    let flags = OFlag::from_bits_truncate(flags & !libc::O_ACCMODE)
        | OFlag::O_RDWR
        | OFlag::O_NOCTTY
        | OFlag::O_CLOEXEC;
    let mut others = Vec::new();
    while others.len() < MAX_PTMX_OPENS {
        let raw = nix::fcntl::open("/dev/ptmx", flags, nix::sys::stat::Mode::empty())
            .map_err(failed(pid, index, "opening /dev/ptmx"))?;
        // SAFETY: open returned a new fd that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let got = crate::pty::index(fd.as_fd()).map_err(failed(pid, index, "TIOCGPTN"))?;
        match got.cmp(&index) {
            std::cmp::Ordering::Equal => return Ok(fd),
            std::cmp::Ordering::Greater => return Err(RestoreError::PtyIndexTaken { pid, index }),
            std::cmp::Ordering::Less => others.push(fd),
        }
    }
    Err(RestoreError::PtyIndexTaken { pid, index })
}

/// Inside the task, once it leads its session and before its children are forked (they
/// inherit it): the pty slave that was its controlling terminal becomes it again
/// (TIOCSCTTY on crust's description of it, `fd_of` giving the fd of a file id).
pub fn take_controlling_terminal(
    thread: &mut RemoteThread,
    process: &ProcessSnapshot,
    fd_of: &dyn Fn(u32) -> Option<i32>,
) -> Result<(), RestoreError> {
    let Some(slave) = controlling_slave(process) else {
        return Ok(());
    };
    let Some(fd) = tty_file_id(process, slave.id).and_then(fd_of) else {
        return Ok(());
    };
    thread.call(
        "take its controlling terminal (TIOCSCTTY)",
        libc::SYS_ioctl,
        [fd as u64, libc::TIOCSCTTY, 0, 0, 0, 0],
    )?;
    Ok(())
}

/// Gives a session leader's controlling pty (a pair of the tree) back the foreground group it
/// had at dump, once every group of the tree exists. Run in the leader, whose own group has
/// had the foreground since it took the terminal, so the kernel sends it no SIGTTOU.
pub fn give_foreground_back(
    thread: &mut RemoteThread,
    scratch: &Scratch,
    process: &ProcessSnapshot,
) -> Result<(), RestoreError> {
    let Some(slave) = controlling_slave(process) else {
        return Ok(());
    };
    if slave.pgrp <= 0 || slave.pgrp == process.pgid {
        return Ok(());
    }
    let file_id = tty_file_id(process, slave.id);
    let fd = process
        .fds
        .iter()
        .find(|slot| Some(slot.file_id) == file_id);
    let Some(fd) = fd else {
        return Ok(());
    };
    let pgrp = scratch.put(0, &slave.pgrp.to_ne_bytes())?;
    thread.call(
        "give its terminal's foreground back (TIOCSPGRP)",
        libc::SYS_ioctl,
        [fd.fd as u64, libc::TIOCSPGRP, pgrp, 0, 0, 0],
    )?;
    log::debug!(
        "pid {}: process group {} has its terminal's foreground again",
        process.pid,
        slave.pgrp
    );
    Ok(())
}

/// The pty slave a session leader has as its controlling terminal, when the tree holds the
/// pair (a shell job's terminal is crust's at restore, not this).
fn controlling_slave(process: &ProcessSnapshot) -> Option<&TtyInfo> {
    if process.sid != process.pid {
        return None;
    }
    process
        .ttys
        .iter()
        .find(|t| t.end == PtyEnd::Slave && t.sid == process.pid && !is_external(t, &process.ttys))
}

/// The id of the process's file that is the pty end `info_id`.
fn tty_file_id(process: &ProcessSnapshot, info_id: u32) -> Option<u32> {
    process.files.iter().find_map(|file| match file {
        FileSnapshot::Tty { id, tty } if tty.info_id == info_id => Some(*id),
        _ => None,
    })
}
