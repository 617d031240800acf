//! The victim's first remote syscalls: mapping the shared area through a
//! `syscall; int3` written over a few bytes of the leader's code.
//!
//! The area is shared one of two ways ([`AreaSharing`]). With map_files,
//! the victim maps anonymous shared memory and the host opens it through
//! `/proc/PID/map_files/START-END`, which the kernel allows only to a host
//! holding CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN. With a memfd, the host
//! creates the memory object first; the victim opens it through
//! `/proc/HOST/fd/N`, maps it and closes that fd again within the same
//! code-trampoline window, so no fd of compel's is left in the victim.

use std::ffi::CString;
use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::OnceLock;

use arch::x86_64::nr;
use arch::x86_64::trampoline::SYSCALL_INT3;
use nix::errno::Errno;
use nix::unistd::Pid;

use super::escape::Escape;
use super::shared;
use super::victim::Victim;
use super::InfectError;
use crate::ptrace::Tracee;
use crate::remote::{check_result, RemoteError};
use crate::restart;

/// Every signal blocked (the kernel still lets SIGKILL and SIGSTOP through).
const ALL_SIGNALS: u64 = u64::MAX;

/// `MFD_EXEC` (Linux 6.3): the memfd may be mapped executable even where
/// `vm.memfd_noexec` would seal it otherwise.
const MFD_EXEC: libc::c_uint = 0x10;

/// The bytes a code trampoline takes before the path it carries.
const CODE_SLOT: usize = 8;

const PAGE_SIZE: u64 = 4096;

/// How the host gets its view of the shared area.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AreaSharing {
    /// [`AreaSharing::MapFiles`] if the host may open map_files entries,
    /// [`AreaSharing::Memfd`] otherwise (probed once per host process).
    #[default]
    Auto,
    /// The victim maps `MAP_SHARED | MAP_ANONYMOUS` memory, the host opens
    /// `/proc/PID/map_files/START-END`: one remote syscall, but the host
    /// needs CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN.
    MapFiles,
    /// The host creates a memfd; the victim runs `open("/proc/HOST/fd/N")`,
    /// `mmap(MAP_SHARED)` and `close`. Needs no capability, but the victim
    /// must be allowed to read the host's fd links (the kernel's ptrace
    /// read check: same user, host dumpable and holding no capability the
    /// victim lacks) and must see the host's `/proc` at the same pid (same
    /// pid namespace and root).
    Memfd,
}

impl AreaSharing {
    /// The way actually taken: `Auto` resolved by the probe.
    pub fn resolve(self) -> AreaSharing {
        static MAP_FILES_OPEN: OnceLock<bool> = OnceLock::new();
        match self {
            AreaSharing::Auto if *MAP_FILES_OPEN.get_or_init(shared::host_may_open_map_files) => {
                AreaSharing::MapFiles
            }
            AreaSharing::Auto => AreaSharing::Memfd,
            chosen => chosen,
        }
    }
}

/// The memory object behind the area, as the host holds it before the
/// victim maps it.
#[derive(Debug)]
pub(super) enum Backing {
    /// Anonymous shared memory the victim creates; the host finds it in
    /// map_files.
    Anonymous,
    /// The host's memfd, of the area's size.
    Memfd(OwnedFd),
}

impl Backing {
    /// Creates the memfd for [`AreaSharing::Memfd`]; nothing for map_files.
    pub(super) fn create(pid: Pid, sharing: AreaSharing, size: usize) -> Result<Self, InfectError> {
        if sharing.resolve() == AreaSharing::MapFiles {
            return Ok(Backing::Anonymous);
        }
        let memfd = create_memfd().map_err(|errno| InfectError::Memfd { pid, errno })?;
        let length = libc::off_t::try_from(size).map_err(|_| InfectError::Memfd {
            pid,
            errno: Errno::EOVERFLOW,
        })?;
        nix::unistd::ftruncate(&memfd, length)
            .map_err(|errno| InfectError::Memfd { pid, errno })?;
        Ok(Backing::Memfd(memfd))
    }

    /// The NUL-terminated path by which the victim opens the memfd.
    fn victim_path(&self) -> Option<CString> {
        let Backing::Memfd(memfd) = self else {
            return None;
        };
        let fd = std::os::fd::AsRawFd::as_raw_fd(memfd);
        let path = format!("/proc/{}/fd/{fd}", std::process::id());
        CString::new(path).ok()
    }
}

/// A memfd named for compel, executable where the kernel knows MFD_EXEC.
fn create_memfd() -> Result<OwnedFd, Errno> {
    let name = c"compel-area";
    for flags in [libc::MFD_CLOEXEC | MFD_EXEC, libc::MFD_CLOEXEC] {
        // SAFETY: `name` is a NUL-terminated string that outlives the call.
        let fd = unsafe { libc::memfd_create(name.as_ptr(), flags) };
        if fd >= 0 {
            // SAFETY: the kernel just returned this fd to us alone.
            return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
        }
        let errno = Errno::last();
        if errno != Errno::EINVAL {
            return Err(errno);
        }
    }
    Err(Errno::EINVAL)
}

/// Where the code trampoline (and the path after it) goes: at the leader's
/// rip rounded down, or lower in the same page if it would cross the page's
/// end. The page is executable and mapped since the leader runs there.
fn code_slot(rip: u64, len: usize) -> u64 {
    let at = rip & !7;
    let page_end = (rip & !(PAGE_SIZE - 1)) + PAGE_SIZE;
    at.min(page_end.saturating_sub(len as u64) & !7)
}

impl Victim {
    /// The first remote syscalls: mmap (or open, mmap, close of the host's
    /// memfd) through `syscall; int3` written over the leader's code, put
    /// back at once, then the leader's registers and mask too, so that a
    /// tracer dying from here on leaves the victim as it was.
    pub(super) fn map_area(&mut self, size: usize, backing: &Backing) -> Result<u64, InfectError> {
        let pid = self.pid();
        let path = backing.victim_path();
        let path_bytes = path
            .as_ref()
            .map_or(&[][..], |path| path.as_bytes_with_nul());
        // From the vDSO with a way back where possible, else over the leader's code.
        let escape = Escape::prepare(pid, self.leader(), path_bytes.len());
        let leader = self.leader_mut();
        let (at, mut code) = match &escape {
            Some(escape) => (escape.at, escape.code.to_vec()),
            None => {
                let mut code = SYSCALL_INT3.to_vec();
                code.resize(CODE_SLOT, 0xcc);
                (
                    code_slot(leader.regs.rip, CODE_SLOT + path_bytes.len()),
                    code,
                )
            }
        };
        let path_at = at + code.len() as u64;
        code.extend_from_slice(path_bytes);
        log::debug!(
            "pid {pid}: first syscalls at {at:#x} ({})",
            if escape.is_some() {
                "vDSO, with a way back"
            } else {
                "over the code"
            }
        );

        let ptrace = |source| InfectError::ptrace(pid, source);
        leader.tracee.set_sigmask(ALL_SIGNALS).map_err(ptrace)?;
        let saved = leader.tracee.replace_bytes(at, &code).map_err(ptrace)?;
        let result = match path {
            None => map_anonymous(&mut leader.tracee, at, size),
            Some(_) => map_memfd(&mut leader.tracee, at, path_at, size),
        };
        let put_back = leader.tracee.replace_bytes(at, &saved);
        let mask_back = leader.tracee.set_sigmask(leader.sigmask);
        let resumable = restart::for_direct_resume(&leader.regs);
        let regs_back = leader.tracee.set_regs(&resumable);
        if let Some(escape) = escape {
            escape.put_back(pid);
        }

        let remote = result.map_err(|(step, source)| InfectError::remote(pid, step, source))?;
        put_back.map_err(ptrace)?;
        regs_back.map_err(ptrace)?;
        mask_back.map_err(ptrace)?;
        Ok(remote)
    }

    /// Cleanup when the area could not be shared: unmap it in the victim with
    /// the code trampoline once more (best effort, logged).
    pub(super) fn unmap_with_code_trampoline(&mut self, remote: u64, size: usize) {
        let leader = self.leader_mut();
        let at = leader.regs.rip & !7;
        let Ok(code) = leader.tracee.replace_bytes(at, &SYSCALL_INT3) else {
            return;
        };
        let args = [remote, size as u64, 0, 0, 0, 0];
        let result = leader.tracee.syscall_checked(at, nr::MUNMAP as i64, args);
        if let Err(error) = leader.tracee.replace_bytes(at, &code) {
            log::warn!("cannot put back the code at {at:#x}: {error}");
        }
        if let Err(error) = result {
            log::warn!("cannot unmap the area at {remote:#x}: {error}");
        }
    }
}

type StepError = (&'static str, RemoteError);

fn map_anonymous(tracee: &mut Tracee, at: u64, size: usize) -> Result<u64, StepError> {
    let prot = (libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC) as u64;
    let flags = (libc::MAP_SHARED | libc::MAP_ANONYMOUS) as u64;
    let args = [0, size as u64, prot, flags, u64::MAX, 0];
    let step = "mapping the area";
    let result = tracee
        .syscall(at, nr::MMAP as i64, args)
        .map_err(|source| (step, source))?;
    check_result(tracee.tid(), nr::MMAP as i64, result).map_err(|source| (step, source))
}

/// open, mmap and close in the victim; on failure nothing of them is left.
fn map_memfd(tracee: &mut Tracee, at: u64, path: u64, size: usize) -> Result<u64, StepError> {
    let open_flags = (libc::O_RDWR | libc::O_CLOEXEC) as u64;
    let fd = tracee
        .syscall_checked(at, nr::OPEN as i64, [path, open_flags, 0, 0, 0, 0])
        .map_err(|source| ("opening the host's memfd", source))?;

    let prot = (libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC) as u64;
    let flags = libc::MAP_SHARED as u64;
    let args = [0, size as u64, prot, flags, fd, 0];
    let mapped = tracee.syscall_checked(at, nr::MMAP as i64, args);
    let closed = tracee.syscall_checked(at, nr::CLOSE as i64, [fd, 0, 0, 0, 0, 0]);
    let remote = mapped.map_err(|source| ("mapping the host's memfd", source))?;
    if let Err(source) = closed {
        let unmapped =
            tracee.syscall_checked(at, nr::MUNMAP as i64, [remote, size as u64, 0, 0, 0, 0]);
        if let Err(error) = unmapped {
            log::warn!("cannot unmap the area at {remote:#x}: {error}");
        }
        return Err(("closing the memfd's fd", source));
    }
    Ok(remote)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_code_slot_stays_in_the_leaders_page() {
        assert_eq!(code_slot(0x1003, 40), 0x1000);
        assert_eq!(code_slot(0x1ff9, 3), 0x1ff8);
        assert_eq!(code_slot(0x1ff9, 40), 0x1fd8);
        let at = code_slot(0x1ffe, 48);
        assert!(at >= 0x1000 && at + 48 <= 0x2000 && at.is_multiple_of(8));
    }
}
