//! `sk-queues.img` (sk-packet.proto): packets queued on sockets; each entry
//! is followed by `length` bytes of packet data.

use serde::Serialize;

/// `scm_entry`: ancillary data of a queued packet (`SCM_RIGHTS` file ids).
#[derive(Clone, PartialEq, prost::Message, Serialize)]
pub struct ScmEntry {
    #[prost(uint32, required, tag = "1")]
    pub r#type: u32,
    #[prost(uint32, repeated, packed = "false", tag = "2")]
    pub rights: Vec<u32>,
}

/// `sk_packet_entry`: one packet queued for the socket with file id `id_for`.
#[derive(Clone, PartialEq, prost::Message, Serialize)]
pub struct SkPacketEntry {
    #[prost(uint32, required, tag = "1")]
    pub id_for: u32,
    #[prost(uint32, required, tag = "2")]
    pub length: u32,
    #[prost(message, repeated, tag = "4")]
    pub scm: Vec<ScmEntry>,
}
