//! Ghosts and memfds in CRIU's images.
//!
//! A ghost is a `reg` entry of files.img under the path the file had, named in
//! `remap-fpath.img` as remapped (`GHOST`) to `ghost-file-ID.img`, which holds the inode
//! (owner, mode, times, size) and the contents in chunks: a `ghost_chunk_entry` then its bytes,
//! one per run of data, so holes stay holes. A removed working directory is a ghost of the
//! cwd's entry, with no contents.
//!
//! A memfd's open descriptions are `memfd` entries of files.img; its inode is a
//! `memfd_inode_entry` of `memfd.img`, and its contents are shared memory pages, as CRIU keeps
//! them: `pagemap-shmem-SHMID.img` (addresses are offsets in the memfd) and a pages image of
//! their own, `pages-ID.img` with ID = [`MEMFD_PAGES_BASE`] + the inode id.
//!
//! Both images are tree-wide in CRIU: the writers take slices, so a tree's entries can be
//! written at once.

use std::collections::HashSet;
use std::io::ErrorKind;
use std::path::Path;

use super::error::{fit, CodecError};
use super::files::ReadFiles;
use crate::images::fdinfo::{FdTypes, FileEntry};
use crate::images::fown::FownEntry;
use crate::images::ghost::{
    GhostChunkEntry, GhostFileEntry, RemapFilePathEntry, RemapType, Timeval,
};
use crate::images::memfd::{MemfdFileEntry, MemfdInodeEntry};
use crate::images::{ImageDir, ImageError, ImageKind, ImageName, PAGE_SIZE};
use crate::snapshot::{
    DataChunk, FileSnapshot, GhostFile, InodeAttributes, InvisibleFiles, MemfdFile, MemfdInode,
};

/// Pages images of memfds are numbered from here, apart from the tasks' own.
pub const MEMFD_PAGES_BASE: u32 = 1 << 20;

/// Most ghosts and memfds crust reads back.
const MAX_OBJECTS: usize = 1 << 16;

/// The files.img entry of an open memfd.
pub(crate) fn memfd_file_entry(id: u32, memfd: &MemfdFile) -> FileEntry {
    FileEntry {
        r#type: FdTypes::Memfd as i32,
        id,
        memfd: Some(MemfdFileEntry {
            id,
            flags: memfd.flags,
            pos: memfd.pos,
            fown: FownEntry::default(),
            inode_id: memfd.inode_id,
        }),
        ..Default::default()
    }
}

/// An open memfd read back from files.img.
pub(crate) fn read_memfd_file(path: &Path, entry: &FileEntry) -> Result<FileSnapshot, CodecError> {
    let bad = |why| CodecError::BadFile {
        path: path.into(),
        id: entry.id,
        kind: "MEMFD".into(),
        why,
    };
    let memfd = entry.memfd.as_ref().ok_or(bad("has no memfd member"))?;
    if memfd.id != entry.id {
        return Err(bad("has a memfd member of another id"));
    }
    let memfd = MemfdFile {
        inode_id: memfd.inode_id,
        flags: memfd.flags,
        pos: memfd.pos,
    };
    Ok(FileSnapshot::Memfd {
        id: entry.id,
        memfd,
    })
}

/// Writes the ghosts and memfds of a tree (`cwds`: each process's removed working
/// directory, by ghost id, with the file id of its cwd entry). Nothing is written for a tree
/// that has none.
pub(crate) fn write_invisible(
    dir: &ImageDir,
    pid: i32,
    invisible: &InvisibleFiles,
    cwds: &[(Option<u32>, u32)],
) -> Result<(), CodecError> {
    let mut remaps = Vec::new();
    for ghost in &invisible.ghosts {
        let cwd = cwds
            .iter()
            .filter(|(cwd_ghost, _)| *cwd_ghost == Some(ghost.id))
            .map(|(_, cwd_id)| *cwd_id);
        for orig_id in ghost.file_ids.iter().copied().chain(cwd) {
            remaps.push(RemapFilePathEntry {
                orig_id,
                remap_id: ghost.id,
                remap_type: Some(RemapType::Ghost as i32),
            });
        }
        write_ghost(dir, pid, ghost)?;
    }
    if !remaps.is_empty() {
        write_remaps(dir, &remaps)?;
    }
    if !invisible.memfds.is_empty() {
        write_memfds(dir, pid, &invisible.memfds)?;
    }
    Ok(())
}

/// Writes `remap-fpath.img`.
pub fn write_remaps(dir: &ImageDir, remaps: &[RemapFilePathEntry]) -> Result<(), CodecError> {
    dir.write_entries(ImageName::fixed(ImageKind::RemapFpath), remaps)?;
    Ok(())
}

/// Writes `ghost-file-ID.img`: the inode, then each chunk of data after its entry.
pub fn write_ghost(dir: &ImageDir, pid: i32, ghost: &GhostFile) -> Result<(), CodecError> {
    let attributes = &ghost.attributes;
    let timeval = |(tv_sec, tv_usec)| Some(Timeval { tv_sec, tv_usec });
    let entry = GhostFileEntry {
        uid: attributes.uid,
        gid: attributes.gid,
        mode: attributes.mode,
        dev: Some(fit(pid, "ghost file device", kernel_dev(ghost.dev))?),
        ino: Some(ghost.ino),
        rdev: None,
        atim: timeval(attributes.atime),
        mtim: timeval(attributes.mtime),
        chunks: Some(true),
        size: Some(ghost.size),
        symlnk_target: None,
    };
    let mut writer = dir.writer(ImageName::with_id(ImageKind::GhostFile, ghost.id))?;
    writer.write_entry(&entry)?;
    for chunk in &ghost.chunks {
        let entry = GhostChunkEntry {
            len: chunk.bytes.len() as u64,
            off: chunk.offset,
        };
        writer.write_entry(&entry)?;
        writer.write_payload(&chunk.bytes)?;
    }
    writer.finish()?;
    Ok(())
}

/// A `dev_t` as CRIU stores it: major in the bits above 20, minor below.
fn kernel_dev(dev: u64) -> u64 {
    let (major, minor) = (libc::major(dev), libc::minor(dev));
    u64::from(major) << 20 | u64::from(minor & 0xf_ffff)
}

/// CRIU's device number back as a `dev_t`.
fn user_dev(kdev: u32) -> u64 {
    libc::makedev(kdev >> 20, kdev & 0xf_ffff)
}

/// Writes `memfd.img` and each memfd's shared memory pagemap and pages.
pub fn write_memfds(dir: &ImageDir, pid: i32, memfds: &[MemfdInode]) -> Result<(), CodecError> {
    let entries: Vec<MemfdInodeEntry> = memfds
        .iter()
        .map(|memfd| MemfdInodeEntry {
            name: memfd.name.clone(),
            uid: memfd.attributes.uid,
            gid: memfd.attributes.gid,
            size: memfd.size,
            shmid: memfd.id,
            seals: memfd.seals,
            inode_id: memfd.id.into(),
            hugetlb_flag: None,
            mode: Some(memfd.attributes.mode),
        })
        .collect();
    dir.write_entries(ImageName::fixed(ImageKind::MemfdInode), &entries)?;
    for memfd in memfds {
        write_memfd_pages(dir, pid, memfd)?;
    }
    Ok(())
}

fn write_memfd_pages(dir: &ImageDir, pid: i32, memfd: &MemfdInode) -> Result<(), CodecError> {
    let pages_id = MEMFD_PAGES_BASE
        .checked_add(memfd.id)
        .ok_or(CodecError::Unrepresentable {
            pid,
            what: "memfd inode id",
            value: memfd.id.into(),
            why: "no pages image id is left for it",
        })?;
    let mut pages = dir.shmem_pages_writer(memfd.id, pages_id)?;
    for chunk in &memfd.chunks {
        if !chunk.offset.is_multiple_of(PAGE_SIZE) {
            return Err(CodecError::Unrepresentable {
                pid,
                what: "offset of memfd contents",
                value: chunk.offset.into(),
                why: "shared memory pages start on a page boundary",
            });
        }
        let whole = chunk.bytes.len().div_ceil(PAGE_SIZE as usize) * PAGE_SIZE as usize;
        let mut bytes = chunk.bytes.clone();
        bytes.resize(whole, 0);
        pages.write_pages(chunk.offset, &bytes)?;
    }
    pages.finish()?;
    Ok(())
}

/// Reads the ghosts and memfds back. `files` is every entry of files.img (the working
/// directory's included), `cwd_id` the working directory's entry.
pub(crate) fn read_invisible(
    dir: &ImageDir,
    files: &ReadFiles,
    cwd_id: u32,
) -> Result<InvisibleFiles, CodecError> {
    let mut invisible = InvisibleFiles::default();
    for remap in read_remaps(dir)? {
        let path = dir.file_path(ImageName::fixed(ImageKind::RemapFpath));
        if remap.remap_type != Some(RemapType::Ghost as i32) {
            return Err(CodecError::OutOfRange {
                path,
                what: "remap type (crust restores only ghosts)",
                value: remap.remap_type.unwrap_or(-1).into(),
            });
        }
        let orig_path = files.regular(&path, "orig_id", remap.orig_id)?.path.clone();
        let ghost = match invisible
            .ghosts
            .iter_mut()
            .position(|g| g.id == remap.remap_id)
        {
            Some(index) => &mut invisible.ghosts[index],
            None => {
                let ghost = read_ghost(dir, remap.remap_id, orig_path.clone())?;
                invisible.ghosts.push(ghost);
                let last = invisible.ghosts.len() - 1;
                &mut invisible.ghosts[last]
            }
        };
        if ghost.path != orig_path {
            return Err(CodecError::UnknownFileId {
                path,
                referrer: "a ghost shared by files of different paths",
                id: remap.orig_id,
                expected: "a file of the ghost's path",
            });
        }
        if remap.orig_id == cwd_id {
            invisible.cwd_ghost = Some(ghost.id);
        } else {
            ghost.file_ids.push(remap.orig_id);
        }
    }
    invisible.memfds = read_memfds(dir)?;
    Ok(invisible)
}

fn read_remaps(dir: &ImageDir) -> Result<Vec<RemapFilePathEntry>, CodecError> {
    let name = ImageName::fixed(ImageKind::RemapFpath);
    let remaps: Vec<RemapFilePathEntry> = match dir.read_entries(name) {
        Err(ImageError::OpenFile { source, .. }) if source.kind() == ErrorKind::NotFound => {
            return Ok(Vec::new())
        }
        read => read?,
    };
    let mut seen = HashSet::new();
    for remap in &remaps {
        if !seen.insert(remap.orig_id) {
            let id = remap.orig_id.into();
            let path = dir.file_path(name);
            return Err(CodecError::DuplicateId {
                path,
                what: "remapped file id",
                id,
            });
        }
    }
    Ok(remaps)
}

fn read_ghost(dir: &ImageDir, id: u32, path: String) -> Result<GhostFile, CodecError> {
    let name = ImageName::with_id(ImageKind::GhostFile, id);
    let image = dir.file_path(name);
    let mut reader = dir.reader(name)?;
    let entry: GhostFileEntry = reader.next_entry()?.ok_or(CodecError::MissingField {
        path: image.clone(),
        what: "ghost_file_entry",
    })?;
    let mut chunks = Vec::new();
    if entry.chunks == Some(true) {
        while let Some(chunk) = reader.next_entry::<GhostChunkEntry>()? {
            let bytes = reader.read_payload(chunk.len)?;
            chunks.push(DataChunk {
                offset: chunk.off,
                bytes,
            });
        }
    } else {
        let bytes = reader.read_payload(reader.remaining())?;
        if !bytes.is_empty() {
            chunks.push(DataChunk { offset: 0, bytes });
        }
    }
    let size = match entry.size {
        Some(size) => size,
        None => chunks.last().and_then(DataChunk::end).unwrap_or(0),
    };
    let time = |t: &Option<Timeval>| t.as_ref().map_or((0, 0), |t| (t.tv_sec, t.tv_usec));
    Ok(GhostFile {
        id,
        path,
        file_ids: Vec::new(),
        dev: user_dev(entry.dev.unwrap_or(0)),
        ino: entry.ino.unwrap_or(0),
        attributes: InodeAttributes {
            mode: entry.mode,
            uid: entry.uid,
            gid: entry.gid,
            atime: time(&entry.atim),
            mtime: time(&entry.mtim),
        },
        size,
        chunks,
    })
}

fn read_memfds(dir: &ImageDir) -> Result<Vec<MemfdInode>, CodecError> {
    let name = ImageName::fixed(ImageKind::MemfdInode);
    let path = dir.file_path(name);
    let entries: Vec<MemfdInodeEntry> = match dir.read_entries(name) {
        Err(ImageError::OpenFile { source, .. }) if source.kind() == ErrorKind::NotFound => {
            return Ok(Vec::new())
        }
        read => read?,
    };
    if entries.len() > MAX_OBJECTS {
        return Err(CodecError::BadLength {
            path,
            what: "memfd inodes",
            found: entries.len(),
            expected: MAX_OBJECTS,
        });
    }
    let mut memfds = Vec::with_capacity(entries.len());
    for entry in entries {
        let id = super::error::narrow(&path, "memfd inode id", entry.inode_id)?;
        if entry.hugetlb_flag.is_some_and(|flag| flag != 0) {
            return Err(CodecError::OutOfRange {
                path,
                what: "memfd hugetlb flag (crust restores no hugetlb memfd)",
                value: entry.hugetlb_flag.unwrap_or(0).into(),
            });
        }
        let chunks = read_memfd_pages(dir, entry.shmid, entry.size)?;
        memfds.push(MemfdInode {
            id,
            name: entry.name,
            attributes: InodeAttributes {
                mode: entry.mode.unwrap_or(libc::S_IFREG | 0o777),
                uid: entry.uid,
                gid: entry.gid,
                ..Default::default()
            },
            size: entry.size,
            seals: entry.seals,
            chunks,
        });
    }
    Ok(memfds)
}

/// A memfd's pages as chunks, the last cut at `size`.
fn read_memfd_pages(dir: &ImageDir, shmid: u32, size: u64) -> Result<Vec<DataChunk>, CodecError> {
    let reader = dir.shmem_pages_reader(shmid)?;
    let mut chunks = Vec::new();
    for run in reader.runs() {
        if run.vaddr >= size {
            break;
        }
        let mut bytes = vec![0; usize::try_from(run.len()).unwrap_or(usize::MAX)];
        reader.read_run(run, &mut bytes)?;
        let keep = (size - run.vaddr).min(run.len());
        bytes.truncate(usize::try_from(keep).unwrap_or(usize::MAX));
        chunks.push(DataChunk {
            offset: run.vaddr,
            bytes,
        });
    }
    Ok(chunks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_are_stored_as_criu_does() {
        let dev = libc::makedev(254, 3);
        assert_eq!(kernel_dev(dev), 254 << 20 | 3);
        assert_eq!(user_dev(254 << 20 | 3), dev);
    }
}
