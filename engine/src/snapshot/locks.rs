//! File locks a process holds, each to be taken again through one of its fds.

use std::fmt;

use super::{FileSnapshot, ProcessSnapshot, SnapshotError};

/// Which family a lock belongs to: who owns it and how it is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileLockKind {
    /// `flock(2)`: whole file, owned by the open file description.
    Flock,
    /// `fcntl(F_SETLK)` / `lockf(3)`: a byte range, owned by the process.
    Posix,
    /// `fcntl(F_OFD_SETLK)`: a byte range, owned by the open file description.
    Ofd,
}

/// One lock held by the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileLockSnapshot {
    /// Its family.
    pub kind: FileLockKind,
    /// Exclusive (write, `LOCK_EX`) rather than shared (read, `LOCK_SH`).
    pub exclusive: bool,
    /// The fd it is taken again through (for flock and OFD locks, one referring to the open
    /// file description that holds it).
    pub fd: i32,
    /// First byte (0 for flock).
    pub start: u64,
    /// Bytes covered; 0 runs to the end of the file, whatever its size (always 0 for flock).
    pub len: u64,
}

impl fmt::Display for FileLockSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let access = if self.exclusive { "write" } else { "read" };
        let kind = match self.kind {
            FileLockKind::Flock => {
                let mode = if self.exclusive { "LOCK_EX" } else { "LOCK_SH" };
                return write!(f, "flock {mode} lock");
            }
            FileLockKind::Posix => "POSIX",
            FileLockKind::Ofd => "OFD",
        };
        write!(f, "{kind} {access} lock on bytes {}-", self.start)?;
        match self.len {
            0 => f.write_str("EOF"),
            len => write!(f, "{}", self.start.saturating_add(len - 1)),
        }
    }
}

impl ProcessSnapshot {
    /// Every lock is taken through an fd of a regular file (or directory), with a range the
    /// kernel's signed offsets can express.
    pub(super) fn validate_locks(&self) -> Result<(), SnapshotError> {
        for lock in &self.file_locks {
            let bad = |why| SnapshotError::BadLock {
                pid: self.pid,
                lock: lock.to_string(),
                fd: lock.fd,
                why,
            };
            let file_id = self
                .fds
                .iter()
                .find(|slot| slot.fd == lock.fd)
                .map(|slot| slot.file_id)
                .ok_or(bad("the process has no such fd"))?;
            let on_file = self
                .files
                .iter()
                .any(|file| file.id() == file_id && matches!(file, FileSnapshot::Regular { .. }));
            if !on_file {
                return Err(bad("the fd is not a file opened by path"));
            }
            let end = lock.start.checked_add(lock.len);
            if end.is_none_or(|end| end > i64::MAX as u64) {
                return Err(bad("its range does not fit a file offset"));
            }
            if lock.kind == FileLockKind::Flock && (lock.start, lock.len) != (0, 0) {
                return Err(bad("a flock lock covers the whole file"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lock(kind: FileLockKind, exclusive: bool, start: u64, len: u64) -> String {
        FileLockSnapshot {
            kind,
            exclusive,
            fd: 3,
            start,
            len,
        }
        .to_string()
    }

    #[test]
    fn locks_read_as_their_family_mode_and_range() {
        assert_eq!(lock(FileLockKind::Flock, true, 0, 0), "flock LOCK_EX lock");
        assert_eq!(lock(FileLockKind::Flock, false, 0, 0), "flock LOCK_SH lock");
        assert_eq!(
            lock(FileLockKind::Posix, true, 10, 20),
            "POSIX write lock on bytes 10-29"
        );
        assert_eq!(
            lock(FileLockKind::Ofd, false, 100, 0),
            "OFD read lock on bytes 100-EOF"
        );
    }
}
