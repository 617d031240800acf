//! `filelocks.img`: the file locks of every dumped process, one image for the whole tree, each
//! entry naming its owner's pid. Written only when some process holds a lock; a dump without
//! the image holds none.

use std::io::ErrorKind;

use super::error::{fit, CodecError};
use crate::images::file_lock::{FileLockEntry, FL_FLOCK, FL_OFD, FL_POSIX, F_RDLCK, F_WRLCK};
use crate::images::{ImageDir, ImageError, ImageKind, ImageName};
use crate::snapshot::{FileLockKind, FileLockSnapshot, ProcessSnapshot};

/// Most lock entries crust reads from one image.
const MAX_LOCKS: usize = 1 << 16;

/// The image entries of the locks `process` holds.
pub fn lock_entries(process: &ProcessSnapshot) -> Result<Vec<FileLockEntry>, CodecError> {
    let pid = process.pid;
    process
        .file_locks
        .iter()
        .map(|lock| {
            let flag = match lock.kind {
                FileLockKind::Flock => FL_FLOCK,
                FileLockKind::Posix => FL_POSIX,
                FileLockKind::Ofd => FL_OFD,
            };
            Ok(FileLockEntry {
                flag,
                r#type: if lock.exclusive { F_WRLCK } else { F_RDLCK },
                pid,
                fd: lock.fd,
                start: fit(pid, "file lock start", lock.start)?,
                len: fit(pid, "file lock length", lock.len)?,
            })
        })
        .collect()
}

/// Writes `filelocks.img` holding `entries` (those of every process of the tree); writes
/// nothing when there are none.
pub fn write_file_locks(dir: &ImageDir, entries: &[FileLockEntry]) -> Result<(), CodecError> {
    if entries.is_empty() {
        return Ok(());
    }
    dir.write_entries(ImageName::fixed(ImageKind::FileLocks), entries)?;
    Ok(())
}

/// Every entry of `filelocks.img` (none when the image is absent).
pub fn read_file_locks(dir: &ImageDir) -> Result<Vec<FileLockEntry>, CodecError> {
    let name = ImageName::fixed(ImageKind::FileLocks);
    let mut reader = match dir.reader(name) {
        Ok(reader) => reader,
        Err(ImageError::OpenFile { source, .. }) if source.kind() == ErrorKind::NotFound => {
            return Ok(Vec::new())
        }
        Err(error) => return Err(error.into()),
    };
    let mut entries = Vec::new();
    while let Some(entry) = reader.next_entry::<FileLockEntry>()? {
        if entries.len() == MAX_LOCKS {
            return Err(CodecError::BadLength {
                path: dir.file_path(name),
                what: "file lock entries",
                found: MAX_LOCKS + 1,
                expected: MAX_LOCKS,
            });
        }
        entries.push(entry);
    }
    Ok(entries)
}

/// The locks of process `pid` among `entries`. Every entry must belong to one of `pids` (the
/// processes the images describe): a lock nobody would take again is an error, not a loss.
pub fn locks_of(
    dir: &ImageDir,
    entries: &[FileLockEntry],
    pid: i32,
    pids: &[i32],
) -> Result<Vec<FileLockSnapshot>, CodecError> {
    let path = dir.file_path(ImageName::fixed(ImageKind::FileLocks));
    let mut locks = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        let bad = |why| CodecError::BadFileLock {
            path: path.clone(),
            index,
            why,
        };
        if !pids.contains(&entry.pid) {
            return Err(bad("its pid is not a process of the images"));
        }
        if entry.pid == pid {
            locks.push(snapshot_lock(entry).map_err(bad)?);
        }
    }
    Ok(locks)
}

fn snapshot_lock(entry: &FileLockEntry) -> Result<FileLockSnapshot, &'static str> {
    let kind = match entry.flag {
        FL_FLOCK => FileLockKind::Flock,
        FL_POSIX => FileLockKind::Posix,
        FL_OFD => FileLockKind::Ofd,
        _ => return Err("its flag is not a flock, POSIX or OFD lock"),
    };
    let exclusive = match entry.r#type {
        F_RDLCK => false,
        F_WRLCK => true,
        _ => return Err("its type is neither F_RDLCK nor F_WRLCK"),
    };
    let start = u64::try_from(entry.start).map_err(|_| "its start is negative")?;
    let len = u64::try_from(entry.len).map_err(|_| "its length is negative")?;
    Ok(FileLockSnapshot {
        kind,
        exclusive,
        fd: entry.fd,
        start,
        len,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(flag: u32, r#type: u32, start: i64, len: i64) -> FileLockEntry {
        FileLockEntry {
            flag,
            r#type,
            pid: 7,
            fd: 3,
            start,
            len,
        }
    }

    #[test]
    fn entries_read_back_as_locks() {
        let lock = snapshot_lock(&entry(FL_POSIX, F_WRLCK, 10, 20)).unwrap();
        assert_eq!(
            (lock.kind, lock.exclusive, lock.start, lock.len),
            (FileLockKind::Posix, true, 10, 20)
        );
        let lock = snapshot_lock(&entry(FL_OFD, F_RDLCK, 0, 0)).unwrap();
        assert_eq!((lock.kind, lock.exclusive), (FileLockKind::Ofd, false));
    }

    #[test]
    fn leases_and_odd_entries_are_refused() {
        let lease = crate::images::file_lock::FL_LEASE;
        assert!(snapshot_lock(&entry(lease, F_RDLCK, 0, 0)).is_err());
        assert!(snapshot_lock(&entry(FL_FLOCK, 32 | 64, 0, 0)).is_err());
        assert!(snapshot_lock(&entry(FL_POSIX, F_WRLCK, -1, 0)).is_err());
        assert!(snapshot_lock(&entry(FL_POSIX, F_WRLCK, 0, -5)).is_err());
    }
}
