//! Rebuilding the address space inside the restored task.

use crate::snapshot::{MemorySnapshot, VmaBacking, VmaSnapshot, PAGE_SIZE, TASK_SIZE};

use super::remote::{RemoteThread, Scratch, SCRATCH_SIZE};
use super::{RestoreError, TRAMPOLINE};

const ARCH_MAP_VDSO_64: u64 = 0x2003;
/// The most read(2) moves in one call (MAX_RW_COUNT).
const MAX_READ: u64 = 0x7fff_f000;
const MADV_POPULATE_WRITE: u64 = 23;

/// Picks an address for the scratch area: free in the process being restored
/// and in the task as it is now (`current`: its areas as start, end pairs).
pub fn choose_scratch(target: &MemorySnapshot, current: &[(u64, u64)]) -> Option<u64> {
    let busy = |start: u64| {
        let end = start + SCRATCH_SIZE;
        let overlaps = |(s, e): (u64, u64)| s < end && start < e;
        target.vmas.iter().any(|v| overlaps((v.start, v.end)))
            || current.iter().copied().any(overlaps)
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

/// Maps every area of the process at its address. `file_fd` gives the fd
/// (valid in the task) of a mapped file. Areas that will receive saved pages
/// are mapped writable for now; [`seal_areas`] puts the real protection back.
pub fn map_areas(
    thread: &mut RemoteThread,
    memory: &MemorySnapshot,
    file_fd: &dyn Fn(u32) -> Option<i32>,
    pid: i32,
) -> Result<(), RestoreError> {
    for vma in memory.vmas.iter().filter(|v| !v.is_kernel_special()) {
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

fn loading_prot(vma: &VmaSnapshot) -> u32 {
    if vma.holds_saved_pages() {
        vma.prot | libc::PROT_WRITE as u32
    } else {
        vma.prot
    }
}

/// Reads the saved pages from the pages image (`pages_fd`, valid in the
/// task) straight to their addresses: one pread(2) per run, no copy in crust.
pub fn fill_pages(
    thread: &mut RemoteThread,
    memory: &MemorySnapshot,
    pages_fd: i32,
) -> Result<(), RestoreError> {
    let mut offset = 0u64;
    for run in &memory.pages {
        let mut done = 0;
        let len = run.pages * PAGE_SIZE;
        // Fault the whole run in at once: far cheaper than one fault per
        // page taken inside pread's copy. Best effort: a kernel without
        // MADV_POPULATE_WRITE (5.14) just faults while reading.
        let populate = [run.addr, len, MADV_POPULATE_WRITE, 0, 0, 0];
        let _ = thread.call_raw("prefault saved pages", libc::SYS_madvise, populate)?;
        while done < len {
            let chunk = (len - done).min(MAX_READ);
            let args = [pages_fd as u64, run.addr + done, chunk, offset + done, 0, 0];
            let got = thread.call("read saved pages into place", libc::SYS_pread64, args)?;
            if got == 0 {
                return Err(RestoreError::PagesTruncated {
                    addr: run.addr + done,
                    offset: offset + done,
                });
            }
            done += got;
        }
        offset += len;
    }
    Ok(())
}

/// Puts back each area's protection and madvise advice.
pub fn seal_areas(thread: &mut RemoteThread, memory: &MemorySnapshot) -> Result<(), RestoreError> {
    for vma in memory.vmas.iter().filter(|v| !v.is_kernel_special()) {
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
            choose_scratch(&memory, &current),
            Some(top - 2 * SCRATCH_SIZE)
        );
    }

    #[test]
    fn advice_bits_lists_each_set_bit() {
        let advice: Vec<u64> = advice_bits((1 << 16) | (1 << 10)).collect();
        assert_eq!(advice, vec![10, 16]);
    }
}
