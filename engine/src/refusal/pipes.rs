//! Refusals about pipes: both ends must be held by this process and by no other, unless the
//! user named the pipe with `--external`.

use std::collections::BTreeMap;
use std::os::fd::RawFd;

use nix::fcntl::OFlag;
use nix::unistd::Pid;

use super::files::OpenFd;
use super::{Allowances, Findings, Reason, Resource, Tree};
use crate::proc::fd::FdKind;

/// The ends of one pipe that the process holds.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Ends {
    fds: Vec<RawFd>,
    read: bool,
    write: bool,
}

/// The option that lets a pipe shared with the outside be dumped.
const EXTERNAL_OPTION: &str = "--external";

/// Check every pipe of the process but those `allowed` names external; other processes
/// holding it are found by scanning `/proc/*/fd`. A pipe other processes of the tree hold
/// too is dumped with them, whichever ends each holds.
pub(super) fn check_pipes(
    pid: Pid,
    open: &[OpenFd],
    allowed: &Allowances,
    tree: &Tree,
    found: &mut Findings,
) {
    let mut pipes = group_ends(open);
    pipes.retain(|inode, _| !allowed.external_pipe(*inode));
    if pipes.is_empty() {
        return;
    }
    let mut refused = Vec::new();
    for (inode, ends) in &pipes {
        let others: Vec<Pid> = tree
            .pipe_holders(*inode)
            .iter()
            .copied()
            .filter(|holder| *holder != pid)
            .collect();
        let outside = others.iter().copied().find(|holder| !tree.owns(*holder));
        // Held by processes of the tree only, whichever ends: its other end, if none of
        // them holds it, was closed for good, and the restore closes it too.
        if outside.is_none() {
            continue;
        }
        if let Some(reason) = judge_pipe(*inode, ends, outside) {
            refused.extend(ends.fds.iter().map(|fd| (*fd, *inode, reason.clone())));
        }
    }
    refused.sort_by_key(|(fd, _, _)| *fd);
    for (fd, inode, reason) in refused {
        let resource = Resource::Fd(fd, format!("a pipe (pipe:[{inode}])"));
        found.add_with_option(resource, reason, EXTERNAL_OPTION);
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

/// The refusal for pipe `inode`, given another process that holds it (if one was found).
fn judge_pipe(inode: u64, ends: &Ends, other_holder: Option<Pid>) -> Option<Reason> {
    if ends.read && ends.write && other_holder.is_none() {
        return None;
    }
    Some(Reason::PipePeer {
        peer: other_holder,
        inode,
    })
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
        assert_eq!(judge_pipe(9, &ends(true, true), None), None);
    }

    #[test]
    fn missing_end_is_refused_with_its_holder() {
        let peer = Pid::from_raw(77);
        let refused = |peer| Some(Reason::PipePeer { peer, inode: 9 });
        assert_eq!(
            judge_pipe(9, &ends(true, false), Some(peer)),
            refused(Some(peer))
        );
        assert_eq!(judge_pipe(9, &ends(false, true), None), refused(None));
        assert_eq!(
            judge_pipe(9, &ends(true, true), Some(peer)),
            refused(Some(peer))
        );
    }
}
