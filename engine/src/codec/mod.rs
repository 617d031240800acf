//! The image codec: a [`ProcessSnapshot`] written as CRIU 3.17 images, and
//! read back (bounded, checked) from them.
//!
//! A dump writes a process in two parts into one [`ImageDir`]:
//!
//! 1. its memory contents, streamed through
//!    `dir.pages_writer(pid, PAGES_ID)` ([`PAGES_ID`] is 1, as CRIU numbers
//!    the first pages image), which writes `pagemap-PID.img` and
//!    `pages-1.img`;
//! 2. everything else, with [`write_process`]: `inventory.img`,
//!    `pstree.img`, `ids-PID.img`, `core-TID.img` per thread, `mm-PID.img`,
//!    `files.img`, `fdinfo-1.img`, `fs-PID.img` and `pipes-data.img`.
//!
//! [`read_process`] reads them all back into a snapshot whose
//! `memory.pages` lists the pagemap's runs in image order, and returns the
//! path of the pages file the pagemap names. The snapshot is not yet
//! validated: restore calls [`ProcessSnapshot::validate`].
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
mod memory;
mod task;
mod thread;
mod tree;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

pub use error::CodecError;
pub use invisible::{write_ghost, write_memfds, write_remaps, MEMFD_PAGES_BASE};

use crate::images::ImageDir;
use crate::snapshot::{FileSnapshot, ProcessSnapshot, VmaBacking};

/// Id of the pages image a dump writes a process's memory into, through
/// `dir.pages_writer(pid, PAGES_ID)`, before calling [`write_process`].
pub const PAGES_ID: u32 = 1;

/// A process read back from an image directory.
#[derive(Debug)]
pub struct ProcessImages {
    /// The process, not yet validated.
    pub process: ProcessSnapshot,
    /// The pages image holding its saved pages, in `process.memory.pages` order.
    pub pages_path: PathBuf,
}

/// Writes every image of `process` except its pagemap and pages, which the
/// dump has written through `dir.pages_writer(pid, PAGES_ID)`.
pub fn write_process(dir: &ImageDir, process: &ProcessSnapshot) -> Result<(), CodecError> {
    let layout = fpu::XsaveLayout::this_cpu();
    let (cwd_id, root_id) = directory_ids(process)?;
    let directories = [
        files::directory_entry(cwd_id, &process.cwd),
        files::directory_entry(root_id, &process.root),
    ];

    tree::write_tree(dir, process)?;
    task::write_cores(dir, process, &layout)?;
    memory::write_mm(dir, process)?;
    files::write_files(dir, process, tree::OBJECT_ID, &directories)?;
    fs::write_fs(dir, process, cwd_id, root_id)?;
    fs::write_pipe_data(dir, process)?;
    invisible::write_invisible(dir, process.pid, &process.invisible, cwd_id)?;
    log::debug!(
        "pid {}: wrote images of {} threads, {} areas, {} fds",
        process.pid,
        process.threads.len(),
        process.memory.vmas.len(),
        process.fds.len()
    );
    Ok(())
}

/// Ids for the cwd and root entries, past every id the snapshot's files use.
fn directory_ids(process: &ProcessSnapshot) -> Result<(u32, u32), CodecError> {
    let last = process
        .files
        .iter()
        .map(FileSnapshot::id)
        .max()
        .unwrap_or(0);
    let next = |after: u32| {
        after.checked_add(1).ok_or(CodecError::Unrepresentable {
            pid: process.pid,
            what: "file id",
            value: after.into(),
            why: "no id is left for the cwd and root entries",
        })
    };
    let cwd_id = next(last)?;
    Ok((cwd_id, next(cwd_id)?))
}

/// Reads the single process stored in `dir`.
pub fn read_process(dir: &Path) -> Result<ProcessImages, CodecError> {
    let dir = ImageDir::open(dir)?;
    let layout = fpu::XsaveLayout::this_cpu();

    tree::read_inventory(&dir)?;
    let task = tree::read_pstree(&dir)?;
    let files_id = tree::read_files_id(&dir, task.pid)?;
    let (threads, state, no_new_privs) = task::read_cores(&dir, &task, &layout)?;
    let (mut memory, dumpable) = memory::read_mm(&dir, task.pid)?;
    let (pages, pages_path) = memory::read_pages(&dir, task.pid)?;
    memory.pages = pages;

    let read_files = files::read_files(&dir)?;
    let fds = files::read_fds(&dir, files_id, &read_files)?;
    let fs = fs::read_fs(&dir, task.pid, &read_files)?;
    let has_pipes = read_files
        .files
        .iter()
        .any(|f| matches!(f, FileSnapshot::Pipe { .. }));
    let pipe_data = fs::read_pipe_data(&dir, has_pipes)?;
    let invisible = invisible::read_invisible(&dir, &read_files, fs.cwd_id)?;
    let used = used_file_ids(&fds, &memory);
    let files = read_files
        .files
        .into_iter()
        .filter(|f| used.contains(&f.id()) || (f.id() != fs.cwd_id && f.id() != fs.root_id))
        .collect();

    let process = ProcessSnapshot {
        pid: task.pid,
        pgid: task.pgid,
        sid: task.sid,
        threads,
        memory,
        files,
        fds,
        pipe_data,
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
    };
    Ok(ProcessImages {
        process,
        pages_path,
    })
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
