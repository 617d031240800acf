//! `/proc/PID/mountinfo`: the mounts a task sees, by mount id.

use std::path::PathBuf;

use nix::unistd::Pid;

use super::{dec, read_parsed, BadLine, DevId, ProcError};

/// One mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Mount id (`mnt_id` in fdinfo).
    pub mnt_id: i32,
    /// Parent mount id.
    pub parent_id: i32,
    /// Device of the filesystem.
    pub dev: DevId,
    /// The directory of the filesystem mounted here.
    pub root: PathBuf,
    /// Where it is mounted, as the task sees it.
    pub mount_point: PathBuf,
    /// Filesystem type (`ext4`, `tmpfs`, ...).
    pub fs_type: String,
    /// Mount source (`/dev/vda`, `tmpfs`, ...).
    pub source: String,
}

/// Read `/proc/PID/mountinfo`.
pub fn mountinfo(pid: Pid) -> Result<Vec<Mount>, ProcError> {
    read_parsed(pid, "mountinfo", parse_mountinfo)
}

/// The mount with id `mnt_id`, if the task can still reach it. A mount that was detached
/// (`umount -l`) while files on it stay open is no longer listed.
pub fn find_mount(mounts: &[Mount], mnt_id: i32) -> Option<&Mount> {
    mounts.iter().find(|mount| mount.mnt_id == mnt_id)
}

/// Parse a whole mountinfo file.
pub fn parse_mountinfo(text: &str) -> Result<Vec<Mount>, BadLine> {
    text.lines()
        .filter(|line| !line.is_empty())
        .map(parse_line)
        .collect()
}

fn parse_line(line: &str) -> Result<Mount, BadLine> {
    let (left, right) = line
        .split_once(" - ")
        .ok_or(BadLine::new(line, "no ' - ' separator"))?;
    let left: Vec<&str> = left.split(' ').collect();
    let right: Vec<&str> = right.split(' ').collect();
    if left.len() < 6 || right.len() < 2 {
        return Err(BadLine::new(line, "too few fields"));
    }
    Ok(Mount {
        mnt_id: dec(left[0], line, "bad mount id")?,
        parent_id: dec(left[1], line, "bad parent id")?,
        dev: DevId::parse_dec(left[2], line)?,
        root: PathBuf::from(unescape(left[3])),
        mount_point: PathBuf::from(unescape(left[4])),
        fs_type: unescape(right[0]),
        source: unescape(right[1]),
    })
}

/// Undo the kernel's octal escapes of space, tab, newline and backslash (`\040`).
pub fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match (bytes[i], octal) {
            (b'\\', Some(digits)) => {
                let value = digits
                    .iter()
                    .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
                out.push(u8::try_from(value).unwrap_or(b'?'));
                i += 4;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime shared:5 master:1 - cgroup2 cgroup2 rw
90 27 0:50 /sub /mnt/with\\040space rw - tmpfs tmpfs rw
";

    #[test]
    fn sample_parses() {
        let mounts = parse_mountinfo(SAMPLE).unwrap();
        assert_eq!(mounts.len(), 4);
        let root = find_mount(&mounts, 27).unwrap();
        assert_eq!(
            (root.dev, root.fs_type.as_str()),
            (
                DevId {
                    major: 254,
                    minor: 0
                },
                "ext4"
            )
        );
        assert_eq!(mounts[2].fs_type, "cgroup2");
        assert_eq!(mounts[3].mount_point, PathBuf::from("/mnt/with space"));
        assert_eq!(mounts[3].root, PathBuf::from("/sub"));
        assert!(find_mount(&mounts, 5).is_none());
    }

    #[test]
    fn own_mountinfo_reads() {
        assert!(!mountinfo(nix::unistd::getpid()).unwrap().is_empty());
    }
}
