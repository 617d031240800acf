//! `mm-PID.img` (mm fields, auxv, exe file, every vma with CRIU's status
//! bits) and the runs of `pagemap-PID.img`.

use std::path::{Path, PathBuf};

use super::error::{check_range, fit, narrow, CodecError};
use crate::images::mm::MmEntry;
use crate::images::pagemap::pagemap_flags::{PE_LAZY, PE_PARENT, PE_PRESENT};
use crate::images::vma::{vma_status as st, VmaEntry};
use crate::images::{ImageDir, ImageKind, ImageName};
use crate::snapshot::{
    MemorySnapshot, MmFields, PageRun, ProcessSnapshot, VmaBacking, VmaSnapshot,
};

/// Most auxv words crust reads (the kernel keeps well under 100).
const MAX_AUXV_WORDS: usize = 1024;

/// Status bits crust reads; any other bit is a kind of memory it does not
/// restore (SysV shm, packet rings, AIO rings, ...).
const KNOWN_STATUS: u32 = st::AREA_REGULAR
    | st::AREA_STACK
    | st::AREA_VSYSCALL
    | st::AREA_VDSO
    | st::AREA_HEAP
    | st::FILE_PRIVATE
    | st::FILE_SHARED
    | st::ANON_SHARED
    | st::ANON_PRIVATE
    | st::AREA_VVAR
    | st::AREA_MEMFD
    | st::AREA_SYSVIPC;

/// Bits that say which special area it is; at most one is set.
const SPECIAL_STATUS: u32 =
    st::AREA_STACK | st::AREA_VSYSCALL | st::AREA_VDSO | st::AREA_HEAP | st::AREA_VVAR;

/// Bits that say what backs the area; at most one is set.
const BACKING_STATUS: u32 = st::FILE_PRIVATE | st::FILE_SHARED | st::ANON_SHARED | st::ANON_PRIVATE;

/// `vma_entry.fd`: no fd at dump time (CRIU fills it in while restoring).
const NO_FD: i64 = -1;

/// Writes `mm-PID.img`.
pub(crate) fn write_mm(dir: &ImageDir, process: &ProcessSnapshot) -> Result<(), CodecError> {
    let pid = process.pid;
    let memory = &process.memory;
    let mm = &memory.mm;
    let memfd_ids: Vec<u32> = process
        .files
        .iter()
        .filter(|f| matches!(f, crate::snapshot::FileSnapshot::Memfd { .. }))
        .map(crate::snapshot::FileSnapshot::id)
        .collect();
    let entry = MmEntry {
        mm_start_code: mm.start_code,
        mm_end_code: mm.end_code,
        mm_start_data: mm.start_data,
        mm_end_data: mm.end_data,
        mm_start_stack: mm.start_stack,
        mm_start_brk: mm.start_brk,
        mm_brk: mm.brk,
        mm_arg_start: mm.arg_start,
        mm_arg_end: mm.arg_end,
        mm_env_start: mm.env_start,
        mm_env_end: mm.env_end,
        exe_file_id: memory.exe_file_id,
        mm_saved_auxv: memory.auxv.clone(),
        vmas: memory
            .vmas
            .iter()
            .map(|vma| vma_entry(vma, &memfd_ids))
            .collect(),
        dumpable: Some(fit(pid, "dumpable", process.dumpable)?),
        aios: Vec::new(),
        thp_disabled: None,
    };
    let pid = fit(pid, "pid", pid)?;
    dir.write_one(ImageName::with_id(ImageKind::Mm, pid), &entry)?;
    Ok(())
}

/// A vma's entry; a file id in `memfd_ids` is a memfd's, marked as CRIU marks them.
fn vma_entry(vma: &VmaSnapshot, memfd_ids: &[u32]) -> VmaEntry {
    let anon = if vma.is_shared() {
        st::ANON_SHARED
    } else {
        st::ANON_PRIVATE
    };
    let (status, shmid) = match vma.backing {
        VmaBacking::Anonymous => (st::AREA_REGULAR | anon, vma.shmem_id),
        VmaBacking::Heap => (st::AREA_REGULAR | anon | st::AREA_HEAP, 0),
        VmaBacking::Stack => (st::AREA_REGULAR | anon | st::AREA_STACK, 0),
        VmaBacking::Vdso => (st::AREA_REGULAR | anon | st::AREA_VDSO, 0),
        VmaBacking::Vvar | VmaBacking::VvarVclock => (st::AREA_REGULAR | anon | st::AREA_VVAR, 0),
        VmaBacking::Vsyscall => (st::AREA_VSYSCALL | anon, 0),
        VmaBacking::File { file_id } => {
            let file = if vma.is_shared() {
                st::FILE_SHARED
            } else {
                st::FILE_PRIVATE
            };
            let memfd = match memfd_ids.contains(&file_id) {
                true => st::AREA_MEMFD,
                false => 0,
            };
            (st::AREA_REGULAR | file | memfd, u64::from(file_id))
        }
        VmaBacking::SysvShm { shmid } => (
            st::AREA_REGULAR | st::AREA_SYSVIPC | st::ANON_SHARED,
            u64::try_from(shmid).unwrap_or(0),
        ),
    };
    VmaEntry {
        start: vma.start,
        end: vma.end,
        pgoff: vma.pgoff,
        shmid,
        prot: vma.prot,
        flags: vma.flags,
        status,
        fd: NO_FD,
        madv: (vma.madvise != 0).then_some(vma.madvise),
        fdflags: None,
        crust_vvar_vclock: (vma.backing == VmaBacking::VvarVclock).then_some(true),
    }
}

/// Reads `mm-PID.img`; pages are read separately. Returns the memory and
/// the task's dumpable flag.
pub(crate) fn read_mm(dir: &ImageDir, pid: i32) -> Result<(MemorySnapshot, u32), CodecError> {
    let name = ImageName::with_id(ImageKind::Mm, u32::try_from(pid).unwrap_or(0));
    let path = dir.file_path(name);
    let entry: MmEntry = dir.read_one(name)?;
    if entry.mm_saved_auxv.len() > MAX_AUXV_WORDS {
        return Err(CodecError::BadLength {
            path,
            what: "mm_saved_auxv",
            found: entry.mm_saved_auxv.len(),
            expected: MAX_AUXV_WORDS,
        });
    }
    let dumpable = entry.dumpable.ok_or(CodecError::MissingField {
        path: path.clone(),
        what: "dumpable",
    })?;
    let dumpable: u32 = narrow(&path, "dumpable", dumpable)?;
    let dumpable = check_range(&path, "dumpable", dumpable, 0..=2)?;
    let vmas = entry
        .vmas
        .iter()
        .map(|v| read_vma(&path, v))
        .collect::<Result<_, _>>()?;
    let memory = MemorySnapshot {
        vmas,
        mm: read_mm_fields(&entry),
        auxv: entry.mm_saved_auxv,
        exe_file_id: entry.exe_file_id,
        pages: Vec::new(),
    };
    Ok((memory, dumpable))
}

fn read_mm_fields(e: &MmEntry) -> MmFields {
    MmFields {
        start_code: e.mm_start_code,
        end_code: e.mm_end_code,
        start_data: e.mm_start_data,
        end_data: e.mm_end_data,
        start_brk: e.mm_start_brk,
        brk: e.mm_brk,
        start_stack: e.mm_start_stack,
        arg_start: e.mm_arg_start,
        arg_end: e.mm_arg_end,
        env_start: e.mm_env_start,
        env_end: e.mm_env_end,
    }
}

fn read_vma(path: &Path, v: &VmaEntry) -> Result<VmaSnapshot, CodecError> {
    let prot = check_range(path, "vma prot", v.prot, 0..=7)?;
    Ok(VmaSnapshot {
        start: v.start,
        end: v.end,
        prot,
        flags: v.flags,
        pgoff: v.pgoff,
        backing: read_backing(path, v)?,
        madvise: v.madv.unwrap_or(0),
        // A SysV area's shmid is its segment's id, held in its backing.
        shmem_id: match v.status & (st::ANON_SHARED | st::AREA_SYSVIPC) {
            st::ANON_SHARED => v.shmid,
            _ => 0,
        },
    })
}

/// What backs an area, from CRIU's status bits.
fn read_backing(path: &Path, v: &VmaEntry) -> Result<VmaBacking, CodecError> {
    let bad = |why| CodecError::BadVmaStatus {
        path: path.into(),
        start: v.start,
        end: v.end,
        status: v.status,
        why,
    };
    if v.status & !KNOWN_STATUS != 0 {
        return Err(bad("it is a kind of memory crust does not restore"));
    }
    let special = v.status & SPECIAL_STATUS;
    let backing = v.status & BACKING_STATUS;
    if special.count_ones() > 1 || backing.count_ones() > 1 {
        return Err(bad("its bits contradict each other"));
    }
    let file = backing & (st::FILE_PRIVATE | st::FILE_SHARED) != 0;
    if special != 0 && file {
        return Err(bad("a special area cannot map a file"));
    }
    if v.status & st::AREA_MEMFD != 0 && !file {
        return Err(bad("a memfd area maps no file"));
    }
    if v.status & st::AREA_SYSVIPC != 0 {
        if special != 0 || backing != st::ANON_SHARED {
            return Err(bad("a SysV shm area is shared memory and nothing else"));
        }
        let shmid = narrow(path, "vma shmid (SysV shm id)", v.shmid)?;
        return Ok(VmaBacking::SysvShm { shmid });
    }
    Ok(match special {
        st::AREA_VSYSCALL => VmaBacking::Vsyscall,
        st::AREA_VDSO => VmaBacking::Vdso,
        st::AREA_VVAR if v.crust_vvar_vclock == Some(true) => VmaBacking::VvarVclock,
        st::AREA_VVAR => VmaBacking::Vvar,
        st::AREA_HEAP => VmaBacking::Heap,
        st::AREA_STACK => VmaBacking::Stack,
        _ if file => VmaBacking::File {
            file_id: narrow(path, "vma shmid (file id)", v.shmid)?,
        },
        _ if backing != 0 => VmaBacking::Anonymous,
        _ => return Err(bad("it says nothing of what backs the area")),
    })
}

/// Reads the task's pagemap (checked against its pages file) as runs in
/// image order, and returns them with the pages file's path.
pub(crate) fn read_pages(dir: &ImageDir, pid: i32) -> Result<(Vec<PageRun>, PathBuf), CodecError> {
    let pid = u32::try_from(pid).unwrap_or(0);
    let reader = dir.pages_reader(pid)?;
    let pagemap = dir.file_path(ImageName::with_id(ImageKind::Pagemap, pid));
    let runs = reader
        .runs()
        .iter()
        .map(|run| {
            let stored = run.flags & (PE_PARENT | PE_LAZY) == 0 && run.flags & PE_PRESENT != 0;
            if !stored || run.file_offset.is_none() {
                return Err(CodecError::UnstoredPages {
                    path: pagemap.clone(),
                    vaddr: run.vaddr,
                    flags: run.flags,
                });
            }
            Ok(PageRun {
                addr: run.vaddr,
                pages: u64::from(run.nr_pages),
            })
        })
        .collect::<Result<_, _>>()?;
    Ok((runs, reader.path().to_path_buf()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn area(flags: i32, backing: VmaBacking) -> VmaSnapshot {
        VmaSnapshot {
            start: 0x1000,
            end: 0x3000,
            prot: 3,
            flags: flags as u32,
            pgoff: 0,
            backing,
            madvise: 0,
            shmem_id: 0,
        }
    }

    #[test]
    fn every_backing_survives_its_status_bits() {
        let (private, shared) = (libc::MAP_PRIVATE, libc::MAP_SHARED);
        let areas = [
            area(private | libc::MAP_ANONYMOUS, VmaBacking::Anonymous),
            area(shared | libc::MAP_ANONYMOUS, VmaBacking::Anonymous),
            area(private, VmaBacking::Heap),
            area(private, VmaBacking::Stack),
            area(private, VmaBacking::File { file_id: 7 }),
            area(shared, VmaBacking::File { file_id: 8 }),
            area(private, VmaBacking::Vdso),
            area(private, VmaBacking::Vvar),
            area(private, VmaBacking::VvarVclock),
            area(private, VmaBacking::Vsyscall),
        ];
        for vma in areas {
            let entry = vma_entry(&vma, &[8]);
            assert_eq!(read_vma(Path::new("mm-1.img"), &entry).unwrap(), vma);
        }
    }

    #[test]
    fn criu_status_words_are_the_ones_crit_names() {
        let file = vma_entry(
            &area(libc::MAP_SHARED, VmaBacking::File { file_id: 3 }),
            &[],
        );
        assert_eq!(file.status, st::AREA_REGULAR | st::FILE_SHARED);
        assert_eq!(file.shmid, 3);
        let memfd = vma_entry(
            &area(libc::MAP_SHARED, VmaBacking::File { file_id: 3 }),
            &[3],
        );
        assert_eq!(
            memfd.status,
            st::AREA_REGULAR | st::FILE_SHARED | st::AREA_MEMFD
        );
        let heap = vma_entry(&area(libc::MAP_PRIVATE, VmaBacking::Heap), &[]);
        assert_eq!(heap.status, 0x221);
    }

    #[test]
    fn an_area_without_backing_bits_is_refused() {
        let mut entry = vma_entry(&area(libc::MAP_PRIVATE, VmaBacking::Anonymous), &[]);
        entry.status = st::AREA_REGULAR;
        let err = read_vma(Path::new("mm-1.img"), &entry).unwrap_err();
        assert_eq!(
            err.to_string(),
            "image mm-1.img: area 0x1000-0x3000 has status 0x1: \
             it says nothing of what backs the area"
        );
    }
}
