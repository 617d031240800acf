//! `/proc/PID/ns/*`: which namespaces a task is in, by inode.

use nix::unistd::Pid;

use super::{proc_path, ProcError};

/// A kind of namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NsKind {
    /// `mnt`
    Mount,
    /// `net`
    Net,
    /// `pid`
    Pid,
    /// `ipc`
    Ipc,
    /// `uts`
    Uts,
    /// `user`
    User,
    /// `cgroup`
    Cgroup,
    /// `time`
    Time,
}

impl NsKind {
    /// Every kind, in the order crust checks them.
    pub const ALL: [NsKind; 8] = [
        Self::Mount,
        Self::Net,
        Self::Pid,
        Self::Ipc,
        Self::Uts,
        Self::User,
        Self::Cgroup,
        Self::Time,
    ];

    /// The file name under `/proc/PID/ns`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Mount => "mnt",
            Self::Net => "net",
            Self::Pid => "pid",
            Self::Ipc => "ipc",
            Self::Uts => "uts",
            Self::User => "user",
            Self::Cgroup => "cgroup",
            Self::Time => "time",
        }
    }
}

impl std::fmt::Display for NsKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The inode of namespace `kind` of `pid` (from the link text `net:[4026531840]`).
pub fn ns_inode(pid: Pid, kind: NsKind) -> Result<u64, ProcError> {
    let path = proc_path(pid, &format!("ns/{}", kind.name()));
    let target = std::fs::read_link(&path).map_err(|source| ProcError::Readlink {
        pid,
        path: path.clone(),
        source,
    })?;
    let text = target.to_string_lossy();
    parse_ns_link(&text).ok_or_else(|| {
        ProcError::parse(
            pid,
            path,
            super::BadLine::new(&text, "not a namespace link"),
        )
    })
}

/// The inode of every kind of namespace of `pid`.
pub fn namespaces(pid: Pid) -> Result<Vec<(NsKind, u64)>, ProcError> {
    NsKind::ALL
        .iter()
        .map(|&kind| Ok((kind, ns_inode(pid, kind)?)))
        .collect()
}

/// The IPC namespace of `pid` (its inode) when it is not crust's own: the one a tree of its
/// own is dumped with.
pub fn ipc_namespace_apart(pid: Pid) -> Result<Option<u64>, ProcError> {
    let theirs = ns_inode(pid, NsKind::Ipc)?;
    let ours = ns_inode(nix::unistd::getpid(), NsKind::Ipc)?;
    Ok((theirs != ours).then_some(theirs))
}

/// Every process (thread group) of the machine in namespace `inode` of kind `kind`, by pid:
/// one read of each `/proc/PID/ns/KIND` link. Processes that exit or cannot be read meanwhile
/// are passed over.
pub fn processes_in(kind: NsKind, inode: u64) -> Vec<Pid> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids: Vec<Pid> = entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse().ok())
        .map(Pid::from_raw)
        .filter(|&pid| ns_inode(pid, kind).is_ok_and(|found| found == inode))
        .collect();
    pids.sort_unstable();
    pids
}

/// The inode in a namespace link (`net:[4026531840]`).
pub fn parse_ns_link(text: &str) -> Option<u64> {
    let (_, rest) = text.split_once(":[")?;
    rest.strip_suffix(']')?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_text() {
        assert_eq!(parse_ns_link("net:[4026531840]"), Some(4026531840));
        assert_eq!(parse_ns_link("net:4026531840"), None);
    }

    #[test]
    fn own_namespaces_read() {
        assert_eq!(namespaces(nix::unistd::getpid()).unwrap().len(), 8);
    }
}
