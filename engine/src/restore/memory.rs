//! Rebuilding the address space inside the restored task.

use crate::snapshot::{MemorySnapshot, VmaBacking, VmaSnapshot, PAGE_SIZE, TASK_SIZE};

use super::remote::{RemoteThread, Scratch, SCRATCH_SIZE};
use super::{RestoreError, TRAMPOLINE};

const ARCH_MAP_VDSO_64: u64 = 0x2003;
/// The most read(2) moves in one call (MAX_RW_COUNT).
const MAX_READ: u64 = 0x7fff_f000;
const MADV_POPULATE_WRITE: u64 = 23;

/// Picks an address for the scratch area: free in every process being
/// restored (`targets`) and in the task as it is now (`current`: its areas as
/// start, end pairs). Children inherit it from their parent at the same
/// address.
pub fn choose_scratch<'a>(
    targets: impl Iterator<Item = &'a MemorySnapshot> + Clone,
    current: &[(u64, u64)],
) -> Option<u64> {
    let busy = |start: u64| {
        let end = start + SCRATCH_SIZE;
        let overlaps = |(s, e): (u64, u64)| s < end && start < e;
        let mut areas = targets.clone().flat_map(|m| &m.vmas);
        areas.any(|v| overlaps((v.start, v.end))) || current.iter().copied().any(overlaps)
    };
    // Search downwards from just under the top of the address space, stepping
    // below whatever is in the way, so the area ends up in a large hole.
    let mut candidate = TASK_SIZE - 16 * SCRATCH_SIZE;
    while candidate >= 0x1_0000_0000 {
        if !busy(candidate) {
            return Some(candidate);
        }
        candidate -= SCRATCH_SIZE;
    }
    None
}

/// Maps the scratch area and leaves `thread` running syscalls from it; then
/// removes every other mapping the task inherited from crust.
pub fn clear_address_space(
    thread: &mut RemoteThread,
    scratch: &Scratch,
) -> Result<(), RestoreError> {
    let prot = (libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC) as u64;
    let flags = (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE) as u64;
    let at = thread.call(
        "map the scratch area",
        libc::SYS_mmap,
        [scratch.base, SCRATCH_SIZE, prot, flags, u64::MAX, 0],
    )?;
    if at != scratch.base {
        return Err(RestoreError::ScratchMisplaced {
            pid: scratch.pid.as_raw(),
            wanted: scratch.base,
            got: at,
        });
    }
    super::remote::write_memory(scratch.pid, scratch.base, &TRAMPOLINE)?;
    thread.trampoline = scratch.trampoline();

    let above = scratch.base + SCRATCH_SIZE;
    thread.call(
        "unmap crust below the scratch area",
        libc::SYS_munmap,
        [0, scratch.base, 0, 0, 0, 0],
    )?;
    thread.call(
        "unmap crust above the scratch area",
        libc::SYS_munmap,
        [above, TASK_SIZE - above, 0, 0, 0, 0],
    )?;
    Ok(())
}

/// Maps the vdso where the process had it. The kernel places vvar, the clock
/// pages and the vdso together from the given address, so the dumped layout
/// must match this kernel's.
pub fn map_vdso(
    thread: &mut RemoteThread,
    memory: &MemorySnapshot,
    pid: i32,
) -> Result<(), RestoreError> {
    let special = |kind: &VmaBacking| memory.vmas.iter().find(|v| &v.backing == kind);
    let Some(first) = special(&VmaBacking::Vvar).or(special(&VmaBacking::Vdso)) else {
        log::debug!("pid {pid}: the process had no vdso; none is mapped");
        return Ok(());
    };
    let dumped: Vec<(VmaBacking, u64)> = memory
        .vmas
        .iter()
        .filter(|v| {
            matches!(
                v.backing,
                VmaBacking::Vvar | VmaBacking::VvarVclock | VmaBacking::Vdso
            )
        })
        .map(|v| (v.backing.clone(), v.len()))
        .collect();
    let ours = own_vdso_layout()?;
    if dumped != ours {
        return Err(RestoreError::VdsoMismatch {
            pid,
            dumped: format!("{dumped:?}"),
            ours: format!("{ours:?}"),
        });
    }
    thread.call(
        "map the vdso",
        libc::SYS_arch_prctl,
        [ARCH_MAP_VDSO_64, first.start, 0, 0, 0, 0],
    )?;
    Ok(())
}

/// This kernel's vvar/vdso areas, in order, with their sizes, read from crust's own maps.
fn own_vdso_layout() -> Result<Vec<(VmaBacking, u64)>, RestoreError> {
    let maps =
        std::fs::read_to_string("/proc/self/maps").map_err(|source| RestoreError::ReadProc {
            path: "/proc/self/maps".into(),
            source,
        })?;
    let mut layout = Vec::new();
    for line in maps.lines() {
        let kind = match line.split_whitespace().nth(5) {
            Some("[vvar]") => VmaBacking::Vvar,
            Some("[vvar_vclock]") => VmaBacking::VvarVclock,
            Some("[vdso]") => VmaBacking::Vdso,
            _ => continue,
        };
        let range = line.split_whitespace().next().unwrap_or_default();
        let (start, end) = range.split_once('-').unwrap_or_default();
        let parse = |s| u64::from_str_radix(s, 16).unwrap_or(0);
        layout.push((kind, parse(end).saturating_sub(parse(start))));
    }
    Ok(layout)
}

/// Shared anonymous objects already made in the tree, by shmem id: the
/// process holding one and the area (start, end, first page of the object).
pub type SharedObjects = std::collections::HashMap<u64, (i32, u64, u64, u64)>;

/// Maps every area of the process at its address but those `skip` says are
/// in place already. `file_fd` gives the fd (valid in the task) of a mapped
/// file. Areas that will receive saved pages are mapped writable for now;
/// [`seal_areas`] puts the real protection back. A shared anonymous object
/// another process of the tree made already (`shared`) is mapped from it
/// through /proc/PID/map_files: one object, as it was.
pub fn map_areas(
    thread: &mut RemoteThread,
    scratch: &Scratch,
    memory: &MemorySnapshot,
    file_fd: &dyn Fn(u32) -> Option<i32>,
    skip: &dyn Fn(&VmaSnapshot) -> bool,
    shared: &mut SharedObjects,
) -> Result<(), RestoreError> {
    let pid = scratch.pid.as_raw();
    let areas = memory
        .vmas
        .iter()
        .filter(|v| !v.is_kernel_special() && !skip(v));
    for vma in areas {
        if let VmaBacking::SysvShm { shmid } = vma.backing {
            attach_segment(thread, pid, vma, shmid)?;
            continue;
        }
        if vma.shmem_id != 0 {
            map_shared_object(thread, scratch, vma, shared)?;
            continue;
        }
        let (fd, extra_flags) = match vma.backing {
            VmaBacking::File { file_id } => {
                let fd = file_fd(file_id).ok_or(RestoreError::MissingMappedFile {
                    pid,
                    start: vma.start,
                    file_id,
                })?;
                (fd as u64, 0)
            }
            _ => (u64::MAX, libc::MAP_ANONYMOUS as u64),
        };
        let prot = u64::from(loading_prot(vma));
        let flags = u64::from(vma.flags) | extra_flags | libc::MAP_FIXED_NOREPLACE as u64;
        let offset = vma.pgoff * PAGE_SIZE;
        let at = thread.call(
            "map a memory area",
            libc::SYS_mmap,
            [vma.start, vma.len(), prot, flags, fd, offset],
        )?;
        if at != vma.start {
            return Err(RestoreError::AreaMisplaced {
                pid,
                start: vma.start,
                got: at,
            });
        }
    }
    Ok(())
}

/// Maps a shared anonymous area: a new object the first time its id is met
/// in the tree, the same object (opened through map_files of the process
/// holding it) every other time.
fn map_shared_object(
    thread: &mut RemoteThread,
    scratch: &Scratch,
    vma: &VmaSnapshot,
    shared: &mut SharedObjects,
) -> Result<(), RestoreError> {
    let pid = scratch.pid.as_raw();
    let prot = u64::from(loading_prot(vma));
    let flags = u64::from(vma.flags) | libc::MAP_FIXED_NOREPLACE as u64;
    let at = match shared.get(&vma.shmem_id) {
        None => {
            let args = [vma.start, vma.len(), prot, flags, u64::MAX, 0];
            let at = thread.call("map shared memory", libc::SYS_mmap, args)?;
            shared.insert(vma.shmem_id, (pid, vma.start, vma.end, vma.pgoff));
            at
        }
        Some(&(holder, start, end, pgoff)) => {
            let path = format!("/proc/{holder}/map_files/{start:x}-{end:x}\0");
            let path_addr = scratch.put(0, path.as_bytes())?;
            let open_flags = (libc::O_RDWR | libc::O_CLOEXEC) as u64;
            let args = [libc::AT_FDCWD as u64, path_addr, open_flags, 0, 0, 0];
            let fd = thread.call(
                "open shared memory of another process",
                libc::SYS_openat,
                args,
            )?;
            let offset = vma.pgoff.saturating_sub(pgoff) * PAGE_SIZE;
            let flags = flags & !(libc::MAP_ANONYMOUS as u64);
            let args = [vma.start, vma.len(), prot, flags, fd, offset];
            let mapped = thread.call("map shared memory of another process", libc::SYS_mmap, args);
            thread.call("close shared memory", libc::SYS_close, [fd, 0, 0, 0, 0, 0])?;
            mapped?
        }
    };
    if at != vma.start {
        return Err(RestoreError::AreaMisplaced {
            pid,
            start: vma.start,
            got: at,
        });
    }
    Ok(())
}

/// Attaches SysV segment `shmid` (made again in the tree's IPC namespace) where `vma` was,
/// with its protection: read-only unless writable, executable if it was.
fn attach_segment(
    thread: &mut RemoteThread,
    pid: i32,
    vma: &VmaSnapshot,
    shmid: i32,
) -> Result<(), RestoreError> {
    let mut flags = 0;
    if vma.prot & libc::PROT_WRITE as u32 == 0 {
        flags |= libc::SHM_RDONLY;
    }
    if vma.prot & libc::PROT_EXEC as u32 != 0 {
        flags |= libc::SHM_EXEC;
    }
    // The tree's validation found the segment; were the id negative, shmat says EINVAL.
    let id = u64::try_from(shmid).unwrap_or(u64::MAX);
    let args = [id, vma.start, flags.unsigned_abs().into(), 0, 0, 0];
    let at = thread.call("attach a SysV shm segment", libc::SYS_shmat, args)?;
    if at != vma.start {
        return Err(RestoreError::AreaMisplaced {
            pid,
            start: vma.start,
            got: at,
        });
    }
    Ok(())
}

fn loading_prot(vma: &VmaSnapshot) -> u32 {
    if vma.holds_saved_pages() {
        vma.prot | libc::PROT_WRITE as u32
    } else {
        vma.prot
    }
}

/// A piece of saved pages: where they go, how many bytes, where they sit in the pages image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stored {
    /// First address.
    pub addr: u64,
    /// Length in bytes.
    pub len: u64,
    /// Offset in the pages image.
    pub offset: u64,
}

/// The saved pages of `memory` cut at its areas' bounds, each piece with its
/// area and its place in the pages image.
pub fn stored_pieces(memory: &MemorySnapshot) -> Vec<(&VmaSnapshot, Stored)> {
    let mut pieces = Vec::new();
    let mut offset = 0;
    for run in &memory.pages {
        for vma in memory
            .vmas
            .iter()
            .filter(|v| v.start < run.end() && run.addr < v.end)
        {
            let addr = run.addr.max(vma.start);
            let end = run.end().min(vma.end);
            let stored = Stored {
                addr,
                len: end - addr,
                offset: offset + (addr - run.addr),
            };
            pieces.push((vma, stored));
        }
        offset += run.pages * PAGE_SIZE;
    }
    pieces
}

/// Reads the saved pages from the pages image (`pages_fd`, valid in the
/// task) straight to their addresses, but those in areas `skip` names: one
/// pread(2) per piece, no copy in crust.
pub fn fill_pages(
    thread: &mut RemoteThread,
    memory: &MemorySnapshot,
    pages_fd: i32,
    skip: &dyn Fn(&VmaSnapshot) -> bool,
) -> Result<(), RestoreError> {
    for (vma, piece) in stored_pieces(memory) {
        if skip(vma) {
            continue;
        }
        let (run_addr, len, offset) = (piece.addr, piece.len, piece.offset);
        let mut done = 0;
        // Fault the whole run in at once: far cheaper than one fault per
        // page taken inside pread's copy. Best effort: a kernel without
        // MADV_POPULATE_WRITE (5.14) just faults while reading.
        let populate = [run_addr, len, MADV_POPULATE_WRITE, 0, 0, 0];
        let _ = thread.call_raw("prefault saved pages", libc::SYS_madvise, populate)?;
        while done < len {
            let chunk = (len - done).min(MAX_READ);
            let args = [pages_fd as u64, run_addr + done, chunk, offset + done, 0, 0];
            let got = thread.call("read saved pages into place", libc::SYS_pread64, args)?;
            if got == 0 {
                return Err(RestoreError::PagesTruncated {
                    addr: run_addr + done,
                    offset: offset + done,
                });
            }
            done += got;
        }
    }
    Ok(())
}

/// Puts back each area's protection and madvise advice, but in areas `skip` names.
pub fn seal_areas(
    thread: &mut RemoteThread,
    memory: &MemorySnapshot,
    skip: &dyn Fn(&VmaSnapshot) -> bool,
) -> Result<(), RestoreError> {
    for vma in memory
        .vmas
        .iter()
        .filter(|v| !v.is_kernel_special() && !skip(v))
    {
        if loading_prot(vma) != vma.prot {
            thread.call(
                "protect a memory area",
                libc::SYS_mprotect,
                [vma.start, vma.len(), vma.prot.into(), 0, 0, 0],
            )?;
        }
        for advice in advice_bits(vma.madvise) {
            thread.call(
                "advise a memory area",
                libc::SYS_madvise,
                [vma.start, vma.len(), advice, 0, 0, 0],
            )?;
        }
    }
    Ok(())
}

/// The madvise(2) advice values set in `bits` (bit n = advice n).
fn advice_bits(bits: u64) -> impl Iterator<Item = u64> {
    (0..64).filter(move |n| bits & (1 << n) != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn area(start: u64, end: u64) -> VmaSnapshot {
        VmaSnapshot {
            start,
            end,
            prot: 1,
            flags: 2,
            pgoff: 0,
            backing: VmaBacking::Anonymous,
            madvise: 0,
            shmem_id: 0,
        }
    }

    #[test]
    fn scratch_avoids_both_layouts() {
        let top = TASK_SIZE - 16 * SCRATCH_SIZE;
        let memory = MemorySnapshot {
            vmas: vec![area(top, top + SCRATCH_SIZE)],
            ..Default::default()
        };
        let current = [(top - SCRATCH_SIZE, top)];
        assert_eq!(
            choose_scratch([&memory].into_iter(), &current),
            Some(top - 2 * SCRATCH_SIZE)
        );
    }

    #[test]
    fn advice_bits_lists_each_set_bit() {
        let advice: Vec<u64> = advice_bits((1 << 16) | (1 << 10)).collect();
        assert_eq!(advice, vec![10, 16]);
    }
}
