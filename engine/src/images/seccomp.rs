//! `seccomp.img` (seccomp.proto): every seccomp filter of the tree; threads
//! name the last filter of their chain by index.

use serde::Serialize;

use super::json;

/// `seccomp_filter`: one BPF program (raw `sock_filter` array), the index of
/// the filter installed before it, and its `SECCOMP_FILTER_FLAG_*` flags.
#[derive(Clone, PartialEq, prost::Message, Serialize)]
pub struct SeccompFilter {
    #[prost(bytes = "vec", required, tag = "1")]
    #[serde(serialize_with = "json::hex_bytes")]
    pub filter: Vec<u8>,
    #[prost(uint32, optional, tag = "2")]
    pub prev: Option<u32>,
    #[prost(uint32, optional, tag = "3")]
    pub flags: Option<u32>,
}

/// `seccomp_entry`: the one entry of `seccomp.img`.
#[derive(Clone, PartialEq, prost::Message, Serialize)]
pub struct SeccompEntry {
    #[prost(message, repeated, tag = "1")]
    pub seccomp_filters: Vec<SeccompFilter>,
}
