//! Writing a task's pages: raw bytes to `pages-N.img`, runs to `pagemap-PID.img`.

use std::fs::File;
use std::io::{Seek, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::path::PathBuf;

use super::PAGE_SIZE;
use crate::images::error::ImageError;
use crate::images::pagemap::{pagemap_flags, PagemapEntry, PagemapHead};
use crate::images::splice::splice_exact;
use crate::images::writer::ImageWriter;

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

    /// The pages file, positioned where the next page goes, for a caller that
    /// appends pages itself (compel's drain splices them there from the
    /// parasite's pipe); each run so appended is then given to
    /// [`PagesWriter::record_appended`].
    pub fn pages_fd(&self) -> BorrowedFd<'_> {
        self.pages.as_fd()
    }

    /// Records `nr_pages` pages at `vaddr` that the caller appended through
    /// [`PagesWriter::pages_fd`]. [`PagesWriter::finish`] checks that the
    /// file holds exactly the bytes recorded.
    pub fn record_appended(&mut self, vaddr: u64, nr_pages: u32) -> Result<(), ImageError> {
        let len = u64::from(nr_pages) * PAGE_SIZE;
        let len = usize::try_from(len).map_err(|_| self.bad(vaddr, "run too long"))?;
        self.check_run(vaddr, len)?;
        self.record(vaddr, nr_pages, len)
    }

    /// Writes the last run and closes both files.
    pub fn finish(mut self) -> Result<PagesSummary, ImageError> {
        let position = (&self.pages)
            .stream_position()
            .map_err(|source| ImageError::Write {
                path: self.pages_path.clone(),
                offset: self.pages_len,
                source,
            })?;
        if position != self.pages_len {
            return Err(self.bad(
                self.next_vaddr,
                "the pages file does not hold the pages recorded",
            ));
        }
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

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::os::fd::AsFd as _;

    use crate::images::pagemap::{PagemapEntry, PagemapHead};
    use crate::images::scratch::ScratchDir;
    use crate::images::{ImageDir, ImageError, ImageKind, ImageName, PAGE_SIZE};

    const PAGE: usize = PAGE_SIZE as usize;

    fn runs_written(dir: &ImageDir) -> Vec<(u64, u32)> {
        let mut reader = dir
            .reader(ImageName::with_id(ImageKind::Pagemap, 1))
            .unwrap();
        let head: PagemapHead = reader.next_entry().unwrap().unwrap();
        assert_eq!(head.pages_id, 7);
        let runs: Vec<PagemapEntry> = reader.read_entries().unwrap();
        runs.iter().map(|r| (r.vaddr, r.nr_pages)).collect()
    }

    #[test]
    fn adjacent_runs_merge_and_gaps_split() {
        let scratch = ScratchDir::new("pages-merge");
        let dir = ImageDir::create(scratch.path()).unwrap();
        let mut pages = dir.pages_writer(1, 7).unwrap();
        pages.write_pages(0x1000, &[1; PAGE]).unwrap();
        pages.write_pages(0x2000, &[2; 2 * PAGE]).unwrap();
        pages.write_pages(0x8000, &[3; PAGE]).unwrap();
        let summary = pages.finish().unwrap();
        assert_eq!((summary.nr_entries, summary.pages_len), (2, 4 * PAGE_SIZE));
        assert_eq!(runs_written(&dir), [(0x1000, 3), (0x8000, 1)]);
    }

    #[test]
    fn runs_out_of_order_or_shape_are_refused() {
        let scratch = ScratchDir::new("pages-refuse");
        let dir = ImageDir::create(scratch.path()).unwrap();
        let mut pages = dir.pages_writer(1, 7).unwrap();
        pages.write_pages(0x10_0000, &[0; PAGE]).unwrap();
        for (vaddr, len) in [
            (0x20_0800, PAGE),
            (0x20_0000, 100),
            (0x20_0000, 0),
            (0x1000, PAGE),
        ] {
            let err = pages.write_pages(vaddr, &vec![0; len]).unwrap_err();
            assert!(
                matches!(err, ImageError::BadPages { .. }),
                "{vaddr:#x}+{len}: {err}"
            );
        }
        let err = pages.write_pages(u64::MAX - 0xfff, &[0; PAGE]).unwrap_err();
        assert!(matches!(err, ImageError::BadPages { .. }), "{err}");
    }

    #[test]
    fn a_pipe_that_runs_dry_is_an_error() {
        let scratch = ScratchDir::new("pages-dry");
        let dir = ImageDir::create(scratch.path()).unwrap();
        let mut pages = dir.pages_writer(1, 7).unwrap();
        let (rx, tx) = nix::unistd::pipe().unwrap();
        std::fs::File::from(tx).write_all(&[9; 100]).unwrap();
        let err = pages.splice_pages(0x1000, 1, rx.as_fd()).unwrap_err();
        assert!(
            matches!(err, ImageError::SpliceShort { missing, .. } if missing == PAGE - 100),
            "{err}"
        );
    }
}
