//! Files: opened by crust before the fork, so the restored task inherits
//! them, then moved to their fd numbers inside the task.

use std::collections::{HashMap, HashSet};
use std::fs::OpenOptions;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::PathBuf;

use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::unistd::{lseek, pipe2, write, Whence};

use crate::snapshot::{
    FifoSnapshot, FileSnapshot, PipeSnapshot, ProcessSnapshot, RegularFile, TreeSnapshot,
    VmaBacking,
};

use super::inherit::Inherited;
use super::remote::RemoteThread;
use super::RestoreError;

/// Flags that make sense only when a file is created, never when reopened.
const CREATION_FLAGS: i32 = libc::O_CREAT | libc::O_EXCL | libc::O_TRUNC | libc::O_NOCTTY;

/// Everything the restored tree will inherit from crust: one fd per file
/// description, plus each process's pages image and directories. The root
/// inherits them all from crust, and each child from its parent.
#[derive(Debug)]
pub struct HostFiles {
    by_id: HashMap<u32, OwnedFd>,
    /// Each process's pages image, by pid.
    pages: HashMap<i32, OwnedFd>,
    /// Each process's working and root directories (O_PATH), by pid.
    dirs: HashMap<i32, (OwnedFd, OwnedFd)>,
    keep: Vec<OwnedFd>,
}

impl HostFiles {
    /// Opens every file of the tree at fd numbers above any its processes use; the pipe
    /// ends `inherited` names are crust's own fds. `pages[i]` is the pages image of
    /// `tree.processes[i]`.
    pub fn open(
        tree: &TreeSnapshot,
        pages: &[PathBuf],
        inherited: &Inherited,
        terminals: &super::tty::HostTerminals,
    ) -> Result<HostFiles, RestoreError> {
        let processes = &tree.processes;
        let all_fds = processes.iter().flat_map(|p| &p.fds);
        let floor = all_fds.map(|f| f.fd).max().unwrap_or(0).max(63) + 1;
        let files_count: usize = processes.iter().map(|p| p.files.len()).sum();
        raise_fd_limit(floor, files_count + 3 * processes.len())?;
        let high = |fd: OwnedFd| move_above(fd, floor);
        let mapped: HashSet<u32> = processes
            .iter()
            .flat_map(|p| &p.memory.vmas)
            .filter_map(|v| match v.backing {
                VmaBacking::File { file_id } => Some(file_id),
                _ => None,
            })
            .collect();
        let pipe_data: Vec<&(u32, Vec<u8>)> = processes.iter().flat_map(|p| &p.pipe_data).collect();

        let mut by_id = HashMap::new();
        let mut keep = Vec::new();
        let mut pipes: HashMap<u32, (OwnedFd, OwnedFd)> = HashMap::new();
        let mut fifos: HashMap<u32, OwnedFd> = HashMap::new();
        let mut pages_fds = HashMap::new();
        let mut dirs = HashMap::new();
        // The tree's ghosts and memfds, made again (under a temporary name until opened).
        let recreated = super::invisible::Recreated::make(tree)?;
        for (process, pages) in processes.iter().zip(pages) {
            let pid = process.pid;
            for file in &process.files {
                if by_id.contains_key(&file.id()) {
                    continue;
                }
                let fd = match file {
                    FileSnapshot::Regular { file, id } => match recreated.open_ghost(*id, file) {
                        Some(ghost) => ghost?,
                        None => open_regular(pid, file, mapped.contains(id))?,
                    },
                    FileSnapshot::Memfd { memfd, .. } => recreated.open_memfd(memfd)?,
                    FileSnapshot::Fifo { fifo, .. } => {
                        open_fifo(pid, fifo, &pipe_data, &mut fifos)?
                    }
                    // An inherited fd keeps its own flags: its description is whoever gave
                    // it's too (F_SETFL would drop the O_APPEND of a log given in a pipe's
                    // place, say).
                    FileSnapshot::Pipe { pipe, id } => match inherited.fd_for(*id) {
                        Some(fd) => take_inherited(pid, fd)?,
                        None => {
                            let end = new_pipe_end(pid, &pipe_data, &mut pipes, pipe)?;
                            set_status_flags(&end, pipe.flags).map_err(|errno| {
                                RestoreError::FileFlags {
                                    pid,
                                    id: *id,
                                    errno,
                                }
                            })?;
                            end
                        }
                    },
                    FileSnapshot::Tty { tty, .. } => terminals.file(process, tty)?,
                    FileSnapshot::External { id, file } => match inherited.fd_for(*id) {
                        Some(fd) => take_inherited(pid, fd)?,
                        None => {
                            return Err(RestoreError::InheritFdMissingFile {
                                pid,
                                fd: "an fd".into(),
                                key: file.key,
                                access: super::inherit::Access::from_flags(file.flags as i32),
                            })
                        }
                    },
                };
                by_id.insert(file.id(), high(fd)?);
            }
            let fd = crate::images::open_image_file(pages)
                .map_err(|e| RestoreError::Images(e.into()))?;
            pages_fds.insert(pid, high(fd.into())?);
            let cwd = match recreated.working_directory(process) {
                Some(ghost) => ghost?,
                None => open_directory(pid, "working directory", &process.cwd)?,
            };
            let root = open_directory(pid, "root directory", &process.root)?;
            dirs.insert(pid, (high(cwd)?, high(root)?));
        }
        recreated.unlink()?;
        keep.extend(pipes.into_values().flat_map(|(r, w)| [r, w]));
        keep.extend(fifos.into_values());
        Ok(HostFiles {
            by_id,
            pages: pages_fds,
            dirs,
            keep,
        })
    }

    /// The fd (valid in the restored processes too) of the pages image of `pid`.
    pub fn pages_fd(&self, pid: i32) -> Option<RawFd> {
        self.pages.get(&pid).map(AsRawFd::as_raw_fd)
    }

    /// The fds of the working and root directories of `pid`.
    fn dirs_of(&self, pid: i32) -> Option<(RawFd, RawFd)> {
        let (cwd, root) = self.dirs.get(&pid)?;
        Some((cwd.as_raw_fd(), root.as_raw_fd()))
    }

    /// The fd (valid in the restored processes too) of file `id`.
    pub fn fd_of(&self, id: u32) -> Option<RawFd> {
        self.by_id.get(&id).map(AsRawFd::as_raw_fd)
    }

    /// Closes crust's copies once the processes have their own.
    pub fn close(self) {
        drop(self.keep);
    }
}

/// A directory of `pid`'s, opened O_PATH.
fn open_directory(pid: i32, which: &'static str, path: &str) -> Result<OwnedFd, RestoreError> {
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let fd = nix::fcntl::open(path, flags, nix::sys::stat::Mode::empty()).map_err(|errno| {
        RestoreError::OpenDirectory {
            pid,
            which,
            path: path.into(),
            source: errno.into(),
        }
    })?;
    // SAFETY: open(2) just returned this fd, owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn open_regular(pid: i32, file: &RegularFile, mapped: bool) -> Result<OwnedFd, RestoreError> {
    let flags = file.flags as i32 & !CREATION_FLAGS & !libc::O_CLOEXEC;
    let access = flags & libc::O_ACCMODE;
    let opened = OpenOptions::new()
        .read(access == libc::O_RDONLY || access == libc::O_RDWR)
        .write(access == libc::O_WRONLY || access == libc::O_RDWR)
        .custom_flags(flags & !libc::O_ACCMODE)
        .open(&file.path)
        .map_err(|source| RestoreError::OpenFile {
            pid,
            path: file.path.clone(),
            source,
        })?;
    let meta = opened.metadata().map_err(|source| RestoreError::OpenFile {
        pid,
        path: file.path.clone(),
        source,
    })?;
    let is_regular = meta.file_type().is_file();
    if mapped && is_regular && (meta.size() != file.size || meta.mode() != file.mode) {
        return Err(RestoreError::FileChanged {
            pid,
            path: file.path.clone(),
            dumped: (file.size, file.mode),
            now: (meta.size(), meta.mode()),
        });
    }
    let fd = OwnedFd::from(opened);
    if is_regular {
        let pos = i64::try_from(file.pos).map_err(|_| RestoreError::BadOffset {
            pid,
            path: file.path.clone(),
            pos: file.pos,
        })?;
        lseek(fd.as_raw_fd(), pos, Whence::SeekSet).map_err(|errno| RestoreError::Seek {
            pid,
            path: file.path.clone(),
            errno,
        })?;
    }
    Ok(fd)
}

/// crust's copy of one end of a pipe made for the tree (made with the data
/// the images hold the first time one of its ends is asked for).
fn new_pipe_end(
    pid: i32,
    pipe_data: &[&(u32, Vec<u8>)],
    pipes: &mut HashMap<u32, (OwnedFd, OwnedFd)>,
    pipe: &PipeSnapshot,
) -> Result<OwnedFd, RestoreError> {
    if let std::collections::hash_map::Entry::Vacant(slot) = pipes.entry(pipe.pipe_id) {
        let data = pipe_data.iter().find(|(id, _)| *id == pipe.pipe_id);
        slot.insert(make_pipe(
            pid,
            data.map(|(_, d)| d.as_slice()).unwrap_or_default(),
        )?);
    }
    let (read, write) = &pipes[&pipe.pipe_id];
    let end = if pipe.flags & libc::O_ACCMODE as u32 == libc::O_RDONLY as u32 {
        read
    } else {
        write
    };
    end.try_clone().map_err(|e| RestoreError::OpenFile {
        pid,
        path: "pipe".into(),
        source: e,
    })
}

/// A description of FIFO `fifo` with its flags. The first time a FIFO is asked for, crust
/// opens it for reading and writing without blocking (so that no open waits for a peer),
/// puts the bytes it held back into it, and keeps that description until the tree runs;
/// each description of the process is opened through it.
fn open_fifo(
    pid: i32,
    fifo: &FifoSnapshot,
    pipe_data: &[&(u32, Vec<u8>)],
    fifos: &mut HashMap<u32, OwnedFd>,
) -> Result<OwnedFd, RestoreError> {
    let failed = |source: std::io::Error| RestoreError::OpenFile {
        pid,
        path: fifo.path.clone(),
        source,
    };
    if let std::collections::hash_map::Entry::Vacant(slot) = fifos.entry(fifo.pipe_id) {
        let held = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo.path)
            .map_err(failed)?;
        let is_fifo = held.metadata().map_err(failed)?.file_type();
        if !std::os::unix::fs::FileTypeExt::is_fifo(&is_fifo) {
            return Err(failed(std::io::Error::other("it is no FIFO any more")));
        }
        let data = pipe_data.iter().find(|(id, _)| *id == fifo.pipe_id);
        let data = data.map(|(_, d)| d.as_slice()).unwrap_or_default();
        let mut done = 0;
        while done < data.len() {
            done += write(&held, &data[done..]).map_err(|errno| failed(errno.into()))?;
        }
        slot.insert(OwnedFd::from(held));
    }
    let held = &fifos[&fifo.pipe_id];
    let access = fifo.flags as i32 & libc::O_ACCMODE;
    let through = format!("/proc/self/fd/{}", held.as_raw_fd());
    let opened = OpenOptions::new()
        .read(access != libc::O_WRONLY)
        .write(access != libc::O_RDONLY)
        .custom_flags(libc::O_NONBLOCK)
        .open(through)
        .map_err(failed)?;
    let fd = OwnedFd::from(opened);
    set_status_flags(&fd, fifo.flags).map_err(|errno| failed(errno.into()))?;
    Ok(fd)
}

/// A copy of crust's fd `fd`, given by `--inherit-fd`.
fn take_inherited(pid: i32, fd: RawFd) -> Result<OwnedFd, RestoreError> {
    let copy = fcntl(fd, FcntlArg::F_DUPFD_CLOEXEC(0))
        .map_err(|errno| RestoreError::InheritFdDup { pid, fd, errno })?;
    // SAFETY: F_DUPFD_CLOEXEC just returned this new fd, owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(copy) })
}

/// A new pipe holding `data`, as (read end, write end).
fn make_pipe(pid: i32, data: &[u8]) -> Result<(OwnedFd, OwnedFd), RestoreError> {
    let (read, write_end) =
        pipe2(OFlag::O_CLOEXEC).map_err(|errno| RestoreError::Pipe { pid, errno })?;
    if data.len() > 65536 {
        let size = data.len().next_power_of_two() as i32;
        fcntl(write_end.as_raw_fd(), FcntlArg::F_SETPIPE_SZ(size))
            .map_err(|errno| RestoreError::Pipe { pid, errno })?;
    }
    let mut done = 0;
    while done < data.len() {
        done +=
            write(&write_end, &data[done..]).map_err(|errno| RestoreError::Pipe { pid, errno })?;
    }
    Ok((read, write_end))
}

fn set_status_flags(fd: &OwnedFd, flags: u32) -> nix::Result<()> {
    let wanted = OFlag::from_bits_truncate(flags as i32)
        & (OFlag::O_NONBLOCK | OFlag::O_APPEND | OFlag::O_ASYNC);
    fcntl(fd.as_raw_fd(), FcntlArg::F_SETFL(wanted)).map(drop)
}

/// Moves `fd` to the lowest free number at or above `floor`.
fn move_above(fd: OwnedFd, floor: RawFd) -> Result<OwnedFd, RestoreError> {
    let moved = fcntl(fd.as_raw_fd(), FcntlArg::F_DUPFD_CLOEXEC(floor))
        .map_err(|errno| RestoreError::FdLimit { floor, errno })?;
    // SAFETY: F_DUPFD_CLOEXEC just returned this new fd, owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(moved) })
}

/// Makes room for `count` fds above `floor` within the soft RLIMIT_NOFILE.
fn raise_fd_limit(floor: RawFd, count: usize) -> Result<(), RestoreError> {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let need = floor as u64 + count as u64 + 16;
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)
        .map_err(|errno| RestoreError::FdLimit { floor, errno })?;
    if soft >= need {
        return Ok(());
    }
    if hard < need {
        return Err(RestoreError::FdLimit {
            floor,
            errno: nix::errno::Errno::EMFILE,
        });
    }
    setrlimit(Resource::RLIMIT_NOFILE, need, hard)
        .map_err(|errno| RestoreError::FdLimit { floor, errno })
}

/// Inside the task: puts every file at its fd number, enters the working
/// and root directories, and closes every other fd.
pub fn install_fds(
    thread: &mut RemoteThread,
    scratch: &super::remote::Scratch,
    process: &ProcessSnapshot,
    files: &HostFiles,
) -> Result<(), RestoreError> {
    let pid = process.pid;
    let (cwd, root) = files
        .dirs_of(pid)
        .ok_or(RestoreError::MissingDirectories { pid })?;
    if process.root != "/" {
        thread.call(
            "enter the root directory",
            libc::SYS_fchdir,
            [root as u64, 0, 0, 0, 0, 0],
        )?;
        let dot = scratch.put(0, b".\0")?;
        thread.call("chroot", libc::SYS_chroot, [dot, 0, 0, 0, 0, 0])?;
    }
    thread.call(
        "enter the working directory",
        libc::SYS_fchdir,
        [cwd as u64, 0, 0, 0, 0, 0],
    )?;

    let mut targets: Vec<_> = process.fds.clone();
    targets.sort_by_key(|f| f.fd);
    for slot in &targets {
        let source = files.fd_of(slot.file_id).ok_or(RestoreError::MissingFile {
            pid,
            fd: slot.fd,
            id: slot.file_id,
        })?;
        let flags = if slot.cloexec {
            libc::O_CLOEXEC as u64
        } else {
            0
        };
        thread.call(
            "put a file at its fd",
            libc::SYS_dup3,
            [source as u64, slot.fd as u64, flags, 0, 0, 0],
        )?;
    }
    let mut next = 0u64;
    for slot in &targets {
        if (slot.fd as u64) > next {
            thread.call(
                "close inherited fds",
                libc::SYS_close_range,
                [next, slot.fd as u64 - 1, 0, 0, 0, 0],
            )?;
        }
        next = slot.fd as u64 + 1;
    }
    thread.call(
        "close inherited fds",
        libc::SYS_close_range,
        [next, u32::MAX.into(), 0, 0, 0, 0],
    )?;
    Ok(())
}
