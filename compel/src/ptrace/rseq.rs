//! A thread's rseq registration, read with PTRACE_GET_RSEQ_CONFIGURATION.

use nix::errno::Errno;
use nix::unistd::Pid;

use super::PtraceError;

/// `PTRACE_GET_RSEQ_CONFIGURATION` (Linux 5.13).
const PTRACE_GET_RSEQ_CONFIGURATION: libc::c_uint = 0x420f;

/// Where a thread registered its `struct rseq`, as rseq(2) took it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RseqConfiguration {
    /// Address of the registered `struct rseq`.
    pub addr: u64,
    /// Length registered.
    pub len: u32,
    /// Abort signature.
    pub signature: u32,
}

/// `struct ptrace_rseq_configuration`.
#[repr(C)]
#[derive(Default)]
struct RawConfiguration {
    rseq_abi_pointer: u64,
    rseq_abi_size: u32,
    signature: u32,
    flags: u32,
    pad: u32,
}

/// The rseq registration of stopped tracee `tid`, or `None` if it has none.
pub fn rseq_configuration(tid: Pid) -> Result<Option<RseqConfiguration>, PtraceError> {
    let mut raw = RawConfiguration::default();
    let size = std::mem::size_of::<RawConfiguration>();
    // SAFETY: the kernel writes at most `size` bytes (the size passed in addr)
    // into `raw`, which is that large and lives across the call.
    let rc = unsafe {
        libc::ptrace(
            PTRACE_GET_RSEQ_CONFIGURATION,
            tid.as_raw(),
            size,
            &mut raw as *mut RawConfiguration,
        )
    };
    Errno::result(rc).map_err(|errno| PtraceError::Request {
        tid,
        request: "PTRACE_GET_RSEQ_CONFIGURATION",
        errno,
    })?;
    if raw.rseq_abi_pointer == 0 {
        return Ok(None);
    }
    Ok(Some(RseqConfiguration {
        addr: raw.rseq_abi_pointer,
        len: raw.rseq_abi_size,
        signature: raw.signature,
    }))
}
