use super::*;
use core::mem::size_of;
use memoffset::offset_of;

#[test]
fn msghdr_layout_matches_libc() {
    assert_eq!(size_of::<MsgHdr>(), size_of::<libc::msghdr>());
    assert_eq!(
        offset_of!(MsgHdr, namelen),
        offset_of!(libc::msghdr, msg_namelen)
    );
    assert_eq!(offset_of!(MsgHdr, iov), offset_of!(libc::msghdr, msg_iov));
    assert_eq!(
        offset_of!(MsgHdr, iovlen),
        offset_of!(libc::msghdr, msg_iovlen)
    );
    assert_eq!(
        offset_of!(MsgHdr, control),
        offset_of!(libc::msghdr, msg_control)
    );
    assert_eq!(
        offset_of!(MsgHdr, controllen),
        offset_of!(libc::msghdr, msg_controllen)
    );
    assert_eq!(
        offset_of!(MsgHdr, flags),
        offset_of!(libc::msghdr, msg_flags)
    );
}

#[test]
fn cmsg_layout_matches_libc() {
    assert_eq!(CMSG_HDR_SIZE, size_of::<libc::cmsghdr>());
    assert_eq!(
        offset_of!(CmsgHdr, level),
        offset_of!(libc::cmsghdr, cmsg_level)
    );
    assert_eq!(
        offset_of!(CmsgHdr, kind),
        offset_of!(libc::cmsghdr, cmsg_type)
    );
    for n in [0u32, 4, 12, 64] {
        // SAFETY: CMSG_LEN/CMSG_SPACE are pure arithmetic.
        let (len, space) = unsafe { (libc::CMSG_LEN(n), libc::CMSG_SPACE(n)) };
        assert_eq!(cmsg_len(n as usize), len as usize);
        assert_eq!(cmsg_space(n as usize), space as usize);
    }
}

fn socketpair() -> [i32; 2] {
    let mut sv = [-1; 2];
    // SAFETY: socketpair writes two ints into sv.
    let rc = unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_SEQPACKET, 0, sv.as_mut_ptr()) };
    assert_eq!(rc, 0);
    sv
}

/// Sends one fd with SCM_RIGHTS on a hand-built control message and
/// receives it on the other end.
#[test]
fn fd_travels_with_scm_rights() {
    let [a, b] = socketpair();
    let fd_bytes = a.to_ne_bytes();
    let mut control = [0u8; cmsg_space(4)];
    control[..8].copy_from_slice(&cmsg_len(4).to_ne_bytes());
    control[8..12].copy_from_slice(&SOL_SOCKET.to_ne_bytes());
    control[12..16].copy_from_slice(&SCM_RIGHTS.to_ne_bytes());
    control[16..20].copy_from_slice(&fd_bytes);
    let data = *b"x";
    let iov = [IoVec {
        base: data.as_ptr() as usize,
        len: 1,
    }];
    let msg = MsgHdr::new(&iov, &mut control);
    // SAFETY: msg describes `iov`, `data` and `control`, all alive.
    assert_eq!(unsafe { sendmsg(a, &msg, MSG_NOSIGNAL) }, Ok(1));

    let mut buf = [0u8; 4];
    let iov = [IoVec {
        base: buf.as_mut_ptr() as usize,
        len: buf.len(),
    }];
    let mut control = [0u8; cmsg_space(4)];
    let mut msg = MsgHdr::new(&iov, &mut control);
    // SAFETY: msg describes `iov`, `buf` and `control`, all alive and writable.
    assert_eq!(unsafe { recvmsg(b, &mut msg, MSG_CMSG_CLOEXEC) }, Ok(1));
    assert_eq!(msg.flags & (MSG_CTRUNC | MSG_TRUNC), 0);
    assert_eq!(msg.controllen, cmsg_space(4));
    let got = i32::from_ne_bytes(control[16..20].try_into().unwrap());
    assert!(
        got >= 0 && got != a && got != b,
        "a new fd number, got {got}"
    );
    for fd in [a, b, got] {
        crate::io::close(fd).expect("close");
    }
}
