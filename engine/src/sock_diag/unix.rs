//! `UNIX_DIAG`: one unix socket by inode, its bound name and its peer.

use super::{attributes, read_u32, Asked, BadReply, DiagError, SockDiag};

/// `UDIAG_SHOW_NAME`: ask for the bound name.
const UDIAG_SHOW_NAME: u32 = 0x01;
/// `UDIAG_SHOW_PEER`: ask for the peer's inode.
const UDIAG_SHOW_PEER: u32 = 0x04;
/// `UDIAG_SHOW_ICONS`: ask a listener for the connections queued on it.
const UDIAG_SHOW_ICONS: u32 = 0x08;
/// `TCP_LISTEN`, the state of a listening unix socket too.
const TCP_LISTEN: u32 = 10;
/// `UNIX_DIAG_NAME`: the attribute holding `sun_path` (its length is the address length).
const UNIX_DIAG_NAME: u16 = 0;
/// `UNIX_DIAG_PEER`: the attribute holding the peer's inode (`u32`).
const UNIX_DIAG_PEER: u16 = 2;
/// `UNIX_DIAG_ICONS`: the attribute holding, for a listener, the inode of the socket at the
/// other end of each connection not accepted yet (`u32` each).
const UNIX_DIAG_ICONS: u16 = 3;
/// `sizeof(struct unix_diag_msg)`
const UNIX_DIAG_MSG_LEN: usize = 16;
/// `INET_DIAG_NOCOOKIE`: look the socket up by inode alone.
const NO_COOKIE: u32 = u32::MAX;

/// The name a unix socket is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnixName {
    /// A filesystem path.
    Path(Vec<u8>),
    /// An abstract name (without the leading NUL byte).
    Abstract(Vec<u8>),
}

impl std::fmt::Display for UnixName {
    /// A path as it is, an abstract name after `@` (as `ss` and `/proc/net/unix` show it).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Path(path) => f.write_str(&String::from_utf8_lossy(path)),
            Self::Abstract(name) => write!(f, "@{}", String::from_utf8_lossy(name)),
        }
    }
}

/// What the kernel says of one unix socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnixSocket {
    /// `udiag_ino`
    pub inode: u64,
    /// `udiag_type`: `SOCK_STREAM`, `SOCK_DGRAM` or `SOCK_SEQPACKET`.
    pub kind: u8,
    /// `udiag_state`: `TCP_ESTABLISHED`, `TCP_LISTEN`, ...
    pub state: u8,
    /// The bound name, if any.
    pub name: Option<UnixName>,
    /// The peer's inode when connected; 0 when the peer has no inode: it was closed, or it is
    /// a connection its listener has not accepted yet.
    pub peer: Option<u64>,
    /// For a listener asked with [`SockDiag::unix_listeners`]: the sockets whose connections
    /// wait on its queue, by inode.
    pub queued: Vec<u64>,
}

impl SockDiag {
    /// The unix socket with `inode`, with its name and peer; `None` when crust's network
    /// namespace has no such unix socket.
    pub fn unix_socket(&mut self, inode: u64) -> Result<Option<UnixSocket>, DiagError> {
        let asked = Asked::Socket(inode);
        let inode32 = u32::try_from(inode).map_err(|_| DiagError::InodeTooLarge { inode })?;
        let request = request(u32::MAX, inode32, UDIAG_SHOW_NAME | UDIAG_SHOW_PEER);
        let Some(record) = self.ask(asked, &request)? else {
            return Ok(None);
        };
        let malformed = |BadReply(what)| DiagError::Malformed { asked, what };
        parse_record(&record).map(Some).map_err(malformed)
    }

    /// Every listening unix socket of crust's network namespace, with its name and the
    /// connections queued on it.
    pub fn unix_listeners(&mut self) -> Result<Vec<UnixSocket>, DiagError> {
        let asked = Asked::UnixListeners;
        let request = request(1 << TCP_LISTEN, 0, UDIAG_SHOW_NAME | UDIAG_SHOW_ICONS);
        let malformed = |BadReply(what)| DiagError::Malformed { asked, what };
        let records = self.dump(asked, &request)?;
        records
            .iter()
            .map(|record| parse_record(record).map_err(malformed))
            .collect()
    }
}

/// `struct unix_diag_req`: sockets in `states` (a bit per state), or the one with `inode`,
/// with the attributes `show` asks for.
fn request(states: u32, inode: u32, show: u32) -> Vec<u8> {
    // AF_UNIX is 1: it fits the byte of `sdiag_family`.
    let mut request = vec![libc::AF_UNIX as u8, 0, 0, 0];
    for field in [states, inode, show, NO_COOKIE, NO_COOKIE] {
        request.extend_from_slice(&field.to_ne_bytes());
    }
    request
}

/// Parse a record: `struct unix_diag_msg`, then its attributes.
pub fn parse_record(record: &[u8]) -> Result<UnixSocket, BadReply> {
    let header = record
        .get(..UNIX_DIAG_MSG_LEN)
        .ok_or(BadReply("short unix_diag_msg"))?;
    let family = i32::from(header[0]);
    if family != libc::AF_UNIX {
        return Err(BadReply("record is not of an AF_UNIX socket"));
    }
    let mut socket = UnixSocket {
        inode: read_u32(header, 4)
            .map(u64::from)
            .ok_or(BadReply("short unix_diag_msg"))?,
        kind: header[1],
        state: header[2],
        name: None,
        peer: None,
        queued: Vec::new(),
    };
    for (kind, payload) in attributes(record.get(UNIX_DIAG_MSG_LEN..).unwrap_or_default())? {
        match kind {
            UNIX_DIAG_NAME => socket.name = parse_name(payload),
            UNIX_DIAG_PEER => {
                let peer = read_u32(payload, 0).ok_or(BadReply("short UNIX_DIAG_PEER"))?;
                socket.peer = Some(u64::from(peer));
            }
            UNIX_DIAG_ICONS => socket.queued = parse_icons(payload)?,
            _ => {}
        }
    }
    Ok(socket)
}

/// The inodes of `UNIX_DIAG_ICONS`: a whole number of `u32`.
fn parse_icons(payload: &[u8]) -> Result<Vec<u64>, BadReply> {
    let chunks = payload.chunks_exact(4);
    if !chunks.remainder().is_empty() {
        return Err(BadReply("UNIX_DIAG_ICONS is not a whole number of inodes"));
    }
    Ok(chunks
        .filter_map(|chunk| chunk.try_into().ok())
        .map(|bytes| u64::from(u32::from_ne_bytes(bytes)))
        .collect())
}

/// `sun_path` as bound: abstract when it starts with a NUL byte; a path otherwise, with the
/// terminating NUL the kernel counts in the address length dropped.
fn parse_name(sun_path: &[u8]) -> Option<UnixName> {
    match sun_path.split_first() {
        None => None,
        Some((0, name)) => Some(UnixName::Abstract(name.to_vec())),
        Some(_) => {
            let end = sun_path
                .iter()
                .position(|b| *b == 0)
                .unwrap_or(sun_path.len());
            Some(UnixName::Path(sun_path[..end].to_vec()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{answer, Answer};
    use super::*;

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }

    fn record(reply: &str) -> UnixSocket {
        let reply = hex(reply);
        let Ok(Answer::Record(payload)) = answer(&reply, 7) else {
            panic!("no record in {reply:?}");
        };
        parse_record(payload).unwrap()
    }

    // Replies captured from Linux 6.18 to requests with seq 7 and UDIAG_SHOW_NAME |
    // UDIAG_SHOW_PEER; every record also carries UNIX_DIAG_SHUTDOWN (type 6), unasked.

    #[test]
    fn socketpair_end_has_a_peer_and_no_name() {
        let socket = record(
            "300000001400000007000000302f000001010100714b04000100000000000000\
             08000200724b04000500060000000000",
        );
        assert_eq!(socket.inode, 281457);
        assert_eq!((socket.kind, socket.state), (1, 1));
        assert_eq!(socket.name, None);
        assert_eq!(socket.peer, Some(281458));
    }

    #[test]
    fn accepted_socket_carries_the_listeners_path() {
        let socket = record(
            "440000001400000007000000302f000001010100774b0400030000000000000012000000\
             2f746d702f6831302f736f636b00000008000200754b04000500060000000000",
        );
        assert_eq!(socket.name, Some(UnixName::Path(b"/tmp/h10/sock".to_vec())));
        assert_eq!(socket.name.unwrap().to_string(), "/tmp/h10/sock");
        assert_eq!(socket.peer, Some(281461));
    }

    #[test]
    fn abstract_name_is_shown_with_an_at() {
        let socket = record(
            "400000001400000007000000302f0000010101007c4b04000400000000000000\
             0e0000000063727573742d6831300000080002007b4b04000500060000000000",
        );
        assert_eq!(socket.name.unwrap().to_string(), "@crust-h10");
        assert_eq!(socket.peer, Some(281467));
    }

    #[test]
    fn unaccepted_connection_has_peer_zero() {
        let socket = record(
            "300000001400000007000000302f000001010100754b04000200000000000000\
             08000200000000000500060000000000",
        );
        assert_eq!(socket.peer, Some(0));
    }

    #[test]
    fn unconnected_socket_has_no_peer() {
        let socket = record(
            "280000001400000007000000302f0000010207007f4b04000500000000000000\
             0500060000000000",
        );
        assert_eq!((socket.kind, socket.state), (2, 7));
        assert_eq!(socket.peer, None);
    }

    #[test]
    fn listener_lists_its_queued_connections() {
        let reply = hex(
            "3c0000001400020007000000be57000001010a006796040005100000000000000a000000\
             006831302d6c000008000300689604000500060000000000",
        );
        let Ok(Answer::Record(payload)) = answer(&reply, 7) else {
            panic!("no record");
        };
        let listener = parse_record(payload).unwrap();
        assert_eq!((listener.inode, listener.state), (300647, 10));
        assert_eq!(listener.name.unwrap().to_string(), "@h10-l");
        assert_eq!(listener.queued, vec![300648]);
        let done = hex("140000000300020007000000be57000000000000");
        assert_eq!(answer(&done, 7), Ok(Answer::Done));
        assert_eq!(
            parse_icons(&[1, 0, 0, 0, 2]),
            Err(BadReply("UNIX_DIAG_ICONS is not a whole number of inodes"))
        );
    }

    #[test]
    fn short_and_foreign_records_are_refused() {
        assert_eq!(parse_record(&[1; 8]), Err(BadReply("short unix_diag_msg")));
        let mut inet = vec![0u8; 16];
        inet[0] = 2;
        assert_eq!(
            parse_record(&inet),
            Err(BadReply("record is not of an AF_UNIX socket"))
        );
        let mut short_peer = vec![1u8, 1, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        short_peer.extend_from_slice(&[6, 0, 2, 0, 1, 2]);
        assert_eq!(
            parse_record(&short_peer),
            Err(BadReply("short UNIX_DIAG_PEER"))
        );
    }

    #[test]
    fn request_layout() {
        let asked = request(u32::MAX, 0x1234, UDIAG_SHOW_NAME | UDIAG_SHOW_PEER);
        assert_eq!(asked.len(), 24);
        assert_eq!(asked[0], 1);
        assert_eq!(&asked[4..8], &u32::MAX.to_ne_bytes());
        assert_eq!(&asked[8..12], &0x1234u32.to_ne_bytes());
        assert_eq!(&asked[12..16], &5u32.to_ne_bytes());
        assert_eq!(&asked[16..24], &[0xff; 8]);
    }

    proptest::proptest! {
        #[test]
        fn any_record_parses_or_fails_cleanly(bytes: Vec<u8>) {
            let _ = parse_record(&bytes);
        }
    }
}
