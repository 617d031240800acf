//! A tree's own IPC namespace: read once the tree is frozen, and the SysV shm areas of each
//! process checked against it.

use std::collections::HashMap;

use nix::unistd::Pid;

use super::DumpError;
use crate::proc::maps::VmaKind;
use crate::proc::ns::ipc_namespace_apart;
use crate::snapshot::{IpcNamespaceSnapshot, ProcessSnapshot, VmaBacking, PAGE_SIZE};

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
    let areas = process
        .memory
        .vmas
        .iter()
        .filter_map(|vma| match vma.backing {
            VmaBacking::SysvShm { shmid } => Some(Attachment {
                start: vma.start,
                end: vma.end,
                pgoff: vma.pgoff,
                shmid,
            }),
            _ => None,
        });
    let areas: Vec<Attachment> = areas.collect();
    check_areas(Pid::from_raw(process.pid), &areas, ipc)
}

/// [`check_attachments`] for a live process, its areas read from its maps: for `crust check
/// -t`, which reads no process whole.
pub fn check_live_attachments(
    pid: Pid,
    ipc: Option<&IpcNamespaceSnapshot>,
) -> Result<(), DumpError> {
    let areas = crate::proc::maps::maps_only(pid)?;
    let areas = areas.iter().filter_map(|vma| match vma.kind {
        VmaKind::SysvShm { .. } => Some(Attachment {
            start: vma.start,
            end: vma.end,
            pgoff: vma.offset / PAGE_SIZE,
            shmid: i32::try_from(vma.inode).unwrap_or(-1),
        }),
        _ => None,
    });
    let areas: Vec<Attachment> = areas.collect();
    check_areas(pid, &areas, ipc)
}

/// A SysV shm area: its range, its offset in pages into the segment, and the segment's id.
struct Attachment {
    start: u64,
    end: u64,
    pgoff: u64,
    shmid: i32,
}

fn check_areas(
    pid: Pid,
    areas: &[Attachment],
    ipc: Option<&IpcNamespaceSnapshot>,
) -> Result<(), DumpError> {
    if areas.is_empty() {
        return Ok(());
    }
    let keys = sysv_keys(pid)?;
    for area in areas {
        let shmid = area.shmid;
        let unsupported = |why: &str| DumpError::Unsupported {
            pid: pid.as_raw(),
            what: format!(
                "{:#x}-{:#x} (SysV shm id {shmid}) {why}",
                area.start, area.end
            ),
        };
        let segment = ipc
            .and_then(|ipc| ipc.segment(shmid))
            .filter(|segment| keys.get(&area.start) == Some(&segment.perm.key))
            .ok_or_else(|| {
                unsupported("attaches a segment that is not of the tree's IPC namespace")
            })?;
        let whole = segment.size.div_ceil(PAGE_SIZE) * PAGE_SIZE;
        if area.pgoff != 0 || area.end - area.start != whole {
            return Err(unsupported(
                "attaches only part of its segment (split by mprotect or munmap, say); a \
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
