//! A tree's own IPC namespace: read once the tree is frozen, and the SysV shm areas of each
//! process checked against it.

use std::collections::HashMap;

use nix::unistd::Pid;

use super::DumpError;
use crate::proc::maps::VmaKind;
use crate::proc::ns::ipc_namespace_apart;
use crate::snapshot::{IpcNamespaceSnapshot, ProcessSnapshot, VmaBacking, VmaSnapshot, PAGE_SIZE};

/// The IPC namespace of `root` with every object in it, unless it is crust's own (whose
/// objects the refusal checks kept out of the tree).
pub fn own_namespace(root: Pid) -> Result<Option<IpcNamespaceSnapshot>, DumpError> {
    let Some(theirs) = ipc_namespace_apart(root)? else {
        return Ok(None);
    };
    let ipc = crate::sysvipc::read_namespace(root).map_err(|source| DumpError::IpcNamespace {
        pid: root.as_raw(),
        source,
    })?;
    log::info!(
        "pid {root}: IPC namespace {theirs} read: {} shm segments, {} semaphore sets, {} \
         message queues",
        ipc.segments.len(),
        ipc.sem_sets.len(),
        ipc.queues.len()
    );
    Ok(Some(ipc))
}

/// Every SysV shm area of `process` must attach a whole segment of the tree's namespace
/// (`ipc`), from its start: a restore attaches segments whole. The key maps shows must be the
/// segment's too: an area attached before its process left crust's IPC namespace names a
/// segment of crust's, whose id the tree's namespace may hold as well.
pub fn check_attachments(
    process: &ProcessSnapshot,
    ipc: Option<&IpcNamespaceSnapshot>,
) -> Result<(), DumpError> {
    let sysv = |vma: &&VmaSnapshot| matches!(vma.backing, VmaBacking::SysvShm { .. });
    if !process.memory.vmas.iter().any(|vma| sysv(&vma)) {
        return Ok(());
    }
    let keys = sysv_keys(Pid::from_raw(process.pid))?;
    for vma in process.memory.vmas.iter().filter(sysv) {
        let VmaBacking::SysvShm { shmid } = vma.backing else {
            continue;
        };
        let unsupported = |why: &str| DumpError::Unsupported {
            pid: process.pid,
            what: format!(
                "{:#x}-{:#x} (SysV shm id {shmid}) {why}",
                vma.start, vma.end
            ),
        };
        let segment = ipc
            .and_then(|ipc| ipc.segment(shmid))
            .filter(|segment| keys.get(&vma.start) == Some(&segment.perm.key))
            .ok_or_else(|| {
                unsupported("attaches a segment that is not of the tree's IPC namespace")
            })?;
        let whole = segment.size.div_ceil(PAGE_SIZE) * PAGE_SIZE;
        if vma.pgoff != 0 || vma.len() != whole {
            return Err(unsupported(
                "attaches only part of its segment (or was split by mprotect or munmap), and a \
                 restore attaches segments whole",
            ));
        }
    }
    Ok(())
}

/// The key of each SysV shm area of `pid`, by its start, as maps names it (`/SYSV0001c0ff`).
fn sysv_keys(pid: Pid) -> Result<HashMap<u64, i32>, DumpError> {
    let areas = crate::proc::maps::maps_only(pid)?;
    let keys = areas.into_iter().filter_map(|vma| match vma.kind {
        VmaKind::SysvShm { key } => Some((vma.start, i32::from_ne_bytes(key.to_ne_bytes()))),
        _ => None,
    });
    Ok(keys.collect())
}
