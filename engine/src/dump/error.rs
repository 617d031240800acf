//! Why a dump failed: one variant per step, each naming the pid, fd or
//! path concerned. Every failure before the images are committed leaves the
//! process running as it was.

use nix::unistd::Pid;

use crate::external::External;

/// Why a dump failed.
#[derive(Debug, thiserror::Error)]
pub enum DumpError {
    /// The pid names no process.
    #[error("pid {0} does not exist")]
    NoSuchProcess(Pid),
    /// crust was asked to dump itself.
    #[error("pid {0} is crust itself")]
    Myself(Pid),
    /// `--external` names something the process does not hold.
    #[error("no process of the tree of pid {pid} holds {resource}, which --external names")]
    ExternalNotHeld {
        /// The process.
        pid: Pid,
        /// The resource named.
        resource: External,
    },
    /// Something in the process cannot be dumped; each line names the
    /// resource and the reason. The process was left running untouched.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Refused(Vec<crate::refusal::Refusal>),
    /// Looking for what cannot be dumped failed.
    #[error(transparent)]
    Check(#[from] crate::refusal::RefusalError),
    /// Reading /proc failed.
    #[error(transparent)]
    Proc(#[from] crate::proc::ProcError),
    /// Freezing, infecting or curing the process failed.
    #[error(transparent)]
    Infect(#[from] compel::infect::InfectError),
    /// The parasite failed.
    #[error(transparent)]
    Parasite(#[from] compel::infect::ParasiteError),
    /// A remote syscall in the process failed.
    #[error("pid {pid}: cannot read {what} inside the process: {source}")]
    Inside {
        /// The thread.
        pid: i32,
        /// What was being read.
        what: &'static str,
        /// The remote error.
        source: Box<compel::remote::RemoteError>,
    },
    /// crust lacks a capability it needs.
    #[error(transparent)]
    Privileges(#[from] crate::privileges::PrivilegeError),
    /// A ptrace or syscall request about one thread failed.
    #[error("tid {tid}: {what}: {errno}")]
    Thread {
        /// The thread.
        tid: i32,
        /// The request.
        what: &'static str,
        /// The error.
        errno: nix::errno::Errno,
    },
    /// Reading the tree's own IPC namespace failed.
    #[error("pid {pid}: dumping its IPC namespace: {source}")]
    IpcNamespace {
        /// The tree's root.
        pid: i32,
        /// The step that failed.
        source: crate::sysvipc::SysvIpcError,
    },
    /// Something the refusal checks let through and the dump cannot handle.
    #[error("pid {pid}: {what} cannot be dumped")]
    Unsupported {
        /// The process.
        pid: i32,
        /// What it is.
        what: String,
    },
    /// A file could not be examined.
    #[error("cannot stat {path}: {source}")]
    Stat {
        /// The path.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// A path is not valid UTF-8 (CRIU images store paths as strings).
    #[error("path {path:?} is not valid UTF-8")]
    PathNotUtf8 {
        /// The path, lossily converted.
        path: String,
    },
    /// Copying the data out of a pipe failed.
    #[error("pid {pid}: fd {fd}: cannot copy the pipe's data: {errno}")]
    PipeData {
        /// The process.
        pid: i32,
        /// The fd.
        fd: i32,
        /// The error.
        errno: nix::errno::Errno,
    },
    /// The bytes taken out of a pty could not be put back.
    #[error("pid {pid}: pty {index}: cannot put its queued bytes back: {errno}")]
    TerminalQueue {
        /// The process.
        pid: i32,
        /// The pty index.
        index: u32,
        /// The error.
        errno: nix::errno::Errno,
    },
    /// A request about a pty end failed.
    #[error("pid {pid}: fd {fd}: {what} on its terminal: {errno}")]
    Terminal {
        /// The process.
        pid: i32,
        /// The fd of the process the request went through.
        fd: i32,
        /// The request.
        what: &'static str,
        /// The error.
        errno: nix::errno::Errno,
    },
    /// Writing the images failed.
    #[error(transparent)]
    Images(#[from] crate::images::ImageError),
    /// Encoding the snapshot as images failed.
    #[error(transparent)]
    Codec(#[from] crate::codec::CodecError),
    /// The dumped state is inconsistent (a bug in crust, caught before writing).
    #[error(transparent)]
    Invalid(#[from] crate::snapshot::SnapshotError),
    /// crust was told to stop (SIGINT, SIGTERM, ...): the process was cured
    /// (or never touched) and runs on as it was, and no images were left.
    #[error("{signal}; pid {pid} was left running as it was")]
    Interrupted {
        /// The process.
        pid: Pid,
        /// The signal crust was sent.
        signal: compel::signals::Interrupted,
    },
}
