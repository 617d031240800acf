//! Dump: freeze a process, collect its state, write CRIU images.
//!
//! The steps, in order: seize every thread (the process is frozen from here
//! on), look for anything that cannot be dumped and refuse before writing
//! anything, infect it, collect its state from /proc, ptrace and remote
//! syscalls, drain its pages through the parasite into the pages image,
//! write the other images and commit them, then kill the process while it is
//! still frozen (or cure it and let it run with `--leave-running`). Any error
//! before the commit cures the process, which carries on untouched, and
//! removes the half-written images.

mod error;
mod files;
mod inside;
mod invisible;
mod memory;
mod pages;
mod process;

use std::path::PathBuf;
use std::time::Instant;

use compel::infect::{Infection, Victim};
use nix::unistd::Pid;

use crate::external::External;
use crate::images::ImageDir;
use crate::proc::identity;
use crate::refusal::Allowances;
use crate::snapshot::{MemorySnapshot, ProcessSnapshot, ThreadSnapshot};

use files::FileTable;

pub use error::DumpError;

/// The pages image id a dump writes (pages-1.img).
pub const PAGES_ID: u32 = 1;

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
    let pid = options.pid;
    check_target(pid)?;
    check_external(pid, &options.external)?;
    let allowed = Allowances {
        external: options.external.iter().copied().collect(),
        ghost_limit: options.ghost_limit,
    };
    // Looked for before anything is done to the process, and again once it
    // is frozen, in case it changed in between.
    refuse_what_cannot_be_dumped(pid, &allowed)?;
    let victim = Victim::seize(pid)?;
    let frozen_at = Instant::now();
    log::info!("pid {pid}: frozen ({} threads)", victim.threads().len());
    refuse_what_cannot_be_dumped(pid, &allowed)?;
    let dir = ImageDir::create(&options.images_dir)?;
    let mut infection = victim.infect()?;
    let process = collect(&mut infection, &allowed)?;
    process.validate()?;

    let mut parasite = infection.start_parasite()?;
    let memory = &process.memory;
    let pages_bytes = pages::drain(&mut parasite, &dir, &memory.pages, &memory.vmas)?;
    crate::codec::write_process(&dir, &process)?;
    dir.commit()?;
    log::info!(
        "pid {pid}: images written to {}",
        options.images_dir.display()
    );

    let frozen = frozen_at.elapsed();
    if options.leave_running {
        parasite.cure()?;
    } else {
        parasite.kill()?;
    }
    let threads = process.threads.len();
    Ok(DumpSummary {
        processes: 1,
        threads,
        pages_bytes,
        frozen,
    })
}

/// Refuses pids crust must never touch, before anything is done to them.
fn check_target(pid: Pid) -> Result<(), DumpError> {
    crate::privileges::require_checkpoint_restore("dump")?;
    if pid == nix::unistd::getpid() {
        return Err(DumpError::Myself(pid));
    }
    if !crate::proc::proc_path(pid, "stat").exists() {
        return Err(DumpError::NoSuchProcess(pid));
    }
    Ok(())
}

/// Every resource `--external` names must be one the process holds (by its fd link's text).
fn check_external(pid: Pid, external: &[External]) -> Result<(), DumpError> {
    if external.is_empty() {
        return Ok(());
    }
    let links = crate::proc::fd::fds(pid)?;
    let held = |resource: &External| links.iter().any(|l| l.target == resource.to_string());
    match external.iter().find(|resource| !held(resource)) {
        Some(resource) => Err(DumpError::ExternalNotHeld {
            pid,
            resource: *resource,
        }),
        None => Ok(()),
    }
}

/// Every blocker at once, while the process is frozen and untouched.
fn refuse_what_cannot_be_dumped(pid: Pid, allowed: &Allowances) -> Result<(), DumpError> {
    let refusals = crate::refusal::check_process_with(pid, allowed)?;
    if refusals.is_empty() {
        return Ok(());
    }
    Err(DumpError::Refused(refusals))
}

/// Collects the whole snapshot but the pages' contents (and the data of external pipes).
fn collect(infection: &mut Infection, allowed: &Allowances) -> Result<ProcessSnapshot, DumpError> {
    let pid = infection.pid();
    let stat = crate::proc::stat::stat(pid)?;
    let status = crate::proc::status::status(pid)?;
    let mut table = FileTable::default();
    table.invisible.ghost_limit = allowed.ghost_limit;

    let areas = memory::collect_areas(pid, &mut table, infection.area_range())?;
    let runs = memory::page_runs(pid, &areas)?;
    let exe_file_id = invisible::exe_file(&mut table, pid)?;
    let fds = files::collect_fds(pid, &mut table)?;
    let cwd = invisible::working_directory(&mut table, pid)?;
    let invisible = std::mem::take(&mut table.invisible).finish();
    let files = table.into_files();
    let pipe_data = files::collect_pipe_data(pid, &files, &fds, allowed)?;

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
        pgid: stat.pgrp.as_raw(),
        sid: stat.session.as_raw(),
        threads,
        memory,
        files,
        fds,
        pipe_data,
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
