//! Reading a task's pagemap and finding each run's bytes in its pages file.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::PAGE_SIZE;
use crate::images::error::ImageError;
use crate::images::open::open_image_file;
use crate::images::pagemap::{pagemap_flags, PagemapEntry, PagemapHead};
use crate::images::reader::ImageReader;

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
    /// pages id to its path) and checks the file's length. (Most callers want
    /// [`ImageDir::pages_reader`](crate::images::ImageDir::pages_reader).)
    pub fn open<R: Read>(
        mut pagemap: ImageReader<R>,
        pages_path: impl FnOnce(u32) -> PathBuf,
    ) -> Result<PagesReader, ImageError> {
        let head: PagemapHead = pagemap
            .next_entry()?
            .ok_or_else(|| ImageError::MissingEntry {
                path: pagemap.path().into(),
            })?;
        let (runs, expected) = read_runs(&mut pagemap)?;
        let pages_path = pages_path(head.pages_id);
        let open_err = |source| ImageError::OpenFile {
            path: pages_path.clone(),
            source,
        };
        let pages = open_image_file(&pages_path)?;
        let actual = pages.metadata().map_err(open_err)?.len();
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
/// empty, not wrapping, in increasing non-overlapping order. Returns them
/// with the length the pages file must have.
fn read_runs<R: Read>(pagemap: &mut ImageReader<R>) -> Result<(Vec<PageRun>, u64), ImageError> {
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
    Ok((runs, file_offset))
}

#[cfg(test)]
mod tests {
    use crate::images::pagemap::{pagemap_flags, PagemapEntry, PagemapHead};
    use crate::images::scratch::ScratchDir;
    use crate::images::{ImageDir, ImageError, ImageKind, ImageName, PAGE_SIZE};

    fn run(vaddr: u64, nr_pages: u32, flags: Option<u32>) -> PagemapEntry {
        PagemapEntry {
            vaddr,
            nr_pages,
            in_parent: None,
            flags,
        }
    }

    /// Writes pagemap-1.img (pages id 3) and a pages file of `pages_len` bytes.
    fn staged(scratch: &ScratchDir, runs: &[PagemapEntry], pages_len: usize) -> ImageDir {
        let dir = ImageDir::create(scratch.path()).unwrap();
        let mut pagemap = dir
            .writer(ImageName::with_id(ImageKind::Pagemap, 1))
            .unwrap();
        pagemap.write_entry(&PagemapHead { pages_id: 3 }).unwrap();
        runs.iter().for_each(|r| pagemap.write_entry(r).unwrap());
        pagemap.finish().unwrap();
        let pages = dir.file_path(ImageName::with_id(ImageKind::Pages, 3));
        std::fs::write(pages, vec![0xa5; pages_len]).unwrap();
        dir
    }

    #[test]
    fn stored_runs_get_consecutive_offsets() {
        let scratch = ScratchDir::new("pagemap-offsets");
        let runs = [
            run(0x1000, 2, Some(pagemap_flags::PE_PRESENT)),
            run(0x5000, 1, Some(pagemap_flags::PE_LAZY)),
            run(0x9000, 3, None), // old image: present
            run(0xf000, 1, Some(pagemap_flags::PE_PARENT)),
        ];
        let dir = staged(&scratch, &runs, 5 * PAGE_SIZE as usize);
        let pages = dir.pages_reader(1).unwrap();
        let offsets: Vec<_> = pages.runs().iter().map(|r| r.file_offset).collect();
        assert_eq!(offsets, [Some(0), None, Some(2 * PAGE_SIZE), None]);
        let mut buf = vec![0; 3 * PAGE_SIZE as usize];
        pages.read_run(&pages.runs()[2], &mut buf).unwrap();
        assert!(buf.iter().all(|&b| b == 0xa5));
        assert!(pages.read_run(&pages.runs()[1], &mut buf).is_err());
    }

    #[test]
    fn a_pages_file_of_the_wrong_length_is_named() {
        let scratch = ScratchDir::new("pagemap-length");
        let dir = staged(&scratch, &[run(0x1000, 2, None)], PAGE_SIZE as usize);
        let err = dir.pages_reader(1).unwrap_err();
        assert!(
            matches!(&err, ImageError::PagesLength { path, expected: 8192, actual: 4096 }
                if path.ends_with("pages-3.img")),
            "{err}"
        );
    }

    #[test]
    fn malformed_runs_are_refused() {
        let cases = [
            vec![run(0x1234, 1, None)],
            vec![run(0x1000, 0, None)],
            vec![run(0x3000, 2, None), run(0x4000, 1, None)],
            vec![run(0x3000, 1, None), run(0x1000, 1, None)],
            vec![run(!0xfff, 2, None)],
        ];
        for (i, runs) in cases.iter().enumerate() {
            let scratch = ScratchDir::new(&format!("pagemap-bad-{i}"));
            let dir = staged(&scratch, runs, 0);
            let err = dir.pages_reader(1).unwrap_err();
            assert!(
                matches!(err, ImageError::BadPagemapRun { .. }),
                "case {i}: {err}"
            );
        }
    }

    #[test]
    fn a_pagemap_without_its_head_is_refused() {
        let scratch = ScratchDir::new("pagemap-headless");
        let dir = ImageDir::create(scratch.path()).unwrap();
        dir.writer(ImageName::with_id(ImageKind::Pagemap, 1))
            .unwrap()
            .finish()
            .unwrap();
        let err = dir.pages_reader(1).unwrap_err();
        assert!(matches!(err, ImageError::MissingEntry { .. }), "{err}");
    }
}
