//! The dump's skeleton: `inventory.img` (format and root ids), `pstree.img`
//! (every task with its parent, group, session and threads) and
//! `ids-PID.img` (each task's kernel object ids).

use std::collections::HashSet;
use std::path::Path;

use super::error::{fit, narrow, CodecError};
use crate::images::core::TaskKobjIdsEntry;
use crate::images::inventory::{InventoryEntry, Lsmtype, IMAGES_V1_1};
use crate::images::pstree::PstreeEntry;
use crate::images::{ImageDir, ImageKind, ImageName};
use crate::snapshot::TreeSnapshot;

/// Most threads crust reads for one task.
pub(crate) const MAX_THREADS: usize = 1 << 16;

/// Most processes crust reads from one pstree.img.
pub(crate) const MAX_PROCESSES: usize = 1 << 15;

/// A task as `pstree.img` names it.
#[derive(Debug)]
pub(crate) struct TaskIds {
    pub pid: i32,
    pub ppid: i32,
    pub pgid: i32,
    pub sid: i32,
    /// Thread ids, in image order (the leader first in CRIU's images).
    pub tids: Vec<i32>,
}

/// Id of the mm, files, fs and sighand objects of the `index`th process. CRIU numbers each
/// kind of object from 1 in the order it meets them; no two processes of a crust dump share
/// one, so the `index`th process's are all `index + 1`, and its fd table is
/// `fdinfo-<index + 1>.img`.
pub(crate) fn object_id(index: usize) -> u32 {
    index as u32 + 1
}

/// Writes inventory.img, pstree.img (processes, then zombies) and ids-PID.img per process.
pub(crate) fn write_tree(dir: &ImageDir, tree: &TreeSnapshot) -> Result<(), CodecError> {
    let mut pstree = Vec::with_capacity(tree.processes.len() + tree.zombies.len());
    for (index, process) in tree.processes.iter().enumerate() {
        let pid = process.pid;
        let threads = process
            .threads
            .iter()
            .map(|t| fit(pid, "thread id", t.tid))
            .collect::<Result<_, _>>()?;
        let entry = PstreeEntry {
            pid: fit(pid, "pid", pid)?,
            ppid: fit(pid, "parent pid", process.ppid)?,
            pgid: fit(pid, "process group", process.pgid)?,
            sid: fit(pid, "session", process.sid)?,
            threads,
        };
        // CRIU's way of saying CLONE_FS and CLONE_FILES: the parent's ids.
        let mut ids = kobj_ids(index, tree.ipc.is_some());
        let parent = tree.processes.iter().position(|p| p.pid == process.ppid);
        if process.shares_fs_with_parent {
            ids.fs_id = parent.map_or(ids.fs_id, object_id);
        }
        if process.shares_files_with_parent {
            ids.files_id = parent.map_or(ids.files_id, |parent| files_id(tree, parent));
        }
        dir.write_one(ImageName::with_id(ImageKind::Ids, entry.pid), &ids)?;
        pstree.push(entry);
    }
    for zombie in &tree.zombies {
        let pid = zombie.pid;
        pstree.push(PstreeEntry {
            pid: fit(pid, "pid", pid)?,
            ppid: fit(pid, "parent pid", zombie.ppid)?,
            pgid: fit(pid, "process group", zombie.pgid)?,
            sid: fit(pid, "session", zombie.sid)?,
            threads: vec![fit(pid, "pid", pid)?],
        });
    }
    let inventory = InventoryEntry {
        img_version: IMAGES_V1_1,
        fdinfo_per_id: Some(true),
        root_ids: Some(kobj_ids(0, tree.ipc.is_some())),
        ns_per_id: Some(true),
        lsmtype: Some(Lsmtype::NoLsm as i32),
        ..Default::default()
    };
    dir.write_one(ImageName::fixed(ImageKind::Inventory), &inventory)?;
    dir.write_entries(ImageName::fixed(ImageKind::Pstree), &pstree)?;
    Ok(())
}

/// The id of the fd table of the `index`th process: its parent's, up the chain, when it
/// shares it.
pub(crate) fn files_id(tree: &TreeSnapshot, index: usize) -> u32 {
    let mut at = index;
    for _ in 0..tree.processes.len() {
        let process = &tree.processes[at];
        let parent = tree.processes.iter().position(|p| p.pid == process.ppid);
        match parent {
            Some(parent) if process.shares_files_with_parent => at = parent,
            _ => break,
        }
    }
    object_id(at)
}

/// The ids of the `index`th process; with `own_ipc`, the tree's IPC namespace's too.
fn kobj_ids(index: usize, own_ipc: bool) -> TaskKobjIdsEntry {
    let id = object_id(index);
    TaskKobjIdsEntry {
        vm_id: id,
        files_id: id,
        fs_id: id,
        sighand_id: id,
        ipc_ns_id: own_ipc.then_some(super::ipc::IPC_NS_ID),
        ..Default::default()
    }
}

/// Checks inventory.img: the format version and the layout crust reads.
pub(crate) fn read_inventory(dir: &ImageDir) -> Result<(), CodecError> {
    let name = ImageName::fixed(ImageKind::Inventory);
    let inventory = dir.read_inventory_unchecked()?;
    let path = dir.file_path(name);
    let format = |what, found: String, expected| CodecError::Format {
        path: path.clone(),
        what,
        found,
        expected,
    };
    if inventory.img_version != IMAGES_V1_1 {
        let found = inventory.img_version.to_string();
        return Err(format("img_version", found, "2 (CRIU 3.x)"));
    }
    if inventory.fdinfo_per_id != Some(true) {
        let found = format!("{:?}", inventory.fdinfo_per_id);
        return Err(format("fdinfo_per_id", found, "true"));
    }
    Ok(())
}

/// Reads pstree.img: every task, in image order, each pid and tid once.
pub(crate) fn read_pstree(dir: &ImageDir) -> Result<Vec<TaskIds>, CodecError> {
    let name = ImageName::fixed(ImageKind::Pstree);
    let path = dir.file_path(name);
    let entries: Vec<PstreeEntry> = dir.read_entries(name)?;
    if entries.is_empty() || entries.len() > MAX_PROCESSES {
        let count = entries.len();
        let max = MAX_PROCESSES;
        return Err(CodecError::ProcessCount { path, count, max });
    }
    let mut seen = HashSet::new();
    entries
        .into_iter()
        .map(|entry| read_task(&path, entry, &mut seen))
        .collect()
}

fn read_task(
    path: &Path,
    entry: PstreeEntry,
    seen: &mut HashSet<i32>,
) -> Result<TaskIds, CodecError> {
    let positive = |what, value: i32| {
        if value > 0 {
            Ok(value)
        } else {
            let path = path.to_path_buf();
            Err(CodecError::OutOfRange {
                path,
                what,
                value: value.into(),
            })
        }
    };
    let pid = positive("pid", narrow(path, "pid", entry.pid)?)?;
    if entry.threads.is_empty() {
        let what = "pstree threads";
        return Err(CodecError::MissingField {
            path: path.into(),
            what,
        });
    }
    if entry.threads.len() > MAX_THREADS {
        return Err(CodecError::BadLength {
            path: path.into(),
            what: "pstree threads",
            found: entry.threads.len(),
            expected: MAX_THREADS,
        });
    }
    let mut tids = Vec::with_capacity(entry.threads.len());
    for &tid in &entry.threads {
        let tid = positive("thread id", narrow(path, "thread id", tid)?)?;
        if !seen.insert(tid) {
            let id = u64::from(tid.unsigned_abs());
            return Err(CodecError::DuplicateId {
                path: path.into(),
                what: "thread id",
                id,
            });
        }
        tids.push(tid);
    }
    Ok(TaskIds {
        pid,
        ppid: narrow(path, "ppid", entry.ppid)?,
        pgid: narrow(path, "pgid", entry.pgid)?,
        sid: narrow(path, "sid", entry.sid)?,
        tids,
    })
}

/// Reads ids-PID.img: the ids of the task's fd table, fs information and other objects.
pub(crate) fn read_ids(dir: &ImageDir, pid: i32) -> Result<TaskKobjIdsEntry, CodecError> {
    let pid = u32::try_from(pid).unwrap_or(0);
    Ok(dir.read_one(ImageName::with_id(ImageKind::Ids, pid))?)
}
