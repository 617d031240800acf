//! Refusals about open files: every fd kind but regular files, directories, pipes, memfds,
//! sockets (see `sockets`) and five harmless character devices; files replaced or on a lazily
//! unmounted filesystem; unlinked files crust cannot keep (see `ghost`).

use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::sys::stat::FileStat;
use nix::unistd::Pid;

use super::{vanished, Allowances, Findings, Reason, RefusalError, Resource};
use crate::proc::fd::{fd_stat, fds, AnonInode, FdKind, FdLink};
use crate::proc::fdinfo::{fdinfo, FdInfo};
use crate::proc::mountinfo::{find_mount, mountinfo, Mount};
use crate::proc::socket::SocketFamily;
use crate::proc::{proc_path, DevId, ProcError};

/// An fd as read once, for the pipe and lock checks that follow.
pub(super) struct OpenFd {
    pub link: FdLink,
    pub kind: FdKind,
    pub info: FdInfo,
    pub stat: FileStat,
}

/// Check every fd of `pid` but the files named `--external` (the restore does not open them by
/// path: `--inherit-fd` gives them); returns what was read of them.
pub(super) fn check_files(
    pid: Pid,
    allowed: &Allowances,
    found: &mut Findings,
) -> Result<Vec<OpenFd>, RefusalError> {
    let mounts = mountinfo(pid).map_err(RefusalError::Files)?;
    let mut open = Vec::new();
    for link in fds(pid).map_err(RefusalError::Files)? {
        let Some(fd) = read_fd(pid, link).map_err(RefusalError::Files)? else {
            continue;
        };
        if !super::shared::named_external(&fd, allowed) {
            check_fd(pid, &fd, &mounts, allowed.ghost_limit, found);
        }
        open.push(fd);
    }
    Ok(open)
}

/// The working and root directories must still exist under their paths.
pub(super) fn check_directories(pid: Pid, found: &mut Findings) -> Result<(), RefusalError> {
    let cwd = crate::proc::identity::cwd(pid).map_err(RefusalError::Files)?;
    let cwd_stat = stat_link(pid, "cwd").map_err(RefusalError::Files)?;
    let named = nix::sys::stat::stat(&path_in_root(pid, &cwd)).ok();
    match judge_directory(&cwd, &cwd_stat, named.as_ref()) {
        Some(Reason::Deleted) => super::ghost::check_cwd(pid, &cwd, found),
        Some(reason) => found.add(Resource::Cwd(cwd.display().to_string()), reason),
        None => {}
    }
    let root = crate::proc::identity::root(pid).map_err(RefusalError::Files)?;
    let root_stat = stat_link(pid, "root").map_err(RefusalError::Files)?;
    if root_stat.st_nlink == 0 {
        found.add(
            Resource::Root(root.display().to_string()),
            Reason::RootRemoved,
        );
    }
    Ok(())
}

fn stat_link(pid: Pid, name: &str) -> Result<FileStat, ProcError> {
    let path = proc_path(pid, name);
    nix::sys::stat::stat(&path).map_err(|errno| ProcError::Stat {
        pid,
        path,
        source: errno.into(),
    })
}

/// The refusal for a directory held at `path` (with stat `held`), given the stat of what that
/// path names now.
fn judge_directory(path: &Path, held: &FileStat, named: Option<&FileStat>) -> Option<Reason> {
    if held.st_nlink == 0 {
        return Some(Reason::Deleted);
    }
    // A path the kernel could not express from the task's root is no path to compare.
    let comparable = path.is_absolute();
    (comparable && !names_same_file(named, held.st_dev, held.st_ino)).then_some(Reason::Replaced)
}

/// fdinfo and stat of one fd; `None` when it was closed meanwhile.
fn read_fd(pid: Pid, link: FdLink) -> Result<Option<OpenFd>, ProcError> {
    let read = fdinfo(pid, link.fd).and_then(|info| Ok((info, fd_stat(pid, link.fd)?)));
    match read {
        Ok((info, stat)) => {
            let kind = crate::proc::fd::classify(&link.target, &stat);
            Ok(Some(OpenFd {
                link,
                kind,
                info,
                stat,
            }))
        }
        Err(error) if vanished(&error) => Ok(None),
        Err(error) => Err(error),
    }
}

fn check_fd(pid: Pid, open: &OpenFd, mounts: &[Mount], ghost_limit: u64, found: &mut Findings) {
    let fd = open.link.fd;
    let file_like = matches!(open.kind, FdKind::Regular { .. } | FdKind::Deleted { .. });
    if file_like && is_message_queue(pid, fd) {
        let what = format!("a POSIX message queue ({})", open.link.target);
        let kind = "POSIX message queues";
        found.add(Resource::Fd(fd, what), Reason::UnsupportedFile { kind });
        return;
    }
    match &open.kind {
        // Sockets are judged together, once the peers of unix sockets are known.
        FdKind::Socket { .. } => {}
        FdKind::Deleted { path } => {
            super::ghost::check_fd(pid, fd, path, &open.stat, ghost_limit, found);
        }
        FdKind::Memfd { .. } => super::ghost::check_memfd(pid, fd, &open.link.target, found),
        FdKind::Regular { path } | FdKind::Directory { path } => {
            if let Some(reason) = check_path(pid, path, &open.info, &open.stat, mounts) {
                found.add(Resource::Fd(fd, path.display().to_string()), reason);
            }
        }
        kind => {
            if let Some((what, reason)) = judge_kind(kind, &open.info, &open.link.target) {
                found.add(Resource::Fd(fd, what), reason);
            }
        }
    }
}

/// Whether fd `fd` of `pid` is a POSIX message queue: its file lives on the
/// kernel's internal mqueue mount (which mountinfo does not show, so the
/// file would otherwise pass for one on an unmounted filesystem).
fn is_message_queue(pid: Pid, fd: std::os::fd::RawFd) -> bool {
    const MQUEUE_MAGIC: i64 = 0x1980_0202;
    let path = crate::proc::proc_path(pid, &format!("fd/{fd}"));
    nix::sys::statfs::statfs(&path).is_ok_and(|fs| fs.filesystem_type().0 == MQUEUE_MAGIC)
}

pub(super) fn socket_what(family: Option<SocketFamily>, link: &str) -> String {
    match family {
        Some(family) => format!("a socket ({family}, {link})"),
        None => format!("a socket (family unknown, {link})"),
    }
}

/// The refusal for an fd kind that needs no look at the filesystem, if any.
pub(super) fn judge_kind(kind: &FdKind, info: &FdInfo, link: &str) -> Option<(String, Reason)> {
    let unsupported = |what: String, kind| Some((what, Reason::UnsupportedFile { kind }));
    match kind {
        FdKind::Regular { .. } | FdKind::Directory { .. } => None,
        FdKind::Pipe { .. } if info.flags.contains(OFlag::O_DIRECT) => Some((
            format!("a packet-mode pipe ({link}, O_DIRECT)"),
            Reason::PacketPipe,
        )),
        FdKind::Pipe { .. } => None,
        FdKind::Socket { .. } => Some((socket_what(None, link), Reason::Socket { family: None })),
        FdKind::CharDevice { dev, .. } if is_harmless_device(*dev) => None,
        // Judged with the other terminals, once every fd is known.
        FdKind::CharDevice { dev, .. } if is_pty_end(*dev) => None,
        FdKind::CharDevice { path, dev } => {
            Some((format!("{} (char {dev})", path.display()), Reason::Device))
        }
        FdKind::BlockDevice { path, dev } => {
            Some((format!("{} (block {dev})", path.display()), Reason::Device))
        }
        FdKind::AnonInode(anon) => {
            unsupported(format!("{} ({link})", anon.name()), anon_plural(anon))
        }
        // Judged with the pipes: who else holds it.
        FdKind::Fifo { .. } => None,
        FdKind::Memfd { .. } => None,
        FdKind::Deleted { .. } => Some((link.to_string(), Reason::Deleted)),
        FdKind::Namespace { .. } => {
            unsupported(format!("a namespace file ({link})"), "namespace files")
        }
        FdKind::Other { .. } => unsupported(link.to_string(), "files of this kind"),
    }
}

/// `/dev/null`, `/dev/zero`, `/dev/full`, `/dev/random`, `/dev/urandom`: no state to dump.
pub(super) fn is_harmless_device(dev: DevId) -> bool {
    dev.major == 1 && matches!(dev.minor, 3 | 5 | 7 | 8 | 9)
}

/// A pty master (`/dev/ptmx`) or slave (`/dev/pts/N`).
fn is_pty_end(dev: DevId) -> bool {
    use crate::snapshot::tty::{is_ptmx, slave_index};
    is_ptmx(dev.major, dev.minor) || slave_index(dev.major, dev.minor).is_some()
}

fn anon_plural(anon: &AnonInode) -> &'static str {
    match anon {
        AnonInode::Eventfd => "eventfds",
        AnonInode::Epoll => "epoll instances",
        AnonInode::Signalfd => "signalfds",
        AnonInode::Timerfd => "timerfds",
        AnonInode::Inotify => "inotify instances",
        AnonInode::Fanotify => "fanotify groups",
        AnonInode::IoUring => "io_uring instances",
        AnonInode::Userfaultfd => "userfaultfds",
        AnonInode::Pidfd => "pidfds",
        AnonInode::PerfEvent => "perf events",
        AnonInode::Bpf(_) => "bpf objects",
        AnonInode::Other(_) => "anonymous inodes of this kind",
    }
}

/// Whether the file open at `path` is still reachable under that path, as the task sees it.
fn check_path(
    pid: Pid,
    path: &Path,
    info: &FdInfo,
    open: &FileStat,
    mounts: &[Mount],
) -> Option<Reason> {
    if find_mount(mounts, info.mnt_id).is_none() {
        return Some(Reason::LazilyUnmounted {
            mnt_id: info.mnt_id,
        });
    }
    let named = nix::sys::stat::stat(&path_in_root(pid, path)).ok();
    if names_same_file(named.as_ref(), open.st_dev, open.st_ino) {
        return None;
    }
    // The kernel marks an unlinked name so even while other links keep the file alive.
    let unlinked = named.is_none() && path.to_string_lossy().ends_with(" (deleted)");
    Some(if unlinked {
        Reason::NameUnlinked
    } else {
        Reason::Replaced
    })
}

/// `/proc/PID/root/PATH`: the path as the task sees it, whatever its root.
pub(super) fn path_in_root(pid: Pid, path: &Path) -> PathBuf {
    let relative = path.strip_prefix("/").unwrap_or(path);
    proc_path(pid, "root").join(relative)
}

/// Whether `named` (the stat of a path, if it exists) is the file with `dev` and `ino`.
pub(super) fn names_same_file(named: Option<&FileStat>, dev: u64, ino: u64) -> bool {
    named.is_some_and(|st| st.st_dev == dev && st.st_ino == ino)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(flags: OFlag) -> FdInfo {
        FdInfo {
            pos: 0,
            flags,
            mnt_id: 16,
            ino: 1,
            extra: Vec::new(),
        }
    }

    fn dev(major: u32, minor: u32) -> DevId {
        DevId { major, minor }
    }

    #[test]
    fn harmless_devices_pass_others_do_not() {
        let null = FdKind::CharDevice {
            path: "/dev/null".into(),
            dev: dev(1, 3),
        };
        assert_eq!(judge_kind(&null, &info(OFlag::O_RDWR), "/dev/null"), None);
        let card = FdKind::CharDevice {
            path: "/dev/dri/card0".into(),
            dev: dev(226, 0),
        };
        assert_eq!(
            judge_kind(&card, &info(OFlag::O_RDWR), "/dev/dri/card0"),
            Some(("/dev/dri/card0 (char 226:0)".into(), Reason::Device))
        );
        let disk = FdKind::BlockDevice {
            path: "/dev/vda".into(),
            dev: dev(254, 0),
        };
        assert_eq!(
            judge_kind(&disk, &info(OFlag::O_RDONLY), "/dev/vda")
                .unwrap()
                .1,
            Reason::Device
        );
        assert!(!is_harmless_device(dev(1, 11)));
    }

    #[test]
    fn pipes_and_packet_pipes() {
        let pipe = FdKind::Pipe { inode: 9 };
        assert_eq!(judge_kind(&pipe, &info(OFlag::O_WRONLY), "pipe:[9]"), None);
        assert_eq!(
            judge_kind(&pipe, &info(OFlag::O_WRONLY | OFlag::O_DIRECT), "pipe:[9]"),
            Some((
                "a packet-mode pipe (pipe:[9], O_DIRECT)".into(),
                Reason::PacketPipe
            ))
        );
    }

    #[test]
    fn anonymous_inodes_are_named() {
        let epoll = FdKind::AnonInode(AnonInode::Epoll);
        assert_eq!(
            judge_kind(&epoll, &info(OFlag::O_RDWR), "anon_inode:[eventpoll]"),
            Some((
                "an epoll instance (anon_inode:[eventpoll])".into(),
                Reason::UnsupportedFile {
                    kind: "epoll instances"
                }
            ))
        );
    }

    #[test]
    fn same_file_needs_same_device_and_inode() {
        // SAFETY: `stat` is plain old data; all-zero bytes are a valid value of it.
        let mut st: FileStat = unsafe { std::mem::zeroed() };
        st.st_dev = 5;
        st.st_ino = 7;
        assert!(names_same_file(Some(&st), 5, 7));
        assert!(!names_same_file(Some(&st), 5, 8));
        assert!(!names_same_file(None, 5, 7));
    }

    #[test]
    fn root_relative_path() {
        let pid = Pid::from_raw(12);
        assert_eq!(
            path_in_root(pid, Path::new("/tmp/a")),
            PathBuf::from("/proc/12/root/tmp/a")
        );
    }
}
