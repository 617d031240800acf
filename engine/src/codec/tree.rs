//! The dump's skeleton: `inventory.img` (format and root ids), `pstree.img`
//! (the one task and its threads) and `ids-PID.img` (its kernel object ids).

use std::collections::HashSet;

use super::error::{fit, narrow, CodecError};
use crate::images::core::TaskKobjIdsEntry;
use crate::images::inventory::{InventoryEntry, Lsmtype, IMAGES_V1_1};
use crate::images::pstree::PstreeEntry;
use crate::images::{ImageDir, ImageKind, ImageName};
use crate::snapshot::ProcessSnapshot;

/// Id of the task's mm, files, fs and sighand objects. CRIU numbers each
/// kind of object from 1 in the order it meets them; a lone task's are all 1,
/// and its fd table is `fdinfo-1.img`.
pub(crate) const OBJECT_ID: u32 = 1;

/// Most threads crust reads for one task.
pub(crate) const MAX_THREADS: usize = 1 << 16;

/// The task as `pstree.img` names it.
#[derive(Debug)]
pub(crate) struct TaskIds {
    pub pid: i32,
    pub pgid: i32,
    pub sid: i32,
    /// Thread ids, in image order (the leader first in CRIU's images).
    pub tids: Vec<i32>,
}

/// Writes inventory.img, pstree.img and ids-PID.img.
pub(crate) fn write_tree(dir: &ImageDir, process: &ProcessSnapshot) -> Result<(), CodecError> {
    let pid = process.pid;
    let ids = kobj_ids();
    let inventory = InventoryEntry {
        img_version: IMAGES_V1_1,
        fdinfo_per_id: Some(true),
        root_ids: Some(ids.clone()),
        ns_per_id: Some(true),
        lsmtype: Some(Lsmtype::NoLsm as i32),
        ..Default::default()
    };
    let threads = process
        .threads
        .iter()
        .map(|t| fit(pid, "thread id", t.tid))
        .collect::<Result<_, _>>()?;
    let pstree = PstreeEntry {
        pid: fit(pid, "pid", pid)?,
        ppid: 0,
        pgid: fit(pid, "process group", process.pgid)?,
        sid: fit(pid, "session", process.sid)?,
        threads,
    };
    dir.write_one(ImageName::fixed(ImageKind::Inventory), &inventory)?;
    dir.write_one(ImageName::fixed(ImageKind::Pstree), &pstree)?;
    dir.write_one(ImageName::with_id(ImageKind::Ids, pstree.pid), &ids)?;
    Ok(())
}

fn kobj_ids() -> TaskKobjIdsEntry {
    TaskKobjIdsEntry {
        vm_id: OBJECT_ID,
        files_id: OBJECT_ID,
        fs_id: OBJECT_ID,
        sighand_id: OBJECT_ID,
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

/// Reads pstree.img, which must describe exactly one task.
pub(crate) fn read_pstree(dir: &ImageDir) -> Result<TaskIds, CodecError> {
    let name = ImageName::fixed(ImageKind::Pstree);
    let path = dir.file_path(name);
    let mut entries: Vec<PstreeEntry> = dir.read_entries(name)?;
    if entries.len() != 1 {
        let count = entries.len();
        return Err(CodecError::ProcessCount { path, count });
    }
    let entry = entries.remove(0);
    let pid: i32 = narrow(&path, "pid", entry.pid)?;
    if pid <= 0 {
        return Err(CodecError::OutOfRange {
            path,
            what: "pid",
            value: pid.into(),
        });
    }
    if entry.threads.is_empty() {
        let what = "pstree threads";
        return Err(CodecError::MissingField { path, what });
    }
    if entry.threads.len() > MAX_THREADS {
        return Err(CodecError::BadLength {
            path,
            what: "pstree threads",
            found: entry.threads.len(),
            expected: MAX_THREADS,
        });
    }
    let mut seen = HashSet::new();
    let mut tids = Vec::with_capacity(entry.threads.len());
    for &tid in &entry.threads {
        let tid: i32 = narrow(&path, "thread id", tid)?;
        if tid <= 0 {
            let value = tid.into();
            return Err(CodecError::OutOfRange {
                path,
                what: "thread id",
                value,
            });
        }
        if !seen.insert(tid) {
            let id = u64::from(tid.unsigned_abs());
            return Err(CodecError::DuplicateId {
                path,
                what: "thread id",
                id,
            });
        }
        tids.push(tid);
    }
    Ok(TaskIds {
        pid,
        pgid: narrow(&path, "pgid", entry.pgid)?,
        sid: narrow(&path, "sid", entry.sid)?,
        tids,
    })
}

/// Reads ids-PID.img and returns the id of the task's fd table.
pub(crate) fn read_files_id(dir: &ImageDir, pid: i32) -> Result<u32, CodecError> {
    let pid = u32::try_from(pid).unwrap_or(0);
    let ids: TaskKobjIdsEntry = dir.read_one(ImageName::with_id(ImageKind::Ids, pid))?;
    Ok(ids.files_id)
}
