//! `eventfd_file_entry` (eventfd.proto), inside `files.img`.

use serde::Serialize;

use super::fown::FownEntry;
use super::json;

/// `eventfd_file_entry`: open flags, owner and the counter's value.
#[derive(Clone, PartialEq, prost::Message, Serialize)]
pub struct EventfdFileEntry {
    #[prost(uint32, required, tag = "1")]
    pub id: u32,
    #[prost(uint32, required, tag = "2")]
    #[serde(serialize_with = "json::hex")]
    pub flags: u32,
    #[prost(message, required, tag = "3")]
    pub fown: FownEntry,
    #[prost(uint64, required, tag = "4")]
    pub counter: u64,
}
