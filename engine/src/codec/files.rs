//! Open files: `files.img` (each file once, by id: regular files,
//! directories and character devices as `reg`, pipe ends as `pipe`) and
//! `fdinfo-N.img` (fd number → file id, with FD_CLOEXEC).

use std::collections::{HashMap, HashSet};
use std::path::Path;

use super::error::{fit, narrow, CodecError};
use crate::external::External;
use crate::images::fdinfo::{FdTypes, FdinfoEntry, FileEntry};
use crate::images::fown::FownEntry;
use crate::images::pipe::{FifoEntry, PipeEntry};
use crate::images::regfile::RegFileEntry;
use crate::images::{ImageDir, ImageKind, ImageName};
use crate::snapshot::{
    ExternalFile, FdSnapshot, FifoSnapshot, FileSnapshot, PipeSnapshot, ProcessSnapshot,
    RegularFile,
};

/// `fdinfo_entry.flags`: the fd's FD_CLOEXEC bit.
const FD_CLOEXEC: u32 = 1;

/// A directory the task holds as cwd or root: a regular-file entry opened
/// read-only as a directory.
pub(crate) fn directory_entry(id: u32, path: &str) -> FileEntry {
    let reg = RegFileEntry {
        flags: libc::O_RDONLY as u32 | libc::O_DIRECTORY as u32,
        name: path.to_owned(),
        ..Default::default()
    };
    reg_file_entry(id, reg)
}

/// A regular-file entry of `files.img`: `reg`, given its id and the entry's type.
fn reg_file_entry(id: u32, reg: RegFileEntry) -> FileEntry {
    FileEntry {
        r#type: FdTypes::Reg as i32,
        id,
        reg: Some(RegFileEntry { id, ..reg }),
        ..Default::default()
    }
}

/// Writes `files.img` (every file of the tree's processes once, then `extra` entries) and
/// each process's `fdinfo-FILES_ID.img`, FILES_ID given by `files_id(index)`.
pub(crate) fn write_files(
    dir: &ImageDir,
    processes: &[ProcessSnapshot],
    files_id: fn(usize) -> u32,
    extra: &[FileEntry],
) -> Result<(), CodecError> {
    let mut entries: Vec<FileEntry> = Vec::new();
    let mut written = HashSet::new();
    for file in processes.iter().flat_map(|p| &p.files) {
        if written.insert(file.id()) {
            // A FIFO is its FIFO entry and the regular-file entry naming its path.
            if let FileSnapshot::Fifo { fifo, .. } = file {
                let named = RegularFile {
                    path: fifo.path.clone(),
                    flags: fifo.flags,
                    pos: 0,
                    size: 0,
                    mode: libc::S_IFIFO,
                };
                let id = fifo.regf_id;
                entries.push(file_entry(&FileSnapshot::Regular { id, file: named }));
            }
            entries.push(file_entry(file));
        }
    }
    entries.extend_from_slice(extra);
    dir.write_entries(ImageName::fixed(ImageKind::Files), &entries)?;

    let kinds: HashMap<u32, i32> = entries.iter().map(|e| (e.id, e.r#type)).collect();
    for (index, process) in processes.iter().enumerate() {
        // A table shared with the parent (CLONE_FILES) is the parent's image.
        if process.shares_files_with_parent {
            continue;
        }
        let fds = process
            .fds
            .iter()
            .map(|fd| fdinfo_entry(process.pid, fd, &kinds))
            .collect::<Result<Vec<_>, _>>()?;
        dir.write_entries(ImageName::with_id(ImageKind::Fdinfo, files_id(index)), &fds)?;
    }
    Ok(())
}

fn file_entry(file: &FileSnapshot) -> FileEntry {
    match file {
        FileSnapshot::Fifo { id, fifo } => FileEntry {
            r#type: FdTypes::Fifo as i32,
            id: *id,
            fifo: Some(FifoEntry {
                id: *id,
                pipe_id: fifo.pipe_id,
                regf_id: Some(fifo.regf_id),
            }),
            ..Default::default()
        },
        FileSnapshot::Regular { id, file } => {
            let reg = RegFileEntry {
                flags: file.flags,
                pos: file.pos,
                name: file.path.clone(),
                size: Some(file.size),
                mode: Some(file.mode),
                ..Default::default()
            };
            reg_file_entry(*id, reg)
        }
        FileSnapshot::Pipe { id, pipe } => FileEntry {
            r#type: FdTypes::Pipe as i32,
            id: *id,
            pipe: Some(PipeEntry {
                id: *id,
                pipe_id: pipe.pipe_id,
                flags: pipe.flags,
                fown: FownEntry::default(),
            }),
            ..Default::default()
        },
        FileSnapshot::Tty { id, tty } => super::tty::tty_file_entry(*id, tty),
        FileSnapshot::Memfd { id, memfd } => super::invisible::memfd_file_entry(*id, memfd),
        // CRIU's form: a regular-file entry marked external, named by its key.
        FileSnapshot::External { id, file } => {
            let reg = RegFileEntry {
                flags: file.flags,
                pos: file.pos,
                name: file.key.to_string(),
                ext: Some(true),
                ..Default::default()
            };
            reg_file_entry(*id, reg)
        }
    }
}

fn fdinfo_entry(
    pid: i32,
    fd: &FdSnapshot,
    kinds: &HashMap<u32, i32>,
) -> Result<FdinfoEntry, CodecError> {
    let kind = kinds
        .get(&fd.file_id)
        .copied()
        .ok_or(CodecError::Unrepresentable {
            pid,
            what: "file id of an fd",
            value: fd.file_id.into(),
            why: "no file of the snapshot has this id",
        })?;
    Ok(FdinfoEntry {
        id: fd.file_id,
        flags: if fd.cloexec { FD_CLOEXEC } else { 0 },
        r#type: kind,
        fd: fit(pid, "fd number", fd.fd)?,
        xattr_security_selinux: None,
    })
}

/// The files of `files.img`, in image order.
pub(crate) struct ReadFiles {
    pub files: Vec<FileSnapshot>,
}

impl ReadFiles {
    /// The regular file `id` names, for a reference from `referrer`.
    pub(crate) fn regular(
        &self,
        referrer_path: &Path,
        referrer: &'static str,
        id: u32,
    ) -> Result<&RegularFile, CodecError> {
        self.files
            .iter()
            .find_map(|f| match f {
                FileSnapshot::Regular { id: i, file } if *i == id => Some(file),
                _ => None,
            })
            .ok_or(CodecError::UnknownFileId {
                path: referrer_path.into(),
                referrer,
                id,
                expected: "a regular file",
            })
    }
}

/// Gives each FIFO the path and flags of the regular-file entry its `regf_id` names.
fn name_fifos(path: &Path, files: &mut [FileSnapshot]) -> Result<(), CodecError> {
    let named: HashMap<u32, (String, u32)> = files
        .iter()
        .filter_map(|f| match f {
            FileSnapshot::Regular { id, file } => Some((*id, (file.path.clone(), file.flags))),
            _ => None,
        })
        .collect();
    for file in files.iter_mut() {
        let FileSnapshot::Fifo { fifo, .. } = file else {
            continue;
        };
        let (name, flags) = named.get(&fifo.regf_id).ok_or(CodecError::UnknownFileId {
            path: path.into(),
            referrer: "a FIFO",
            id: fifo.regf_id,
            expected: "a regular-file entry naming the FIFO",
        })?;
        fifo.path = name.clone();
        fifo.flags = *flags;
    }
    Ok(())
}

/// Reads `files.img`.
pub(crate) fn read_files(dir: &ImageDir) -> Result<ReadFiles, CodecError> {
    let name = ImageName::fixed(ImageKind::Files);
    let path = dir.file_path(name);
    let entries: Vec<FileEntry> = dir.read_entries(name)?;
    let mut seen = HashSet::new();
    let mut files = Vec::with_capacity(entries.len());
    for entry in entries {
        if !seen.insert(entry.id) {
            let id = entry.id.into();
            return Err(CodecError::DuplicateId {
                path,
                what: "file id",
                id,
            });
        }
        files.push(read_file(&path, entry)?);
    }
    name_fifos(&path, &mut files)?;
    Ok(ReadFiles { files })
}

fn read_file(path: &Path, entry: FileEntry) -> Result<FileSnapshot, CodecError> {
    let id = entry.id;
    let bad = |why| CodecError::BadFile {
        path: path.into(),
        id,
        kind: type_name(entry.r#type),
        why,
    };
    match FdTypes::try_from(entry.r#type) {
        Ok(FdTypes::Reg) => {
            let reg = entry.reg.as_ref().ok_or(bad("has no reg member"))?;
            if reg.id != id {
                return Err(bad("has a reg member of another id"));
            }
            if reg.ext == Some(true) {
                let key = match reg.name.parse() {
                    Ok(key @ External::File { .. }) => key,
                    _ => return Err(bad("is external but not named file[MNT_ID:INODE]")),
                };
                let file = ExternalFile {
                    key,
                    flags: reg.flags,
                    pos: reg.pos,
                };
                return Ok(FileSnapshot::External { id, file });
            }
            if !reg.name.starts_with('/') || reg.name.contains('\0') {
                return Err(bad("has a path that is not absolute"));
            }
            let file = RegularFile {
                path: reg.name.clone(),
                flags: reg.flags,
                pos: reg.pos,
                size: reg.size.unwrap_or(0),
                mode: reg.mode.unwrap_or(0),
            };
            Ok(FileSnapshot::Regular { id, file })
        }
        Ok(FdTypes::Pipe) => {
            let pipe = entry.pipe.as_ref().ok_or(bad("has no pipe member"))?;
            if pipe.id != id {
                return Err(bad("has a pipe member of another id"));
            }
            let pipe = PipeSnapshot {
                pipe_id: pipe.pipe_id,
                flags: pipe.flags,
            };
            Ok(FileSnapshot::Pipe { id, pipe })
        }
        Ok(FdTypes::Fifo) => {
            let fifo = entry.fifo.as_ref().ok_or(bad("has no fifo member"))?;
            if fifo.id != id {
                return Err(bad("has a fifo member of another id"));
            }
            let regf_id = fifo.regf_id.ok_or(bad("names no regular-file entry"))?;
            let fifo = FifoSnapshot {
                path: String::new(),
                flags: 0,
                pipe_id: fifo.pipe_id,
                regf_id,
            };
            Ok(FileSnapshot::Fifo { id, fifo })
        }
        Ok(FdTypes::Tty) => super::tty::read_tty_file(path, &entry),
        Ok(FdTypes::Memfd) => super::invisible::read_memfd_file(path, &entry),
        _ => Err(bad("is a kind of file crust does not restore")),
    }
}

/// CRIU's name of a file type, for errors.
fn type_name(kind: i32) -> String {
    match FdTypes::try_from(kind) {
        Ok(kind) => format!("{kind:?}").to_uppercase(),
        Err(_) => format!("type {kind}"),
    }
}

/// Reads `fdinfo-FILES_ID.img`: every fd must name a file of `files`, as
/// the kind of file the fd says it is.
pub(crate) fn read_fds(
    dir: &ImageDir,
    files_id: u32,
    files: &ReadFiles,
) -> Result<Vec<FdSnapshot>, CodecError> {
    let name = ImageName::with_id(ImageKind::Fdinfo, files_id);
    let path = dir.file_path(name);
    let entries: Vec<FdinfoEntry> = dir.read_entries(name)?;
    let kinds: HashMap<u32, i32> = files
        .files
        .iter()
        .map(|f| match f {
            FileSnapshot::Regular { id, .. } | FileSnapshot::External { id, .. } => {
                (*id, FdTypes::Reg as i32)
            }
            FileSnapshot::Pipe { id, .. } => (*id, FdTypes::Pipe as i32),
            FileSnapshot::Tty { id, .. } => (*id, FdTypes::Tty as i32),
            FileSnapshot::Memfd { id, .. } => (*id, FdTypes::Memfd as i32),
            FileSnapshot::Fifo { id, .. } => (*id, FdTypes::Fifo as i32),
        })
        .collect();
    let mut seen = HashSet::new();
    let mut fds = Vec::with_capacity(entries.len());
    for entry in entries {
        if kinds.get(&entry.id) != Some(&entry.r#type) {
            return Err(CodecError::UnknownFileId {
                path,
                referrer: "an fd",
                id: entry.id,
                expected: "the kind of file the fd says",
            });
        }
        if entry.flags & !FD_CLOEXEC != 0 {
            let value = entry.flags.into();
            return Err(CodecError::OutOfRange {
                path,
                what: "fd flags",
                value,
            });
        }
        let fd: i32 = narrow(&path, "fd number", entry.fd)?;
        if !seen.insert(fd) {
            let id = entry.fd.into();
            return Err(CodecError::DuplicateId {
                path,
                what: "fd",
                id,
            });
        }
        fds.push(FdSnapshot {
            fd,
            file_id: entry.id,
            cloexec: entry.flags & FD_CLOEXEC != 0,
        });
    }
    Ok(fds)
}
