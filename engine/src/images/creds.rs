//! `creds_entry` (creds.proto): a thread's credentials, kept in its core
//! image (`creds-N.img` is the older, separate home of the same entry).

use serde::Serialize;

use super::json;

/// `creds_entry`: ids, capability sets (as 32-bit words, low word first),
/// securebits, supplementary groups and LSM labels.
#[derive(Clone, PartialEq, prost::Message, Serialize)]
pub struct CredsEntry {
    #[prost(uint32, required, tag = "1")]
    pub uid: u32,
    #[prost(uint32, required, tag = "2")]
    pub gid: u32,
    #[prost(uint32, required, tag = "3")]
    pub euid: u32,
    #[prost(uint32, required, tag = "4")]
    pub egid: u32,
    #[prost(uint32, required, tag = "5")]
    pub suid: u32,
    #[prost(uint32, required, tag = "6")]
    pub sgid: u32,
    #[prost(uint32, required, tag = "7")]
    pub fsuid: u32,
    #[prost(uint32, required, tag = "8")]
    pub fsgid: u32,
    #[prost(uint32, repeated, packed = "false", tag = "9")]
    pub cap_inh: Vec<u32>,
    #[prost(uint32, repeated, packed = "false", tag = "10")]
    pub cap_prm: Vec<u32>,
    #[prost(uint32, repeated, packed = "false", tag = "11")]
    pub cap_eff: Vec<u32>,
    #[prost(uint32, repeated, packed = "false", tag = "12")]
    pub cap_bnd: Vec<u32>,
    #[prost(uint32, required, tag = "13")]
    pub secbits: u32,
    #[prost(uint32, repeated, packed = "false", tag = "14")]
    pub groups: Vec<u32>,
    #[prost(string, optional, tag = "15")]
    pub lsm_profile: Option<String>,
    #[prost(string, optional, tag = "16")]
    pub lsm_sockcreate: Option<String>,
    #[prost(bytes = "vec", optional, tag = "17")]
    #[serde(serialize_with = "json::hex_opt_bytes")]
    pub apparmor_data: Option<Vec<u8>>,
    /// prctl(PR_GET_NO_NEW_PRIVS); field of later CRIU releases (crit 3.17
    /// skips it).
    #[prost(uint32, optional, tag = "18")]
    pub no_new_privs: Option<u32>,
    /// Ambient capability set, as the other sets; field of later CRIU
    /// releases (crit 3.17 skips it).
    #[prost(uint32, repeated, packed = "false", tag = "19")]
    pub cap_amb: Vec<u32>,
}
