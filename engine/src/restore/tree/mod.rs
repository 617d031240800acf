//! Restoring a tree: the root is forked from crust, every other process
//! from its restored parent (a remote clone3 with its pid), so that parent
//! links, sessions and copy-on-write sharing come out as they were.
//!
//! Each process is built in this order: memory, mm fields, session; then its
//! children are forked (they inherit all of that, and every fd crust opened
//! for the tree) and built in turn, and its zombies are forked; then its own
//! fds, signal state, threads and credentials. Once every process is built,
//! process groups are joined (their leaders exist by then), the zombies
//! exit, and every process is let go, the leaves first. A failure anywhere
//! kills every process made so far before any of them can run.

use compel::ptrace::Tracee;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::clone3::CloneArgs;
use crate::snapshot::{IpcNamespaceSnapshot, ProcessSnapshot, TreeSnapshot, ZombieSnapshot};
use crate::sysvipc::SysvIpcError;

use super::files::HostFiles;
use super::memory::{self, SharedObjects};
use super::remote::{bytes_of, RemoteThread, Scratch};
use super::spawn::Spawned;
use super::tty::HostTerminals;
use super::{inherited, process, RestoreError};

mod finish;

/// How long crust waits for a zombie it made to be one.
const ZOMBIE_EXIT_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// A process built and waiting to be let go.
struct Built<'a> {
    process: &'a ProcessSnapshot,
    threads: Vec<RemoteThread>,
}

/// A zombie-to-be: forked, waiting to exit once the groups are joined.
struct Unborn<'a> {
    zombie: &'a ZombieSnapshot,
    thread: RemoteThread,
}

/// A task made only to lead a process group whose leader had exited, while the members
/// join it; it exits and its parent reaps it before anything runs.
struct GroupHelper {
    pgid: i32,
    sid: i32,
    parent: i32,
    thread: RemoteThread,
}

/// The restore of one tree in progress.
pub struct TreeBuilder<'a> {
    tree: &'a TreeSnapshot,
    files: &'a HostFiles,
    terminals: &'a HostTerminals,
    /// The group of a shell job's root, led from outside: its members stay in crust's.
    outside_group: Option<i32>,
    scratch_base: u64,
    shared: SharedObjects,
    built: Vec<Built<'a>>,
    unborn: Vec<Unborn<'a>>,
    helpers: Vec<GroupHelper>,
    /// Every pid made so far but the root (which `root` guards).
    made: Vec<Pid>,
    root: Option<Spawned>,
}

impl<'a> TreeBuilder<'a> {
    /// Starts the restore of `tree` whose files crust holds in `files`, with a scratch area
    /// at `scratch_base` in every process.
    pub fn new(
        tree: &'a TreeSnapshot,
        files: &'a HostFiles,
        terminals: &'a HostTerminals,
        scratch_base: u64,
    ) -> Self {
        let outside_group = tree
            .root()
            .and_then(|root| outside_group(root, terminals.shell_job()));
        TreeBuilder {
            tree,
            files,
            terminals,
            outside_group,
            scratch_base,
            shared: SharedObjects::new(),
            built: Vec::new(),
            unborn: Vec::new(),
            helpers: Vec::new(),
            made: Vec::new(),
            root: None,
        }
    }

    /// Builds the whole tree and lets it run; returns the root's pid.
    pub fn run(mut self) -> Result<Pid, RestoreError> {
        let root = self
            .tree
            .root()
            .ok_or(crate::snapshot::SnapshotError::EmptyTree)?;
        let spawned = Spawned::fork_with_pid(root.pid, self.tree.ipc.is_some())?;
        let pid = spawned.pid();
        self.root = Some(spawned);
        let leader = super::seize_new(pid)?;
        // The new namespace gets its objects before any process of the tree maps them; it
        // dies with the root should the restore fail.
        self.in_own_ipc(pid, crate::sysvipc::create_objects)?;
        self.build(root, leader, None)?;
        self.take_locks_of_shared_tables()?;
        self.join_groups()?;
        self.give_foregrounds_back()?;
        self.end_zombies()?;
        self.end_helpers()?;
        self.in_own_ipc(pid, crate::sysvipc::finish_namespace)?;
        self.release()?;
        Ok(self.root.take().map(Spawned::release).unwrap_or(pid))
    }

    /// Runs `step` on the tree's own IPC namespace, when it has one, in that of `pid`.
    fn in_own_ipc(
        &self,
        pid: Pid,
        step: fn(Pid, &IpcNamespaceSnapshot) -> Result<(), SysvIpcError>,
    ) -> Result<(), RestoreError> {
        let Some(ipc) = &self.tree.ipc else {
            return Ok(());
        };
        step(pid, ipc).map_err(|source| RestoreError::IpcNamespace {
            pid: pid.as_raw(),
            source,
        })
    }

    fn scratch(&self, pid: i32) -> Scratch {
        Scratch {
            base: self.scratch_base,
            pid: Pid::from_raw(pid),
        }
    }

    fn build(
        &mut self,
        process: &'a ProcessSnapshot,
        mut leader: RemoteThread,
        parent: Option<&'a ProcessSnapshot>,
    ) -> Result<(), RestoreError> {
        let scratch = self.scratch(process.pid);
        let tree = self.tree;
        match parent {
            None => self.root_memory(&mut leader, &scratch, process)?,
            Some(parent) => {
                leader.trampoline = scratch.trampoline();
                let files = self.files;
                let how = inherited::rebuild(
                    &mut leader,
                    &scratch,
                    process,
                    parent,
                    files,
                    &mut self.shared,
                )?;
                log::debug!(
                    "pid {}: {} areas kept from pid {}, {} KiB still shared, {} KiB written",
                    process.pid,
                    how.kept_areas,
                    parent.pid,
                    how.shared_bytes / 1024,
                    how.written_bytes / 1024
                );
            }
        }
        let exe = self.files.fd_of(process.memory.exe_file_id).ok_or(
            RestoreError::MissingMappedFile {
                pid: process.pid,
                start: process.memory.mm.start_code,
                file_id: process.memory.exe_file_id,
            },
        )?;
        // The exe link the task has already (crust's, or its parent's) cannot be replaced
        // while its file is mapped, and need not be when it names the same file.
        let same_exe = match parent {
            None => super::is_crust_executable(exe),
            Some(parent) => parent.memory.exe_file_id == process.memory.exe_file_id,
        };
        let exe = (!same_exe).then_some(exe);
        process::set_mm(&mut leader, &scratch, process, exe)?;
        // A shell job's root stays in crust's session, on crust's terminal, and leads a
        // group of its own if it led one.
        let shell_root =
            parent.is_none() && self.terminals.shell_job() && super::tty::is_shell_job(process);
        if shell_root && process.pgid == process.pid {
            leader.call("start the process group", libc::SYS_setpgid, [0; 6])?;
        } else if process.sid == process.pid && !shell_root {
            leader.call("start the session", libc::SYS_setsid, [0; 6])?;
            let files = self.files;
            super::tty::take_controlling_terminal(&mut leader, process, &|id| files.fd_of(id))?;
        }
        let orphans = tree.orphan_groups().into_iter();
        let outside = self.outside_group;
        let orphans = orphans.filter(|(pgid, sid)| *sid == process.pid && Some(*pgid) != outside);
        for (pgid, sid) in orphans {
            let mut forked = fork_child(&mut leader, &scratch, pgid, libc::SIGCHLD, 0)?;
            self.made.push(forked.tid());
            forked.trampoline = scratch.trampoline();
            self.helpers.push(GroupHelper {
                pgid,
                sid,
                parent: process.pid,
                thread: forked,
            });
        }

        for child in tree.processes.iter().filter(|p| p.ppid == process.pid) {
            let fs = match child.shares_fs_with_parent {
                true => libc::CLONE_FS as u64,
                false => 0,
            };
            let files = match child.shares_files_with_parent {
                true => libc::CLONE_FILES as u64,
                false => 0,
            };
            let flags = fs | files;
            let forked = fork_child(&mut leader, &scratch, child.pid, child.exit_signal, flags)?;
            self.made.push(forked.tid());
            self.build(child, forked, Some(process))?;
        }
        for zombie in tree.zombies.iter().filter(|z| z.ppid == process.pid) {
            let mut forked = fork_child(&mut leader, &scratch, zombie.pid, zombie.exit_signal, 0)?;
            self.made.push(forked.tid());
            forked.trampoline = scratch.trampoline();
            if zombie.sid == zombie.pid {
                forked.call("start the session", libc::SYS_setsid, [0; 6])?;
            }
            self.unborn.push(Unborn {
                zombie,
                thread: forked,
            });
        }

        // A table shared with the parent (CLONE_FILES) gets its fds when the parent does.
        if !process.shares_files_with_parent {
            super::files::install_fds(&mut leader, &scratch, process, self.files)?;
            // Nothing of the process may be closed from here on: closing any fd of a file
            // drops the process's POSIX locks on it.
            super::locks::take_locks(&mut leader, &scratch, process)?;
        }
        let threads = super::finish_process(leader, &scratch, process)?;
        self.built.push(Built { process, threads });
        Ok(())
    }

    fn root_memory(
        &mut self,
        leader: &mut RemoteThread,
        scratch: &Scratch,
        process: &ProcessSnapshot,
    ) -> Result<(), RestoreError> {
        let pid = process.pid;
        leader
            .tracee
            .set_sigmask(u64::MAX)
            .map_err(RestoreError::ptrace(leader.tid()))?;
        super::forget_inherited_rseq(leader)?;
        memory::clear_address_space(leader, scratch)?;
        memory::map_vdso(leader, &process.memory, pid)?;
        let files = self.files;
        let file_fd = |id| files.fd_of(id);
        let all = |_: &crate::snapshot::VmaSnapshot| false;
        memory::map_areas(
            leader,
            scratch,
            &process.memory,
            &file_fd,
            &all,
            &mut self.shared,
        )?;
        let pages_fd = files
            .pages_fd(pid)
            .ok_or(RestoreError::MissingPages { pid })?;
        memory::fill_pages(leader, &process.memory, pages_fd, &all)?;
        memory::seal_areas(leader, &process.memory, &all)
    }
}

impl Drop for TreeBuilder<'_> {
    /// A failed restore: every process made is killed here, before the threads held in
    /// `built` are detached as the fields drop, so none of them runs a single instruction
    /// of its own. The root is killed and reaped by its `Spawned` guard.
    fn drop(&mut self) {
        for pid in &self.made {
            log::debug!("killing half-restored pid {pid}");
            let _ = kill(*pid, Signal::SIGKILL);
        }
        if let Some(root) = &self.root {
            let _ = kill(root.pid(), Signal::SIGKILL);
        }
        // Killed: nothing is left to detach from.
        let threads = self.built.drain(..).flat_map(|built| built.threads);
        let others = self.unborn.drain(..).map(|unborn| unborn.thread);
        let helpers = self.helpers.drain(..).map(|helper| helper.thread);
        for thread in threads.chain(others).chain(helpers) {
            thread.tracee.forget();
        }
    }
}

/// The process group a shell job's `root` was in without leading it (the shell's): not
/// recreated, its members stay in crust's group.
pub fn outside_group(root: &ProcessSnapshot, shell_job: bool) -> Option<i32> {
    (shell_job && root.pgid != root.pid).then_some(root.pgid)
}

/// Forks a child of the process `parent` runs in, with pid `pid` and clone `flags`, and
/// adopts it: it waits in its first stop, a copy of its parent.
fn fork_child(
    parent: &mut RemoteThread,
    scratch: &Scratch,
    pid: i32,
    exit_signal: i32,
    flags: u64,
) -> Result<RemoteThread, RestoreError> {
    let set_tid = scratch.put(512, &pid.to_ne_bytes())?;
    let args = CloneArgs {
        flags,
        exit_signal: exit_signal as u64,
        set_tid,
        set_tid_size: 1,
        ..Default::default()
    };
    let addr = scratch.put(0, bytes_of(&args))?;
    let size = CloneArgs::SIZE as u64;
    let created = parent.call("fork a child", libc::SYS_clone3, [addr, size, 0, 0, 0, 0])?;
    if created != pid as u64 {
        return Err(RestoreError::ThreadId {
            wanted: pid,
            got: created as i64,
        });
    }
    let tracee = Tracee::from_new_child_thread(Pid::from_raw(pid)).map_err(|source| {
        RestoreError::Ptrace {
            tid: pid,
            source: Box::new(source),
        }
    })?;
    Ok(RemoteThread {
        tracee,
        trampoline: parent.trampoline,
    })
}
