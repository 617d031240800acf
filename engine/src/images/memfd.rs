//! memfds (memfd.proto): `memfd_file_entry` (an open memfd, inside `files.img`) and
//! `memfd.img` (`memfd_inode_entry`: each memfd's name, owner, size and seals). The contents
//! are shared memory pages: `pagemap-shmem-SHMID.img` and the pages image it names.

use serde::Serialize;

use super::fown::FownEntry;
use super::json;

/// `memfd_file_entry`: one open file description of memfd inode `inode_id`.
#[derive(Clone, PartialEq, prost::Message, Serialize)]
pub struct MemfdFileEntry {
    #[prost(uint32, required, tag = "1")]
    pub id: u32,
    #[prost(uint32, required, tag = "2")]
    #[serde(serialize_with = "json::hex")]
    pub flags: u32,
    #[prost(uint64, required, tag = "3")]
    pub pos: u64,
    #[prost(message, required, tag = "4")]
    pub fown: FownEntry,
    #[prost(uint32, required, tag = "5")]
    pub inode_id: u32,
}

/// `memfd_inode_entry`: a memfd (name without the `memfd:` prefix); its pages are in
/// `pagemap-shmem-SHMID.img`.
#[derive(Clone, PartialEq, prost::Message, Serialize)]
pub struct MemfdInodeEntry {
    #[prost(string, required, tag = "1")]
    pub name: String,
    #[prost(uint32, required, tag = "2")]
    pub uid: u32,
    #[prost(uint32, required, tag = "3")]
    pub gid: u32,
    #[prost(uint64, required, tag = "4")]
    pub size: u64,
    #[prost(uint32, required, tag = "5")]
    pub shmid: u32,
    #[prost(uint32, required, tag = "6")]
    #[serde(serialize_with = "json::hex")]
    pub seals: u32,
    #[prost(uint64, required, tag = "7")]
    pub inode_id: u64,
    #[prost(uint32, optional, tag = "8")]
    pub hugetlb_flag: Option<u32>,
    /// crust extension (later CRIU releases add it here): the inode's permission bits.
    #[prost(uint32, optional, tag = "9")]
    #[serde(serialize_with = "json::hex_opt")]
    pub mode: Option<u32>,
}
