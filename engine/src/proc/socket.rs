//! The family of a task's socket, by name.
//!
//! The family is asked of the socket itself: crust takes a copy of the task's fd with
//! `pidfd_getfd` (which leaves the task untouched) and reads `SO_DOMAIN`. When that is not
//! allowed, the socket's inode is looked up in the tables of `/proc/PID/net`, which know the
//! common families only.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::unistd::Pid;

use super::{read_text, ProcError};

/// A socket address family (`AF_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SocketFamily(pub i32);

const FAMILY_NAMES: &[&str] = &[
    "AF_UNSPEC",
    "AF_UNIX",
    "AF_INET",
    "AF_AX25",
    "AF_IPX",
    "AF_APPLETALK",
    "AF_NETROM",
    "AF_BRIDGE",
    "AF_ATMPVC",
    "AF_X25",
    "AF_INET6",
    "AF_ROSE",
    "AF_DECnet",
    "AF_NETBEUI",
    "AF_SECURITY",
    "AF_KEY",
    "AF_NETLINK",
    "AF_PACKET",
    "AF_ASH",
    "AF_ECONET",
    "AF_ATMSVC",
    "AF_RDS",
    "AF_SNA",
    "AF_IRDA",
    "AF_PPPOX",
    "AF_WANPIPE",
    "AF_LLC",
    "AF_IB",
    "AF_MPLS",
    "AF_CAN",
    "AF_TIPC",
    "AF_BLUETOOTH",
    "AF_IUCV",
    "AF_RXRPC",
    "AF_ISDN",
    "AF_PHONET",
    "AF_IEEE802154",
    "AF_CAIF",
    "AF_ALG",
    "AF_NFC",
    "AF_VSOCK",
    "AF_KCM",
    "AF_QIPCRTR",
    "AF_SMC",
    "AF_XDP",
    "AF_MCTP",
];

impl SocketFamily {
    /// `AF_UNIX`
    pub const UNIX: Self = Self(libc::AF_UNIX);
    /// `AF_INET`
    pub const INET: Self = Self(libc::AF_INET);
    /// `AF_INET6`
    pub const INET6: Self = Self(libc::AF_INET6);
    /// `AF_NETLINK`
    pub const NETLINK: Self = Self(libc::AF_NETLINK);
    /// `AF_PACKET`
    pub const PACKET: Self = Self(libc::AF_PACKET);
    /// `AF_VSOCK`
    pub const VSOCK: Self = Self(libc::AF_VSOCK);
}

impl std::fmt::Display for SocketFamily {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = usize::try_from(self.0)
            .ok()
            .and_then(|i| FAMILY_NAMES.get(i));
        match name {
            Some(name) => f.write_str(name),
            None => write!(f, "address family {}", self.0),
        }
    }
}

/// The family of the socket at `fd` of `pid`.
pub fn socket_family(pid: Pid, fd: RawFd, inode: u64) -> Result<SocketFamily, ProcError> {
    match family_from_socket(pid, fd) {
        Ok(family) => Ok(family),
        Err(first) => match family_from_net_tables(pid, inode)? {
            Some(family) => Ok(family),
            None => Err(first),
        },
    }
}

fn family_from_socket(pid: Pid, fd: RawFd) -> Result<SocketFamily, ProcError> {
    let copy = pidfd_getfd(pid, fd)?;
    let mut domain: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `copy` is an open fd owned here; `domain` and `len` are valid for writes and `len`
    // holds the size of `domain`, which bounds what the kernel writes.
    let rc = unsafe {
        libc::getsockopt(
            copy.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_DOMAIN,
            (&mut domain as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(ProcError::SocketDomain {
            pid,
            fd,
            source: Errno::last(),
        });
    }
    Ok(SocketFamily(domain))
}

/// A copy, in crust, of fd `fd` of `pid` (`pidfd_open` + `pidfd_getfd`).
pub fn pidfd_getfd(pid: Pid, fd: RawFd) -> Result<OwnedFd, ProcError> {
    let getfd = |source| ProcError::GetFd { pid, fd, source };
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1; no memory is passed.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
    let pidfd = RawFd::try_from(pidfd).map_err(|_| getfd(Errno::EBADF))?;
    if pidfd < 0 {
        return Err(getfd(Errno::last()));
    }
    // SAFETY: `pidfd` was just returned by pidfd_open and nothing else owns it.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
    // SAFETY: pidfd_getfd takes a pidfd, an fd number and flags; no memory is passed.
    let copy = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0) };
    let copy = RawFd::try_from(copy).map_err(|_| getfd(Errno::EBADF))?;
    if copy < 0 {
        return Err(getfd(Errno::last()));
    }
    // SAFETY: `copy` was just returned by pidfd_getfd and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(copy) })
}

/// Where each family's sockets are listed under `/proc/PID/net`, and the inode column.
const NET_TABLES: &[(&str, SocketFamily, usize)] = &[
    ("unix", SocketFamily::UNIX, 6),
    ("tcp", SocketFamily::INET, 9),
    ("udp", SocketFamily::INET, 9),
    ("raw", SocketFamily::INET, 9),
    ("tcp6", SocketFamily::INET6, 9),
    ("udp6", SocketFamily::INET6, 9),
    ("raw6", SocketFamily::INET6, 9),
    ("packet", SocketFamily::PACKET, 8),
    ("netlink", SocketFamily::NETLINK, 9),
];

fn family_from_net_tables(pid: Pid, inode: u64) -> Result<Option<SocketFamily>, ProcError> {
    for (table, family, column) in NET_TABLES {
        let Ok((_, text)) = read_text(pid, &format!("net/{table}")) else {
            continue;
        };
        if table_has_inode(&text, *column, inode) {
            return Ok(Some(*family));
        }
    }
    Ok(None)
}

/// Whether a `/proc/net` table (header line first) lists `inode` in `column`.
pub fn table_has_inode(text: &str, column: usize, inode: u64) -> bool {
    text.lines()
        .skip(1)
        .filter_map(|line| line.split_whitespace().nth(column))
        .any(|field| field.parse() == Ok(inode))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(SocketFamily::INET6.to_string(), "AF_INET6");
        assert_eq!(SocketFamily::VSOCK.to_string(), "AF_VSOCK");
        assert_eq!(SocketFamily(99).to_string(), "address family 99");
    }

    #[test]
    fn unix_table_lookup() {
        let text = "Num       RefCount Protocol Flags    Type St Inode Path\n\
                    000000008f5fce94: 00000003 00000000 00000000 0001 03    52\n\
                    00000000a41345e1: 00000002 00000000 00000000 0002 01 12482 /run/x\n";
        assert!(table_has_inode(text, 6, 12482));
        assert!(!table_has_inode(text, 6, 1248));
    }

    #[test]
    fn own_socketpair_is_unix() {
        let (a, _b) = nix::sys::socket::socketpair(
            nix::sys::socket::AddressFamily::Unix,
            nix::sys::socket::SockType::Stream,
            None,
            nix::sys::socket::SockFlag::empty(),
        )
        .unwrap();
        let me = nix::unistd::getpid();
        assert_eq!(
            socket_family(me, a.as_raw_fd(), 0).unwrap(),
            SocketFamily::UNIX
        );
    }
}
