//! Open files and the fd table.

/// A regular file (or /dev/null and its kin) opened by path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegularFile {
    /// Absolute path it was opened by.
    pub path: String,
    /// open(2) flags (access mode, O_APPEND, ...), without O_CLOEXEC.
    pub flags: u32,
    /// File offset.
    pub pos: u64,
    /// Size when dumped (checked at restore for files that are mapped).
    pub size: u64,
    /// st_mode when dumped.
    pub mode: u32,
}

/// One end of a pipe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipeSnapshot {
    /// The pipe's inode: both ends share it.
    pub pipe_id: u32,
    /// open(2) flags of this end (O_RDONLY or O_WRONLY, O_NONBLOCK).
    pub flags: u32,
}

/// An open file description, shared by every fd that refers to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileSnapshot {
    /// A regular file or an allowed character device.
    Regular {
        /// Id fds refer to.
        id: u32,
        /// The file.
        file: RegularFile,
    },
    /// A pipe end.
    Pipe {
        /// Id fds refer to.
        id: u32,
        /// The pipe end.
        pipe: PipeSnapshot,
    },
    /// An end of a pseudo-terminal.
    Tty {
        /// Id fds refer to.
        id: u32,
        /// The description.
        tty: super::TtyFile,
    },
    /// An open FIFO (named pipe).
    Fifo {
        /// Id fds refer to.
        id: u32,
        /// The description.
        fifo: FifoSnapshot,
    },
    /// An open memfd.
    Memfd {
        /// Id fds refer to.
        id: u32,
        /// The description and the memfd it opens.
        memfd: super::MemfdFile,
    },
    /// A file or FIFO shared with a process outside the dump and named by `--external`: the
    /// restore puts the fd `--inherit-fd` gives in its place.
    External {
        /// Id fds refer to.
        id: u32,
        /// What is kept of it.
        file: ExternalFile,
    },
}

/// A description left outside the images: its name and how it was open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalFile {
    /// `file[MNT_ID:INODE]`, as `--external` named it.
    pub key: crate::external::External,
    /// open(2) flags, without O_CLOEXEC.
    pub flags: u32,
    /// File offset at dump (for the record: the inherited fd brings its own).
    pub pos: u64,
}

impl FileSnapshot {
    /// The id fds use to refer to this file.
    pub fn id(&self) -> u32 {
        match self {
            FileSnapshot::Regular { id, .. }
            | FileSnapshot::Pipe { id, .. }
            | FileSnapshot::Tty { id, .. }
            | FileSnapshot::Fifo { id, .. }
            | FileSnapshot::Memfd { id, .. }
            | FileSnapshot::External { id, .. } => *id,
        }
    }
}

/// An open description of a FIFO: its path, and the pipe behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FifoSnapshot {
    /// The FIFO's path.
    pub path: String,
    /// open(2) flags, without O_CLOEXEC.
    pub flags: u32,
    /// The pipe (the FIFO's inode number): descriptions of one FIFO share it, and its queued
    /// bytes are saved under it.
    pub pipe_id: u32,
    /// Id of the regular-file entry naming the path (CRIU's `regf_id`).
    pub regf_id: u32,
}

/// One slot of the fd table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdSnapshot {
    /// The fd number.
    pub fd: i32,
    /// The file it refers to.
    pub file_id: u32,
    /// FD_CLOEXEC.
    pub cloexec: bool,
}
