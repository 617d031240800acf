//! Refusals about file locks: any lock held is refused until `--file-locks` exists.

use nix::unistd::Pid;

use super::files::OpenFd;
use super::{Findings, Reason, RefusalError, Resource};
use crate::proc::locks::{locks_held_by, parse_lock_line, FileLock};
use crate::proc::DevId;

/// The option that will let crust dump file locks.
pub const FILE_LOCKS_OPTION: &str = "--file-locks";

/// Refuse each lock held through an fd (fdinfo `lock:` lines, which also show OFD locks) and
/// each other lock `/proc/locks` gives to the process.
pub(super) fn check_locks(
    pid: Pid,
    open: &[OpenFd],
    found: &mut Findings,
) -> Result<(), RefusalError> {
    let mut seen: Vec<FileLock> = Vec::new();
    for fd in open {
        for line in fd
            .info
            .extra
            .iter()
            .filter(|line| line.starts_with("lock:"))
        {
            let Ok(lock) = parse_lock_line(line) else {
                continue;
            };
            if lock.blocked || seen.iter().any(|other| same_lock(other, &lock)) {
                continue;
            }
            let resource = Resource::Lock {
                fd: Some(fd.link.fd),
                lock: lock.clone(),
                file: fd.link.target.clone(),
            };
            found.add_with_option(resource, Reason::FileLock, FILE_LOCKS_OPTION);
            seen.push(lock);
        }
    }
    for lock in locks_held_by(pid).map_err(RefusalError::Locks)? {
        if seen.iter().any(|other| same_lock(other, &lock)) {
            continue;
        }
        let file = file_name(open, lock.dev, lock.inode);
        let resource = Resource::Lock {
            fd: None,
            lock: lock.clone(),
            file,
        };
        found.add_with_option(resource, Reason::FileLock, FILE_LOCKS_OPTION);
        seen.push(lock);
    }
    Ok(())
}

/// Whether two lines describe the same lock (their ordinals differ between files).
fn same_lock(a: &FileLock, b: &FileLock) -> bool {
    (&a.kind, a.dev, a.inode, a.start, a.end) == (&b.kind, b.dev, b.inode, b.start, b.end)
}

/// A name for the locked file: the path of an fd open on it, else device and inode.
fn file_name(open: &[OpenFd], dev: DevId, inode: u64) -> String {
    let on_file =
        |fd: &&OpenFd| DevId::from_dev_t(fd.stat.st_dev) == dev && fd.stat.st_ino == inode;
    match open.iter().find(on_file) {
        Some(fd) => fd.link.target.clone(),
        None => format!("inode {inode} on device {dev}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_lock_ignores_the_ordinal() {
        let a = parse_lock_line("lock:\t1: POSIX  ADVISORY  WRITE 7912 fe:00:10 0 EOF").unwrap();
        let b = parse_lock_line("4: POSIX  ADVISORY  WRITE 7912 fe:00:10 0 EOF").unwrap();
        let c = parse_lock_line("4: POSIX  ADVISORY  WRITE 7912 fe:00:10 0 99").unwrap();
        assert!(same_lock(&a, &b));
        assert!(!same_lock(&a, &c));
    }
}
