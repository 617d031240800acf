//! Facts about a process tree read from /proc, for tests that dump and
//! restore whole trees: who descends from whom, each process's parent,
//! group and session, the memory the tree holds, and a guard that kills
//! every process of the tree when a test ends.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::time::Duration;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::unistd::Pid;

use crate::image_json::{pstree, Decoded};
use crate::watch::{wait_until_gone, WatchError};
use crate::workload::{pidfd_open, pidfd_send_sigkill};

/// How long a killed process of a tree may take to go away.
const KILL_GRACE_MS: u16 = 2000;

/// What could not be read about a tree.
#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    /// A /proc file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: io::Error,
    },
    /// A /proc file did not read as expected.
    #[error("{path} does not parse: {text:?}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What it held.
        text: String,
    },
    /// A process of the tree did not go away.
    #[error(transparent)]
    Watch(#[from] WatchError),
}

/// Where a process stands in the tree: /proc/PID/stat's fields 4 to 6, and
/// whether it is a zombie (state `Z`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place {
    /// Its parent.
    pub ppid: Pid,
    /// Its process group.
    pub pgid: Pid,
    /// Its session.
    pub sid: Pid,
    /// Whether it has exited and waits to be reaped.
    pub zombie: bool,
}

/// Every process of a tree and its place, by pid.
pub type Places = BTreeMap<Pid, Place>;

/// The place of `pid`, from /proc/PID/stat.
pub fn place(pid: Pid) -> Result<Place, TreeError> {
    let path = PathBuf::from(format!("/proc/{pid}/stat"));
    let text = fs::read_to_string(&path).map_err(|source| TreeError::Read {
        path: path.clone(),
        source,
    })?;
    parse_place(&text).ok_or(TreeError::Parse { path, text })
}

/// Fields after the command name (which may hold spaces and parentheses).
fn parse_place(stat: &str) -> Option<Place> {
    let (_, after_comm) = stat.rsplit_once(") ")?;
    let mut fields = after_comm.split(' ');
    let state = fields.next()?;
    let mut next_pid = || fields.next()?.parse().ok().map(Pid::from_raw);
    Some(Place {
        ppid: next_pid()?,
        pgid: next_pid()?,
        sid: next_pid()?,
        zombie: state == "Z",
    })
}

/// The direct children of `pid` (of all its threads), zombies included.
pub fn children(pid: Pid) -> Result<Vec<Pid>, TreeError> {
    let tasks = PathBuf::from(format!("/proc/{pid}/task"));
    let read_error = |path: &PathBuf| {
        let path = path.clone();
        move |source| TreeError::Read { path, source }
    };
    let mut found = Vec::new();
    for task in fs::read_dir(&tasks).map_err(read_error(&tasks))? {
        let path = task.map_err(read_error(&tasks))?.path().join("children");
        let text = fs::read_to_string(&path).map_err(read_error(&path))?;
        for word in text.split_whitespace() {
            let child = word.parse().map_err(|_| TreeError::Parse {
                path: path.clone(),
                text: text.clone(),
            })?;
            found.push(Pid::from_raw(child));
        }
    }
    Ok(found)
}

/// `root` and every process under it, each with its place. A descendant
/// that ends while the tree is read is left out.
pub fn places(root: Pid) -> Result<Places, TreeError> {
    let mut found = Places::new();
    let mut waiting = vec![root];
    while let Some(pid) = waiting.pop() {
        let read = place(pid).and_then(|place| Ok((place, children(pid)?)));
        match read {
            Ok((place, children)) => {
                found.insert(pid, place);
                waiting.extend(children);
            }
            Err(error) if pid != root && vanished(&error) => {}
            Err(error) => return Err(error),
        }
    }
    Ok(found)
}

fn vanished(error: &TreeError) -> bool {
    matches!(error, TreeError::Read { source, .. } if source.raw_os_error() == Some(libc::ENOENT) || source.raw_os_error() == Some(libc::ESRCH))
}

/// The pids pstree.img saves, from crit's JSON of a dump's images.
pub fn saved_pids(decoded: &Decoded) -> BTreeSet<Pid> {
    pstree(decoded)
        .into_iter()
        .filter_map(|(pid, _)| i32::try_from(pid).ok())
        .map(Pid::from_raw)
        .collect()
}

/// Resident memory of a set of processes, summed over /proc/PID/smaps_rollup.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Memory {
    /// Resident set size, KiB (a page shared by n processes counts n times).
    pub rss_kib: u64,
    /// Proportional set size, KiB (a page shared by n processes counts 1/n in each).
    pub pss_kib: u64,
}

/// The summed RSS and PSS of `pids` (a zombie holds none).
pub fn memory<'a>(pids: impl IntoIterator<Item = &'a Pid>) -> Result<Memory, TreeError> {
    let mut total = Memory::default();
    for pid in pids {
        let path = PathBuf::from(format!("/proc/{pid}/smaps_rollup"));
        let text = fs::read_to_string(&path).map_err(|source| TreeError::Read {
            path: path.clone(),
            source,
        })?;
        total.rss_kib += rollup_field(&text, "Rss:").unwrap_or(0);
        total.pss_kib += rollup_field(&text, "Pss:").unwrap_or(0);
    }
    Ok(total)
}

/// The KiB count on the line starting with `name` (`Pss:   1234 kB`).
fn rollup_field(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
}

/// Waits until every one of `pids` is gone from /proc.
pub fn wait_all_gone<'a>(
    pids: impl IntoIterator<Item = &'a Pid>,
    timeout: Duration,
) -> Result<(), TreeError> {
    for &pid in pids {
        wait_until_gone(pid, timeout)?;
    }
    Ok(())
}

/// Holds a pidfd for each process of a tree; on drop, kills every one still
/// running. A pidfd names one process, never a later one with its pid, so
/// the guard can outlive a dump and a restore: call [`TreeGuard::watch`]
/// again for the restored processes.
#[derive(Debug, Default)]
pub struct TreeGuard {
    pidfds: Vec<OwnedFd>,
}

impl TreeGuard {
    /// A guard over no process yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes charge of `pids` (those already gone are skipped).
    pub fn watch<'a>(&mut self, pids: impl IntoIterator<Item = &'a Pid>) {
        self.pidfds
            .extend(pids.into_iter().filter_map(|&pid| pidfd_open(pid).ok()));
    }
}

impl Drop for TreeGuard {
    fn drop(&mut self) {
        for pidfd in &self.pidfds {
            let _ = pidfd_send_sigkill(pidfd);
        }
        for pidfd in &self.pidfds {
            let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
            let _ = poll(&mut fds, PollTimeout::from(KILL_GRACE_MS));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stat_line_gives_parent_group_session_and_state() {
        let stat = "42 (a) b (c)) Z 7 8 9 0 -1 4194560 0 0";
        assert_eq!(
            parse_place(stat),
            Some(Place {
                ppid: Pid::from_raw(7),
                pgid: Pid::from_raw(8),
                sid: Pid::from_raw(9),
                zombie: true,
            })
        );
        assert_eq!(parse_place("42 (sh) S x"), None);
    }

    #[test]
    fn a_child_is_found_under_this_process() {
        let mut command = std::process::Command::new("sleep");
        command.arg("600");
        let child = crate::Workload::spawn(&mut command).expect("sleep started");
        let me = Pid::this();
        let tree = places(me).expect("the tree under this process");
        let found = tree.get(&child.pid()).copied();
        assert_eq!(found.map(|place| place.ppid), Some(me), "{tree:?}");
        assert_eq!(found.map(|place| place.zombie), Some(false));
    }

    #[test]
    fn rollup_fields_are_read_in_kib() {
        let text = "00400000-7fff [rollup]\nRss:    1200 kB\nPss:     300 kB\n";
        assert_eq!(rollup_field(text, "Rss:"), Some(1200));
        assert_eq!(rollup_field(text, "Pss:"), Some(300));
        assert_eq!(rollup_field(text, "Swap:"), None);
        let mine = memory(&[Pid::this()]).expect("own smaps_rollup");
        assert!(mine.rss_kib > 0 && mine.pss_kib <= mine.rss_kib, "{mine:?}");
    }
}
