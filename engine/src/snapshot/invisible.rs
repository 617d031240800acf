//! Files with no name left: ghosts (regular files and directories unlinked while open, mapped
//! or held as the working directory) and memfds. Their contents travel in the images.

use std::collections::HashSet;

use super::{FileSnapshot, SnapshotError};

/// Most bytes of contents one ghost or memfd may declare (the images bound them again).
pub const MAX_CONTENT_SIZE: u64 = 1 << 40;

/// Longest memfd name the kernel accepts (NAME_MAX less the `memfd:` prefix).
pub const MAX_MEMFD_NAME: usize = 249;

/// Bytes of a file at an offset; what lies between chunks is a hole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataChunk {
    /// Offset of the first byte in the file.
    pub offset: u64,
    /// The bytes.
    pub bytes: Vec<u8>,
}

impl DataChunk {
    /// Offset just past the chunk.
    pub fn end(&self) -> Option<u64> {
        self.offset.checked_add(self.bytes.len() as u64)
    }
}

/// Owner, permissions and times of an inode crust recreates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InodeAttributes {
    /// st_mode, type bits included.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Last access, (seconds, microseconds).
    pub atime: (u64, u64),
    /// Last modification, (seconds, microseconds).
    pub mtime: (u64, u64),
}

/// An unlinked regular file or directory, recreated under its former path and unlinked again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GhostFile {
    /// The id of its `ghost-file-ID.img`.
    pub id: u32,
    /// The path it had (every file of `file_ids` names it).
    pub path: String,
    /// Files of the snapshot (fds, mappings) that are open descriptions of it.
    pub file_ids: Vec<u32>,
    /// Device and inode it had when dumped (for the images only).
    pub dev: u64,
    /// Inode number it had when dumped.
    pub ino: u64,
    /// Owner, mode, times.
    pub attributes: InodeAttributes,
    /// Its size in bytes (0 for a directory).
    pub size: u64,
    /// Its contents, in offset order, holes left out.
    pub chunks: Vec<DataChunk>,
}

impl GhostFile {
    /// Whether it is a directory (no contents, recreated with mkdir).
    pub fn is_directory(&self) -> bool {
        self.attributes.mode & libc::S_IFMT == libc::S_IFDIR
    }
}

/// A memfd inode: recreated with memfd_create under the same name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemfdInode {
    /// The id open descriptions refer to it by (`memfd_file_entry.inode_id`).
    pub id: u32,
    /// Its name, without the `memfd:` prefix.
    pub name: String,
    /// Owner and mode (times are not kept: the kernel sets them on every write).
    pub attributes: InodeAttributes,
    /// Its size in bytes.
    pub size: u64,
    /// F_GET_SEALS.
    pub seals: u32,
    /// Its contents, in offset order, holes left out.
    pub chunks: Vec<DataChunk>,
}

/// One open description of a memfd (an fd, or the file a mapping was made from).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemfdFile {
    /// The memfd it opens.
    pub inode_id: u32,
    /// open(2) flags, without O_CLOEXEC.
    pub flags: u32,
    /// File offset.
    pub pos: u64,
}

/// The ghosts and memfds of a process, and whether its working directory is a ghost.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InvisibleFiles {
    /// Unlinked files and directories.
    pub ghosts: Vec<GhostFile>,
    /// memfd inodes.
    pub memfds: Vec<MemfdInode>,
    /// The ghost (a directory) the process works in, by ghost id.
    pub cwd_ghost: Option<u32>,
}

impl InvisibleFiles {
    /// The part of a tree's ghosts and memfds (`self`) that a process with `files` holds,
    /// each ghost with the process's own file ids only, and its removed working directory
    /// (`cwd_ghost`).
    pub fn share_of(&self, files: &[FileSnapshot], cwd_ghost: Option<u32>) -> InvisibleFiles {
        let ids: HashSet<u32> = files.iter().map(FileSnapshot::id).collect();
        let memfd_inodes: HashSet<u32> = files
            .iter()
            .filter_map(|f| match f {
                FileSnapshot::Memfd { memfd, .. } => Some(memfd.inode_id),
                _ => None,
            })
            .collect();
        let ghosts = self
            .ghosts
            .iter()
            .filter_map(|ghost| {
                let mut own = ghost.clone();
                own.file_ids.retain(|id| ids.contains(id));
                let wanted = !own.file_ids.is_empty() || cwd_ghost == Some(ghost.id);
                wanted.then_some(own)
            })
            .collect();
        let memfds = self
            .memfds
            .iter()
            .filter(|m| memfd_inodes.contains(&m.id))
            .cloned()
            .collect();
        InvisibleFiles {
            ghosts,
            memfds,
            cwd_ghost,
        }
    }

    /// The ghosts and memfds of every part, each once, a ghost with the file ids of all
    /// parts; no working directory (each part has its own).
    pub fn merged<'a>(parts: impl Iterator<Item = &'a InvisibleFiles>) -> InvisibleFiles {
        let mut all = InvisibleFiles::default();
        for part in parts {
            for ghost in &part.ghosts {
                match all.ghosts.iter_mut().find(|g| g.id == ghost.id) {
                    Some(known) => {
                        let new = ghost
                            .file_ids
                            .iter()
                            .filter(|id| !known.file_ids.contains(id));
                        let new: Vec<u32> = new.copied().collect();
                        known.file_ids.extend(new);
                    }
                    None => all.ghosts.push(ghost.clone()),
                }
            }
            for memfd in &part.memfds {
                if !all.memfds.iter().any(|m| m.id == memfd.id) {
                    all.memfds.push(memfd.clone());
                }
            }
        }
        all
    }

    /// Whether file `id` is a description of a ghost.
    pub fn ghost_of(&self, file_id: u32) -> Option<&GhostFile> {
        self.ghosts.iter().find(|g| g.file_ids.contains(&file_id))
    }

    /// Checks ids, sizes and chunks against each other and against `files`.
    pub fn validate(&self, pid: i32, files: &[FileSnapshot]) -> Result<(), SnapshotError> {
        let bad = |what: &'static str, value: i64| SnapshotError::OutOfRange { pid, what, value };
        let mut ghost_ids = HashSet::new();
        for ghost in &self.ghosts {
            if !ghost_ids.insert(ghost.id) {
                return Err(bad("ghost file id (twice)", ghost.id.into()));
            }
            for id in &ghost.file_ids {
                let regular = files
                    .iter()
                    .any(|f| matches!(f, FileSnapshot::Regular { id: i, .. } if i == id));
                if !regular {
                    return Err(bad(
                        "file id of a ghost (no such regular file)",
                        (*id).into(),
                    ));
                }
            }
            let kind = ghost.attributes.mode & libc::S_IFMT;
            if kind != libc::S_IFREG && kind != libc::S_IFDIR {
                return Err(bad("ghost file type", kind.into()));
            }
            if ghost.is_directory() && !ghost.chunks.is_empty() {
                return Err(bad(
                    "contents of a ghost directory",
                    ghost.chunks.len() as i64,
                ));
            }
            if !ghost.path.starts_with('/') || ghost.path.contains('\0') {
                return Err(bad("ghost path (not absolute)", ghost.path.len() as i64));
            }
            check_chunks(&ghost.chunks, ghost.size).map_err(|value| bad("ghost chunk", value))?;
        }
        if let Some(id) = self.cwd_ghost {
            let dir = self.ghosts.iter().find(|g| g.id == id);
            if !dir.is_some_and(GhostFile::is_directory) {
                return Err(bad("ghost id of the working directory", id.into()));
            }
        }
        self.validate_memfds(pid, files)
    }

    fn validate_memfds(&self, pid: i32, files: &[FileSnapshot]) -> Result<(), SnapshotError> {
        let bad = |what: &'static str, value: i64| SnapshotError::OutOfRange { pid, what, value };
        let mut ids = HashSet::new();
        for memfd in &self.memfds {
            if !ids.insert(memfd.id) {
                return Err(bad("memfd inode id (twice)", memfd.id.into()));
            }
            if memfd.name.len() > MAX_MEMFD_NAME || memfd.name.contains('\0') {
                return Err(bad("memfd name length", memfd.name.len() as i64));
            }
            check_chunks(&memfd.chunks, memfd.size).map_err(|value| bad("memfd chunk", value))?;
        }
        for file in files {
            if let FileSnapshot::Memfd { memfd, .. } = file {
                if !ids.contains(&memfd.inode_id) {
                    return Err(bad("memfd inode id of a file", memfd.inode_id.into()));
                }
            }
        }
        Ok(())
    }
}

/// Chunks must be in order, apart, and within `size`; the offset of the first bad one if not.
fn check_chunks(chunks: &[DataChunk], size: u64) -> Result<(), i64> {
    if size > MAX_CONTENT_SIZE {
        return Err(i64::try_from(size).unwrap_or(i64::MAX));
    }
    let mut at = 0;
    for chunk in chunks {
        let offset = i64::try_from(chunk.offset).unwrap_or(i64::MAX);
        match chunk.end() {
            Some(end) if chunk.offset >= at && end <= size && !chunk.bytes.is_empty() => at = end,
            _ => return Err(offset),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(offset: u64, len: usize) -> DataChunk {
        DataChunk {
            offset,
            bytes: vec![7; len],
        }
    }

    #[test]
    fn chunks_must_be_ordered_and_inside_the_file() {
        assert_eq!(check_chunks(&[chunk(0, 10), chunk(4096, 10)], 5000), Ok(()));
        assert_eq!(check_chunks(&[chunk(4096, 10), chunk(0, 10)], 5000), Err(0));
        assert_eq!(check_chunks(&[chunk(4096, 10)], 4100), Err(4096));
        assert_eq!(check_chunks(&[chunk(0, 0)], 10), Err(0));
        assert_eq!(check_chunks(&[], MAX_CONTENT_SIZE + 1), Err(1 << 40 | 1));
    }
}
