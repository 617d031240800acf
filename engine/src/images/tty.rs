//! Terminals (tty.proto): `tty_file_entry` inside `files.img`, one
//! `tty_info_entry` per terminal in `tty-info.img`, and unread input in
//! `tty-data.img`.

use serde::Serialize;

use super::fown::FownEntry;
use super::json;

/// What kind of terminal a tty is.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration, Serialize,
)]
#[repr(i32)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TtyType {
    Unknown = 0,
    Pty = 1,
    Console = 2,
    Vt = 3,
    Ctty = 4,
    ExtTty = 5,
    Serial = 6,
}

/// `winsize_entry`: `struct winsize`.
#[derive(Clone, PartialEq, prost::Message, Serialize)]
pub struct WinsizeEntry {
    #[prost(uint32, required, tag = "1")]
    pub ws_row: u32,
    #[prost(uint32, required, tag = "2")]
    pub ws_col: u32,
    #[prost(uint32, required, tag = "3")]
    pub ws_xpixel: u32,
    #[prost(uint32, required, tag = "4")]
    pub ws_ypixel: u32,
}

/// `termios_entry`: `struct termios2`, control characters one per word.
#[derive(Clone, PartialEq, prost::Message, Serialize)]
pub struct TermiosEntry {
    #[prost(uint32, required, tag = "1")]
    pub c_iflag: u32,
    #[prost(uint32, required, tag = "2")]
    pub c_oflag: u32,
    #[prost(uint32, required, tag = "3")]
    pub c_cflag: u32,
    #[prost(uint32, required, tag = "4")]
    pub c_lflag: u32,
    #[prost(uint32, required, tag = "5")]
    pub c_line: u32,
    #[prost(uint32, required, tag = "6")]
    pub c_ispeed: u32,
    #[prost(uint32, required, tag = "7")]
    pub c_ospeed: u32,
    #[prost(uint32, repeated, packed = "false", tag = "8")]
    pub c_cc: Vec<u32>,
}

/// `tty_pty_entry`: the pty's index (N of /dev/pts/N).
#[derive(Clone, PartialEq, prost::Message, Serialize)]
pub struct TtyPtyEntry {
    #[prost(uint32, required, tag = "1")]
    pub index: u32,
}

/// `tty_info_entry`: one terminal's state: session and foreground group,
/// device, termios and window size.
#[derive(Clone, PartialEq, prost::Message, Serialize)]
pub struct TtyInfoEntry {
    #[prost(uint32, required, tag = "1")]
    pub id: u32,
    #[prost(enumeration = "TtyType", required, tag = "2")]
    #[serde(serialize_with = "json::enum_name::<TtyType, _>")]
    pub r#type: i32,
    #[prost(bool, required, tag = "3")]
    pub locked: bool,
    #[prost(bool, required, tag = "4")]
    pub exclusive: bool,
    #[prost(bool, required, tag = "5")]
    pub packet_mode: bool,
    #[prost(uint32, required, tag = "6")]
    pub sid: u32,
    #[prost(uint32, required, tag = "7")]
    pub pgrp: u32,
    #[prost(uint32, required, tag = "8")]
    pub rdev: u32,
    #[prost(message, optional, tag = "9")]
    pub termios: Option<TermiosEntry>,
    #[prost(message, optional, tag = "10")]
    pub termios_locked: Option<TermiosEntry>,
    #[prost(message, optional, tag = "11")]
    pub winsize: Option<WinsizeEntry>,
    #[prost(message, optional, tag = "12")]
    pub pty: Option<TtyPtyEntry>,
    #[prost(uint32, optional, tag = "13")]
    pub dev: Option<u32>,
    #[prost(uint32, optional, tag = "14")]
    pub uid: Option<u32>,
    #[prost(uint32, optional, tag = "15")]
    pub gid: Option<u32>,
}

/// `tty_file_entry`: an open terminal file, naming its `tty_info_entry`.
#[derive(Clone, PartialEq, prost::Message, Serialize)]
pub struct TtyFileEntry {
    #[prost(uint32, required, tag = "1")]
    pub id: u32,
    #[prost(uint32, required, tag = "2")]
    pub tty_info_id: u32,
    #[prost(uint32, required, tag = "3")]
    #[serde(serialize_with = "json::hex")]
    pub flags: u32,
    #[prost(message, required, tag = "4")]
    pub fown: FownEntry,
    #[prost(uint32, optional, tag = "6")]
    pub regf_id: Option<u32>,
}

/// `tty_data_entry`: input queued on a terminal, not yet read.
#[derive(Clone, PartialEq, prost::Message, Serialize)]
pub struct TtyDataEntry {
    #[prost(uint32, required, tag = "1")]
    pub tty_id: u32,
    #[prost(bytes = "vec", required, tag = "2")]
    #[serde(serialize_with = "json::hex_bytes")]
    pub data: Vec<u8>,
}
