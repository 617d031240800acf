//! The memory of a child: forked from its restored parent, it starts with a
//! copy of the parent's address space. Areas it shares with the parent
//! (same place, protection, flags and backing, and still there after the
//! fork) are kept, so private pages stay copy-on-write shared as they were
//! before the dump: only the pages whose saved contents differ from the
//! parent's are written, and pages the parent has but the child had not are
//! dropped. Everything else of the parent's is unmapped and the child's own
//! areas are made as for the root.

use std::fs::File;
use std::os::fd::BorrowedFd;
use std::os::unix::fs::FileExt;

use crate::snapshot::{MemorySnapshot, ProcessSnapshot, VmaSnapshot, PAGE_SIZE, TASK_SIZE};

use super::memory::{self, SharedObjects, Stored};
use super::remote::{RemoteThread, Scratch, SCRATCH_SIZE};
use super::RestoreError;

/// Bytes compared at a time.
const COMPARE_CHUNK: u64 = 1 << 20;

/// How a child's memory was made from its parent's, for the log and the benchmarks.
#[derive(Debug, Default, Clone, Copy)]
pub struct Inheritance {
    /// Areas kept from the parent.
    pub kept_areas: usize,
    /// Bytes of kept private areas whose saved contents matched the parent's: still shared.
    pub shared_bytes: u64,
    /// Bytes written because they differed.
    pub written_bytes: u64,
}

/// Rebuilds the memory of `process`, a fresh fork of its restored `parent`.
pub fn rebuild(
    thread: &mut RemoteThread,
    scratch: &Scratch,
    process: &ProcessSnapshot,
    parent: &ProcessSnapshot,
    files: &super::files::HostFiles,
    shared: &mut SharedObjects,
) -> Result<Inheritance, RestoreError> {
    let pid = process.pid;
    let current = super::current_areas(scratch.pid)?;
    let memory = &process.memory;
    let kept: Vec<&VmaSnapshot> = memory
        .vmas
        .iter()
        .filter(|v| inherited(v, &parent.memory, &current))
        .collect();
    let is_kept = |v: &VmaSnapshot| kept.iter().any(|k| k.start == v.start && k.end == v.end);
    unmap_all_but(thread, scratch, &kept)?;

    let specials = memory.vmas.iter().filter(|v| v.is_kernel_special());
    if !specials
        .clone()
        .all(|v| is_kept(v) || v.backing == crate::snapshot::VmaBacking::Vsyscall)
    {
        memory::map_vdso(thread, memory, pid)?;
    }
    let file_fd = |id| files.fd_of(id);
    memory::map_areas(thread, scratch, memory, &file_fd, &is_kept, shared)?;
    let pages_fd = files
        .pages_fd(pid)
        .ok_or(RestoreError::MissingPages { pid })?;
    memory::fill_pages(thread, memory, pages_fd, &is_kept)?;
    memory::seal_areas(thread, memory, &is_kept)?;

    let mut inheritance = Inheritance {
        kept_areas: kept.len(),
        ..Default::default()
    };
    let private: Vec<&&VmaSnapshot> = kept
        .iter()
        .filter(|v| v.holds_saved_pages() && !v.is_shared())
        .collect();
    if private.is_empty() {
        return Ok(inheritance);
    }
    // SAFETY: the fd is HostFiles' pages image of this process, open for as
    // long as `files` lives, which outlives this borrow.
    let pages = unsafe { BorrowedFd::borrow_raw(pages_fd) };
    let (mem, image) = open_memory_and_image(pid, pages)?;
    let child_pieces = memory::stored_pieces(memory);
    let parent_pieces = memory::stored_pieces(&parent.memory);
    for vma in private {
        let child = in_area(&child_pieces, vma);
        drop_parent_pages(thread, &child, &in_area(&parent_pieces, vma))?;
        let (same, written) = write_differing(pid, &child, &mem, &image)?;
        inheritance.shared_bytes += same;
        inheritance.written_bytes += written;
    }
    Ok(inheritance)
}

/// Whether the child's area `vma` is the parent's, still in place after the fork (areas the
/// parent made MADV_DONTFORK are gone from the child, MADV_WIPEONFORK ones are emptied:
/// both are handled by comparing with what is there).
fn inherited(vma: &VmaSnapshot, parent: &MemorySnapshot, current: &[(u64, u64)]) -> bool {
    let same = |p: &VmaSnapshot| {
        p.start == vma.start
            && p.end == vma.end
            && p.prot == vma.prot
            && p.flags == vma.flags
            && p.pgoff == vma.pgoff
            && p.backing == vma.backing
            && p.shmem_id == vma.shmem_id
    };
    parent.vmas.iter().any(same) && current.contains(&(vma.start, vma.end))
}

/// Unmaps every area but the kept ones and the scratch area.
fn unmap_all_but(
    thread: &mut RemoteThread,
    scratch: &Scratch,
    kept: &[&VmaSnapshot],
) -> Result<(), RestoreError> {
    let mut keep: Vec<(u64, u64)> = kept.iter().map(|v| (v.start, v.end)).collect();
    keep.push((scratch.base, scratch.base + SCRATCH_SIZE));
    keep.retain(|(start, _)| *start < TASK_SIZE);
    keep.sort_unstable();
    let mut next = 0;
    for (start, end) in keep.into_iter().chain([(TASK_SIZE, TASK_SIZE)]) {
        if start > next {
            let args = [next, start - next, 0, 0, 0, 0];
            thread.call("unmap the parent's areas", libc::SYS_munmap, args)?;
        }
        next = next.max(end);
    }
    Ok(())
}

/// Pages the parent saved in an area (`parent_pages`) and the child did not (`child_pages`):
/// the child's are zero (or the file's), so the copies it got from the parent are dropped.
fn drop_parent_pages(
    thread: &mut RemoteThread,
    child_pages: &[Stored],
    parent_pages: &[Stored],
) -> Result<(), RestoreError> {
    for piece in parent_pages {
        for (start, end) in subtract((piece.addr, piece.addr + piece.len), child_pages) {
            let args = [start, end - start, libc::MADV_DONTNEED as u64, 0, 0, 0];
            thread.call("drop pages only the parent had", libc::SYS_madvise, args)?;
        }
    }
    Ok(())
}

/// The saved pieces (of [`memory::stored_pieces`]) inside `vma`.
fn in_area(pieces: &[(&VmaSnapshot, Stored)], vma: &VmaSnapshot) -> Vec<Stored> {
    pieces
        .iter()
        .filter(|(area, _)| area.start == vma.start)
        .map(|(_, piece)| *piece)
        .collect()
}

/// `range` without the parts `pieces` cover.
fn subtract(range: (u64, u64), pieces: &[Stored]) -> Vec<(u64, u64)> {
    let mut left = vec![range];
    for piece in pieces {
        let (cut_start, cut_end) = (piece.addr, piece.addr + piece.len);
        left = left
            .into_iter()
            .flat_map(|(s, e)| {
                if cut_end <= s || e <= cut_start {
                    return vec![(s, e)];
                }
                [(s, cut_start.max(s)), (cut_end.min(e), e)]
                    .into_iter()
                    .filter(|(a, b)| a < b)
                    .collect()
            })
            .collect();
    }
    left
}

/// The child's memory (/proc/PID/mem, read and written) and its pages image, for
/// [`write_differing`].
fn open_memory_and_image(pid: i32, pages: BorrowedFd<'_>) -> Result<(File, File), RestoreError> {
    let path = format!("/proc/{pid}/mem");
    let mem = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|source| RestoreError::ReadProc {
            path: path.clone(),
            source,
        })?;
    let image = pages
        .try_clone_to_owned()
        .map_err(|source| RestoreError::ReadProc {
            path: format!("pages image of pid {pid}"),
            source,
        })?;
    Ok((mem, File::from(image)))
}

/// Compares the child's saved pages of one area (`pieces`) with what it inherited and
/// writes (through /proc/PID/mem, which breaks the sharing of just those pages) the ones
/// that differ. Returns (bytes equal, bytes written).
fn write_differing(
    pid: i32,
    pieces: &[Stored],
    mem: &File,
    image: &File,
) -> Result<(u64, u64), RestoreError> {
    let mut saved = vec![0u8; COMPARE_CHUNK as usize];
    let mut there = vec![0u8; COMPARE_CHUNK as usize];
    let (mut same, mut written) = (0, 0);
    for piece in pieces {
        let mut done = 0;
        while done < piece.len {
            let len = (piece.len - done).min(COMPARE_CHUNK) as usize;
            let addr = piece.addr + done;
            let io = |source| RestoreError::InheritedPages { pid, addr, source };
            image
                .read_exact_at(&mut saved[..len], piece.offset + done)
                .map_err(io)?;
            mem.read_exact_at(&mut there[..len], addr).map_err(io)?;
            let page = PAGE_SIZE as usize;
            let differs = |at: usize| saved[at..at + page] != there[at..at + page];
            let mut at = 0;
            while at < len {
                if !differs(at) {
                    same += PAGE_SIZE;
                    at += page;
                    continue;
                }
                let mut end = at + page;
                while end < len && differs(end) {
                    end += page;
                }
                mem.write_all_at(&saved[at..end], addr + at as u64)
                    .map_err(io)?;
                written += (end - at) as u64;
                at = end;
            }
            done += len as u64;
        }
    }
    Ok((same, written))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(addr: u64, len: u64) -> Stored {
        Stored {
            addr,
            len,
            offset: 0,
        }
    }

    #[test]
    fn subtract_leaves_the_uncovered_parts() {
        let pieces = [stored(0x2000, 0x1000), stored(0x5000, 0x2000)];
        assert_eq!(
            subtract((0x1000, 0x8000), &pieces),
            vec![(0x1000, 0x2000), (0x3000, 0x5000), (0x7000, 0x8000)]
        );
        assert_eq!(subtract((0x2000, 0x3000), &pieces), vec![]);
    }
}
