//! The state of one thread.

use super::process::Credentials;

/// A thread's registered restartable sequence area (rseq(2)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RseqRegistration {
    /// Address of `struct rseq` in the process's memory.
    pub addr: u64,
    /// Length registered.
    pub len: u32,
    /// Signature the kernel checks before abort handlers.
    pub signature: u32,
}

/// A thread's alternate signal stack (sigaltstack(2)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SigAltStack {
    /// Base address.
    pub sp: u64,
    /// SS_DISABLE, SS_AUTODISARM, ...
    pub flags: i32,
    /// Size in bytes.
    pub size: u64,
}

/// One queued signal, as the kernel's `siginfo_t` (128 bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingSignal {
    /// The raw siginfo, exactly as PTRACE_PEEKSIGINFO returned it.
    pub siginfo: [u8; 128],
}

impl PendingSignal {
    /// The signal number (`si_signo`, the first 4 bytes).
    pub fn signo(&self) -> i32 {
        i32::from_ne_bytes([
            self.siginfo[0],
            self.siginfo[1],
            self.siginfo[2],
            self.siginfo[3],
        ])
    }
}

/// Everything saved of one thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadSnapshot {
    /// Thread id (the leader's equals the pid).
    pub tid: i32,
    /// General registers as PTRACE_GETREGS gives them, fs/gs base included.
    pub regs: compel::ptrace::UserRegs,
    /// The XSAVE area as PTRACE_GETREGSET(NT_X86_XSTATE) gives it.
    pub xstate: Vec<u8>,
    /// Blocked signals.
    pub sigmask: u64,
    /// Alternate signal stack.
    pub altstack: SigAltStack,
    /// Address the kernel clears and wakes when the thread exits.
    pub clear_tid_addr: u64,
    /// The robust futex list head and its length (set_robust_list(2)).
    pub robust_list: (u64, u64),
    /// The rseq registration, if the thread has one.
    pub rseq: Option<RseqRegistration>,
    /// Signal sent to this thread when its parent dies (0: none).
    pub pdeath_signal: i32,
    /// The thread's name (comm).
    pub comm: String,
    /// Signals queued for this thread only.
    pub pending: Vec<PendingSignal>,
    /// The thread's credentials (each thread has its own).
    pub creds: Credentials,
}
