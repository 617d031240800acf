//! What crust saves of one process: the typed state a dump collects and a
//! restore consumes.
//!
//! Dump fills a [`ProcessSnapshot`] from /proc, ptrace and the parasite, then
//! the image codec writes it as CRIU images. Restore reads the images back
//! into a snapshot, which [`ProcessSnapshot::validate`] checks once, so the
//! restore steps can trust every address, size and number in it.

mod files;
mod invisible;
mod ipc;
mod locks;
mod memory;
mod process;
mod thread;
mod tree;
pub mod tty;

pub use files::{ExternalFile, FdSnapshot, FifoSnapshot, FileSnapshot, PipeSnapshot, RegularFile};
pub use invisible::{
    DataChunk, GhostFile, InodeAttributes, InvisibleFiles, MemfdFile, MemfdInode, MAX_CONTENT_SIZE,
    MAX_MEMFD_NAME,
};
pub use ipc::{
    IpcNamespaceSnapshot, IpcPerm, IpcVars, MsgQueueSnapshot, QueuedMessage, SemSetSnapshot,
    ShmSegmentSnapshot, MAX_IPC_OBJECTS, MAX_MESSAGES, MAX_SEMAPHORES, MAX_SHM_SIZE,
};
pub use locks::{FileLockKind, FileLockSnapshot};
pub use memory::{
    MemorySnapshot, MmFields, PageRun, VmaBacking, VmaSnapshot, PAGE_SIZE, TASK_SIZE,
};
pub use process::{
    Credentials, ItimerValue, PosixTimer, ProcessSnapshot, Rlimit, SigAction, RLIMIT_COUNT,
    SIGNAL_COUNT,
};
pub use thread::{PendingSignal, RseqRegistration, SigAltStack, ThreadSnapshot};
pub use tree::{TreeSnapshot, ZombieSnapshot};
pub use tty::{PtyEnd, Termios, TtyFile, TtyInfo, Winsize};

/// A snapshot that is not self-consistent (a hostile or corrupt image).
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// A memory area is empty, unaligned, reversed or overlaps another.
    #[error("pid {pid}: memory area {start:#x}-{end:#x} is invalid: {why}")]
    BadVma {
        /// Process the area belongs to.
        pid: i32,
        /// Start address.
        start: u64,
        /// End address.
        end: u64,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A run of saved pages lies outside every memory area that can hold it.
    #[error("pid {pid}: saved pages {start:#x}-{end:#x} lie outside the process's memory")]
    StrayPages {
        /// Process the pages belong to.
        pid: i32,
        /// Start address of the run.
        start: u64,
        /// End address of the run.
        end: u64,
    },
    /// A file descriptor refers to a file that is not in the snapshot.
    #[error("pid {pid}: fd {fd} refers to file id {id}, which the images do not describe")]
    UnknownFile {
        /// Process the fd belongs to.
        pid: i32,
        /// The fd number.
        fd: i32,
        /// The missing file id.
        id: u32,
    },
    /// The same fd number appears twice.
    #[error("pid {pid}: fd {fd} is described twice")]
    DuplicateFd {
        /// Process the fd belongs to.
        pid: i32,
        /// The fd number.
        fd: i32,
    },
    /// A number is outside the range the kernel accepts.
    #[error("pid {pid}: {what} is out of range ({value})")]
    OutOfRange {
        /// Process concerned.
        pid: i32,
        /// What the number is.
        what: &'static str,
        /// The value found.
        value: i64,
    },
    /// A file lock cannot be taken again as described.
    #[error("pid {pid}: the {lock} on fd {fd} cannot be restored: {why}")]
    BadLock {
        /// Process holding the lock.
        pid: i32,
        /// The lock, described.
        lock: String,
        /// The fd it is taken through.
        fd: i32,
        /// What is wrong with it.
        why: &'static str,
    },
    /// The process has no threads, or its first thread is not the leader.
    #[error("pid {pid}: the images describe no main thread")]
    NoLeader {
        /// Process concerned.
        pid: i32,
    },
    /// The images describe no process at all.
    #[error("the images describe no process")]
    EmptyTree,
    /// Two processes or threads claim one pid.
    #[error("pid {pid} is described twice")]
    DuplicatePid {
        /// The pid.
        pid: i32,
    },
    /// A process whose parent is not described before it.
    #[error("pid {pid}: its parent {ppid} is not a process of the tree listed before it")]
    Orphan {
        /// The process.
        pid: i32,
        /// The parent it names.
        ppid: i32,
    },
}
