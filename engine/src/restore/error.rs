//! Why a restore failed: one variant per step, each naming the pid or tid
//! and what it was doing.

use std::time::Duration;

use nix::errno::Errno;
use nix::unistd::Pid;

use crate::external::InheritFd;
use crate::snapshot::SnapshotError;

use super::inherit::Access;

/// Why a restore failed.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// The images could not be read.
    #[error(transparent)]
    Images(#[from] crate::codec::CodecError),
    /// The images describe something inconsistent.
    #[error(transparent)]
    Invalid(#[from] SnapshotError),
    /// The images hold a shell job and the restore was not told `--shell-job`.
    #[error(
        "pid {pid} was dumped as a shell job ({why}): restore it with --shell-job, from a terminal"
    )]
    ShellJobNeeded {
        /// The process.
        pid: i32,
        /// What makes it one.
        why: String,
    },
    /// A shell job's terminal needs crust to run on a terminal of its own.
    #[error("pid {pid} ran on a terminal, and crust's stdin, stdout and stderr are none that is crust's controlling terminal: run crust restore --shell-job from a terminal")]
    NotOnTerminal {
        /// The process.
        pid: i32,
    },
    /// The pty index the process had is held by someone else.
    #[error("pid {pid}: pty {index} (/dev/pts/{index}) is in use, and crust recreates a pty only at its old index")]
    PtyIndexTaken {
        /// The process.
        pid: i32,
        /// The index.
        index: u32,
    },
    /// A request about a pty failed.
    #[error("pid {pid}: pty {index}: {what}: {errno}")]
    Terminal {
        /// The process.
        pid: i32,
        /// The pty index.
        index: u32,
        /// The request.
        what: &'static str,
        /// The error.
        errno: Errno,
    },
    /// A tty file names a terminal the images do not describe.
    #[error("pid {pid}: a file refers to tty {id}, which the images do not describe")]
    MissingTty {
        /// The process.
        pid: i32,
        /// The tty info id.
        id: u32,
    },
    /// A live task holds a pid the restore needs.
    #[error("pid {pid} is in use by {comm:?}")]
    PidInUse {
        /// The pid.
        pid: i32,
        /// The holder's name.
        comm: String,
    },
    /// A zombie kept a needed pid for longer than crust waits.
    #[error("pid {pid} is still held by a zombie after waiting {waited:?}")]
    PidHeldByZombie {
        /// The pid.
        pid: i32,
        /// How long crust waited.
        waited: Duration,
    },
    /// clone3 with set_tid failed.
    #[error("cannot create pid {pid}: clone3: {errno}")]
    Clone {
        /// The pid wanted.
        pid: i32,
        /// What clone3 said.
        errno: Errno,
    },
    /// The tree's IPC namespace could not be given its sysctls and objects.
    #[error("pid {pid}: restoring its IPC namespace: {source}")]
    IpcNamespace {
        /// The tree's root, whose new namespace it is.
        pid: i32,
        /// The step that failed.
        source: crate::sysvipc::SysvIpcError,
    },
    /// A ptrace request on the new task failed.
    #[error("tid {tid}: {source}")]
    Ptrace {
        /// The thread.
        tid: i32,
        /// The ptrace error.
        source: Box<compel::ptrace::PtraceError>,
    },
    /// A remote syscall in the new task failed.
    #[error("tid {tid}: cannot {step}: {source}")]
    Remote {
        /// The thread.
        tid: i32,
        /// The restore step.
        step: &'static str,
        /// The remote syscall's error.
        source: Box<compel::remote::RemoteError>,
    },
    /// The images give a process no pages image.
    #[error("pid {pid}: the images name no pages image for it")]
    MissingPages {
        /// The process.
        pid: i32,
    },
    /// crust holds no working or root directory for a process.
    #[error("pid {pid}: its working and root directories were not opened")]
    MissingDirectories {
        /// The process.
        pid: i32,
    },
    /// A zombie's parent is not among the processes built.
    #[error("pid {pid}: zombie without a restored parent")]
    MissingParent {
        /// The zombie.
        pid: i32,
    },
    /// A zombie crust made did not end in time.
    #[error("pid {pid}: made to end as a zombie, it is not one after {waited:?}")]
    ZombieNotDead {
        /// The zombie-to-be.
        pid: i32,
        /// How long crust waited.
        waited: Duration,
    },
    /// Comparing or writing a child's pages against those it inherited failed.
    #[error("pid {pid}: pages at {addr:#x} inherited from its parent: {source}")]
    InheritedPages {
        /// The process.
        pid: i32,
        /// Address of the chunk.
        addr: u64,
        /// The I/O error.
        source: std::io::Error,
    },
    /// No address is free for the scratch area.
    #[error("pid {pid}: no free address range for the restore's scratch area")]
    NoScratchSpace {
        /// The process.
        pid: i32,
    },
    /// The scratch area did not land where asked.
    #[error("pid {pid}: scratch area mapped at {got:#x} instead of {wanted:#x}")]
    ScratchMisplaced {
        /// The process.
        pid: i32,
        /// Address asked for.
        wanted: u64,
        /// Address given.
        got: u64,
    },
    /// Arguments do not fit the scratch area.
    #[error("pid {pid}: syscall arguments do not fit the scratch area (need {need:?} bytes)")]
    ScratchTooSmall {
        /// The process.
        pid: i32,
        /// Bytes needed.
        need: Option<u64>,
    },
    /// Reading or writing the new task's memory failed.
    #[error("pid {pid}: cannot access memory at {addr:#x}: {errno}")]
    AccessMemory {
        /// The process.
        pid: i32,
        /// Address.
        addr: u64,
        /// Error.
        errno: Errno,
    },
    /// The dumped vdso does not match this kernel's.
    #[error("pid {pid}: the dumped vdso layout {dumped} differs from this kernel's {ours}")]
    VdsoMismatch {
        /// The process.
        pid: i32,
        /// The dumped layout.
        dumped: String,
        /// This kernel's layout.
        ours: String,
    },
    /// A memory area did not land at its address.
    #[error("pid {pid}: area {start:#x} mapped at {got:#x}")]
    AreaMisplaced {
        /// The process.
        pid: i32,
        /// Address asked for.
        start: u64,
        /// Address given.
        got: u64,
    },
    /// A file mapping names a file the images do not describe.
    #[error("pid {pid}: area {start:#x} maps file id {file_id}, which the images do not describe")]
    MissingMappedFile {
        /// The process.
        pid: i32,
        /// Area start.
        start: u64,
        /// The file id.
        file_id: u32,
    },
    /// An fd names a file crust did not open.
    #[error("pid {pid}: fd {fd} refers to file id {id}, which was not opened")]
    MissingFile {
        /// The process.
        pid: i32,
        /// The fd.
        fd: i32,
        /// The file id.
        id: u32,
    },
    /// The pages image ended before the pagemap's last page.
    #[error("pages image ends at offset {offset:#x}, before the page for {addr:#x}")]
    PagesTruncated {
        /// Address of the missing page.
        addr: u64,
        /// Offset in the pages image.
        offset: u64,
    },
    /// Recreating an unlinked file, directory or memfd failed.
    #[error("pid {pid}: cannot {step} {what}: {source}")]
    Invisible {
        /// The process.
        pid: i32,
        /// What was being made (`ghost file /tmp/x`, `memfd:name`).
        what: String,
        /// The step that failed.
        step: &'static str,
        /// The error.
        source: std::io::Error,
    },
    /// Opening a file failed.
    #[error("pid {pid}: cannot open {path}: {source}")]
    OpenFile {
        /// The process.
        pid: i32,
        /// The path.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// The process's working or root directory cannot be opened.
    #[error("pid {pid}: cannot open its {which} {path}: {source}")]
    OpenDirectory {
        /// The process.
        pid: i32,
        /// "working directory" or "root directory".
        which: &'static str,
        /// The path.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// A mapped file is not the one that was dumped.
    #[error(
        "pid {pid}: {path} changed since the dump: size {}, mode 0{:o} at dump; size {}, mode 0{:o} now",
        dumped.0, dumped.1, now.0, now.1
    )]
    FileChanged {
        /// The process.
        pid: i32,
        /// The path.
        path: String,
        /// Size and mode at dump.
        dumped: (u64, u32),
        /// Size and mode now.
        now: (u64, u32),
    },
    /// A file offset is out of range.
    #[error("pid {pid}: offset {pos} of {path} is out of range")]
    BadOffset {
        /// The process.
        pid: i32,
        /// The path.
        path: String,
        /// The offset.
        pos: u64,
    },
    /// Seeking a file failed.
    #[error("pid {pid}: cannot seek {path}: {errno}")]
    Seek {
        /// The process.
        pid: i32,
        /// The path.
        path: String,
        /// The error.
        errno: Errno,
    },
    /// A file lock could not be taken again in the restored process.
    #[error("pid {pid}: cannot take the {lock} on fd {fd} ({path}) again: {errno}")]
    TakeLock {
        /// The process.
        pid: i32,
        /// The fd it was taken through.
        fd: i32,
        /// The locked file.
        path: String,
        /// The lock, described.
        lock: String,
        /// What the kernel said.
        errno: Errno,
    },
    /// Setting a file's status flags failed.
    #[error("pid {pid}: cannot set the flags of file id {id}: {errno}")]
    FileFlags {
        /// The process.
        pid: i32,
        /// The file id.
        id: u32,
        /// The error.
        errno: Errno,
    },
    /// An end of a pipe whose other end was outside the process at dump has no `--inherit-fd`
    /// (of a fitting access mode) to take its place.
    #[error(
        "pid {pid}: {fd} is the {} of pipe:[{inode}], whose other end was outside the dump: \
         restore with --inherit-fd fd[K]:pipe:[{inode}], K an fd of crust's open for {access}",
        access.end()
    )]
    InheritFdMissing {
        /// The process.
        pid: i32,
        /// The fd holding that end (`fd 1`).
        fd: String,
        /// The pipe's inode.
        inode: u64,
        /// The end's access mode.
        access: Access,
    },
    /// A file named `--external` at dump has no `--inherit-fd` (of a fitting access mode) to
    /// take its place.
    #[error(
        "pid {pid}: {fd} is {key}, which was named --external at dump: restore with \
         --inherit-fd fd[K]:{key}, K an fd of crust's open for {access}"
    )]
    InheritFdMissingFile {
        /// The process.
        pid: i32,
        /// The fd holding it (`fd 1`).
        fd: String,
        /// How `--external` named it.
        key: crate::external::External,
        /// Its access mode.
        access: Access,
    },
    /// An `--inherit-fd` names an fd crust does not hold.
    #[error("--inherit-fd {inherit}: crust has no fd {}: {errno}", inherit.fd)]
    InheritFdClosed {
        /// The option's value.
        inherit: InheritFd,
        /// What fcntl(F_GETFL) said.
        errno: Errno,
    },
    /// An `--inherit-fd` takes the place of nothing in the process.
    #[error(
        "--inherit-fd {inherit}: pid {pid} holds no {} that an fd open for {access} can take",
        taker(&inherit.resource)
    )]
    InheritFdUnused {
        /// The process.
        pid: i32,
        /// The option's value.
        inherit: InheritFd,
        /// The access mode of crust's fd.
        access: Access,
    },
    /// Duplicating an fd given by `--inherit-fd` failed.
    #[error("pid {pid}: cannot take crust's fd {fd} (--inherit-fd): {errno}")]
    InheritFdDup {
        /// The process.
        pid: i32,
        /// crust's fd.
        fd: i32,
        /// The error.
        errno: Errno,
    },
    /// Making a pipe failed.
    #[error("pid {pid}: cannot make a pipe: {errno}")]
    Pipe {
        /// The process.
        pid: i32,
        /// The error.
        errno: Errno,
    },
    /// No room for the fds the restore holds.
    #[error("cannot hold files at fd {floor} and above: {errno}")]
    FdLimit {
        /// Lowest fd crust uses.
        floor: i32,
        /// The error.
        errno: Errno,
    },
    /// Reading /proc failed.
    #[error("cannot read {path}: {source}")]
    ReadProc {
        /// The path.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// A thread came back with another tid.
    #[error("thread {wanted} was created as {got}")]
    ThreadId {
        /// Wanted tid.
        wanted: i32,
        /// Returned tid.
        got: i64,
    },
    /// crust was told to stop (SIGINT, SIGTERM, ...) before the process ran:
    /// what was made of it has been killed.
    #[error("{0}; every half-restored process was killed")]
    Interrupted(compel::signals::Interrupted),
    /// crust was told to stop while it waited for the restored process,
    /// which runs on without it.
    #[error("pid {pid}: stopped waiting ({signal}); the restored process runs on")]
    StoppedWaiting {
        /// The restored process.
        pid: i32,
        /// The signal crust was sent.
        signal: compel::signals::Interrupted,
    },
    /// crust lacks a capability it needs.
    #[error(transparent)]
    Privileges(#[from] crate::privileges::PrivilegeError),
    /// The images hold a credential crust may not give.
    #[error(transparent)]
    Credentials(#[from] super::credentials::CredentialError),
    /// Waiting for the restored process failed.
    #[error("pid {pid}: waiting for the restored process: {errno}")]
    Wait {
        /// The process.
        pid: i32,
        /// The error.
        errno: Errno,
    },
}

impl RestoreError {
    pub(super) fn ptrace(tid: Pid) -> impl Fn(compel::ptrace::PtraceError) -> RestoreError {
        move |source| RestoreError::Ptrace {
            tid: tid.as_raw(),
            source: Box::new(source),
        }
    }
}

impl From<compel::signals::Interrupted> for RestoreError {
    fn from(signal: compel::signals::Interrupted) -> Self {
        RestoreError::Interrupted(signal)
    }
}

/// What an inherited fd could have taken the place of, for [`RestoreError::InheritFdUnused`].
fn taker(resource: &crate::external::External) -> String {
    match resource {
        crate::external::External::Pipe { .. } => format!("end of {resource}"),
        crate::external::External::File { .. } => format!("{resource} named --external at dump"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_file_shows_sizes_and_octal_modes() {
        let error = RestoreError::FileChanged {
            pid: 42,
            path: "/tmp/data".into(),
            dumped: (20000, 0o100644),
            now: (100, 0o100644),
        };
        assert_eq!(
            error.to_string(),
            "pid 42: /tmp/data changed since the dump: size 20000, mode 0100644 at dump; \
             size 100, mode 0100644 now"
        );
    }
}
