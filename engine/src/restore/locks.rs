//! File locks: taken again inside the restored process, by remote syscalls, once every file
//! sits at its fd number and crust's inherited copies are closed (closing any fd of a file
//! drops the process's POSIX locks on it, so nothing may be closed after this step).
//!
//! Every lock is asked for without waiting (`LOCK_NB`, `F_SETLK`, `F_OFD_SETLK`): a lock
//! someone else took since the dump makes the restore fail with `EAGAIN` naming it, instead
//! of hanging.

use nix::errno::Errno;

use crate::snapshot::{FileLockKind, FileLockSnapshot, FileSnapshot, ProcessSnapshot};

use super::remote::{bytes_of, RemoteThread, Scratch};
use super::RestoreError;

/// The kernel's `struct flock` on x86_64, padding spelled out so that every byte passed is
/// initialised.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
struct KernelFlock {
    l_type: i16,
    l_whence: i16,
    pad: i32,
    l_start: i64,
    l_len: i64,
    l_pid: i32,
    pad_end: i32,
}

/// Takes every lock of `process` in the task `thread` belongs to.
pub fn take_locks(
    thread: &mut RemoteThread,
    scratch: &Scratch,
    process: &ProcessSnapshot,
) -> Result<(), RestoreError> {
    for lock in &process.file_locks {
        let result = match lock.kind {
            FileLockKind::Flock => take_flock(thread, lock)?,
            FileLockKind::Posix => take_range(thread, scratch, lock, libc::F_SETLK)?,
            FileLockKind::Ofd => take_range(thread, scratch, lock, libc::F_OFD_SETLK)?,
        };
        if result < 0 {
            let errno = i32::try_from(-result).map_or(Errno::UnknownErrno, Errno::from_raw);
            return Err(RestoreError::TakeLock {
                pid: process.pid,
                fd: lock.fd,
                path: path_of(process, lock.fd),
                lock: lock.to_string(),
                errno,
            });
        }
        log::debug!("pid {}: fd {}: took the {lock} again", process.pid, lock.fd);
    }
    Ok(())
}

fn take_flock(thread: &mut RemoteThread, lock: &FileLockSnapshot) -> Result<i64, RestoreError> {
    let mode = if lock.exclusive {
        libc::LOCK_EX
    } else {
        libc::LOCK_SH
    };
    let args = [fd_arg(lock.fd), (mode | libc::LOCK_NB) as u64, 0, 0, 0, 0];
    thread.call_raw("take a flock lock", libc::SYS_flock, args)
}

fn take_range(
    thread: &mut RemoteThread,
    scratch: &Scratch,
    lock: &FileLockSnapshot,
    command: libc::c_int,
) -> Result<i64, RestoreError> {
    let lock_type = if lock.exclusive {
        libc::F_WRLCK
    } else {
        libc::F_RDLCK
    };
    // The snapshot was validated: start and start + len fit an i64.
    let request = KernelFlock {
        l_type: lock_type as i16,
        l_whence: libc::SEEK_SET as i16,
        l_start: i64::try_from(lock.start).unwrap_or(i64::MAX),
        l_len: i64::try_from(lock.len).unwrap_or(i64::MAX),
        ..KernelFlock::default()
    };
    let addr = scratch.put(0, bytes_of(&request))?;
    let args = [fd_arg(lock.fd), command as u64, addr, 0, 0, 0];
    thread.call_raw("take a file lock", libc::SYS_fcntl, args)
}

/// An fd number as a syscall argument (validated as non-negative).
fn fd_arg(fd: i32) -> u64 {
    u64::try_from(fd).unwrap_or(u64::MAX)
}

/// The path of the file at `fd`, for the error message.
fn path_of(process: &ProcessSnapshot, fd: i32) -> String {
    let file_id = process
        .fds
        .iter()
        .find(|slot| slot.fd == fd)
        .map(|slot| slot.file_id);
    let file = process.files.iter().find(|file| Some(file.id()) == file_id);
    match file {
        Some(FileSnapshot::Regular { file, .. }) => file.path.clone(),
        _ => format!("fd {fd}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use memoffset::offset_of;

    #[test]
    fn flock_layout_matches_the_kernel() {
        assert_eq!(
            std::mem::size_of::<KernelFlock>(),
            std::mem::size_of::<libc::flock>()
        );
        assert_eq!(
            offset_of!(KernelFlock, l_type),
            offset_of!(libc::flock, l_type)
        );
        assert_eq!(
            offset_of!(KernelFlock, l_whence),
            offset_of!(libc::flock, l_whence)
        );
        assert_eq!(
            offset_of!(KernelFlock, l_start),
            offset_of!(libc::flock, l_start)
        );
        assert_eq!(
            offset_of!(KernelFlock, l_len),
            offset_of!(libc::flock, l_len)
        );
        assert_eq!(
            offset_of!(KernelFlock, l_pid),
            offset_of!(libc::flock, l_pid)
        );
    }
}
