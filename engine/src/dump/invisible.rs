//! Ghosts and memfds: files with no name left, whose contents go into the images.
//!
//! Each inode is read once, through a path that reaches it without its name
//! (`/proc/PID/fd/N`, `/proc/PID/map_files/START-END`, `/proc/PID/cwd`), however many fds and
//! mappings hold it: each of those is a file of the table, and the inode records their ids.

use std::collections::HashMap;
use std::fs::File;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::unistd::{lseek, Pid, Whence};

use crate::proc::maps::Vma;
use crate::proc::proc_path;
use crate::snapshot::{
    DataChunk, FileSnapshot, GhostFile, InodeAttributes, InvisibleFiles, MemfdFile, MemfdInode,
    RegularFile, PAGE_SIZE,
};

use super::files::FileTable;
use super::DumpError;

/// What the kernel appends to the link of a file that lost its name.
const DELETED_SUFFIX: &str = " (deleted)";

/// The ghosts and memfds met while the file table is built.
#[derive(Debug, Default)]
pub struct InvisibleTable {
    /// Largest ghost file crust keeps (`--ghost-limit`).
    pub ghost_limit: u64,
    files: InvisibleFiles,
    ghost_by_inode: HashMap<(u64, u64), usize>,
    memfd_by_inode: HashMap<(u64, u64), usize>,
    by_description: HashMap<(u64, u64, u32), u32>,
}

impl InvisibleTable {
    /// The removed working directory of the process just read (by ghost id), taken out so
    /// that the next process of the tree starts without one.
    pub fn take_cwd_ghost(&mut self) -> Option<u32> {
        self.files.cwd_ghost.take()
    }

    /// Everything found, ready for the snapshot.
    pub fn finish(self) -> InvisibleFiles {
        self.files
    }
}

/// Where an inode was found, for errors.
struct Source {
    pid: Pid,
    /// A path that opens the inode.
    path: PathBuf,
    /// What the user knows it as (`fd 5`, `mapping 0x1000-0x2000`).
    holder: String,
}

impl Source {
    /// Fd `fd` of `pid`, opened through /proc/PID/fd.
    fn fd(pid: Pid, fd: RawFd) -> Source {
        Source {
            pid,
            path: proc_path(pid, &format!("fd/{fd}")),
            holder: format!("fd {fd}"),
        }
    }

    /// The file `vma` of `pid` maps, opened through /proc/PID/map_files.
    fn mapping(pid: Pid, vma: &Vma) -> Source {
        Source {
            pid,
            path: vma.map_files_path(pid),
            holder: format!("mapping {:#x}-{:#x}", vma.start, vma.end),
        }
    }
}

/// Fd `fd` of `pid`, a file or directory unlinked while open under `path`.
pub fn ghost_fd(
    table: &mut FileTable,
    pid: Pid,
    fd: RawFd,
    path: &Path,
    flags: u32,
    pos: u64,
) -> Result<u32, DumpError> {
    let source = Source::fd(pid, fd);
    let (ghost, meta) = ghost_of(table, &source, path)?;
    let file = RegularFile {
        path: path_text(path)?,
        flags,
        pos,
        size: meta.size(),
        mode: meta.mode(),
    };
    let id = table.push(|id| FileSnapshot::Regular { id, file });
    table.invisible.files.ghosts[ghost].file_ids.push(id);
    Ok(id)
}

/// The file mapped by `vma` of `pid`, unlinked since, under `path`; one file per inode and
/// open flags.
pub fn ghost_mapping(
    table: &mut FileTable,
    pid: Pid,
    vma: &Vma,
    path: &Path,
    flags: u32,
) -> Result<u32, DumpError> {
    let source = Source::mapping(pid, vma);
    let (ghost, meta) = ghost_of(table, &source, path)?;
    shared_description(table, ghost, &meta, path, flags)
}

/// The executable of `pid`: by its path, or the ghost it is if it was unlinked (a program
/// replaced by an upgrade while it runs).
pub fn exe_file(table: &mut FileTable, pid: Pid) -> Result<u32, DumpError> {
    let link = crate::proc::identity::exe(pid)?;
    let flags = libc::O_RDONLY as u32;
    let source = Source {
        pid,
        path: proc_path(pid, "exe"),
        holder: "its executable".into(),
    };
    let meta = std::fs::metadata(&source.path).map_err(|e| stat_error(&source.path, e))?;
    if meta.nlink() != 0 {
        return table.by_path(&link, flags);
    }
    let text = path_text(&link)?;
    let path = Path::new(text.strip_suffix(DELETED_SUFFIX).unwrap_or(&text));
    let (ghost, meta) = ghost_of(table, &source, path)?;
    shared_description(table, ghost, &meta, path, flags)
}

/// The one file of ghost `ghost` opened with `flags` for mappings and the executable.
fn shared_description(
    table: &mut FileTable,
    ghost: usize,
    meta: &std::fs::Metadata,
    path: &Path,
    flags: u32,
) -> Result<u32, DumpError> {
    let key = (meta.dev(), meta.ino(), flags);
    if let Some(id) = table.invisible.by_description.get(&key) {
        return Ok(*id);
    }
    let file = RegularFile {
        path: path_text(path)?,
        flags,
        pos: 0,
        size: meta.size(),
        mode: meta.mode(),
    };
    let id = table.push(|id| FileSnapshot::Regular { id, file });
    table.invisible.files.ghosts[ghost].file_ids.push(id);
    table.invisible.by_description.insert(key, id);
    Ok(id)
}

/// The working directory of `pid` as a path, and made a ghost if it was removed.
pub fn working_directory(table: &mut FileTable, pid: Pid) -> Result<String, DumpError> {
    let link = crate::proc::identity::cwd(pid)?;
    let source = Source {
        pid,
        path: proc_path(pid, "cwd"),
        holder: "working directory".into(),
    };
    let meta = std::fs::metadata(&source.path).map_err(|e| stat_error(&source.path, e))?;
    if meta.nlink() != 0 {
        return path_text(&link);
    }
    let text = path_text(&link)?;
    let path = text
        .strip_suffix(DELETED_SUFFIX)
        .unwrap_or(&text)
        .to_owned();
    let (ghost, _) = ghost_of(table, &source, Path::new(&path))?;
    let invisible = &mut table.invisible.files;
    invisible.cwd_ghost = Some(invisible.ghosts[ghost].id);
    Ok(path)
}

/// The ghost of the inode `source` opens (read now if first met), and its metadata.
fn ghost_of(
    table: &mut FileTable,
    source: &Source,
    path: &Path,
) -> Result<(usize, std::fs::Metadata), DumpError> {
    let file = File::open(&source.path).map_err(|e| stat_error(&source.path, e))?;
    let meta = file.metadata().map_err(|e| stat_error(&source.path, e))?;
    let invisible = &mut table.invisible;
    if let Some(index) = invisible.ghost_by_inode.get(&(meta.dev(), meta.ino())) {
        return Ok((*index, meta));
    }
    if meta.nlink() != 0 {
        return Err(unsupported(
            source,
            "a file whose name is gone but which has other links",
        ));
    }
    let directory = meta.is_dir();
    if !directory && !meta.is_file() {
        return Err(unsupported(
            source,
            "an unlinked file that is not a regular file",
        ));
    }
    if meta.size() > invisible.ghost_limit {
        let what = format!(
            "an unlinked file of {} bytes, over the ghost limit of {} bytes (--ghost-limit)",
            meta.size(),
            invisible.ghost_limit
        );
        return Err(unsupported(source, &what));
    }
    let chunks = match directory {
        true => Vec::new(),
        false => read_chunks(&file, meta.size()).map_err(|e| stat_error(&source.path, e))?,
    };
    let ghost = GhostFile {
        id: u32::try_from(invisible.files.ghosts.len() + 1).unwrap_or(u32::MAX),
        path: path_text(path)?,
        file_ids: Vec::new(),
        dev: meta.dev(),
        ino: meta.ino(),
        attributes: attributes(&meta),
        size: if directory { 0 } else { meta.size() },
        chunks,
    };
    log::debug!(
        "pid {}: {} is unlinked {} {} ({} bytes in {} chunks): kept as ghost {}",
        source.pid,
        source.holder,
        if directory { "directory" } else { "file" },
        ghost.path,
        ghost.size,
        ghost.chunks.len(),
        ghost.id
    );
    let index = invisible.files.ghosts.len();
    invisible.files.ghosts.push(ghost);
    invisible
        .ghost_by_inode
        .insert((meta.dev(), meta.ino()), index);
    Ok((index, meta))
}

/// Fd `fd` of `pid`, a memfd named `name`.
pub fn memfd_fd(
    table: &mut FileTable,
    pid: Pid,
    fd: RawFd,
    name: &str,
    flags: u32,
    pos: u64,
) -> Result<u32, DumpError> {
    let source = Source::fd(pid, fd);
    let (inode_id, _) = memfd_of(table, &source, name)?;
    let memfd = MemfdFile {
        inode_id,
        flags,
        pos,
    };
    Ok(table.push(|id| FileSnapshot::Memfd { id, memfd }))
}

/// The memfd `name` mapped by `vma` of `pid`; one file per memfd and open flags.
pub fn memfd_mapping(
    table: &mut FileTable,
    pid: Pid,
    vma: &Vma,
    name: &str,
    flags: u32,
) -> Result<u32, DumpError> {
    let source = Source::mapping(pid, vma);
    let (inode_id, (dev, ino)) = memfd_of(table, &source, name)?;
    if let Some(id) = table.invisible.by_description.get(&(dev, ino, flags)) {
        return Ok(*id);
    }
    let memfd = MemfdFile {
        inode_id,
        flags,
        pos: 0,
    };
    let id = table.push(|id| FileSnapshot::Memfd { id, memfd });
    table.invisible.by_description.insert((dev, ino, flags), id);
    Ok(id)
}

/// The id of the memfd `source` opens (read now if first met), and its device and inode.
fn memfd_of(
    table: &mut FileTable,
    source: &Source,
    name: &str,
) -> Result<(u32, (u64, u64)), DumpError> {
    let file = File::open(&source.path).map_err(|e| stat_error(&source.path, e))?;
    let meta = file.metadata().map_err(|e| stat_error(&source.path, e))?;
    let key = (meta.dev(), meta.ino());
    let invisible = &mut table.invisible;
    if let Some(index) = invisible.memfd_by_inode.get(&key) {
        return Ok((invisible.files.memfds[*index].id, key));
    }
    let seals = nix::fcntl::fcntl(file.as_raw_fd(), nix::fcntl::FcntlArg::F_GET_SEALS)
        .map_err(|errno| stat_error(&source.path, errno.into()))?;
    let chunks = read_chunks(&file, meta.size()).map_err(|e| stat_error(&source.path, e))?;
    let memfd = MemfdInode {
        id: u32::try_from(invisible.files.memfds.len() + 1).unwrap_or(u32::MAX),
        name: name.to_owned(),
        attributes: attributes(&meta),
        size: meta.size(),
        seals: seals as u32,
        chunks,
    };
    log::debug!(
        "pid {}: {} is memfd:{name} ({} bytes, seals {:#x}): memfd inode {}",
        source.pid,
        source.holder,
        memfd.size,
        memfd.seals,
        memfd.id
    );
    let id = memfd.id;
    invisible
        .memfd_by_inode
        .insert(key, invisible.files.memfds.len());
    invisible.files.memfds.push(memfd);
    Ok((id, key))
}

fn attributes(meta: &std::fs::Metadata) -> InodeAttributes {
    let usec = |nsec: i64| u64::try_from(nsec / 1000).unwrap_or(0);
    InodeAttributes {
        mode: meta.mode(),
        uid: meta.uid(),
        gid: meta.gid(),
        atime: (
            u64::try_from(meta.atime()).unwrap_or(0),
            usec(meta.atime_nsec()),
        ),
        mtime: (
            u64::try_from(meta.mtime()).unwrap_or(0),
            usec(meta.mtime_nsec()),
        ),
    }
}

/// The runs of data of `file` (of `size` bytes), found with SEEK_DATA/SEEK_HOLE so that holes
/// stay holes; each run starts on a page boundary.
fn read_chunks(file: &File, size: u64) -> std::io::Result<Vec<DataChunk>> {
    let fd = file.as_raw_fd();
    let seek = |offset: u64, whence| {
        let offset = i64::try_from(offset).map_err(|_| Errno::EOVERFLOW)?;
        lseek(fd, offset, whence).map(|at| at as u64)
    };
    let mut chunks = Vec::new();
    let mut at = 0;
    while at < size {
        let data = match seek(at, Whence::SeekData) {
            Ok(data) if data < size => (data / PAGE_SIZE * PAGE_SIZE).max(at),
            Ok(_) | Err(Errno::ENXIO) => break,
            Err(errno) => return Err(errno.into()),
        };
        let hole = seek(data, Whence::SeekHole)?.min(size);
        let len = usize::try_from(hole - data).map_err(|_| Errno::EOVERFLOW)?;
        let mut bytes = vec![0; len];
        file.read_exact_at(&mut bytes, data)?;
        chunks.push(DataChunk {
            offset: data,
            bytes,
        });
        at = hole;
    }
    Ok(chunks)
}

fn path_text(path: &Path) -> Result<String, DumpError> {
    path.to_str()
        .map(str::to_owned)
        .ok_or_else(|| DumpError::PathNotUtf8 {
            path: path.to_string_lossy().into_owned(),
        })
}

fn stat_error(path: &Path, source: std::io::Error) -> DumpError {
    DumpError::Stat {
        path: path.display().to_string(),
        source,
    }
}

fn unsupported(source: &Source, what: &str) -> DumpError {
    DumpError::Unsupported {
        pid: source.pid.as_raw(),
        what: format!("{} ({})", source.holder, what),
    }
}
