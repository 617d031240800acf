//! Which processes hold a socket, a pipe or a file: every `/proc/PID/fd` link is read once,
//! looking for `socket:[INODE]` or `pipe:[INODE]` targets, or paths.
//!
//! Best effort by nature: processes exit and close fds while they are listed, and a process
//! crust may not read is passed over; what could not be read is simply not found.

use std::collections::{BTreeMap, BTreeSet};
use std::os::fd::RawFd;

use nix::unistd::Pid;

/// One fd that holds a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Holder {
    /// The process (thread group) holding it.
    pub pid: Pid,
    /// The fd number in that process.
    pub fd: RawFd,
}

/// For each of `inodes`, every fd of every process that holds that socket, sorted by pid and fd.
pub fn socket_holders(inodes: &BTreeSet<u64>) -> BTreeMap<u64, Vec<Holder>> {
    holders(inodes, socket_inode)
}

/// Every pipe of every process, with the fds that hold it: one scan of the machine, for a
/// check that asks about many pipes (a tree's).
pub fn all_pipe_holders() -> BTreeMap<u64, Vec<Holder>> {
    scan(&|_| true, pipe_inode)
}

/// The scan itself: `inode_of` reads the inode out of a link of the wanted kind.
fn holders(
    inodes: &BTreeSet<u64>,
    inode_of: fn(&str) -> Option<u64>,
) -> BTreeMap<u64, Vec<Holder>> {
    if inodes.is_empty() {
        return BTreeMap::new();
    }
    scan(&|inode| inodes.contains(&inode), inode_of)
}

/// Reads every fd link of every process; keeps those `inode_of` reads an inode out of that
/// `wanted` says yes to.
fn scan(
    wanted: &dyn Fn(u64) -> bool,
    inode_of: fn(&str) -> Option<u64>,
) -> BTreeMap<u64, Vec<Holder>> {
    let mut holders: BTreeMap<u64, Vec<Holder>> = BTreeMap::new();
    each_fd_link(&mut |holder, target| {
        if let Some(inode) = inode_of(target).filter(|inode| wanted(*inode)) {
            holders.entry(inode).or_default().push(holder);
        }
    });
    holders.values_mut().for_each(|found| found.sort());
    holders
}

/// Every fd of every process whose link is a path (a file, a directory, a FIFO, a device), by
/// that path: one scan of the machine, for a check that asks who else has the tree's files
/// open.
pub fn all_path_holders() -> BTreeMap<String, Vec<Holder>> {
    let mut holders: BTreeMap<String, Vec<Holder>> = BTreeMap::new();
    each_fd_link(&mut |holder, target| {
        if target.starts_with('/') {
            holders.entry(target.to_owned()).or_default().push(holder);
        }
    });
    holders.values_mut().for_each(|found| found.sort());
    holders
}

/// Calls `visit` with every fd of every process crust can read, and the fd's link text.
fn each_fd_link(visit: &mut dyn FnMut(Holder, &str)) {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Some(number) = fd.file_name().to_str().and_then(|name| name.parse().ok()) else {
                continue;
            };
            let Ok(target) = std::fs::read_link(fd.path()) else {
                continue;
            };
            let holder = Holder {
                pid: Pid::from_raw(pid),
                fd: number,
            };
            visit(holder, &target.to_string_lossy());
        }
    }
}

/// Whether two fds (of one process or two) refer to one open file description: kcmp(2) with
/// KCMP_FILE. False too when the kernel will not compare them (a process crust may not trace,
/// or one that exited).
pub fn same_description(a: Holder, b: Holder) -> bool {
    const KCMP_FILE: libc::c_int = 0;
    let (pid_a, pid_b) = (a.pid.as_raw(), b.pid.as_raw());
    // SAFETY: kcmp takes plain integers and reads no memory of ours.
    let rc = unsafe { libc::syscall(libc::SYS_kcmp, pid_a, pid_b, KCMP_FILE, a.fd, b.fd) };
    rc == 0
}

/// The inode of a `pipe:[N]` link.
pub fn pipe_inode(link: &str) -> Option<u64> {
    link.strip_prefix("pipe:[")?.strip_suffix(']')?.parse().ok()
}

/// The inode of a `socket:[N]` link.
pub fn socket_inode(link: &str) -> Option<u64> {
    link.strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn link_text() {
        assert_eq!(socket_inode("socket:[281457]"), Some(281457));
        assert_eq!(socket_inode("pipe:[281457]"), None);
        assert_eq!(pipe_inode("pipe:[12392]"), Some(12392));
        assert_eq!(pipe_inode("socket:[12392]"), None);
        assert_eq!(socket_inode("socket:[x]"), None);
    }

    #[test]
    fn own_socketpair_is_found() {
        use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
        let (a, b) = socketpair(
            AddressFamily::Unix,
            SockType::Stream,
            None,
            SockFlag::empty(),
        )
        .unwrap();
        let inode = nix::sys::stat::fstat(b.as_raw_fd()).unwrap().st_ino;
        let holders = socket_holders(&BTreeSet::from([inode]));
        let me = Holder {
            pid: Pid::this(),
            fd: b.as_raw_fd(),
        };
        assert_eq!(holders.get(&inode), Some(&vec![me]));
        drop(a);
    }
}
