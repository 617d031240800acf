//! Refusals about file locks: without `--file-locks` every lock held is refused; with it,
//! flock, POSIX and OFD locks on files the process has open pass, and what crust could not
//! take again at restore stays refused (leases, mandatory locks, locks on other kinds of files
//! or on files the process holds no fd for, lock requests still waiting).

use nix::unistd::Pid;

use super::files::OpenFd;
use super::{Allowances, Findings, Reason, RefusalError, Resource};
use crate::proc::fd::FdKind;
use crate::proc::locks::{all_locks, parse_lock_line, FileLock, LockKind};
use crate::proc::DevId;

/// The option that lets crust dump file locks.
pub const FILE_LOCKS_OPTION: &str = "--file-locks";

/// Judge each lock held through an fd (fdinfo `lock:` lines, which also show OFD locks) and
/// each other lock or waiting request `/proc/locks` gives to the process.
pub(super) fn check_locks(
    pid: Pid,
    open: &[OpenFd],
    allowed: &Allowances,
    found: &mut Findings,
) -> Result<(), RefusalError> {
    let mut seen: Vec<FileLock> = Vec::new();
    for fd in open {
        for lock in held_through(fd) {
            if seen.iter().any(|other| same_lock(other, &lock)) {
                continue;
            }
            let resource = Resource::Lock {
                fd: Some(fd.link.fd),
                lock: lock.clone(),
                file: fd.link.target.clone(),
            };
            match not_restorable(&lock, Some(&fd.kind)) {
                Some(why) => found.add(resource, Reason::LockNotRestorable { why }),
                None if !allowed.file_locks => {
                    found.add_with_option(resource, Reason::FileLock, FILE_LOCKS_OPTION)
                }
                None => {}
            }
            seen.push(lock);
        }
    }
    let listed = all_locks().map_err(RefusalError::Locks)?;
    for lock in listed.into_iter().filter(|lock| lock.pid == Some(pid)) {
        if !lock.blocked && seen.iter().any(|other| same_lock(other, &lock)) {
            continue;
        }
        let file = file_name(open, lock.dev, lock.inode);
        let why = not_restorable(&lock, None).unwrap_or_default();
        let resource = Resource::Lock {
            fd: None,
            lock: lock.clone(),
            file,
        };
        found.add(resource, Reason::LockNotRestorable { why });
        seen.push(lock);
    }
    Ok(())
}

/// The locks fdinfo shows held through `fd`.
fn held_through(fd: &OpenFd) -> impl Iterator<Item = FileLock> + '_ {
    fd.info
        .extra
        .iter()
        .filter(|line| line.starts_with("lock:"))
        .filter_map(|line| parse_lock_line(line).ok())
        .filter(|lock| !lock.blocked)
}

/// Why crust could not take `lock` again at restore, if it could not. `through` is the kind
/// of the fd it is held through; `None` when the process holds no fd for it.
fn not_restorable(lock: &FileLock, through: Option<&FdKind>) -> Option<&'static str> {
    if lock.blocked {
        return Some("crust does not carry over a lock request that is still waiting");
    }
    match lock.kind {
        LockKind::Flock | LockKind::Posix | LockKind::Ofd => {}
        LockKind::Lease => return Some("leases cannot be restored"),
        LockKind::Delegation => return Some("NFS delegations cannot be restored"),
        LockKind::Other(_) => return Some("crust does not know this kind of lock"),
    }
    if !lock.advisory {
        return Some("mandatory locks cannot be restored");
    }
    if !matches!(lock.access.as_str(), "READ" | "WRITE") {
        return Some("crust does not know this lock's access");
    }
    match through {
        None => Some("the process holds no fd on the open file it was taken through"),
        Some(FdKind::Regular { .. } | FdKind::Directory { .. }) => None,
        Some(_) => Some("only locks on regular files and directories can be restored"),
    }
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

    fn lock(line: &str) -> FileLock {
        parse_lock_line(line).unwrap()
    }

    fn regular() -> FdKind {
        FdKind::Regular {
            path: "/tmp/x".into(),
        }
    }

    #[test]
    fn same_lock_ignores_the_ordinal() {
        let a = lock("lock:\t1: POSIX  ADVISORY  WRITE 7912 fe:00:10 0 EOF");
        let b = lock("4: POSIX  ADVISORY  WRITE 7912 fe:00:10 0 EOF");
        let c = lock("4: POSIX  ADVISORY  WRITE 7912 fe:00:10 0 99");
        assert!(same_lock(&a, &b));
        assert!(!same_lock(&a, &c));
    }

    #[test]
    fn advisory_locks_on_open_files_can_be_restored() {
        for line in [
            "1: FLOCK  ADVISORY  WRITE 7912 fe:00:10 0 EOF",
            "1: POSIX  ADVISORY  READ 7912 fe:00:10 5 14",
            "1: OFDLCK ADVISORY  READ -1 fe:00:10 100 119",
        ] {
            assert_eq!(
                not_restorable(&lock(line), Some(&regular())),
                None,
                "{line}"
            );
        }
    }

    #[test]
    fn what_cannot_be_taken_again_says_why() {
        let flock = lock("1: FLOCK  ADVISORY  WRITE 7912 fe:00:10 0 EOF");
        let cases = [
            (
                lock("1: LEASE  ACTIVE    READ 7912 fe:00:10 0 EOF"),
                Some(regular()),
                "leases cannot be restored",
            ),
            (
                lock("1: POSIX  MANDATORY WRITE 7912 fe:00:10 0 EOF"),
                Some(regular()),
                "mandatory locks cannot be restored",
            ),
            (
                lock("1: -> FLOCK  ADVISORY  WRITE 7912 fe:00:10 0 EOF"),
                Some(regular()),
                "crust does not carry over a lock request that is still waiting",
            ),
            (
                flock.clone(),
                None,
                "the process holds no fd on the open file it was taken through",
            ),
            (
                flock,
                Some(FdKind::Pipe { inode: 9 }),
                "only locks on regular files and directories can be restored",
            ),
        ];
        for (lock, kind, why) in cases {
            assert_eq!(not_restorable(&lock, kind.as_ref()), Some(why), "{lock:?}");
        }
    }
}
