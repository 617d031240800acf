//! Files: the fd table, the open file descriptions behind it, and the data
//! sitting in pipes.

use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{fcntl, tee, FcntlArg, OFlag, SpliceFFlags};
use nix::unistd::{pipe2, read, Pid};

use crate::external::External;
use crate::proc::fd::{fd_kind, fd_stat, fds, FdKind};
use crate::proc::fdinfo::fdinfo;
use crate::proc::holders::{same_description, Holder};
use crate::refusal::Allowances;
use crate::snapshot::{
    ExternalFile, FdSnapshot, FifoSnapshot, FileSnapshot, PipeSnapshot, RegularFile,
};

use super::DumpError;

/// Character devices crust reopens by path: null, zero, full, random, urandom.
const REOPENABLE_DEVICES: [(u64, u64); 5] = [(1, 3), (1, 5), (1, 7), (1, 8), (1, 9)];

/// The open file descriptions of a tree of processes, each with its id: one
/// description held by several processes (inherited across fork) has one id.
#[derive(Debug, Default)]
pub struct FileTable {
    files: Vec<FileSnapshot>,
    by_path: HashMap<(String, u32), u32>,
    /// Every fd described so far, with its link text, to find shared descriptions.
    described: Vec<(Pid, RawFd, String, u32)>,
    /// Pipes whose data was saved already (from the first process met holding them).
    pipes_read: Vec<u32>,
    /// Unlinked files and memfds among them.
    pub invisible: super::invisible::InvisibleTable,
}

impl FileTable {
    fn next_id(&self) -> u32 {
        self.files.len() as u32 + 1
    }

    /// A description opened by path for a mapping, the exe link or a
    /// directory: one per path and flags.
    pub fn by_path(&mut self, path: &Path, flags: u32) -> Result<u32, DumpError> {
        let text = path_text(path)?;
        if let Some(id) = self.by_path.get(&(text.clone(), flags)) {
            return Ok(*id);
        }
        let meta = std::fs::metadata(path).map_err(|source| DumpError::Stat {
            path: text.clone(),
            source,
        })?;
        use std::os::unix::fs::MetadataExt;
        let file = RegularFile {
            path: text.clone(),
            flags,
            pos: 0,
            size: meta.size(),
            mode: meta.mode(),
        };
        let id = self.push(|id| FileSnapshot::Regular { id, file });
        self.by_path.insert((text, flags), id);
        Ok(id)
    }

    /// `--external file[..]` names a file, and a restore gives one description in its place:
    /// a second open description of that file in the tree (opened on its own, with its own
    /// offset) would be merged into it, so the dump is refused instead.
    fn check_one_external_description(
        &self,
        pid: Pid,
        fd: RawFd,
        key: External,
    ) -> Result<(), DumpError> {
        let named_already = self.files.iter().any(|file| match file {
            FileSnapshot::External { file, .. } => file.key == key,
            _ => false,
        });
        if !named_already {
            return Ok(());
        }
        Err(DumpError::Unsupported {
            pid: pid.as_raw(),
            what: format!(
                "fd {fd} (a second open description of {key}, which --external names: a restore \
                 gives one description in place of the name, and would merge them)"
            ),
        })
    }

    /// CRIU's images key a pipe's queued bytes by its pipefs inode and a FIFO's by its inode
    /// on its own filesystem: a pipe and a FIFO of the tree with the same number could not be
    /// told apart, and the dump is refused rather than mixing their bytes.
    fn check_pipe_number(
        &self,
        pid: Pid,
        fd: RawFd,
        number: u32,
        fifo: bool,
    ) -> Result<(), DumpError> {
        let clash = self.files.iter().any(|file| match file {
            FileSnapshot::Pipe { pipe, .. } => fifo && pipe.pipe_id == number,
            FileSnapshot::Fifo { fifo: other, .. } => !fifo && other.pipe_id == number,
            _ => false,
        });
        if !clash {
            return Ok(());
        }
        Err(DumpError::Unsupported {
            pid: pid.as_raw(),
            what: format!(
                "fd {fd} (a pipe and a FIFO of the tree share the number {number}, by which \
                 the images key both)"
            ),
        })
    }

    pub(super) fn push(&mut self, make: impl FnOnce(u32) -> FileSnapshot) -> u32 {
        let id = self.next_id();
        self.files.push(make(id));
        id
    }

    /// Gives every pipe of the tree whose data no process saved (no process holds its read
    /// end: nothing can be read from it) an empty entry, with the first process holding it,
    /// but the external ones: a pipe end without an entry is one `--inherit-fd` must give.
    pub fn save_unread_pipes(
        &mut self,
        processes: &mut [crate::snapshot::ProcessSnapshot],
        allowed: &Allowances,
    ) {
        for process in processes {
            let pipes = process.files.iter().filter_map(|file| match file {
                FileSnapshot::Pipe { pipe, .. } => Some(pipe.pipe_id),
                _ => None,
            });
            let pipes: Vec<u32> = pipes.collect();
            for pipe_id in pipes {
                let external = allowed.external_pipe(pipe_id.into());
                if !self.pipes_read.contains(&pipe_id) && !external {
                    process.pipe_data.push((pipe_id, Vec::new()));
                    self.pipes_read.push(pipe_id);
                }
            }
        }
    }

    /// The descriptions `fds` refer to, by id order.
    pub fn files_of(&self, fds: &[FdSnapshot]) -> Vec<FileSnapshot> {
        self.files_with(&fds.iter().map(|fd| fd.file_id).collect())
    }

    /// The descriptions with these ids, by id order.
    pub fn files_with(&self, ids: &std::collections::HashSet<u32>) -> Vec<FileSnapshot> {
        let wanted = |file: &&FileSnapshot| ids.contains(&file.id());
        self.files.iter().filter(wanted).cloned().collect()
    }

    /// The id of a description already described, that `fd` of `pid` (with link text
    /// `target`) refers to too.
    fn shared_id(&self, pid: Pid, fd: RawFd, target: &str) -> Option<u32> {
        self.described
            .iter()
            .filter(|(_, _, seen, _)| seen == target)
            .find(|(other, other_fd, _, _)| {
                let other = Holder {
                    pid: *other,
                    fd: *other_fd,
                };
                same_description(other, Holder { pid, fd })
            })
            .map(|(_, _, _, id)| *id)
    }
}

fn path_text(path: &Path) -> Result<String, DumpError> {
    path.to_str()
        .map(str::to_owned)
        .ok_or_else(|| DumpError::PathNotUtf8 {
            path: path.to_string_lossy().into_owned(),
        })
}

/// The fd table of `pid`: each fd gets the id of its description. Fds that
/// share a description (dup, fork, within the process or across the tree)
/// share an id, found with kcmp(2).
/// A file `allowed` names `--external` is kept as its name and flags only.
pub fn collect_fds(
    pid: Pid,
    table: &mut FileTable,
    allowed: &Allowances,
) -> Result<Vec<FdSnapshot>, DumpError> {
    let mut slots = Vec::new();
    for link in fds(pid)? {
        let info = fdinfo(pid, link.fd)?;
        let cloexec = info.flags.contains(OFlag::O_CLOEXEC);
        let flags = (info.flags & !OFlag::O_CLOEXEC).bits() as u32;
        if let Some(id) = table.shared_id(pid, link.fd, &link.target) {
            slots.push(FdSnapshot {
                fd: link.fd,
                file_id: id,
                cloexec,
            });
            continue;
        }
        let kind = fd_kind(pid, &link)?;
        let key = External::File {
            mnt_id: info.mnt_id as u32,
            inode: info.ino,
        };
        let id = match kind {
            _ if kind.is_named_file() && allowed.external.contains(&key) => {
                table.check_one_external_description(pid, link.fd, key)?;
                let file = ExternalFile {
                    key,
                    flags,
                    pos: info.pos,
                };
                table.push(|id| FileSnapshot::External { id, file })
            }
            FdKind::Regular { path } | FdKind::Directory { path } => {
                let st = fd_stat(pid, link.fd)?;
                let file = RegularFile {
                    path: path_text(&path)?,
                    flags,
                    pos: info.pos,
                    size: st.st_size as u64,
                    mode: st.st_mode,
                };
                table.push(|id| FileSnapshot::Regular { id, file })
            }
            FdKind::CharDevice { path, dev }
                if REOPENABLE_DEVICES.contains(&(dev.major.into(), dev.minor.into())) =>
            {
                let st = fd_stat(pid, link.fd)?;
                let file = RegularFile {
                    path: path_text(&path)?,
                    flags,
                    pos: info.pos,
                    size: 0,
                    mode: st.st_mode,
                };
                table.push(|id| FileSnapshot::Regular { id, file })
            }
            FdKind::CharDevice { dev, .. } if super::tty::is_pty(dev) => {
                let tty = super::tty::pty_file(pid, link.fd, dev, &info, flags)?;
                table.push(|id| FileSnapshot::Tty { id, tty })
            }
            FdKind::Fifo { path } => {
                let st = fd_stat(pid, link.fd)?;
                let path = path_text(&path)?;
                let pipe_id = u32::try_from(st.st_ino).map_err(|_| DumpError::Unsupported {
                    pid: pid.as_raw(),
                    what: format!(
                        "fd {}: FIFO inode {} does not fit 32 bits",
                        link.fd, st.st_ino
                    ),
                })?;
                let named = RegularFile {
                    path: path.clone(),
                    flags,
                    pos: 0,
                    size: 0,
                    mode: st.st_mode,
                };
                table.check_pipe_number(pid, link.fd, pipe_id, true)?;
                let regf_id = table.push(|id| FileSnapshot::Regular { id, file: named });
                let fifo = FifoSnapshot {
                    path,
                    flags,
                    pipe_id,
                    regf_id,
                };
                table.push(|id| FileSnapshot::Fifo { id, fifo })
            }
            FdKind::Pipe { inode } => {
                let pipe_id = u32::try_from(inode).map_err(|_| DumpError::Unsupported {
                    pid: pid.as_raw(),
                    what: format!(
                        "fd {}: pipe inode {inode} does not fit CRIU's 32-bit pipe id",
                        link.fd
                    ),
                })?;
                table.check_pipe_number(pid, link.fd, pipe_id, false)?;
                table.push(|id| FileSnapshot::Pipe {
                    id,
                    pipe: PipeSnapshot { pipe_id, flags },
                })
            }
            FdKind::Deleted { path } => {
                super::invisible::ghost_fd(table, pid, link.fd, &path, flags, info.pos)?
            }
            FdKind::Memfd { name } => {
                super::invisible::memfd_fd(table, pid, link.fd, &name, flags, info.pos)?
            }
            other => {
                return Err(DumpError::Unsupported {
                    pid: pid.as_raw(),
                    what: format!("fd {} ({other:?})", link.fd),
                })
            }
        };
        table
            .described
            .push((pid, link.fd, link.target.clone(), id));
        slots.push(FdSnapshot {
            fd: link.fd,
            file_id: id,
            cloexec,
        });
    }
    Ok(slots)
}

/// The bytes sitting in each pipe of the process but the external ones and
/// those an earlier process of the tree holds too, read without taking them
/// out: the read end is borrowed with pidfd_getfd and duplicated with tee(2).
pub fn collect_pipe_data(
    pid: Pid,
    table: &mut FileTable,
    fds: &[FdSnapshot],
    allowed: &Allowances,
) -> Result<Vec<(u32, Vec<u8>)>, DumpError> {
    let mut data = Vec::new();
    let done = &mut table.pipes_read;
    for file in &table.files {
        let (id, pipe_id, flags) = match file {
            FileSnapshot::Pipe { id, pipe } => (id, pipe.pipe_id, pipe.flags),
            FileSnapshot::Fifo { id, fifo } => (id, fifo.pipe_id, fifo.flags),
            _ => continue,
        };
        let pipe = PipeSnapshot { pipe_id, flags };
        let is_read_end = pipe.flags & libc::O_ACCMODE as u32 != libc::O_WRONLY as u32;
        if !is_read_end || done.contains(&pipe.pipe_id) {
            continue;
        }
        if allowed.external_pipe(pipe.pipe_id.into()) {
            log::debug!(
                "pid {pid}: pipe {} is external: its data stays",
                pipe.pipe_id
            );
            continue;
        }
        let Some(slot) = fds.iter().find(|slot| slot.file_id == *id) else {
            continue;
        };
        let read_end = crate::proc::socket::pidfd_getfd(pid, slot.fd)?;
        let bytes = peek_pipe(&read_end).map_err(|errno| DumpError::PipeData {
            pid: pid.as_raw(),
            fd: slot.fd,
            errno,
        })?;
        log::debug!(
            "pid {pid}: pipe {} holds {} bytes",
            pipe.pipe_id,
            bytes.len()
        );
        if !bytes.is_empty() {
            data.push((pipe.pipe_id, bytes));
        }
        done.push(pipe.pipe_id);
    }
    Ok(data)
}

/// Copies what `read_end` holds without consuming it.
fn peek_pipe(read_end: &OwnedFd) -> Result<Vec<u8>, Errno> {
    let capacity = fcntl(read_end.as_raw_fd(), FcntlArg::F_GETPIPE_SZ)?;
    let (copy_read, copy_write) = pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)?;
    fcntl(copy_write.as_raw_fd(), FcntlArg::F_SETPIPE_SZ(capacity))?;
    let copied = match tee(
        read_end.as_fd(),
        copy_write.as_fd(),
        capacity as usize,
        SpliceFFlags::SPLICE_F_NONBLOCK,
    ) {
        Ok(n) => n,
        Err(Errno::EAGAIN) => 0,
        Err(errno) => return Err(errno),
    };
    let mut bytes = vec![0u8; copied];
    let mut filled = 0;
    while filled < copied {
        filled += read(copy_read.as_raw_fd(), &mut bytes[filled..])?;
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fifo_numbered_as_a_pipe_of_the_tree_is_refused_and_the_other_way_round() {
        let me = Pid::this();
        let mut table = FileTable::default();
        let pipe = PipeSnapshot {
            pipe_id: 81234,
            flags: 0,
        };
        table.push(|id| FileSnapshot::Pipe { id, pipe });
        assert!(table.check_pipe_number(me, 3, 81234, false).is_ok());
        let clash = table.check_pipe_number(me, 3, 81234, true).unwrap_err();
        assert_eq!(
            clash.to_string(),
            format!(
                "pid {me}: fd 3 (a pipe and a FIFO of the tree share the number 81234, by which \
                 the images key both) cannot be dumped"
            )
        );
        assert!(table.check_pipe_number(me, 3, 7, true).is_ok());
    }

    #[test]
    fn a_second_description_of_a_file_named_external_is_refused() {
        let me = Pid::this();
        let key = External::File {
            mnt_id: 0x1b,
            inode: 0x98c167,
        };
        let mut table = FileTable::default();
        assert!(table.check_one_external_description(me, 3, key).is_ok());
        let file = ExternalFile {
            key,
            flags: libc::O_WRONLY as u32,
            pos: 0,
        };
        table.push(|id| FileSnapshot::External { id, file });
        let second = table
            .check_one_external_description(me, 4, key)
            .unwrap_err();
        assert!(
            second.to_string().starts_with(&format!(
                "pid {me}: fd 4 (a second open description of file[1b:98c167], which --external"
            )),
            "{second}"
        );
    }
}
