//! Pending signals (siginfo.proto), kept in core images: shared ones in the
//! task core, per-thread ones in the thread core.

use serde::Serialize;

use super::json;

/// `siginfo_entry`: one queued signal as the raw 128-byte `siginfo_t`.
#[derive(Clone, PartialEq, prost::Message, Serialize)]
pub struct SiginfoEntry {
    #[prost(bytes = "vec", required, tag = "1")]
    #[serde(serialize_with = "json::hex_bytes")]
    pub siginfo: Vec<u8>,
}

/// `signal_queue_entry`: a queue of pending signals, oldest first.
#[derive(Clone, PartialEq, prost::Message, Serialize)]
pub struct SignalQueueEntry {
    #[prost(message, repeated, tag = "1")]
    pub signals: Vec<SiginfoEntry>,
}
