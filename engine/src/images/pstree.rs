//! `pstree.img` (pstree.proto): one entry per task of the dumped tree.

use serde::Serialize;

/// `pstree_entry`: a task's pid, parent, group and session, and its threads.
#[derive(Clone, PartialEq, prost::Message, Serialize)]
pub struct PstreeEntry {
    #[prost(uint32, required, tag = "1")]
    pub pid: u32,
    #[prost(uint32, required, tag = "2")]
    pub ppid: u32,
    #[prost(uint32, required, tag = "3")]
    pub pgid: u32,
    #[prost(uint32, required, tag = "4")]
    pub sid: u32,
    #[prost(uint32, repeated, packed = "false", tag = "5")]
    pub threads: Vec<u32>,
}
