//! Pagemap runs read from another process: a forked child sharing the test's pages.

#[path = "refusal_child/mod.rs"]
mod refusal_child;

use std::num::NonZeroUsize;
use std::os::fd::AsFd;

use nix::sys::mman::{mmap, mmap_anonymous, munmap, MapFlags, ProtFlags};

use engine::proc::maps::maps;
use engine::proc::pagemap::{zero_page_pfn, PageRun, Pagemap, StorePolicy, PAGE_SIZE};
use refusal_child::{serial, Child, TempDir};

const PAGES: usize = 32;

fn pages(run: &PageRun, base: u64) -> (u64, u64) {
    ((run.start - base) / PAGE_SIZE, run.pages)
}

/// The runs of the vma starting at `base` in `child`, as (first page, pages) from `base`.
fn runs_of(child: &Child, base: u64) -> Vec<(u64, u64)> {
    // The kernel may merge the test's mapping with a neighbour: keep just its own range.
    let mut vma = maps(child.pid)
        .unwrap()
        .into_iter()
        .find(|v| v.start <= base && base < v.end)
        .unwrap();
    (vma.start, vma.end) = (base, base + PAGES as u64 * PAGE_SIZE);
    let mut pagemap = Pagemap::open(child.pid).unwrap();
    let zero = zero_page_pfn().unwrap();
    let runs = pagemap.runs(&vma, StorePolicy::for_vma(&vma), zero);
    runs.map(|run| pages(&run.unwrap(), base)).collect()
}

#[test]
fn anonymous_runs_of_a_child() {
    let _serial = serial();
    let len = NonZeroUsize::new(PAGES * PAGE_SIZE as usize).unwrap();
    let prot = ProtFlags::PROT_READ | ProtFlags::PROT_WRITE;
    // SAFETY: a fresh private anonymous mapping aliases nothing.
    let map = unsafe { mmap_anonymous(None, len, prot, MapFlags::MAP_PRIVATE) }.unwrap();
    let base = map.as_ptr().cast::<u8>();
    // SAFETY: every page touched lies inside the mapping of PAGES pages made above.
    unsafe {
        for page in [3, 4, 5, 10] {
            base.add(page * PAGE_SIZE as usize).write_volatile(7);
        }
        std::ptr::read_volatile(base.add(20 * PAGE_SIZE as usize));
    }
    let child = Child::spawn(&[], || true);
    let found = runs_of(&child, base as u64);
    drop(child);
    // SAFETY: the mapping is not used after this.
    unsafe { munmap(map, len.get()) }.unwrap();
    assert_eq!(found, vec![(3, 3), (10, 1)]);
}

#[test]
fn private_file_runs_keep_only_written_pages() {
    let _serial = serial();
    let dir = TempDir::new("pagemap-file");
    let path = dir.path("data");
    std::fs::write(&path, vec![1u8; PAGES * PAGE_SIZE as usize]).unwrap();
    let file = std::fs::File::open(&path).unwrap();
    let len = NonZeroUsize::new(PAGES * PAGE_SIZE as usize).unwrap();
    let prot = ProtFlags::PROT_READ | ProtFlags::PROT_WRITE;
    // SAFETY: a fresh private file mapping aliases nothing.
    let map = unsafe { mmap(None, len, prot, MapFlags::MAP_PRIVATE, file.as_fd(), 0) }.unwrap();
    let base = map.as_ptr().cast::<u8>();
    // SAFETY: every page touched lies inside the mapping of PAGES pages made above.
    unsafe {
        for page in 0..8 {
            std::ptr::read_volatile(base.add(page * PAGE_SIZE as usize));
        }
        base.add(PAGE_SIZE as usize).write_volatile(9);
        base.add(2 * PAGE_SIZE as usize).write_volatile(9);
    }
    let child = Child::spawn(&[], || true);
    let found = runs_of(&child, base as u64);
    drop(child);
    // SAFETY: the mapping is not used after this.
    unsafe { munmap(map, len.get()) }.unwrap();
    assert_eq!(found, vec![(1, 2)]);
}
