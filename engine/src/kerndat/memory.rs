//! Memory features: reading and rebuilding a task's address space.

use std::fs::{self, File, OpenOptions};
use std::hint::black_box;
use std::io::{IoSlice, Write};
use std::os::unix::fs::FileExt;

use nix::fcntl::{vmsplice as vmsplice_call, SpliceFFlags};
use nix::sys::memfd::{memfd_create as memfd_create_call, MemFdCreateFlag};
use nix::unistd::{pipe, sysconf, SysconfVar};

use super::{file_error, last_syscall_error, owned_fd, KerndatError};

const MAP_FILES: &str = "/proc/self/map_files";
const CLEAR_REFS: &str = "/proc/self/clear_refs";
const PAGEMAP: &str = "/proc/self/pagemap";

/// Value written to clear_refs to clear the soft-dirty bits (proc(5)).
const CLEAR_REFS_SOFT_DIRTY: &[u8] = b"4";

/// Bit of a pagemap entry set when the page was written since the last clear.
const PM_SOFT_DIRTY_BIT: u32 = 55;

/// Size of a pagemap entry.
const PAGEMAP_ENTRY_SIZE: u64 = 8;

pub(super) fn map_files() -> Result<(), KerndatError> {
    let mut entries = fs::read_dir(MAP_FILES).map_err(file_error(MAP_FILES))?;
    let entry = entries
        .next()
        .ok_or(KerndatError::MapFilesEmpty)?
        .map_err(file_error(MAP_FILES))?;
    let path = entry.path();
    File::open(&path).map_err(|source| KerndatError::File { path, source })?;
    Ok(())
}

pub(super) fn memfd_create() -> Result<(), KerndatError> {
    memfd_create_call(c"crust-kerndat", MemFdCreateFlag::MFD_CLOEXEC)
        .map(drop)
        .map_err(|errno| KerndatError::Syscall {
            call: "memfd_create",
            errno,
        })
}

pub(super) fn userfaultfd() -> Result<(), KerndatError> {
    let flags = libc::O_CLOEXEC | libc::O_NONBLOCK;
    // SAFETY: userfaultfd takes flags and returns a new descriptor; it touches no memory.
    let ret = unsafe { libc::syscall(libc::SYS_userfaultfd, flags) };
    owned_fd(ret, "userfaultfd").map(drop)
}

pub(super) fn vmsplice() -> Result<(), KerndatError> {
    let page = vec![0x5a_u8; page_size()];
    let (_read_end, write_end) = pipe().map_err(|errno| KerndatError::Syscall {
        call: "pipe",
        errno,
    })?;
    vmsplice_call(&write_end, &[IoSlice::new(&page)], SpliceFFlags::empty())
        .map(drop)
        .map_err(|errno| KerndatError::Syscall {
            call: "vmsplice",
            errno,
        })
}

pub(super) fn prctl_set_mm_map() -> Result<(), KerndatError> {
    let mut size: libc::c_uint = 0;
    // SAFETY: PR_SET_MM_MAP_SIZE stores one unsigned int at the address given, `size`.
    let ret = unsafe {
        libc::prctl(
            libc::PR_SET_MM,
            libc::PR_SET_MM_MAP_SIZE,
            &mut size as *mut libc::c_uint,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    };
    if ret == 0 {
        return Ok(());
    }
    // Without CONFIG_CHECKPOINT_RESTORE the kernel refuses the option itself.
    match last_syscall_error("prctl(PR_SET_MM, PR_SET_MM_MAP_SIZE)") {
        KerndatError::Syscall {
            call,
            errno: errno @ nix::errno::Errno::EINVAL,
        } => Err(KerndatError::NotImplemented { call, errno }),
        error => Err(error),
    }
}

pub(super) fn soft_dirty() -> Result<(), KerndatError> {
    let mut clear_refs = OpenOptions::new()
        .write(true)
        .open(CLEAR_REFS)
        .map_err(file_error(CLEAR_REFS))?;
    clear_refs
        .write_all(CLEAR_REFS_SOFT_DIRTY)
        .map_err(file_error(CLEAR_REFS))?;

    let mut page = vec![0_u8; page_size()];
    page[0] = 1;
    let address = black_box(&page).as_ptr() as usize & !(page_size() - 1);

    let pagemap = File::open(PAGEMAP).map_err(file_error(PAGEMAP))?;
    let mut entry = [0_u8; 8];
    let offset = (address / page_size()) as u64 * PAGEMAP_ENTRY_SIZE;
    pagemap
        .read_exact_at(&mut entry, offset)
        .map_err(file_error(PAGEMAP))?;
    if is_soft_dirty(u64::from_ne_bytes(entry)) {
        Ok(())
    } else {
        Err(KerndatError::SoftDirtyNotSet { address })
    }
}

fn is_soft_dirty(pagemap_entry: u64) -> bool {
    pagemap_entry >> PM_SOFT_DIRTY_BIT & 1 == 1
}

fn page_size() -> usize {
    sysconf(SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .and_then(|size| usize::try_from(size).ok())
        .unwrap_or(4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn soft_dirty_is_bit_55_of_a_pagemap_entry() {
        assert!(is_soft_dirty(1 << 55));
        assert!(is_soft_dirty(u64::MAX));
        assert!(!is_soft_dirty(!(1 << 55)));
    }
}
