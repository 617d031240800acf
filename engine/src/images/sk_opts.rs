//! `sk_opts_entry` (sk-opts.proto): socket options common to every family.

use serde::Serialize;

/// Which directions of a socket were shut down.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration, Serialize,
)]
#[repr(i32)]
#[serde(rename_all = "UPPERCASE")]
pub enum SkShutdown {
    None = 0,
    Read = 1,
    Write = 2,
    Both = 3,
}

/// `sk_opts_entry`: buffer sizes, timeouts and `SO_*`/`TCP_KEEP*` options.
#[derive(Clone, PartialEq, prost::Message, Serialize)]
pub struct SkOptsEntry {
    #[prost(uint32, required, tag = "1")]
    pub so_sndbuf: u32,
    #[prost(uint32, required, tag = "2")]
    pub so_rcvbuf: u32,
    #[prost(uint64, required, tag = "3")]
    pub so_snd_tmo_sec: u64,
    #[prost(uint64, required, tag = "4")]
    pub so_snd_tmo_usec: u64,
    #[prost(uint64, required, tag = "5")]
    pub so_rcv_tmo_sec: u64,
    #[prost(uint64, required, tag = "6")]
    pub so_rcv_tmo_usec: u64,
    #[prost(bool, optional, tag = "7")]
    pub reuseaddr: Option<bool>,
    #[prost(uint32, optional, tag = "8")]
    pub so_priority: Option<u32>,
    #[prost(uint32, optional, tag = "9")]
    pub so_rcvlowat: Option<u32>,
    #[prost(uint32, optional, tag = "10")]
    pub so_mark: Option<u32>,
    #[prost(bool, optional, tag = "11")]
    pub so_passcred: Option<bool>,
    #[prost(bool, optional, tag = "12")]
    pub so_passsec: Option<bool>,
    #[prost(bool, optional, tag = "13")]
    pub so_dontroute: Option<bool>,
    #[prost(bool, optional, tag = "14")]
    pub so_no_check: Option<bool>,
    #[prost(string, optional, tag = "15")]
    pub so_bound_dev: Option<String>,
    /// An attached classic BPF filter, as raw `sock_filter` words.
    #[prost(fixed64, repeated, packed = "false", tag = "16")]
    pub so_filter: Vec<u64>,
    #[prost(bool, optional, tag = "17")]
    pub so_reuseport: Option<bool>,
    #[prost(bool, optional, tag = "18")]
    pub so_broadcast: Option<bool>,
    #[prost(bool, optional, tag = "19")]
    pub so_keepalive: Option<bool>,
    #[prost(uint32, optional, tag = "20")]
    pub tcp_keepcnt: Option<u32>,
    #[prost(uint32, optional, tag = "21")]
    pub tcp_keepidle: Option<u32>,
    #[prost(uint32, optional, tag = "22")]
    pub tcp_keepintvl: Option<u32>,
    #[prost(uint32, optional, tag = "23")]
    pub so_oobinline: Option<u32>,
    #[prost(uint32, optional, tag = "24")]
    pub so_linger: Option<u32>,
    #[prost(uint32, optional, tag = "25")]
    pub so_buf_lock: Option<u32>,
}
