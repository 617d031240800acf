//! What crust will not dump yet, found before anything is written.
//!
//! [`check_process`] reads one process (all its threads) from /proc and returns every blocker,
//! each a [`Refusal`] whose `Display` is one line naming the pid, the resource and the reason:
//!
//! ```text
//! pid 4242: fd 5 is a socket (AF_INET6, socket:[81234]): sockets are not supported yet
//! ```
//!
//! It only reads: it never stops, traces or changes the process, so the dump can call it while
//! the process is frozen and `crust check -t PID` on a running one.

mod files;
mod ghost;
mod locks;
mod memory;
mod pipes;
mod reason;
mod sockets;
mod sysvipc;
mod task;

use std::collections::BTreeSet;

use nix::unistd::Pid;

use crate::external::External;
use crate::proc::ProcError;

pub use reason::{Reason, Refusal, Resource};
pub use sockets::{PeerHolders, UnixPeer};
pub use sysvipc::SysvObject;

/// Why checking a process failed (not: why it cannot be dumped; that is a [`Refusal`]).
#[derive(Debug, thiserror::Error)]
pub enum RefusalError {
    /// Reading the process itself failed.
    #[error("checking the process: {0}")]
    Task(#[source] ProcError),
    /// Reading a thread failed.
    #[error("checking its threads: {0}")]
    Threads(#[source] ProcError),
    /// Listing its children failed.
    #[error("checking its children: {0}")]
    Children(#[source] ProcError),
    /// Reading its namespaces (or crust's) failed.
    #[error("checking its namespaces: {0}")]
    Namespaces(#[source] ProcError),
    /// Reading its fds failed.
    #[error("checking its files: {0}")]
    Files(#[source] ProcError),
    /// Reading its memory mappings failed.
    #[error("checking its memory: {0}")]
    Memory(#[source] ProcError),
    /// Reading the SysV IPC objects failed.
    #[error("checking SysV IPC: {0}")]
    Ipc(#[source] ProcError),
    /// Reading the file locks failed.
    #[error("checking file locks: {0}")]
    Locks(#[source] ProcError),
}

/// Largest unlinked file whose contents a dump keeps unless told otherwise (CRIU's default).
pub const DEFAULT_GHOST_LIMIT: u64 = 1 << 20;

/// What the user allowed that crust would refuse otherwise (`crust dump --external ...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowances {
    /// Resources shared with processes outside the dump, to be dumped as the process's own
    /// ends of them.
    pub external: BTreeSet<External>,
    /// Largest unlinked file whose contents go into the images (`--ghost-limit`).
    pub ghost_limit: u64,
}

impl Default for Allowances {
    fn default() -> Self {
        Self {
            external: BTreeSet::new(),
            ghost_limit: DEFAULT_GHOST_LIMIT,
        }
    }
}

impl Allowances {
    /// Whether pipe `inode` was named external.
    pub fn external_pipe(&self, inode: u64) -> bool {
        self.external.contains(&External::Pipe { inode })
    }
}

/// Every reason crust cannot dump `pid` (all its threads). Empty: crust can dump it.
pub fn check_process(pid: Pid) -> Result<Vec<Refusal>, RefusalError> {
    check_process_with(pid, &Allowances::default())
}

/// [`check_process`], with what `allowed` names let through.
pub fn check_process_with(pid: Pid, allowed: &Allowances) -> Result<Vec<Refusal>, RefusalError> {
    let mut found = Findings::new(pid);
    if !task::check_identity(pid, &mut found)? {
        return Ok(found.refusals);
    }

    task::check_threads(pid, &mut found)?;
    task::check_user(pid, &mut found)?;
    task::check_children(pid, &mut found)?;
    task::check_session(pid, &mut found)?;
    task::check_compat(pid, &mut found)?;
    task::check_namespaces(pid, &mut found)?;

    files::check_directories(pid, &mut found)?;
    let open = files::check_files(pid, allowed.ghost_limit, &mut found)?;
    sockets::check_sockets(pid, &open, &mut found);
    pipes::check_pipes(pid, &open, allowed, &mut found);
    locks::check_locks(pid, &open, &mut found)?;

    memory::check_memory(pid, allowed.ghost_limit, &mut found)?;
    sysvipc::check_sysv_ipc(pid, &mut found)?;
    Ok(found.refusals)
}

/// Every reason crust cannot dump the tree under `pid`: the blockers of
/// `pid` and of each of its descendants, parents before children, so that
/// one look tells the whole story. A descendant that exits meanwhile is
/// skipped.
pub fn check_tree(pid: Pid) -> Result<Vec<Refusal>, RefusalError> {
    let mut refusals = check_process(pid)?;
    let mut queue = std::collections::VecDeque::from([pid]);
    let mut seen = std::collections::HashSet::from([pid]);
    while let Some(parent) = queue.pop_front() {
        let Ok(children) = crate::proc::task::children(parent) else {
            continue;
        };
        for child in children.into_iter().filter(|child| seen.insert(*child)) {
            match check_process(child) {
                Ok(found) => refusals.extend(found),
                Err(_) if !crate::proc::proc_path(child, "stat").exists() => continue,
                Err(error) => return Err(error),
            }
            queue.push_back(child);
        }
    }
    Ok(refusals)
}

/// The refusals found so far for one process.
struct Findings {
    pid: Pid,
    refusals: Vec<Refusal>,
}

impl Findings {
    fn new(pid: Pid) -> Self {
        Self {
            pid,
            refusals: Vec::new(),
        }
    }

    fn add(&mut self, resource: Resource, reason: Reason) {
        self.refusals.push(Refusal {
            pid: self.pid,
            resource,
            reason,
            option: None,
        });
    }

    fn add_with_option(&mut self, resource: Resource, reason: Reason, option: &'static str) {
        self.refusals.push(Refusal {
            pid: self.pid,
            resource,
            reason,
            option: Some(option),
        });
    }

    /// Add a refusal for a range, merged with the previous one when it continues it with the
    /// same description (the segments of one file are one line).
    fn add_range(&mut self, start: u64, end: u64, what: String, reason: Reason) {
        if let Some(last) = self.refusals.last_mut() {
            if let Resource::Range(_, last_end, last_what) = &mut last.resource {
                if *last_end == start && *last_what == what && last.reason == reason {
                    *last_end = end;
                    return;
                }
            }
        }
        self.add(Resource::Range(start, end, what), reason);
    }
}

/// Whether a read failed because the object went away (an fd closed, a thread exited) between
/// listing it and reading it.
fn vanished(error: &ProcError) -> bool {
    let io = match error {
        ProcError::Read { source, .. }
        | ProcError::Readlink { source, .. }
        | ProcError::Stat { source, .. } => source,
        _ => return false,
    };
    matches!(io.raw_os_error(), Some(libc::ENOENT) | Some(libc::ESRCH))
}
