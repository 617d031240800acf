//! `fs-PID.img` (fs.proto): a task's working directory, root and umask.

use serde::Serialize;

/// `fs_entry`: `cwd_id` and `root_id` name regular-file entries in `files.img`.
#[derive(Clone, PartialEq, prost::Message, Serialize)]
pub struct FsEntry {
    #[prost(uint32, required, tag = "1")]
    pub cwd_id: u32,
    #[prost(uint32, required, tag = "2")]
    pub root_id: u32,
    #[prost(uint32, optional, tag = "3")]
    pub umask: Option<u32>,
}
