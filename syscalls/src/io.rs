//! File descriptor I/O: read, write, close, pipe2, vmsplice.
//!
//! # Safety
//!
//! Safe wrappers pass the kernel a pointer and length taken from one Rust
//! slice, so the kernel stays within memory the borrow covers.
#![allow(unsafe_code)]

use arch::x86_64::nr;

use crate::raw::{syscall1, syscall2, syscall3, syscall4};
use crate::Errno;

/// `O_CLOEXEC`, for `pipe2`.
pub const O_CLOEXEC: u32 = 0o2_000_000;
/// `O_NONBLOCK`, for `pipe2`.
pub const O_NONBLOCK: u32 = 0o4_000;
/// `SPLICE_F_NONBLOCK`: do not block on the pipe.
pub const SPLICE_F_NONBLOCK: u32 = 0x2;
/// `SPLICE_F_GIFT`: give the pages to the pipe (crust never does).
pub const SPLICE_F_GIFT: u32 = 0x8;

/// Mirror of the kernel's `struct iovec`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IoVec {
    /// Start of the buffer.
    pub base: usize,
    /// Length of the buffer.
    pub len: usize,
}

/// `ssize_t read(int fd, void *buf, size_t count)`.
pub fn read(fd: i32, buf: &mut [u8]) -> Result<usize, Errno> {
    // SAFETY: the kernel writes at most buf.len() bytes into buf.
    let ret = unsafe { syscall3(nr::READ, fd as usize, buf.as_mut_ptr() as usize, buf.len()) };
    Errno::result(ret)
}

/// `ssize_t write(int fd, const void *buf, size_t count)`.
pub fn write(fd: i32, buf: &[u8]) -> Result<usize, Errno> {
    // SAFETY: the kernel reads at most buf.len() bytes from buf.
    let ret = unsafe { syscall3(nr::WRITE, fd as usize, buf.as_ptr() as usize, buf.len()) };
    Errno::result(ret)
}

/// `int close(int fd)`.
pub fn close(fd: i32) -> Result<usize, Errno> {
    // SAFETY: close touches no memory of ours.
    Errno::result(unsafe { syscall1(nr::CLOSE, fd as usize) })
}

/// `int pipe2(int fds[2], int flags)`: fills `[read end, write end]`.
pub fn pipe2(fds: &mut [i32; 2], flags: u32) -> Result<usize, Errno> {
    // SAFETY: the kernel writes two ints into the array.
    let ret = unsafe { syscall2(nr::PIPE2, fds.as_mut_ptr() as usize, flags as usize) };
    Errno::result(ret)
}

/// `ssize_t vmsplice(int fd, const struct iovec *iov, size_t nr_segs,
/// unsigned flags)`: maps the pages the iovecs describe into pipe `fd`.
/// Returns the bytes moved, possibly fewer than asked.
///
/// # Safety
///
/// Every iovec must describe memory mapped in this process; without
/// `SPLICE_F_GIFT` the pipe then references those pages.
pub unsafe fn vmsplice(fd: i32, iov: &[IoVec], flags: u32) -> Result<usize, Errno> {
    let (ptr, len) = (iov.as_ptr() as usize, iov.len());
    // SAFETY: the kernel reads `len` iovecs from the slice and the memory
    // they describe, which the caller vouched for.
    let ret = unsafe { syscall4(nr::VMSPLICE, fd as usize, ptr, len, flags as usize) };
    Errno::result(ret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iovec_layout_matches_libc() {
        assert_eq!(
            core::mem::size_of::<IoVec>(),
            core::mem::size_of::<libc::iovec>()
        );
        assert_eq!(memoffset::offset_of!(libc::iovec, iov_len), 8);
    }

    #[test]
    fn write_then_read_through_a_pipe() {
        let mut fds = [-1; 2];
        pipe2(&mut fds, O_CLOEXEC).expect("pipe2");
        assert_eq!(write(fds[1], b"crust"), Ok(5));
        let mut buf = [0u8; 8];
        assert_eq!(read(fds[0], &mut buf), Ok(5));
        assert_eq!(&buf[..5], b"crust");
        assert_eq!(close(fds[0]), Ok(0));
        assert_eq!(close(fds[1]), Ok(0));
        assert_eq!(close(-1), Err(Errno::EBADF));
    }

    #[test]
    fn vmsplice_moves_a_page_into_a_pipe() {
        let mut fds = [-1; 2];
        pipe2(&mut fds, O_CLOEXEC).expect("pipe2");
        let page = std::vec![0x5au8; 4096];
        let iov = [IoVec {
            base: page.as_ptr() as usize,
            len: page.len(),
        }];
        // SAFETY: the iovec describes `page`, alive until after the read.
        assert_eq!(unsafe { vmsplice(fds[1], &iov, 0) }, Ok(4096));
        let mut back = std::vec![0u8; 4096];
        assert_eq!(read(fds[0], &mut back), Ok(4096));
        assert_eq!(back, page);
        close(fds[0]).and(close(fds[1])).expect("close");
    }
}
