//! Infection of a whole process: seize it ([`Victim`]), map a shared area in
//! it ([`Infection`]), run the parasite there ([`Parasite`]), cure it.
//!
//! Each stage is a guard: dropping it cures the victim as far as it got, on a
//! best-effort basis with failures logged; the explicit `cure()` of each
//! stage returns the error instead.

mod control;
mod cure;
mod drain;
mod escape;
mod first_map;
mod infection;
mod layout;
mod parasite;
mod shared;
mod victim;

#[path = "../../../parasite/src/protocol.rs"]
#[allow(dead_code)]
pub mod protocol;

use nix::unistd::Pid;

pub use control::ControlError;
pub use drain::DrainSink;
pub use first_map::AreaSharing;
pub use infection::Infection;
pub use layout::{AreaLayout, LayoutError, DEFAULT_ARGS_SIZE, DEFAULT_STACK_SIZE};
pub use parasite::{Parasite, ParasiteError};
pub use protocol::{PageRange, TaskInfo};
pub use shared::SharedError;
pub use victim::{SeizedThread, Victim};

use crate::blob::{Blob, BlobError};
use crate::ptrace::PtraceError;
use crate::remote::RemoteError;
use crate::signals::Interrupted;

/// Sizes and blob of an infection.
#[derive(Debug, Clone)]
pub struct InfectOptions {
    /// The blob to load; `None` for the built-in parasite.
    pub blob: Option<Blob>,
    /// A fixed size for the shared area; `None` to take what is needed.
    pub area_size: Option<usize>,
    /// Bytes of args region (page ranges, fd numbers, replies).
    pub args_size: usize,
    /// Bytes of stack for the parasite.
    pub stack_size: usize,
    /// How the host maps the shared area.
    pub sharing: AreaSharing,
}

impl Default for InfectOptions {
    fn default() -> Self {
        InfectOptions {
            blob: None,
            area_size: None,
            args_size: DEFAULT_ARGS_SIZE,
            stack_size: DEFAULT_STACK_SIZE,
            sharing: AreaSharing::Auto,
        }
    }
}

/// Errors of seizing, infecting and curing; each names the victim.
#[derive(Debug, thiserror::Error)]
pub enum InfectError {
    /// A termination signal came; what was done is being undone.
    #[error(transparent)]
    Interrupted(#[from] Interrupted),
    /// The process or thread does not exist (any more).
    #[error("pid {pid} is gone")]
    Gone {
        /// The process or thread.
        pid: Pid,
    },
    /// The victim exited or was killed while compel drove it.
    #[error("pid {pid} exited during infection")]
    Exited {
        /// The victim.
        pid: Pid,
    },
    /// The victim was cured already (e.g. after a parasite crash).
    #[error("pid {pid} is cured already")]
    Cured {
        /// The victim.
        pid: Pid,
    },
    /// `/proc/PID/task` could not be listed.
    #[error("cannot list threads in {path}: {source}")]
    ListThreads {
        /// The task directory.
        path: std::path::PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A thread could not be seized.
    #[error("seizing tid {tid}: {source}")]
    Seize {
        /// The thread.
        tid: Pid,
        /// The ptrace error.
        source: PtraceError,
    },
    /// A ptrace request on the leader failed.
    #[error("pid {pid}: {source}")]
    Ptrace {
        /// The victim.
        pid: Pid,
        /// The ptrace error.
        source: PtraceError,
    },
    /// A remote syscall failed.
    #[error("pid {pid}: {step}: {source}")]
    Remote {
        /// The victim.
        pid: Pid,
        /// What compel was doing.
        step: &'static str,
        /// The remote error.
        source: RemoteError,
    },
    /// The leader's state could not be put back.
    #[error("restoring pid {pid}: {source}")]
    Restore {
        /// The victim.
        pid: Pid,
        /// The ptrace error.
        source: PtraceError,
    },
    /// A thread could not be detached.
    #[error("detaching tid {tid}: {source}")]
    Detach {
        /// The thread.
        tid: Pid,
        /// The ptrace error.
        source: PtraceError,
    },
    /// The main thread exited (its zombie stays while other threads run);
    /// compel runs its code in the main thread, so it cannot infect.
    #[error("pid {pid}: the main thread has exited; compel needs it to run the parasite")]
    ZombieLeader {
        /// The victim.
        pid: Pid,
    },
    /// The victim runs in 32-bit compat mode, which the parasite is not built for.
    #[error("pid {pid} is a 32-bit (ia32) task; compel injects 64-bit code only")]
    Compat {
        /// The victim.
        pid: Pid,
    },
    /// The blob is unusable.
    #[error("pid {pid}: parasite blob: {source}")]
    Blob {
        /// The victim.
        pid: Pid,
        /// The blob error.
        source: BlobError,
    },
    /// The blob and its data do not fit the area.
    #[error("pid {pid}: {source}")]
    Layout {
        /// The victim.
        pid: Pid,
        /// The layout error.
        source: LayoutError,
    },
    /// The host view of the area failed.
    #[error("pid {pid}: shared area: {source}")]
    Shared {
        /// The victim.
        pid: Pid,
        /// The error.
        source: SharedError,
    },
    /// The host's memfd for the area could not be made.
    #[error("pid {pid}: cannot create compel's memfd for the shared area: {errno}")]
    Memfd {
        /// The victim.
        pid: Pid,
        /// The kernel's error.
        errno: nix::errno::Errno,
    },
    /// The self-cure jump cannot reach the blob (cannot happen within one area).
    #[error("pid {pid}: area trampoline at {at:#x} cannot reach the blob")]
    TrampolineReach {
        /// The victim.
        pid: Pid,
        /// Remote address of the trampoline.
        at: u64,
    },
    /// The CPU or kernel does not use XSAVE, which the self-cure sigframe needs.
    #[error("pid {pid}: no XSAVE support for its xsave area of {len} bytes")]
    Xstate {
        /// The victim.
        pid: Pid,
        /// Length of the area.
        len: usize,
    },
    /// The self-cure sigframe could not be built.
    #[error("pid {pid}: building the self-cure sigframe: {error}")]
    Sigframe {
        /// The victim.
        pid: Pid,
        /// The builder's error.
        error: arch::x86_64::sigframe::SigframeError,
    },
}

impl InfectError {
    /// A ptrace failure; ESRCH from a process that died is [`InfectError::Exited`].
    fn ptrace(pid: Pid, source: PtraceError) -> Self {
        let esrch = matches!(
            source,
            PtraceError::Request {
                errno: nix::errno::Errno::ESRCH,
                ..
            } | PtraceError::Memory {
                errno: nix::errno::Errno::ESRCH,
                ..
            }
        );
        if esrch && victim::process_dies(pid) {
            return InfectError::Exited { pid };
        }
        InfectError::Ptrace { pid, source }
    }

    fn remote(pid: Pid, step: &'static str, source: RemoteError) -> Self {
        match source {
            RemoteError::Exited { .. } => InfectError::Exited { pid },
            source => InfectError::Remote { pid, step, source },
        }
    }
}
