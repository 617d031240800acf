//! `timerfd_entry` (timerfd.proto), inside `files.img`.

use serde::Serialize;

use super::fown::FownEntry;
use super::json;

/// `timerfd_entry`: clock, expirations not yet read, `TFD_TIMER_*` flags and
/// the timer's value and interval.
#[derive(Clone, PartialEq, prost::Message, Serialize)]
pub struct TimerfdEntry {
    #[prost(uint32, required, tag = "1")]
    pub id: u32,
    #[prost(uint32, required, tag = "2")]
    #[serde(serialize_with = "json::hex")]
    pub flags: u32,
    #[prost(message, required, tag = "3")]
    pub fown: FownEntry,
    #[prost(uint32, required, tag = "4")]
    pub clockid: u32,
    #[prost(uint64, required, tag = "5")]
    pub ticks: u64,
    #[prost(uint32, required, tag = "6")]
    #[serde(serialize_with = "json::hex")]
    pub settime_flags: u32,
    #[prost(uint64, required, tag = "7")]
    pub vsec: u64,
    #[prost(uint64, required, tag = "8")]
    pub vnsec: u64,
    #[prost(uint64, required, tag = "9")]
    pub isec: u64,
    #[prost(uint64, required, tag = "10")]
    pub insec: u64,
}
