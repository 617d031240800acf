//! Process features: recreating tasks with their pids and kernel objects.

use std::arch::asm;
use std::fs::{self, File, OpenOptions};
use std::os::fd::AsRawFd;

use nix::errno::Errno;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{getpid, Pid};

use super::probe_child::run_in_child;
use super::{file_error, last_syscall_error, owned_fd, KerndatError};

const NS_LAST_PID: &str = "/proc/sys/kernel/ns_last_pid";
const TIME_NAMESPACE: &str = "/proc/self/ns/time";
const DEV_NULL: &str = "/dev/null";

/// kcmp type comparing two file descriptions (linux/kcmp.h).
const KCMP_FILE: libc::c_int = 0;

/// arch_prctl code mapping the 64-bit vDSO (asm/prctl.h).
const ARCH_MAP_VDSO_64: libc::c_int = 0x2003;

/// getpid in the i386 syscall table.
const NR_IA32_GETPID: u32 = 20;

/// clone flag that shares signal handlers; invalid without CLONE_VM.
const CLONE_SIGHAND: u64 = 0x0000_0800;

/// An exit signal outside CSIGNAL, which clone3 rejects before it forks.
const INVALID_EXIT_SIGNAL: u64 = 1 << 40;

/// `struct clone_args` up to CLONE_ARGS_SIZE_VER1 (Linux 5.5, which added set_tid).
#[repr(C)]
#[derive(Default)]
struct CloneArgsVer1 {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
}

/// Asks clone3 to fork with set_tid and two invalid arguments. A kernel
/// that knows set_tid refuses with EINVAL; one that only knows the
/// original clone_args refuses the unknown non-zero set_tid with E2BIG.
pub(super) fn clone3_set_tid() -> Result<(), KerndatError> {
    let tids: [libc::pid_t; 1] = [1];
    let args = CloneArgsVer1 {
        flags: CLONE_SIGHAND,
        exit_signal: INVALID_EXIT_SIGNAL,
        set_tid: tids.as_ptr() as u64,
        set_tid_size: 1,
        ..CloneArgsVer1::default()
    };
    // SAFETY: clone3 reads `size_of::<CloneArgsVer1>()` bytes at `&args`, which is that
    // size and alive, and one pid_t at `set_tid`, which is `tids`. The arguments are
    // invalid, so no task is created; should one be, it leaves at once below.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgsVer1,
            std::mem::size_of::<CloneArgsVer1>(),
        )
    };
    match ret {
        // SAFETY: we are an unexpected child of clone3; _exit leaves without touching
        // anything shared with the parent.
        0 => unsafe { libc::_exit(0) },
        pid if pid > 0 => reap_unexpected_child(pid),
        _ => clone3_errno_meaning(Errno::last()),
    }
}

fn reap_unexpected_child(pid: libc::c_long) -> Result<(), KerndatError> {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        let _ = waitpid(Pid::from_raw(pid), None);
    }
    Ok(())
}

fn clone3_errno_meaning(errno: Errno) -> Result<(), KerndatError> {
    match errno {
        Errno::EINVAL => Ok(()),
        Errno::E2BIG => Err(KerndatError::Clone3WithoutSetTid),
        Errno::ENOSYS => Err(KerndatError::NotImplemented {
            call: "clone3",
            errno,
        }),
        errno => Err(KerndatError::Syscall {
            call: "clone3",
            errno,
        }),
    }
}

/// Restore writes the pid it wants next here (for kernels or namespaces
/// where set_tid cannot be used); opening it for writing is enough proof.
pub(super) fn ns_last_pid() -> Result<(), KerndatError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(NS_LAST_PID)
        .map(drop)
        .map_err(file_error(NS_LAST_PID))
}

pub(super) fn kcmp() -> Result<(), KerndatError> {
    let file = File::open(DEV_NULL).map_err(file_error(DEV_NULL))?;
    let pid = getpid().as_raw();
    let fd = file.as_raw_fd();
    // SAFETY: kcmp compares kernel objects named by pid and descriptor; it touches no memory.
    let ret = unsafe { libc::syscall(libc::SYS_kcmp, pid, pid, KCMP_FILE, fd, fd) };
    if ret < 0 {
        return Err(last_syscall_error("kcmp(KCMP_FILE)"));
    }
    Ok(())
}

pub(super) fn pidfd() -> Result<(), KerndatError> {
    let file = File::open(DEV_NULL).map_err(file_error(DEV_NULL))?;
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor.
    let ret = unsafe { libc::syscall(libc::SYS_pidfd_open, getpid().as_raw(), 0) };
    let pidfd = owned_fd(ret, "pidfd_open")?;
    // SAFETY: pidfd_getfd takes two descriptors and flags and returns a new descriptor.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_pidfd_getfd,
            pidfd.as_raw_fd(),
            file.as_raw_fd(),
            0,
        )
    };
    owned_fd(ret, "pidfd_getfd").map(drop)
}

/// Run in a child: the kernel refuses a second vDSO with EEXIST, and an
/// unknown arch_prctl code with EINVAL; a child without a vDSO gets one.
pub(super) fn arch_map_vdso_64() -> Result<(), KerndatError> {
    let call = "arch_prctl(ARCH_MAP_VDSO_64)";
    match run_in_child(map_vdso_64_errno)? {
        (_, WaitStatus::Exited(_, 0)) => Ok(()),
        (_, WaitStatus::Exited(_, code)) if code == Errno::EEXIST as i32 => Ok(()),
        (_, WaitStatus::Exited(_, code)) if code == Errno::EINVAL as i32 => {
            Err(KerndatError::NotImplemented {
                call,
                errno: Errno::EINVAL,
            })
        }
        (_, WaitStatus::Exited(_, code)) => Err(KerndatError::Syscall {
            call,
            errno: Errno::from_raw(code),
        }),
        (pid, status) => Err(KerndatError::UnexpectedStatus { pid, status }),
    }
}

fn map_vdso_64_errno() -> i32 {
    // SAFETY: with a vDSO already mapped the kernel only returns EEXIST; without one it
    // maps a new one where it chooses, in this throwaway child.
    let ret = unsafe { libc::syscall(libc::SYS_arch_prctl, ARCH_MAP_VDSO_64, 0) };
    if ret == 0 {
        0
    } else {
        Errno::last_raw()
    }
}

pub(super) fn time_namespace() -> Result<(), KerndatError> {
    fs::metadata(TIME_NAMESPACE)
        .map(drop)
        .map_err(file_error(TIME_NAMESPACE))
}

/// Run in a child: without IA32 emulation, `int 0x80` kills it with SIGSEGV.
pub(super) fn ia32_emulation() -> Result<(), KerndatError> {
    match run_in_child(ia32_getpid_matches)? {
        (_, WaitStatus::Exited(_, 0)) => Ok(()),
        (pid, status) => Err(KerndatError::Ia32Unavailable { pid, status }),
    }
}

fn ia32_getpid_matches() -> i32 {
    let mut result = NR_IA32_GETPID;
    // SAFETY: 32-bit getpid takes no arguments and writes no memory. The compat entry
    // returns r8-r11 zeroed, so they are declared clobbered; no user stack is used.
    unsafe {
        asm!(
            "int 0x80",
            inout("eax") result,
            out("r8") _, out("r9") _, out("r10") _, out("r11") _,
            options(nostack),
        );
    }
    let same = u32::try_from(getpid().as_raw()).is_ok_and(|pid| pid == result);
    i32::from(!same)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clone3_errnos_mean_what_the_kernel_says() {
        assert!(clone3_errno_meaning(Errno::EINVAL).is_ok());
        assert!(matches!(
            clone3_errno_meaning(Errno::E2BIG),
            Err(KerndatError::Clone3WithoutSetTid)
        ));
        assert!(matches!(
            clone3_errno_meaning(Errno::ENOSYS),
            Err(KerndatError::NotImplemented { .. })
        ));
    }

    #[test]
    fn clone_args_ver1_has_the_kernel_size() {
        assert_eq!(std::mem::size_of::<CloneArgsVer1>(), 80);
    }

    #[test]
    fn this_kernel_has_clone3_with_set_tid() {
        let result = clone3_set_tid();
        assert!(result.is_ok(), "{result:?}");
    }
}
