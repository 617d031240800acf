//! `signalfd_entry` (signalfd.proto), inside `files.img`.

use serde::Serialize;

use super::fown::FownEntry;
use super::json;

/// `signalfd_entry`: open flags, owner and the signals it reads.
#[derive(Clone, PartialEq, prost::Message, Serialize)]
pub struct SignalfdEntry {
    #[prost(uint32, required, tag = "1")]
    pub id: u32,
    #[prost(uint32, required, tag = "2")]
    #[serde(serialize_with = "json::hex")]
    pub flags: u32,
    #[prost(message, required, tag = "3")]
    pub fown: FownEntry,
    #[prost(uint64, required, tag = "4")]
    #[serde(serialize_with = "json::hex")]
    pub sigmask: u64,
}
