//! Address space: mmap and munmap.
//!
//! # Safety
//!
//! Both calls can replace or remove memory Rust code still uses, so they
//! are `unsafe fn`; callers say which range they own.
#![allow(unsafe_code)]

use arch::x86_64::nr;

use crate::raw::{syscall2, syscall6};
use crate::Errno;

/// `PROT_READ`.
pub const PROT_READ: u32 = 0x1;
/// `PROT_WRITE`.
pub const PROT_WRITE: u32 = 0x2;
/// `PROT_EXEC`.
pub const PROT_EXEC: u32 = 0x4;
/// `MAP_SHARED`.
pub const MAP_SHARED: u32 = 0x01;
/// `MAP_PRIVATE`.
pub const MAP_PRIVATE: u32 = 0x02;
/// `MAP_FIXED`.
pub const MAP_FIXED: u32 = 0x10;
/// `MAP_ANONYMOUS`.
pub const MAP_ANONYMOUS: u32 = 0x20;

/// `void *mmap(void *addr, size_t len, int prot, int flags, int fd,
/// off_t off)`; returns the address of the mapping.
///
/// # Safety
///
/// With `MAP_FIXED`, `[addr, addr + len)` must hold nothing still in use.
pub unsafe fn mmap(
    addr: usize,
    len: usize,
    prot: u32,
    flags: u32,
    fd: i32,
    off: u64,
) -> Result<usize, Errno> {
    let (prot, flags, fd, off) = (prot as usize, flags as usize, fd as usize, off as usize);
    // SAFETY: the caller vouches that the range may be (re)mapped.
    Errno::result(unsafe { syscall6(nr::MMAP, addr, len, prot, flags, fd, off) })
}

/// `int munmap(void *addr, size_t len)`.
///
/// # Safety
///
/// Nothing may use `[addr, addr + len)` afterwards.
pub unsafe fn munmap(addr: usize, len: usize) -> Result<usize, Errno> {
    // SAFETY: the caller vouches that the range is no longer used.
    Errno::result(unsafe { syscall2(nr::MUNMAP, addr, len) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_touch_unmap() {
        let flags = MAP_PRIVATE | MAP_ANONYMOUS;
        // SAFETY: a fresh mapping at an address the kernel picks.
        let addr = unsafe { mmap(0, 8192, PROT_READ | PROT_WRITE, flags, -1, 0) }.expect("mmap");
        assert_eq!(addr % 4096, 0);
        // SAFETY: addr is a fresh, writable 8 KiB mapping owned by this test.
        unsafe { (addr as *mut u8).add(4100).write(7) };
        // SAFETY: nothing refers to the mapping any more.
        assert_eq!(unsafe { munmap(addr, 8192) }, Ok(0));
        // SAFETY: an empty length is refused: the kernel maps nothing.
        let empty = unsafe { mmap(0, 0, PROT_READ, flags, -1, 0) };
        assert_eq!(empty, Err(Errno::EINVAL));
    }
}
