//! `rseq_entry` (rseq.proto): a thread's registered restartable sequence area.

use serde::Serialize;

use super::json;

/// `rseq_entry`: the `struct rseq` address, size and signature, and the
/// critical section the thread was in, if any.
#[derive(Clone, PartialEq, prost::Message, Serialize)]
pub struct RseqEntry {
    #[prost(uint64, required, tag = "1")]
    #[serde(serialize_with = "json::hex")]
    pub rseq_abi_pointer: u64,
    #[prost(uint32, required, tag = "2")]
    pub rseq_abi_size: u32,
    #[prost(uint32, required, tag = "3")]
    #[serde(serialize_with = "json::hex")]
    pub signature: u32,
    #[prost(uint64, optional, tag = "4")]
    #[serde(serialize_with = "json::hex_opt")]
    pub rseq_cs_pointer: Option<u64>,
}
