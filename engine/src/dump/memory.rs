//! Memory: the areas of the address space and which of their pages to save.

use nix::unistd::Pid;

use crate::proc::maps::{maps, Prot, Vma, VmaKind};
use crate::proc::pagemap::{Pagemap, StorePolicy};
use crate::proc::smaps::VmFlags;
use crate::proc::stat::Stat;
use crate::snapshot::{MmFields, PageRun, VmaBacking, VmaSnapshot};

use super::files::FileTable;
use super::DumpError;

/// madvise(2) advice values kept as bits of [`VmaSnapshot::madvise`].
const MADV_DONTFORK: u32 = 10;
const MADV_MERGEABLE: u32 = 12;
const MADV_HUGEPAGE: u32 = 14;
const MADV_NOHUGEPAGE: u32 = 15;
const MADV_DONTDUMP: u32 = 16;
const MADV_WIPEONFORK: u32 = 18;

/// The areas of `pid` (but compel's own, at `compel_area`) as snapshot areas, and the /proc view of each (for
/// the page walk), registering mapped files in `table`.
pub fn collect_areas(
    pid: Pid,
    table: &mut FileTable,
    compel_area: (u64, usize),
) -> Result<Vec<(Vma, VmaSnapshot)>, DumpError> {
    let (area_start, area_len) = compel_area;
    let mut areas = Vec::new();
    for vma in maps(pid)? {
        // compel's own shared area, mapped for the dump: not the process's.
        if vma.start == area_start && vma.len() == area_len as u64 {
            continue;
        }
        if let Some(area) = to_snapshot(pid, &vma, table)? {
            areas.push((vma, area));
        }
    }
    Ok(areas)
}

fn to_snapshot(
    pid: Pid,
    vma: &Vma,
    table: &mut FileTable,
) -> Result<Option<VmaSnapshot>, DumpError> {
    let sharing = if vma.shared {
        libc::MAP_SHARED
    } else {
        libc::MAP_PRIVATE
    } as u32;
    let anonymous = sharing | libc::MAP_ANONYMOUS as u32;
    let (backing, flags) = match &vma.kind {
        VmaKind::Anonymous | VmaKind::SharedAnonymous => (VmaBacking::Anonymous, anonymous),
        VmaKind::Heap => (VmaBacking::Heap, anonymous),
        VmaKind::Stack => (VmaBacking::Stack, anonymous),
        VmaKind::Vdso => (VmaBacking::Vdso, sharing),
        VmaKind::Vvar => (VmaBacking::Vvar, sharing),
        VmaKind::VvarVclock => (VmaBacking::VvarVclock, sharing),
        VmaKind::Vsyscall => (VmaBacking::Vsyscall, sharing),
        VmaKind::File { path, deleted } => {
            let writable = vma.shared && vma.flags.contains(VmFlags::MAYWRITE);
            let open_flags = if writable {
                libc::O_RDWR
            } else {
                libc::O_RDONLY
            } as u32;
            let file_id = match deleted {
                false => table.by_path(path, open_flags)?,
                true => super::invisible::ghost_mapping(table, pid, vma, path, open_flags)?,
            };
            (VmaBacking::File { file_id }, sharing)
        }
        VmaKind::Memfd { name } => {
            let writable = vma.shared && vma.flags.contains(VmFlags::MAYWRITE);
            let open_flags = if writable {
                libc::O_RDWR
            } else {
                libc::O_RDONLY
            } as u32;
            let file_id = super::invisible::memfd_mapping(table, pid, vma, name, open_flags)?;
            (VmaBacking::File { file_id }, sharing)
        }
        VmaKind::SysvShm { .. } => {
            let shmid = i32::try_from(vma.inode).map_err(|_| DumpError::Unsupported {
                pid: pid.as_raw(),
                what: format!(
                    "{:#x}-{:#x} (SysV shm id {})",
                    vma.start, vma.end, vma.inode
                ),
            })?;
            (VmaBacking::SysvShm { shmid }, sharing)
        }
        VmaKind::Uprobes => return Ok(None),
        other => {
            let what = format!("{:#x}-{:#x} ({other:?})", vma.start, vma.end);
            return Err(DumpError::Unsupported {
                pid: pid.as_raw(),
                what,
            });
        }
    };
    // mmap flags the area was made with, as far as the kernel shows them.
    let extra = [
        (VmFlags::GROWSDOWN, libc::MAP_GROWSDOWN),
        (VmFlags::LOCKED, libc::MAP_LOCKED),
    ]
    .into_iter()
    .filter(|(flag, _)| vma.flags.contains(*flag))
    .fold(0, |bits, (_, map)| bits | map as u32);
    Ok(Some(VmaSnapshot {
        start: vma.start,
        end: vma.end,
        prot: prot_bits(vma.prot),
        flags: flags | extra,
        pgoff: vma.offset / crate::snapshot::PAGE_SIZE,
        backing,
        madvise: advice(vma.flags),
        shmem_id: match vma.kind {
            VmaKind::SharedAnonymous => vma.inode,
            _ => 0,
        },
    }))
}

fn prot_bits(prot: Prot) -> u32 {
    let mut bits = 0;
    for (flag, value) in [
        (Prot::READ, libc::PROT_READ),
        (Prot::WRITE, libc::PROT_WRITE),
        (Prot::EXEC, libc::PROT_EXEC),
    ] {
        if prot.contains(flag) {
            bits |= value as u32;
        }
    }
    bits
}

fn advice(flags: VmFlags) -> u64 {
    [
        (VmFlags::DONTCOPY, MADV_DONTFORK),
        (VmFlags::MERGEABLE, MADV_MERGEABLE),
        (VmFlags::HUGEPAGE, MADV_HUGEPAGE),
        (VmFlags::NOHUGEPAGE, MADV_NOHUGEPAGE),
        (VmFlags::DONTDUMP, MADV_DONTDUMP),
        (VmFlags::WIPEONFORK, MADV_WIPEONFORK),
    ]
    .into_iter()
    .filter(|(flag, _)| flags.contains(*flag))
    .fold(0, |bits, (_, advice)| bits | 1 << advice)
}

/// The mm fields prctl(PR_SET_MM_MAP) will put back, from /proc/PID/stat and
/// the program break the process reported.
pub fn mm_fields(stat: &Stat, brk: u64) -> MmFields {
    MmFields {
        start_code: stat.start_code,
        end_code: stat.end_code,
        start_data: stat.start_data,
        end_data: stat.end_data,
        start_brk: stat.start_brk,
        brk,
        start_stack: stat.start_stack,
        arg_start: stat.arg_start,
        arg_end: stat.arg_end,
        env_start: stat.env_start,
        env_end: stat.env_end,
    }
}

/// Shared anonymous objects whose pages an earlier process of the tree saved, by shmem id,
/// with the part of the object (first page, pages) that process maps.
pub type SavedShmem = std::collections::HashMap<u64, (u64, u64)>;

/// The runs of pages to save, in address order: populated anonymous pages
/// that are not the zero page, and copied-on-write pages of private file
/// mappings. A shared anonymous object's pages are saved once in a tree, by
/// the first process met that maps it; the others must map the same part.
pub fn page_runs(
    pid: Pid,
    areas: &[(Vma, VmaSnapshot)],
    saved_shmem: &mut SavedShmem,
) -> Result<Vec<PageRun>, DumpError> {
    let zero_pfn = crate::proc::pagemap::zero_page_pfn()?;
    let mut pagemap = Pagemap::open(pid)?;
    let mut runs: Vec<PageRun> = Vec::new();
    for (vma, area) in areas {
        if !area.holds_saved_pages() {
            continue;
        }
        if area.is_shared() && area.backing == VmaBacking::Anonymous {
            let part = (area.pgoff, area.len() / crate::snapshot::PAGE_SIZE);
            match saved_shmem.insert(area.shmem_id, part) {
                Some(saved) if saved == part => continue,
                Some(_) => {
                    let what = format!(
                        "{:#x}-{:#x} maps another part of a shared anonymous object than \
                         another process of the tree does",
                        area.start, area.end
                    );
                    return Err(DumpError::Unsupported {
                        pid: pid.as_raw(),
                        what,
                    });
                }
                None => {}
            }
            for run in shmem_runs(pid, vma)? {
                push_run(&mut runs, run);
            }
            continue;
        }
        for run in pagemap.runs(vma, StorePolicy::for_vma(vma), zero_pfn) {
            let run = run?;
            push_run(
                &mut runs,
                PageRun {
                    addr: run.start,
                    pages: run.pages,
                },
            );
        }
    }
    Ok(runs)
}

fn push_run(runs: &mut Vec<PageRun>, run: PageRun) {
    match runs.last_mut() {
        Some(last) if last.end() == run.addr => last.pages += run.pages,
        _ => runs.push(run),
    }
}

/// The pages of a shared anonymous area that hold data. They live in a
/// shmem object, where a page may be missing from the process's page tables
/// yet hold data (after MADV_DONTNEED, or reclaim), so pagemap cannot tell:
/// the object itself is asked, through /proc/PID/map_files, with
/// SEEK_DATA/SEEK_HOLE. Draining such a page through the process's mapping
/// faults it back in.
fn shmem_runs(pid: Pid, vma: &Vma) -> Result<Vec<PageRun>, DumpError> {
    use nix::unistd::{lseek, Whence};
    let path = vma.map_files_path(pid);
    let stat_error = |source| DumpError::Stat {
        path: path.display().to_string(),
        source,
    };
    let file = std::fs::File::open(&path).map_err(stat_error)?;
    let fd = std::os::fd::AsRawFd::as_raw_fd(&file);
    let seek = |offset: u64, whence| lseek(fd, offset as i64, whence).map(|at| at as u64);
    let page = crate::snapshot::PAGE_SIZE;
    let (first, last) = (vma.offset, vma.offset + vma.len());
    let mut runs = Vec::new();
    let mut at = first;
    while at < last {
        let data = match seek(at, Whence::SeekData) {
            Ok(data) if data < last => data,
            Ok(_) | Err(nix::errno::Errno::ENXIO) => break,
            Err(errno) => return Err(stat_error(errno.into())),
        };
        let hole = seek(data, Whence::SeekHole).map_err(|errno| stat_error(errno.into()))?;
        let (start, end) = (data / page * page, hole.min(last).div_ceil(page) * page);
        runs.push(PageRun {
            addr: vma.start + (start - first),
            pages: (end - start) / page,
        });
        at = end;
    }
    Ok(runs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advice_keeps_each_flag_as_its_madvise_bit() {
        let bits = advice(VmFlags::DONTDUMP | VmFlags::DONTCOPY);
        assert_eq!(bits, 1 << MADV_DONTDUMP | 1 << MADV_DONTFORK);
    }

    #[test]
    fn prot_bits_follow_mmap() {
        assert_eq!(
            prot_bits(Prot::READ | Prot::EXEC),
            (libc::PROT_READ | libc::PROT_EXEC) as u32
        );
    }
}
