//! `fown_entry` (fown.proto): the owner of a file's SIGIO signals.

use serde::Serialize;

/// `fown_entry`: `F_SETOWN_EX` owner, the credentials it was set with and
/// `F_SETSIG` signal.
#[derive(Clone, PartialEq, prost::Message, Serialize)]
pub struct FownEntry {
    #[prost(uint32, required, tag = "1")]
    pub uid: u32,
    #[prost(uint32, required, tag = "2")]
    pub euid: u32,
    #[prost(uint32, required, tag = "3")]
    pub signum: u32,
    #[prost(uint32, required, tag = "4")]
    pub pid_type: u32,
    #[prost(uint32, required, tag = "5")]
    pub pid: u32,
}
