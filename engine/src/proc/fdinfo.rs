//! `/proc/PID/fdinfo/FD`: position, open flags, mount and inode of an fd, plus the lines each
//! fd kind adds (eventfd count, epoll targets, inotify watches, timer settings, held locks).

use std::os::fd::RawFd;

use nix::fcntl::OFlag;
use nix::unistd::Pid;

use super::{dec, read_parsed, BadLine, ProcError};

/// What fdinfo says about one fd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FdInfo {
    /// `pos`: file position.
    pub pos: u64,
    /// `flags`: the open flags (`O_*`; fdinfo prints them in octal).
    pub flags: OFlag,
    /// `mnt_id`: the mount the file was opened through.
    pub mnt_id: i32,
    /// `ino`: the inode number.
    pub ino: u64,
    /// Every other line, as the kernel wrote it: eventfd, epoll (`tfd:`), inotify, fanotify,
    /// timerfd, signalfd (`sigmask:`), pidfd and `lock:` lines.
    pub extra: Vec<String>,
}

impl FdInfo {
    /// The value of the first extra line `KEY: VALUE` (tab or spaces after the colon).
    pub fn extra_value(&self, key: &str) -> Option<&str> {
        self.extra.iter().find_map(|line| {
            let (k, v) = line.split_once(':')?;
            (k.trim() == key).then_some(v.trim())
        })
    }

    /// Whether any `lock:` line says a lock is held through this fd.
    pub fn holds_lock(&self) -> bool {
        self.extra.iter().any(|line| line.starts_with("lock:"))
    }
}

/// Read `/proc/PID/fdinfo/FD`.
pub fn fdinfo(pid: Pid, fd: RawFd) -> Result<FdInfo, ProcError> {
    read_parsed(pid, &format!("fdinfo/{fd}"), parse_fdinfo)
}

/// Parse a whole fdinfo file.
pub fn parse_fdinfo(text: &str) -> Result<FdInfo, BadLine> {
    let mut info = FdInfo {
        pos: 0,
        flags: OFlag::empty(),
        mnt_id: 0,
        ino: 0,
        extra: Vec::new(),
    };
    let mut seen_flags = false;
    for line in text.lines().filter(|line| !line.is_empty()) {
        let (key, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.trim();
        match key {
            "pos" => info.pos = dec(value, line, "bad pos")?,
            "flags" => {
                let bits =
                    u32::from_str_radix(value, 8).map_err(|_| BadLine::new(line, "bad flags"))?;
                let bits = i32::try_from(bits).map_err(|_| BadLine::new(line, "flags overflow"))?;
                info.flags = OFlag::from_bits_retain(bits);
                seen_flags = true;
            }
            "mnt_id" => info.mnt_id = dec(value, line, "bad mnt_id")?,
            "ino" => info.ino = dec(value, line, "bad ino")?,
            _ => info.extra.push(line.to_string()),
        }
    }
    if !seen_flags {
        return Err(BadLine::new(
            text.lines().next().unwrap_or(""),
            "no flags line",
        ));
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eventfd_sample() {
        let text =
            "pos:\t0\nflags:\t02000002\nmnt_id:\t17\nino:\t25\neventfd-count:                3\n\
                    eventfd-id: 1\neventfd-semaphore: 0\n";
        let info = parse_fdinfo(text).unwrap();
        assert_eq!(info.flags, OFlag::O_CLOEXEC | OFlag::O_RDWR);
        assert_eq!((info.mnt_id, info.ino), (17, 25));
        assert_eq!(info.extra_value("eventfd-count"), Some("3"));
        assert!(!info.holds_lock());
    }

    #[test]
    fn locked_append_file_sample() {
        let text = "pos:\t94\nflags:\t02102001\nmnt_id:\t27\nino:\t10011048\n\
                    lock:\t1: FLOCK  ADVISORY  WRITE 7912 fe:00:10011048 0 EOF\n";
        let info = parse_fdinfo(text).unwrap();
        assert_eq!(info.pos, 94);
        assert!(info
            .flags
            .contains(OFlag::O_APPEND | OFlag::O_LARGEFILE | OFlag::O_WRONLY));
        assert!(info.holds_lock());
    }

    #[test]
    fn packet_pipe_write_end_shows_o_direct() {
        let info = parse_fdinfo("pos:\t0\nflags:\t040001\nmnt_id:\t16\nino:\t12479\n").unwrap();
        assert!(info.flags.contains(OFlag::O_DIRECT));
    }

    #[test]
    fn octal_is_checked() {
        assert_eq!(
            parse_fdinfo("pos:\t0\nflags:\t0800\n").unwrap_err().reason,
            "bad flags"
        );
    }
}
