//! `reg_file_entry` (regfile.proto): an open regular file (or directory,
//! device node, ...) by path, inside `files.img`.

use serde::Serialize;

use super::fown::FownEntry;
use super::json;

/// `reg_file_entry`: open flags, offset, owner, path (absolute, as the task
/// saw it), mount id, size and mode.
#[derive(Clone, PartialEq, prost::Message, Serialize)]
pub struct RegFileEntry {
    #[prost(uint32, required, tag = "1")]
    pub id: u32,
    #[prost(uint32, required, tag = "2")]
    #[serde(serialize_with = "json::hex")]
    pub flags: u32,
    #[prost(uint64, required, tag = "3")]
    pub pos: u64,
    #[prost(message, required, tag = "5")]
    pub fown: FownEntry,
    #[prost(string, required, tag = "6")]
    pub name: String,
    #[prost(sint32, optional, tag = "7", default = "-1")]
    pub mnt_id: Option<i32>,
    #[prost(uint64, optional, tag = "8")]
    pub size: Option<u64>,
    #[prost(bool, optional, tag = "9")]
    pub ext: Option<bool>,
    #[prost(uint32, optional, tag = "10")]
    pub mode: Option<u32>,
    #[prost(uint32, repeated, packed = "false", tag = "11")]
    pub build_id: Vec<u32>,
    #[prost(uint32, optional, tag = "12")]
    pub checksum: Option<u32>,
    #[prost(uint32, optional, tag = "13")]
    pub checksum_config: Option<u32>,
    #[prost(uint32, optional, tag = "14")]
    pub checksum_parameter: Option<u32>,
}
