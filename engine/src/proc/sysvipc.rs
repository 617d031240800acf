//! `/proc/sysvipc/shm`: the SysV shared memory segments of crust's IPC namespace.

use std::path::Path;

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

#[cfg(test)]
mod tests {
    use super::*;

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
