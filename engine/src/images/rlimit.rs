//! `rlimit_entry` (rlimit.proto), kept in the task core in RLIMIT_* order
//! (`rlimit-N.img` is the older, separate home of the same entries).

use serde::Serialize;

/// `rlimit_entry`: soft and hard limit; RLIM_INFINITY is `u64::MAX`.
#[derive(Clone, PartialEq, prost::Message, Serialize)]
pub struct RlimitEntry {
    #[prost(uint64, required, tag = "1")]
    pub cur: u64,
    #[prost(uint64, required, tag = "2")]
    pub max: u64,
}
