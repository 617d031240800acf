//! The one error type of [`crate::proc`].

use std::io;
use std::path::PathBuf;

use nix::unistd::Pid;

/// A line of a /proc file that a pure parser could not read, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    /// The line as the kernel wrote it.
    pub line: String,
    /// What was wrong with it.
    pub reason: &'static str,
}

impl BadLine {
    pub(crate) fn new(line: &str, reason: &'static str) -> Self {
        Self {
            line: line.to_string(),
            reason,
        }
    }
}

/// Why reading a task from /proc failed.
#[derive(Debug, thiserror::Error)]
pub enum ProcError {
    /// A /proc file of the task could not be read.
    #[error("pid {pid}: reading {}: {source}", path.display())]
    Read {
        pid: Pid,
        path: PathBuf,
        source: io::Error,
    },
    /// A line of a /proc file of the task did not parse.
    #[error("pid {pid}: {}: cannot parse {line:?}: {reason}", path.display())]
    Parse {
        pid: Pid,
        path: PathBuf,
        line: String,
        reason: &'static str,
    },
    /// A system-wide /proc file could not be read.
    #[error("reading {}: {source}", path.display())]
    ReadSystem { path: PathBuf, source: io::Error },
    /// A line of a system-wide /proc file did not parse.
    #[error("{}: cannot parse {line:?}: {reason}", path.display())]
    ParseSystem {
        path: PathBuf,
        line: String,
        reason: &'static str,
    },
    /// A /proc directory of the task could not be listed.
    #[error("pid {pid}: listing {}: {source}", path.display())]
    List {
        pid: Pid,
        path: PathBuf,
        source: io::Error,
    },
    /// A /proc link of the task could not be read.
    #[error("pid {pid}: readlink {}: {source}", path.display())]
    Readlink {
        pid: Pid,
        path: PathBuf,
        source: io::Error,
    },
    /// The file behind a /proc link could not be stat'ed.
    #[error("pid {pid}: stat {}: {source}", path.display())]
    Stat {
        pid: Pid,
        path: PathBuf,
        source: io::Error,
    },
    /// Reading the task's pagemap failed.
    #[error("pid {pid}: reading pagemap at {addr:#x}: {source}")]
    Pagemap {
        pid: Pid,
        addr: u64,
        source: io::Error,
    },
    /// A range of pages is too large to describe.
    #[error("pid {pid}: range {start:#x}-{end:#x} is not a valid range of pages")]
    BadRange { pid: Pid, start: u64, end: u64 },
    /// Finding the pfn of the zero page in crust's own memory failed.
    #[error("finding the zero page: {0}")]
    ZeroPage(nix::errno::Errno),
    /// Taking a copy of a task's fd with pidfd_getfd failed.
    #[error("pid {pid}: fd {fd}: pidfd_getfd: {source}")]
    GetFd {
        pid: Pid,
        fd: i32,
        source: nix::errno::Errno,
    },
    /// Asking a SysV semaphore for the last pid that operated on it failed.
    #[error("semctl(semid {semid}, semaphore {semnum}, GETPID): {source}")]
    SemGetPid {
        semid: i32,
        semnum: u32,
        source: nix::errno::Errno,
    },
    /// Asking a socket for its family failed.
    #[error("pid {pid}: fd {fd}: getsockopt(SO_DOMAIN): {source}")]
    SocketDomain {
        pid: Pid,
        fd: i32,
        source: nix::errno::Errno,
    },
}

impl ProcError {
    pub(crate) fn parse(pid: Pid, path: PathBuf, bad: BadLine) -> Self {
        Self::Parse {
            pid,
            path,
            line: bad.line,
            reason: bad.reason,
        }
    }

    pub(crate) fn parse_system(path: PathBuf, bad: BadLine) -> Self {
        Self::ParseSystem {
            path,
            line: bad.line,
            reason: bad.reason,
        }
    }
}
