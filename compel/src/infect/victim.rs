//! A whole process held still: every thread seized, each one's state saved.

use std::collections::BTreeSet;
use std::path::PathBuf;

use nix::errno::Errno;
use nix::unistd::Pid;

use super::InfectError;
use crate::ptrace::{PtraceError, ThreadStatus, Tracee, UserRegs};
use crate::restart;
use crate::signals;

/// One seized thread and the state it had when seized.
#[derive(Debug)]
pub struct SeizedThread {
    /// The thread.
    pub tracee: Tracee,
    /// General registers at the seize.
    pub regs: UserRegs,
    /// xsave area at the seize.
    pub xstate: Vec<u8>,
    /// Blocked-signal mask at the seize.
    pub sigmask: u64,
    /// The registers were changed at the seize (see
    /// [`restart::undo_interrupt_eintr`]) and must be written back.
    pub adjusted: bool,
}

impl SeizedThread {
    fn seize(tid: Pid) -> Result<Self, PtraceError> {
        let tracee = Tracee::seize(tid)?;
        let mut regs = tracee.regs()?;
        let xstate = tracee.xstate()?;
        let sigmask = tracee.sigmask()?;
        let mut adjusted = false;
        if let Some(rewound) = restart::undo_interrupt_eintr(&regs) {
            if !has_signal_to_take(tid, sigmask)? {
                log::debug!("tid {tid}: epoll wait interrupted by the seize will be re-entered");
                regs = rewound;
                adjusted = true;
            }
        }
        Ok(SeizedThread {
            tracee,
            regs,
            xstate,
            sigmask,
            adjusted,
        })
    }

    /// The rt_sigframe, at `remote` in the victim, that returns this thread to its saved state:
    /// registers (with the sigreturn restart fix-up), xsave area and mask, its sigaltstack
    /// kept as it is.
    pub(crate) fn cure_frame(&self, pid: Pid, remote: u64) -> Result<Vec<u8>, InfectError> {
        use arch::x86_64::sigframe::{self, FpuState, UcStack};
        /// A `ss_flags` that `sigaltstack` rejects: `rt_sigreturn` ignores the error and so
        /// leaves the thread's alternate stack as it is.
        const SS_KEEP_CURRENT: i32 = 0x4;
        // ptrace's xsave area does not carry the sigframe's software bytes:
        // the features to restore are the ones the OS enabled (XCR0).
        let xfeatures = arch::x86_64::cpuid::xstate_info()
            .map(|info| info.xfeatures)
            .ok_or(InfectError::Xstate {
                pid,
                len: self.xstate.len(),
            })?;
        let fpu = FpuState {
            xsave: &self.xstate,
            xfeatures,
        };
        let keep = UcStack {
            ss_flags: SS_KEEP_CURRENT,
            ..UcStack::default()
        };
        let regs = restart::for_sigreturn(&self.regs);
        let mut frame = vec![0u8; sigframe::max_size(self.xstate.len())];
        let size =
            sigframe::build_with_altstack(&mut frame, remote, &regs, fpu, self.sigmask, keep)
                .map_err(|error| InfectError::Sigframe { pid, error })?;
        frame.truncate(size);
        Ok(frame)
    }

    /// Puts back registers (with the syscall-restart fix-up), xsave area and mask.
    ///
    /// Registers go last: until they are back, a tracer dying makes the
    /// thread fault in compel's vanished trampoline (loudly) rather than run
    /// on with compel's vector registers or signal mask (silently).
    fn restore(&mut self) -> Result<(), PtraceError> {
        self.tracee.set_xstate(&self.xstate)?;
        self.tracee.set_sigmask(self.sigmask)?;
        self.tracee
            .set_regs(&restart::for_direct_resume(&self.regs))
    }
}

/// Every thread of a process, seized and stopped; the first is the leader.
///
/// Dropping a `Victim` releases it (best effort, failures logged);
/// [`Victim::cure`] does the same and returns the error.
#[derive(Debug)]
pub struct Victim {
    pid: Pid,
    threads: Vec<SeizedThread>,
    released: bool,
    exited: bool,
}

impl Victim {
    /// Seizes every thread of `pid`, walking `/proc/PID/task` until a pass
    /// finds no thread it has not seized, and saves each one's state.
    pub fn seize(pid: Pid) -> Result<Self, InfectError> {
        signals::check()?;
        let status = ThreadStatus::read(pid).map_err(|_| InfectError::Gone { pid })?;
        if status.zombie {
            return Err(InfectError::ZombieLeader { pid });
        }
        let mut victim = Victim {
            pid,
            threads: Vec::new(),
            released: false,
            exited: false,
        };
        let leader = SeizedThread::seize(pid).map_err(|source| InfectError::seize(pid, source))?;
        victim.threads.push(leader);
        let mut known = BTreeSet::from([pid.as_raw()]);
        loop {
            signals::check()?;
            let tids = list_threads(pid)?;
            let fresh: Vec<i32> = tids.difference(&known).copied().collect();
            if fresh.is_empty() {
                break;
            }
            for tid in fresh {
                known.insert(tid);
                victim.seize_thread(Pid::from_raw(tid))?;
            }
        }
        log::debug!("pid {pid}: seized {} threads", victim.threads.len());
        Ok(victim)
    }

    /// Seizes one more thread; one that exits meanwhile is skipped.
    fn seize_thread(&mut self, tid: Pid) -> Result<(), InfectError> {
        match SeizedThread::seize(tid) {
            Ok(thread) => {
                self.threads.push(thread);
                Ok(())
            }
            Err(_) if !thread_exists(self.pid, tid) => {
                log::debug!("pid {}: tid {tid} exited before it was seized", self.pid);
                Ok(())
            }
            Err(source) => Err(InfectError::seize(tid, source)),
        }
    }

    /// The process id.
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// The seized threads, leader first.
    pub fn threads(&self) -> &[SeizedThread] {
        &self.threads
    }

    /// The leader: the thread that runs remote syscalls and the parasite.
    pub fn leader(&self) -> &SeizedThread {
        &self.threads[0]
    }

    pub(crate) fn leader_mut(&mut self) -> &mut SeizedThread {
        &mut self.threads[0]
    }

    pub(crate) fn thread_mut(&mut self, index: usize) -> Option<&mut SeizedThread> {
        self.threads.get_mut(index)
    }

    /// Kills the process with SIGKILL while every thread is still stopped and
    /// waits until each is gone: none of them runs another instruction.
    pub(crate) fn kill_in_place(&mut self) -> Result<(), InfectError> {
        if std::mem::replace(&mut self.released, true) {
            return Ok(());
        }
        let pid = self.pid;
        let killed = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
        killed.map_err(|errno| InfectError::Ptrace {
            pid,
            source: PtraceError::Request {
                tid: pid,
                request: "kill(SIGKILL)",
                errno,
            },
        })?;
        // The leader is reported last, once its thread group is empty.
        let mut threads = std::mem::take(&mut self.threads);
        threads.rotate_left(1);
        for mut thread in threads {
            loop {
                match thread.tracee.wait() {
                    Ok(stop) if stop.is_gone() => break,
                    Ok(_) => continue,
                    Err(_) => break,
                }
            }
            thread.tracee.forget();
        }
        log::debug!("pid {pid}: killed");
        Ok(())
    }

    /// Notes that the process exited: the cure then only reaps its threads.
    pub(crate) fn mark_exited(&mut self) {
        self.exited = true;
    }

    /// Whether the process was seen exiting.
    pub fn has_exited(&self) -> bool {
        self.exited
    }

    /// Gives every thread its state back and detaches it. A thread that was in
    /// a group-stop stays stopped (the kernel stops a detached thread again
    /// while its group is stopped) and goes on at SIGCONT.
    pub fn cure(mut self) -> Result<(), InfectError> {
        self.release()
    }

    pub(crate) fn release(&mut self) -> Result<(), InfectError> {
        if std::mem::replace(&mut self.released, true) {
            return Ok(());
        }
        let pid = self.pid;
        if self.exited || process_is_dead(pid) {
            self.reap();
            return Ok(());
        }
        let mut first_error = None;
        for (index, thread) in self.threads.iter_mut().enumerate() {
            // The leader ran compel's code; other threads only if adjusted.
            if index == 0 || thread.adjusted {
                if let Err(source) = thread.restore() {
                    first_error.get_or_insert(InfectError::Restore { pid, source });
                }
            }
        }
        for thread in std::mem::take(&mut self.threads) {
            let tid = thread.tracee.tid();
            if let Err(source) = thread.tracee.detach() {
                if thread_exists(pid, tid) {
                    first_error.get_or_insert(InfectError::Detach { tid, source });
                }
            }
        }
        log::debug!("pid {pid}: released");
        first_error.map_or(Ok(()), Err)
    }
}

impl Victim {
    /// Collects the exit reports of the threads of a process that died.
    fn reap(&mut self) {
        for mut thread in std::mem::take(&mut self.threads) {
            while let Ok(Some(stop)) = thread.tracee.poll() {
                if stop.is_gone() {
                    break;
                }
            }
            thread.tracee.forget();
        }
    }
}

impl Drop for Victim {
    fn drop(&mut self) {
        if let Err(error) = self.release() {
            log::warn!("releasing pid {}: {error}", self.pid);
        }
    }
}

/// The thread ids in `/proc/PID/task`.
fn list_threads(pid: Pid) -> Result<BTreeSet<i32>, InfectError> {
    let path = PathBuf::from(format!("/proc/{pid}/task"));
    let entries = std::fs::read_dir(&path).map_err(|source| InfectError::ListThreads {
        path: path.clone(),
        source,
    })?;
    let mut tids = BTreeSet::new();
    for entry in entries {
        let entry = entry.map_err(|source| InfectError::ListThreads {
            path: path.clone(),
            source,
        })?;
        if let Some(tid) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse().ok())
        {
            tids.insert(tid);
        }
    }
    Ok(tids)
}

/// Whether a signal the thread does not block is pending for it: then an
/// EINTR it shows is that signal's, not compel's.
fn has_signal_to_take(tid: Pid, sigmask: u64) -> Result<bool, PtraceError> {
    let status = ThreadStatus::read(tid)?;
    Ok(status.pending & !sigmask != 0)
}

/// Whether the process is gone or a zombie (`/proc/PID/stat` state Z or X).
pub(crate) fn process_is_dead(pid: Pid) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return true;
    };
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next());
    matches!(state, Some('Z' | 'X') | None)
}

/// After ESRCH from a request on a tracee that compel holds stopped: the
/// tracee was woken by SIGKILL and is on its way out; give it a second to
/// show up as dead.
pub(crate) fn process_dies(pid: Pid) -> bool {
    for _ in 0..100 {
        if process_is_dead(pid) {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    false
}

fn thread_exists(pid: Pid, tid: Pid) -> bool {
    std::path::Path::new(&format!("/proc/{pid}/task/{tid}")).exists()
}

impl InfectError {
    fn seize(tid: Pid, source: PtraceError) -> Self {
        match source {
            PtraceError::Request {
                errno: Errno::ESRCH,
                ..
            }
            | PtraceError::ReadStatus { .. } => InfectError::Gone { pid: tid },
            source => InfectError::Seize { tid, source },
        }
    }
}
