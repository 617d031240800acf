//! Memory: the areas of an address space and the pages saved from them.

use super::SnapshotError;

/// Page size crust works in (x86_64 base pages).
pub const PAGE_SIZE: u64 = 4096;

/// Highest user address + 1 with 4-level paging on x86_64.
pub const TASK_SIZE: u64 = 0x7fff_ffff_f000;

/// What backs a memory area.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VmaBacking {
    /// Anonymous memory (private or shared, as the flags say).
    Anonymous,
    /// The heap: anonymous, grown by brk(2).
    Heap,
    /// The main thread's stack.
    Stack,
    /// A mapping of a file, through the file id of an opened regular file.
    File {
        /// Id of the [`super::FileSnapshot`] describing the file.
        file_id: u32,
    },
    /// The kernel's vdso code.
    Vdso,
    /// The vdso's data pages (`[vvar]`).
    Vvar,
    /// The vdso's clock pages (`[vvar_vclock]`).
    VvarVclock,
    /// The legacy vsyscall page (fixed by the kernel, never restored).
    Vsyscall,
    /// An attached SysV shared memory segment of the tree's IPC namespace, whole; its bytes
    /// are the segment's, saved with the namespace.
    SysvShm {
        /// The segment's id.
        shmid: i32,
    },
}

/// One memory area (a vma).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmaSnapshot {
    /// First address.
    pub start: u64,
    /// One past the last address.
    pub end: u64,
    /// PROT_READ | PROT_WRITE | PROT_EXEC.
    pub prot: u32,
    /// MAP_PRIVATE or MAP_SHARED, plus MAP_ANONYMOUS / MAP_GROWSDOWN as they apply.
    pub flags: u32,
    /// Offset into the file in pages (file mappings).
    pub pgoff: u64,
    /// What backs it.
    pub backing: VmaBacking,
    /// madvise(2) advice to apply again (MADV_DONTDUMP, MADV_DONTFORK, ... as bits).
    pub madvise: u64,
    /// For a shared anonymous area, the shmem object behind it (its inode number): areas of
    /// processes of one tree with the same id are one object. 0 for every other area.
    pub shmem_id: u64,
}

impl VmaSnapshot {
    /// Length in bytes.
    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    /// True for an area of zero length (never valid).
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }

    /// Whether the area is MAP_SHARED.
    pub fn is_shared(&self) -> bool {
        self.flags & libc::MAP_SHARED as u32 != 0
    }

    /// Whether the kernel places this area itself (vdso, vvar, vsyscall).
    pub fn is_kernel_special(&self) -> bool {
        matches!(
            self.backing,
            VmaBacking::Vdso | VmaBacking::Vvar | VmaBacking::VvarVclock | VmaBacking::Vsyscall
        )
    }

    /// Whether saved pages may belong to this area.
    pub fn holds_saved_pages(&self) -> bool {
        let shared_file = self.is_shared() && matches!(self.backing, VmaBacking::File { .. });
        let sysv = matches!(self.backing, VmaBacking::SysvShm { .. });
        !self.is_kernel_special() && !shared_file && !sysv
    }
}

/// A run of consecutive pages saved in the pages image, in image order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRun {
    /// Address of the first page.
    pub addr: u64,
    /// Number of pages.
    pub pages: u64,
}

impl PageRun {
    /// One past the last byte.
    pub fn end(&self) -> u64 {
        self.addr + self.pages * PAGE_SIZE
    }
}

/// The mm fields prctl(PR_SET_MM_MAP) restores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MmFields {
    /// Start of code.
    pub start_code: u64,
    /// End of code.
    pub end_code: u64,
    /// Start of data.
    pub start_data: u64,
    /// End of data.
    pub end_data: u64,
    /// Start of the heap.
    pub start_brk: u64,
    /// Current program break.
    pub brk: u64,
    /// Start of the main stack.
    pub start_stack: u64,
    /// Command line start.
    pub arg_start: u64,
    /// Command line end.
    pub arg_end: u64,
    /// Environment start.
    pub env_start: u64,
    /// Environment end.
    pub env_end: u64,
}

impl MmFields {
    /// The fields in the order of `struct prctl_mm_map`.
    pub fn in_prctl_order(&self) -> [u64; 11] {
        [
            self.start_code,
            self.end_code,
            self.start_data,
            self.end_data,
            self.start_brk,
            self.brk,
            self.start_stack,
            self.arg_start,
            self.arg_end,
            self.env_start,
            self.env_end,
        ]
    }
}

/// The whole address space.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemorySnapshot {
    /// Areas, sorted by address.
    pub vmas: Vec<VmaSnapshot>,
    /// mm fields.
    pub mm: MmFields,
    /// The auxiliary vector as u64 words (pairs of type, value).
    pub auxv: Vec<u64>,
    /// File id of the executable (the /proc/PID/exe link).
    pub exe_file_id: u32,
    /// Saved pages, in the order they sit in the pages image.
    pub pages: Vec<PageRun>,
}

impl MemorySnapshot {
    /// Check areas and pages once, so restore can trust them.
    pub fn validate(&self, pid: i32) -> Result<(), SnapshotError> {
        let bad = |v: &VmaSnapshot, why| SnapshotError::BadVma {
            pid,
            start: v.start,
            end: v.end,
            why,
        };
        let mut previous_end = 0;
        for vma in &self.vmas {
            if vma.start >= vma.end {
                return Err(bad(vma, "it is empty or reversed"));
            }
            if !vma.start.is_multiple_of(PAGE_SIZE) || !vma.end.is_multiple_of(PAGE_SIZE) {
                return Err(bad(vma, "it is not page aligned"));
            }
            if vma.end > TASK_SIZE && vma.backing != VmaBacking::Vsyscall {
                return Err(bad(vma, "it lies above the user address space"));
            }
            if vma.start < previous_end {
                return Err(bad(vma, "it overlaps the area before it"));
            }
            previous_end = vma.end;
        }
        self.pages
            .iter()
            .try_for_each(|run| self.check_run(pid, run))
    }

    fn check_run(&self, pid: i32, run: &PageRun) -> Result<(), SnapshotError> {
        let stray = |end| SnapshotError::StrayPages {
            pid,
            start: run.addr,
            end,
        };
        let end = run
            .pages
            .checked_mul(PAGE_SIZE)
            .and_then(|len| run.addr.checked_add(len))
            .ok_or(stray(u64::MAX))?;
        if run.pages == 0 || !run.addr.is_multiple_of(PAGE_SIZE) {
            return Err(stray(end));
        }
        // A run may span several adjacent areas; every page must be covered.
        let mut cursor = run.addr;
        for vma in self
            .vmas
            .iter()
            .filter(|v| v.end > run.addr && v.start < end)
        {
            if vma.start > cursor || !vma.holds_saved_pages() {
                return Err(stray(end));
            }
            cursor = vma.end.min(end);
        }
        if cursor < end {
            return Err(stray(end));
        }
        Ok(())
    }

    /// Total bytes of saved pages.
    pub fn saved_bytes(&self) -> u64 {
        self.pages.iter().map(|r| r.pages * PAGE_SIZE).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn anon(start: u64, end: u64) -> VmaSnapshot {
        VmaSnapshot {
            start,
            end,
            prot: 3,
            flags: libc::MAP_PRIVATE as u32 | libc::MAP_ANONYMOUS as u32,
            pgoff: 0,
            backing: VmaBacking::Anonymous,
            madvise: 0,
            shmem_id: 0,
        }
    }

    fn memory(vmas: Vec<VmaSnapshot>, pages: Vec<PageRun>) -> MemorySnapshot {
        MemorySnapshot {
            vmas,
            pages,
            ..Default::default()
        }
    }

    #[test]
    fn pages_spanning_adjacent_areas_are_accepted() {
        let m = memory(
            vec![anon(0x1000, 0x3000), anon(0x3000, 0x5000)],
            vec![PageRun {
                addr: 0x2000,
                pages: 2,
            }],
        );
        assert!(m.validate(1).is_ok());
    }

    #[test]
    fn pages_in_a_hole_are_refused() {
        let m = memory(
            vec![anon(0x1000, 0x2000), anon(0x3000, 0x4000)],
            vec![PageRun {
                addr: 0x1000,
                pages: 3,
            }],
        );
        let err = m.validate(7).unwrap_err().to_string();
        assert_eq!(
            err,
            "pid 7: saved pages 0x1000-0x4000 lie outside the process's memory"
        );
    }

    #[test]
    fn a_run_whose_length_overflows_is_refused() {
        let m = memory(
            vec![anon(0x1000, 0x2000)],
            vec![PageRun {
                addr: 0x1000,
                pages: u64::MAX,
            }],
        );
        assert!(matches!(
            m.validate(1),
            Err(SnapshotError::StrayPages { .. })
        ));
    }

    #[test]
    fn overlapping_areas_are_refused() {
        let m = memory(vec![anon(0x1000, 0x3000), anon(0x2000, 0x4000)], vec![]);
        let err = m.validate(3).unwrap_err().to_string();
        assert_eq!(
            err,
            "pid 3: memory area 0x2000-0x4000 is invalid: it overlaps the area before it"
        );
    }

    #[test]
    fn unaligned_and_kernel_space_areas_are_refused() {
        assert!(memory(vec![anon(0x1001, 0x3000)], vec![])
            .validate(1)
            .is_err());
        assert!(memory(vec![anon(TASK_SIZE, TASK_SIZE + 0x1000)], vec![])
            .validate(1)
            .is_err());
    }
}
