//! Pages: drained from the process by the parasite into the pages image.
//!
//! The parasite vmsplice()s the pages into a pipe inside the process and
//! crust splice()s them from the pipe to the end of `pages-1.img`: the bytes
//! never pass through crust's own memory, and crust's memory use does not
//! grow with the process's.

use compel::infect::{DrainSink, PageRange, Parasite};

use crate::images::{ImageDir, PAGE_SIZE};
use crate::snapshot::PageRun;

use super::{DumpError, PAGES_ID};

/// The longest run the pagemap can describe in one entry.
const MAX_RUN_PAGES: u64 = u32::MAX as u64;

/// Moves every run's pages into the pages image and its pagemap; returns the
/// bytes written.
pub fn drain(parasite: &mut Parasite, dir: &ImageDir, runs: &[PageRun]) -> Result<u64, DumpError> {
    let pid = parasite.pid().as_raw();
    let mut writer = dir.pages_writer(pid as u32, PAGES_ID)?;
    let pieces = split_runs(runs);
    let ranges: Vec<PageRange> = pieces
        .iter()
        .map(|&(addr, pages)| PageRange {
            start: addr,
            len: u64::from(pages) * PAGE_SIZE,
        })
        .collect();
    let moved = parasite.drain(&ranges, DrainSink::Fd(writer.pages_fd()))?;
    for &(addr, pages) in &pieces {
        writer.record_appended(addr, pages)?;
    }
    let summary = writer.finish()?;
    log::debug!("pid {pid}: drained {moved} bytes in {} runs", pieces.len());
    Ok(summary.pages_len)
}

/// Runs cut to what one pagemap entry can hold.
fn split_runs(runs: &[PageRun]) -> Vec<(u64, u32)> {
    let mut pieces = Vec::with_capacity(runs.len());
    for run in runs {
        let mut done = 0;
        while done < run.pages {
            let pages = (run.pages - done).min(MAX_RUN_PAGES);
            pieces.push((run.addr + done * PAGE_SIZE, pages as u32));
            done += pages;
        }
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_runs_are_cut_for_the_pagemap() {
        let runs = [PageRun {
            addr: 0x1000,
            pages: MAX_RUN_PAGES + 2,
        }];
        let pieces = split_runs(&runs);
        assert_eq!(
            pieces,
            vec![(0x1000, u32::MAX), (0x1000 + MAX_RUN_PAGES * PAGE_SIZE, 2)]
        );
    }
}
