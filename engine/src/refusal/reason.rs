//! What a refusal says: the resource, the reason, and the one line users read.

use std::fmt;
use std::os::fd::RawFd;

use nix::unistd::Pid;

use crate::proc::locks::FileLock;
use crate::proc::ns::NsKind;
use crate::proc::socket::SocketFamily;

use super::sockets::UnixPeer;
use super::sysvipc::SysvObject;

/// One thing that stops crust from dumping a process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The process checked.
    pub pid: Pid,
    /// What in it crust cannot dump.
    pub resource: Resource,
    /// Why.
    pub reason: Reason,
    /// The command-line option that will lift this refusal once crust has it.
    pub option: Option<&'static str>,
}

/// The part of a process a refusal is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    /// The process as a whole.
    Task,
    /// One thread.
    Thread(Pid),
    /// An fd, and what it refers to (`a socket (AF_INET6, socket:[81234])`, `/tmp/x`).
    Fd(RawFd, String),
    /// A range of memory, and what it maps (`maps /dev/dri/card0 (char 226:0)`).
    Range(u64, u64, String),
    /// The working directory, by its path.
    Cwd(String),
    /// The root directory, by its path.
    Root(String),
    /// A namespace of the process.
    Namespace(NsKind),
    /// A SysV IPC object the process used, by its key and id.
    SysvIpc {
        object: SysvObject,
        key: i32,
        id: i32,
    },
    /// A file lock, with the fd it was found through (if any) and the locked file's name.
    Lock {
        fd: Option<RawFd>,
        lock: FileLock,
        file: String,
    },
}

/// Why crust refuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// The process is crust.
    IsCrust,
    /// The process is a kernel thread.
    KernelThread,
    /// The process is a zombie.
    Zombie,
    /// A debugger or tracer other than crust is attached.
    Traced { tracer: Pid },
    /// The process traces another (a debugger, strace): ptrace links are not restored.
    Tracer { tracee: Pid },
    /// Seccomp filters are installed.
    SeccompFilter { filters: u32 },
    /// crust lacks CAP_SYS_PTRACE and the process runs with another user's uid.
    OtherUser { uid: u32, crust_uid: u32 },
    /// crust lacks CAP_SYS_PTRACE and the process runs with another gid.
    OtherGroup { gid: u32, crust_gid: u32 },
    /// crust lacks CAP_SYS_PTRACE and the process holds capabilities crust does not.
    MoreCapabilities { caps: u64 },
    /// crust lacks CAP_SYS_PTRACE and the process was made undumpable.
    Undumpable,
    /// The mapping is read through /proc/PID/map_files, which crust may not open.
    MapFilesClosed,
    /// A namespace differs from crust's own.
    ForeignNamespace { inode: u64, crust_inode: u64 },
    /// A process's IPC namespace is not its tree root's (which is not crust's).
    NotRootIpcNamespace { inode: u64, root_inode: u64 },
    /// The root's own IPC namespace holds `peer` (and `others` more) outside the tree.
    IpcNamespaceShared { peer: Pid, others: usize },
    /// A socket.
    Socket { family: Option<SocketFamily> },
    /// A connected unix socket (a socket, so not supported yet), told by its peer.
    UnixPeer(UnixPeer),
    /// An fd of a kind crust does not dump yet (plural noun: `eventfds`).
    UnsupportedFile { kind: &'static str },
    /// A character or block device other than null, zero, full, random, urandom.
    Device,
    /// A file that is neither a regular file nor a directory was unlinked after it was opened.
    Deleted,
    /// An unlinked regular file is bigger than `--ghost-limit` allows.
    GhostTooBig { size: u64, limit: u64 },
    /// An unlinked file or directory whose directory is gone too.
    GhostDirectoryGone,
    /// The root directory was removed.
    RootRemoved,
    /// The name the file was opened or mapped by was unlinked, but other links keep the file.
    NameUnlinked,
    /// The file's path now names a different file (or none).
    Replaced,
    /// The file lies on a filesystem that was lazily unmounted.
    LazilyUnmounted { mnt_id: i32 },
    /// Pipe `inode` is open in another process too (`peer`, when found), or this process lacks
    /// one of its ends; `--external pipe:[inode]` lets it be dumped.
    PipePeer { peer: Option<Pid>, inode: u64 },
    /// A pipe in packet mode (`O_DIRECT`).
    PacketPipe,
    /// An attached SysV shared memory segment.
    SysvShm,
    /// A SysV message queue or semaphore set in use.
    SysvIpc,
    /// A hugetlb mapping.
    Hugetlb,
    /// A mapping of a kind crust does not dump yet (plural noun: `memfd mappings`).
    UnsupportedMapping { kind: &'static str },
    /// A held file lock, dumped only with `--file-locks`.
    FileLock,
    /// A file lock (or a waiting lock request) that crust cannot take again, option or not.
    LockNotRestorable { why: &'static str },
    /// The process's session is led by a process outside the dump.
    ForeignSession { sid: Pid },
    /// The process's group is led by a process outside the dump.
    ForeignGroup { pgid: Pid },
    /// The process is in a session it does not lead and its parent is not in.
    SessionNotInherited { sid: Pid, parent: Pid },
    /// A FIFO a process outside the tree has open too.
    FifoPeer {
        peer: Pid,
        key: crate::external::External,
    },
    /// A file's open description (one offset, one set of flags) that a process outside the
    /// tree shares, found with kcmp; `key` is how `--external` names the file.
    SharedDescription {
        peer: Pid,
        peer_fd: RawFd,
        key: crate::external::External,
    },
    /// The process shares something with its parent as threads do.
    SharedWithParent { what: &'static str, parent: Pid },
    /// The process has a controlling terminal that is not a pty it holds both ends of (device
    /// number as stat shows it).
    ControllingTerminal { tty: u32 },
    /// A pty master whose slave the process does not hold.
    PtyMasterAlone { index: u32 },
    /// A pty slave whose master is outside the process: a shell job's terminal.
    ExternalTerminal { index: u32 },
    /// A second pty from outside, besides the shell job's terminal.
    SecondTerminal { terminal: u32 },
    /// A pty master whose index the kernel does not show (no `tty-index` in fdinfo).
    PtyIndexUnknown,
    /// The process's controlling terminal is a pty it holds both ends of, but it does not lead
    /// the session that terminal controls.
    InnerTerminalOfOtherSession { index: u32 },
    /// The process runs 32-bit (ia32) code.
    Compat32,
}

impl Reason {
    /// Whether crust cannot seize the process this is said of (so cannot freeze its tree to
    /// look at it): crust itself, a kernel thread, a zombie, a task another tracer holds, or
    /// one crust may not trace (another user's, or one with more privilege than crust).
    pub fn prevents_freeze(&self) -> bool {
        matches!(
            self,
            Self::IsCrust
                | Self::KernelThread
                | Self::Zombie
                | Self::Traced { .. }
                | Self::OtherUser { .. }
                | Self::OtherGroup { .. }
                | Self::MoreCapabilities { .. }
                | Self::Undumpable
        )
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Task => f.write_str("process"),
            Self::Thread(tid) => write!(f, "thread {tid}"),
            Self::Fd(fd, what) => write!(f, "fd {fd} is {what}"),
            Self::Range(start, end, what) => write!(f, "{start:#x}-{end:#x} {what}"),
            Self::Cwd(path) => write!(f, "working directory {path}"),
            Self::Root(path) => write!(f, "root directory {path}"),
            Self::Namespace(kind) => write!(f, "{kind} namespace"),
            Self::SysvIpc { object, key, id } => write!(f, "{object} (key {key:#010x}, id {id})"),
            Self::Lock { fd, lock, file } => {
                if let Some(fd) = fd {
                    write!(f, "fd {fd} ")?;
                }
                let end = lock.end.map_or("EOF".to_string(), |end| end.to_string());
                let verb = if lock.blocked { "waits for" } else { "holds" };
                write!(
                    f,
                    "{verb} a {} {} lock on {file} (bytes {}-{end})",
                    lock.kind, lock.access, lock.start
                )
            }
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (fact, verdict) = (self.reason.fact(), self.reason.verdict());
        let line = format!("pid {}: {}{fact}: {verdict}", self.pid, self.resource);
        // One line whatever a path holds: control characters are shown escaped.
        for c in line.chars() {
            if c.is_control() {
                write!(f, "{}", c.escape_default())?;
            } else {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proc::locks::LockKind;
    use crate::proc::DevId;

    fn line(resource: Resource, reason: Reason) -> String {
        Refusal {
            pid: Pid::from_raw(4242),
            resource,
            reason,
            option: None,
        }
        .to_string()
    }

    #[test]
    fn fd_and_range_lines() {
        let socket = Resource::Fd(5, "a socket (AF_INET6, socket:[81234])".into());
        assert_eq!(
            line(
                socket,
                Reason::Socket {
                    family: Some(SocketFamily::INET6)
                }
            ),
            "pid 4242: fd 5 is a socket (AF_INET6, socket:[81234]): sockets are not supported yet"
        );
        let card = Resource::Range(
            0x7f12a000,
            0x7f12c000,
            "maps /dev/dri/card0 (char 226:0)".into(),
        );
        assert_eq!(
            line(card, Reason::Device),
            "pid 4242: 0x7f12a000-0x7f12c000 maps /dev/dri/card0 (char 226:0): devices cannot \
            be dumped"
        );
    }

    #[test]
    fn task_lines() {
        assert_eq!(
            line(
                Resource::Thread(Pid::from_raw(4243)),
                Reason::Traced {
                    tracer: Pid::from_raw(7)
                }
            ),
            "pid 4242: thread 4243 is traced by pid 7: a traced task cannot be dumped; detach the \
             tracer first"
        );
        assert_eq!(
            line(
                Resource::Namespace(NsKind::Net),
                Reason::ForeignNamespace {
                    inode: 2,
                    crust_inode: 1
                }
            ),
            "pid 4242: net namespace is not crust's (2, crust's is 1): namespaces are not \
            supported yet"
        );
    }

    #[test]
    fn a_shared_pipe_line_teaches_the_option() {
        let pipe = || Resource::Fd(1, "a pipe (pipe:[81234])".into());
        let shared = Reason::PipePeer {
            peer: Some(Pid::from_raw(7)),
            inode: 81234,
        };
        assert_eq!(
            line(pipe(), shared),
            "pid 4242: fd 1 is a pipe (pipe:[81234]): it is also open in pid 7; dump it with \
            --external pipe:[81234]"
        );
        let alone = Reason::PipePeer {
            peer: None,
            inode: 81234,
        };
        assert_eq!(
            line(pipe(), alone),
            "pid 4242: fd 1 is a pipe (pipe:[81234]): its other end is not open in this \
            process; dump it with --external pipe:[81234]"
        );
    }

    #[test]
    fn a_newline_in_a_path_stays_on_one_line() {
        let fd = Resource::Fd(3, "/tmp/a\nb (deleted)".into());
        assert_eq!(
            line(fd, Reason::Deleted),
            "pid 4242: fd 3 is /tmp/a\\nb (deleted): it was unlinked, and crust keeps only \
            unlinked regular files and directories"
        );
    }

    #[test]
    fn a_big_ghost_line_names_size_limit_and_option() {
        let fd = Resource::Fd(4, "/tmp/big (deleted)".into());
        let reason = Reason::GhostTooBig {
            size: 2097152,
            limit: 1048576,
        };
        assert_eq!(
            line(fd, reason),
            "pid 4242: fd 4 is /tmp/big (deleted): it was unlinked and its 2097152 bytes are \
            over the ghost file limit of 1048576 bytes; raise it with --ghost-limit"
        );
    }

    #[test]
    fn lock_line() {
        let lock = FileLock {
            id: 1,
            kind: LockKind::Flock,
            blocked: false,
            advisory: true,
            access: "WRITE".into(),
            pid: Some(Pid::from_raw(4242)),
            dev: DevId {
                major: 254,
                minor: 0,
            },
            inode: 12,
            start: 0,
            end: None,
        };
        let resource = Resource::Lock {
            fd: Some(3),
            lock,
            file: "/tmp/x".into(),
        };
        assert_eq!(
            line(resource, Reason::FileLock),
            "pid 4242: fd 3 holds a FLOCK WRITE lock on /tmp/x (bytes 0-EOF): file locks are \
             dumped only with --file-locks"
        );
    }
}
