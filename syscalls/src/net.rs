//! Sockets: sendmsg and recvmsg with ancillary data (`SCM_RIGHTS`).
//!
//! # Safety
//!
//! A [`MsgHdr`] holds raw addresses the kernel follows; the wrappers are
//! `unsafe fn` and callers vouch that every address and length in it
//! describes live memory of theirs.
#![allow(unsafe_code)]

use arch::x86_64::nr;

use crate::io::IoVec;
use crate::raw::syscall3;
use crate::Errno;

/// `SOL_SOCKET`: level of socket-wide control messages.
pub const SOL_SOCKET: i32 = 1;
/// `SCM_RIGHTS`: control message carrying file descriptors.
pub const SCM_RIGHTS: i32 = 1;
/// `MSG_TRUNC`: the datagram was longer than the buffer.
pub const MSG_TRUNC: u32 = 0x20;
/// `MSG_CTRUNC`: control data was cut short (fds lost).
pub const MSG_CTRUNC: u32 = 0x08;
/// `MSG_NOSIGNAL`: no SIGPIPE on a closed peer.
pub const MSG_NOSIGNAL: u32 = 0x4000;
/// `MSG_CMSG_CLOEXEC`: received fds get close-on-exec.
pub const MSG_CMSG_CLOEXEC: u32 = 0x4000_0000;

/// Mirror of the kernel's `struct user_msghdr`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MsgHdr {
    /// Address of the peer's name, 0 for a connected socket.
    pub name: usize,
    /// Length of the name.
    pub namelen: u32,
    /// Alignment padding, zero.
    pub pad0: u32,
    /// Address of the iovec array.
    pub iov: *const IoVec,
    /// Number of iovecs.
    pub iovlen: usize,
    /// Address of the control buffer.
    pub control: usize,
    /// Length of the control buffer.
    pub controllen: usize,
    /// `MSG_*` flags of a received message.
    pub flags: u32,
    /// Alignment padding, zero.
    pub pad1: u32,
}

impl MsgHdr {
    /// A header for a connected socket: data from `iov`, control buffer
    /// `control` (may be empty).
    pub fn new(iov: &[IoVec], control: &mut [u8]) -> Self {
        let controllen = control.len();
        let control = if controllen == 0 {
            0
        } else {
            control.as_mut_ptr() as usize
        };
        MsgHdr {
            name: 0,
            namelen: 0,
            pad0: 0,
            iov: iov.as_ptr(),
            iovlen: iov.len(),
            control,
            controllen,
            flags: 0,
            pad1: 0,
        }
    }
}

/// Mirror of the kernel's `struct cmsghdr`; its data follows at
/// [`cmsg_align`]`(size_of::<CmsgHdr>())`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CmsgHdr {
    /// Header plus data length, unaligned (`CMSG_LEN`).
    pub len: usize,
    /// Protocol level, [`SOL_SOCKET`].
    pub level: i32,
    /// Type, [`SCM_RIGHTS`].
    pub kind: i32,
}

/// Size of [`CmsgHdr`].
pub const CMSG_HDR_SIZE: usize = core::mem::size_of::<CmsgHdr>();

/// `CMSG_ALIGN`: rounds up to the alignment of `size_t`.
pub const fn cmsg_align(len: usize) -> usize {
    (len + core::mem::size_of::<usize>() - 1) & !(core::mem::size_of::<usize>() - 1)
}

/// `CMSG_LEN`: the `len` field of a control message with `data` bytes.
pub const fn cmsg_len(data: usize) -> usize {
    cmsg_align(CMSG_HDR_SIZE) + data
}

/// `CMSG_SPACE`: room a control message with `data` bytes takes.
pub const fn cmsg_space(data: usize) -> usize {
    cmsg_align(CMSG_HDR_SIZE) + cmsg_align(data)
}

/// `ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)`.
///
/// # Safety
///
/// Every address in `msg` (iovecs, the memory they describe, the control
/// buffer) must be live and readable for the lengths given.
pub unsafe fn sendmsg(fd: i32, msg: &MsgHdr, flags: u32) -> Result<usize, Errno> {
    let msg = msg as *const MsgHdr as usize;
    // SAFETY: the caller vouches for the memory msg describes.
    Errno::result(unsafe { syscall3(nr::SENDMSG, fd as usize, msg, flags as usize) })
}

/// `ssize_t recvmsg(int fd, struct msghdr *msg, int flags)`; the kernel
/// updates `msg.controllen` and `msg.flags`.
///
/// # Safety
///
/// Every address in `msg` must be live and writable for the lengths given.
pub unsafe fn recvmsg(fd: i32, msg: &mut MsgHdr, flags: u32) -> Result<usize, Errno> {
    let msg = msg as *mut MsgHdr as usize;
    // SAFETY: the caller vouches for the memory msg describes.
    Errno::result(unsafe { syscall3(nr::RECVMSG, fd as usize, msg, flags as usize) })
}

#[cfg(test)]
mod tests;
