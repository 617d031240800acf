//! The control socket between the host and the parasite.
//!
//! The host listens on an abstract `AF_UNIX` `SOCK_SEQPACKET` address with a
//! random suffix; the victim connects to it with remote `socket()` and
//! `connect()` calls before the parasite starts. Abstract addresses belong to
//! a network namespace, so for a victim in another one the listening socket is
//! made by a short-lived thread that entered the victim's namespace first.
//! The peer's credentials are checked on accept: only the victim may connect.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::MetadataExt;

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sched::CloneFlags;
use nix::sys::socket::{
    self, sockopt, AddressFamily, Backlog, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag,
    SockType, UnixAddr,
};
use nix::unistd::Pid;

use super::protocol::{Command, Reply, MAX_FDS_PER_MESSAGE};
use super::shared::Pod;

/// How long the host waits for the victim's connection.
const ACCEPT_TIMEOUT_MS: u16 = 5000;

/// Errors of the control socket.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// A socket call failed in the host.
    #[error("control socket for pid {pid}: {call} failed: {errno}")]
    Socket {
        /// The victim.
        pid: Pid,
        /// The failing call.
        call: &'static str,
        /// The kernel's error.
        errno: Errno,
    },
    /// The victim's network namespace could not be entered.
    #[error("cannot enter the network namespace of pid {pid}: {source}")]
    Netns {
        /// The victim.
        pid: Pid,
        /// The error.
        source: std::io::Error,
    },
    /// The victim did not connect in time.
    #[error("pid {pid} did not connect to the control socket within {ACCEPT_TIMEOUT_MS} ms")]
    AcceptTimeout {
        /// The victim.
        pid: Pid,
    },
    /// Something other than the victim connected.
    #[error("control socket for pid {pid}: peer is pid {peer}, not the victim")]
    WrongPeer {
        /// The victim.
        pid: Pid,
        /// Who connected.
        peer: i32,
    },
    /// A reply of the wrong size came.
    #[error("pid {pid}: reply of {len} bytes, expected {expected}")]
    BadReply {
        /// The victim.
        pid: Pid,
        /// Bytes received.
        len: usize,
        /// Size of a Reply.
        expected: usize,
    },
}

/// The host's listening socket, before the victim connects.
#[derive(Debug)]
pub struct Listener {
    pid: Pid,
    fd: OwnedFd,
    name: Vec<u8>,
}

impl Listener {
    /// Listens on a fresh abstract address in the victim's network namespace.
    pub fn new(pid: Pid) -> Result<Self, ControlError> {
        let name = format!("crust-compel-{pid}-{:016x}", random_u64()).into_bytes();
        let fd = if same_netns(pid)? {
            listen_on(pid, &name)?
        } else {
            listen_in_netns_of(pid, &name)?
        };
        Ok(Listener { pid, fd, name })
    }

    /// The `struct sockaddr_un` to connect to, as bytes for the victim's memory.
    pub fn sockaddr(&self) -> Vec<u8> {
        let mut bytes = (libc::AF_UNIX as u16).to_ne_bytes().to_vec();
        bytes.push(0);
        bytes.extend_from_slice(&self.name);
        bytes
    }

    /// Accepts the victim's connection and checks it comes from the victim.
    pub fn accept(&self) -> Result<ControlSocket, ControlError> {
        let pid = self.pid;
        let mut fds = [PollFd::new(self.fd.as_fd(), PollFlags::POLLIN)];
        let ready =
            nix::poll::poll(&mut fds, PollTimeout::from(ACCEPT_TIMEOUT_MS)).map_err(|errno| {
                ControlError::Socket {
                    pid,
                    call: "poll",
                    errno,
                }
            })?;
        if ready == 0 {
            return Err(ControlError::AcceptTimeout { pid });
        }
        let raw =
            socket::accept4(self.fd.as_raw_fd(), SockFlag::SOCK_CLOEXEC).map_err(|errno| {
                ControlError::Socket {
                    pid,
                    call: "accept4",
                    errno,
                }
            })?;
        // SAFETY: accept4 just returned this descriptor and nothing else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let peer = socket::getsockopt(&fd, sockopt::PeerCredentials).map_err(|errno| {
            ControlError::Socket {
                pid,
                call: "SO_PEERCRED",
                errno,
            }
        })?;
        if peer.pid() != pid.as_raw() {
            return Err(ControlError::WrongPeer {
                pid,
                peer: peer.pid(),
            });
        }
        Ok(ControlSocket { pid, fd })
    }
}

fn listen_on(pid: Pid, name: &[u8]) -> Result<OwnedFd, ControlError> {
    let error = |call| move |errno| ControlError::Socket { pid, call, errno };
    let fd = socket::socket(
        AddressFamily::Unix,
        SockType::SeqPacket,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(error("socket"))?;
    let addr = UnixAddr::new_abstract(name).map_err(error("sockaddr"))?;
    socket::bind(fd.as_raw_fd(), &addr).map_err(error("bind"))?;
    socket::listen(&fd, Backlog::new(1).map_err(error("listen"))?).map_err(error("listen"))?;
    Ok(fd)
}

/// Makes the listening socket from a thread that entered the victim's
/// network namespace; the socket stays in that namespace after the thread ends.
fn listen_in_netns_of(pid: Pid, name: &[u8]) -> Result<OwnedFd, ControlError> {
    let netns = std::fs::File::open(format!("/proc/{pid}/ns/net"))
        .map_err(|source| ControlError::Netns { pid, source })?;
    let joined = std::thread::scope(|scope| {
        scope
            .spawn(|| {
                nix::sched::setns(&netns, CloneFlags::CLONE_NEWNET).map_err(|errno| {
                    ControlError::Netns {
                        pid,
                        source: std::io::Error::from(errno),
                    }
                })?;
                listen_on(pid, name)
            })
            .join()
    });
    joined.unwrap_or_else(|_| {
        let source = std::io::Error::other("netns thread panicked");
        Err(ControlError::Netns { pid, source })
    })
}

fn same_netns(pid: Pid) -> Result<bool, ControlError> {
    let inode = |path: String| {
        std::fs::metadata(path)
            .map(|meta| (meta.dev(), meta.ino()))
            .map_err(|source| ControlError::Netns { pid, source })
    };
    Ok(inode(format!("/proc/{pid}/ns/net"))? == inode("/proc/self/ns/net".into())?)
}

fn random_u64() -> u64 {
    let mut bytes = [0u8; 8];
    // SAFETY: getrandom writes at most `bytes.len()` bytes into `bytes`.
    let got = unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), 0) };
    if got != 8 {
        // Uniqueness, not secrecy, is needed (the peer is checked on accept).
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
        return now.map(|d| d.as_nanos() as u64).unwrap_or(0) ^ u64::from(std::process::id());
    }
    u64::from_ne_bytes(bytes)
}

/// The host's connected end of the control socket.
#[derive(Debug)]
pub struct ControlSocket {
    pid: Pid,
    fd: OwnedFd,
}

impl ControlSocket {
    /// The socket, for polling.
    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Sends one command, with one fd attached if given.
    pub fn send(&self, command: &Command, fd: Option<BorrowedFd<'_>>) -> Result<(), ControlError> {
        let bytes = pod_bytes(command);
        let iov = [IoSlice::new(bytes)];
        let raw: [RawFd; 1] = [fd.map_or(-1, |fd| fd.as_raw_fd())];
        let rights = [ControlMessage::ScmRights(&raw)];
        let cmsgs: &[ControlMessage] = if fd.is_some() { &rights } else { &[] };
        let flags = MsgFlags::MSG_NOSIGNAL;
        socket::sendmsg::<()>(self.fd.as_raw_fd(), &iov, cmsgs, flags, None).map_err(|errno| {
            ControlError::Socket {
                pid: self.pid,
                call: "sendmsg",
                errno,
            }
        })?;
        Ok(())
    }

    /// Receives one reply and the fds that came with it; `None` at EOF.
    /// Blocks: poll [`ControlSocket::as_fd`] first.
    pub fn recv(&self, fds: &mut Vec<OwnedFd>) -> Result<Option<Reply>, ControlError> {
        let pid = self.pid;
        let mut reply = Reply::default();
        let mut space = nix::cmsg_space!([RawFd; MAX_FDS_PER_MESSAGE]);
        let (len, received) = {
            let mut iov = [IoSliceMut::new(pod_bytes_mut(&mut reply))];
            let flags = MsgFlags::MSG_CMSG_CLOEXEC;
            let msg = loop {
                match socket::recvmsg::<()>(self.fd.as_raw_fd(), &mut iov, Some(&mut space), flags)
                {
                    Err(Errno::EINTR) => continue,
                    other => break other,
                }
            }
            .map_err(|errno| ControlError::Socket {
                pid,
                call: "recvmsg",
                errno,
            })?;
            let mut received = Vec::new();
            let cmsgs = msg.cmsgs().map_err(|errno| ControlError::Socket {
                pid,
                call: "recvmsg",
                errno,
            })?;
            for cmsg in cmsgs {
                if let ControlMessageOwned::ScmRights(raw) = cmsg {
                    received.extend(raw);
                }
            }
            (msg.bytes, received)
        };
        for raw in received {
            // SAFETY: SCM_RIGHTS just installed this descriptor in the host
            // and nothing else owns it.
            fds.push(unsafe { OwnedFd::from_raw_fd(raw) });
        }
        match len {
            0 => Ok(None),
            len if len == size_of::<Reply>() => Ok(Some(reply)),
            len => Err(ControlError::BadReply {
                pid,
                len,
                expected: size_of::<Reply>(),
            }),
        }
    }
}

fn pod_bytes<T: Pod>(value: &T) -> &[u8] {
    // SAFETY: `T: Pod` is padding-free, so every byte is initialized; the
    // slice borrows `value`.
    unsafe { std::slice::from_raw_parts((value as *const T).cast::<u8>(), size_of::<T>()) }
}

fn pod_bytes_mut<T: Pod>(value: &mut T) -> &mut [u8] {
    // SAFETY: `T: Pod` accepts any bit pattern, so writing bytes keeps it
    // valid; the slice borrows `value` mutably.
    unsafe { std::slice::from_raw_parts_mut((value as *mut T).cast::<u8>(), size_of::<T>()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockaddr_is_family_then_nul_then_name() {
        let listener = Listener::new(nix::unistd::getpid()).expect("listen");
        let addr = listener.sockaddr();
        assert_eq!(&addr[..2], &(libc::AF_UNIX as u16).to_ne_bytes());
        assert_eq!(addr[2], 0);
        assert!(addr[3..].starts_with(b"crust-compel-"));
    }
}
