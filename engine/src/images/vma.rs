//! `vma_entry` (vma.proto): one mapping of a task, inside `mm_entry.vmas`
//! (`vmas-N.img` is the older, separate home of the same entries).

use serde::Serialize;

use super::json;

/// Bits of `vma_entry.status`: CRIU's classification of a mapping.
pub mod vma_status {
    pub const AREA_REGULAR: u32 = 1 << 0;
    pub const AREA_STACK: u32 = 1 << 1;
    pub const AREA_VSYSCALL: u32 = 1 << 2;
    pub const AREA_VDSO: u32 = 1 << 3;
    pub const AREA_HEAP: u32 = 1 << 5;
    pub const FILE_PRIVATE: u32 = 1 << 6;
    pub const FILE_SHARED: u32 = 1 << 7;
    pub const ANON_SHARED: u32 = 1 << 8;
    pub const ANON_PRIVATE: u32 = 1 << 9;
    pub const AREA_SYSVIPC: u32 = 1 << 10;
    pub const AREA_SOCKET: u32 = 1 << 11;
    pub const AREA_VVAR: u32 = 1 << 12;
    pub const AREA_AIORING: u32 = 1 << 13;
    pub const AREA_MEMFD: u32 = 1 << 14;
}

/// `vma_entry`: address range, file offset, `PROT_*`, `MAP_*`, CRIU status
/// bits, the file id backing it (or -1), `MADV_*` bits and the fd's flags.
#[derive(Clone, PartialEq, prost::Message, Serialize)]
pub struct VmaEntry {
    #[prost(uint64, required, tag = "1")]
    #[serde(serialize_with = "json::hex")]
    pub start: u64,
    #[prost(uint64, required, tag = "2")]
    #[serde(serialize_with = "json::hex")]
    pub end: u64,
    #[prost(uint64, required, tag = "3")]
    pub pgoff: u64,
    #[prost(uint64, required, tag = "4")]
    pub shmid: u64,
    #[prost(uint32, required, tag = "5")]
    #[serde(serialize_with = "json::hex")]
    pub prot: u32,
    #[prost(uint32, required, tag = "6")]
    #[serde(serialize_with = "json::hex")]
    pub flags: u32,
    #[prost(uint32, required, tag = "7")]
    #[serde(serialize_with = "json::hex")]
    pub status: u32,
    #[prost(sint64, required, tag = "8")]
    pub fd: i64,
    #[prost(uint64, optional, tag = "9")]
    #[serde(serialize_with = "json::hex_opt")]
    pub madv: Option<u64>,
    #[prost(uint32, optional, tag = "10")]
    #[serde(serialize_with = "json::hex_opt")]
    pub fdflags: Option<u32>,
    /// crust extension (no CRIU release has it): set on the `[vvar_vclock]`
    /// area (Linux 6.13+), which CRIU's status bits cannot tell from `[vvar]`.
    #[prost(bool, optional, tag = "1000")]
    pub crust_vvar_vclock: Option<bool>,
}
