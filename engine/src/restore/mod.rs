//! Restore: read images, recreate the process, let it run.
//!
//! crust restores by driving a fresh task from outside: it forks itself with
//! the original pid, seizes the child with compel, and has it rebuild itself
//! one remote syscall at a time (unmap crust, map the process's areas, read
//! the pages into place, open files, create threads, set every register).
//! No code of crust runs inside the task, so every step's failure is seen
//! and reported by crust with its context, and the half-made task is killed.

mod files;
mod memory;
mod pids;
mod process;
mod remote;
mod spawn;
mod thread;

use std::path::{Path, PathBuf};
use std::time::Duration;

use compel::ptrace::Tracee;
use nix::errno::Errno;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;

use crate::snapshot::{ProcessSnapshot, SnapshotError};

use files::HostFiles;
use remote::{RemoteThread, Scratch};
use spawn::Spawned;

pub use pids::ZOMBIE_WAIT;

/// What `crust restore` was asked to do.
#[derive(Debug, Clone)]
pub struct RestoreOptions {
    /// Directory holding the images.
    pub images_dir: PathBuf,
    /// Return once the process runs instead of waiting for it to exit.
    pub detach: bool,
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

/// Why a restore failed.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// The images could not be read.
    #[error(transparent)]
    Images(#[from] crate::codec::CodecError),
    /// The images describe something inconsistent.
    #[error(transparent)]
    Invalid(#[from] SnapshotError),
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
    /// Writing into the new task's memory failed.
    #[error("pid {pid}: cannot write memory at {addr:#x}: {errno}")]
    WriteMemory {
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
    /// A mapped file is not the one that was dumped.
    #[error("pid {pid}: {path} changed since the dump (size, mode {dumped:?} then, {now:?} now)")]
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
    /// The new task's first stop is not inside a syscall instruction.
    #[error("pid {pid}: no syscall instruction at {rip:#x} to start from")]
    NoTrampoline {
        /// The process.
        pid: i32,
        /// Its rip.
        rip: u64,
    },
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
    fn ptrace(tid: Pid) -> impl Fn(compel::ptrace::PtraceError) -> RestoreError {
        move |source| RestoreError::Ptrace {
            tid: tid.as_raw(),
            source: Box::new(source),
        }
    }
}

/// Restore the process described by the images in `options.images_dir`.
pub fn restore(options: &RestoreOptions) -> Result<RestoreOutcome, RestoreError> {
    let images = crate::codec::read_process(&options.images_dir)?;
    let pid = restore_process(&images.process, &images.pages_path)?;
    if options.detach {
        return Ok(RestoreOutcome::Detached(pid));
    }
    wait_for(pid)
}

/// Recreates `process` (validated first) from its snapshot and its pages
/// image, and returns once it runs. On error nothing of it is left.
pub fn restore_process(process: &ProcessSnapshot, pages: &Path) -> Result<Pid, RestoreError> {
    process.validate()?;
    let tids: Vec<i32> = process.threads.iter().map(|t| t.tid).collect();
    pids::wait_until_free(&tids)?;
    log::info!("restoring pid {} ({} threads)", process.pid, tids.len());

    let files = HostFiles::open(process, pages)?;
    let child = Spawned::fork_with_pid(process.pid)?;
    rebuild(process, &files, &child)?;
    files.close();
    Ok(child.release())
}

fn rebuild(
    process: &ProcessSnapshot,
    files: &HostFiles,
    child: &Spawned,
) -> Result<(), RestoreError> {
    let pid = child.pid();
    let mut leader = seize_new(pid)?;
    let scratch_base = memory::choose_scratch(&process.memory, &current_areas(pid)?)
        .ok_or(RestoreError::NoScratchSpace { pid: pid.as_raw() })?;
    let scratch = Scratch {
        base: scratch_base,
        pid,
    };

    leader
        .tracee
        .set_sigmask(u64::MAX)
        .map_err(RestoreError::ptrace(pid))?;
    forget_inherited_rseq(&mut leader)?;
    memory::clear_address_space(&mut leader, &scratch)?;
    memory::map_vdso(&mut leader, &process.memory, process.pid)?;
    memory::map_areas(
        &mut leader,
        &process.memory,
        &|id| files.fd_of(id),
        process.pid,
    )?;
    memory::fill_pages(&mut leader, &process.memory, files.pages_fd())?;
    memory::seal_areas(&mut leader, &process.memory)?;
    let exe = files
        .fd_of(process.memory.exe_file_id)
        .ok_or(RestoreError::MissingMappedFile {
            pid: process.pid,
            start: process.memory.mm.start_code,
            file_id: process.memory.exe_file_id,
        })?;
    let exe = (!is_crust_executable(exe)).then_some(exe);
    process::set_mm(&mut leader, &scratch, process, exe)?;
    files::install_fds(&mut leader, &scratch, process, files)?;
    process::set_session(&mut leader, process)?;
    process::set_process_state(&mut leader, &scratch, process)?;

    let mut threads = vec![leader];
    for saved in &process.threads[1..] {
        let created = thread::create_thread(&mut threads[0], &scratch, saved.tid)?;
        threads.push(created);
    }
    for (remote, saved) in threads.iter_mut().zip(&process.threads) {
        thread::set_thread_state(remote, &scratch, saved)?;
        thread::queue_signals(remote, &scratch, process.pid, saved)?;
    }
    queue_shared_signals(&mut threads[0], &scratch, process)?;
    for (remote, saved) in threads.iter_mut().zip(&process.threads) {
        thread::set_credentials(remote, &scratch, &saved.creds)?;
    }
    process::set_final_flags(&mut threads[0], process)?;
    let unmap = [scratch.base, remote::SCRATCH_SIZE, 0, 0, 0, 0];
    threads[0].call("unmap the scratch area", libc::SYS_munmap, unmap)?;
    release(threads, process)
}

/// Gives every thread its registers, FPU state and mask, and lets them go.
fn release(threads: Vec<RemoteThread>, process: &ProcessSnapshot) -> Result<(), RestoreError> {
    for (mut remote, saved) in threads.into_iter().zip(&process.threads).rev() {
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
        remote.tracee.detach().map_err(RestoreError::ptrace(tid))?;
    }
    Ok(())
}

fn seize_new(pid: Pid) -> Result<RemoteThread, RestoreError> {
    let tracee = Tracee::seize(pid).map_err(RestoreError::ptrace(pid))?;
    // The child waits in pause(2), entered through a `syscall` instruction
    // right before its rip: that instruction serves until the scratch area exists.
    let rip = tracee.regs().map_err(RestoreError::ptrace(pid))?.rip;
    let word = tracee.peek(rip - 2).map_err(RestoreError::ptrace(pid))?;
    if word & 0xffff != 0x050f {
        return Err(RestoreError::NoTrampoline {
            pid: pid.as_raw(),
            rip,
        });
    }
    Ok(RemoteThread {
        tracee,
        trampoline: rip - 2,
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
            Ok(_) | Err(Errno::EINTR) => continue,
            Err(errno) => {
                return Err(RestoreError::Wait {
                    pid: pid.as_raw(),
                    errno,
                })
            }
        }
    }
}
