//! `/proc/PID/pagemap`: which pages of a vma hold data the dump must store.
//!
//! Entries are read in chunks of [`CHUNK_PAGES`], so a vma of any size costs one buffer of
//! 512 KiB; the runs of pages to store come out of an iterator, adjacent pages coalesced.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::OnceLock;

use nix::unistd::Pid;

use super::maps::{Vma, VmaKind};
use super::{proc_path, ProcError};

/// The page size of x86_64.
pub const PAGE_SIZE: u64 = 4096;

/// How many pagemap entries are read at a time (64 Ki entries: 512 KiB, 256 MiB of memory).
pub const CHUNK_PAGES: usize = 64 * 1024;

const ENTRY_BYTES: usize = 8;

/// One 64-bit pagemap entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PagemapEntry(pub u64);

impl PagemapEntry {
    const PRESENT: u64 = 1 << 63;
    const SWAPPED: u64 = 1 << 62;
    const FILE_OR_SHARED: u64 = 1 << 61;
    const EXCLUSIVE: u64 = 1 << 56;
    const SOFT_DIRTY: u64 = 1 << 55;
    const PFN_MASK: u64 = (1 << 55) - 1;

    /// Bit 63: the page is in RAM.
    pub fn present(self) -> bool {
        self.0 & Self::PRESENT != 0
    }

    /// Bit 62: the page is in swap.
    pub fn swapped(self) -> bool {
        self.0 & Self::SWAPPED != 0
    }

    /// Bit 61: a page of the page cache or of shared anonymous memory.
    pub fn file_or_shared(self) -> bool {
        self.0 & Self::FILE_OR_SHARED != 0
    }

    /// Bit 56: mapped by this process only.
    pub fn exclusive(self) -> bool {
        self.0 & Self::EXCLUSIVE != 0
    }

    /// Bit 55: written since soft-dirty bits were last cleared.
    pub fn soft_dirty(self) -> bool {
        self.0 & Self::SOFT_DIRTY != 0
    }

    /// Bits 0-54: the page frame number, when present and visible (root only).
    pub fn pfn(self) -> Option<u64> {
        let pfn = self.0 & Self::PFN_MASK;
        (self.present() && pfn != 0).then_some(pfn)
    }
}

/// Which pages of a vma the dump stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorePolicy {
    /// Every present or swapped page except the zero page (anonymous memory).
    Populated,
    /// Only pages copied on write, no longer page-cache pages (private file mappings).
    PrivateCopies,
    /// None: the contents come from elsewhere (shared files, vdso, vvar, SysV shm).
    Nothing,
}

impl StorePolicy {
    /// The usual policy for a vma.
    pub fn for_vma(vma: &Vma) -> Self {
        match &vma.kind {
            VmaKind::Anonymous
            | VmaKind::SharedAnonymous
            | VmaKind::Heap
            | VmaKind::Stack
            | VmaKind::AnonNamed(_)
            | VmaKind::SharedAnonNamed(_) => Self::Populated,
            VmaKind::File { .. } | VmaKind::Memfd { .. } if !vma.shared => Self::PrivateCopies,
            _ => Self::Nothing,
        }
    }

    /// Whether a page with this entry must be stored.
    pub fn must_store(self, entry: PagemapEntry, zero_pfn: Option<u64>) -> bool {
        if !entry.present() && !entry.swapped() {
            return false;
        }
        let zero = entry.present() && zero_pfn.is_some() && entry.pfn() == zero_pfn;
        match self {
            Self::Populated => !zero,
            Self::PrivateCopies => !zero && !entry.file_or_shared(),
            Self::Nothing => false,
        }
    }
}

/// Adjacent pages to store: `pages` pages from `start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRun {
    /// Address of the first page.
    pub start: u64,
    /// Number of pages.
    pub pages: u64,
}

impl PageRun {
    /// One past the last byte.
    pub fn end(&self) -> u64 {
        self.start + self.pages * PAGE_SIZE
    }
}

/// Where pagemap entries come from: a task's pagemap file, or a table in tests.
pub trait PagemapSource {
    /// Fill `out` with the entries of the pages starting at page number `first_page`.
    fn read_entries(&mut self, first_page: u64, out: &mut [PagemapEntry]) -> Result<(), ProcError>;
}

/// An open `/proc/PID/pagemap`.
pub struct Pagemap {
    pid: Pid,
    file: File,
    bytes: Vec<u8>,
}

impl Pagemap {
    /// Open the pagemap of `pid`.
    pub fn open(pid: Pid) -> Result<Self, ProcError> {
        let path = proc_path(pid, "pagemap");
        let file = File::open(&path).map_err(|source| ProcError::Read { pid, path, source })?;
        Ok(Self {
            pid,
            file,
            bytes: Vec::new(),
        })
    }

    /// The runs of pages of `vma` to store under `policy`, skipping the zero page `zero_pfn`.
    pub fn runs(&mut self, vma: &Vma, policy: StorePolicy, zero_pfn: Option<u64>) -> PageRuns<'_> {
        PageRuns::new(self, vma.start, vma.end, policy, zero_pfn)
    }
}

impl PagemapSource for Pagemap {
    fn read_entries(&mut self, first_page: u64, out: &mut [PagemapEntry]) -> Result<(), ProcError> {
        let addr = first_page.saturating_mul(PAGE_SIZE);
        let failed = |source| ProcError::Pagemap {
            pid: self.pid,
            addr,
            source,
        };
        let offset = first_page
            .checked_mul(ENTRY_BYTES as u64)
            .ok_or(failed(overflow()))?;
        self.bytes.resize(out.len() * ENTRY_BYTES, 0);
        self.file
            .read_exact_at(&mut self.bytes, offset)
            .map_err(failed)?;
        for (entry, raw) in out.iter_mut().zip(self.bytes.chunks_exact(ENTRY_BYTES)) {
            let mut word = [0u8; ENTRY_BYTES];
            word.copy_from_slice(raw);
            *entry = PagemapEntry(u64::from_ne_bytes(word));
        }
        Ok(())
    }
}

fn overflow() -> std::io::Error {
    std::io::Error::from_raw_os_error(libc::EOVERFLOW)
}

/// Iterator over the [`PageRun`]s of a range, reading its source one chunk at a time.
pub struct PageRuns<'a> {
    source: &'a mut dyn PagemapSource,
    policy: StorePolicy,
    zero_pfn: Option<u64>,
    next_page: u64,
    end_page: u64,
    chunk: Vec<PagemapEntry>,
    chunk_page: u64,
    index: usize,
    pending: Option<PageRun>,
    finished: bool,
}

impl<'a> PageRuns<'a> {
    /// Runs of `[start, end)` (page-aligned addresses) read from `source`.
    pub fn new(
        source: &'a mut dyn PagemapSource,
        start: u64,
        end: u64,
        policy: StorePolicy,
        zero_pfn: Option<u64>,
    ) -> Self {
        Self {
            source,
            policy,
            zero_pfn,
            next_page: start / PAGE_SIZE,
            end_page: end / PAGE_SIZE,
            chunk: Vec::new(),
            chunk_page: 0,
            index: 0,
            pending: None,
            finished: policy == StorePolicy::Nothing,
        }
    }

    /// Load the next chunk; false at the end of the range.
    fn refill(&mut self) -> Result<bool, ProcError> {
        let left = self.end_page.saturating_sub(self.next_page);
        if left == 0 {
            return Ok(false);
        }
        let count = usize::try_from(left)
            .unwrap_or(CHUNK_PAGES)
            .min(CHUNK_PAGES);
        self.chunk.resize(count, PagemapEntry::default());
        self.source.read_entries(self.next_page, &mut self.chunk)?;
        self.chunk_page = self.next_page;
        self.next_page += count as u64;
        self.index = 0;
        Ok(true)
    }

    /// Add page `page` to the pending run; returns the run it closed, if any.
    fn extend(&mut self, page: u64) -> Option<PageRun> {
        let addr = page * PAGE_SIZE;
        match &mut self.pending {
            Some(run) if run.end() == addr => {
                run.pages += 1;
                None
            }
            _ => self.pending.replace(PageRun {
                start: addr,
                pages: 1,
            }),
        }
    }
}

impl Iterator for PageRuns<'_> {
    type Item = Result<PageRun, ProcError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        loop {
            if self.index >= self.chunk.len() {
                match self.refill() {
                    Ok(true) => {}
                    Ok(false) => return self.pending.take().map(Ok),
                    Err(error) => {
                        self.finished = true;
                        return Some(Err(error));
                    }
                }
            }
            let page = self.chunk_page + self.index as u64;
            let entry = self.chunk[self.index];
            self.index += 1;
            if self.policy.must_store(entry, self.zero_pfn) {
                if let Some(run) = self.extend(page) {
                    return Some(Ok(run));
                }
            } else if let Some(run) = self.pending.take() {
                return Some(Ok(run));
            }
        }
    }
}

/// The page frame number of the zero page, found once by reading a fresh private anonymous
/// page of crust and looking it up in crust's own pagemap. `None` when PFNs are hidden.
pub fn zero_page_pfn() -> Result<Option<u64>, ProcError> {
    static ZERO_PFN: OnceLock<Option<u64>> = OnceLock::new();
    if let Some(pfn) = ZERO_PFN.get() {
        return Ok(*pfn);
    }
    let pfn = find_zero_page_pfn()?;
    Ok(*ZERO_PFN.get_or_init(|| pfn))
}

fn find_zero_page_pfn() -> Result<Option<u64>, ProcError> {
    use nix::sys::mman::{mmap_anonymous, munmap, MapFlags, ProtFlags};
    let mut pagemap = Pagemap::open(nix::unistd::getpid())?;
    let len = std::num::NonZeroUsize::new(PAGE_SIZE as usize)
        .ok_or(ProcError::ZeroPage(nix::errno::Errno::EINVAL))?;
    // SAFETY: a new private anonymous mapping at an address the kernel picks cannot alias any
    // memory Rust knows about.
    let page = unsafe { mmap_anonymous(None, len, ProtFlags::PROT_READ, MapFlags::MAP_PRIVATE) }
        .map_err(ProcError::ZeroPage)?;
    // SAFETY: `page` is a readable mapping of one page, alive until the munmap below. Reading
    // it maps the zero page there.
    unsafe { std::ptr::read_volatile(page.as_ptr().cast::<u8>()) };
    let mut entry = [PagemapEntry::default()];
    let read = pagemap.read_entries(page.as_ptr() as u64 / PAGE_SIZE, &mut entry);
    // SAFETY: `page` came from the mmap above with this length and is no longer used.
    unsafe { munmap(page, len.get()) }.map_err(ProcError::ZeroPage)?;
    read?;
    Ok(entry[0].pfn())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRESENT: u64 = 1 << 63;
    const SWAPPED: u64 = 1 << 62;
    const FILE: u64 = 1 << 61;

    /// Entries for pages 0..len, counting how often and how much was read.
    struct Table {
        entries: Vec<u64>,
        largest_read: usize,
    }

    impl PagemapSource for Table {
        fn read_entries(&mut self, first: u64, out: &mut [PagemapEntry]) -> Result<(), ProcError> {
            self.largest_read = self.largest_read.max(out.len());
            for (i, slot) in out.iter_mut().enumerate() {
                let raw = self.entries.get(first as usize + i).copied().unwrap_or(0);
                *slot = PagemapEntry(raw);
            }
            Ok(())
        }
    }

    fn runs(entries: Vec<u64>, policy: StorePolicy, zero: Option<u64>) -> Vec<(u64, u64)> {
        let end = entries.len() as u64 * PAGE_SIZE;
        let mut table = Table {
            entries,
            largest_read: 0,
        };
        PageRuns::new(&mut table, 0, end, policy, zero)
            .map(|run| run.map(|r| (r.start / PAGE_SIZE, r.pages)).unwrap())
            .collect()
    }

    #[test]
    fn anonymous_runs_skip_holes_and_the_zero_page() {
        let zero = PRESENT | 77;
        let pages = vec![
            PRESENT | 5,
            PRESENT | 6,
            0,
            SWAPPED | 3,
            PRESENT | 9,
            zero,
            PRESENT | 10,
        ];
        assert_eq!(
            runs(pages, StorePolicy::Populated, Some(77)),
            vec![(0, 2), (3, 2), (6, 1)]
        );
    }

    /// A reader without CAP_SYS_ADMIN sees PFN 0 for every page: no page is taken for the
    /// zero page then, and every present one is stored.
    #[test]
    fn hidden_frame_numbers_store_every_present_page() {
        assert_eq!(PagemapEntry(PRESENT).pfn(), None);
        let pages = vec![PRESENT, PRESENT, 0, SWAPPED, PRESENT];
        assert_eq!(
            runs(pages, StorePolicy::Populated, None),
            vec![(0, 2), (3, 2)]
        );
    }

    #[test]
    fn private_file_runs_keep_only_copies() {
        let pages = vec![
            PRESENT | FILE | 5,
            PRESENT | 6,
            PRESENT | 7,
            PRESENT | FILE | 8,
            SWAPPED,
        ];
        assert_eq!(
            runs(pages, StorePolicy::PrivateCopies, None),
            vec![(1, 2), (4, 1)]
        );
    }

    #[test]
    fn nothing_policy_reads_nothing() {
        assert!(runs(vec![PRESENT | 1; 4], StorePolicy::Nothing, None).is_empty());
    }

    #[test]
    fn a_huge_range_reads_in_bounded_chunks() {
        // 4 GiB of all-present pages is one run, read 64 Ki entries at a time.
        let pages = (4u64 << 30) / PAGE_SIZE;
        let mut table = Table {
            entries: vec![PRESENT | 1; pages as usize],
            largest_read: 0,
        };
        let found: Vec<PageRun> = PageRuns::new(
            &mut table,
            0,
            pages * PAGE_SIZE,
            StorePolicy::Populated,
            None,
        )
        .collect::<Result<_, _>>()
        .unwrap();
        assert_eq!(found, vec![PageRun { start: 0, pages }]);
        assert_eq!(table.largest_read, CHUNK_PAGES);
    }

    #[test]
    fn runs_cross_chunk_boundaries() {
        let mut pages = vec![0; CHUNK_PAGES + 10];
        pages[CHUNK_PAGES - 2..CHUNK_PAGES + 3].fill(PRESENT | 1);
        let expected = vec![((CHUNK_PAGES - 2) as u64, 5)];
        assert_eq!(runs(pages, StorePolicy::Populated, None), expected);
    }

    #[test]
    fn own_written_page_is_found_and_zero_page_is_not() {
        use nix::sys::mman::{mmap_anonymous, munmap, MapFlags, ProtFlags};
        let len = std::num::NonZeroUsize::new(4 * PAGE_SIZE as usize).unwrap();
        let prot = ProtFlags::PROT_READ | ProtFlags::PROT_WRITE;
        // SAFETY: a fresh private anonymous mapping aliases nothing.
        let map = unsafe { mmap_anonymous(None, len, prot, MapFlags::MAP_PRIVATE) }.unwrap();
        let base = map.as_ptr().cast::<u8>();
        // SAFETY: both pages lie inside the 4-page mapping made above.
        unsafe {
            base.add(PAGE_SIZE as usize).write_volatile(1);
            std::ptr::read_volatile(base.add(3 * PAGE_SIZE as usize));
        }
        let zero = zero_page_pfn().unwrap();
        let start = base as u64;
        let mut pagemap = Pagemap::open(nix::unistd::getpid()).unwrap();
        let found: Vec<PageRun> = PageRuns::new(
            &mut pagemap,
            start,
            start + 4 * PAGE_SIZE,
            StorePolicy::Populated,
            zero,
        )
        .collect::<Result<_, _>>()
        .unwrap();
        // SAFETY: the mapping is not used after this.
        unsafe { munmap(map, len.get()) }.unwrap();
        let written = PageRun {
            start: start + PAGE_SIZE,
            pages: 1,
        };
        if zero.is_some() {
            assert_eq!(found, vec![written]);
        } else {
            assert!(found.contains(&written));
        }
    }
}
