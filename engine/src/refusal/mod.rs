//! What crust will not dump yet, found before anything is written.
//!
//! [`check_tree`] reads a process, its descendants and all their threads from /proc and returns every blocker,
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
mod shared;
mod sockets;
mod sysvipc;
mod task;
mod tty;
mod wording;

use std::collections::{BTreeMap, BTreeSet};

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
    /// crust's own credentials could not be read.
    #[error("checking what crust may trace: {0}")]
    Credentials(#[source] crate::privileges::PrivilegeError),
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
    /// flock, POSIX and OFD locks on files the process has open (`--file-locks`).
    pub file_locks: bool,
    /// `--shell-job`: the root may run in a session and group led from outside, on a
    /// terminal whose master is outside (a restore puts crust's terminal in its place).
    pub shell_job: bool,
    /// Largest unlinked file whose contents go into the images (`--ghost-limit`).
    pub ghost_limit: u64,
}

impl Default for Allowances {
    fn default() -> Self {
        Self {
            external: BTreeSet::new(),
            file_locks: false,
            shell_job: false,
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

/// Every reason crust cannot dump the tree under `root` (every descendant, with all their
/// threads), parents before children, so that one look tells the whole story. Empty: crust
/// can dump it. A descendant that exits meanwhile is skipped.
pub fn check_tree(root: Pid) -> Result<Vec<Refusal>, RefusalError> {
    check_tree_with(root, &Allowances::default())
}

/// [`check_tree`], with what `allowed` names let through.
pub fn check_tree_with(root: Pid, allowed: &Allowances) -> Result<Vec<Refusal>, RefusalError> {
    // crust itself, a kernel thread or a zombie is refused alone, tree unread.
    let mut found = Findings::new(root);
    if !task::check_identity(root, &mut found)? {
        return Ok(found.refusals);
    }
    // The children of a process crust may not trace are not read: it is refused on its ids.
    let members =
        crate::proc::tree::walk_within(root, task::may_trace).map_err(RefusalError::Children)?;
    let root_group = crate::proc::stat::stat(root).ok().map(|stat| stat.pgrp);
    let own_ipc = crate::proc::ns::ipc_namespace_apart(root).map_err(RefusalError::Namespaces)?;
    let tree = Tree {
        root,
        members,
        root_group,
        own_ipc,
        pipe_holders: std::cell::OnceCell::new(),
        path_holders: std::cell::OnceCell::new(),
        tracees: std::cell::OnceCell::new(),
        pty_ends: std::cell::OnceCell::new(),
    };
    let mut refusals = Vec::new();
    for member in &tree.members {
        // A zombie below the root is restored as one; it holds nothing to check.
        if member.zombie && member.parent.is_some() {
            continue;
        }
        match check_member(member.pid, allowed, &tree) {
            Ok(found) => refusals.extend(found),
            Err(_) if member.parent.is_some() && gone(member.pid) => continue,
            Err(error) => return Err(error),
        }
    }
    Ok(refusals)
}

/// The refusal of a process crust may not trace (another user's, one holding capabilities
/// crust lacks, an undumpable one), read from its ids alone; empty when crust may trace it.
pub fn check_owner(pid: Pid) -> Result<Vec<Refusal>, RefusalError> {
    let mut found = Findings::new(pid);
    task::check_owner(pid, &mut found)?;
    Ok(found.refusals)
}

fn gone(pid: Pid) -> bool {
    !crate::proc::proc_path(pid, "stat").exists()
}

/// How far up from a pipe's holder crust looks for the tree's root.
const MAX_TREE_DEPTH: usize = 4096;

/// The processes of the tree being checked.
pub(crate) struct Tree {
    root: Pid,
    members: Vec<crate::proc::tree::Member>,
    root_group: Option<Pid>,
    /// The root's IPC namespace, when it is not crust's: the tree's own, dumped with it.
    own_ipc: Option<u64>,
    /// Every pipe's holders on the machine, read once for the whole tree when first needed.
    pipe_holders: std::cell::OnceCell<BTreeMap<u64, Vec<Pid>>>,
    /// Every traced process on the machine, by its tracer, read once when first needed.
    tracees: std::cell::OnceCell<BTreeMap<Pid, Vec<Pid>>>,
    /// Every fd on the machine whose link is a path, by path, read once when first needed.
    path_holders: std::cell::OnceCell<BTreeMap<String, Vec<crate::proc::holders::Holder>>>,
    /// The pty indexes whose master, and whose slave, some process of the tree holds.
    pty_ends: std::cell::OnceCell<(BTreeSet<u32>, BTreeSet<u32>)>,
}

impl Tree {
    /// Whether `pid` is a process of the tree.
    fn contains(&self, pid: Pid) -> bool {
        self.members.iter().any(|m| m.pid == pid)
    }

    /// Whether `pid` is of the tree, or a descendant of its root born since the tree was
    /// read (a tree that forks while it is checked before the freeze: the check made once
    /// it is frozen sees it as a member), or gone since it was seen holding something.
    fn owns(&self, pid: Pid) -> bool {
        let mut at = pid;
        for _ in 0..MAX_TREE_DEPTH {
            if self.contains(at) || at == self.root {
                return true;
            }
            match crate::proc::stat::stat(at) {
                Ok(stat) if stat.ppid.as_raw() > 1 => at = stat.ppid,
                // Gone since the machine's fds were read (a pipeline's short-lived child,
                // say): it holds nothing any more, and is no outsider to refuse.
                Err(_) if at == pid && gone(pid) => return true,
                _ => return false,
            }
        }
        false
    }

    /// The pty indexes whose master (first) and whose slave (second) a process of the tree
    /// holds, read once for the tree.
    fn pty_ends(&self) -> &(BTreeSet<u32>, BTreeSet<u32>) {
        self.pty_ends.get_or_init(|| {
            let mut ends = (BTreeSet::new(), BTreeSet::new());
            for member in self.members.iter().filter(|m| !m.zombie) {
                tty::pty_ends_of(member.pid, &mut ends);
            }
            ends
        })
    }

    /// The processes holding pipe `inode`, read once for the tree.
    fn pipe_holders(&self, inode: u64) -> &[Pid] {
        let all = self.pipe_holders.get_or_init(|| {
            crate::proc::holders::all_pipe_holders()
                .into_iter()
                .map(|(inode, holders)| {
                    let mut pids: Vec<Pid> = holders.into_iter().map(|h| h.pid).collect();
                    pids.dedup();
                    (inode, pids)
                })
                .collect()
        });
        all.get(&inode).map(Vec::as_slice).unwrap_or_default()
    }

    /// The processes `tracer` traces (their leaders' `TracerPid`), read once for the tree.
    fn tracees_of(&self, tracer: Pid) -> &[Pid] {
        let all = self.tracees.get_or_init(crate::proc::status::all_tracees);
        all.get(&tracer).map(Vec::as_slice).unwrap_or_default()
    }

    /// Every fd on the machine whose link reads `path`.
    fn path_holders(&self, path: &str) -> &[crate::proc::holders::Holder] {
        let all = self
            .path_holders
            .get_or_init(crate::proc::holders::all_path_holders);
        all.get(path).map(Vec::as_slice).unwrap_or_default()
    }

    /// The root's IPC namespace (by inode), when the tree has one of its own.
    fn own_ipc(&self) -> Option<u64> {
        self.own_ipc
    }

    /// The process group of the root.
    fn root_group(&self) -> Option<Pid> {
        self.root_group
    }

    /// The parent of `pid` in the tree.
    fn parent(&self, pid: Pid) -> Option<Pid> {
        self.members.iter().find(|m| m.pid == pid)?.parent
    }
}

fn check_member(pid: Pid, allowed: &Allowances, tree: &Tree) -> Result<Vec<Refusal>, RefusalError> {
    let mut found = Findings::new(pid);
    if !task::check_identity(pid, &mut found)? {
        return Ok(found.refusals);
    }

    task::check_threads(pid, &mut found)?;
    task::check_tracing(pid, tree, &mut found);
    task::check_session(pid, tree, allowed, &mut found)?;
    task::check_sharing(pid, tree, &mut found);
    task::check_compat(pid, &mut found)?;
    task::check_namespaces(pid, tree, &mut found)?;
    task::check_ipc_sharers(pid, tree, &mut found);

    files::check_directories(pid, &mut found)?;
    let open = files::check_files(pid, allowed, &mut found)?;
    sockets::check_sockets(pid, &open, &mut found);
    pipes::check_pipes(pid, &open, allowed, tree, &mut found);
    shared::check_shared_files(pid, &open, allowed, tree, &mut found);
    locks::check_locks(pid, &open, allowed, &mut found)?;
    tty::check_ttys(pid, &open, allowed, tree, &mut found)?;

    memory::check_memory(
        pid,
        allowed.ghost_limit,
        tree.own_ipc().is_some(),
        &mut found,
    )?;
    sysvipc::check_sysv_ipc(pid, &mut found)?;
    Ok(found.refusals)
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
