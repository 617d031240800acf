//! Refusals about files a process outside the tree has open too.
//!
//! A FIFO is dumped with the tree only when no process outside it has it open: its queued bytes
//! and its other ends would be someone else's. A regular file or a directory is dumped by path
//! and reopened at restore, which is faithful unless a process outside the tree shares its open
//! description (a shell's `exec 3>>log` inherited by a job, say): restored alone, the tree's copy
//! would get an offset of its own. Both are found by path among every process's fds (read once
//! per check), then, for a regular file, by kcmp(KCMP_FILE). Either may be named with
//! `--external file[MNT_ID:INODE]`, dumped as a place for `--inherit-fd` to fill.

use nix::unistd::Pid;

use super::files::OpenFd;
use super::{Allowances, Findings, Reason, Resource, Tree};
use crate::external::External;
use crate::proc::fd::FdKind;
use crate::proc::holders::{same_description, Holder};

/// The option that lets such a file be dumped.
const EXTERNAL_OPTION: &str = "--external";

/// Checks every regular file (deleted or not), directory and FIFO `pid` has open but those
/// `allowed` names.
pub(super) fn check_shared_files(
    pid: Pid,
    open: &[OpenFd],
    allowed: &Allowances,
    tree: &Tree,
    found: &mut Findings,
) {
    for fd in open {
        let Some(key) = external_key(fd) else {
            continue;
        };
        if allowed.external.contains(&key) {
            continue;
        }
        let outside = || {
            let holders = tree.path_holders(&fd.link.target).iter();
            holders.filter(|holder| !tree.owns(holder.pid))
        };
        let here = Holder {
            pid,
            fd: fd.link.fd,
        };
        match &fd.kind {
            FdKind::Fifo { path } => {
                let same_fifo = |holder: &&Holder| same_file(holder, fd);
                if let Some(peer) = outside().find(same_fifo) {
                    let what = format!("a FIFO ({})", path.display());
                    let reason = Reason::FifoPeer {
                        peer: peer.pid,
                        key,
                    };
                    found.add_with_option(Resource::Fd(fd.link.fd, what), reason, EXTERNAL_OPTION);
                }
            }
            FdKind::Regular { .. } | FdKind::Directory { .. } | FdKind::Deleted { .. } => {
                let sharer = |holder: &&Holder| same_description(here, **holder);
                if let Some(peer) = outside().find(sharer) {
                    let reason = Reason::SharedDescription {
                        peer: peer.pid,
                        peer_fd: peer.fd,
                        key,
                    };
                    let what = fd.link.target.clone();
                    found.add_with_option(Resource::Fd(fd.link.fd, what), reason, EXTERNAL_OPTION);
                }
            }
            _ => {}
        }
    }
}

/// How `--external` names the file `fd` has open (its mount id and inode), if it is a kind
/// that can be named so: a regular file (deleted or not), a directory or a FIFO.
pub(super) fn external_key(fd: &OpenFd) -> Option<External> {
    fd.kind.is_named_file().then_some(External::File {
        mnt_id: fd.info.mnt_id as u32,
        inode: fd.stat.st_ino,
    })
}

/// Whether `allowed` names the file `fd` has open external.
pub(super) fn named_external(fd: &OpenFd, allowed: &Allowances) -> bool {
    external_key(fd).is_some_and(|key| allowed.external.contains(&key))
}

/// Whether `holder`'s fd is the very file (device and inode) `fd` is.
fn same_file(holder: &Holder, fd: &OpenFd) -> bool {
    use std::os::unix::fs::MetadataExt;
    let link = crate::proc::proc_path(holder.pid, &format!("fd/{}", holder.fd));
    std::fs::metadata(link)
        .is_ok_and(|meta| meta.dev() == fd.stat.st_dev && meta.ino() == fd.stat.st_ino)
}
