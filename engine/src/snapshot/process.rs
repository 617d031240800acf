//! Process-wide state: the thread list, signal handlers, timers, limits.

use std::collections::HashSet;

use super::{
    FdSnapshot, FileLockSnapshot, FileSnapshot, InvisibleFiles, MemorySnapshot, PendingSignal,
    SnapshotError, ThreadSnapshot,
};

/// Number of signals the kernel knows (1..=64).
pub const SIGNAL_COUNT: usize = 64;

/// Number of resource limits (RLIMIT_*).
pub const RLIMIT_COUNT: usize = 16;

/// A thread's credentials.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Credentials {
    /// Real, effective, saved and filesystem uid.
    pub uids: [u32; 4],
    /// Real, effective, saved and filesystem gid.
    pub gids: [u32; 4],
    /// Supplementary groups.
    pub groups: Vec<u32>,
    /// Inheritable capabilities.
    pub cap_inheritable: u64,
    /// Permitted capabilities.
    pub cap_permitted: u64,
    /// Effective capabilities.
    pub cap_effective: u64,
    /// Bounding set.
    pub cap_bounding: u64,
    /// Ambient set.
    pub cap_ambient: u64,
    /// prctl(PR_GET_SECUREBITS).
    pub securebits: u32,
}

/// One signal's disposition, as the kernel's `struct sigaction` for rt_sigaction(2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SigAction {
    /// Handler address, or SIG_DFL (0) / SIG_IGN (1).
    pub handler: u64,
    /// SA_* flags.
    pub flags: u64,
    /// The sa_restorer trampoline (glibc's __restore_rt).
    pub restorer: u64,
    /// Signals blocked while the handler runs.
    pub mask: u64,
}

/// An interval timer's value (getitimer(2)), in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ItimerValue {
    /// Reload interval.
    pub interval_us: u64,
    /// Time left until it fires.
    pub value_us: u64,
}

/// A POSIX timer (timer_create(2)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PosixTimer {
    /// The timer id the process knows it by.
    pub id: i32,
    /// Clock it counts on.
    pub clock_id: i32,
    /// SIGEV_SIGNAL, SIGEV_THREAD_ID, SIGEV_NONE.
    pub notify: i32,
    /// Thread to signal for SIGEV_THREAD_ID.
    pub notify_tid: i32,
    /// Signal it raises.
    pub signal: i32,
    /// The sigev_value it carries.
    pub sigev_value: u64,
    /// Reload interval in nanoseconds.
    pub interval_ns: u64,
    /// Time left in nanoseconds (0: disarmed).
    pub value_ns: u64,
    /// Overruns not yet read.
    pub overrun: i32,
}

/// One resource limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rlimit {
    /// Soft limit (u64::MAX: unlimited).
    pub soft: u64,
    /// Hard limit (u64::MAX: unlimited).
    pub hard: u64,
}

/// Everything saved of one process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessSnapshot {
    /// The process id.
    pub pid: i32,
    /// The parent's pid (0 for the root of a dump: its parent stays outside).
    pub ppid: i32,
    /// Process group.
    pub pgid: i32,
    /// Session.
    pub sid: i32,
    /// Threads, the leader first.
    pub threads: Vec<ThreadSnapshot>,
    /// The address space.
    pub memory: MemorySnapshot,
    /// Open file descriptions.
    pub files: Vec<FileSnapshot>,
    /// The fd table.
    pub fds: Vec<FdSnapshot>,
    /// Data sitting in pipes, by pipe id.
    pub pipe_data: Vec<(u32, Vec<u8>)>,
    /// File locks it holds (dumped with `--file-locks`).
    pub file_locks: Vec<FileLockSnapshot>,
    /// Unlinked files, memfds and a removed working directory, with their contents.
    pub invisible: InvisibleFiles,
    /// Working directory.
    pub cwd: String,
    /// Root directory.
    pub root: String,
    /// File mode creation mask.
    pub umask: u32,
    /// Dispositions of signals 1..=64, index 0 is signal 1.
    pub sigactions: Vec<SigAction>,
    /// Signals queued for the whole process.
    pub shared_pending: Vec<PendingSignal>,
    /// ITIMER_REAL, ITIMER_VIRTUAL, ITIMER_PROF.
    pub itimers: [ItimerValue; 3],
    /// POSIX timers.
    pub posix_timers: Vec<PosixTimer>,
    /// RLIMIT_* by resource number.
    pub rlimits: Vec<Rlimit>,
    /// personality(2).
    pub personality: u32,
    /// prctl(PR_GET_NO_NEW_PRIVS).
    pub no_new_privs: bool,
    /// prctl(PR_GET_DUMPABLE).
    pub dumpable: u32,
    /// prctl(PR_GET_CHILD_SUBREAPER).
    pub child_subreaper: bool,
    /// Exit signal sent to the parent (SIGCHLD normally).
    pub exit_signal: i32,
    /// The process was stopped (SIGSTOP and kin) when dumped, and is
    /// restored stopped: it goes on at SIGCONT.
    pub stopped: bool,
    /// It shares its working directory, root and umask with its parent (clone(2) with
    /// CLONE_FS): a chdir of one is a chdir of the other.
    pub shares_fs_with_parent: bool,
    /// It shares its fd table with its parent (clone(2) with CLONE_FILES): its fds are its
    /// parent's.
    pub shares_files_with_parent: bool,
    /// Pseudo-terminal ends the process's files refer to.
    pub ttys: Vec<super::TtyInfo>,
}

impl ProcessSnapshot {
    /// The main thread.
    pub fn leader(&self) -> Option<&ThreadSnapshot> {
        self.threads.first().filter(|t| t.tid == self.pid)
    }

    /// Check the snapshot once, so that restore can trust it.
    pub fn validate(&self) -> Result<(), SnapshotError> {
        let pid = self.pid;
        let range = |what, value: i64, ok: bool| {
            if ok {
                Ok(())
            } else {
                Err(SnapshotError::OutOfRange { pid, what, value })
            }
        };
        range("pid", pid.into(), pid > 0)?;
        self.leader().ok_or(SnapshotError::NoLeader { pid })?;
        let mut tids = HashSet::new();
        for thread in &self.threads {
            range(
                "thread id",
                thread.tid.into(),
                thread.tid > 0 && tids.insert(thread.tid),
            )?;
            range(
                "xstate size",
                thread.xstate.len() as i64,
                (512..=65536).contains(&thread.xstate.len()),
            )?;
        }
        range(
            "signal count",
            self.sigactions.len() as i64,
            self.sigactions.len() == SIGNAL_COUNT,
        )?;
        range(
            "rlimit count",
            self.rlimits.len() as i64,
            self.rlimits.len() <= RLIMIT_COUNT,
        )?;
        range(
            "exit signal",
            self.exit_signal.into(),
            (0..=64).contains(&self.exit_signal),
        )?;
        self.memory.validate(pid)?;
        super::tty::validate(pid, &self.ttys, &self.files)?;
        self.invisible.validate(pid, &self.files)?;
        self.validate_fds()?;
        self.validate_locks()
    }

    fn validate_fds(&self) -> Result<(), SnapshotError> {
        let pid = self.pid;
        let ids: HashSet<u32> = self.files.iter().map(FileSnapshot::id).collect();
        let mut seen = HashSet::new();
        for fd in &self.fds {
            if fd.fd < 0 {
                return Err(SnapshotError::OutOfRange {
                    pid,
                    what: "fd number",
                    value: fd.fd.into(),
                });
            }
            if !seen.insert(fd.fd) {
                return Err(SnapshotError::DuplicateFd { pid, fd: fd.fd });
            }
            if !ids.contains(&fd.file_id) {
                return Err(SnapshotError::UnknownFile {
                    pid,
                    fd: fd.fd,
                    id: fd.file_id,
                });
            }
        }
        Ok(())
    }
}
