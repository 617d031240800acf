//! Reading every SysV object of an IPC namespace, without changing any: segments through a
//! read-only attachment, semaphores with `GETALL`, messages with `MSG_COPY`.

use nix::errno::Errno;
use nix::unistd::Pid;

use super::{in_namespace_of, vars, SysvIpcError};
use crate::proc::sysvipc::{msg_queues, sem_sets, shm_segments};
use crate::snapshot::{
    IpcNamespaceSnapshot, IpcPerm, MsgQueueSnapshot, QueuedMessage, SemSetSnapshot,
    ShmSegmentSnapshot, MAX_MESSAGES, MAX_SEMAPHORES, MAX_SHM_SIZE,
};

/// `shm_perm.mode` bit: the segment was removed and goes when its last user detaches.
const SHM_DEST: u32 = 0o1000;

/// Reads the IPC namespace of `pid`: its sysctls and every object with what it holds.
pub fn read_namespace(pid: Pid) -> Result<IpcNamespaceSnapshot, SysvIpcError> {
    in_namespace_of(pid, || {
        let vars = vars::read_vars()?;
        let segments = read_segments(vars.shm_rmid_forced != 0)?;
        let sem_sets = read_sem_sets()?;
        let queues = read_queues()?;
        Ok(IpcNamespaceSnapshot {
            vars,
            segments,
            sem_sets,
            queues,
        })
    })
}

fn perm_of(perm: &libc::ipc_perm, id: i32) -> IpcPerm {
    IpcPerm {
        key: perm.__key,
        id,
        uid: perm.uid,
        gid: perm.gid,
        cuid: perm.cuid,
        cgid: perm.cgid,
        mode: perm.mode.into(),
    }
}

/// Every segment with its bytes; with `rmid_forced` (the namespace's `shm_rmid_forced`) each
/// must be attached by some process: after a restore only attached segments survive it.
fn read_segments(rmid_forced: bool) -> Result<Vec<ShmSegmentSnapshot>, SysvIpcError> {
    let listed = shm_segments().map_err(SysvIpcError::List)?;
    let mut segments = Vec::with_capacity(listed.len());
    for listed in listed {
        let (id, key) = (listed.shmid, listed.key);
        let fail = |call, errno| SysvIpcError::Object {
            call,
            kind: "shm",
            id,
            key,
            errno,
        };
        // SAFETY: shmid_ds is plain old data; all-zero bytes are a valid value of it.
        let mut ds: libc::shmid_ds = unsafe { std::mem::zeroed() };
        // SAFETY: IPC_STAT writes one shmid_ds into `ds`, which lives across the call.
        let rc = unsafe { libc::shmctl(id, libc::IPC_STAT, &mut ds) };
        Errno::result(rc).map_err(|errno| fail("shmctl IPC_STAT", errno))?;
        let perm = perm_of(&ds.shm_perm, id);
        let size = ds.shm_segsz as u64;
        let unsupported = |why: String| SysvIpcError::Unsupported {
            kind: "shm",
            id,
            key,
            why,
        };
        if perm.mode & SHM_DEST != 0 {
            return Err(unsupported(
                "was removed (IPC_RMID) while still attached".into(),
            ));
        }
        if rmid_forced && ds.shm_nattch == 0 {
            return Err(unsupported(
                "is attached by no process while shm_rmid_forced is set; restored, it would \
                 have no living creator and the kernel would destroy it"
                    .into(),
            ));
        }
        if size > MAX_SHM_SIZE {
            return Err(unsupported(format!(
                "holds {size} bytes, more than the {MAX_SHM_SIZE} an image keeps"
            )));
        }
        let data = copy_segment(id, size).map_err(|errno| fail("shmat SHM_RDONLY", errno))?;
        segments.push(ShmSegmentSnapshot { perm, size, data });
    }
    Ok(segments)
}

/// The `size` bytes of segment `shmid`, through a read-only attachment in crust.
fn copy_segment(shmid: i32, size: u64) -> Result<Vec<u8>, Errno> {
    let len = usize::try_from(size).map_err(|_| Errno::EFBIG)?;
    // SAFETY: a read-only attachment at an address the kernel picks changes no mapping of
    // crust's; it is detached below before anything else maps there.
    let at = unsafe { libc::shmat(shmid, std::ptr::null(), libc::SHM_RDONLY) };
    if at as isize == -1 {
        return Err(Errno::last());
    }
    // SAFETY: the attachment spans at least `size` bytes (the segment's size, rounded up to
    // pages) and stays mapped until the shmdt below.
    let data = unsafe { std::slice::from_raw_parts(at.cast::<u8>(), len) }.to_vec();
    // SAFETY: `at` is the attachment made above, and nothing borrows it any more.
    let rc = unsafe { libc::shmdt(at) };
    Errno::result(rc)?;
    Ok(data)
}

fn read_sem_sets() -> Result<Vec<SemSetSnapshot>, SysvIpcError> {
    let listed = sem_sets().map_err(SysvIpcError::List)?;
    let mut sets = Vec::with_capacity(listed.len());
    for listed in listed {
        let (id, key) = (listed.semid, listed.key);
        let fail = |call, errno| SysvIpcError::Object {
            call,
            kind: "sem",
            id,
            key,
            errno,
        };
        // SAFETY: semid_ds is plain old data; all-zero bytes are a valid value of it.
        let mut ds: libc::semid_ds = unsafe { std::mem::zeroed() };
        // SAFETY: IPC_STAT writes one semid_ds through the pointer, which lives across the call.
        let rc = unsafe { libc::semctl(id, 0, libc::IPC_STAT, &mut ds as *mut libc::semid_ds) };
        Errno::result(rc).map_err(|errno| fail("semctl IPC_STAT", errno))?;
        let nsems = usize::try_from(ds.sem_nsems).unwrap_or(usize::MAX);
        if nsems == 0 || nsems > MAX_SEMAPHORES {
            return Err(SysvIpcError::Unsupported {
                kind: "sem",
                id,
                key,
                why: format!("holds {nsems} semaphores, and an image keeps 1 to {MAX_SEMAPHORES}"),
            });
        }
        let mut values = vec![0u16; nsems];
        // SAFETY: GETALL writes sem_nsems unsigned shorts, exactly what `values` holds.
        let rc = unsafe { libc::semctl(id, 0, libc::GETALL, values.as_mut_ptr()) };
        Errno::result(rc).map_err(|errno| fail("semctl GETALL", errno))?;
        sets.push(SemSetSnapshot {
            perm: perm_of(&ds.sem_perm, id),
            values,
        });
    }
    Ok(sets)
}

fn read_queues() -> Result<Vec<MsgQueueSnapshot>, SysvIpcError> {
    let listed = msg_queues().map_err(SysvIpcError::List)?;
    let mut queues = Vec::with_capacity(listed.len());
    for listed in listed {
        let (id, key) = (listed.msqid, listed.key);
        let fail = |call, errno| SysvIpcError::Object {
            call,
            kind: "msg",
            id,
            key,
            errno,
        };
        // SAFETY: msqid_ds is plain old data; all-zero bytes are a valid value of it.
        let mut ds: libc::msqid_ds = unsafe { std::mem::zeroed() };
        // SAFETY: IPC_STAT writes one msqid_ds into `ds`, which lives across the call.
        let rc = unsafe { libc::msgctl(id, libc::IPC_STAT, &mut ds) };
        Errno::result(rc).map_err(|errno| fail("msgctl IPC_STAT", errno))?;
        let count = usize::try_from(ds.msg_qnum).unwrap_or(usize::MAX);
        if count > MAX_MESSAGES {
            return Err(SysvIpcError::Unsupported {
                kind: "msg",
                id,
                key,
                why: format!("holds {count} messages, more than the {MAX_MESSAGES} crust reads"),
            });
        }
        // No message is longer than every byte queued.
        let body_max = usize::try_from(ds.__msg_cbytes).unwrap_or(usize::MAX);
        let mut messages = Vec::with_capacity(count);
        for index in 0..count {
            let message = copy_message(id, index, body_max)
                .map_err(|errno| fail("msgrcv MSG_COPY", errno))?;
            messages.push(message);
        }
        queues.push(MsgQueueSnapshot {
            perm: perm_of(&ds.msg_perm, id),
            qbytes: ds.msg_qbytes,
            messages,
        });
    }
    Ok(queues)
}

/// A copy of message `index` of queue `msqid`, left on the queue.
fn copy_message(msqid: i32, index: usize, body_max: usize) -> Result<QueuedMessage, Errno> {
    let mtype_len = std::mem::size_of::<libc::c_long>();
    let mut buffer = vec![0u8; mtype_len + body_max];
    let msgtyp = libc::c_long::try_from(index).map_err(|_| Errno::ERANGE)?;
    // MSG_COPY: copy the message at index `msgtyp` instead of taking it off the queue.
    let flags = libc::MSG_COPY | libc::IPC_NOWAIT;
    // SAFETY: msgrcv writes the type (a long) and at most `body_max` body bytes, which is what
    // `buffer` holds; the buffer lives across the call.
    let got = unsafe { libc::msgrcv(msqid, buffer.as_mut_ptr().cast(), body_max, msgtyp, flags) };
    let body_len = usize::try_from(Errno::result(got)?).map_err(|_| Errno::ERANGE)?;
    let mut mtype = [0u8; 8];
    mtype.copy_from_slice(&buffer[..mtype_len]);
    let body = buffer[mtype_len..mtype_len + body_len].to_vec();
    Ok(QueuedMessage {
        mtype: i64::from_ne_bytes(mtype),
        body,
    })
}
