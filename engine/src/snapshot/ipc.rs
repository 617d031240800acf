//! The IPC namespace of a tree that has one of its own: its sysctls and every SysV object in
//! it, with the bytes, values and messages they hold.

use super::SnapshotError;

/// Most objects of one kind an IPC namespace can hold (the kernel's IPCMNI).
pub const MAX_IPC_OBJECTS: usize = 1 << 15;
/// Most semaphores in one set (the kernel's SEMMSL ceiling).
pub const MAX_SEMAPHORES: usize = 32000;
/// Largest segment whose bytes crust keeps in an image (an image payload's bound).
pub const MAX_SHM_SIZE: u64 = crate::images::MAX_ENTRY_LEN;
/// Most messages crust reads from one queue.
pub const MAX_MESSAGES: usize = 1 << 20;

/// The sysctls of an IPC namespace (`kernel/...`, `fs/mqueue/...`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IpcVars {
    /// `kernel/sem`: semmsl, semmns, semopm, semmni.
    pub sem: [u32; 4],
    /// `kernel/msgmax`.
    pub msgmax: u32,
    /// `kernel/msgmnb`.
    pub msgmnb: u32,
    /// `kernel/msgmni`.
    pub msgmni: u32,
    /// `kernel/auto_msgmni`.
    pub auto_msgmni: u32,
    /// `kernel/shmmax`.
    pub shmmax: u64,
    /// `kernel/shmall`.
    pub shmall: u64,
    /// `kernel/shmmni`.
    pub shmmni: u32,
    /// `kernel/shm_rmid_forced`.
    pub shm_rmid_forced: u32,
    /// `fs/mqueue/queues_max`.
    pub mq_queues_max: u32,
    /// `fs/mqueue/msg_max`.
    pub mq_msg_max: u32,
    /// `fs/mqueue/msgsize_max`.
    pub mq_msgsize_max: u32,
    /// `fs/mqueue/msg_default`.
    pub mq_msg_default: u32,
    /// `fs/mqueue/msgsize_default`.
    pub mq_msgsize_default: u32,
    /// `kernel/msg_next_id` (-1: none asked for).
    pub msg_next_id: i32,
    /// `kernel/sem_next_id`.
    pub sem_next_id: i32,
    /// `kernel/shm_next_id`.
    pub shm_next_id: i32,
}

/// What every SysV object has: its key, id, owners and mode (`struct ipc_perm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpcPerm {
    /// The key (`IPC_PRIVATE` is 0).
    pub key: i32,
    /// The id `shmget`/`msgget`/`semget` returned.
    pub id: i32,
    /// Owner.
    pub uid: u32,
    /// Owner's group.
    pub gid: u32,
    /// Creator.
    pub cuid: u32,
    /// Creator's group.
    pub cgid: u32,
    /// Permission bits, with the kind's own flags above them (`SHM_LOCKED`, `SHM_DEST`).
    pub mode: u32,
}

/// A shared memory segment and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShmSegmentSnapshot {
    /// Key, id, owners, mode.
    pub perm: IpcPerm,
    /// Size in bytes, as `shmget` was given it.
    pub size: u64,
    /// Its contents, `size` bytes.
    pub data: Vec<u8>,
}

/// A semaphore set and its values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SemSetSnapshot {
    /// Key, id, owners, mode.
    pub perm: IpcPerm,
    /// Each semaphore's value, in order.
    pub values: Vec<u16>,
}

/// One queued message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedMessage {
    /// Its type (positive).
    pub mtype: i64,
    /// Its body.
    pub body: Vec<u8>,
}

/// A message queue and its messages, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MsgQueueSnapshot {
    /// Key, id, owners, mode.
    pub perm: IpcPerm,
    /// Most bytes the queue holds (`msg_qbytes`).
    pub qbytes: u64,
    /// Its messages, in queue order.
    pub messages: Vec<QueuedMessage>,
}

/// An IPC namespace of the tree's own.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IpcNamespaceSnapshot {
    /// Its sysctls.
    pub vars: IpcVars,
    /// Its shared memory segments.
    pub segments: Vec<ShmSegmentSnapshot>,
    /// Its semaphore sets.
    pub sem_sets: Vec<SemSetSnapshot>,
    /// Its message queues.
    pub queues: Vec<MsgQueueSnapshot>,
}

impl IpcNamespaceSnapshot {
    /// The segment with id `shmid`.
    pub fn segment(&self, shmid: i32) -> Option<&ShmSegmentSnapshot> {
        self.segments.iter().find(|s| s.perm.id == shmid)
    }

    /// Checks what a restore relies on: ids unique and not negative per kind, no more objects
    /// of a kind than the images are read with, each segment's bytes its size, message types
    /// positive. `root` is the pid of the tree's root.
    pub fn validate(&self, root: i32) -> Result<(), SnapshotError> {
        let out_of_range = |what, value: i64| SnapshotError::OutOfRange {
            pid: root,
            what,
            value,
        };
        let segments = self.segments.iter().map(|s| s.perm);
        unique_ids(root, segments, "SysV shm id")?;
        let sets = self.sem_sets.iter().map(|s| s.perm);
        unique_ids(root, sets, "SysV semaphore set id")?;
        let queues = self.queues.iter().map(|q| q.perm);
        unique_ids(root, queues, "SysV message queue id")?;
        for segment in &self.segments {
            if segment.size == 0 || segment.data.len() as u64 != segment.size {
                let size = i64::try_from(segment.size).unwrap_or(i64::MAX);
                return Err(out_of_range("SysV shm size (not its saved bytes)", size));
            }
        }
        for set in &self.sem_sets {
            if set.values.is_empty() || set.values.len() > MAX_SEMAPHORES {
                return Err(out_of_range("semaphores in a set", set.values.len() as i64));
            }
        }
        let mut messages = self.queues.iter().flat_map(|q| &q.messages);
        if let Some(bad) = messages.find(|m| m.mtype <= 0) {
            return Err(out_of_range("SysV message type", bad.mtype));
        }
        Ok(())
    }
}

fn unique_ids(
    root: i32,
    perms: impl ExactSizeIterator<Item = IpcPerm>,
    what: &'static str,
) -> Result<(), SnapshotError> {
    if perms.len() > MAX_IPC_OBJECTS {
        let count = i64::try_from(perms.len()).unwrap_or(i64::MAX);
        let what = "number of SysV objects of one kind";
        return Err(SnapshotError::OutOfRange {
            pid: root,
            what,
            value: count,
        });
    }
    let mut seen = std::collections::HashSet::new();
    for perm in perms {
        if perm.id < 0 || !seen.insert(perm.id) {
            return Err(SnapshotError::OutOfRange {
                pid: root,
                what,
                value: perm.id.into(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(id: i32) -> MsgQueueSnapshot {
        MsgQueueSnapshot {
            perm: IpcPerm {
                key: 0,
                id,
                uid: 0,
                gid: 0,
                cuid: 0,
                cgid: 0,
                mode: 0o600,
            },
            qbytes: 16384,
            messages: Vec::new(),
        }
    }

    fn with_queues(ids: impl Iterator<Item = i32>) -> IpcNamespaceSnapshot {
        IpcNamespaceSnapshot {
            queues: ids.map(queue).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn ids_of_a_kind_are_unique() {
        assert!(with_queues([0, 1].into_iter()).validate(7).is_ok());
        let twice = with_queues([3, 3].into_iter()).validate(7).unwrap_err();
        assert!(
            twice.to_string().contains("SysV message queue id"),
            "{twice}"
        );
    }

    #[test]
    fn more_objects_of_a_kind_than_the_reader_takes_are_refused() {
        let count = i32::try_from(MAX_IPC_OBJECTS).unwrap();
        assert!(with_queues(0..count).validate(7).is_ok());
        let refused = with_queues(0..=count).validate(7).unwrap_err();
        assert!(
            refused.to_string().contains("SysV objects of one kind"),
            "{refused}"
        );
    }
}
