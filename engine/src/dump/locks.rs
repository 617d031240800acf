//! File locks (`--file-locks`): each lock fdinfo shows held through an open file description
//! of the process, recorded with one fd that refers to that description. A POSIX lock belongs
//! to the process, but fdinfo shows it only on the description it was taken through, and
//! taking it again through that description's fd restores it whole.

use nix::unistd::Pid;

use crate::proc::fdinfo::fdinfo;
use crate::proc::locks::{parse_lock_line, FileLock, LockKind};
use crate::snapshot::{FdSnapshot, FileLockKind, FileLockSnapshot};

use super::DumpError;

/// The locks held through the fds of `pid`, each open file description looked at once (fds
/// sharing one show the same locks).
pub fn collect_locks(pid: Pid, fds: &[FdSnapshot]) -> Result<Vec<FileLockSnapshot>, DumpError> {
    let mut locks = Vec::new();
    let mut described: Vec<u32> = Vec::new();
    for slot in fds {
        if described.contains(&slot.file_id) {
            continue;
        }
        described.push(slot.file_id);
        let info = fdinfo(pid, slot.fd)?;
        for line in info.extra.iter().filter(|line| line.starts_with("lock:")) {
            let lock = parse_lock_line(line).map_err(|_| unsupported(pid, slot.fd, line))?;
            // A POSIX lock belongs to the fd table; a table shared with a child (CLONE_FILES)
            // shows the child's locks too: each is the process's that took it.
            let someone_elses = lock.kind == LockKind::Posix && lock.pid.is_some_and(|p| p != pid);
            if lock.blocked || someone_elses {
                continue;
            }
            let taken =
                snapshot_lock(&lock, slot.fd).ok_or_else(|| unsupported(pid, slot.fd, line))?;
            log::debug!("pid {pid}: fd {}: {taken}", slot.fd);
            locks.push(taken);
        }
    }
    Ok(locks)
}

/// `lock` as it is taken again through `fd`; `None` for what the refusal checks keep out.
fn snapshot_lock(lock: &FileLock, fd: i32) -> Option<FileLockSnapshot> {
    let kind = match lock.kind {
        LockKind::Flock => FileLockKind::Flock,
        LockKind::Posix => FileLockKind::Posix,
        LockKind::Ofd => FileLockKind::Ofd,
        _ => return None,
    };
    let exclusive = match lock.access.as_str() {
        "READ" => false,
        "WRITE" => true,
        _ => return None,
    };
    if !lock.advisory {
        return None;
    }
    let len = match (kind, lock.end) {
        (FileLockKind::Flock, _) | (_, None) => 0,
        (_, Some(end)) => end.checked_sub(lock.start)?.checked_add(1)?,
    };
    let start = if kind == FileLockKind::Flock {
        0
    } else {
        lock.start
    };
    Some(FileLockSnapshot {
        kind,
        exclusive,
        fd,
        start,
        len,
    })
}

fn unsupported(pid: Pid, fd: i32, what: &dyn std::fmt::Display) -> DumpError {
    DumpError::Unsupported {
        pid: pid.as_raw(),
        what: format!("fd {fd}: the lock `{what}`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taken(line: &str) -> Option<FileLockSnapshot> {
        snapshot_lock(&parse_lock_line(line).unwrap(), 4)
    }

    #[test]
    fn ranges_become_start_and_length() {
        let posix = taken("lock:\t1: POSIX  ADVISORY  WRITE 7 fe:00:10 5 14").unwrap();
        assert_eq!(
            (
                posix.kind,
                posix.exclusive,
                posix.start,
                posix.len,
                posix.fd
            ),
            (FileLockKind::Posix, true, 5, 10, 4)
        );
        let ofd = taken("lock:\t1: OFDLCK ADVISORY  READ -1 fe:00:10 100 EOF").unwrap();
        assert_eq!(
            (ofd.kind, ofd.exclusive, ofd.start, ofd.len),
            (FileLockKind::Ofd, false, 100, 0)
        );
        let flock = taken("lock:\t1: FLOCK  ADVISORY  READ 7 fe:00:10 0 EOF").unwrap();
        assert_eq!(
            (flock.kind, flock.start, flock.len),
            (FileLockKind::Flock, 0, 0)
        );
    }

    #[test]
    fn leases_and_mandatory_locks_are_not_taken() {
        assert_eq!(
            taken("lock:\t1: LEASE  ACTIVE    READ 7 fe:00:10 0 EOF"),
            None
        );
        assert_eq!(
            taken("lock:\t1: POSIX  MANDATORY WRITE 7 fe:00:10 0 EOF"),
            None
        );
    }
}
