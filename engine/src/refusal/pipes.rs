//! Refusals about pipes: both ends must be held by this process and by no other.

use std::collections::BTreeMap;
use std::os::fd::RawFd;

use nix::fcntl::OFlag;
use nix::unistd::Pid;

use super::files::OpenFd;
use super::{Findings, Reason, Resource};
use crate::proc::fd::FdKind;

/// The ends of one pipe that the process holds.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Ends {
    fds: Vec<RawFd>,
    read: bool,
    write: bool,
}

/// Check every pipe of the process; other processes holding it are found by scanning
/// `/proc/*/fd`.
pub(super) fn check_pipes(pid: Pid, open: &[OpenFd], found: &mut Findings) {
    let pipes = group_ends(open);
    if pipes.is_empty() {
        return;
    }
    let holders = other_holders(pid, &pipes);
    let mut refused = Vec::new();
    for (inode, ends) in &pipes {
        if let Some(reason) = judge_pipe(ends, holders.get(inode).copied()) {
            refused.extend(ends.fds.iter().map(|fd| (*fd, *inode, reason.clone())));
        }
    }
    refused.sort_by_key(|(fd, _, _)| *fd);
    for (fd, inode, reason) in refused {
        found.add(Resource::Fd(fd, format!("a pipe (pipe:[{inode}])")), reason);
    }
}

fn group_ends(open: &[OpenFd]) -> BTreeMap<u64, Ends> {
    let mut pipes: BTreeMap<u64, Ends> = BTreeMap::new();
    for fd in open {
        let FdKind::Pipe { inode } = fd.kind else {
            continue;
        };
        let ends = pipes.entry(inode).or_default();
        ends.fds.push(fd.link.fd);
        match fd.info.flags & OFlag::O_ACCMODE {
            OFlag::O_RDONLY => ends.read = true,
            OFlag::O_WRONLY => ends.write = true,
            _ => {
                ends.read = true;
                ends.write = true;
            }
        }
    }
    pipes
}

/// The refusal for a pipe, given another process that holds it (if one was found).
fn judge_pipe(ends: &Ends, other_holder: Option<Pid>) -> Option<Reason> {
    if ends.read && ends.write && other_holder.is_none() {
        return None;
    }
    Some(Reason::PipePeer { peer: other_holder })
}

/// For each pipe inode, one other process that has it open.
fn other_holders(pid: Pid, pipes: &BTreeMap<u64, Ends>) -> BTreeMap<u64, Pid> {
    let mut holders = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return holders;
    };
    for entry in entries.flatten() {
        let Some(other) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<i32>().ok())
        else {
            continue;
        };
        if other == pid.as_raw() {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(target) = std::fs::read_link(fd.path()) else {
                continue;
            };
            let Some(inode) = pipe_inode(&target.to_string_lossy()) else {
                continue;
            };
            if pipes.contains_key(&inode) {
                holders.entry(inode).or_insert(Pid::from_raw(other));
            }
        }
    }
    holders
}

fn pipe_inode(link: &str) -> Option<u64> {
    link.strip_prefix("pipe:[")?.strip_suffix(']')?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ends(read: bool, write: bool) -> Ends {
        Ends {
            fds: vec![3],
            read,
            write,
        }
    }

    #[test]
    fn both_ends_inside_pass() {
        assert_eq!(judge_pipe(&ends(true, true), None), None);
    }

    #[test]
    fn missing_end_is_refused_with_its_holder() {
        let peer = Pid::from_raw(77);
        assert_eq!(
            judge_pipe(&ends(true, false), Some(peer)),
            Some(Reason::PipePeer { peer: Some(peer) })
        );
        assert_eq!(
            judge_pipe(&ends(false, true), None),
            Some(Reason::PipePeer { peer: None })
        );
        assert_eq!(
            judge_pipe(&ends(true, true), Some(peer)),
            Some(Reason::PipePeer { peer: Some(peer) })
        );
    }

    #[test]
    fn link_text() {
        assert_eq!(pipe_inode("pipe:[12392]"), Some(12392));
        assert_eq!(pipe_inode("socket:[12392]"), None);
    }
}
