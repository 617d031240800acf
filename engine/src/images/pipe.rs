//! Pipes and FIFOs: `pipe_entry` and `fifo_entry` (inside `files.img`) and
//! `pipes-data.img` / `fifo-data.img`, whose entries are each followed by the
//! bytes that were queued in the pipe.

use serde::Serialize;

use super::fown::FownEntry;
use super::json;

/// `pipe_entry`: one end of a pipe; both ends share `pipe_id` (the inode).
#[derive(Clone, PartialEq, prost::Message, Serialize)]
pub struct PipeEntry {
    #[prost(uint32, required, tag = "1")]
    pub id: u32,
    #[prost(uint32, required, tag = "2")]
    pub pipe_id: u32,
    #[prost(uint32, required, tag = "3")]
    #[serde(serialize_with = "json::hex")]
    pub flags: u32,
    #[prost(message, required, tag = "4")]
    pub fown: FownEntry,
}

/// `fifo_entry`: a named pipe, opened through the regular file `regf_id`.
#[derive(Clone, PartialEq, prost::Message, Serialize)]
pub struct FifoEntry {
    #[prost(uint32, required, tag = "1")]
    pub id: u32,
    #[prost(uint32, required, tag = "2")]
    pub pipe_id: u32,
    #[prost(uint32, optional, tag = "3")]
    pub regf_id: Option<u32>,
}

/// `pipe_data_entry`: `bytes` bytes of queued data follow this entry in the
/// file; `size` is the pipe's capacity (`F_GETPIPE_SZ`).
#[derive(Clone, PartialEq, prost::Message, Serialize)]
pub struct PipeDataEntry {
    #[prost(uint32, required, tag = "1")]
    pub pipe_id: u32,
    #[prost(uint32, required, tag = "2")]
    pub bytes: u32,
    #[prost(uint32, optional, tag = "3")]
    pub size: Option<u32>,
}
