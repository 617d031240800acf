//! Termination requests (SIGINT, SIGTERM, SIGHUP, SIGQUIT) during an infection.
//!
//! A tool that dies by such a signal in the middle of an infection would
//! leave the victim with a trampoline, a mapping and changed registers (or,
//! once the parasite runs, self-curing on its own but leaking the area). A
//! [`TerminationGuard`] turns those signals into a flag instead: compel checks
//! the flag at each step ([`check`]), returns [`Interrupted`], the guards of
//! the infection cure the victim as they unwind, and when the last
//! [`TerminationGuard`] is dropped the signal is raised again with the
//! tool's former disposition, so the tool still ends the way it was asked to.
//!
//! The handlers are process-wide and installed without `SA_RESTART`: a
//! blocking call in the thread that takes the signal returns `EINTR`, which
//! compel's waits treat as "check the flag".

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Mutex;

use nix::errno::Errno;
use nix::sys::signal::{self, SaFlags, SigAction, SigHandler, SigSet, Signal};

/// The signals a [`TerminationGuard`] holds back.
pub const TERMINATION_SIGNALS: [Signal; 4] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
];

/// The first termination signal received while a guard was alive (0: none).
static PENDING: AtomicI32 = AtomicI32::new(0);

/// Live guards and the dispositions they replaced.
static GUARDS: Mutex<GuardState> = Mutex::new(GuardState {
    count: 0,
    saved: Vec::new(),
});

struct GuardState {
    count: usize,
    saved: Vec<(Signal, SigAction)>,
}

/// A termination signal arrived; the operation stopped and cured what it had touched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("interrupted by {0}")]
pub struct Interrupted(pub Signal);

/// Errors installing or removing the handlers.
#[derive(Debug, thiserror::Error)]
pub enum SignalsError {
    /// `sigaction` failed for a signal.
    #[error("sigaction({signal}) failed: {errno}")]
    Sigaction {
        /// The signal.
        signal: Signal,
        /// The kernel's error.
        errno: Errno,
    },
}

extern "C" fn record(signal: libc::c_int) {
    let _ = PENDING.compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst);
}

/// Returns [`Interrupted`] if a termination signal arrived while a guard was alive.
pub fn check() -> Result<(), Interrupted> {
    match PENDING.load(Ordering::SeqCst) {
        0 => Ok(()),
        raw => Err(Interrupted(
            Signal::try_from(raw).unwrap_or(Signal::SIGTERM),
        )),
    }
}

/// While alive, SIGINT, SIGTERM, SIGHUP and SIGQUIT only set a flag that
/// compel checks at each step; dropping the last guard restores the former
/// handlers and raises the signal that came, if any. Signals the tool
/// ignores stay ignored.
///
/// Create it before seizing the victim, so it is dropped after the victim's
/// guards have cured it:
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let _termination = compel::signals::TerminationGuard::new()?;
/// let victim = compel::Victim::seize(nix::unistd::Pid::from_raw(1234))?;
/// victim.cure()?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct TerminationGuard {
    _private: (),
}

impl TerminationGuard {
    /// Installs the flag-setting handlers (once, for the first live guard).
    pub fn new() -> Result<Self, SignalsError> {
        let mut state = GUARDS
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if state.count == 0 {
            let action =
                SigAction::new(SigHandler::Handler(record), SaFlags::empty(), SigSet::all());
            for signal in TERMINATION_SIGNALS {
                // SAFETY: `record` is async-signal-safe: one atomic compare-exchange.
                let old = unsafe { signal::sigaction(signal, &action) }
                    .map_err(|errno| SignalsError::Sigaction { signal, errno })?;
                if old.handler() == SigHandler::SigIgn {
                    // The tool ignores it: it must not end an infection either.
                    // SAFETY: puts back the disposition the kernel just returned.
                    unsafe { signal::sigaction(signal, &old) }
                        .map_err(|errno| SignalsError::Sigaction { signal, errno })?;
                }
                state.saved.push((signal, old));
            }
        }
        state.count += 1;
        Ok(TerminationGuard { _private: () })
    }

    /// Same as the free function [`check`].
    pub fn check(&self) -> Result<(), Interrupted> {
        check()
    }
}

impl Drop for TerminationGuard {
    fn drop(&mut self) {
        let mut state = GUARDS
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        state.count = state.count.saturating_sub(1);
        if state.count > 0 {
            return;
        }
        for (signal, old) in state.saved.drain(..) {
            // SAFETY: `old` is the disposition the kernel gave back when the
            // first guard replaced it, so reinstalling it is what the tool had.
            if let Err(errno) = unsafe { signal::sigaction(signal, &old) } {
                log::warn!("cannot restore the handler of {signal}: {errno}");
            }
        }
        let pending = PENDING.swap(0, Ordering::SeqCst);
        if let Ok(signal) = Signal::try_from(pending) {
            log::debug!("raising {signal} again now that the victim is cured");
            if let Err(errno) = signal::raise(signal) {
                log::warn!("cannot raise {signal} again: {errno}");
            }
        }
    }
}
