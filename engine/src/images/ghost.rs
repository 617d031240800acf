//! Invisible files: `remap-fpath.img` (`remap_file_path_entry`, remap-file-path.proto: which
//! open file is really a ghost) and `ghost-file-ID.img` (`ghost_file_entry`, ghost-file.proto:
//! the unlinked file's inode, followed by its contents as `ghost_chunk_entry` + bytes pairs).

use serde::Serialize;

use super::json;

/// `remap_type`: how a file that cannot be reopened by its path is found at restore.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration, Serialize,
)]
#[repr(i32)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RemapType {
    /// A hard link made at dump time.
    Linked = 0,
    /// A ghost file: contents kept in the images.
    Ghost = 1,
    /// A /proc file of a dead task.
    Procfs = 2,
}

/// `remap_file_path_entry`: file `orig_id` of files.img is ghost (or link) `remap_id`.
#[derive(Clone, PartialEq, prost::Message, Serialize)]
pub struct RemapFilePathEntry {
    #[prost(uint32, required, tag = "1")]
    pub orig_id: u32,
    #[prost(uint32, required, tag = "2")]
    pub remap_id: u32,
    #[prost(enumeration = "RemapType", optional, tag = "3")]
    #[serde(serialize_with = "json::enum_name_opt::<RemapType, _>")]
    pub remap_type: Option<i32>,
}

/// `timeval` (opts.proto).
#[derive(Clone, PartialEq, prost::Message, Serialize)]
pub struct Timeval {
    #[prost(uint64, required, tag = "1")]
    pub tv_sec: u64,
    #[prost(uint64, required, tag = "2")]
    pub tv_usec: u64,
}

/// `ghost_file_entry`: the inode of an unlinked file. With `chunks` set, the contents follow
/// as chunks; without, as `size` raw bytes.
#[derive(Clone, PartialEq, prost::Message, Serialize)]
pub struct GhostFileEntry {
    #[prost(uint32, required, tag = "1")]
    pub uid: u32,
    #[prost(uint32, required, tag = "2")]
    pub gid: u32,
    #[prost(uint32, required, tag = "3")]
    #[serde(serialize_with = "json::hex")]
    pub mode: u32,
    #[prost(uint32, optional, tag = "4")]
    pub dev: Option<u32>,
    #[prost(uint64, optional, tag = "5")]
    pub ino: Option<u64>,
    #[prost(uint32, optional, tag = "6")]
    pub rdev: Option<u32>,
    #[prost(message, optional, tag = "7")]
    pub atim: Option<Timeval>,
    #[prost(message, optional, tag = "8")]
    pub mtim: Option<Timeval>,
    #[prost(bool, optional, tag = "9")]
    pub chunks: Option<bool>,
    #[prost(uint64, optional, tag = "10")]
    pub size: Option<u64>,
    #[prost(string, optional, tag = "11")]
    pub symlnk_target: Option<String>,
}

/// `ghost_chunk_entry`: `len` bytes of the file at offset `off` follow this entry.
#[derive(Clone, PartialEq, prost::Message, Serialize)]
pub struct GhostChunkEntry {
    #[prost(uint64, required, tag = "1")]
    pub len: u64,
    #[prost(uint64, required, tag = "2")]
    pub off: u64,
}
