//! Restore: read images, recreate the tree, let it run.
//!
//! crust restores by driving fresh tasks from outside: it forks itself with
//! the root's pid, seizes the child with compel, and has it rebuild itself
//! one remote syscall at a time (unmap crust, map the process's areas, read
//! the pages into place, fork its children, open files, create threads, set
//! every register); each child is rebuilt the same way from its parent's
//! copy (see [`tree`]).
//! No code of crust runs inside the task, so every step's failure is seen
//! and reported by crust with its context, and the half-made task is killed.

mod credentials;
mod error;
mod files;
mod inherit;
mod inherited;
mod invisible;
mod locks;
mod memory;
mod pids;
mod process;
mod remote;
mod spawn;
mod thread;
mod tree;
mod tty;

use std::path::PathBuf;

use compel::ptrace::Tracee;
use nix::errno::Errno;
use nix::sys::ptrace::Options;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;

use crate::external::InheritFd;
use crate::snapshot::{ProcessSnapshot, TreeSnapshot};

use files::HostFiles;
use remote::{RemoteThread, Scratch};

pub use error::RestoreError;
pub use pids::ZOMBIE_WAIT;

/// `syscall; int3`: the int3 is never reached, each remote syscall stops at
/// its exit.
const TRAMPOLINE: [u8; 3] = [0x0f, 0x05, 0xcc];

/// What `crust restore` was asked to do.
#[derive(Debug, Clone)]
pub struct RestoreOptions {
    /// Directory holding the images.
    pub images_dir: PathBuf,
    /// Return once the process runs instead of waiting for it to exit.
    pub detach: bool,
    /// crust's own fds that take the place of pipe ends whose other end was outside the
    /// process at dump (`--inherit-fd fd[K]:pipe:[INODE]`).
    pub inherit_fds: Vec<InheritFd>,
    /// `--shell-job`: a process dumped as a shell job joins crust's session and gets crust's
    /// terminal in place of its own.
    pub shell_job: bool,
}

/// How a restore ended.
#[derive(Debug, Clone)]
pub enum RestoreOutcome {
    /// The restored process runs on its own (restore with `detach`).
    Detached(Pid),
    /// The restored process exited with this status (restore and wait).
    Exited(Pid, i32),
    /// The restored process was killed by this signal (restore and wait).
    Signaled(Pid, i32),
}

/// Restore the tree described by the images in `options.images_dir`.
pub fn restore(options: &RestoreOptions) -> Result<RestoreOutcome, RestoreError> {
    crate::privileges::require_for_restore()?;
    let images = crate::codec::read_tree(&options.images_dir)?;
    let crust = crate::privileges::CrustCredentials::read()?;
    credentials::check(&images.tree, &crust)?;
    let pid = restore_tree(
        &images.tree,
        &images.pages_paths,
        &options.inherit_fds,
        options.shell_job,
    )?;
    if options.detach {
        return Ok(RestoreOutcome::Detached(pid));
    }
    wait_for(pid)
}

/// Recreates `tree` (validated first) from its snapshot and its pages
/// images (`pages[i]` for `tree.processes[i]`), with crust's fds
/// `inherit_fds` in place of the root's pipe ends they name, and returns the
/// root's pid once every process runs. On error nothing of it is left.
pub fn restore_tree(
    tree: &TreeSnapshot,
    pages: &[PathBuf],
    inherit_fds: &[InheritFd],
    shell_job: bool,
) -> Result<Pid, RestoreError> {
    tree.validate()?;
    let root = tree
        .root()
        .ok_or(crate::snapshot::SnapshotError::EmptyTree)?;
    if pages.len() != tree.processes.len() {
        return Err(RestoreError::MissingPages { pid: root.pid });
    }
    let inherited = inherit::inherit_fds(tree, inherit_fds)?;
    let terminal = tty::check_shell_job(root, shell_job)?;
    let outside_group = tree::outside_group(root, shell_job);
    let helpers = tree
        .orphan_groups()
        .into_iter()
        .map(|(pgid, _)| pgid)
        .filter(|pgid| Some(*pgid) != outside_group);
    let ids: Vec<i32> = tree.all_ids().into_iter().chain(helpers).collect();
    pids::wait_until_free(&ids)?;
    log::info!(
        "restoring pid {} ({} processes, {} threads, {} zombies)",
        root.pid,
        tree.processes.len(),
        tree.processes
            .iter()
            .map(|p| p.threads.len())
            .sum::<usize>(),
        tree.zombies.len()
    );

    let terminals = tty::HostTerminals::open(tree, terminal, shell_job)?;
    let files = HostFiles::open(tree, pages, &inherited, &terminals)?;
    let memories = tree.processes.iter().map(|p| &p.memory);
    let scratch_base = memory::choose_scratch(memories, &current_areas(nix::unistd::getpid())?)
        .ok_or(RestoreError::NoScratchSpace { pid: root.pid })?;
    let pid = tree::TreeBuilder::new(tree, &files, &terminals, scratch_base).run()?;
    files.close();
    Ok(pid)
}

/// Everything of a process after its memory and fds: signal state, limits,
/// timers, threads with their own state, credentials. Returns its threads,
/// the leader first, ready to be let go.
fn finish_process(
    mut leader: RemoteThread,
    scratch: &Scratch,
    process: &ProcessSnapshot,
) -> Result<Vec<RemoteThread>, RestoreError> {
    process::set_process_state(&mut leader, scratch, process)?;
    let mut threads = vec![leader];
    for saved in &process.threads[1..] {
        let created = thread::create_thread(&mut threads[0], scratch, saved.tid)?;
        threads.push(created);
    }
    for (remote, saved) in threads.iter_mut().zip(&process.threads) {
        thread::set_thread_state(remote, scratch, saved)?;
        thread::queue_signals(remote, scratch, process.pid, saved)?;
    }
    queue_shared_signals(&mut threads[0], scratch, process)?;
    for (remote, saved) in threads.iter_mut().zip(&process.threads) {
        thread::set_credentials(remote, scratch, &saved.creds)?;
    }
    process::set_final_flags(&mut threads[0], process)?;
    Ok(threads)
}

/// Gives every thread its registers, FPU state and mask, and lets them go.
/// A process that was stopped is let go with SIGSTOP on its leader first:
/// the group stop it starts holds every thread detached after it.
fn release(threads: Vec<RemoteThread>, process: &ProcessSnapshot) -> Result<(), RestoreError> {
    for (mut remote, saved) in threads.into_iter().zip(&process.threads) {
        let tid = remote.tid();
        let regs = compel::restart::for_sigreturn(&saved.regs);
        remote
            .tracee
            .set_xstate(&saved.xstate)
            .map_err(RestoreError::ptrace(tid))?;
        remote
            .tracee
            .set_regs(&regs)
            .map_err(RestoreError::ptrace(tid))?;
        remote
            .tracee
            .set_sigmask(saved.sigmask)
            .map_err(RestoreError::ptrace(tid))?;
        let released = match process.stopped && tid.as_raw() == process.pid {
            true => remote.tracee.detach_with(nix::sys::signal::Signal::SIGSTOP),
            false => remote.tracee.detach(),
        };
        released.map_err(RestoreError::ptrace(tid))?;
    }
    Ok(())
}

fn seize_new(pid: Pid) -> Result<RemoteThread, RestoreError> {
    let mut tracee = Tracee::seize(pid).map_err(RestoreError::ptrace(pid))?;
    // Should crust die (even by SIGKILL) before the tree is let go, the
    // kernel kills the half-made tasks; threads and children created later
    // inherit this.
    let options =
        Options::PTRACE_O_EXITKILL | Options::PTRACE_O_TRACECLONE | Options::PTRACE_O_TRACEFORK;
    tracee
        .set_options(options)
        .map_err(RestoreError::ptrace(pid))?;
    // The child is crust's own fork, stopped wherever it was on its way to
    // pause(2): a `syscall` instruction written at its rip (into its private
    // copy of crust's code) serves until the scratch area exists.
    let rip = tracee.regs().map_err(RestoreError::ptrace(pid))?.rip;
    tracee
        .replace_bytes(rip, &TRAMPOLINE)
        .map_err(RestoreError::ptrace(pid))?;
    Ok(RemoteThread {
        tracee,
        trampoline: rip,
    })
}

/// Whether `fd` is the very file crust runs from (and so the exe link its
/// fork already has).
fn is_crust_executable(fd: i32) -> bool {
    use std::os::unix::fs::MetadataExt;
    let ours = std::fs::metadata("/proc/self/exe");
    let theirs = std::fs::metadata(format!("/proc/self/fd/{fd}"));
    matches!((ours, theirs), (Ok(a), Ok(b)) if a.dev() == b.dev() && a.ino() == b.ino())
}

/// A fork inherits crust's rseq registration, which points into memory about
/// to be unmapped: drop it before anything else.
fn forget_inherited_rseq(leader: &mut RemoteThread) -> Result<(), RestoreError> {
    const RSEQ_FLAG_UNREGISTER: u64 = 1;
    let tid = leader.tid();
    let Some(config) =
        compel::ptrace::rseq_configuration(tid).map_err(RestoreError::ptrace(tid))?
    else {
        return Ok(());
    };
    let args = [
        config.addr,
        config.len.into(),
        RSEQ_FLAG_UNREGISTER,
        config.signature.into(),
        0,
        0,
    ];
    leader.call("unregister crust's rseq area", libc::SYS_rseq, args)?;
    Ok(())
}

fn queue_shared_signals(
    leader: &mut RemoteThread,
    scratch: &Scratch,
    process: &ProcessSnapshot,
) -> Result<(), RestoreError> {
    for signal in &process.shared_pending {
        let addr = scratch.put(0, &signal.siginfo)?;
        let args = [process.pid as u64, signal.signo() as u64, addr, 0, 0, 0];
        leader.call(
            "queue a pending process signal",
            libc::SYS_rt_sigqueueinfo,
            args,
        )?;
    }
    Ok(())
}

/// The task's areas as they are now, from /proc.
fn current_areas(pid: Pid) -> Result<Vec<(u64, u64)>, RestoreError> {
    let path = format!("/proc/{pid}/maps");
    let text =
        std::fs::read_to_string(&path).map_err(|source| RestoreError::ReadProc { path, source })?;
    Ok(text
        .lines()
        .filter_map(|line| line.split_whitespace().next()?.split_once('-'))
        .filter_map(|(s, e)| {
            Some((
                u64::from_str_radix(s, 16).ok()?,
                u64::from_str_radix(e, 16).ok()?,
            ))
        })
        .collect())
}

/// Waits for the restored process (crust is its parent) to end.
fn wait_for(pid: Pid) -> Result<RestoreOutcome, RestoreError> {
    loop {
        match waitpid(pid, None) {
            Ok(WaitStatus::Exited(_, code)) => return Ok(RestoreOutcome::Exited(pid, code)),
            Ok(WaitStatus::Signaled(_, signal, _)) => {
                return Ok(RestoreOutcome::Signaled(pid, signal as i32))
            }
            Ok(_) => continue,
            Err(Errno::EINTR) => match compel::signals::check() {
                Ok(()) => continue,
                Err(signal) => {
                    return Err(RestoreError::StoppedWaiting {
                        pid: pid.as_raw(),
                        signal,
                    })
                }
            },
            Err(errno) => {
                return Err(RestoreError::Wait {
                    pid: pid.as_raw(),
                    errno,
                })
            }
        }
    }
}
