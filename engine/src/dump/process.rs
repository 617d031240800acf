//! Process and thread state readable from /proc and ptrace without running
//! anything inside the process.

use nix::errno::Errno;
use nix::unistd::Pid;

use crate::proc::limits::limits;
use crate::proc::status::{thread_status, Status};
use crate::snapshot::{Credentials, PendingSignal, Rlimit, RLIMIT_COUNT};

use super::DumpError;

/// Credentials of one thread, from its status file (securebits are read
/// inside the thread and filled in later).
pub fn credentials(status: &Status) -> Credentials {
    let ids = |i: &crate::proc::status::Ids| [i.real, i.effective, i.saved, i.fs];
    Credentials {
        uids: ids(&status.uid),
        gids: ids(&status.gid),
        groups: status.groups.clone(),
        cap_inheritable: status.cap_inh,
        cap_permitted: status.cap_prm,
        cap_effective: status.cap_eff,
        cap_bounding: status.cap_bnd,
        cap_ambient: status.cap_amb,
        securebits: 0,
    }
}

/// The status of thread `tid` of `pid`.
pub fn thread_credentials(pid: Pid, tid: Pid) -> Result<Credentials, DumpError> {
    Ok(credentials(&thread_status(pid, tid)?))
}

/// Resource limits, from /proc/PID/limits (crust may not read another
/// task's limits with prlimit without CAP_SYS_RESOURCE).
pub fn rlimits(pid: Pid) -> Result<Vec<Rlimit>, DumpError> {
    let mut out = vec![Rlimit::default(); RLIMIT_COUNT];
    for limit in limits(pid)? {
        let Some(resource) = limit.resource else {
            continue;
        };
        if let Some(slot) = out.get_mut(resource as usize) {
            *slot = Rlimit {
                soft: limit.soft,
                hard: limit.hard,
            };
        }
    }
    Ok(out)
}

/// The umask, from the `Umask:` line of /proc/PID/status.
pub fn umask(pid: Pid) -> Result<u32, DumpError> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).map_err(|source| DumpError::Stat {
        path: path.clone(),
        source,
    })?;
    text.lines()
        .find_map(|line| line.strip_prefix("Umask:"))
        .and_then(|value| u32::from_str_radix(value.trim(), 8).ok())
        .ok_or(DumpError::Unsupported {
            pid: pid.as_raw(),
            what: "a status file without Umask".into(),
        })
}

/// The robust futex list a thread registered (get_robust_list(2)).
pub fn robust_list(tid: Pid) -> Result<(u64, u64), DumpError> {
    let mut head: u64 = 0;
    let mut len: usize = 0;
    // SAFETY: the kernel writes one pointer into `head` and one size_t into
    // `len`; both are live locals of those sizes.
    let rc = unsafe { libc::syscall(libc::SYS_get_robust_list, tid.as_raw(), &mut head, &mut len) };
    Errno::result(rc).map_err(|errno| DumpError::Thread {
        tid: tid.as_raw(),
        what: "get_robust_list",
        errno,
    })?;
    Ok((head, len as u64))
}

/// `struct ptrace_peeksiginfo_args`.
#[repr(C)]
struct PeekSiginfoArgs {
    off: u64,
    flags: u32,
    nr: i32,
}

const PTRACE_PEEKSIGINFO: libc::c_uint = 0x4209;
const PTRACE_PEEKSIGINFO_SHARED: u32 = 1;

/// Signals queued for thread `tid` alone, or with `shared` for its whole
/// process, read without dequeuing them (PTRACE_PEEKSIGINFO).
pub fn pending_signals(tid: Pid, shared: bool) -> Result<Vec<PendingSignal>, DumpError> {
    let mut signals = Vec::new();
    loop {
        let mut info = [0u8; 128];
        let args = PeekSiginfoArgs {
            off: signals.len() as u64,
            flags: if shared { PTRACE_PEEKSIGINFO_SHARED } else { 0 },
            nr: 1,
        };
        // SAFETY: the kernel reads `args` and writes at most `nr` (1) siginfo
        // of 128 bytes into `info`; the tracee is stopped under our ptrace.
        let rc = unsafe {
            libc::ptrace(
                PTRACE_PEEKSIGINFO,
                tid.as_raw(),
                &args as *const PeekSiginfoArgs,
                info.as_mut_ptr(),
            )
        };
        match Errno::result(rc) {
            Ok(0) => return Ok(signals),
            Ok(_) => signals.push(PendingSignal { siginfo: info }),
            Err(errno) => {
                return Err(DumpError::Thread {
                    tid: tid.as_raw(),
                    what: "PTRACE_PEEKSIGINFO",
                    errno,
                })
            }
        }
    }
}

/// Whether `child` shares its fs information (cwd, root, umask) with `parent`: kcmp(2)
/// KCMP_FS says they point to one kernel object.
pub fn shares_fs(parent: Pid, child: Pid) -> bool {
    const KCMP_FS: libc::c_int = 3;
    same_object(parent, child, KCMP_FS)
}

/// Whether `child` shares its fd table with `parent` (KCMP_FILES).
pub fn shares_files(parent: Pid, child: Pid) -> bool {
    const KCMP_FILES: libc::c_int = 2;
    same_object(parent, child, KCMP_FILES)
}

fn same_object(parent: Pid, child: Pid, kind: libc::c_int) -> bool {
    let (parent, child) = (parent.as_raw(), child.as_raw());
    // SAFETY: kcmp takes plain integers and reads no memory of ours.
    let rc = unsafe { libc::syscall(libc::SYS_kcmp, parent, child, kind, 0, 0) };
    rc == 0
}
