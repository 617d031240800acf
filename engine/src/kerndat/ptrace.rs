//! ptrace requests crust uses to freeze tasks and read their state.

use std::mem::size_of;

use nix::errno::Errno;

use super::probe_child::ProbeChild;
use super::KerndatError;

/// ELF note type of the xsave area (linux/elf.h).
const NT_X86_XSTATE: libc::c_ulong = 0x202;

/// Room for any xsave area this kernel can report (AMX tile data included).
const XSTATE_BUFFER_SIZE: usize = 16 * 1024;

/// `struct ptrace_rseq_configuration` (linux/ptrace.h).
#[repr(C)]
#[derive(Default)]
struct PtraceRseqConfiguration {
    rseq_abi_pointer: u64,
    rseq_abi_size: u32,
    signature: u32,
    flags: u32,
    pad: u32,
}

pub(super) fn seize() -> Result<(), KerndatError> {
    ProbeChild::spawn_paused()?.seize()
}

pub(super) fn interrupt() -> Result<(), KerndatError> {
    stopped_child().map(drop)
}

pub(super) fn getregset_xstate() -> Result<(), KerndatError> {
    let child = stopped_child()?;
    let mut area = vec![0u8; XSTATE_BUFFER_SIZE];
    let mut iov = libc::iovec {
        iov_base: area.as_mut_ptr().cast(),
        iov_len: area.len(),
    };
    // SAFETY: PTRACE_GETREGSET writes at most iov_len bytes at iov_base, which is `area`,
    // and stores the length it wrote back in `iov`; both outlive the call.
    let ret = unsafe {
        libc::ptrace(
            libc::PTRACE_GETREGSET,
            child.pid().as_raw(),
            NT_X86_XSTATE,
            &mut iov as *mut libc::iovec,
        )
    };
    request_result(ret, "PTRACE_GETREGSET NT_X86_XSTATE", &child)
}

pub(super) fn getsigmask() -> Result<(), KerndatError> {
    let child = stopped_child()?;
    let mut mask: u64 = 0;
    // SAFETY: PTRACE_GETSIGMASK writes exactly the size passed (8 bytes, the kernel's
    // sigset_t) at the address given, which is `mask`.
    let ret = unsafe {
        libc::ptrace(
            libc::PTRACE_GETSIGMASK,
            child.pid().as_raw(),
            size_of::<u64>(),
            &mut mask as *mut u64,
        )
    };
    request_result(ret, "PTRACE_GETSIGMASK", &child)
}

pub(super) fn get_rseq_configuration() -> Result<(), KerndatError> {
    let child = stopped_child()?;
    let mut config = PtraceRseqConfiguration::default();
    // SAFETY: PTRACE_GET_RSEQ_CONFIGURATION writes at most the size passed at the
    // address given, which is `config`, exactly that size.
    let ret = unsafe {
        libc::ptrace(
            libc::PTRACE_GET_RSEQ_CONFIGURATION,
            child.pid().as_raw(),
            size_of::<PtraceRseqConfiguration>(),
            &mut config as *mut PtraceRseqConfiguration,
        )
    };
    request_result(ret, "PTRACE_GET_RSEQ_CONFIGURATION", &child)
}

/// A probe child, seized and stopped in a PTRACE_EVENT_STOP.
fn stopped_child() -> Result<ProbeChild, KerndatError> {
    let child = ProbeChild::spawn_paused()?;
    child.seize()?;
    child.interrupt()?;
    Ok(child)
}

fn request_result(
    ret: libc::c_long,
    request: &'static str,
    child: &ProbeChild,
) -> Result<(), KerndatError> {
    if ret >= 0 {
        return Ok(());
    }
    Err(KerndatError::Ptrace {
        request,
        pid: child.pid(),
        errno: Errno::last(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rseq_configuration_has_the_kernel_size() {
        assert_eq!(size_of::<PtraceRseqConfiguration>(), 24);
    }

    #[test]
    fn seize_and_interrupt_work_on_this_machine() {
        assert!(seize().is_ok());
        assert!(interrupt().is_ok());
    }
}
