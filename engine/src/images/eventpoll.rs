//! `eventpoll_file_entry` (eventpoll.proto): an epoll instance and what it
//! watches, inside `files.img`.

use serde::Serialize;

use super::fown::FownEntry;
use super::json;

/// `eventpoll_tfd_entry`: one watched fd, its events mask and user data, and
/// the watched file's identity (device, inode, position) to find it again.
#[derive(Clone, PartialEq, prost::Message, Serialize)]
pub struct EventpollTfdEntry {
    #[prost(uint32, required, tag = "1")]
    pub id: u32,
    #[prost(uint32, required, tag = "2")]
    pub tfd: u32,
    #[prost(uint32, required, tag = "3")]
    #[serde(serialize_with = "json::hex")]
    pub events: u32,
    #[prost(uint64, required, tag = "4")]
    #[serde(serialize_with = "json::hex")]
    pub data: u64,
    #[prost(uint32, optional, tag = "5")]
    pub dev: Option<u32>,
    #[prost(uint64, optional, tag = "6")]
    pub inode: Option<u64>,
    #[prost(uint64, optional, tag = "7")]
    pub pos: Option<u64>,
}

/// `eventpoll_file_entry`: the epoll file and its watches.
#[derive(Clone, PartialEq, prost::Message, Serialize)]
pub struct EventpollFileEntry {
    #[prost(uint32, required, tag = "1")]
    pub id: u32,
    #[prost(uint32, required, tag = "2")]
    #[serde(serialize_with = "json::hex")]
    pub flags: u32,
    #[prost(message, required, tag = "3")]
    pub fown: FownEntry,
    #[prost(message, repeated, tag = "4")]
    pub tfd: Vec<EventpollTfdEntry>,
}
