//! `core-TID.img` (core.proto): one `core_entry` per thread. The thread that
//! leads a task also carries the task-wide part (`tc`).

use serde::Serialize;

use super::core_x86::ThreadInfoX86;
use super::creds::CredsEntry;
use super::json;
use super::rlimit::RlimitEntry;
use super::rseq::RseqEntry;
use super::sa::SaEntry;
use super::siginfo::SignalQueueEntry;
use super::timer::TaskTimersEntry;

/// `task_state` values: compel's TASK_* numbering, not the kernel's. (crit
/// 3.17 prints 3 as "Zombie" and 6 as "Stopped": its table has the two swapped.)
pub mod task_state {
    pub const ALIVE: u32 = 1;
    pub const DEAD: u32 = 2;
    pub const STOPPED: u32 = 3;
    pub const ZOMBIE: u32 = 6;
}

/// Seccomp mode of a thread.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration, Serialize,
)]
#[repr(i32)]
#[serde(rename_all = "lowercase")]
pub enum SeccompMode {
    Disabled = 0,
    Strict = 1,
    Filter = 2,
}

/// The machine a core entry was dumped on (`core_entry.march`).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration, Serialize,
)]
#[repr(i32)]
pub enum March {
    #[serde(rename = "UNKNOWN")]
    Unknown = 0,
    #[serde(rename = "X86_64")]
    X86_64 = 1,
    #[serde(rename = "ARM")]
    Arm = 2,
    #[serde(rename = "AARCH64")]
    Aarch64 = 3,
    #[serde(rename = "PPC64")]
    Ppc64 = 4,
    #[serde(rename = "S390")]
    S390 = 5,
    #[serde(rename = "MIPS")]
    Mips = 6,
}

/// `task_core_entry`: state shared by every thread of a task.
#[derive(Clone, PartialEq, prost::Message, Serialize)]
pub struct TaskCoreEntry {
    /// One of [`task_state`].
    #[prost(uint32, required, tag = "1")]
    pub task_state: u32,
    #[prost(uint32, required, tag = "2")]
    pub exit_code: u32,
    #[prost(uint32, required, tag = "3")]
    pub personality: u32,
    #[prost(uint32, required, tag = "4")]
    pub flags: u32,
    #[prost(uint64, required, tag = "5")]
    #[serde(serialize_with = "json::hex")]
    pub blk_sigset: u64,
    #[prost(string, required, tag = "6")]
    pub comm: String,
    #[prost(message, optional, tag = "7")]
    pub timers: Option<TaskTimersEntry>,
    #[prost(message, optional, tag = "8")]
    pub rlimits: Option<TaskRlimitsEntry>,
    #[prost(uint32, optional, tag = "9")]
    pub cg_set: Option<u32>,
    #[prost(message, optional, tag = "10")]
    pub signals_s: Option<SignalQueueEntry>,
    #[prost(enumeration = "SeccompMode", optional, tag = "11")]
    #[serde(serialize_with = "json::enum_name_opt::<SeccompMode, _>")]
    pub old_seccomp_mode: Option<i32>,
    #[prost(uint32, optional, tag = "12")]
    pub old_seccomp_filter: Option<u32>,
    #[prost(uint32, optional, tag = "13")]
    pub loginuid: Option<u32>,
    #[prost(int32, optional, tag = "14")]
    pub oom_score_adj: Option<i32>,
    #[prost(message, repeated, tag = "15")]
    pub sigactions: Vec<SaEntry>,
    #[prost(bool, optional, tag = "18")]
    pub child_subreaper: Option<bool>,
    #[prost(uint64, optional, tag = "20")]
    #[serde(serialize_with = "json::hex_opt")]
    pub blk_sigset_extended: Option<u64>,
    /// crust extension (no CRIU release has it): the signal the task sends its
    /// parent when it exits (`exit_signal`, SIGCHLD normally).
    #[prost(uint32, optional, tag = "1000")]
    pub crust_exit_signal: Option<u32>,
}

/// `task_kobj_ids_entry` (`ids-PID.img`): ids of the kernel objects a task
/// may share with others (mm, files, fs, sighand, namespaces).
#[derive(Clone, PartialEq, prost::Message, Serialize)]
pub struct TaskKobjIdsEntry {
    #[prost(uint32, required, tag = "1")]
    pub vm_id: u32,
    #[prost(uint32, required, tag = "2")]
    pub files_id: u32,
    #[prost(uint32, required, tag = "3")]
    pub fs_id: u32,
    #[prost(uint32, required, tag = "4")]
    pub sighand_id: u32,
    #[prost(uint32, optional, tag = "5")]
    pub pid_ns_id: Option<u32>,
    #[prost(uint32, optional, tag = "6")]
    pub net_ns_id: Option<u32>,
    #[prost(uint32, optional, tag = "7")]
    pub ipc_ns_id: Option<u32>,
    #[prost(uint32, optional, tag = "8")]
    pub uts_ns_id: Option<u32>,
    #[prost(uint32, optional, tag = "9")]
    pub mnt_ns_id: Option<u32>,
    #[prost(uint32, optional, tag = "10")]
    pub user_ns_id: Option<u32>,
    #[prost(uint32, optional, tag = "11")]
    pub cgroup_ns_id: Option<u32>,
    #[prost(uint32, optional, tag = "12")]
    pub time_ns_id: Option<u32>,
}

/// `thread_sas_entry`: a thread's sigaltstack.
#[derive(Clone, PartialEq, prost::Message, Serialize)]
pub struct ThreadSasEntry {
    #[prost(uint64, required, tag = "1")]
    #[serde(serialize_with = "json::hex")]
    pub ss_sp: u64,
    #[prost(uint64, required, tag = "2")]
    pub ss_size: u64,
    #[prost(uint32, required, tag = "3")]
    pub ss_flags: u32,
}

/// `thread_core_entry`: state private to one thread.
#[derive(Clone, PartialEq, prost::Message, Serialize)]
pub struct ThreadCoreEntry {
    #[prost(uint64, required, tag = "1")]
    #[serde(serialize_with = "json::hex")]
    pub futex_rla: u64,
    #[prost(uint32, required, tag = "2")]
    pub futex_rla_len: u32,
    #[prost(sint32, optional, tag = "3")]
    pub sched_nice: Option<i32>,
    #[prost(uint32, optional, tag = "4")]
    pub sched_policy: Option<u32>,
    #[prost(uint32, optional, tag = "5")]
    pub sched_prio: Option<u32>,
    #[prost(uint64, optional, tag = "6")]
    #[serde(serialize_with = "json::hex_opt")]
    pub blk_sigset: Option<u64>,
    #[prost(message, optional, tag = "7")]
    pub sas: Option<ThreadSasEntry>,
    #[prost(uint32, optional, tag = "8")]
    pub pdeath_sig: Option<u32>,
    #[prost(message, optional, tag = "9")]
    pub signals_p: Option<SignalQueueEntry>,
    #[prost(message, optional, tag = "10")]
    pub creds: Option<CredsEntry>,
    #[prost(enumeration = "SeccompMode", optional, tag = "11")]
    #[serde(serialize_with = "json::enum_name_opt::<SeccompMode, _>")]
    pub seccomp_mode: Option<i32>,
    #[prost(uint32, optional, tag = "12")]
    pub seccomp_filter: Option<u32>,
    #[prost(string, optional, tag = "13")]
    pub comm: Option<String>,
    #[prost(uint64, optional, tag = "14")]
    #[serde(serialize_with = "json::hex_opt")]
    pub blk_sigset_extended: Option<u64>,
    #[prost(message, optional, tag = "15")]
    pub rseq_entry: Option<RseqEntry>,
}

/// `task_rlimits_entry`: every RLIMIT_* of a task, in resource order.
#[derive(Clone, PartialEq, prost::Message, Serialize)]
pub struct TaskRlimitsEntry {
    #[prost(message, repeated, tag = "1")]
    pub rlimits: Vec<RlimitEntry>,
}

/// `core_entry`: the whole of a `core-TID.img` file. Only the x86 thread
/// info is modelled; other machines' fields are skipped when read.
#[derive(Clone, PartialEq, prost::Message, Serialize)]
pub struct CoreEntry {
    #[prost(enumeration = "March", required, tag = "1")]
    #[serde(serialize_with = "json::enum_name::<March, _>")]
    pub mtype: i32,
    #[prost(message, optional, tag = "2")]
    pub thread_info: Option<ThreadInfoX86>,
    #[prost(message, optional, tag = "3")]
    pub tc: Option<TaskCoreEntry>,
    #[prost(message, optional, tag = "4")]
    pub ids: Option<TaskKobjIdsEntry>,
    #[prost(message, optional, tag = "5")]
    pub thread_core: Option<ThreadCoreEntry>,
}
