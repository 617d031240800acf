//! Memory images of the sample: address space layouts.

use engine::images::mm::MmEntry;
use engine::images::vma::{vma_status, VmaEntry};

use super::{EXE_ID, STACK_TOP};

fn vma(start: u64, end: u64, prot: u32, flags: u32, status: u32, shmid: u64) -> VmaEntry {
    VmaEntry {
        start,
        end,
        pgoff: 0,
        shmid,
        prot,
        flags,
        status,
        fd: -1,
        madv: None,
        fdflags: None,
        crust_vvar_vclock: None,
    }
}

pub fn leader_mm() -> MmEntry {
    const R: u32 = 1;
    const W: u32 = 2;
    const X: u32 = 4;
    const PRIVATE: u32 = 0x2;
    const ANON: u32 = 0x20;
    const GROWSDOWN: u32 = 0x100;
    let file = vma_status::AREA_REGULAR | vma_status::FILE_PRIVATE;
    let anon = vma_status::AREA_REGULAR | vma_status::ANON_PRIVATE;
    let vmas = vec![
        vma(
            0x40_0000,
            0x40_1000,
            R | X,
            PRIVATE,
            file,
            u64::from(EXE_ID),
        ),
        vma(
            0x60_0000,
            0x60_2000,
            R | W,
            PRIVATE,
            file,
            u64::from(EXE_ID),
        ),
        vma(
            0x60_2000,
            0x62_3000,
            R | W,
            PRIVATE | ANON,
            anon | vma_status::AREA_HEAP,
            0,
        ),
        vma(
            0x7f00_0000_0000,
            0x7f00_0001_4000,
            R | W,
            PRIVATE | ANON,
            anon,
            0,
        ),
        vma(
            STACK_TOP - 0x2_2000,
            STACK_TOP,
            R | W,
            PRIVATE | ANON | GROWSDOWN,
            anon | vma_status::AREA_STACK,
            0,
        ),
        vma(
            STACK_TOP + 0x10_0000,
            STACK_TOP + 0x10_2000,
            R | X,
            PRIVATE,
            anon | vma_status::AREA_VDSO,
            0,
        ),
    ];
    MmEntry {
        mm_start_code: 0x40_0000,
        mm_end_code: 0x40_1000,
        mm_start_data: 0x60_0000,
        mm_end_data: 0x60_2000,
        mm_start_stack: STACK_TOP - 0x1000,
        mm_start_brk: 0x60_2000,
        mm_brk: 0x62_3000,
        mm_arg_start: STACK_TOP - 0x800,
        mm_arg_end: STACK_TOP - 0x7f0,
        mm_env_start: STACK_TOP - 0x7f0,
        mm_env_end: STACK_TOP - 0x10,
        exe_file_id: EXE_ID,
        // AT_PAGESZ, AT_ENTRY, AT_NULL pairs.
        mm_saved_auxv: vec![6, 4096, 9, 0x40_1000, 0, 0],
        vmas,
        dumpable: Some(1),
        aios: vec![],
        thp_disabled: Some(false),
    }
}

/// A forked child keeps its parent's layout; it loses the parent's
/// thread-stack mapping here. (`crit x rss` needs a VMA above the last
/// pagemap run, as real tasks always have: vdso, vsyscall.)
pub fn child_mm() -> MmEntry {
    let mut mm = leader_mm();
    mm.vmas.remove(3);
    mm
}
