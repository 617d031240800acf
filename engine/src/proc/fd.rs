//! Open files: `/proc/PID/fd/*` links and what kind of file each one is.

use std::os::fd::RawFd;
use std::path::PathBuf;

use nix::sys::stat::{FileStat, SFlag};
use nix::unistd::Pid;

use super::{proc_path, BadLine, DevId, ProcError};

/// One entry of `/proc/PID/fd`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FdLink {
    /// The fd number.
    pub fd: RawFd,
    /// What the link points to (`/path`, `pipe:[N]`, `socket:[N]`, `anon_inode:[eventfd]`, ...).
    pub target: String,
}

/// The kind of an anonymous-inode fd (`anon_inode:...` link).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnonInode {
    /// `[eventfd]`
    Eventfd,
    /// `[eventpoll]`
    Epoll,
    /// `[signalfd]`
    Signalfd,
    /// `[timerfd]`
    Timerfd,
    /// `inotify`
    Inotify,
    /// `[fanotify]`
    Fanotify,
    /// `[io_uring]`
    IoUring,
    /// `[userfaultfd]`
    Userfaultfd,
    /// `[pidfd]`
    Pidfd,
    /// `[perf_event]`
    PerfEvent,
    /// `bpf-map`, `bpf-prog`, `bpf_link`, ...
    Bpf(String),
    /// Any other anonymous inode, by its name.
    Other(String),
}

impl AnonInode {
    /// Classify the part of the link after `anon_inode:`.
    pub fn from_name(name: &str) -> Self {
        let bare = name.trim_start_matches('[').trim_end_matches(']');
        match bare {
            "eventfd" => Self::Eventfd,
            "eventpoll" => Self::Epoll,
            "signalfd" => Self::Signalfd,
            "timerfd" => Self::Timerfd,
            "inotify" => Self::Inotify,
            "fanotify" => Self::Fanotify,
            "io_uring" => Self::IoUring,
            "userfaultfd" => Self::Userfaultfd,
            "pidfd" => Self::Pidfd,
            "perf_event" => Self::PerfEvent,
            _ if bare.starts_with("bpf") => Self::Bpf(bare.to_string()),
            _ => Self::Other(bare.to_string()),
        }
    }

    /// The name users know this kind by.
    pub fn name(&self) -> &str {
        match self {
            Self::Eventfd => "an eventfd",
            Self::Epoll => "an epoll instance",
            Self::Signalfd => "a signalfd",
            Self::Timerfd => "a timerfd",
            Self::Inotify => "an inotify instance",
            Self::Fanotify => "a fanotify group",
            Self::IoUring => "an io_uring instance",
            Self::Userfaultfd => "a userfaultfd",
            Self::Pidfd => "a pidfd",
            Self::PerfEvent => "a perf event",
            Self::Bpf(name) | Self::Other(name) => name,
        }
    }
}

/// What an fd refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FdKind {
    /// A regular file that still has a name.
    Regular { path: PathBuf },
    /// A directory.
    Directory { path: PathBuf },
    /// An end of an unnamed pipe.
    Pipe { inode: u64 },
    /// A named pipe.
    Fifo { path: PathBuf },
    /// A socket (its family is found with [`super::socket::socket_family`]).
    Socket { inode: u64 },
    /// An anonymous inode: eventfd, epoll, timerfd, ...
    AnonInode(AnonInode),
    /// A character device.
    CharDevice { path: PathBuf, dev: DevId },
    /// A block device.
    BlockDevice { path: PathBuf, dev: DevId },
    /// A memfd.
    Memfd { name: String },
    /// A file or directory that was unlinked after being opened.
    Deleted { path: PathBuf },
    /// A namespace file (`net:[4026531833]`).
    Namespace { kind: String, inode: u64 },
    /// Anything else, by its link.
    Other { link: String },
}

impl FdKind {
    /// Whether `--external file[MNT_ID:INODE]` can name an fd of this kind: a regular file
    /// (deleted or not), a directory or a FIFO.
    pub fn is_named_file(&self) -> bool {
        matches!(
            self,
            Self::Regular { .. }
                | Self::Directory { .. }
                | Self::Fifo { .. }
                | Self::Deleted { .. }
        )
    }
}

/// The fds of `pid`, sorted by number. Fds closed while listing are left out.
pub fn fds(pid: Pid) -> Result<Vec<FdLink>, ProcError> {
    let dir = proc_path(pid, "fd");
    let list = |source| ProcError::List {
        pid,
        path: dir.clone(),
        source,
    };
    let mut links = Vec::new();
    for entry in std::fs::read_dir(&dir).map_err(list)? {
        let name = entry.map_err(list)?.file_name();
        let name = name.to_string_lossy();
        let bad = || ProcError::parse(pid, dir.clone(), BadLine::new(&name, "not an fd number"));
        let fd: RawFd = name.parse().map_err(|_| bad())?;
        let path = dir.join(&*name);
        match std::fs::read_link(&path) {
            Ok(target) => links.push(FdLink {
                fd,
                target: target.to_string_lossy().into_owned(),
            }),
            Err(source) if source.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(ProcError::Readlink { pid, path, source }),
        }
    }
    links.sort_by_key(|link| link.fd);
    Ok(links)
}

/// `stat` of the file behind `/proc/PID/fd/FD` (the open file, not the link).
pub fn fd_stat(pid: Pid, fd: RawFd) -> Result<FileStat, ProcError> {
    let path = proc_path(pid, &format!("fd/{fd}"));
    nix::sys::stat::stat(&path).map_err(|errno| ProcError::Stat {
        pid,
        path,
        source: errno.into(),
    })
}

/// The kind of `link`, reading the file's mode behind it.
pub fn fd_kind(pid: Pid, link: &FdLink) -> Result<FdKind, ProcError> {
    let st = fd_stat(pid, link.fd)?;
    Ok(classify(&link.target, &st))
}

/// Classify an fd from its link text and the `stat` of the open file.
pub fn classify(target: &str, st: &FileStat) -> FdKind {
    if let Some(kind) = classify_pseudo(target) {
        return kind;
    }
    let path = PathBuf::from(target);
    let unlinked = st.st_nlink == 0;
    if unlinked {
        if let Some(name) = target.strip_prefix("/memfd:") {
            let name = name.strip_suffix(" (deleted)").unwrap_or(name);
            return FdKind::Memfd {
                name: name.to_string(),
            };
        }
        let path = target.strip_suffix(" (deleted)").unwrap_or(target);
        return FdKind::Deleted {
            path: PathBuf::from(path),
        };
    }
    let dev = DevId::from_dev_t(st.st_rdev);
    match SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT {
        SFlag::S_IFREG => FdKind::Regular { path },
        SFlag::S_IFDIR => FdKind::Directory { path },
        SFlag::S_IFIFO => FdKind::Fifo { path },
        SFlag::S_IFCHR => FdKind::CharDevice { path, dev },
        SFlag::S_IFBLK => FdKind::BlockDevice { path, dev },
        _ => FdKind::Other {
            link: target.to_string(),
        },
    }
}

/// Links that are not paths: `pipe:[N]`, `socket:[N]`, `anon_inode:...`, `net:[N]`.
fn classify_pseudo(target: &str) -> Option<FdKind> {
    if target.starts_with('/') {
        return None;
    }
    if let Some(name) = target.strip_prefix("anon_inode:") {
        return Some(FdKind::AnonInode(AnonInode::from_name(name)));
    }
    let (prefix, rest) = target.split_once(":[")?;
    let inode = rest.strip_suffix(']')?.parse().ok()?;
    Some(match prefix {
        "pipe" => FdKind::Pipe { inode },
        "socket" => FdKind::Socket { inode },
        "pidfd" => FdKind::AnonInode(AnonInode::Pidfd),
        _ => FdKind::Namespace {
            kind: prefix.to_string(),
            inode,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(mode: u32, nlink: u64, rdev: u64) -> FileStat {
        // SAFETY: `stat` is plain old data; all-zero bytes are a valid value of it.
        let mut st: FileStat = unsafe { std::mem::zeroed() };
        st.st_mode = mode;
        st.st_nlink = nlink;
        st.st_rdev = rdev;
        st
    }

    #[test]
    fn pseudo_links() {
        let any = st(0, 1, 0);
        assert_eq!(
            classify("pipe:[12392]", &any),
            FdKind::Pipe { inode: 12392 }
        );
        assert_eq!(
            classify("socket:[81234]", &any),
            FdKind::Socket { inode: 81234 }
        );
        assert_eq!(
            classify("anon_inode:[eventfd]", &any),
            FdKind::AnonInode(AnonInode::Eventfd)
        );
        assert_eq!(
            classify("anon_inode:inotify", &any),
            FdKind::AnonInode(AnonInode::Inotify)
        );
        assert_eq!(
            classify("anon_inode:[pidfd]", &any),
            FdKind::AnonInode(AnonInode::Pidfd)
        );
        assert_eq!(
            classify("anon_inode:bpf-map", &any),
            FdKind::AnonInode(AnonInode::Bpf("bpf-map".into()))
        );
        assert_eq!(
            classify("net:[4026531833]", &any),
            FdKind::Namespace {
                kind: "net".into(),
                inode: 4026531833
            }
        );
    }

    #[test]
    fn files_by_mode() {
        let regular = st(libc::S_IFREG | 0o644, 1, 0);
        assert_eq!(
            classify("/tmp/a", &regular),
            FdKind::Regular {
                path: "/tmp/a".into()
            }
        );
        let null = st(libc::S_IFCHR | 0o666, 1, nix::sys::stat::makedev(1, 3));
        assert_eq!(
            classify("/dev/null", &null),
            FdKind::CharDevice {
                path: "/dev/null".into(),
                dev: DevId { major: 1, minor: 3 }
            }
        );
        let fifo = st(libc::S_IFIFO | 0o600, 1, 0);
        assert_eq!(
            classify("/tmp/f", &fifo),
            FdKind::Fifo {
                path: "/tmp/f".into()
            }
        );
    }

    #[test]
    fn unlinked_files() {
        let gone = st(libc::S_IFREG | 0o644, 0, 0);
        assert_eq!(
            classify("/tmp/a (deleted)", &gone),
            FdKind::Deleted {
                path: "/tmp/a".into()
            }
        );
        assert_eq!(
            classify("/memfd:hello (deleted)", &gone),
            FdKind::Memfd {
                name: "hello".into()
            }
        );
        // A live file whose name ends in " (deleted)" is still a regular file.
        let live = st(libc::S_IFREG | 0o644, 1, 0);
        assert_eq!(
            classify("/tmp/x (deleted)", &live),
            FdKind::Regular {
                path: "/tmp/x (deleted)".into()
            }
        );
    }

    #[test]
    fn own_fds_list() {
        let file = std::fs::File::open("/proc/self/status").unwrap();
        let fd = std::os::fd::AsRawFd::as_raw_fd(&file);
        let me = nix::unistd::getpid();
        let link = fds(me).unwrap().into_iter().find(|l| l.fd == fd).unwrap();
        assert!(link.target.ends_with("/status"));
        assert!(matches!(
            fd_kind(me, &link).unwrap(),
            FdKind::Regular { .. }
        ));
    }
}
