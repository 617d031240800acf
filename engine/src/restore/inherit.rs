//! `--inherit-fd fd[K]:pipe:[INODE]`: crust's own fd K takes the place of an end of a pipe whose
//! other end was outside the process at dump; `--inherit-fd fd[K]:file[MNT_ID:INODE]`, of a
//! file or FIFO named `--external` at dump. Matched against the images before anything is
//! created, so that a missing or unfit fd is refused with nothing to undo.

use std::collections::HashMap;
use std::fmt;
use std::os::fd::RawFd;

use nix::fcntl::{fcntl, FcntlArg};

use crate::external::{External, InheritFd};
use crate::snapshot::{ExternalFile, FdSnapshot, FileSnapshot, PipeSnapshot, TreeSnapshot};

use super::RestoreError;

/// What an fd may do, from its `O_ACCMODE` bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// `O_RDONLY`: a pipe's read end.
    Read,
    /// `O_WRONLY`: a pipe's write end.
    Write,
    /// `O_RDWR`.
    ReadWrite,
}

impl Access {
    /// The access of an fd opened with `flags` (open(2) flags).
    pub fn from_flags(flags: i32) -> Self {
        match flags & libc::O_ACCMODE {
            libc::O_RDONLY => Self::Read,
            libc::O_WRONLY => Self::Write,
            _ => Self::ReadWrite,
        }
    }

    /// Whether an fd with this access can stand in for an end with `wanted`.
    fn serves(self, wanted: Access) -> bool {
        self == wanted || self == Self::ReadWrite
    }

    /// The end of a pipe an fd with this access is.
    pub fn end(self) -> &'static str {
        match self {
            Self::Read => "read end",
            Self::Write => "write end",
            Self::ReadWrite => "read-write end",
        }
    }
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Read => "reading",
            Self::Write => "writing",
            Self::ReadWrite => "reading and writing",
        })
    }
}

/// For each pipe end (file id) given by `--inherit-fd`, crust's fd that takes its place.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Inherited {
    by_file: HashMap<u32, RawFd>,
}

impl Inherited {
    /// crust's fd that stands in for file `id`, if one does.
    pub fn fd_for(&self, id: u32) -> Option<RawFd> {
        self.by_file.get(&id).copied()
    }
}

/// Checks that crust holds every fd `given` names, then matches them to the tree's pipe ends
/// (a pipe whose both ends some processes of the tree hold needs none).
pub fn inherit_fds(tree: &TreeSnapshot, given: &[InheritFd]) -> Result<Inherited, RestoreError> {
    let opened = accesses(given)?;
    let mut files: Vec<FileSnapshot> = Vec::new();
    for file in tree.processes.iter().flat_map(|p| &p.files) {
        if !files.iter().any(|f| f.id() == file.id()) {
            files.push(file.clone());
        }
    }
    let fds: Vec<FdSnapshot> = tree.processes.iter().flat_map(|p| p.fds.clone()).collect();
    let saved = tree
        .processes
        .iter()
        .flat_map(|p| p.pipe_data.iter().map(|(id, _)| *id));
    let table = FdTable {
        pid: tree.root().map_or(0, |root| root.pid),
        files: &files,
        fds: &fds,
        saved_pipes: saved.collect(),
    };
    match_ends(&table, &opened)
}

/// The access of each fd `given` names, which crust must hold.
fn accesses(given: &[InheritFd]) -> Result<Vec<(InheritFd, Access)>, RestoreError> {
    given
        .iter()
        .map(|inherit| {
            let flags = fcntl(inherit.fd, FcntlArg::F_GETFL).map_err(|errno| {
                RestoreError::InheritFdClosed {
                    inherit: *inherit,
                    errno,
                }
            })?;
            Ok((*inherit, Access::from_flags(flags)))
        })
        .collect()
}

/// The part of a process the matching reads.
struct FdTable<'a> {
    pid: i32,
    files: &'a [FileSnapshot],
    fds: &'a [FdSnapshot],
    /// Pipes the images hold the data of (possibly none): the tree's own, not external.
    saved_pipes: std::collections::HashSet<u32>,
}

/// Gives each pipe end of a pipe named by an inherited fd the first such fd whose access fits
/// it. A pipe the images hold only one side of must be given one; an inherited fd that takes
/// no end is an error too (a mistyped inode or access mode).
fn match_ends(process: &FdTable, given: &[(InheritFd, Access)]) -> Result<Inherited, RestoreError> {
    let mut inherited = Inherited::default();
    let mut used = vec![false; given.len()];
    for (id, pipe) in pipe_ends(process) {
        let inode = u64::from(pipe.pipe_id);
        let wanted = Access::from_flags(pipe.flags as i32);
        let named = |inherit: &InheritFd| inherit.resource == External::Pipe { inode };
        let fit = given
            .iter()
            .position(|(inherit, access)| named(inherit) && access.serves(wanted));
        if let Some(index) = fit {
            used[index] = true;
            inherited.by_file.insert(id, given[index].0.fd);
        } else if given.iter().any(|(inherit, _)| named(inherit))
            || (one_sided(process, inode) && !process.saved_pipes.contains(&pipe.pipe_id))
        {
            return Err(missing(process, id, inode, wanted));
        }
    }
    for (id, file) in external_files(process) {
        let wanted = Access::from_flags(file.flags as i32);
        let fit = given
            .iter()
            .position(|(inherit, access)| inherit.resource == file.key && access.serves(wanted));
        let Some(index) = fit else {
            return Err(RestoreError::InheritFdMissingFile {
                pid: process.pid,
                fd: first_fd(process, id),
                key: file.key,
                access: wanted,
            });
        };
        used[index] = true;
        inherited.by_file.insert(id, given[index].0.fd);
    }
    if let Some(index) = used.iter().position(|used| !used) {
        let (inherit, access) = given[index];
        return Err(RestoreError::InheritFdUnused {
            pid: process.pid,
            inherit,
            access,
        });
    }
    Ok(inherited)
}

/// Every pipe end of the process, with its file id.
fn pipe_ends<'a>(process: &FdTable<'a>) -> impl Iterator<Item = (u32, &'a PipeSnapshot)> {
    process.files.iter().filter_map(|file| match file {
        FileSnapshot::Pipe { id, pipe } => Some((*id, pipe)),
        _ => None,
    })
}

/// Every file of the process named `--external` at dump, with its file id.
fn external_files<'a>(process: &FdTable<'a>) -> impl Iterator<Item = (u32, &'a ExternalFile)> {
    process.files.iter().filter_map(|file| match file {
        FileSnapshot::External { id, file } => Some((*id, file)),
        _ => None,
    })
}

/// Whether the images hold only one side of pipe `inode` (the other was outside at dump).
fn one_sided(process: &FdTable, inode: u64) -> bool {
    let accesses: Vec<Access> = pipe_ends(process)
        .filter(|(_, pipe)| u64::from(pipe.pipe_id) == inode)
        .map(|(_, pipe)| Access::from_flags(pipe.flags as i32))
        .collect();
    let reads = accesses.iter().any(|a| a.serves(Access::Read));
    let writes = accesses.iter().any(|a| a.serves(Access::Write));
    !(reads && writes)
}

fn missing(process: &FdTable, id: u32, inode: u64, access: Access) -> RestoreError {
    RestoreError::InheritFdMissing {
        pid: process.pid,
        fd: first_fd(process, id),
        inode,
        access,
    }
}

/// The lowest fd that refers to file `id`, said as `fd N` (or `no fd`).
fn first_fd(process: &FdTable, id: u32) -> String {
    let fd = process
        .fds
        .iter()
        .filter(|slot| slot.file_id == id)
        .map(|slot| slot.fd)
        .min();
    fd.map_or_else(|| "no fd".into(), |fd| format!("fd {fd}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::errno::Errno;

    const INODE: u32 = 81234;
    const PID: i32 = 4242;

    /// Files and fds of a process holding `ends` (file id = fd, flags, pipe id).
    fn table(ends: &[(u32, i32, u32)]) -> (Vec<FileSnapshot>, Vec<FdSnapshot>) {
        let files = ends
            .iter()
            .map(|(id, flags, pipe_id)| FileSnapshot::Pipe {
                id: *id,
                pipe: PipeSnapshot {
                    pipe_id: *pipe_id,
                    flags: *flags as u32,
                },
            })
            .collect();
        let fds = ends
            .iter()
            .map(|(id, _, _)| FdSnapshot {
                fd: *id as i32,
                file_id: *id,
                cloexec: false,
            })
            .collect();
        (files, fds)
    }

    fn matched(
        ends: &[(u32, i32, u32)],
        given: &[(InheritFd, Access)],
    ) -> Result<Inherited, RestoreError> {
        let (files, fds) = table(ends);
        let table = FdTable {
            pid: PID,
            files: &files,
            fds: &fds,
            saved_pipes: Default::default(),
        };
        match_ends(&table, given)
    }

    fn given(fd: RawFd, inode: u32, access: Access) -> (InheritFd, Access) {
        let resource = External::Pipe {
            inode: inode.into(),
        };
        (InheritFd { fd, resource }, access)
    }

    #[test]
    fn a_lone_write_end_takes_the_inherited_fd() {
        let inherited = matched(
            &[(1, libc::O_WRONLY, INODE)],
            &[given(7, INODE, Access::Write)],
        );
        let inherited = inherited.unwrap();
        assert_eq!(inherited.fd_for(1), Some(7));
    }

    #[test]
    fn a_lone_end_without_an_inherited_fd_is_refused_with_the_option() {
        let error = matched(&[(1, libc::O_WRONLY | libc::O_NONBLOCK, INODE)], &[]).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "pid {}: fd 1 is the write end of pipe:[{INODE}], whose other end was outside \
                 the dump: restore with --inherit-fd fd[K]:pipe:[{INODE}], K an fd of crust's \
                 open for writing",
                PID
            )
        );
    }

    #[test]
    fn a_pipe_held_whole_needs_nothing() {
        let whole = [(1, libc::O_RDONLY, INODE), (2, libc::O_WRONLY, INODE)];
        assert_eq!(matched(&whole, &[]).unwrap(), Inherited::default());
    }

    #[test]
    fn an_fd_of_the_wrong_access_is_refused() {
        let error = matched(
            &[(1, libc::O_WRONLY, INODE)],
            &[given(7, INODE, Access::Read)],
        );
        let error = error.unwrap_err();
        assert!(
            matches!(
                error,
                RestoreError::InheritFdMissing {
                    access: Access::Write,
                    ..
                }
            ),
            "{error}"
        );
    }

    #[test]
    fn an_fd_for_a_pipe_the_process_lacks_is_refused() {
        let whole = [(1, libc::O_RDONLY, INODE), (2, libc::O_WRONLY, INODE)];
        let error = matched(&whole, &[given(7, 5, Access::Write)]).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "--inherit-fd fd[7]:pipe:[5]: pid {} holds no end of pipe:[5] that an fd open \
                 for writing can take",
                PID
            )
        );
    }

    #[test]
    fn the_access_of_crusts_fd_is_read() {
        let (read, write) = nix::unistd::pipe().unwrap();
        let inherit = |fd: &std::os::fd::OwnedFd| {
            let fd = std::os::fd::AsRawFd::as_raw_fd(fd);
            given(fd, INODE, Access::Read).0
        };
        let found = accesses(&[inherit(&read), inherit(&write)]).unwrap();
        let found: Vec<Access> = found.into_iter().map(|(_, access)| access).collect();
        assert_eq!(found, [Access::Read, Access::Write]);
    }

    #[test]
    fn crust_must_hold_the_fd() {
        let inherit = given(-1, INODE, Access::Write).0;
        let error = accesses(&[inherit]).unwrap_err();
        assert!(
            matches!(
                error,
                RestoreError::InheritFdClosed {
                    errno: Errno::EBADF,
                    ..
                }
            ),
            "{error}"
        );
    }
}
