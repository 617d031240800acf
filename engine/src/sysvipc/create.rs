//! Making the SysV objects of a dumped IPC namespace again, each with its old id: the id is
//! written to the kind's `*_next_id` sysctl just before the object is made, and checked after.

use nix::errno::Errno;
use nix::unistd::Pid;

use super::{creator, in_namespace_of, vars, SysvIpcError};
use crate::snapshot::{
    IpcNamespaceSnapshot, IpcPerm, MsgQueueSnapshot, SemSetSnapshot, ShmSegmentSnapshot,
};

/// `shm_perm.mode` bit: the segment is locked in memory (`SHM_LOCK`).
const SHM_LOCKED: u32 = 0o2000;
/// The permission bits `IPC_SET` takes.
const PERMISSION_BITS: u32 = 0o777;

/// Gives the (new, empty) IPC namespace of `pid` the sysctls and objects of `ipc`, all but
/// `shm_rmid_forced`, which [`finish_namespace`] sets once the tree has attached its segments.
pub fn create_objects(pid: Pid, ipc: &IpcNamespaceSnapshot) -> Result<(), SysvIpcError> {
    in_namespace_of(pid, || {
        vars::write_limits(&ipc.vars)?;
        for segment in &ipc.segments {
            create_segment(segment)?;
        }
        for set in &ipc.sem_sets {
            create_sem_set(set)?;
        }
        for queue in &ipc.queues {
            create_queue(queue)?;
        }
        vars::write_next_ids(&ipc.vars)
    })
}

/// Gives the IPC namespace of `pid` the `shm_rmid_forced` of `ipc`, once every process of the
/// tree has attached its segments: set earlier, it would destroy them while only crust's
/// thread, which made them, knows them.
pub fn finish_namespace(pid: Pid, ipc: &IpcNamespaceSnapshot) -> Result<(), SysvIpcError> {
    in_namespace_of(pid, || vars::write_rmid_forced(&ipc.vars))
}

/// How a call on `perm`'s object failed.
fn failure(kind: &'static str, perm: &IpcPerm) -> impl Fn(&'static str, Errno) -> SysvIpcError {
    let (id, key) = (perm.id, perm.key);
    move |call, errno| SysvIpcError::Object {
        call,
        kind,
        id,
        key,
        errno,
    }
}

/// Makes `perm`'s object with its old id: `get` is the `*get` call given the creation flags.
fn create_with_id(
    kind: &'static str,
    perm: &IpcPerm,
    get: impl FnOnce(libc::c_int) -> libc::c_int,
) -> Result<(), SysvIpcError> {
    vars::write_next_id(&format!("{kind}_next_id"), perm.id)?;
    let mode = (perm.mode & PERMISSION_BITS) as libc::c_int;
    let got = creator::as_creator(perm, || get(libc::IPC_CREAT | libc::IPC_EXCL | mode))
        .map_err(|errno| failure(kind, perm)("create", errno))?;
    if got != perm.id {
        return Err(SysvIpcError::WrongId {
            kind,
            key: perm.key,
            wanted: perm.id,
            got,
        });
    }
    Ok(())
}

/// Sets owner and mode in `ipc_perm` as `perm` has them. `IPC_SET` cannot set the creator:
/// the object was made as its creator, which this checks.
fn set_owner(
    kind: &'static str,
    perm: &IpcPerm,
    now: &mut libc::ipc_perm,
) -> Result<(), SysvIpcError> {
    if (now.cuid, now.cgid) != (perm.cuid, perm.cgid) {
        return Err(SysvIpcError::Unsupported {
            kind,
            id: perm.id,
            key: perm.key,
            why: format!(
                "was created by uid {} gid {}, and came back created by uid {} gid {}",
                perm.cuid, perm.cgid, now.cuid, now.cgid
            ),
        });
    }
    now.uid = perm.uid;
    now.gid = perm.gid;
    now.mode = (perm.mode & PERMISSION_BITS) as libc::c_ushort;
    Ok(())
}

fn create_segment(segment: &ShmSegmentSnapshot) -> Result<(), SysvIpcError> {
    let perm = &segment.perm;
    let fail = failure("shm", perm);
    let size = usize::try_from(segment.size).map_err(|_| fail("shmget", Errno::EFBIG))?;
    // SAFETY: shmget takes plain integers and touches no memory of ours.
    create_with_id("shm", perm, |flags| unsafe {
        libc::shmget(perm.key, size, flags)
    })?;
    fill_segment(perm.id, &segment.data).map_err(|errno| fail("shmat", errno))?;
    // SAFETY: shmid_ds is plain old data; all-zero bytes are a valid value of it.
    let mut ds: libc::shmid_ds = unsafe { std::mem::zeroed() };
    // SAFETY: IPC_STAT writes one shmid_ds into `ds`, which lives across the call.
    let rc = unsafe { libc::shmctl(perm.id, libc::IPC_STAT, &mut ds) };
    Errno::result(rc).map_err(|errno| fail("shmctl IPC_STAT", errno))?;
    set_owner("shm", perm, &mut ds.shm_perm)?;
    // SAFETY: IPC_SET reads one shmid_ds from `ds`, which lives across the call.
    let rc = unsafe { libc::shmctl(perm.id, libc::IPC_SET, &mut ds) };
    Errno::result(rc).map_err(|errno| fail("shmctl IPC_SET", errno))?;
    if perm.mode & SHM_LOCKED != 0 {
        // SAFETY: SHM_LOCK takes no buffer.
        let rc = unsafe { libc::shmctl(perm.id, libc::SHM_LOCK, std::ptr::null_mut()) };
        Errno::result(rc).map_err(|errno| fail("shmctl SHM_LOCK", errno))?;
    }
    Ok(())
}

/// Copies `data` into segment `shmid` through a writable attachment in crust.
fn fill_segment(shmid: i32, data: &[u8]) -> Result<(), Errno> {
    // SAFETY: an attachment at an address the kernel picks changes no mapping of crust's; it
    // is detached below before anything else maps there.
    let at = unsafe { libc::shmat(shmid, std::ptr::null(), 0) };
    if at as isize == -1 {
        return Err(Errno::last());
    }
    // SAFETY: the segment was made `data.len()` bytes long, so the attachment spans them; it
    // stays mapped until the shmdt below and nothing else refers to it.
    unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), at.cast::<u8>(), data.len()) };
    // SAFETY: `at` is the attachment made above.
    Errno::result(unsafe { libc::shmdt(at) })?;
    Ok(())
}

fn create_sem_set(set: &SemSetSnapshot) -> Result<(), SysvIpcError> {
    let perm = &set.perm;
    let fail = failure("sem", perm);
    let nsems =
        libc::c_int::try_from(set.values.len()).map_err(|_| fail("semget", Errno::ERANGE))?;
    // SAFETY: semget takes plain integers and touches no memory of ours.
    create_with_id("sem", perm, |flags| unsafe {
        libc::semget(perm.key, nsems, flags)
    })?;
    // SAFETY: SETALL reads `nsems` unsigned shorts, which `values` holds; it lives across the
    // call and is not written.
    let rc = unsafe { libc::semctl(perm.id, 0, libc::SETALL, set.values.as_ptr()) };
    Errno::result(rc).map_err(|errno| fail("semctl SETALL", errno))?;
    // SAFETY: semid_ds is plain old data; all-zero bytes are a valid value of it.
    let mut ds: libc::semid_ds = unsafe { std::mem::zeroed() };
    let ds_ptr = &mut ds as *mut libc::semid_ds;
    // SAFETY: IPC_STAT writes one semid_ds through `ds_ptr`, valid across the call.
    let rc = unsafe { libc::semctl(perm.id, 0, libc::IPC_STAT, ds_ptr) };
    Errno::result(rc).map_err(|errno| fail("semctl IPC_STAT", errno))?;
    set_owner("sem", perm, &mut ds.sem_perm)?;
    // SAFETY: IPC_SET reads one semid_ds through `ds_ptr`, valid across the call.
    let rc = unsafe { libc::semctl(perm.id, 0, libc::IPC_SET, ds_ptr) };
    Errno::result(rc).map_err(|errno| fail("semctl IPC_SET", errno))?;
    Ok(())
}

fn create_queue(queue: &MsgQueueSnapshot) -> Result<(), SysvIpcError> {
    let perm = &queue.perm;
    let fail = failure("msg", perm);
    // SAFETY: msgget takes plain integers and touches no memory of ours.
    create_with_id("msg", perm, |flags| unsafe {
        libc::msgget(perm.key, flags)
    })?;
    // The messages go in first, under the namespace's default limit: a queue whose qbytes
    // was lowered below what it held takes its own limit only once it holds them again.
    for message in &queue.messages {
        let mut buffer = message.mtype.to_ne_bytes().to_vec();
        buffer.extend_from_slice(&message.body);
        let flags = libc::IPC_NOWAIT;
        // SAFETY: msgsnd reads the type and `body.len()` bytes after it from `buffer`, which
        // holds exactly that and lives across the call.
        let rc =
            unsafe { libc::msgsnd(perm.id, buffer.as_ptr().cast(), message.body.len(), flags) };
        Errno::result(rc).map_err(|errno| fail("msgsnd", errno))?;
    }
    // SAFETY: msqid_ds is plain old data; all-zero bytes are a valid value of it.
    let mut ds: libc::msqid_ds = unsafe { std::mem::zeroed() };
    // SAFETY: IPC_STAT writes one msqid_ds into `ds`, which lives across the call.
    let rc = unsafe { libc::msgctl(perm.id, libc::IPC_STAT, &mut ds) };
    Errno::result(rc).map_err(|errno| fail("msgctl IPC_STAT", errno))?;
    set_owner("msg", perm, &mut ds.msg_perm)?;
    ds.msg_qbytes = queue.qbytes;
    // SAFETY: IPC_SET reads one msqid_ds from `ds`, which lives across the call.
    let rc = unsafe { libc::msgctl(perm.id, libc::IPC_SET, &mut ds) };
    Errno::result(rc).map_err(|errno| fail("msgctl IPC_SET", errno))?;
    Ok(())
}
