//! The image codec: a [`TreeSnapshot`] written as CRIU 3.17 images, and
//! read back (bounded, checked) from them.
//!
//! A dump writes a tree in two parts into one [`ImageDir`]:
//!
//! 1. each process's memory contents, streamed through
//!    `dir.pages_writer(pid, pages_id)` (pages ids numbered from 1 in tree
//!    order, as CRIU numbers pages images), which writes `pagemap-PID.img`
//!    and `pages-N.img`;
//! 2. everything else, with [`write_tree`]: `inventory.img`, `pstree.img`
//!    (processes, then zombies), and per process `ids-PID.img`,
//!    `core-TID.img` per thread, `mm-PID.img`, `fdinfo-N.img` and
//!    `fs-PID.img`; a zombie has only its `core-PID.img` (a dead task with
//!    its exit code); `files.img` and `pipes-data.img` hold every file and
//!    pipe of the tree once, and `filelocks.img` (written when a process
//!    holds file locks) every lock, each with its pid.
//!
//! [`read_tree`] reads them all back into a tree whose processes'
//! `memory.pages` list their pagemap's runs in image order, with the paths
//! of the pages files the pagemaps name. The tree is not yet validated:
//! restore calls [`TreeSnapshot::validate`].
//!
//! Fields CRIU 3.17 lacks go where later CRIU releases put them
//! (`creds_entry.no_new_privs` = 18, `creds_entry.cap_amb` = 19), or, where
//! no release has them, into crust extension fields numbered from 1000
//! (`task_core_entry.crust_exit_signal`, `vma_entry.crust_vvar_vclock`);
//! crit skips fields it does not know, so the files still decode.

mod error;
mod files;
mod fpu;
mod fs;
mod invisible;
pub mod ipc;
mod locks;
mod memory;
mod task;
mod thread;
mod tree;
mod tty;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

pub use error::CodecError;
pub use invisible::{write_ghost, write_memfds, write_remaps, MEMFD_PAGES_BASE};
pub use tty::write_ttys;

use crate::images::ImageDir;
use crate::snapshot::{FileSnapshot, ProcessSnapshot, TreeSnapshot, VmaBacking, ZombieSnapshot};

/// A tree read back from an image directory.
#[derive(Debug)]
pub struct TreeImages {
    /// The tree, not yet validated.
    pub tree: TreeSnapshot,
    /// For each process of `tree.processes`, in order, the pages image holding its saved
    /// pages, in `memory.pages` order.
    pub pages_paths: Vec<PathBuf>,
}

/// Writes every image of `tree` except the pagemaps and pages, which the
/// dump has written through `dir.pages_writer(pid, pages_id)`.
pub fn write_tree(dir: &ImageDir, tree: &TreeSnapshot) -> Result<(), CodecError> {
    let layout = fpu::XsaveLayout::this_cpu();
    let mut next_id = last_file_id(tree);
    let mut directories = Vec::with_capacity(2 * tree.processes.len());
    tree::write_tree(dir, tree)?;
    let mut cwd_ids = Vec::with_capacity(tree.processes.len());
    for process in &tree.processes {
        let cwd_id = next_file_id(process.pid, &mut next_id)?;
        let root_id = next_file_id(process.pid, &mut next_id)?;
        directories.push(files::directory_entry(cwd_id, &process.cwd));
        directories.push(files::directory_entry(root_id, &process.root));
        task::write_cores(dir, process, &layout)?;
        memory::write_mm(dir, process)?;
        fs::write_fs(dir, process, cwd_id, root_id)?;
        cwd_ids.push(cwd_id);
        log::debug!(
            "pid {}: wrote images of {} threads, {} areas, {} fds",
            process.pid,
            process.threads.len(),
            process.memory.vmas.len(),
            process.fds.len()
        );
    }
    for zombie in &tree.zombies {
        task::write_zombie(dir, zombie)?;
    }
    files::write_files(dir, &tree.processes, tree::object_id, &directories)?;
    fs::write_pipe_data(dir, &tree.processes)?;
    let mut lock_entries = Vec::new();
    for process in &tree.processes {
        lock_entries.extend(locks::lock_entries(process)?);
    }
    locks::write_file_locks(dir, &lock_entries)?;
    let mut ttys: Vec<crate::snapshot::TtyInfo> = Vec::new();
    for tty in tree.processes.iter().flat_map(|p| &p.ttys) {
        if !ttys.iter().any(|t| t.id == tty.id) {
            ttys.push(tty.clone());
        }
    }
    tty::write_ttys(dir, &ttys)?;
    let cwds: Vec<(Option<u32>, u32)> = tree
        .processes
        .iter()
        .zip(&cwd_ids)
        .map(|(process, cwd_id)| (process.invisible.cwd_ghost, *cwd_id))
        .collect();
    let all = crate::snapshot::InvisibleFiles::merged(tree.processes.iter().map(|p| &p.invisible));
    let root = tree.root().map_or(0, |root| root.pid);
    invisible::write_invisible(dir, root, &all, &cwds)?;
    if let Some(ipc) = &tree.ipc {
        ipc::write_ipc(dir, root, ipc)?;
    }
    Ok(())
}

/// The highest file id the tree's files use.
fn last_file_id(tree: &TreeSnapshot) -> u32 {
    let ids = tree
        .processes
        .iter()
        .flat_map(|p| p.files.iter().map(FileSnapshot::id));
    ids.max().unwrap_or(0)
}

/// The next free file id, for a directory entry of `pid`.
fn next_file_id(pid: i32, last: &mut u32) -> Result<u32, CodecError> {
    *last = last.checked_add(1).ok_or(CodecError::Unrepresentable {
        pid,
        what: "file id",
        value: (*last).into(),
        why: "no id is left for the cwd and root entries",
    })?;
    Ok(*last)
}

/// Reads the tree stored in `dir`: every process and zombie pstree.img lists.
pub fn read_tree(dir: &Path) -> Result<TreeImages, CodecError> {
    let dir = ImageDir::open(dir)?;
    let layout = fpu::XsaveLayout::this_cpu();

    tree::read_inventory(&dir)?;
    let tasks = tree::read_pstree(&dir)?;
    let read_files = files::read_files(&dir)?;
    let has_pipes = read_files
        .files
        .iter()
        .any(|f| matches!(f, FileSnapshot::Pipe { .. }));
    let mut pipe_data = fs::read_pipe_data(&dir, has_pipes)?;
    let has_fifos = read_files
        .files
        .iter()
        .any(|f| matches!(f, FileSnapshot::Fifo { .. }));
    let fifo_data = fs::read_fifo_data(&dir, has_fifos)?;
    if pipe_data.len() + fifo_data.len() > 1 << 16 {
        let path = dir.file_path(crate::images::ImageName::fixed(
            crate::images::ImageKind::FifoData,
        ));
        return Err(CodecError::BadLength {
            path,
            what: "pipe and FIFO data entries",
            found: pipe_data.len() + fifo_data.len(),
            expected: 1 << 16,
        });
    }
    pipe_data.extend(fifo_data);
    let locks = locks::read_file_locks(&dir)?;
    let pids: Vec<i32> = tasks.iter().map(|task| task.pid).collect();
    let has_ttys = read_files
        .files
        .iter()
        .any(|f| matches!(f, FileSnapshot::Tty { .. }));
    let ttys = tty::read_ttys(&dir, has_ttys)?;
    let context = TreeContext {
        read_files: &read_files,
        locks: &locks,
        ttys: &ttys,
        pids: &pids,
    };

    let mut processes = Vec::new();
    let mut zombies = Vec::new();
    let mut pages_paths = Vec::new();
    for task in tasks {
        if let Some((wait_status, exit_signal, comm)) = task::read_zombie(&dir, task.pid)? {
            zombies.push(ZombieSnapshot {
                pid: task.pid,
                ppid: task.ppid,
                pgid: task.pgid,
                sid: task.sid,
                wait_status,
                exit_signal,
                comm,
            });
            continue;
        }
        let (process, pages_path) = read_process(&dir, &task, &layout, &context, &mut pipe_data)?;
        processes.push(process);
        pages_paths.push(pages_path);
    }
    let ipc = ipc::read_own_ipc(&dir, &processes)?;
    let tree = TreeSnapshot {
        processes,
        zombies,
        ipc,
    };
    Ok(TreeImages { tree, pages_paths })
}

/// What every process of a tree is read against: the tree-wide images.
struct TreeContext<'a> {
    read_files: &'a files::ReadFiles,
    locks: &'a [crate::images::file_lock::FileLockEntry],
    ttys: &'a [crate::snapshot::TtyInfo],
    pids: &'a [i32],
}

/// Reads one live process of the tree; takes the data of the pipes it holds out of
/// `pipe_data` (a pipe's data goes with the first process met holding it).
fn read_process(
    dir: &ImageDir,
    task: &tree::TaskIds,
    layout: &fpu::XsaveLayout,
    context: &TreeContext,
    pipe_data: &mut Vec<(u32, Vec<u8>)>,
) -> Result<(ProcessSnapshot, PathBuf), CodecError> {
    let read_files = context.read_files;
    let file_locks = locks::locks_of(dir, context.locks, task.pid, context.pids)?;
    let ids = tree::read_ids(dir, task.pid)?;
    let files_id = ids.files_id;
    // CRIU's way of saying CLONE_FS: the parent's fs id.
    let parent_ids = match context.pids.contains(&task.ppid) && task.ppid != task.pid {
        true => Some(tree::read_ids(dir, task.ppid)?),
        false => None,
    };
    let parent_fs_id = parent_ids.as_ref().map(|ids| ids.fs_id);
    let parent_files_id = parent_ids.as_ref().map(|ids| ids.files_id);
    let (threads, state, no_new_privs) = task::read_cores(dir, task, layout)?;
    let (mut memory, dumpable) = memory::read_mm(dir, task.pid)?;
    let (pages, pages_path) = memory::read_pages(dir, task.pid)?;
    memory.pages = pages;

    let fds = files::read_fds(dir, files_id, read_files)?;
    let fs = fs::read_fs(dir, task.pid, read_files)?;
    let used = used_file_ids(&fds, &memory);
    let files: Vec<FileSnapshot> = read_files
        .files
        .iter()
        .filter(|f| used.contains(&f.id()))
        .cloned()
        .collect();
    let held: HashSet<u32> = files
        .iter()
        .filter_map(|f| match f {
            FileSnapshot::Pipe { pipe, .. } => Some(pipe.pipe_id),
            FileSnapshot::Fifo { fifo, .. } => Some(fifo.pipe_id),
            _ => None,
        })
        .collect();
    let (own, others): (Vec<_>, Vec<_>) = std::mem::take(pipe_data)
        .into_iter()
        .partition(|(id, _)| held.contains(id));
    *pipe_data = others;

    let ttys = ttys_of(&files, context.ttys);
    // The tree's ghosts and memfds, this process's share of them.
    let all = invisible::read_invisible(dir, read_files, fs.cwd_id)?;
    let invisible = all.share_of(&files, all.cwd_ghost);
    let process = ProcessSnapshot {
        pid: task.pid,
        ppid: task.ppid,
        pgid: task.pgid,
        sid: task.sid,
        threads,
        memory,
        files,
        fds,
        pipe_data: own,
        file_locks,
        invisible,
        cwd: fs.cwd,
        root: fs.root,
        umask: fs.umask,
        sigactions: state.sigactions,
        shared_pending: state.shared_pending,
        itimers: state.itimers,
        posix_timers: state.posix_timers,
        rlimits: state.rlimits,
        personality: state.personality,
        no_new_privs,
        dumpable,
        child_subreaper: state.child_subreaper,
        exit_signal: state.exit_signal,
        stopped: state.stopped,
        shares_fs_with_parent: parent_fs_id == Some(ids.fs_id),
        shares_files_with_parent: parent_files_id == Some(files_id),
        ttys,
    };
    Ok((process, pages_path))
}

/// The pty ends `files` refer to, with the other end of each pair (which a shell job's
/// terminal lacks).
fn ttys_of(
    files: &[FileSnapshot],
    ttys: &[crate::snapshot::TtyInfo],
) -> Vec<crate::snapshot::TtyInfo> {
    let referred: Vec<u32> = files
        .iter()
        .filter_map(|f| match f {
            FileSnapshot::Tty { tty, .. } => Some(tty.info_id),
            _ => None,
        })
        .collect();
    let indexes: Vec<u32> = ttys
        .iter()
        .filter(|t| referred.contains(&t.id))
        .map(|t| t.index)
        .collect();
    ttys.iter()
        .filter(|t| indexes.contains(&t.index))
        .cloned()
        .collect()
}

/// File ids something other than fs-PID.img refers to: fds, file mappings
/// and the executable. The cwd and root entries are kept out of the
/// snapshot's files unless one of these uses them too.
fn used_file_ids(
    fds: &[crate::snapshot::FdSnapshot],
    memory: &crate::snapshot::MemorySnapshot,
) -> HashSet<u32> {
    let mapped = memory.vmas.iter().filter_map(|v| match v.backing {
        VmaBacking::File { file_id } => Some(file_id),
        _ => None,
    });
    fds.iter()
        .map(|fd| fd.file_id)
        .chain(mapped)
        .chain([memory.exe_file_id])
        .collect()
}
