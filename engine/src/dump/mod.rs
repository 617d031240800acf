//! Dump: freeze a tree of processes, collect its state, write CRIU images.
//!
//! The steps, in order: look for anything that cannot be dumped and refuse
//! before touching anything; seize every thread of every process, top down
//! (the tree is frozen from here on) and look again; then, process by
//! process, infect it, collect its state from /proc, ptrace and remote
//! syscalls and drain its pages through the parasite into its pages image;
//! write the other images and commit them, then kill the tree while it is
//! still frozen (or cure it and let it run with `--leave-running`). Any error
//! before the commit cures every process, which carries on untouched, and
//! removes the half-written images.

mod error;
mod files;
mod inside;
mod invisible;
mod ipc;
mod locks;
mod memory;
mod pages;
mod process;
mod tree;
mod tty;

use std::path::PathBuf;
use std::time::Instant;

use compel::infect::Infection;
use nix::unistd::Pid;

use crate::external::External;
use crate::images::ImageDir;
use crate::proc::identity;
use crate::refusal::Allowances;
use crate::snapshot::{MemorySnapshot, ProcessSnapshot, ThreadSnapshot, TreeSnapshot};

use files::FileTable;

pub use error::DumpError;

/// What `crust dump` was asked to do.
#[derive(Debug, Clone)]
pub struct DumpOptions {
    /// The process to dump (all its threads).
    pub pid: Pid,
    /// Directory the images go to.
    pub images_dir: PathBuf,
    /// Let the process run after the dump instead of killing it.
    pub leave_running: bool,
    /// Resources shared with processes outside the dump (`--external`): dumped as the process's
    /// own ends of them, without the data they hold, which belongs to whoever shares them.
    pub external: Vec<External>,
    /// Dump flock, POSIX and OFD locks instead of refusing them (`--file-locks`).
    pub file_locks: bool,
    /// `--shell-job`: the root may belong to a session and group led from outside and use
    /// a terminal whose master is outside (recorded as such, replaced at restore).
    pub shell_job: bool,
    /// Largest unlinked file whose contents go into the images (`--ghost-limit`); a bigger
    /// one is refused.
    pub ghost_limit: u64,
}

/// What a finished dump reports.
#[derive(Debug, Clone, Default)]
pub struct DumpSummary {
    /// Processes dumped.
    pub processes: usize,
    /// Threads dumped.
    pub threads: usize,
    /// Zombies dumped (children that had exited, not reaped).
    pub zombies: usize,
    /// Bytes of memory written to pages images.
    pub pages_bytes: u64,
    /// How long the process was frozen.
    pub frozen: std::time::Duration,
}

/// Dump the process named in `options` into its image directory.
pub fn dump(options: &DumpOptions) -> Result<DumpSummary, DumpError> {
    // Whatever step a termination signal stopped, the guards have cured the
    // process and removed the staging directory: say so rather than which
    // step it was.
    dump_process(options).map_err(|error| match compel::signals::check() {
        Err(signal) => DumpError::Interrupted {
            pid: options.pid,
            signal,
        },
        Ok(()) => error,
    })
}

fn dump_process(options: &DumpOptions) -> Result<DumpSummary, DumpError> {
    let root = options.pid;
    check_target(root)?;
    // A process crust may not trace is refused on its ids, before anything else of it is read.
    refuse(crate::refusal::check_owner(root)?)?;
    check_external(root, &options.external)?;
    let allowed = Allowances {
        external: options.external.iter().copied().collect(),
        file_locks: options.file_locks,
        shell_job: options.shell_job,
        ghost_limit: options.ghost_limit,
    };
    // Looked for before anything is done to the tree, and again once it is
    // frozen, in case it changed in between.
    refuse_what_cannot_be_dumped(root, &allowed)?;
    let frozen = tree::freeze(root)?;
    let frozen_at = Instant::now();
    log::info!(
        "pid {root}: tree frozen ({} processes, {} zombies)",
        frozen.processes.len(),
        frozen.zombies.len()
    );
    refuse_what_cannot_be_dumped(root, &allowed)?;
    let ipc = ipc::own_namespace(root)?;
    let dir = ImageDir::create(&options.images_dir)?;

    let mut shared = TreeShared::default();
    let mut parasites = Vec::with_capacity(frozen.processes.len());
    // Dropped before the parasites: on error the bytes go back while the tree is frozen.
    let mut queues = Vec::with_capacity(frozen.processes.len());
    let mut processes = Vec::with_capacity(frozen.processes.len());
    let mut pages_bytes = 0;
    for (index, member) in frozen.processes.into_iter().enumerate() {
        // A table shared with the parent (CLONE_FILES) holds the parent's parasite's fds by
        // now: it is the parent's table as it was read before those.
        let pid = member.victim.pid();
        let table_of_parent = member
            .parent
            .filter(|parent| process::shares_files(*parent, pid))
            .and_then(|parent| {
                processes
                    .iter()
                    .find(|p: &&ProcessSnapshot| p.pid == parent.as_raw())
            })
            .map(|parent| parent.fds.clone());
        let mut infection = member.victim.infect()?;
        let process = collect(
            &mut infection,
            member.parent,
            table_of_parent,
            &allowed,
            &mut shared,
        )?;
        let mut parasite = infection.start_parasite()?;
        ipc::check_attachments(&process, ipc.as_ref())?;
        let memory = &process.memory;
        let pages_id = pages_id(index);
        pages_bytes += pages::drain(&mut parasite, &dir, pages_id, &memory.pages, &memory.vmas)?;
        processes.push(process);
        parasites.push(parasite);
    }
    // Every pty's queued bytes, taken once the whole tree is known: the master's process
    // drains a pair whose slave another process of the tree holds.
    tty::share_pty_peers(&mut processes);
    for process in &mut processes {
        let pid = Pid::from_raw(process.pid);
        let queued = tty::drain_queues(pid, &mut process.ttys, &process.files, &process.fds)?;
        queues.push(queued);
    }
    tty::spread_queued(&mut processes);
    shared.files.save_unread_pipes(&mut processes, &allowed);
    let invisible = std::mem::take(&mut shared.files.invisible).finish();
    for process in &mut processes {
        process.invisible = invisible.share_of(&process.files, process.invisible.cwd_ghost);
    }
    let tree = TreeSnapshot {
        processes,
        zombies: frozen.zombies,
        ipc,
    };
    tree.validate()?;
    crate::codec::write_tree(&dir, &tree)?;
    dir.commit()?;
    log::info!(
        "pid {root}: images written to {}",
        options.images_dir.display()
    );

    let frozen = frozen_at.elapsed();
    for (parasite, queued) in parasites.into_iter().zip(queues) {
        if options.leave_running {
            queued.put_back()?;
            parasite.cure()?;
        } else {
            parasite.kill()?;
            queued.forget();
        }
    }
    Ok(DumpSummary {
        processes: tree.processes.len(),
        threads: tree.processes.iter().map(|p| p.threads.len()).sum(),
        zombies: tree.zombies.len(),
        pages_bytes,
        frozen,
    })
}

/// The pages image of the `index`th process of a tree (CRIU numbers them from 1).
pub fn pages_id(index: usize) -> u32 {
    index as u32 + 1
}

/// What the processes of one tree share, gathered as each is collected.
#[derive(Default)]
struct TreeShared {
    files: FileTable,
    shmem: memory::SavedShmem,
}

/// What `crust check -t` reports: every blocker of the tree under `root` with `allowed` given,
/// looked for while the tree is frozen, so that what forks or closes meanwhile is seen as one
/// moment, then the tree is let go untouched. A tree crust cannot freeze (one that holds
/// crust itself, a kernel thread, a task another tracer holds or another user's) is judged
/// as it runs, which is what those refusals need.
pub fn blockers(
    root: Pid,
    allowed: &Allowances,
) -> Result<Vec<crate::refusal::Refusal>, DumpError> {
    if !crate::proc::proc_path(root, "stat").exists() {
        return Err(DumpError::NoSuchProcess(root));
    }
    let running = crate::refusal::check_tree_with(root, allowed)?;
    if running
        .iter()
        .any(|refusal| refusal.reason.prevents_freeze())
    {
        return Ok(running);
    }
    // What the dump would say of an --external that names nothing of the tree.
    let named: Vec<External> = allowed.external.iter().copied().collect();
    check_external(root, &named)?;
    let frozen = tree::freeze(root)?;
    let frozen_at = Instant::now();
    let refusals = crate::refusal::check_tree_with(root, allowed);
    // What only the dump's reading of a tree's own IPC namespace finds (a segment removed
    // while attached, one attached in part), said as the dump would, once the lines are clean.
    let ipc_said = match &refusals {
        Ok(found) if found.is_empty() => check_own_ipc(root, &frozen),
        _ => Ok(()),
    };
    drop(frozen);
    log::info!(
        "pid {root}: tree frozen for {} ms while it was checked",
        frozen_at.elapsed().as_millis()
    );
    let refusals = refusals?;
    ipc_said?;
    Ok(refusals)
}

/// The tree's own IPC namespace, if it has one, read as a dump reads it, and every SysV area
/// of its processes held against it.
fn check_own_ipc(root: Pid, frozen: &tree::FrozenTree) -> Result<(), DumpError> {
    let Some(ipc) = ipc::own_namespace(root)? else {
        return Ok(());
    };
    for member in &frozen.processes {
        ipc::check_live_attachments(member.victim.pid(), Some(&ipc))?;
    }
    Ok(())
}

/// Refuses pids crust must never touch, before anything is done to them.
fn check_target(pid: Pid) -> Result<(), DumpError> {
    if pid == nix::unistd::getpid() {
        return Err(DumpError::Myself(pid));
    }
    if !crate::proc::proc_path(pid, "stat").exists() {
        return Err(DumpError::NoSuchProcess(pid));
    }
    Ok(())
}

/// Every resource `--external` names must be one a process of the tree holds: a pipe by its
/// fd link's text, a file by the mount id and inode of its fdinfo.
fn check_external(root: Pid, external: &[External]) -> Result<(), DumpError> {
    if external.is_empty() {
        return Ok(());
    }
    let mut held = std::collections::BTreeSet::new();
    for member in crate::proc::tree::walk(root)?.iter().filter(|m| !m.zombie) {
        for link in crate::proc::fd::fds(member.pid)? {
            if let Some(inode) = crate::proc::holders::pipe_inode(&link.target) {
                held.insert(External::Pipe { inode });
            } else if link.target.starts_with('/') {
                // An fd closed meanwhile names nothing.
                let Ok(info) = crate::proc::fdinfo::fdinfo(member.pid, link.fd) else {
                    continue;
                };
                held.insert(External::File {
                    mnt_id: info.mnt_id as u32,
                    inode: info.ino,
                });
            }
        }
    }
    match external.iter().find(|resource| !held.contains(resource)) {
        Some(resource) => Err(DumpError::ExternalNotHeld {
            pid: root,
            resource: *resource,
        }),
        None => Ok(()),
    }
}

/// Every blocker of the tree at once, while it is frozen and untouched.
fn refuse_what_cannot_be_dumped(pid: Pid, allowed: &Allowances) -> Result<(), DumpError> {
    refuse(crate::refusal::check_tree_with(pid, allowed)?)
}

fn refuse(refusals: Vec<crate::refusal::Refusal>) -> Result<(), DumpError> {
    if refusals.is_empty() {
        return Ok(());
    }
    Err(DumpError::Refused(refusals))
}

/// Collects the whole snapshot of one process of the tree but the pages' contents (and the
/// data of external pipes, and of pipes an earlier process holds too).
fn collect(
    infection: &mut Infection,
    parent: Option<Pid>,
    table_of_parent: Option<Vec<crate::snapshot::FdSnapshot>>,
    allowed: &Allowances,
    shared: &mut TreeShared,
) -> Result<ProcessSnapshot, DumpError> {
    let pid = infection.pid();
    let stat = crate::proc::stat::stat(pid)?;
    let status = crate::proc::status::status(pid)?;
    let table = &mut shared.files;
    table.invisible.ghost_limit = allowed.ghost_limit;

    let areas = memory::collect_areas(pid, table, infection.area_range())?;
    let runs = memory::page_runs(pid, &areas, &mut shared.shmem)?;
    let exe_file_id = invisible::exe_file(table, pid)?;
    let shares_files_with_parent = table_of_parent.is_some();
    let fds = match table_of_parent {
        Some(fds) => fds,
        None => files::collect_fds(pid, table, allowed)?,
    };
    let cwd = invisible::working_directory(table, pid)?;
    // The tree's ghosts and memfds are shared out once every process is read.
    let invisible = crate::snapshot::InvisibleFiles {
        cwd_ghost: table.invisible.take_cwd_ghost(),
        ..Default::default()
    };
    let pipe_data = files::collect_pipe_data(pid, table, &fds, allowed)?;
    let file_locks = locks::collect_locks(pid, &fds)?;
    let ttys = tty::collect_ttys(pid, &stat, &table.files_of(&fds), &fds)?;
    let mapped = areas.iter().filter_map(|(_, area)| match area.backing {
        crate::snapshot::VmaBacking::File { file_id } => Some(file_id),
        _ => None,
    });
    let used = fds
        .iter()
        .map(|fd| fd.file_id)
        .chain(mapped)
        .chain([exe_file_id]);
    let files = table.files_with(&used.collect());

    let inside = inside::process_inside(infection)?;
    let threads = collect_threads(infection)?;
    let posix_timers = inside::posix_timers(infection, &crate::proc::timers::timers(pid)?)?;

    let auxv = crate::proc::auxv::auxv(pid)?
        .into_iter()
        .flat_map(|(k, v)| [k, v])
        .collect();
    let memory = MemorySnapshot {
        vmas: areas.into_iter().map(|(_, area)| area).collect(),
        mm: memory::mm_fields(&stat, inside.brk),
        auxv,
        exe_file_id,
        pages: runs,
    };
    let process = ProcessSnapshot {
        pid: pid.as_raw(),
        ppid: parent.map_or(0, Pid::as_raw),
        pgid: stat.pgrp.as_raw(),
        sid: stat.session.as_raw(),
        threads,
        memory,
        files,
        fds,
        pipe_data,
        file_locks,
        invisible,
        cwd,
        root: path_string(identity::root(pid)?)?,
        umask: process::umask(pid)?,
        sigactions: inside.sigactions,
        shared_pending: process::pending_signals(pid, true)?,
        itimers: inside.itimers,
        posix_timers,
        rlimits: process::rlimits(pid)?,
        personality: identity::personality(pid)?,
        no_new_privs: status.no_new_privs,
        dumpable: inside.dumpable,
        child_subreaper: inside.child_subreaper,
        exit_signal: libc::SIGCHLD,
        stopped: infection.threads()[0].tracee.group_stop().is_some(),
        shares_fs_with_parent: parent.is_some_and(|parent| process::shares_fs(parent, pid)),
        shares_files_with_parent,
        ttys,
    };
    Ok(process)
}

fn collect_threads(infection: &mut Infection) -> Result<Vec<ThreadSnapshot>, DumpError> {
    let pid = infection.pid();
    let mut threads = Vec::new();
    for index in 0..infection.threads().len() {
        let inside = inside::thread_inside(infection, index)?;
        let seized = &infection.threads()[index];
        let tid = seized.tracee.tid();
        let mut creds = process::thread_credentials(pid, tid)?;
        creds.securebits = inside.securebits;
        let rseq = compel::ptrace::rseq_configuration(tid)
            .map_err(|e| DumpError::Unsupported {
                pid: pid.as_raw(),
                what: format!("tid {tid}: rseq: {e}"),
            })?
            .map(|c| crate::snapshot::RseqRegistration {
                addr: c.addr,
                len: c.len,
                signature: c.signature,
            });
        let comm =
            std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/comm")).map_err(|source| {
                DumpError::Stat {
                    path: format!("/proc/{pid}/task/{tid}/comm"),
                    source,
                }
            })?;
        threads.push(ThreadSnapshot {
            tid: tid.as_raw(),
            regs: seized.regs,
            xstate: seized.xstate.clone(),
            sigmask: seized.sigmask,
            altstack: inside.altstack,
            clear_tid_addr: inside.clear_tid_addr,
            robust_list: process::robust_list(tid)?,
            rseq,
            pdeath_signal: inside.pdeath_signal,
            comm: comm.trim_end_matches('\n').to_string(),
            pending: process::pending_signals(tid, false)?,
            creds,
        });
    }
    Ok(threads)
}

fn path_string(path: PathBuf) -> Result<String, DumpError> {
    path.into_os_string()
        .into_string()
        .map_err(|p| DumpError::PathNotUtf8 {
            path: p.to_string_lossy().into_owned(),
        })
}
