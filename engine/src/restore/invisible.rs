//! Ghosts and memfds made again in crust before the fork, so that the restored process
//! inherits them like any other file.
//!
//! A ghost is recreated under a unique name in the directory its path names (same filesystem),
//! filled with its contents (holes left as holes), given its owner, mode and times, then renamed
//! to its former path unless something else took that name meanwhile: the name the kernel shows
//! for it (`/proc/PID/fd/N`, `/proc/PID/maps`) is the dentry's, so a ghost that gets its old name
//! back reads as before, with ` (deleted)` after it. Every description of it is opened through
//! `/proc/self/fd`, and the name is removed again before the process runs. A memfd is made with
//! memfd_create under its name, filled, and sealed last.

use std::collections::HashMap;
use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag, SealFlag};
use nix::sys::memfd::{memfd_create, MemFdCreateFlag};
use nix::sys::stat::{fchmod, futimens, Mode};
use nix::sys::time::TimeSpec;
use nix::unistd::{fchown, lseek, Gid, Uid, Whence};

use crate::snapshot::{DataChunk, InvisibleFiles, RegularFile, TreeSnapshot};
use crate::snapshot::{GhostFile, InodeAttributes, MemfdFile, MemfdInode, ProcessSnapshot};

use super::RestoreError;

/// Longest file name (a path component) Linux takes.
const NAME_MAX: usize = 255;

/// Flags that make sense only when a file is created, never when reopened.
const CREATION_FLAGS: i32 = libc::O_CREAT | libc::O_EXCL | libc::O_TRUNC | libc::O_NOCTTY;

/// A ghost made again: an fd on it, and the name it has until [`Recreated::unlink`].
#[derive(Debug)]
struct MadeGhost {
    fd: OwnedFd,
    /// Its name while it has one (removed on drop).
    name: Option<PathBuf>,
    directory: bool,
}

/// The ghosts and memfds of a tree, made again.
#[derive(Debug, Default)]
pub struct Recreated {
    pid: i32,
    ghosts: HashMap<u32, MadeGhost>,
    memfds: HashMap<u32, OwnedFd>,
    ghost_of_file: HashMap<u32, u32>,
}

impl Recreated {
    /// Makes every ghost and memfd of the processes of `tree`, each once (a ghost two
    /// processes hold is one file again).
    pub fn make(tree: &TreeSnapshot) -> Result<Recreated, RestoreError> {
        let pid = tree.root().map_or(0, |root| root.pid);
        let invisible = &InvisibleFiles::merged(tree.processes.iter().map(|p| &p.invisible));
        let mut made = Recreated {
            pid,
            ..Default::default()
        };
        for ghost in &invisible.ghosts {
            let ghost_made = make_ghost(pid, ghost)?;
            made.ghosts.insert(ghost.id, ghost_made);
            for file_id in &ghost.file_ids {
                made.ghost_of_file.insert(*file_id, ghost.id);
            }
        }
        for memfd in &invisible.memfds {
            made.memfds.insert(memfd.id, make_memfd(pid, memfd)?);
        }
        Ok(made)
    }

    /// A description of the ghost that file `id` opens, with its flags and offset; `None` when
    /// the file is no ghost.
    pub fn open_ghost(&self, id: u32, file: &RegularFile) -> Option<Result<OwnedFd, RestoreError>> {
        let ghost = self.ghosts.get(self.ghost_of_file.get(&id)?)?;
        let what = || format!("ghost file {}", file.path);
        let opened = reopen(self.pid, &ghost.fd, file.flags as i32, what).and_then(|fd| {
            if ghost.directory {
                return Ok(fd);
            }
            let pos = i64::try_from(file.pos).map_err(|_| Errno::EOVERFLOW);
            pos.and_then(|pos| lseek(fd.as_raw_fd(), pos, Whence::SeekSet))
                .map_err(|errno| invisible_error(self.pid, what(), "seek in", errno.into()))?;
            Ok(fd)
        });
        Some(opened)
    }

    /// A description of memfd `memfd.inode_id`, with its flags and offset.
    pub fn open_memfd(&self, memfd: &MemfdFile) -> Result<OwnedFd, RestoreError> {
        let what = || format!("memfd inode {}", memfd.inode_id);
        let inode = self
            .memfds
            .get(&memfd.inode_id)
            .ok_or_else(|| invisible_error(self.pid, what(), "find", Errno::ENOENT.into()))?;
        let fd = reopen(self.pid, inode, memfd.flags as i32, what)?;
        let pos = i64::try_from(memfd.pos).map_err(|_| Errno::EOVERFLOW);
        pos.and_then(|pos| lseek(fd.as_raw_fd(), pos, Whence::SeekSet))
            .map_err(|errno| invisible_error(self.pid, what(), "seek in", errno.into()))?;
        Ok(fd)
    }

    /// The removed working directory of `process`, made again (`O_PATH`), if it was removed.
    pub fn working_directory(
        &self,
        process: &ProcessSnapshot,
    ) -> Option<Result<OwnedFd, RestoreError>> {
        let ghost = self.ghosts.get(&process.invisible.cwd_ghost?)?;
        let flags = libc::O_PATH | libc::O_DIRECTORY;
        Some(reopen(self.pid, &ghost.fd, flags, || {
            "the removed working directory".into()
        }))
    }

    /// Removes the names the ghosts were given; their open descriptions live on.
    pub fn unlink(mut self) -> Result<(), RestoreError> {
        for ghost in self.ghosts.values_mut() {
            if let Some(name) = ghost.name.take() {
                remove_name(&name, ghost.directory).map_err(|source| {
                    invisible_error(self.pid, name.display().to_string(), "remove", source)
                })?;
            }
        }
        Ok(())
    }
}

/// A restore that fails half-way leaves no ghost behind under any name.
impl Drop for MadeGhost {
    fn drop(&mut self) {
        if let Some(name) = self.name.take() {
            if let Err(error) = remove_name(&name, self.directory) {
                log::warn!("cannot remove ghost {}: {error}", name.display());
            }
        }
    }
}

fn remove_name(name: &Path, directory: bool) -> std::io::Result<()> {
    match directory {
        true => std::fs::remove_dir(name),
        false => std::fs::remove_file(name),
    }
}

/// A new description of the file `fd` holds, opened through `/proc/self/fd` with `flags`.
fn reopen(
    pid: i32,
    fd: &OwnedFd,
    flags: i32,
    what: impl Fn() -> String,
) -> Result<OwnedFd, RestoreError> {
    let flags = flags & !CREATION_FLAGS | libc::O_CLOEXEC;
    let path = format!("/proc/self/fd/{}", fd.as_raw_fd());
    let opened = nix::fcntl::open(path.as_str(), OFlag::from_bits_retain(flags), Mode::empty())
        .map_err(|errno| invisible_error(pid, what(), "open", errno.into()))?;
    // SAFETY: open(2) just returned this fd, owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(opened) })
}

/// A name beside `path`, after it when it is short enough, that no other ghost of this
/// restore uses: should the former name be taken, the ghost is still recognisable by it.
fn unique_name(path: &Path, ghost_id: u32) -> Option<PathBuf> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let tag = format!(".crust-ghost-{}-{ghost_id}-{n}", std::process::id());
    let base = path.file_name()?.to_str()?;
    let name = match base.len() + tag.len() <= NAME_MAX {
        true => format!("{base}{tag}"),
        false => tag,
    };
    Some(path.parent()?.join(name))
}

fn make_ghost(pid: i32, ghost: &GhostFile) -> Result<MadeGhost, RestoreError> {
    let what = || format!("ghost {} {}", kind_name(ghost), ghost.path);
    let fail = |step, source| invisible_error(pid, what(), step, source);
    let path = Path::new(&ghost.path);
    let temporary = unique_name(path, ghost.id)
        .ok_or_else(|| fail("find the directory of", Errno::EINVAL.into()))?;
    let fd = match ghost.is_directory() {
        true => {
            std::fs::DirBuilder::new()
                .mode(0o700)
                .create(&temporary)
                .map_err(|e| fail("create", e))?;
            let opened = File::open(&temporary);
            opened.map_err(|e| {
                let _ = std::fs::remove_dir(&temporary);
                fail("open", e)
            })?
        }
        false => OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_CLOEXEC)
            .open(&temporary)
            .map_err(|e| fail("create", e))?,
    };
    let mut made = MadeGhost {
        fd: fd.into(),
        name: Some(temporary.clone()),
        directory: ghost.is_directory(),
    };
    fill(&made.fd, &ghost.chunks, ghost.size, ghost.is_directory())
        .and_then(|()| set_attributes(&made.fd, &ghost.attributes, true))
        .map_err(|e| fail("fill", e))?;
    made.name = Some(take_former_name(&temporary, path).map_err(|e| fail("rename", e))?);
    log::debug!("pid {pid}: made {} again", what());
    Ok(made)
}

/// Renames `temporary` to `former` unless that name is taken; the name it ends with.
fn take_former_name(temporary: &Path, former: &Path) -> std::io::Result<PathBuf> {
    match nix::fcntl::renameat2(
        None,
        temporary,
        None,
        former,
        nix::fcntl::RenameFlags::RENAME_NOREPLACE,
    ) {
        Ok(()) => Ok(former.to_path_buf()),
        Err(Errno::EEXIST) => {
            log::warn!(
                "{} names another file now: the unlinked file comes back as {} (deleted)",
                former.display(),
                temporary.display()
            );
            Ok(temporary.to_path_buf())
        }
        Err(errno) => Err(errno.into()),
    }
}

fn kind_name(ghost: &GhostFile) -> &'static str {
    if ghost.is_directory() {
        "directory"
    } else {
        "file"
    }
}

fn make_memfd(pid: i32, memfd: &MemfdInode) -> Result<OwnedFd, RestoreError> {
    let what = || format!("memfd:{}", memfd.name);
    let fail = |step, source| invisible_error(pid, what(), step, source);
    let name =
        CString::new(memfd.name.as_bytes()).map_err(|_| fail("name", Errno::EINVAL.into()))?;
    let flags = MemFdCreateFlag::MFD_CLOEXEC | MemFdCreateFlag::MFD_ALLOW_SEALING;
    let fd = memfd_create(&name, flags).map_err(|errno| fail("create", errno.into()))?;
    fill(&fd, &memfd.chunks, memfd.size, false).map_err(|e| fail("fill", e))?;
    set_attributes(&fd, &memfd.attributes, false).map_err(|e| fail("set the owner of", e))?;
    if memfd.seals != 0 {
        let seals = SealFlag::from_bits_retain(memfd.seals as i32);
        fcntl(fd.as_raw_fd(), FcntlArg::F_ADD_SEALS(seals))
            .map_err(|errno| fail("seal", errno.into()))?;
    }
    log::debug!("pid {pid}: made {} again ({} bytes)", what(), memfd.size);
    Ok(fd)
}

/// Writes `chunks` and sets the size (what lies between chunks stays a hole).
fn fill(fd: &OwnedFd, chunks: &[DataChunk], size: u64, directory: bool) -> std::io::Result<()> {
    if directory {
        return Ok(());
    }
    let file = File::from(fd.try_clone()?);
    for chunk in chunks {
        file.write_all_at(&chunk.bytes, chunk.offset)?;
    }
    file.set_len(size)
}

/// Owner, then mode (chown may clear set-id bits), then times if `times`.
fn set_attributes(fd: &OwnedFd, attributes: &InodeAttributes, times: bool) -> std::io::Result<()> {
    let raw = fd.as_raw_fd();
    let owner = (Uid::from_raw(attributes.uid), Gid::from_raw(attributes.gid));
    fchown(raw, Some(owner.0), Some(owner.1))?;
    fchmod(raw, Mode::from_bits_truncate(attributes.mode & 0o7777))?;
    if times {
        let spec = |(sec, usec): (u64, u64)| {
            let sec = i64::try_from(sec).unwrap_or(i64::MAX);
            TimeSpec::new(sec, i64::try_from(usec * 1000).unwrap_or(0))
        };
        futimens(raw, &spec(attributes.atime), &spec(attributes.mtime))?;
    }
    Ok(())
}

fn invisible_error(
    pid: i32,
    what: String,
    step: &'static str,
    source: std::io::Error,
) -> RestoreError {
    RestoreError::Invisible {
        pid,
        what,
        step,
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ghost_is_made_beside_its_path_under_a_name_that_recalls_it() {
        let made = unique_name(Path::new("/var/tmp/data.db"), 3).unwrap();
        let name = made.file_name().unwrap().to_str().unwrap();
        assert_eq!(made.parent(), Some(Path::new("/var/tmp")));
        assert!(name.starts_with("data.db.crust-ghost-"), "{name}");
        let long = format!("/var/tmp/{}", "x".repeat(250));
        let made = unique_name(Path::new(&long), 3).unwrap();
        let name = made.file_name().unwrap().to_str().unwrap();
        assert!(
            name.starts_with(".crust-ghost-") && name.len() <= NAME_MAX,
            "{name}"
        );
        assert_eq!(unique_name(Path::new("/"), 1), None);
    }
}
