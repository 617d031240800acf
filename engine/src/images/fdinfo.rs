//! File descriptors (fdinfo.proto): `fdinfo-N.img` maps a task's fd numbers
//! to file ids; `files.img` describes each file once, by id.

use serde::Serialize;

use super::eventfd::EventfdFileEntry;
use super::eventpoll::EventpollFileEntry;
use super::json;
use super::pipe::{FifoEntry, PipeEntry};
use super::regfile::RegFileEntry;
use super::signalfd::SignalfdEntry;
use super::sk_inet::InetSkEntry;
use super::sk_unix::UnixSkEntry;
use super::timerfd::TimerfdEntry;
use super::tty::TtyFileEntry;

/// What kind of file an fd or a `file_entry` is.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration, Serialize,
)]
#[repr(i32)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FdTypes {
    Und = 0,
    Reg = 1,
    Pipe = 2,
    Fifo = 3,
    Inetsk = 4,
    Unixsk = 5,
    Eventfd = 6,
    Eventpoll = 7,
    Inotify = 8,
    Signalfd = 9,
    Packetsk = 10,
    Tty = 11,
    Fanotify = 12,
    Netlinksk = 13,
    Ns = 14,
    Tunf = 15,
    Ext = 16,
    Timerfd = 17,
    Memfd = 18,
    Bpfmap = 19,
    CtlTty = 65534,
    AutofsPipe = 65535,
}

/// `fdinfo_entry`: fd `fd` of a task refers to file `id`; `flags` holds
/// FD_CLOEXEC.
#[derive(Clone, PartialEq, prost::Message, Serialize)]
pub struct FdinfoEntry {
    #[prost(uint32, required, tag = "1")]
    pub id: u32,
    #[prost(uint32, required, tag = "2")]
    pub flags: u32,
    #[prost(enumeration = "FdTypes", required, tag = "3")]
    #[serde(serialize_with = "json::enum_name::<FdTypes, _>")]
    pub r#type: i32,
    #[prost(uint32, required, tag = "4")]
    pub fd: u32,
    #[prost(string, optional, tag = "5")]
    pub xattr_security_selinux: Option<String>,
}

/// `file_entry`: one file of `files.img`; `type` says which of the optional
/// members is set. Kinds crust does not model are skipped when read.
#[derive(Clone, PartialEq, prost::Message, Serialize)]
pub struct FileEntry {
    #[prost(enumeration = "FdTypes", required, tag = "1")]
    #[serde(serialize_with = "json::enum_name::<FdTypes, _>")]
    pub r#type: i32,
    #[prost(uint32, required, tag = "2")]
    pub id: u32,
    #[prost(message, optional, tag = "3")]
    pub reg: Option<RegFileEntry>,
    #[prost(message, optional, tag = "4")]
    pub isk: Option<InetSkEntry>,
    #[prost(message, optional, tag = "8")]
    pub efd: Option<EventfdFileEntry>,
    #[prost(message, optional, tag = "9")]
    pub epfd: Option<EventpollFileEntry>,
    #[prost(message, optional, tag = "10")]
    pub sgfd: Option<SignalfdEntry>,
    #[prost(message, optional, tag = "12")]
    pub tfd: Option<TimerfdEntry>,
    #[prost(message, optional, tag = "16")]
    pub usk: Option<UnixSkEntry>,
    #[prost(message, optional, tag = "17")]
    pub fifo: Option<FifoEntry>,
    #[prost(message, optional, tag = "18")]
    pub pipe: Option<PipeEntry>,
    #[prost(message, optional, tag = "19")]
    pub tty: Option<TtyFileEntry>,
    #[prost(message, optional, tag = "20")]
    pub memfd: Option<super::memfd::MemfdFileEntry>,
}
