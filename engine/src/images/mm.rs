//! `mm-PID.img` (mm.proto): a task's address space layout.

use serde::Serialize;

use super::json;
use super::vma::VmaEntry;

/// `aio_ring_entry`: an AIO context's ring.
#[derive(Clone, PartialEq, prost::Message, Serialize)]
pub struct AioRingEntry {
    #[prost(uint64, required, tag = "1")]
    #[serde(serialize_with = "json::hex")]
    pub id: u64,
    #[prost(uint32, required, tag = "2")]
    pub nr_req: u32,
    #[prost(uint32, required, tag = "3")]
    pub ring_len: u32,
}

/// `mm_entry`: the `prctl(PR_SET_MM)` fields, the executable's file id, the
/// auxiliary vector (as u64 words) and every VMA.
#[derive(Clone, PartialEq, prost::Message, Serialize)]
pub struct MmEntry {
    #[prost(uint64, required, tag = "1")]
    #[serde(serialize_with = "json::hex")]
    pub mm_start_code: u64,
    #[prost(uint64, required, tag = "2")]
    #[serde(serialize_with = "json::hex")]
    pub mm_end_code: u64,
    #[prost(uint64, required, tag = "3")]
    #[serde(serialize_with = "json::hex")]
    pub mm_start_data: u64,
    #[prost(uint64, required, tag = "4")]
    #[serde(serialize_with = "json::hex")]
    pub mm_end_data: u64,
    #[prost(uint64, required, tag = "5")]
    #[serde(serialize_with = "json::hex")]
    pub mm_start_stack: u64,
    #[prost(uint64, required, tag = "6")]
    #[serde(serialize_with = "json::hex")]
    pub mm_start_brk: u64,
    #[prost(uint64, required, tag = "7")]
    #[serde(serialize_with = "json::hex")]
    pub mm_brk: u64,
    #[prost(uint64, required, tag = "8")]
    #[serde(serialize_with = "json::hex")]
    pub mm_arg_start: u64,
    #[prost(uint64, required, tag = "9")]
    #[serde(serialize_with = "json::hex")]
    pub mm_arg_end: u64,
    #[prost(uint64, required, tag = "10")]
    #[serde(serialize_with = "json::hex")]
    pub mm_env_start: u64,
    #[prost(uint64, required, tag = "11")]
    #[serde(serialize_with = "json::hex")]
    pub mm_env_end: u64,
    #[prost(uint32, required, tag = "12")]
    pub exe_file_id: u32,
    #[prost(uint64, repeated, packed = "false", tag = "13")]
    pub mm_saved_auxv: Vec<u64>,
    #[prost(message, repeated, tag = "14")]
    pub vmas: Vec<VmaEntry>,
    #[prost(int32, optional, tag = "15")]
    pub dumpable: Option<i32>,
    #[prost(message, repeated, tag = "16")]
    pub aios: Vec<AioRingEntry>,
    #[prost(bool, optional, tag = "17")]
    pub thp_disabled: Option<bool>,
}
