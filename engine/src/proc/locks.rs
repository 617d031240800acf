//! File locks: `/proc/locks` and the `lock:` lines of fdinfo, which share one format:
//! `1: POSIX  ADVISORY  WRITE 7912 fe:00:10011049 0 EOF`.

use std::path::Path;

use nix::unistd::Pid;

use super::{dec, read_system_text, BadLine, DevId, ProcError};

/// The kind of a file lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockKind {
    /// `flock(2)`
    Flock,
    /// `fcntl(F_SETLK)` / `lockf`: owned by the process.
    Posix,
    /// `fcntl(F_OFD_SETLK)`: owned by the open file description.
    Ofd,
    /// A lease (`F_SETLEASE`).
    Lease,
    /// An NFS delegation.
    Delegation,
    /// Any other word the kernel prints.
    Other(String),
}

impl std::fmt::Display for LockKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Flock => f.write_str("FLOCK"),
            Self::Posix => f.write_str("POSIX"),
            Self::Ofd => f.write_str("OFDLCK"),
            Self::Lease => f.write_str("LEASE"),
            Self::Delegation => f.write_str("DELEG"),
            Self::Other(word) => f.write_str(word),
        }
    }
}

/// One lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileLock {
    /// The lock's ordinal in the list.
    pub id: u32,
    /// Kind of lock.
    pub kind: LockKind,
    /// A waiter blocked on the lock (`->`) rather than a holder.
    pub blocked: bool,
    /// `ADVISORY`, as every lock is since Linux 5.15 (not `MANDATORY`, `MSNFS`, or a lease's
    /// state).
    pub advisory: bool,
    /// `READ` or `WRITE` (or a lease's state).
    pub access: String,
    /// The owning pid; `None` when the kernel prints -1 (OFD locks, leases of closed files).
    pub pid: Option<Pid>,
    /// Device of the locked file.
    pub dev: DevId,
    /// Inode of the locked file.
    pub inode: u64,
    /// First byte of the range.
    pub start: u64,
    /// Last byte of the range; `None` for `EOF` (to the end of the file).
    pub end: Option<u64>,
}

/// Every lock in `/proc/locks`, holders and waiters.
pub fn all_locks() -> Result<Vec<FileLock>, ProcError> {
    let path = Path::new("/proc/locks");
    let text = read_system_text(path)?;
    parse_locks(&text).map_err(|bad| ProcError::parse_system(path.to_path_buf(), bad))
}

/// The locks held (not waited for) by `pid` according to `/proc/locks`.
pub fn locks_held_by(pid: Pid) -> Result<Vec<FileLock>, ProcError> {
    let mut locks = all_locks()?;
    locks.retain(|lock| !lock.blocked && lock.pid == Some(pid));
    Ok(locks)
}

/// Parse `/proc/locks`.
pub fn parse_locks(text: &str) -> Result<Vec<FileLock>, BadLine> {
    text.lines()
        .filter(|line| !line.is_empty())
        .map(parse_lock_line)
        .collect()
}

/// Parse one lock line, with or without fdinfo's `lock:\t` prefix.
pub fn parse_lock_line(line: &str) -> Result<FileLock, BadLine> {
    let body = line.strip_prefix("lock:").unwrap_or(line);
    let mut words = body.split_whitespace().peekable();
    let mut next = |what| words.next().ok_or(BadLine::new(line, what));
    let id = next("no lock id")?.trim_end_matches(':');
    let id = dec(id, line, "bad lock id")?;
    let mut kind_word = next("no lock kind")?;
    let blocked = kind_word == "->";
    if blocked {
        kind_word = next("no lock kind")?;
    }
    let advisory = next("no lock mode")? == "ADVISORY";
    let access = next("no lock access")?.to_string();
    let pid = dec::<i32>(next("no lock pid")?, line, "bad lock pid")?;
    let (dev, inode) = parse_file_id(next("no lock file")?, line)?;
    let start = dec(next("no lock start")?, line, "bad lock start")?;
    let end = match next("no lock end")? {
        "EOF" => None,
        end => Some(dec(end, line, "bad lock end")?),
    };
    let kind = parse_kind(kind_word);
    let pid = (pid > 0).then(|| Pid::from_raw(pid));
    Ok(FileLock {
        id,
        kind,
        blocked,
        advisory,
        access,
        pid,
        dev,
        inode,
        start,
        end,
    })
}

fn parse_kind(word: &str) -> LockKind {
    match word {
        "FLOCK" => LockKind::Flock,
        "POSIX" => LockKind::Posix,
        "OFDLCK" => LockKind::Ofd,
        "LEASE" | "BREAKING" | "BREAKING*" => LockKind::Lease,
        "DELEG" => LockKind::Delegation,
        _ => LockKind::Other(word.to_string()),
    }
}

/// `fe:00:10011049`: device in hex, inode in decimal.
fn parse_file_id(text: &str, line: &str) -> Result<(DevId, u64), BadLine> {
    let (dev, inode) = text
        .rsplit_once(':')
        .ok_or(BadLine::new(line, "file is not DEV:INODE"))?;
    Ok((
        DevId::parse_hex(dev, line)?,
        dec(inode, line, "bad lock inode")?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_locks_sample() {
        let text = "1: POSIX  ADVISORY  WRITE 7912 fe:00:10011049 0 EOF\n\
                    1: -> POSIX  ADVISORY  WRITE 7920 fe:00:10011049 0 EOF\n\
                    2: FLOCK  ADVISORY  WRITE 7912 fe:00:10011048 0 EOF\n\
                    3: OFDLCK ADVISORY  READ  -1 00:1b:77 100 199\n";
        let locks = parse_locks(text).unwrap();
        assert_eq!(locks.len(), 4);
        assert_eq!(
            (&locks[0].kind, locks[0].pid),
            (&LockKind::Posix, Some(Pid::from_raw(7912)))
        );
        assert_eq!(
            locks[0].dev,
            DevId {
                major: 0xfe,
                minor: 0
            }
        );
        assert_eq!((locks[0].inode, locks[0].end), (10011049, None));
        assert!(locks[1].blocked);
        assert!(locks.iter().all(|lock| lock.advisory));
        let lease = parse_lock_line("1: LEASE  ACTIVE    READ 7912 fe:00:10 0 EOF").unwrap();
        assert_eq!((lease.kind, lease.advisory), (LockKind::Lease, false));
        assert_eq!(locks[2].kind, LockKind::Flock);
        assert_eq!((&locks[3].kind, locks[3].pid), (&LockKind::Ofd, None));
        assert_eq!((locks[3].start, locks[3].end), (100, Some(199)));
    }

    #[test]
    fn fdinfo_lock_line() {
        let lock =
            parse_lock_line("lock:\t1: FLOCK  ADVISORY  WRITE 7912 fe:00:10011048 0 EOF").unwrap();
        assert_eq!((lock.kind, lock.inode), (LockKind::Flock, 10011048));
    }
}
