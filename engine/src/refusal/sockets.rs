//! Refusals about sockets. Every socket is refused; a connected unix socket is told by its
//! peer: the name the peer is bound to (sock_diag) and the processes holding it (a scan of
//! `/proc/*/fd`), so that a user sees what the process talks to (an X server, a daemon).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::os::fd::RawFd;

use nix::unistd::Pid;

use super::files::{socket_what, OpenFd};
use super::{Findings, Reason, Resource};
use crate::proc::fd::FdKind;
use crate::proc::holders::{socket_holders, Holder};
use crate::proc::socket::{socket_family, SocketFamily};
use crate::sock_diag::{SockDiag, UnixName, UnixSocket};

/// The other end of a connected unix socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnixPeer {
    /// The peer socket, by its bound name (`@` first when abstract), and who holds it.
    Socket {
        name: Option<String>,
        holders: PeerHolders,
    },
    /// The connection waits on a listener's queue (the peer has no inode until accepted): the
    /// listener, by its name, and who holds it.
    Unaccepted {
        name: Option<String>,
        holders: PeerHolders,
    },
    /// The peer has no inode and waits on no listener crust can see: it was closed (or the
    /// listener lives in another network namespace).
    Gone,
}

/// Who holds the peer of a unix socket.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerHolders {
    /// The fds of the checked process itself that hold it.
    pub this: Vec<RawFd>,
    /// Other processes that hold it.
    pub others: Vec<Pid>,
}

impl fmt::Display for UnixPeer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Socket { name, holders } => {
                let name = name.as_deref().unwrap_or("an unnamed socket");
                write!(f, "connected to {name} held by {holders}")
            }
            Self::Unaccepted { name, holders } => {
                let name = name.as_deref().unwrap_or("an unnamed socket");
                write!(
                    f,
                    "connected to {name} held by {holders} (not accepted yet)"
                )
            }
            Self::Gone => {
                f.write_str("connected to a socket that was closed or that crust cannot see")
            }
        }
    }
}

impl fmt::Display for PeerHolders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        match self.this.as_slice() {
            [] => {}
            [fd] => parts.push(format!("this process (fd {fd})")),
            fds => {
                let fds: Vec<String> = fds.iter().map(RawFd::to_string).collect();
                parts.push(format!("this process (fds {})", fds.join(", ")));
            }
        }
        parts.extend(self.others.iter().map(|pid| format!("pid {pid}")));
        match parts.split_last() {
            None => f.write_str("no process crust can see"),
            Some((last, [])) => f.write_str(last),
            Some((last, rest)) => write!(f, "{} and {last}", rest.join(", ")),
        }
    }
}

/// A socket fd as first judged: its family and, for a connected unix socket, its peer's inode.
struct Judged {
    fd: RawFd,
    inode: u64,
    link: String,
    family: Option<SocketFamily>,
    peer: Option<u64>,
}

/// Check every socket of `pid`.
pub(super) fn check_sockets(pid: Pid, open: &[OpenFd], found: &mut Findings) {
    let mut diag = None;
    let mut judged = Vec::new();
    for fd in open {
        let FdKind::Socket { inode } = fd.kind else {
            continue;
        };
        let family = socket_family(pid, fd.link.fd, inode).ok();
        let peer = match family {
            Some(SocketFamily::UNIX) => peer_inode(&mut diag, inode),
            _ => None,
        };
        let link = fd.link.target.clone();
        let fd = fd.link.fd;
        judged.push(Judged {
            fd,
            inode,
            link,
            family,
            peer,
        });
    }
    if judged.is_empty() {
        return;
    }

    let listeners = if judged.iter().any(|s| s.peer == Some(0)) {
        queued_on(&mut diag)
    } else {
        BTreeMap::new()
    };
    let mut peers: BTreeSet<u64> = judged
        .iter()
        .filter_map(|s| s.peer)
        .filter(|p| *p != 0)
        .collect();
    peers.extend(listeners.values().map(|listener| listener.inode));
    let holders = socket_holders(&peers);
    let holders_of =
        |inode: u64| split_holders(pid, holders.get(&inode).map_or(&[], Vec::as_slice));

    for socket in judged {
        let Some(peer) = socket.peer else {
            let what = socket_what(socket.family, &socket.link);
            found.add(
                Resource::Fd(socket.fd, what),
                Reason::Socket {
                    family: socket.family,
                },
            );
            continue;
        };
        let peer = match (peer, listeners.get(&socket.inode)) {
            (0, Some(listener)) => UnixPeer::Unaccepted {
                name: listener.name.as_ref().map(UnixName::to_string),
                holders: holders_of(listener.inode),
            },
            (0, None) => UnixPeer::Gone,
            (peer, _) => UnixPeer::Socket {
                name: peer_name(&mut diag, peer),
                holders: holders_of(peer),
            },
        };
        let what = format!("a unix socket (socket:[{}])", socket.inode);
        found.add(Resource::Fd(socket.fd, what), Reason::UnixPeer(peer));
    }
}

/// The listener each connection not accepted yet waits on, by the connecting socket's inode.
fn queued_on(diag: &mut Option<SockDiag>) -> BTreeMap<u64, UnixSocket> {
    let Some(diag) = diag_socket(diag) else {
        return BTreeMap::new();
    };
    let listeners = diag.unix_listeners().unwrap_or_else(|error| {
        log::debug!("unaccepted unix connections not found: {error}");
        Vec::new()
    });
    let mut queued = BTreeMap::new();
    for listener in listeners {
        for inode in &listener.queued {
            queued.insert(*inode, listener.clone());
        }
    }
    queued
}

/// The sock_diag socket, opened on first use; `None` (logged) when it cannot be opened.
fn diag_socket(diag: &mut Option<SockDiag>) -> Option<&mut SockDiag> {
    if diag.is_none() {
        match SockDiag::open() {
            Ok(opened) => *diag = Some(opened),
            Err(error) => log::debug!("no unix socket peers: {error}"),
        }
    }
    diag.as_mut()
}

/// The peer inode of the unix socket `inode`, if it is connected and sock_diag can see it (it
/// cannot when the socket lives in another network namespace).
fn peer_inode(diag: &mut Option<SockDiag>, inode: u64) -> Option<u64> {
    match diag_socket(diag)?.unix_socket(inode) {
        Ok(socket) => socket?.peer,
        Err(error) => {
            log::debug!("unix socket peer not found: {error}");
            None
        }
    }
}

/// The name the peer socket `inode` is bound to, if any.
fn peer_name(diag: &mut Option<SockDiag>, inode: u64) -> Option<String> {
    match diag_socket(diag)?.unix_socket(inode) {
        Ok(socket) => Some(socket?.name?.to_string()),
        Err(error) => {
            log::debug!("unix socket peer name not found: {error}");
            None
        }
    }
}

/// The holders of a peer, split into the checked process's own fds and other processes.
fn split_holders(pid: Pid, found: &[Holder]) -> PeerHolders {
    let mut holders = PeerHolders::default();
    for holder in found {
        if holder.pid == pid {
            holders.this.push(holder.fd);
        } else if !holders.others.contains(&holder.pid) {
            holders.others.push(holder.pid);
        }
    }
    holders
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pids(raw: &[i32]) -> Vec<Pid> {
        raw.iter().copied().map(Pid::from_raw).collect()
    }

    #[test]
    fn peer_descriptions() {
        let x11 = UnixPeer::Socket {
            name: Some("/tmp/.X11-unix/X0".into()),
            holders: PeerHolders {
                this: vec![],
                others: pids(&[812]),
            },
        };
        assert_eq!(
            x11.to_string(),
            "connected to /tmp/.X11-unix/X0 held by pid 812"
        );
        let pair = UnixPeer::Socket {
            name: None,
            holders: PeerHolders {
                this: vec![4],
                others: vec![],
            },
        };
        assert_eq!(
            pair.to_string(),
            "connected to an unnamed socket held by this process (fd 4)"
        );
        let lost = UnixPeer::Socket {
            name: Some("@bus".into()),
            holders: PeerHolders::default(),
        };
        assert_eq!(
            lost.to_string(),
            "connected to @bus held by no process crust can see"
        );
        let queued = UnixPeer::Unaccepted {
            name: Some("/run/x".into()),
            holders: PeerHolders {
                this: vec![],
                others: pids(&[3]),
            },
        };
        assert_eq!(
            queued.to_string(),
            "connected to /run/x held by pid 3 (not accepted yet)"
        );
        assert_eq!(
            UnixPeer::Gone.to_string(),
            "connected to a socket that was closed or that crust cannot see"
        );
    }

    #[test]
    fn several_holders_are_listed() {
        let holders = PeerHolders {
            this: vec![4, 7],
            others: pids(&[10, 11]),
        };
        assert_eq!(
            holders.to_string(),
            "this process (fds 4, 7), pid 10 and pid 11"
        );
    }

    #[test]
    fn holders_split_by_process() {
        let me = Pid::from_raw(5);
        let found = [
            Holder { pid: me, fd: 3 },
            Holder {
                pid: Pid::from_raw(9),
                fd: 4,
            },
            Holder {
                pid: Pid::from_raw(9),
                fd: 6,
            },
        ];
        assert_eq!(
            split_holders(me, &found),
            PeerHolders {
                this: vec![3],
                others: pids(&[9]),
            }
        );
    }
}
