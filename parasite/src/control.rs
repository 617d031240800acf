//! The victim's end of the control socket: one command in, one reply out,
//! file descriptors riding along with `SCM_RIGHTS`.
//!
//! # Safety
//!
//! Each `sendmsg`/`recvmsg` gets a header built from buffers on the
//! calling frame, alive and sized as the header says for the whole call.
#![allow(unsafe_code)]

use core::mem::size_of;

use syscalls::io::{close, IoVec};
use syscalls::net::{
    cmsg_align, cmsg_len, cmsg_space, recvmsg, sendmsg, MsgHdr, CMSG_HDR_SIZE, MSG_CMSG_CLOEXEC,
    MSG_CTRUNC, MSG_NOSIGNAL, MSG_TRUNC, SCM_RIGHTS, SOL_SOCKET,
};
use syscalls::Errno;

use crate::protocol::{Command, Reply, MAX_FDS_PER_MESSAGE};

/// Room for a control message of [`MAX_FDS_PER_MESSAGE`] fds.
const CONTROL_SIZE: usize = cmsg_space(MAX_FDS_PER_MESSAGE * 4);

/// A control buffer aligned for `cmsghdr`.
#[repr(C, align(8))]
struct ControlBuf([u8; CONTROL_SIZE]);

/// What one receive brought.
pub enum Received {
    /// A well-formed command, and the first fd that came with it.
    Command(Command, Option<i32>),
    /// A message that is not a command (wrong size, control data cut).
    Malformed(Errno),
    /// The host is gone: EOF or an error on the socket.
    Gone,
}

/// The control socket.
pub struct Control {
    fd: i32,
}

impl Control {
    /// Wraps the victim's end of the socket.
    pub fn new(fd: i32) -> Self {
        Control { fd }
    }

    /// The socket's fd number.
    pub fn fd(&self) -> i32 {
        self.fd
    }

    /// Waits for the next command.
    pub fn receive(&self) -> Received {
        let mut command = Command::default();
        let mut control = ControlBuf([0; CONTROL_SIZE]);
        let data = IoVec {
            base: &mut command as *mut Command as usize,
            len: size_of::<Command>(),
        };
        let iov = [data];
        let mut msg = MsgHdr::new(&iov, &mut control.0);
        // SAFETY: msg describes `command` and `control`, both on this stack
        // frame and writable for the lengths given.
        let got = match unsafe { recvmsg(self.fd, &mut msg, MSG_CMSG_CLOEXEC) } {
            Ok(0) | Err(_) => return Received::Gone,
            Ok(n) => n,
        };
        let fd = first_fd_closing_the_rest(&control.0, msg.controllen);
        let truncated = msg.flags & (MSG_CTRUNC | MSG_TRUNC) != 0;
        if truncated || got != size_of::<Command>() {
            if let Some(fd) = fd {
                let _ = close(fd);
            }
            return Received::Malformed(Errno::EPROTO);
        }
        Received::Command(command, fd)
    }

    /// Sends `reply`, with `fds` attached when not empty (at most
    /// [`MAX_FDS_PER_MESSAGE`]).
    pub fn send(&self, reply: Reply, fds: &[i32]) -> Result<(), Errno> {
        let mut control = ControlBuf([0; CONTROL_SIZE]);
        let space = fill_rights(&mut control.0, fds)?;
        let data = IoVec {
            base: &reply as *const Reply as usize,
            len: size_of::<Reply>(),
        };
        let iov = [data];
        let msg = MsgHdr::new(&iov, control.0.get_mut(..space).ok_or(Errno::EINVAL)?);
        // SAFETY: msg describes `reply` and `control`, alive for the call.
        unsafe { sendmsg(self.fd, &msg, MSG_NOSIGNAL) }.map(|_| ())
    }
}

/// Builds one `SCM_RIGHTS` message for `fds` in `control`; returns the
/// bytes used (0 for no fds).
fn fill_rights(bytes: &mut [u8; CONTROL_SIZE], fds: &[i32]) -> Result<usize, Errno> {
    if fds.is_empty() {
        return Ok(0);
    }
    if fds.len() > MAX_FDS_PER_MESSAGE {
        return Err(Errno::EINVAL);
    }
    let data = fds.len() * 4;
    put(bytes, 0, &cmsg_len(data).to_ne_bytes())?;
    put(bytes, 8, &SOL_SOCKET.to_ne_bytes())?;
    put(bytes, 12, &SCM_RIGHTS.to_ne_bytes())?;
    let first = cmsg_align(CMSG_HDR_SIZE);
    for (i, fd) in fds.iter().enumerate() {
        put(bytes, first + i * 4, &fd.to_ne_bytes())?;
    }
    Ok(cmsg_space(data))
}

fn put(bytes: &mut [u8], at: usize, value: &[u8]) -> Result<(), Errno> {
    let end = at.checked_add(value.len()).ok_or(Errno::EINVAL)?;
    bytes
        .get_mut(at..end)
        .ok_or(Errno::EINVAL)?
        .copy_from_slice(value);
    Ok(())
}

/// Walks the received control messages; keeps the first `SCM_RIGHTS` fd
/// and closes every other one, so none leaks into the victim.
fn first_fd_closing_the_rest(control: &[u8; CONTROL_SIZE], len: usize) -> Option<i32> {
    let bytes = control.get(..len.min(CONTROL_SIZE))?;
    let mut kept = None;
    let mut at = 0;
    while let Some(header) = bytes.get(at..at + CMSG_HDR_SIZE) {
        let cmsg_len = read_usize(header, 0)?;
        let (level, kind) = (read_i32(header, 8)?, read_i32(header, 12)?);
        let data_end = at.checked_add(cmsg_len)?.min(bytes.len());
        let data = bytes
            .get(at + cmsg_align(CMSG_HDR_SIZE)..data_end)
            .unwrap_or(&[]);
        if level == SOL_SOCKET && kind == SCM_RIGHTS {
            for fd in data.chunks_exact(4).filter_map(|c| read_i32(c, 0)) {
                match kept {
                    None => kept = Some(fd),
                    Some(_) => {
                        let _ = close(fd);
                    }
                }
            }
        }
        if cmsg_len < CMSG_HDR_SIZE {
            break;
        }
        at = at.checked_add(cmsg_align(cmsg_len))?;
    }
    kept
}

fn read_usize(bytes: &[u8], at: usize) -> Option<usize> {
    Some(usize::from_ne_bytes(
        bytes.get(at..at + 8)?.try_into().ok()?,
    ))
}

fn read_i32(bytes: &[u8], at: usize) -> Option<i32> {
    Some(i32::from_ne_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}
