//! `sa_entry` (sa.proto): one signal's disposition, kept in the task's core
//! image (`sigacts-N.img` is the older, separate home of the same entries).

use serde::Serialize;

use super::json;

/// `sa_entry`: handler, `SA_*` flags, restorer and blocked mask of one signal.
#[derive(Clone, PartialEq, prost::Message, Serialize)]
pub struct SaEntry {
    #[prost(uint64, required, tag = "1")]
    #[serde(serialize_with = "json::hex")]
    pub sigaction: u64,
    #[prost(uint64, required, tag = "2")]
    #[serde(serialize_with = "json::hex")]
    pub flags: u64,
    #[prost(uint64, required, tag = "3")]
    #[serde(serialize_with = "json::hex")]
    pub restorer: u64,
    #[prost(uint64, required, tag = "4")]
    #[serde(serialize_with = "json::hex")]
    pub mask: u64,
    #[prost(bool, optional, tag = "5")]
    pub compat_sigaction: Option<bool>,
    #[prost(uint64, optional, tag = "6")]
    #[serde(serialize_with = "json::hex_opt")]
    pub mask_extended: Option<u64>,
}
