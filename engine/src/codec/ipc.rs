//! A tree's own IPC namespace: `ipcns-var-N.img`, `ipcns-shm-N.img`, `ipcns-msg-N.img` and
//! `ipcns-sem-N.img`, N the `ipc_ns_id` every `ids-PID.img` of the tree names. Each object
//! entry is followed by what it holds, padded as CRIU pads it (see `images::ipc`).

use std::io::Read;
use std::path::Path;

use super::error::CodecError;
use crate::images::ipc::{
    padding, IpcDescEntry, IpcMsg, IpcMsgEntry, IpcSemEntry, IpcShmEntry, IpcVarEntry,
    SEM_MSG_ALIGN, SHM_ALIGN,
};
use crate::images::{ImageDir, ImageKind, ImageName, ImageReader, ImageWriter};
use crate::snapshot::{
    IpcNamespaceSnapshot, IpcPerm, IpcVars, MsgQueueSnapshot, ProcessSnapshot, QueuedMessage,
    SemSetSnapshot, ShmSegmentSnapshot, MAX_IPC_OBJECTS, MAX_MESSAGES, MAX_SEMAPHORES,
    MAX_SHM_SIZE,
};

/// The `ipc_ns_id` crust gives a tree's own IPC namespace (the only one it dumps).
pub const IPC_NS_ID: u32 = 1;

/// Writes the four images of `ipc`, the IPC namespace of the tree whose root is `root`.
pub fn write_ipc(dir: &ImageDir, root: i32, ipc: &IpcNamespaceSnapshot) -> Result<(), CodecError> {
    let fits = |what, value: usize| {
        u32::try_from(value).map_err(|_| CodecError::Unrepresentable {
            pid: root,
            what,
            value: value as i128,
            why: "the image holds it in 32 bits",
        })
    };
    let name = |kind| ImageName::with_id(kind, IPC_NS_ID);
    dir.write_one(name(ImageKind::IpcVar), &var_entry(&ipc.vars))?;

    let mut shm = dir.writer(name(ImageKind::IpcShm))?;
    for segment in &ipc.segments {
        let entry = IpcShmEntry {
            desc: desc_entry(&segment.perm),
            size: segment.size,
            in_pagemaps: None,
            hugetlb_flag: None,
        };
        shm.write_entry(&entry)?;
        write_padded(&mut shm, &segment.data, SHM_ALIGN)?;
    }
    shm.finish()?;

    let mut sem = dir.writer(name(ImageKind::IpcSem))?;
    for set in &ipc.sem_sets {
        sem.write_entry(&IpcSemEntry {
            desc: desc_entry(&set.perm),
            nsems: fits("semaphores in a set", set.values.len())?,
        })?;
        let bytes: Vec<u8> = set.values.iter().flat_map(|v| v.to_ne_bytes()).collect();
        write_padded(&mut sem, &bytes, SEM_MSG_ALIGN)?;
    }
    sem.finish()?;

    let mut msg = dir.writer(name(ImageKind::IpcMsg))?;
    for queue in &ipc.queues {
        msg.write_entry(&IpcMsgEntry {
            desc: desc_entry(&queue.perm),
            qbytes: u32::try_from(queue.qbytes).map_err(|_| CodecError::Unrepresentable {
                pid: root,
                what: "a message queue's qbytes",
                value: queue.qbytes.into(),
                why: "the image holds it in 32 bits",
            })?,
            qnum: fits("messages in a queue", queue.messages.len())?,
        })?;
        for message in &queue.messages {
            msg.write_entry(&IpcMsg {
                mtype: message.mtype.unsigned_abs(),
                msize: fits("SysV message size", message.body.len())?,
            })?;
            write_padded(&mut msg, &message.body, SEM_MSG_ALIGN)?;
        }
    }
    msg.finish()?;
    Ok(())
}

/// Reads the IPC namespace `ns_id` of the images.
pub fn read_ipc(dir: &ImageDir, ns_id: u32) -> Result<IpcNamespaceSnapshot, CodecError> {
    let name = |kind| ImageName::with_id(kind, ns_id);
    let var_name = name(ImageKind::IpcVar);
    let vars = vars_of(&dir.file_path(var_name), &dir.read_one(var_name)?)?;
    Ok(IpcNamespaceSnapshot {
        vars,
        segments: read_segments(&mut dir.reader(name(ImageKind::IpcShm))?)?,
        sem_sets: read_sem_sets(&mut dir.reader(name(ImageKind::IpcSem))?)?,
        queues: read_queues(&mut dir.reader(name(ImageKind::IpcMsg))?)?,
    })
}

/// The tree's own IPC namespace, when the root's ids name one the images hold; every process
/// must be in the root's.
pub(super) fn read_own_ipc(
    dir: &ImageDir,
    processes: &[ProcessSnapshot],
) -> Result<Option<IpcNamespaceSnapshot>, CodecError> {
    let Some(root) = processes.first() else {
        return Ok(None);
    };
    let ns_of = |pid| super::tree::read_ids(dir, pid).map(|ids| ids.ipc_ns_id);
    let root_ns = ns_of(root.pid)?;
    for process in &processes[1..] {
        let ns = ns_of(process.pid)?;
        if ns != root_ns {
            let name = ImageName::ids(u32::try_from(process.pid).unwrap_or(0));
            return Err(CodecError::Format {
                path: dir.file_path(name),
                what: "ipc_ns_id",
                found: format!("{ns:?}"),
                expected: "the root's (one IPC namespace per tree)",
            });
        }
    }
    match root_ns {
        Some(id) if has_ipc(dir, id) => Ok(Some(read_ipc(dir, id)?)),
        _ => Ok(None),
    }
}

/// Whether the images hold IPC namespace `ns_id` (its `ipcns-var-N.img`).
pub fn has_ipc(dir: &ImageDir, ns_id: u32) -> bool {
    dir.file_path(ImageName::with_id(ImageKind::IpcVar, ns_id))
        .exists()
}

/// Reads the segments of an `ipcns-shm` image with their bytes.
pub fn read_segments<R: Read>(
    r: &mut ImageReader<R>,
) -> Result<Vec<ShmSegmentSnapshot>, CodecError> {
    let mut segments = Vec::new();
    while let Some(entry) = r.next_entry::<IpcShmEntry>()? {
        check_count(r.path(), "SysV shm segments", segments.len())?;
        let path = r.path().to_path_buf();
        if entry.in_pagemaps == Some(true) {
            let what = "SysV shm bytes (in pagemaps, which crust does not read)";
            return Err(CodecError::MissingField { path, what });
        }
        if entry.size == 0 || entry.size > MAX_SHM_SIZE {
            let (what, value) = ("SysV shm size", entry.size.into());
            return Err(CodecError::OutOfRange { path, what, value });
        }
        let data = read_padded(r, entry.size, SHM_ALIGN)?;
        segments.push(ShmSegmentSnapshot {
            perm: perm_of(r.path(), &entry.desc)?,
            size: entry.size,
            data,
        });
    }
    Ok(segments)
}

/// Reads the sets of an `ipcns-sem` image with their values.
pub fn read_sem_sets<R: Read>(r: &mut ImageReader<R>) -> Result<Vec<SemSetSnapshot>, CodecError> {
    let mut sets = Vec::new();
    while let Some(entry) = r.next_entry::<IpcSemEntry>()? {
        check_count(r.path(), "SysV semaphore sets", sets.len())?;
        let nsems = entry.nsems as usize;
        if nsems == 0 || nsems > MAX_SEMAPHORES {
            let path = r.path().to_path_buf();
            let (what, value) = ("semaphores in a set", entry.nsems.into());
            return Err(CodecError::OutOfRange { path, what, value });
        }
        let bytes = read_padded(r, 2 * nsems as u64, SEM_MSG_ALIGN)?;
        let values = bytes
            .chunks_exact(2)
            .map(|pair| u16::from_ne_bytes([pair[0], pair[1]]))
            .collect();
        sets.push(SemSetSnapshot {
            perm: perm_of(r.path(), &entry.desc)?,
            values,
        });
    }
    Ok(sets)
}

/// Reads the queues of an `ipcns-msg` image with their messages.
pub fn read_queues<R: Read>(r: &mut ImageReader<R>) -> Result<Vec<MsgQueueSnapshot>, CodecError> {
    let mut queues = Vec::new();
    while let Some(entry) = r.next_entry::<IpcMsgEntry>()? {
        check_count(r.path(), "SysV message queues", queues.len())?;
        let count = entry.qnum as usize;
        if count > MAX_MESSAGES {
            let path = r.path().to_path_buf();
            let (what, value) = ("messages in a queue", entry.qnum.into());
            return Err(CodecError::OutOfRange { path, what, value });
        }
        let mut messages = Vec::new();
        for _ in 0..count {
            let message: IpcMsg = r.next_entry()?.ok_or_else(|| CodecError::MissingField {
                path: r.path().to_path_buf(),
                what: "a message the queue's qnum counts",
            })?;
            let mtype = i64::try_from(message.mtype).unwrap_or(0);
            if mtype <= 0 {
                let path = r.path().to_path_buf();
                let (what, value) = ("message type", message.mtype.into());
                return Err(CodecError::OutOfRange { path, what, value });
            }
            let body = read_padded(r, message.msize.into(), SEM_MSG_ALIGN)?;
            messages.push(QueuedMessage { mtype, body });
        }
        queues.push(MsgQueueSnapshot {
            perm: perm_of(r.path(), &entry.desc)?,
            qbytes: entry.qbytes.into(),
            messages,
        });
    }
    Ok(queues)
}

fn check_count(path: &Path, what: &'static str, count: usize) -> Result<(), CodecError> {
    if count < MAX_IPC_OBJECTS {
        return Ok(());
    }
    Err(CodecError::BadLength {
        path: path.to_path_buf(),
        what,
        found: count + 1,
        expected: MAX_IPC_OBJECTS,
    })
}

fn write_padded(w: &mut ImageWriter, bytes: &[u8], align: u64) -> Result<(), CodecError> {
    w.write_payload(bytes)?;
    let pad = padding(bytes.len() as u64, align);
    w.write_payload(&[0; 8][..pad as usize])?;
    Ok(())
}

fn read_padded<R: Read>(
    r: &mut ImageReader<R>,
    len: u64,
    align: u64,
) -> Result<Vec<u8>, CodecError> {
    let bytes = r.read_payload(len)?;
    r.skip_payload(padding(len, align))?;
    Ok(bytes)
}

fn desc_entry(perm: &IpcPerm) -> IpcDescEntry {
    IpcDescEntry {
        key: u32::from_ne_bytes(perm.key.to_ne_bytes()),
        uid: perm.uid,
        gid: perm.gid,
        cuid: perm.cuid,
        cgid: perm.cgid,
        mode: perm.mode,
        id: u32::try_from(perm.id).unwrap_or(u32::MAX),
    }
}

fn perm_of(path: &Path, desc: &IpcDescEntry) -> Result<IpcPerm, CodecError> {
    let id = i32::try_from(desc.id).map_err(|_| CodecError::OutOfRange {
        path: path.to_path_buf(),
        what: "SysV IPC id",
        value: desc.id.into(),
    })?;
    Ok(IpcPerm {
        key: i32::from_ne_bytes(desc.key.to_ne_bytes()),
        id,
        uid: desc.uid,
        gid: desc.gid,
        cuid: desc.cuid,
        cgid: desc.cgid,
        mode: desc.mode,
    })
}

/// An int sysctl as the image's u32 (`-1` stays all ones).
fn as_u32(value: i32) -> u32 {
    u32::from_ne_bytes(value.to_ne_bytes())
}

fn as_i32(value: u32) -> i32 {
    i32::from_ne_bytes(value.to_ne_bytes())
}

fn var_entry(vars: &IpcVars) -> IpcVarEntry {
    IpcVarEntry {
        sem_ctls: vars.sem.to_vec(),
        msg_ctlmax: vars.msgmax,
        msg_ctlmnb: vars.msgmnb,
        msg_ctlmni: vars.msgmni,
        auto_msgmni: vars.auto_msgmni,
        shm_ctlmax: vars.shmmax,
        shm_ctlall: vars.shmall,
        shm_ctlmni: vars.shmmni,
        shm_rmid_forced: vars.shm_rmid_forced,
        mq_queues_max: vars.mq_queues_max,
        mq_msg_max: vars.mq_msg_max,
        mq_msgsize_max: vars.mq_msgsize_max,
        mq_msg_default: Some(vars.mq_msg_default),
        mq_msgsize_default: Some(vars.mq_msgsize_default),
        msg_next_id: Some(as_u32(vars.msg_next_id)),
        sem_next_id: Some(as_u32(vars.sem_next_id)),
        shm_next_id: Some(as_u32(vars.shm_next_id)),
    }
}

fn vars_of(path: &Path, entry: &IpcVarEntry) -> Result<IpcVars, CodecError> {
    let sem: [u32; 4] =
        entry
            .sem_ctls
            .as_slice()
            .try_into()
            .map_err(|_| CodecError::BadLength {
                path: path.to_path_buf(),
                what: "ipc_var_entry.sem_ctls",
                found: entry.sem_ctls.len(),
                expected: 4,
            })?;
    let missing = |what| CodecError::MissingField {
        path: path.to_path_buf(),
        what,
    };
    Ok(IpcVars {
        sem,
        msgmax: entry.msg_ctlmax,
        msgmnb: entry.msg_ctlmnb,
        msgmni: entry.msg_ctlmni,
        auto_msgmni: entry.auto_msgmni,
        shmmax: entry.shm_ctlmax,
        shmall: entry.shm_ctlall,
        shmmni: entry.shm_ctlmni,
        shm_rmid_forced: entry.shm_rmid_forced,
        mq_queues_max: entry.mq_queues_max,
        mq_msg_max: entry.mq_msg_max,
        mq_msgsize_max: entry.mq_msgsize_max,
        mq_msg_default: entry
            .mq_msg_default
            .ok_or_else(|| missing("mq_msg_default"))?,
        mq_msgsize_default: entry
            .mq_msgsize_default
            .ok_or_else(|| missing("mq_msgsize_default"))?,
        msg_next_id: entry.msg_next_id.map_or(-1, as_i32),
        sem_next_id: entry.sem_next_id.map_or(-1, as_i32),
        shm_next_id: entry.shm_next_id.map_or(-1, as_i32),
    })
}
