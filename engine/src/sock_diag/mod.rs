//! Asking the kernel about sockets with `NETLINK_SOCK_DIAG`.
//!
//! A request is one netlink message (`struct nlmsghdr` then a family's request struct); the
//! reply is one or more netlink messages, each a family's record followed by netlink attributes.
//! Every length in a reply is checked against the bytes received before it is used.
//!
//! See sock_diag(7), netlink(7) and `include/uapi/linux/{netlink,sock_diag,unix_diag}.h`.

pub mod unix;

use std::os::fd::{AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::sys::socket::{self, AddressFamily, MsgFlags, SockFlag, SockProtocol, SockType};

pub use unix::{UnixName, UnixSocket};

/// `SOCK_DIAG_BY_FAMILY`: the message type of a request and of its records.
const SOCK_DIAG_BY_FAMILY: u16 = 20;
/// `NLMSG_ERROR`: the kernel's answer when a request failed.
const NLMSG_ERROR: u16 = 2;
/// `NLMSG_DONE`: the end of a dump.
const NLMSG_DONE: u16 = 3;
/// `NLM_F_REQUEST`
const NLM_F_REQUEST: u16 = 1;
/// `NLM_F_DUMP` (`NLM_F_ROOT | NLM_F_MATCH`): every socket that matches, in parts.
const NLM_F_DUMP: u16 = 0x300;
/// `sizeof(struct nlmsghdr)`
const NLMSG_HDRLEN: usize = 16;
/// `sizeof(struct nlattr)`
const NLA_HDRLEN: usize = 4;
/// Room for one part of a reply: the kernel fills parts of a dump up to about 32 KiB, and says
/// so (`MSG_TRUNC`) if a part is larger than the buffer.
const REPLY_BUFFER: usize = 64 * 1024;

/// What a request asked about, for errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asked {
    /// One socket, by inode.
    Socket(u64),
    /// Every listening unix socket.
    UnixListeners,
}

impl std::fmt::Display for Asked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Socket(inode) => write!(f, "socket:[{inode}]"),
            Self::UnixListeners => f.write_str("listening unix sockets"),
        }
    }
}

/// Why asking about sockets failed.
#[derive(Debug, thiserror::Error)]
pub enum DiagError {
    /// The netlink socket could not be opened.
    #[error("opening a NETLINK_SOCK_DIAG socket: {0}")]
    Open(#[source] Errno),
    /// The socket inode does not fit the request's 32-bit field.
    #[error("socket:[{inode}]: inode does not fit a sock_diag request")]
    InodeTooLarge { inode: u64 },
    /// Sending the request failed.
    #[error("{asked}: sending the sock_diag request: {source}")]
    Send { asked: Asked, source: Errno },
    /// Receiving the reply failed.
    #[error("{asked}: receiving the sock_diag reply: {source}")]
    Receive { asked: Asked, source: Errno },
    /// The kernel refused the request.
    #[error("{asked}: sock_diag: {source}")]
    Kernel { asked: Asked, source: Errno },
    /// The reply did not parse.
    #[error("{asked}: malformed sock_diag reply: {what}")]
    Malformed { asked: Asked, what: &'static str },
}

/// What was wrong with a reply, before the inode asked about is known to the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadReply(pub &'static str);

/// One netlink message of a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    /// `nlmsg_type`
    pub kind: u16,
    /// `nlmsg_seq`
    pub seq: u32,
    /// What follows the header, `nlmsg_len` bounding it.
    pub payload: &'a [u8],
}

/// A netlink socket of crust's network namespace, open for sock_diag requests.
pub struct SockDiag {
    socket: OwnedFd,
    seq: u32,
}

impl SockDiag {
    /// Open the netlink socket.
    pub fn open() -> Result<Self, DiagError> {
        let socket = socket::socket(
            AddressFamily::Netlink,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            SockProtocol::NetlinkSockDiag,
        )
        .map_err(DiagError::Open)?;
        Ok(Self { socket, seq: 0 })
    }

    /// Send `request` (a family's request struct) about one socket and return the payload of
    /// the record that answers it; `None` when the kernel knows no such socket.
    fn ask(&mut self, asked: Asked, request: &[u8]) -> Result<Option<Vec<u8>>, DiagError> {
        self.send(asked, request, NLM_F_REQUEST)?;
        let reply = self.receive(asked)?;
        let malformed = |BadReply(what)| DiagError::Malformed { asked, what };
        match answer(&reply, self.seq).map_err(malformed)? {
            Answer::Record(payload) => Ok(Some(payload.to_vec())),
            Answer::Error(Errno::ENOENT) => Ok(None),
            Answer::Error(source) => Err(DiagError::Kernel { asked, source }),
            Answer::Done => Err(malformed(BadReply("end of dump without a record"))),
        }
    }

    /// Send `request` as a dump and return the payload of every record, in order.
    fn dump(&mut self, asked: Asked, request: &[u8]) -> Result<Vec<Vec<u8>>, DiagError> {
        self.send(asked, request, NLM_F_REQUEST | NLM_F_DUMP)?;
        let malformed = |BadReply(what)| DiagError::Malformed { asked, what };
        let mut records = Vec::new();
        loop {
            let reply = self.receive(asked)?;
            for message in messages(&reply).map_err(malformed)? {
                if message.seq != self.seq {
                    continue;
                }
                match answer_of(&message).map_err(malformed)? {
                    Answer::Record(payload) => records.push(payload.to_vec()),
                    Answer::Done => return Ok(records),
                    Answer::Error(source) => return Err(DiagError::Kernel { asked, source }),
                }
            }
        }
    }

    fn send(&mut self, asked: Asked, request: &[u8], flags: u16) -> Result<(), DiagError> {
        self.seq = self.seq.wrapping_add(1);
        let message = frame(request, flags, self.seq);
        let sent = socket::send(self.socket.as_raw_fd(), &message, MsgFlags::empty())
            .map_err(|source| DiagError::Send { asked, source })?;
        if sent != message.len() {
            let source = Errno::EMSGSIZE;
            return Err(DiagError::Send { asked, source });
        }
        Ok(())
    }

    /// One part of a reply.
    fn receive(&mut self, asked: Asked) -> Result<Vec<u8>, DiagError> {
        let mut reply = vec![0u8; REPLY_BUFFER];
        let received = socket::recv(self.socket.as_raw_fd(), &mut reply, MsgFlags::MSG_TRUNC)
            .map_err(|source| DiagError::Receive { asked, source })?;
        if received > reply.len() {
            let what = "reply larger than the buffer";
            return Err(DiagError::Malformed { asked, what });
        }
        reply.truncate(received);
        Ok(reply)
    }
}

/// A request message: the netlink header, then `request`.
fn frame(request: &[u8], flags: u16, seq: u32) -> Vec<u8> {
    let len = NLMSG_HDRLEN + request.len();
    let mut message = Vec::with_capacity(len);
    // A request struct is a few dozen bytes, so the length always fits.
    message.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_ne_bytes());
    message.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    message.extend_from_slice(&flags.to_ne_bytes());
    message.extend_from_slice(&seq.to_ne_bytes());
    message.extend_from_slice(&0u32.to_ne_bytes());
    message.extend_from_slice(request);
    message
}

/// What the kernel answered to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer<'a> {
    /// A record's payload.
    Record(&'a [u8]),
    /// An error (`NLMSG_ERROR` with a negative errno).
    Error(Errno),
    /// The end of a dump.
    Done,
}

/// The answer to request `seq` in `reply`.
fn answer(reply: &[u8], seq: u32) -> Result<Answer<'_>, BadReply> {
    let messages = messages(reply)?;
    let message = messages
        .iter()
        .find(|message| message.seq == seq)
        .ok_or(BadReply("no message answers the request"))?;
    answer_of(message)
}

/// What one message of a reply says.
fn answer_of<'a>(message: &Message<'a>) -> Result<Answer<'a>, BadReply> {
    match message.kind {
        SOCK_DIAG_BY_FAMILY => Ok(Answer::Record(message.payload)),
        NLMSG_DONE => Ok(Answer::Done),
        NLMSG_ERROR => {
            let error = read_i32(message.payload, 0).ok_or(BadReply("short error message"))?;
            match error.checked_neg() {
                Some(errno) if errno > 0 => Ok(Answer::Error(Errno::from_raw(errno))),
                _ => Err(BadReply("error message without an error")),
            }
        }
        _ => Err(BadReply("unexpected message type")),
    }
}

/// Split a reply into its netlink messages.
pub fn messages(mut bytes: &[u8]) -> Result<Vec<Message<'_>>, BadReply> {
    let mut found = Vec::new();
    while !bytes.is_empty() {
        let len = read_u32(bytes, 0).ok_or(BadReply("short message header"))?;
        let len = usize::try_from(len).map_err(|_| BadReply("message length overflows"))?;
        if len < NLMSG_HDRLEN || len > bytes.len() {
            return Err(BadReply("message length out of bounds"));
        }
        found.push(Message {
            kind: read_u16(bytes, 4).ok_or(BadReply("short message header"))?,
            seq: read_u32(bytes, 8).ok_or(BadReply("short message header"))?,
            payload: bytes.get(NLMSG_HDRLEN..len).unwrap_or_default(),
        });
        bytes = bytes.get(align4(len)..).unwrap_or_default();
    }
    Ok(found)
}

/// Split the attributes that follow a record into `(type, payload)` pairs.
pub fn attributes(mut bytes: &[u8]) -> Result<Vec<(u16, &[u8])>, BadReply> {
    let mut found = Vec::new();
    while !bytes.is_empty() {
        let len = read_u16(bytes, 0).ok_or(BadReply("short attribute header"))?;
        let len = usize::from(len);
        if len < NLA_HDRLEN || len > bytes.len() {
            return Err(BadReply("attribute length out of bounds"));
        }
        let kind = read_u16(bytes, 2).ok_or(BadReply("short attribute header"))?;
        found.push((kind, bytes.get(NLA_HDRLEN..len).unwrap_or_default()));
        bytes = bytes.get(align4(len)..).unwrap_or_default();
    }
    Ok(found)
}

/// `NLMSG_ALIGN` / `NLA_ALIGN`: the next multiple of 4 (saturating: a length near `usize::MAX`
/// is beyond any buffer anyway).
fn align4(len: usize) -> usize {
    len.saturating_add(3) & !3
}

fn read_u16(bytes: &[u8], at: usize) -> Option<u16> {
    let field = bytes.get(at..at.checked_add(2)?)?;
    Some(u16::from_ne_bytes(field.try_into().ok()?))
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let field = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_ne_bytes(field.try_into().ok()?))
}

fn read_i32(bytes: &[u8], at: usize) -> Option<i32> {
    read_u32(bytes, at).map(|value| i32::from_ne_bytes(value.to_ne_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }

    /// The kernel's answer to a request (seq 7) about an inode it does not know: ENOENT, then
    /// the request echoed back.
    const NOT_FOUND: &str = "3c0000000200000007000000302f0000feffffff28000000140001000700000000\
        00000001000000ffffffffffc99a3b05000000ffffffffffffffff";

    #[test]
    fn unknown_inode_is_enoent() {
        let reply = hex(NOT_FOUND);
        assert_eq!(answer(&reply, 7), Ok(Answer::Error(Errno::ENOENT)));
        assert_eq!(
            answer(&reply, 8),
            Err(BadReply("no message answers the request"))
        );
    }

    #[test]
    fn lengths_are_checked() {
        let mut reply = hex(NOT_FOUND);
        reply[0] = 0x3d;
        assert_eq!(
            messages(&reply),
            Err(BadReply("message length out of bounds"))
        );
        reply[0] = 8;
        assert_eq!(
            messages(&reply),
            Err(BadReply("message length out of bounds"))
        );
        assert_eq!(messages(&reply[..3]), Err(BadReply("short message header")));
        assert_eq!(
            attributes(&[5, 0, 6, 0, 0]).unwrap(),
            vec![(6u16, &[0u8][..])]
        );
        assert_eq!(
            attributes(&[9, 0, 6, 0, 0]),
            Err(BadReply("attribute length out of bounds"))
        );
        assert_eq!(
            attributes(&[2, 0, 6, 0]),
            Err(BadReply("attribute length out of bounds"))
        );
    }

    #[test]
    fn request_frame() {
        let message = frame(&[1, 2, 3, 4], NLM_F_REQUEST, 9);
        assert_eq!(message.len(), 20);
        assert_eq!(&message[..4], &20u32.to_ne_bytes());
        assert_eq!(&message[4..6], &SOCK_DIAG_BY_FAMILY.to_ne_bytes());
        assert_eq!(&message[6..8], &1u16.to_ne_bytes());
        assert_eq!(&message[8..12], &9u32.to_ne_bytes());
        assert_eq!(&message[16..], &[1, 2, 3, 4]);
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_parse_or_fail_cleanly(bytes: Vec<u8>) {
            if let Ok(messages) = messages(&bytes) {
                for message in messages {
                    let _ = attributes(message.payload);
                }
            }
            let _ = answer(&bytes, 1);
        }
    }
}
