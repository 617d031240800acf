//! `inet_sk_entry` (sk-inet.proto): an IPv4/IPv6 socket, inside `files.img`.

use serde::Serialize;

use super::fown::FownEntry;
use super::json;
use super::sk_opts::{SkOptsEntry, SkShutdown};

/// `ip_opts_raw_entry`: options of raw IP sockets.
#[derive(Clone, PartialEq, prost::Message, Serialize)]
pub struct IpOptsRawEntry {
    #[prost(bool, optional, tag = "1")]
    pub hdrincl: Option<bool>,
    #[prost(bool, optional, tag = "2")]
    pub nodefrag: Option<bool>,
    #[prost(bool, optional, tag = "3")]
    pub checksum: Option<bool>,
    #[prost(uint32, repeated, packed = "false", tag = "4")]
    pub icmpv_filter: Vec<u32>,
}

/// `ip_opts_entry`: IP-level options.
#[derive(Clone, PartialEq, prost::Message, Serialize)]
pub struct IpOptsEntry {
    #[prost(bool, optional, tag = "1")]
    pub freebind: Option<bool>,
    #[prost(message, optional, tag = "4")]
    pub raw: Option<IpOptsRawEntry>,
}

/// `inet_sk_entry`: family, type, protocol and state (kernel numbers),
/// ports, and addresses as 32-bit words in network byte order (one word for
/// IPv4, four for IPv6).
#[derive(Clone, PartialEq, prost::Message, Serialize)]
pub struct InetSkEntry {
    #[prost(uint32, required, tag = "1")]
    pub id: u32,
    #[prost(uint32, required, tag = "2")]
    pub ino: u32,
    #[prost(uint32, required, tag = "3")]
    pub family: u32,
    #[prost(uint32, required, tag = "4")]
    pub r#type: u32,
    #[prost(uint32, required, tag = "5")]
    pub proto: u32,
    #[prost(uint32, required, tag = "6")]
    pub state: u32,
    #[prost(uint32, required, tag = "7")]
    pub src_port: u32,
    #[prost(uint32, required, tag = "8")]
    pub dst_port: u32,
    #[prost(uint32, required, tag = "9")]
    #[serde(serialize_with = "json::hex")]
    pub flags: u32,
    #[prost(uint32, required, tag = "10")]
    pub backlog: u32,
    #[prost(uint32, repeated, packed = "false", tag = "11")]
    pub src_addr: Vec<u32>,
    #[prost(uint32, repeated, packed = "false", tag = "12")]
    pub dst_addr: Vec<u32>,
    #[prost(message, required, tag = "13")]
    pub fown: FownEntry,
    #[prost(message, required, tag = "14")]
    pub opts: SkOptsEntry,
    #[prost(bool, optional, tag = "15")]
    pub v6only: Option<bool>,
    #[prost(message, optional, tag = "16")]
    pub ip_opts: Option<IpOptsEntry>,
    #[prost(string, optional, tag = "17")]
    pub ifname: Option<String>,
    #[prost(uint32, optional, tag = "18")]
    pub ns_id: Option<u32>,
    #[prost(enumeration = "SkShutdown", optional, tag = "19")]
    #[serde(serialize_with = "json::enum_name_opt::<SkShutdown, _>")]
    pub shutdown: Option<i32>,
}
