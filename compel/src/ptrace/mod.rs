//! Typed ptrace over nix: one [`Tracee`] is one seized thread.
//!
//! Threads are taken with `PTRACE_SEIZE` (option `PTRACE_O_TRACESYSGOOD`, never
//! `PTRACE_O_EXITKILL`: a dead tracer must leave its tracees alive) followed by
//! `PTRACE_INTERRUPT`, so seizing has no side effect on the task's signals or
//! job control. A [`Tracee`] that is dropped without [`Tracee::detach`] is
//! detached on a best-effort basis.

mod rseq;
mod state;
mod status;
mod stop;

use std::marker::PhantomData;

use nix::errno::Errno;
use nix::sys::ptrace::{self, Options};
use nix::sys::signal::Signal;
use nix::unistd::Pid;

pub use rseq::{rseq_configuration, RseqConfiguration};
pub use state::UserRegs;
pub use status::ThreadStatus;
pub use stop::{poll, wait, Stop};

/// `PTRACE_EVENT_FORK`, `PTRACE_EVENT_VFORK`, `PTRACE_EVENT_CLONE`: a tracee
/// created a task.
pub const CHILD_EVENTS: [i32; 3] = [1, 2, 3];

/// Errors of the ptrace layer; each names the thread and the failing request.
#[derive(Debug, thiserror::Error)]
pub enum PtraceError {
    /// `/proc/TID/status` could not be read (the thread may be gone).
    #[error("cannot read {path}: {source}")]
    ReadStatus {
        /// The status file.
        path: std::path::PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// `/proc/TID/status` lacks the `State:` or `TracerPid:` line.
    #[error("cannot parse {path}: no State/TracerPid line")]
    ParseStatus {
        /// The status file.
        path: std::path::PathBuf,
    },
    /// Another process traces the thread already.
    #[error("tid {tid} is already traced by pid {tracer}")]
    AlreadyTraced {
        /// The thread.
        tid: Pid,
        /// Its current tracer.
        tracer: i32,
    },
    /// A ptrace request failed.
    #[error("tid {tid}: {request} failed: {errno}")]
    Request {
        /// The thread.
        tid: Pid,
        /// The request, e.g. `PTRACE_SEIZE`.
        request: &'static str,
        /// The kernel's error.
        errno: Errno,
    },
    /// A word access at a remote address failed.
    #[error("tid {tid}: {request} at {addr:#x} failed: {errno}")]
    Memory {
        /// The thread.
        tid: Pid,
        /// `PTRACE_PEEKDATA` or `PTRACE_POKEDATA`.
        request: &'static str,
        /// The remote address.
        addr: u64,
        /// The kernel's error.
        errno: Errno,
    },
    /// The thread exited or was killed while seized.
    #[error("tid {tid} is gone: {stop:?}")]
    Gone {
        /// The thread.
        tid: Pid,
        /// How it ended.
        stop: Stop,
    },
    /// The thread stopped in a way the caller did not expect.
    #[error("tid {tid}: unexpected stop {stop:?} while {step}")]
    UnexpectedStop {
        /// The thread.
        tid: Pid,
        /// The stop seen.
        stop: Stop,
        /// What compel was waiting for.
        step: &'static str,
    },
}

impl PtraceError {
    fn request(tid: Pid, request: &'static str) -> impl FnOnce(Errno) -> Self {
        move |errno| PtraceError::Request {
            tid,
            request,
            errno,
        }
    }
}

/// One thread under `PTRACE_SEIZE`, stopped between requests.
#[derive(Debug)]
pub struct Tracee {
    tid: Pid,
    group_stop: Option<Signal>,
    attached: bool,
    deferred: Vec<i32>,
    children: Vec<Pid>,
    /// ptrace binds a tracee to the tracer thread: requests from any other
    /// thread fail with ESRCH, so a Tracee stays on its thread.
    _bound_to_thread: PhantomData<*const ()>,
}

impl Tracee {
    fn attached(tid: Pid) -> Self {
        Tracee {
            tid,
            group_stop: None,
            attached: true,
            deferred: Vec::new(),
            children: Vec::new(),
            _bound_to_thread: PhantomData,
        }
    }

    /// Seizes `tid` and waits until it sits in the stop `PTRACE_INTERRUPT` asked for.
    ///
    /// Refuses a thread that has a tracer already. A signal that the thread was
    /// about to take when the interrupt came is delivered, then the thread is
    /// stopped again, so nothing is lost.
    pub fn seize(tid: Pid) -> Result<Self, PtraceError> {
        let status = ThreadStatus::read(tid)?;
        if let Some(tracer) = status.tracer {
            return Err(PtraceError::AlreadyTraced { tid, tracer });
        }
        ptrace::seize(tid, Options::PTRACE_O_TRACESYSGOOD)
            .map_err(PtraceError::request(tid, "PTRACE_SEIZE"))?;
        let mut tracee = Tracee::attached(tid);
        tracee.interrupt()?;
        tracee.wait_for_interrupt()?;
        if status.group_stopped && tracee.group_stop.is_none() {
            tracee.group_stop = Some(Signal::SIGSTOP);
        }
        log::trace!("seized tid {tid} (group-stop: {:?})", tracee.group_stop);
        Ok(tracee)
    }

    /// Adopts a thread that a tracee created while `PTRACE_O_TRACECLONE` was set.
    ///
    /// The kernel attaches such a thread by itself and stops it with
    /// `PTRACE_EVENT_STOP`; this waits for that stop.
    pub fn from_new_child_thread(tid: Pid) -> Result<Self, PtraceError> {
        let mut tracee = Tracee::attached(tid);
        tracee.wait_for_interrupt()?;
        Ok(tracee)
    }

    fn wait_for_interrupt(&mut self) -> Result<(), PtraceError> {
        loop {
            match self.wait()? {
                Stop::Interrupt => return Ok(()),
                Stop::GroupStop(signal) => {
                    self.group_stop = Some(signal);
                    return Ok(());
                }
                Stop::Signal(signal) => self.redeliver_then_stop(signal)?,
                stop => {
                    let step = "waiting for the interrupt stop";
                    return Err(PtraceError::UnexpectedStop {
                        tid: self.tid,
                        stop,
                        step,
                    });
                }
            }
        }
    }

    /// A signal-delivery stop came first and consumed the pending interrupt:
    /// ask for another one and let the signal go where it was going.
    fn redeliver_then_stop(&mut self, signal: i32) -> Result<(), PtraceError> {
        log::debug!(
            "tid {}: delivering signal {signal} before the interrupt stop",
            self.tid
        );
        self.interrupt()?;
        // SAFETY: PTRACE_CONT reads no memory of ours; `signal` is the number the
        // kernel just reported, passed back as the signal to inject.
        let rc = unsafe { libc::ptrace(libc::PTRACE_CONT, self.tid.as_raw(), 0, signal) };
        Errno::result(rc)
            .map(drop)
            .map_err(PtraceError::request(self.tid, "PTRACE_CONT"))
    }

    /// The thread id.
    pub fn tid(&self) -> Pid {
        self.tid
    }

    /// The group-stop signal if the thread was in a group-stop when seized.
    pub fn group_stop(&self) -> Option<Signal> {
        self.group_stop
    }

    /// Sets ptrace options (`PTRACE_SETOPTIONS`); `PTRACE_O_TRACESYSGOOD` is always kept.
    pub fn set_options(&mut self, options: Options) -> Result<(), PtraceError> {
        ptrace::setoptions(self.tid, options | Options::PTRACE_O_TRACESYSGOOD)
            .map_err(PtraceError::request(self.tid, "PTRACE_SETOPTIONS"))
    }

    /// Asks the thread to stop (`PTRACE_INTERRUPT`); pair with [`Tracee::wait`].
    pub fn interrupt(&mut self) -> Result<(), PtraceError> {
        ptrace::interrupt(self.tid).map_err(PtraceError::request(self.tid, "PTRACE_INTERRUPT"))
    }

    /// Resumes until the next syscall entry or exit (`PTRACE_SYSCALL`).
    pub fn resume_to_syscall(&mut self) -> Result<(), PtraceError> {
        ptrace::syscall(self.tid, None).map_err(PtraceError::request(self.tid, "PTRACE_SYSCALL"))
    }

    /// Resumes freely (`PTRACE_CONT`) without injecting a signal.
    pub fn resume(&mut self) -> Result<(), PtraceError> {
        ptrace::cont(self.tid, None).map_err(PtraceError::request(self.tid, "PTRACE_CONT"))
    }

    /// Waits for the thread's next report. Exit and death are returned as stops.
    pub fn wait(&mut self) -> Result<Stop, PtraceError> {
        let stop = wait(self.tid).map_err(PtraceError::request(self.tid, "waitpid"))?;
        if stop.is_gone() {
            self.attached = false;
        }
        Ok(stop)
    }

    /// Returns the thread's next report if it has one already (`WNOHANG`).
    pub fn poll(&mut self) -> Result<Option<Stop>, PtraceError> {
        let stop = poll(self.tid).map_err(PtraceError::request(self.tid, "waitpid"))?;
        if stop.is_some_and(|stop| stop.is_gone()) {
            self.attached = false;
        }
        Ok(stop)
    }

    /// Waits, while the caller lets the thread run, for a `PTRACE_EVENT_CLONE`,
    /// `_FORK` or `_VFORK` stop; returns the new task's id, to be adopted with
    /// [`Tracee::from_new_child_thread`]. The thread stays at the event stop.
    ///
    /// Needs the matching `PTRACE_O_TRACE*` option (see [`Tracee::set_options`]).
    /// Job-control traps on the way are resumed past.
    pub fn wait_event_clone(&mut self) -> Result<Pid, PtraceError> {
        loop {
            match self.wait()? {
                Stop::Event(event) if CHILD_EVENTS.contains(&event) => return self.event_child(),
                Stop::Interrupt | Stop::GroupStop(_) => self.resume()?,
                stop if stop.is_gone() => {
                    return Err(PtraceError::Gone {
                        tid: self.tid,
                        stop,
                    })
                }
                stop => {
                    let step = "waiting for PTRACE_EVENT_CLONE";
                    return Err(PtraceError::UnexpectedStop {
                        tid: self.tid,
                        stop,
                        step,
                    });
                }
            }
        }
    }

    /// The id of the task created by the event this thread is stopped at
    /// (`PTRACE_GETEVENTMSG`).
    pub fn event_child(&self) -> Result<Pid, PtraceError> {
        let message = ptrace::getevent(self.tid)
            .map_err(PtraceError::request(self.tid, "PTRACE_GETEVENTMSG"))?;
        let raw = i32::try_from(message).map_err(|_| PtraceError::Request {
            tid: self.tid,
            request: "PTRACE_GETEVENTMSG",
            errno: Errno::EOVERFLOW,
        })?;
        Ok(Pid::from_raw(raw))
    }

    /// Records a task created during a remote syscall (see [`Tracee::take_children`]).
    pub(crate) fn note_child(&mut self, child: Pid) {
        self.children.push(child);
    }

    /// Tasks this thread created during remote syscalls while a
    /// `PTRACE_O_TRACE{CLONE,FORK,VFORK}` option was set, oldest first; each is
    /// attached already and to be adopted with [`Tracee::from_new_child_thread`].
    pub fn take_children(&mut self) -> Vec<Pid> {
        std::mem::take(&mut self.children)
    }

    /// Holds back a signal the thread was about to take; it is sent again to
    /// the thread right after it is detached.
    pub fn defer_signal(&mut self, signal: i32) {
        log::debug!(
            "tid {}: holding back signal {signal} until detach",
            self.tid
        );
        self.deferred.push(signal);
    }

    /// Detaches, leaving the thread to run (or to stay in its group-stop), then
    /// sends it again any signal held back with [`Tracee::defer_signal`].
    pub fn detach(mut self) -> Result<(), PtraceError> {
        self.attached = false;
        ptrace::detach(self.tid, None).map_err(PtraceError::request(self.tid, "PTRACE_DETACH"))?;
        for signal in std::mem::take(&mut self.deferred) {
            // SAFETY: tkill takes plain integers and touches no memory of ours.
            let rc = unsafe { libc::syscall(libc::SYS_tkill, self.tid.as_raw(), signal) };
            Errno::result(rc).map_err(PtraceError::request(self.tid, "tkill"))?;
        }
        Ok(())
    }

    /// Detaches with `signal` delivered to the thread as it leaves its
    /// syscall-exit or signal-delivery stop (so a SIGSTOP stops its whole
    /// group before any of its code runs); held-back signals follow.
    pub fn detach_with(mut self, signal: Signal) -> Result<(), PtraceError> {
        self.attached = false;
        ptrace::detach(self.tid, Some(signal))
            .map_err(PtraceError::request(self.tid, "PTRACE_DETACH"))?;
        for held in std::mem::take(&mut self.deferred) {
            // SAFETY: tkill takes plain integers and touches no memory of ours.
            let rc = unsafe { libc::syscall(libc::SYS_tkill, self.tid.as_raw(), held) };
            Errno::result(rc).map_err(PtraceError::request(self.tid, "tkill"))?;
        }
        Ok(())
    }

    /// Forgets the thread without a ptrace request (it is known to be gone).
    pub fn forget(mut self) {
        self.attached = false;
    }
}

impl Drop for Tracee {
    fn drop(&mut self) {
        if self.attached {
            if let Err(errno) = ptrace::detach(self.tid, None) {
                log::warn!("tid {}: detach on drop failed: {errno}", self.tid);
            }
        }
    }
}
