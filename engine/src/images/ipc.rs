//! The images of an IPC namespace (ipc-desc, ipc-var, ipc-shm, ipc-msg and ipc-sem
//! protos): `ipcns-var-N.img` holds the namespace's sysctls in one entry; `ipcns-shm-N.img`,
//! `ipcns-msg-N.img` and `ipcns-sem-N.img` hold an entry per SysV object, each followed by
//! raw data:
//!
//! - a shared memory segment: its `size` bytes, zero-padded to a multiple of 4;
//! - a semaphore set: `nsems` values as u16, zero-padded to a multiple of 8;
//! - a message queue: `qnum` messages, each an `ipc_msg` entry (length-prefixed as any
//!   entry) then its `msize` bytes, zero-padded to a multiple of 8.

use serde::Serialize;

use super::json;

/// `ipc_desc_entry`: what every SysV object has (`struct ipc_perm` and its id).
#[derive(Clone, PartialEq, prost::Message, Serialize)]
pub struct IpcDescEntry {
    #[prost(uint32, required, tag = "1")]
    #[serde(serialize_with = "json::hex")]
    pub key: u32,
    #[prost(uint32, required, tag = "2")]
    pub uid: u32,
    #[prost(uint32, required, tag = "3")]
    pub gid: u32,
    #[prost(uint32, required, tag = "4")]
    pub cuid: u32,
    #[prost(uint32, required, tag = "5")]
    pub cgid: u32,
    #[prost(uint32, required, tag = "6")]
    pub mode: u32,
    #[prost(uint32, required, tag = "7")]
    pub id: u32,
}

/// `ipc_shm_entry`: a shared memory segment; its bytes follow the entry (crust never sets
/// `in_pagemaps`).
#[derive(Clone, PartialEq, prost::Message, Serialize)]
pub struct IpcShmEntry {
    #[prost(message, required, tag = "1")]
    pub desc: IpcDescEntry,
    #[prost(uint64, required, tag = "2")]
    pub size: u64,
    #[prost(bool, optional, tag = "3")]
    pub in_pagemaps: Option<bool>,
    #[prost(uint32, optional, tag = "4")]
    pub hugetlb_flag: Option<u32>,
}

/// `ipc_sem_entry`: a semaphore set; its values follow the entry.
#[derive(Clone, PartialEq, prost::Message, Serialize)]
pub struct IpcSemEntry {
    #[prost(message, required, tag = "1")]
    pub desc: IpcDescEntry,
    #[prost(uint32, required, tag = "2")]
    pub nsems: u32,
}

/// `ipc_msg_entry`: a message queue; its `qnum` messages follow the entry.
#[derive(Clone, PartialEq, prost::Message, Serialize)]
pub struct IpcMsgEntry {
    #[prost(message, required, tag = "1")]
    pub desc: IpcDescEntry,
    #[prost(uint32, required, tag = "2")]
    pub qbytes: u32,
    #[prost(uint32, required, tag = "3")]
    pub qnum: u32,
}

/// `ipc_msg`: one queued message; its `msize` bytes follow.
#[derive(Clone, PartialEq, prost::Message, Serialize)]
pub struct IpcMsg {
    #[prost(uint64, required, tag = "1")]
    pub mtype: u64,
    #[prost(uint32, required, tag = "2")]
    pub msize: u32,
}

/// `ipc_var_entry`: the namespace's sysctls (`/proc/sys/kernel/{sem,msg*,shm*,*_next_id}` and
/// `/proc/sys/fs/mqueue/*`). A `*_next_id` of `u32::MAX` is the kernel's -1: unset.
#[derive(Clone, PartialEq, prost::Message, Serialize)]
pub struct IpcVarEntry {
    /// semmsl, semmns, semopm, semmni.
    #[prost(uint32, repeated, packed = "false", tag = "1")]
    pub sem_ctls: Vec<u32>,
    #[prost(uint32, required, tag = "2")]
    pub msg_ctlmax: u32,
    #[prost(uint32, required, tag = "3")]
    pub msg_ctlmnb: u32,
    #[prost(uint32, required, tag = "4")]
    pub msg_ctlmni: u32,
    #[prost(uint32, required, tag = "5")]
    pub auto_msgmni: u32,
    #[prost(uint64, required, tag = "6")]
    pub shm_ctlmax: u64,
    #[prost(uint64, required, tag = "7")]
    pub shm_ctlall: u64,
    #[prost(uint32, required, tag = "8")]
    pub shm_ctlmni: u32,
    #[prost(uint32, required, tag = "9")]
    pub shm_rmid_forced: u32,
    #[prost(uint32, required, tag = "10")]
    pub mq_queues_max: u32,
    #[prost(uint32, required, tag = "11")]
    pub mq_msg_max: u32,
    #[prost(uint32, required, tag = "12")]
    pub mq_msgsize_max: u32,
    #[prost(uint32, optional, tag = "13")]
    pub mq_msg_default: Option<u32>,
    #[prost(uint32, optional, tag = "14")]
    pub mq_msgsize_default: Option<u32>,
    #[prost(uint32, optional, tag = "15")]
    pub msg_next_id: Option<u32>,
    #[prost(uint32, optional, tag = "16")]
    pub sem_next_id: Option<u32>,
    #[prost(uint32, optional, tag = "17")]
    pub shm_next_id: Option<u32>,
}

/// A segment's bytes are padded to this in `ipcns-shm-N.img`.
pub const SHM_ALIGN: u64 = 4;
/// Semaphore values and message bodies are padded to this.
pub const SEM_MSG_ALIGN: u64 = 8;

/// The zero bytes after `len` bytes of data padded to `align` (a power of two).
pub fn padding(len: u64, align: u64) -> u64 {
    len.wrapping_neg() & (align - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_rounds_up_to_the_alignment() {
        assert_eq!(padding(0, 8), 0);
        assert_eq!(padding(2, 8), 6);
        assert_eq!(padding(8, 8), 0);
        assert_eq!(padding(4097, 4), 3);
        assert_eq!(padding(u64::MAX, 4), 1);
    }
}
