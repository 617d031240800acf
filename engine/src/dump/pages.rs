//! Pages: drained from the process into the pages image.
//!
//! The parasite vmsplice()s the pages into a pipe inside the process and
//! crust splice()s them from the pipe to the end of its `pages-N.img`: the bytes
//! never pass through crust's own memory, and crust's memory use does not
//! grow with the process's. vmsplice cannot read an area the process itself
//! may not read (PROT_NONE, write-only); such pages are read through
//! /proc/PID/mem instead (which may, as a debugger does), a bounded buffer at
//! a time, without changing the area's protection.

use std::fs::File;
use std::os::unix::fs::FileExt;

use compel::infect::{DrainSink, PageRange, Parasite};

use crate::images::{ImageDir, PagesWriter, PAGE_SIZE};
use crate::snapshot::{PageRun, VmaSnapshot};

use super::DumpError;

/// The longest run the pagemap can describe in one entry.
const MAX_RUN_PAGES: u64 = u32::MAX as u64;
/// Bytes read from /proc/PID/mem at a time.
const MEM_CHUNK: usize = 1 << 20;

/// A piece of a run, small enough for one pagemap entry, within areas that
/// are all readable by the process or all not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Piece {
    addr: u64,
    pages: u32,
    readable: bool,
}

/// Moves every run's pages into pages image `pages_id` and the process's pagemap; returns
/// the bytes written.
pub fn drain(
    parasite: &mut Parasite,
    dir: &ImageDir,
    pages_id: u32,
    runs: &[PageRun],
    vmas: &[VmaSnapshot],
) -> Result<u64, DumpError> {
    let pid = parasite.pid().as_raw();
    let mut writer = dir.pages_writer(pid as u32, pages_id)?;
    let pieces = pieces(runs, vmas);
    for group in pieces.chunk_by(|a, b| a.readable == b.readable) {
        if group[0].readable {
            through_parasite(parasite, &mut writer, group)?;
        } else {
            through_proc_mem(pid, &mut writer, group)?;
        }
    }
    let summary = writer.finish()?;
    log::debug!(
        "pid {pid}: saved {} bytes in {} runs",
        summary.pages_len,
        pieces.len()
    );
    Ok(summary.pages_len)
}

fn through_parasite(
    parasite: &mut Parasite,
    writer: &mut PagesWriter,
    group: &[Piece],
) -> Result<(), DumpError> {
    let ranges: Vec<PageRange> = group
        .iter()
        .map(|piece| PageRange {
            start: piece.addr,
            len: u64::from(piece.pages) * PAGE_SIZE,
        })
        .collect();
    parasite.drain(&ranges, DrainSink::Fd(writer.pages_fd()))?;
    group
        .iter()
        .try_for_each(|piece| writer.record_appended(piece.addr, piece.pages))?;
    Ok(())
}

fn through_proc_mem(pid: i32, writer: &mut PagesWriter, group: &[Piece]) -> Result<(), DumpError> {
    let path = format!("/proc/{pid}/mem");
    let mem = File::open(&path).map_err(|source| DumpError::Stat {
        path: path.clone(),
        source,
    })?;
    let mut buffer = vec![0u8; MEM_CHUNK];
    for piece in group {
        let end = piece.addr + u64::from(piece.pages) * PAGE_SIZE;
        let mut at = piece.addr;
        while at < end {
            let len = ((end - at) as usize).min(MEM_CHUNK);
            let chunk = &mut buffer[..len];
            mem.read_exact_at(chunk, at)
                .map_err(|source| DumpError::Stat {
                    path: format!("{path} at {at:#x}"),
                    source,
                })?;
            writer.write_pages(at, chunk)?;
            at += len as u64;
        }
    }
    Ok(())
}

/// Cuts runs where an area boundary changes whether the process may read
/// the pages, and to what one pagemap entry can hold.
fn pieces(runs: &[PageRun], vmas: &[VmaSnapshot]) -> Vec<Piece> {
    let readable_at = |addr: u64| {
        vmas.iter()
            .find(|v| v.start <= addr && addr < v.end)
            .is_none_or(|v| v.prot & libc::PROT_READ as u32 != 0)
    };
    let boundary_after = |addr: u64| {
        vmas.iter()
            .find(|v| v.start <= addr && addr < v.end)
            .map(|v| v.end)
    };
    let mut pieces: Vec<Piece> = Vec::with_capacity(runs.len());
    for run in runs {
        let mut addr = run.addr;
        let end = run.end();
        while addr < end {
            let stop = boundary_after(addr).unwrap_or(end).min(end);
            let readable = readable_at(addr);
            let mut pages = (stop - addr) / PAGE_SIZE;
            while pages > 0 {
                let take = pages.min(MAX_RUN_PAGES);
                pieces.push(Piece {
                    addr,
                    pages: take as u32,
                    readable,
                });
                addr += take * PAGE_SIZE;
                pages -= take;
            }
            addr = stop;
        }
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::VmaBacking;

    fn area(start: u64, end: u64, prot: i32) -> VmaSnapshot {
        VmaSnapshot {
            start,
            end,
            prot: prot as u32,
            flags: 0x22,
            pgoff: 0,
            backing: VmaBacking::Anonymous,
            madvise: 0,
            shmem_id: 0,
        }
    }

    #[test]
    fn huge_runs_are_cut_for_the_pagemap() {
        let end = 0x1000 + (MAX_RUN_PAGES + 2) * PAGE_SIZE;
        let vmas = [area(0x1000, end, libc::PROT_READ)];
        let runs = [PageRun {
            addr: 0x1000,
            pages: MAX_RUN_PAGES + 2,
        }];
        let cut = pieces(&runs, &vmas);
        assert_eq!(cut.len(), 2);
        assert_eq!(
            (cut[0].pages, cut[1].addr, cut[1].pages),
            (u32::MAX, 0x1000 + MAX_RUN_PAGES * PAGE_SIZE, 2)
        );
    }

    #[test]
    fn runs_are_cut_where_readability_changes() {
        let vmas = [
            area(0x1000, 0x3000, libc::PROT_READ),
            area(0x3000, 0x5000, libc::PROT_NONE),
        ];
        let runs = [PageRun {
            addr: 0x2000,
            pages: 3,
        }];
        let expected = vec![
            Piece {
                addr: 0x2000,
                pages: 1,
                readable: true,
            },
            Piece {
                addr: 0x3000,
                pages: 2,
                readable: false,
            },
        ];
        assert_eq!(pieces(&runs, &vmas), expected);
    }
}
