//! `/proc/sysvipc/{shm,msg,sem}`: the SysV IPC objects of crust's IPC namespace.

use std::path::Path;

use nix::errno::Errno;

use super::{dec, read_system_text, BadLine, ProcError};

/// One SysV shared memory segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShmSegment {
    /// `key` (`IPC_PRIVATE` is 0).
    pub key: i32,
    /// `shmid`: the inode of the segment's vmas in maps.
    pub shmid: i32,
    /// `perms`: mode bits (printed in octal).
    pub perms: u32,
    /// `size` in bytes.
    pub size: u64,
    /// `cpid`: creator.
    pub cpid: i32,
    /// `lpid`: last to attach or detach.
    pub lpid: i32,
    /// `nattch`: attachments.
    pub nattch: u64,
    /// `uid` of the owner.
    pub uid: u32,
    /// `gid` of the owner.
    pub gid: u32,
}

/// Read `/proc/sysvipc/shm`.
pub fn shm_segments() -> Result<Vec<ShmSegment>, ProcError> {
    let path = Path::new("/proc/sysvipc/shm");
    let text = read_system_text(path)?;
    parse_shm(&text).map_err(|bad| ProcError::parse_system(path.to_path_buf(), bad))
}

/// Parse `/proc/sysvipc/shm` (header line first).
pub fn parse_shm(text: &str) -> Result<Vec<ShmSegment>, BadLine> {
    text.lines()
        .skip(1)
        .filter(|line| !line.trim().is_empty())
        .map(parse_line)
        .collect()
}

fn parse_line(line: &str) -> Result<ShmSegment, BadLine> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    if fields.len() < 9 {
        return Err(BadLine::new(line, "too few fields"));
    }
    let perms = u32::from_str_radix(fields[2], 8).map_err(|_| BadLine::new(line, "bad perms"))?;
    Ok(ShmSegment {
        key: dec(fields[0], line, "bad key")?,
        shmid: dec(fields[1], line, "bad shmid")?,
        perms,
        size: dec(fields[3], line, "bad size")?,
        cpid: dec(fields[4], line, "bad cpid")?,
        lpid: dec(fields[5], line, "bad lpid")?,
        nattch: dec(fields[6], line, "bad nattch")?,
        uid: dec(fields[7], line, "bad uid")?,
        gid: dec(fields[8], line, "bad gid")?,
    })
}

/// One SysV message queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MsgQueue {
    /// `key` (`IPC_PRIVATE` is 0).
    pub key: i32,
    /// `msqid`
    pub msqid: i32,
    /// `qnum`: messages queued.
    pub qnum: u64,
    /// `lspid`: last to send (0: none yet).
    pub lspid: i32,
    /// `lrpid`: last to receive (0: none yet).
    pub lrpid: i32,
}

/// One SysV semaphore set. `/proc/sysvipc/sem` names no process: who operated on a semaphore
/// is asked with [`last_operators`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SemSet {
    /// `key` (`IPC_PRIVATE` is 0).
    pub key: i32,
    /// `semid`
    pub semid: i32,
    /// `nsems`: semaphores in the set.
    pub nsems: u32,
}

/// Read `/proc/sysvipc/msg`.
pub fn msg_queues() -> Result<Vec<MsgQueue>, ProcError> {
    let path = Path::new("/proc/sysvipc/msg");
    let text = read_system_text(path)?;
    parse_msg(&text).map_err(|bad| ProcError::parse_system(path.to_path_buf(), bad))
}

/// Parse `/proc/sysvipc/msg` (header line first).
pub fn parse_msg(text: &str) -> Result<Vec<MsgQueue>, BadLine> {
    rows(text, 7)
        .map(|row| {
            let (line, fields) = row?;
            Ok(MsgQueue {
                key: dec(fields[0], line, "bad key")?,
                msqid: dec(fields[1], line, "bad msqid")?,
                qnum: dec(fields[4], line, "bad qnum")?,
                lspid: dec(fields[5], line, "bad lspid")?,
                lrpid: dec(fields[6], line, "bad lrpid")?,
            })
        })
        .collect()
}

/// Read `/proc/sysvipc/sem`.
pub fn sem_sets() -> Result<Vec<SemSet>, ProcError> {
    let path = Path::new("/proc/sysvipc/sem");
    let text = read_system_text(path)?;
    parse_sem(&text).map_err(|bad| ProcError::parse_system(path.to_path_buf(), bad))
}

/// Parse `/proc/sysvipc/sem` (header line first).
pub fn parse_sem(text: &str) -> Result<Vec<SemSet>, BadLine> {
    rows(text, 4)
        .map(|row| {
            let (line, fields) = row?;
            Ok(SemSet {
                key: dec(fields[0], line, "bad key")?,
                semid: dec(fields[1], line, "bad semid")?,
                nsems: dec(fields[3], line, "bad nsems")?,
            })
        })
        .collect()
}

/// The lines after the header, each with its fields; too short a line is an error.
fn rows(text: &str, min: usize) -> impl Iterator<Item = Result<(&str, Vec<&str>), BadLine>> {
    text.lines()
        .skip(1)
        .filter(|line| !line.trim().is_empty())
        .map(move |line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < min {
                return Err(BadLine::new(line, "too few fields"));
            }
            Ok((line, fields))
        })
}

/// For each semaphore of `set`, the pid of the last process that operated on it (`semctl`
/// `GETPID`; 0 when none has). `None` when the set was removed meanwhile, or when crust may
/// not read it (EACCES: another user's set that crust, run by an ordinary user, cannot see
/// into; the processes crust may dump, which run as that user, cannot use it either).
pub fn last_operators(set: &SemSet) -> Result<Option<Vec<i32>>, ProcError> {
    let mut pids = Vec::new();
    for semnum in 0..set.nsems {
        let error = |source| ProcError::SemGetPid {
            semid: set.semid,
            semnum,
            source,
        };
        let index = libc::c_int::try_from(semnum).map_err(|_| error(Errno::ERANGE))?;
        // SAFETY: GETPID takes no fourth argument and writes no memory.
        let pid = unsafe { libc::semctl(set.semid, index, libc::GETPID) };
        if pid < 0 {
            return match Errno::last() {
                Errno::EINVAL | Errno::EIDRM | Errno::EACCES => Ok(None),
                errno => Err(error(errno)),
            };
        }
        pids.push(pid);
    }
    Ok(Some(pids))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn msg_and_sem_samples_parse() {
        let msg =
            "       key      msqid perms      cbytes       qnum lspid lrpid   uid   gid  cuid  \
                   cgid      stime      rtime      ctime\n\
                   -677628369          0   644          16          2  8363  8364     0     0     \
                   0     0          0          0 1796404472\n";
        assert_eq!(
            parse_msg(msg).unwrap(),
            vec![MsgQueue {
                key: -677628369,
                msqid: 0,
                qnum: 2,
                lspid: 8363,
                lrpid: 8364
            }]
        );
        let sem = "       key      semid perms      nsems   uid   gid  cuid  cgid      otime      ctime\n\
                   -2045899475          0   644          2     0     0     0     0          0 \
                   1796404472\n";
        assert_eq!(
            parse_sem(sem).unwrap(),
            vec![SemSet {
                key: -2045899475,
                semid: 0,
                nsems: 2
            }]
        );
        assert!(parse_sem("header\n1 2\n").is_err());
        assert!(parse_msg("header\n1 2 3 4 5 6 x\n").is_err());
    }

    #[test]
    fn own_namespace_reads_msg_and_sem() {
        msg_queues().unwrap();
        sem_sets().unwrap();
    }

    #[test]
    fn sample_parses() {
        let text = "       key      shmid perms                  size  cpid  lpid nattch   uid   gid  \
                    cuid  cgid      atime      dtime      ctime                   rss                  swap\n      \
                    4660          0   600                  4096  8363  8363      1     0     0     0     0 \
                    1796400486          0 1796400486                     0                     0\n";
        let segments = parse_shm(text).unwrap();
        assert_eq!(segments.len(), 1);
        let shm = &segments[0];
        assert_eq!(
            (shm.key, shm.shmid, shm.perms, shm.size),
            (0x1234, 0, 0o600, 4096)
        );
        assert_eq!((shm.cpid, shm.nattch), (8363, 1));
    }

    #[test]
    fn own_namespace_reads() {
        shm_segments().unwrap();
    }
}
