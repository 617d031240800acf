//! A task's memory contents: `pagemap-PID.img` lists runs of pages and
//! `pages-N.img` holds the bytes of the present runs, back to back, in
//! pagemap order, with no header.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::BorrowedFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::error::ImageError;
use super::pagemap::{pagemap_flags, PagemapEntry, PagemapHead};
use super::reader::ImageReader;
use super::splice::splice_exact;
use super::writer::ImageWriter;

/// Size of a page in images: CRIU's x86 images use 4 KiB pages throughout.
pub const PAGE_SIZE: u64 = 4096;

/// Writes page contents to a pages file and the runs they form to the pagemap.
/// Runs must come in increasing address order; adjacent runs are merged.
pub struct PagesWriter {
    pagemap: ImageWriter,
    pages_path: PathBuf,
    pages: File,
    pages_id: u32,
    pages_len: u64,
    pending: Option<PagemapEntry>,
    next_vaddr: u64,
    nr_entries: u64,
}

/// What a finished [`PagesWriter`] wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PagesSummary {
    pub pages_id: u32,
    /// Pagemap entries written after the head.
    pub nr_entries: u64,
    /// Bytes in the pages file.
    pub pages_len: u64,
}

impl PagesWriter {
    pub(crate) fn start(
        mut pagemap: ImageWriter,
        pages_path: PathBuf,
        pages: File,
        pages_id: u32,
    ) -> Result<Self, ImageError> {
        pagemap.write_entry(&PagemapHead { pages_id })?;
        Ok(PagesWriter {
            pagemap,
            pages_path,
            pages,
            pages_id,
            pages_len: 0,
            pending: None,
            next_vaddr: 0,
            nr_entries: 0,
        })
    }

    /// Appends the pages starting at `vaddr` from a buffer whose length is a
    /// whole number of pages.
    pub fn write_pages(&mut self, vaddr: u64, bytes: &[u8]) -> Result<(), ImageError> {
        let nr_pages = self.check_run(vaddr, bytes.len())?;
        // At the file position, where splice_pages() writes too.
        (&self.pages)
            .write_all(bytes)
            .map_err(|source| ImageError::Write {
                path: self.pages_path.clone(),
                offset: self.pages_len,
                source,
            })?;
        self.record(vaddr, nr_pages, bytes.len())
    }

    /// Appends `nr_pages` pages starting at `vaddr`, moved from `pipe` with
    /// splice(2) (the pipe holds them, e.g. put there by vmsplice in the task).
    pub fn splice_pages(
        &mut self,
        vaddr: u64,
        nr_pages: u32,
        pipe: BorrowedFd<'_>,
    ) -> Result<(), ImageError> {
        let len = u64::from(nr_pages) * PAGE_SIZE;
        let len = usize::try_from(len).map_err(|_| self.bad(vaddr, "run too long"))?;
        self.check_run(vaddr, len)?;
        splice_exact(pipe, &self.pages, &self.pages_path, self.pages_len, len)?;
        self.record(vaddr, nr_pages, len)
    }

    /// Writes the last run and closes both files.
    pub fn finish(mut self) -> Result<PagesSummary, ImageError> {
        if let Some(entry) = self.pending.take() {
            self.pagemap.write_entry(&entry)?;
            self.nr_entries += 1;
        }
        let (pages_id, nr_entries, pages_len) = (self.pages_id, self.nr_entries, self.pages_len);
        self.pagemap.finish()?;
        Ok(PagesSummary {
            pages_id,
            nr_entries,
            pages_len,
        })
    }

    /// Checks a run's address and length and returns its page count.
    fn check_run(&self, vaddr: u64, len: usize) -> Result<u32, ImageError> {
        let len = len as u64;
        if !vaddr.is_multiple_of(PAGE_SIZE) {
            return Err(self.bad(vaddr, "address is not page aligned"));
        }
        if len == 0 || !len.is_multiple_of(PAGE_SIZE) {
            return Err(self.bad(vaddr, "length is not a positive whole number of pages"));
        }
        if vaddr < self.next_vaddr {
            return Err(self.bad(vaddr, "run starts below the end of the previous run"));
        }
        if vaddr.checked_add(len).is_none() {
            return Err(self.bad(vaddr, "run wraps around the address space"));
        }
        u32::try_from(len / PAGE_SIZE).map_err(|_| self.bad(vaddr, "run too long"))
    }

    fn record(&mut self, vaddr: u64, nr_pages: u32, len: usize) -> Result<(), ImageError> {
        self.pages_len += len as u64;
        self.next_vaddr = vaddr + len as u64;
        if let Some(last) = self.pending.as_mut() {
            let last_end = last.vaddr + u64::from(last.nr_pages) * PAGE_SIZE;
            if let Some(total) = last
                .nr_pages
                .checked_add(nr_pages)
                .filter(|_| last_end == vaddr)
            {
                last.nr_pages = total;
                return Ok(());
            }
        }
        let entry = PagemapEntry {
            vaddr,
            nr_pages,
            in_parent: None,
            flags: Some(pagemap_flags::PE_PRESENT),
        };
        if let Some(done) = self.pending.replace(entry) {
            self.pagemap.write_entry(&done)?;
            self.nr_entries += 1;
        }
        Ok(())
    }

    fn bad(&self, vaddr: u64, problem: &'static str) -> ImageError {
        ImageError::BadPages {
            path: self.pages_path.clone(),
            vaddr,
            problem,
        }
    }
}

/// One run of a pagemap, with where its bytes are in the pages file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageRun {
    pub vaddr: u64,
    pub nr_pages: u32,
    /// [`pagemap_flags`] bits, old `in_parent` images translated.
    pub flags: u32,
    /// Offset of the run's bytes in the pages file; `None` for runs that are
    /// not stored there (in a parent image, or lazy).
    pub file_offset: Option<u64>,
}

impl PageRun {
    /// Length of the run in bytes.
    pub fn len(&self) -> u64 {
        u64::from(self.nr_pages) * PAGE_SIZE
    }

    /// Whether the run has no pages (never true of a validated run).
    pub fn is_empty(&self) -> bool {
        self.nr_pages == 0
    }
}

/// A task's pagemap, validated against its pages file, ready for the pages
/// to be read straight to their place.
#[derive(Debug)]
pub struct PagesReader {
    pages_path: PathBuf,
    pages: File,
    pages_id: u32,
    runs: Vec<PageRun>,
}

impl PagesReader {
    /// Reads the pagemap, opens the pages file it names (`pages_path` maps a
    /// pages id to its path) and checks the file's length.
    pub(crate) fn open<R: Read>(
        mut pagemap: ImageReader<R>,
        pages_path: impl FnOnce(u32) -> PathBuf,
    ) -> Result<PagesReader, ImageError> {
        let head: PagemapHead = pagemap
            .next_entry()?
            .ok_or_else(|| ImageError::MissingEntry {
                path: pagemap.path().into(),
            })?;
        let runs = read_runs(&mut pagemap)?;
        let pages_path = pages_path(head.pages_id);
        let open_err = |source| ImageError::OpenFile {
            path: pages_path.clone(),
            source,
        };
        let pages = File::open(&pages_path).map_err(open_err)?;
        let actual = pages.metadata().map_err(open_err)?.len();
        let expected = runs
            .iter()
            .filter(|r| r.file_offset.is_some())
            .map(PageRun::len)
            .sum();
        if actual != expected {
            return Err(ImageError::PagesLength {
                path: pages_path,
                expected,
                actual,
            });
        }
        Ok(PagesReader {
            pages_path,
            pages,
            pages_id: head.pages_id,
            runs,
        })
    }

    /// The runs, in address order.
    pub fn runs(&self) -> &[PageRun] {
        &self.runs
    }

    /// The pages file, to pread or mmap from at each run's offset.
    pub fn file(&self) -> &File {
        &self.pages
    }

    /// Path of the pages file.
    pub fn path(&self) -> &Path {
        &self.pages_path
    }

    /// Id of the pages file (`pages-ID.img`).
    pub fn pages_id(&self) -> u32 {
        self.pages_id
    }

    /// Reads a stored run's bytes into `buf`, which must be the run's length.
    pub fn read_run(&self, run: &PageRun, buf: &mut [u8]) -> Result<(), ImageError> {
        let Some(offset) = run.file_offset else {
            return Err(self.bad(run.vaddr, "run is not stored in this pages file"));
        };
        if buf.len() as u64 != run.len() {
            return Err(self.bad(run.vaddr, "buffer length differs from the run's"));
        }
        self.pages
            .read_exact_at(buf, offset)
            .map_err(|source| ImageError::Read {
                path: self.pages_path.clone(),
                offset,
                source,
            })
    }

    fn bad(&self, vaddr: u64, problem: &'static str) -> ImageError {
        ImageError::BadPages {
            path: self.pages_path.clone(),
            vaddr,
            problem,
        }
    }
}

/// Reads and checks the pagemap entries after the head: page aligned, not
/// empty, not wrapping, in increasing non-overlapping order.
fn read_runs<R: Read>(pagemap: &mut ImageReader<R>) -> Result<Vec<PageRun>, ImageError> {
    let mut runs = Vec::new();
    let (mut next_vaddr, mut file_offset) = (0u64, 0u64);
    while let Some(entry) = pagemap.next_entry::<PagemapEntry>()? {
        let bad = |problem| ImageError::BadPagemapRun {
            path: pagemap.path().into(),
            index: runs.len(),
            vaddr: entry.vaddr,
            nr_pages: entry.nr_pages,
            problem,
        };
        let len = u64::from(entry.nr_pages) * PAGE_SIZE;
        if !entry.vaddr.is_multiple_of(PAGE_SIZE) {
            return Err(bad("is not page aligned"));
        }
        if entry.nr_pages == 0 {
            return Err(bad("is empty"));
        }
        if entry.vaddr < next_vaddr {
            return Err(bad("overlaps or precedes the previous run"));
        }
        next_vaddr = entry
            .vaddr
            .checked_add(len)
            .ok_or_else(|| bad("wraps around"))?;
        let flags = entry.effective_flags();
        let stored = flags & pagemap_flags::PE_PRESENT != 0;
        let offset = stored.then_some(file_offset);
        if stored {
            file_offset = file_offset
                .checked_add(len)
                .ok_or_else(|| bad("overflows the file"))?;
        }
        runs.push(PageRun {
            vaddr: entry.vaddr,
            nr_pages: entry.nr_pages,
            flags,
            file_offset: offset,
        });
    }
    Ok(runs)
}
