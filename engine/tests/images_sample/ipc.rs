//! The sample's IPC namespace: a segment whose size is not a multiple of 4, a set of three
//! semaphores and a queue with an empty message and one of 9 bytes, so that every padding
//! rule is exercised.

use engine::snapshot::{
    IpcNamespaceSnapshot, IpcPerm, IpcVars, MsgQueueSnapshot, QueuedMessage, SemSetSnapshot,
    ShmSegmentSnapshot,
};

pub const SHM_KEY: i32 = 0x01c0_ffee;
pub const SHM_SIZE: u64 = 4097;
pub const SEM_VALUES: [u16; 3] = [0, 7, 32767];
pub const MESSAGE: &[u8] = b"nine byte";

fn perm(key: i32, id: i32, mode: u32) -> IpcPerm {
    IpcPerm {
        key,
        id,
        uid: 1000,
        gid: 100,
        cuid: 0,
        cgid: 0,
        mode,
    }
}

pub fn ipc_namespace() -> IpcNamespaceSnapshot {
    IpcNamespaceSnapshot {
        vars: IpcVars {
            sem: [32000, 1_024_000_000, 500, 32000],
            msgmax: 8192,
            msgmnb: 16384,
            msgmni: 1234,
            auto_msgmni: 0,
            shmmax: u64::MAX >> 8,
            shmall: u64::MAX >> 20,
            shmmni: 4096,
            shm_rmid_forced: 1,
            mq_queues_max: 256,
            mq_msg_max: 10,
            mq_msgsize_max: 8192,
            mq_msg_default: 10,
            mq_msgsize_default: 8192,
            msg_next_id: -1,
            sem_next_id: 12,
            shm_next_id: -1,
        },
        segments: vec![ShmSegmentSnapshot {
            perm: perm(SHM_KEY, 3, 0o640),
            size: SHM_SIZE,
            data: (0..SHM_SIZE).map(|i| (i % 251) as u8).collect(),
        }],
        sem_sets: vec![SemSetSnapshot {
            perm: perm(0, 0, 0o600),
            values: SEM_VALUES.to_vec(),
        }],
        queues: vec![MsgQueueSnapshot {
            perm: perm(0x5eed, 32768, 0o620),
            qbytes: 8000,
            messages: vec![
                QueuedMessage {
                    mtype: 2,
                    body: Vec::new(),
                },
                QueuedMessage {
                    mtype: 1,
                    body: MESSAGE.to_vec(),
                },
            ],
        }],
    }
}
