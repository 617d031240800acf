//! `unix_sk_entry` (sk-unix.proto): a unix socket, inside `files.img`.

use serde::Serialize;

use super::fown::FownEntry;
use super::json;
use super::sk_opts::{SkOptsEntry, SkShutdown};

/// `file_perms_entry`: owner and mode of a bound socket's file.
#[derive(Clone, PartialEq, prost::Message, Serialize)]
pub struct FilePermsEntry {
    #[prost(uint32, required, tag = "1")]
    pub mode: u32,
    #[prost(uint32, required, tag = "2")]
    pub uid: u32,
    #[prost(uint32, required, tag = "3")]
    pub gid: u32,
}

/// `unix_sk_entry`: type and state (kernel `SOCK_*`/`TCP_*` numbers), the
/// socket's inode and its peer's, and the bound name (abstract names start
/// with a NUL byte).
#[derive(Clone, PartialEq, prost::Message, Serialize)]
pub struct UnixSkEntry {
    #[prost(uint32, required, tag = "1")]
    pub id: u32,
    #[prost(uint32, required, tag = "2")]
    pub ino: u32,
    #[prost(uint32, required, tag = "3")]
    pub r#type: u32,
    #[prost(uint32, required, tag = "4")]
    pub state: u32,
    #[prost(uint32, required, tag = "5")]
    #[serde(serialize_with = "json::hex")]
    pub flags: u32,
    #[prost(uint32, required, tag = "6")]
    #[serde(serialize_with = "json::hex")]
    pub uflags: u32,
    #[prost(uint32, required, tag = "7")]
    pub backlog: u32,
    #[prost(uint32, required, tag = "8")]
    pub peer: u32,
    #[prost(message, required, tag = "9")]
    pub fown: FownEntry,
    #[prost(message, required, tag = "10")]
    pub opts: SkOptsEntry,
    #[prost(bytes = "vec", required, tag = "11")]
    #[serde(serialize_with = "json::lossy_text")]
    pub name: Vec<u8>,
    #[prost(enumeration = "SkShutdown", optional, tag = "12")]
    #[serde(serialize_with = "json::enum_name_opt::<SkShutdown, _>")]
    pub shutdown: Option<i32>,
    #[prost(message, optional, tag = "13")]
    pub file_perms: Option<FilePermsEntry>,
    #[prost(string, optional, tag = "14")]
    pub name_dir: Option<String>,
    #[prost(bool, optional, tag = "15")]
    pub deleted: Option<bool>,
    #[prost(uint32, optional, tag = "16")]
    pub ns_id: Option<u32>,
    #[prost(sint32, optional, tag = "17", default = "-1")]
    pub mnt_id: Option<i32>,
}
