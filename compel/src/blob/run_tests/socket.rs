//! The test's side of the control socket.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::infect::protocol::{Command, CommandKind, Reply};

const SEQPACKET_CLOEXEC: i32 = libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC;

/// A connected pair: the test's end (with a 10 s receive timeout, so a
/// silent parasite fails the test instead of hanging it) and the victim's.
pub(super) fn seqpacket_pair() -> (OwnedFd, OwnedFd) {
    let mut sv = [-1; 2];
    // SAFETY: socketpair writes two fds into sv.
    let rc = unsafe { libc::socketpair(libc::AF_UNIX, SEQPACKET_CLOEXEC, 0, sv.as_mut_ptr()) };
    assert_eq!(rc, 0);
    let timeout = libc::timeval {
        tv_sec: 10,
        tv_usec: 0,
    };
    let len = size_of::<libc::timeval>() as libc::socklen_t;
    let opt = libc::SO_RCVTIMEO;
    // SAFETY: sets a receive timeout on our own socket from a timeval.
    let rc = unsafe {
        libc::setsockopt(
            sv[0],
            libc::SOL_SOCKET,
            opt,
            (&timeout as *const libc::timeval).cast(),
            len,
        )
    };
    assert_eq!(rc, 0);
    // SAFETY: both fds are fresh and owned by nobody else.
    unsafe { (OwnedFd::from_raw_fd(sv[0]), OwnedFd::from_raw_fd(sv[1])) }
}

/// Sends a command, with `fd` attached if given.
pub(super) fn send(sock: &OwnedFd, command: Command, fd: Option<i32>) {
    let mut space = [0u64; 4];
    let mut iov = libc::iovec {
        iov_base: &command as *const _ as *mut _,
        iov_len: 16,
    };
    // SAFETY: msghdr is plain data; zeroes are valid.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if let Some(fd) = fd {
        msg.msg_control = space.as_mut_ptr().cast();
        // SAFETY: pure arithmetic.
        msg.msg_controllen = unsafe { libc::CMSG_SPACE(4) } as usize;
        // SAFETY: the control buffer has room for one cmsg of 4 bytes.
        unsafe {
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN(4) as usize;
            libc::CMSG_DATA(cmsg).cast::<i32>().write_unaligned(fd);
        }
    }
    // SAFETY: msg points at `command`, `iov` and `space`, all alive.
    assert_eq!(unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, 0) }, 16);
}

/// Receives a reply and the fds that came with it.
pub(super) fn receive(sock: &OwnedFd) -> (Reply, Vec<OwnedFd>) {
    let mut reply = Reply::default();
    let mut space = [0u64; 16];
    let mut iov = libc::iovec {
        iov_base: &mut reply as *mut _ as *mut _,
        iov_len: 16,
    };
    // SAFETY: msghdr is plain data; zeroes are valid.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = space.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&space);
    let flags = libc::MSG_CMSG_CLOEXEC;
    // SAFETY: msg points at `reply`, `iov` and `space`, all alive.
    let got = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, flags) };
    assert_eq!(got, 16);
    let mut fds = Vec::new();
    // SAFETY: walks the control buffer the kernel just filled, as sized by
    // msg_controllen; each SCM_RIGHTS fd is new and ours.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            let n = ((*cmsg).cmsg_len as usize - libc::CMSG_LEN(0) as usize) / 4;
            for i in 0..n {
                let fd = libc::CMSG_DATA(cmsg).cast::<i32>().add(i).read_unaligned();
                fds.push(OwnedFd::from_raw_fd(fd));
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    (reply, fds)
}

pub(super) fn command(kind: CommandKind, count: u32) -> Command {
    Command {
        kind: kind as u32,
        count,
        arg: 0,
    }
}

pub(super) fn inode(fd: i32) -> u64 {
    // SAFETY: stat is plain data; fstat fills it.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat writes one struct stat.
    assert_eq!(unsafe { libc::fstat(fd, &mut st) }, 0);
    st.st_ino
}
