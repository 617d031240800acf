//! The SysV IPC objects of an IPC namespace other than crust's, read for a dump and made
//! again for a restore.
//!
//! Every call here runs in a short-lived thread of crust that joins the namespace with
//! `setns(CLONE_NEWIPC)`, which moves only the calling thread: `/proc/sysvipc/*`, the IPC
//! sysctls and the `shm*`/`sem*`/`msg*` calls all act on the caller's namespace, while crust's
//! main thread stays where it was.

mod create;
mod creator;
mod read;
mod vars;

use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;

use nix::errno::Errno;
use nix::sched::CloneFlags;
use nix::unistd::Pid;

pub use create::{create_objects, finish_namespace};
pub use read::read_namespace;

/// A SysV IPC step that failed, inside the namespace of `pid`.
#[derive(Debug, thiserror::Error)]
pub enum SysvIpcError {
    /// `/proc/PID/ns/ipc` could not be opened.
    #[error("opening {path}: {source}")]
    OpenNamespace {
        /// The link.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// `setns` into the namespace failed.
    #[error("entering the IPC namespace of pid {pid}: {errno}")]
    EnterNamespace {
        /// Whose namespace.
        pid: Pid,
        /// What the kernel said.
        errno: Errno,
    },
    /// The thread working in the namespace could not start or died.
    #[error("the thread working in the IPC namespace of pid {pid} {what}")]
    Thread {
        /// Whose namespace.
        pid: Pid,
        /// What happened to it.
        what: &'static str,
    },
    /// A sysctl of the namespace could not be read or written.
    #[error("{path}: {source}")]
    Sysctl {
        /// The sysctl file.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// A sysctl held something else than numbers.
    #[error("{path}: {text:?} is not what crust expects there")]
    SysctlText {
        /// The sysctl file.
        path: PathBuf,
        /// What it held.
        text: String,
    },
    /// Listing the namespace's objects failed.
    #[error("listing the namespace's SysV objects: {0}")]
    List(#[source] crate::proc::ProcError),
    /// A call on one object failed.
    #[error("{call} on SysV {kind} id {id} (key {key:#010x}): {errno}")]
    Object {
        /// The call and command (`shmctl IPC_STAT`).
        call: &'static str,
        /// `shm`, `sem` or `msg`.
        kind: &'static str,
        /// The object's id.
        id: i32,
        /// Its key.
        key: i32,
        /// What the kernel said.
        errno: Errno,
    },
    /// An object came back with another id than the one asked for.
    #[error("SysV {kind} with key {key:#010x} came back as id {got}, not {wanted}")]
    WrongId {
        /// `shm`, `sem` or `msg`.
        kind: &'static str,
        /// Its key.
        key: i32,
        /// The id it had.
        wanted: i32,
        /// The id it got.
        got: i32,
    },
    /// An object crust cannot dump or restore faithfully.
    #[error("SysV {kind} id {id} (key {key:#010x}) {why}")]
    Unsupported {
        /// `shm`, `sem` or `msg`.
        kind: &'static str,
        /// The object's id.
        id: i32,
        /// Its key.
        key: i32,
        /// Why.
        why: String,
    },
}

/// Runs `work` in a new thread that has joined the IPC namespace of `pid`, and returns what
/// it returned. The thread ends with `work`; crust's other threads never change namespace.
pub fn in_namespace_of<T: Send>(
    pid: Pid,
    work: impl FnOnce() -> Result<T, SysvIpcError> + Send,
) -> Result<T, SysvIpcError> {
    let path = crate::proc::proc_path(pid, "ns/ipc");
    let ns: OwnedFd = std::fs::File::open(&path)
        .map_err(|source| SysvIpcError::OpenNamespace { path, source })?
        .into();
    std::thread::scope(|scope| {
        let worker = std::thread::Builder::new()
            .name("crust-ipcns".into())
            .spawn_scoped(scope, || {
                nix::sched::setns(ns.as_fd(), CloneFlags::CLONE_NEWIPC)
                    .map_err(|errno| SysvIpcError::EnterNamespace { pid, errno })?;
                work()
            })
            .map_err(|_| SysvIpcError::Thread {
                pid,
                what: "could not start",
            })?;
        worker.join().map_err(|_| SysvIpcError::Thread {
            pid,
            what: "panicked",
        })?
    })
}
