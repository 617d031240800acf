//! The host's view of the shared area.
//!
//! Either the victim maps the area with a remote
//! `mmap(MAP_SHARED | MAP_ANONYMOUS)` and the host opens the same memory
//! object through `/proc/PID/map_files/START-END`, or the host made the
//! object as a memfd that the victim mapped; both sides map it `MAP_SHARED`,
//! so bytes written on either side are seen by the other without a copy.
//!
//! # Safety
//!
//! The host view is a raw mapping that the victim writes concurrently; it is
//! never handed out as a Rust reference, only copied in and out with
//! `ptr::copy_nonoverlapping` after a bounds check.

use std::fs::OpenOptions;
use std::num::NonZeroUsize;
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::ptr::NonNull;

use nix::errno::Errno;
use nix::sys::mman::{self, MapFlags, ProtFlags};
use nix::unistd::Pid;

/// Errors mapping or using the host view.
#[derive(Debug, thiserror::Error)]
pub enum SharedError {
    /// `/proc/PID/map_files/START-END` could not be opened.
    #[error("cannot open {path}: {source}")]
    Open {
        /// The map_files entry.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The host `mmap` failed.
    #[error("cannot map {path} ({size} bytes) in the host: {errno}")]
    Map {
        /// The map_files entry.
        path: PathBuf,
        /// Bytes asked for.
        size: usize,
        /// The kernel's error.
        errno: Errno,
    },
    /// The host `mmap` of its memfd failed.
    #[error("cannot map compel's memfd ({size} bytes) in the host: {errno}")]
    MapMemfd {
        /// Bytes asked for.
        size: usize,
        /// The kernel's error.
        errno: Errno,
    },
    /// An access outside the area.
    #[error("access of {len} bytes at offset {offset:#x} is outside the area of {size} bytes")]
    OutOfBounds {
        /// Offset from the area's start.
        offset: usize,
        /// Bytes accessed.
        len: usize,
        /// Area size.
        size: usize,
    },
}

/// The area as both sides see it: its address in the victim and a host mapping.
#[derive(Debug)]
pub struct SharedArea {
    remote: u64,
    size: usize,
    host: NonNull<libc::c_void>,
}

impl SharedArea {
    /// Maps the victim's anonymous area at `remote` (`size` bytes) into the
    /// host through its map_files entry.
    pub fn map(pid: Pid, remote: u64, size: usize) -> Result<Self, SharedError> {
        let end = remote + size as u64;
        let path = PathBuf::from(format!("/proc/{pid}/map_files/{remote:x}-{end:x}"));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|source| SharedError::Open {
                path: path.clone(),
                source,
            })?;
        Self::map_fd(remote, size, file.into()).map_err(|errno| SharedError::Map {
            path,
            size,
            errno,
        })
    }

    /// Maps the host's memfd that the victim mapped at `remote` (`size` bytes).
    pub fn map_memfd(remote: u64, size: usize, memfd: OwnedFd) -> Result<Self, SharedError> {
        Self::map_fd(remote, size, memfd).map_err(|errno| SharedError::MapMemfd { size, errno })
    }

    fn map_fd(remote: u64, size: usize, fd: OwnedFd) -> Result<Self, Errno> {
        let length = NonZeroUsize::new(size).ok_or(Errno::EINVAL)?;
        let prot = ProtFlags::PROT_READ | ProtFlags::PROT_WRITE;
        // SAFETY: a fresh shared mapping at an address the kernel picks; it
        // aliases no Rust object and is only accessed through `read` and `write`
        // (and their value forms), which check bounds and copy.
        let host = unsafe { mman::mmap(None, length, prot, MapFlags::MAP_SHARED, fd.as_fd(), 0) }?;
        Ok(SharedArea { remote, size, host })
    }

    /// Address of the area in the victim.
    pub fn remote(&self) -> u64 {
        self.remote
    }

    /// Remote address of `offset`.
    pub fn remote_at(&self, offset: usize) -> u64 {
        self.remote + offset as u64
    }

    fn check(&self, offset: usize, len: usize) -> Result<(), SharedError> {
        match offset.checked_add(len) {
            Some(end) if end <= self.size => Ok(()),
            _ => Err(SharedError::OutOfBounds {
                offset,
                len,
                size: self.size,
            }),
        }
    }

    /// Copies `bytes` into the area at `offset`.
    pub fn write(&self, offset: usize, bytes: &[u8]) -> Result<(), SharedError> {
        self.check(offset, bytes.len())?;
        // SAFETY: the range is inside the host mapping (checked above), which
        // lives as long as `self`; `bytes` cannot overlap a mapping no Rust
        // reference points into.
        unsafe {
            let dst = self.host.as_ptr().cast::<u8>().add(offset);
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), dst, bytes.len());
        }
        Ok(())
    }

    /// Copies `out.len()` bytes from the area at `offset`.
    pub fn read(&self, offset: usize, out: &mut [u8]) -> Result<(), SharedError> {
        self.check(offset, out.len())?;
        // SAFETY: the range is inside the host mapping (checked above), which
        // lives as long as `self`; `out` is a distinct Rust buffer.
        unsafe {
            let src = self.host.as_ptr().cast::<u8>().add(offset);
            std::ptr::copy_nonoverlapping(src, out.as_mut_ptr(), out.len());
        }
        Ok(())
    }

    /// Copies a plain-old-data value into the area at `offset`.
    pub fn write_value<T: Pod>(&self, offset: usize, value: &T) -> Result<(), SharedError> {
        // SAFETY: `T: Pod` has no padding and no pointers, so all its bytes are
        // initialized; the slice borrows `value` for the copy only.
        let bytes =
            unsafe { std::slice::from_raw_parts((value as *const T).cast::<u8>(), size_of::<T>()) };
        self.write(offset, bytes)
    }

    /// Copies a plain-old-data value out of the area at `offset`.
    pub fn read_value<T: Pod>(&self, offset: usize) -> Result<T, SharedError> {
        let mut value = T::default();
        // SAFETY: `T: Pod` accepts any bit pattern, so overwriting its bytes
        // yields a valid value; the slice covers exactly `value`.
        let bytes = unsafe {
            std::slice::from_raw_parts_mut((&mut value as *mut T).cast::<u8>(), size_of::<T>())
        };
        self.read(offset, bytes)?;
        Ok(value)
    }
}

impl Drop for SharedArea {
    fn drop(&mut self) {
        // SAFETY: `host` is the mapping made in `map` with this size, and no
        // pointer into it outlives `self`.
        if let Err(errno) = unsafe { mman::munmap(self.host, self.size) } {
            log::warn!(
                "cannot unmap the host view of the area at {:#x}: {errno}",
                self.remote
            );
        }
    }
}

/// Whether this process may open map_files entries (CAP_CHECKPOINT_RESTORE or
/// CAP_SYS_ADMIN in the initial user namespace): the kernel checks the
/// opener, whatever the target, so opening one of our own says it exactly.
pub(crate) fn host_may_open_map_files() -> bool {
    let Some(length) = NonZeroUsize::new(4096) else {
        return false;
    };
    let prot = ProtFlags::PROT_READ;
    let flags = MapFlags::MAP_SHARED | MapFlags::MAP_ANONYMOUS;
    // SAFETY: a fresh page at an address the kernel picks, never dereferenced.
    let Ok(page) = (unsafe { mman::mmap_anonymous(None, length, prot, flags) }) else {
        return false;
    };
    let start = page.as_ptr() as usize;
    let path = format!("/proc/self/map_files/{start:x}-{:x}", start + 4096);
    let opened = std::fs::File::open(&path);
    log::debug!(
        "opening {path} to probe map_files: {:?}",
        opened.as_ref().err()
    );
    // SAFETY: the page mapped above, which nothing points into.
    if let Err(errno) = unsafe { mman::munmap(page, 4096) } {
        log::warn!("cannot unmap the probe page at {start:#x}: {errno}");
    }
    opened.is_ok()
}

/// Types made only of integers with no padding, that any bit pattern makes valid.
///
/// # Safety
///
/// Implement only for `#[repr(C)]` types of integer fields whose sizes add up
/// to the type's size.
pub unsafe trait Pod: Default + Copy {}

use super::protocol::{AreaHeader, Command, PageRange, Reply, TaskInfo};

// SAFETY: each is repr(C) with integer fields only, padding-free as the
// protocol's layout tests prove.
unsafe impl Pod for AreaHeader {}
// SAFETY: as above.
unsafe impl Pod for Command {}
// SAFETY: as above.
unsafe impl Pod for Reply {}
// SAFETY: as above.
unsafe impl Pod for TaskInfo {}
// SAFETY: as above.
unsafe impl Pod for PageRange {}
