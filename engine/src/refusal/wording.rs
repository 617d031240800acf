//! The words of a refusal: what is true of the resource, and the verdict with what to do.

use super::Reason;

impl Reason {
    /// What is true of the resource, said after its name (may be empty).
    pub(super) fn fact(&self) -> String {
        match self {
            Self::IsCrust => " is crust itself".into(),
            Self::KernelThread => " is a kernel thread".into(),
            Self::Zombie => " is a zombie".into(),
            Self::Traced { tracer } => format!(" is traced by pid {tracer}"),
            Self::Tracer { tracee } => format!(" traces pid {tracee}"),
            Self::SeccompFilter { filters: 1 } => " has a seccomp filter".into(),
            Self::SeccompFilter { filters } => format!(" has {filters} seccomp filters"),
            Self::OtherUser { uid, .. } => format!(" belongs to uid {uid}"),
            Self::OtherGroup { gid, .. } => format!(" runs with gid {gid}"),
            Self::MoreCapabilities { caps } => {
                let names = crate::privileges::capability_names(*caps);
                format!(" holds capabilities crust has not ({names})")
            }
            Self::Undumpable => " is not dumpable (PR_SET_DUMPABLE, or it changed ids)".into(),
            Self::ForeignNamespace { inode, crust_inode } => {
                format!(" is not crust's ({inode}, crust's is {crust_inode})")
            }
            Self::NotRootIpcNamespace { inode, root_inode } => {
                format!(" is not the tree root's ({inode}, the root's is {root_inode})")
            }
            Self::IpcNamespaceShared { peer, others: 0 } => {
                format!(" is shared with pid {peer}, outside the tree")
            }
            Self::IpcNamespaceShared { peer, others } => {
                format!(" is shared with pid {peer} and {others} more, outside the tree")
            }
            Self::ForeignSession { sid } => format!(" is in the session of pid {sid}"),
            Self::Compat32 => " runs 32-bit (ia32) code".into(),
            Self::UnixPeer(peer) => format!(" {peer}"),
            Self::ForeignGroup { pgid } => format!(" is in the process group of pid {pgid}"),
            Self::SessionNotInherited { sid, parent } => {
                format!(" is in the session of pid {sid}, and its parent {parent} is not")
            }
            Self::SharedWithParent { what, parent } => {
                format!(" shares its {what} with its parent {parent}")
            }
            Self::FifoPeer { peer, .. } => format!(", also open in pid {peer}, outside the tree"),
            Self::SharedDescription { peer, peer_fd, .. } => {
                format!(", one open description with fd {peer_fd} of pid {peer}, outside the tree")
            }
            Self::InnerTerminalOfOtherSession { index } => {
                format!(" has /dev/pts/{index} as its controlling terminal")
            }
            Self::ControllingTerminal { tty } => {
                format!(
                    " has a controlling terminal (device {}:{})",
                    tty >> 8 & 0xfff,
                    tty & 0xff
                )
            }
            _ => String::new(),
        }
    }

    /// The verdict, said after the colon.
    pub(super) fn verdict(&self) -> String {
        match self {
            Self::IsCrust => "crust cannot dump itself".into(),
            Self::KernelThread => "kernel threads cannot be dumped".into(),
            Self::Zombie => "a zombie has nothing left to dump".into(),
            Self::Traced { .. } => "a traced task cannot be dumped; detach the tracer first".into(),
            Self::Tracer { .. } => {
                "a tracer is not restored tracing; detach it (end the debugger or strace) first"
                    .into()
            }
            Self::SeccompFilter { .. } => "seccomp filters are not supported yet".into(),
            Self::OtherUser { crust_uid, .. } => format!(
                "crust runs as uid {crust_uid} without CAP_SYS_PTRACE, and dumps only its own \
                user's processes"
            ),
            Self::OtherGroup { crust_gid, .. } => format!(
                "crust runs with gid {crust_gid} without CAP_SYS_PTRACE, and may trace only \
                processes with its own ids"
            ),
            Self::MoreCapabilities { .. } | Self::Undumpable => {
                "crust may not trace it without CAP_SYS_PTRACE".into()
            }
            Self::MapFilesClosed => {
                "reading it needs CAP_CHECKPOINT_RESTORE (through /proc/PID/map_files), which \
                crust has not"
                    .into()
            }
            Self::ForeignNamespace { .. } => "namespaces are not supported yet".into(),
            Self::NotRootIpcNamespace { .. } => {
                "a tree is dumped with one IPC namespace, its root's".into()
            }
            Self::IpcNamespaceShared { .. } => {
                "its SysV objects would be dumped without that process's share in them".into()
            }
            Self::Socket { .. } | Self::UnixPeer(_) => "sockets are not supported yet".into(),
            Self::UnsupportedFile { kind } => format!("{kind} are not supported yet"),
            Self::Device => "devices cannot be dumped".into(),
            Self::Deleted => {
                "it was unlinked, and crust keeps only unlinked regular files and directories"
                    .into()
            }
            Self::GhostTooBig { size, limit } => format!(
                "it was unlinked and its {size} bytes are over the ghost file limit of {limit} \
                bytes; raise it with --ghost-limit"
            ),
            Self::GhostDirectoryGone => {
                "it was unlinked and the directory it was in is gone too, so it cannot be made \
                again"
                    .into()
            }
            Self::RootRemoved => "a removed root directory cannot be restored".into(),
            Self::NameUnlinked => {
                "the name it was opened by was unlinked while other links keep the file; crust \
                cannot tell their names, and a copy would part from the file"
                    .into()
            }
            Self::Replaced => "its path now names a different file".into(),
            Self::LazilyUnmounted { mnt_id } => {
                format!("its filesystem was lazily unmounted (mount {mnt_id} is unreachable)")
            }
            Self::PipePeer { peer, inode } => {
                let fact = match peer {
                    Some(peer) => format!("it is also open in pid {peer}"),
                    None => "its other end is not open in this process".into(),
                };
                format!("{fact}; dump it with --external pipe:[{inode}]")
            }
            Self::PacketPipe => "packet-mode pipes are not supported yet".into(),
            Self::SysvShm | Self::SysvIpc => {
                "crust does not dump the SysV objects of its own IPC namespace; a tree running \
                in an IPC namespace of its own (started with `unshare --ipc`) is dumped with \
                its objects"
                    .into()
            }
            Self::Hugetlb => "hugetlb mappings are not supported yet".into(),
            Self::UnsupportedMapping { kind } => format!("{kind} are not supported yet"),
            Self::FileLock => "file locks are dumped only with --file-locks".into(),
            Self::LockNotRestorable { why } => format!("{why}, even with --file-locks"),
            Self::ForeignSession { .. } | Self::ForeignGroup { .. } => {
                "it cannot be recreated without its leader; start the process with setsid, or \
                dump it as a shell job with --shell-job"
                    .into()
            }
            Self::Compat32 => "32-bit tasks are not supported yet".into(),
            Self::SessionNotInherited { .. } => {
                "a restore can give a process only its parent's session or one it leads".into()
            }
            Self::SharedWithParent { .. } => {
                "processes sharing state without being threads are not supported yet".into()
            }
            Self::FifoPeer { key, .. } => format!(
                "a FIFO is dumped only when every process that has it open is in the tree; \
                 dump it with --external {key}"
            ),
            Self::SharedDescription { key, .. } => format!(
                "restored alone, its offset would part from the other's; dump it with \
                 --external {key}"
            ),
            Self::ControllingTerminal { tty } if is_pty(*tty) => {
                "its master is outside the process; dump it as a shell job with --shell-job \
                (restored on crust's terminal)"
                    .into()
            }
            Self::ControllingTerminal { .. } => {
                "only a pseudo-terminal can be a shell job's terminal; other terminals are not \
                supported yet"
                    .into()
            }
            Self::PtyMasterAlone { index } => format!(
                "its slave /dev/pts/{index} is not open in this process, and crust dumps a \
                pseudo-terminal only with both its ends"
            ),
            Self::ExternalTerminal { .. } => {
                "its master is outside the process; dump it as a shell job with --shell-job \
                (restored on crust's terminal)"
                    .into()
            }
            Self::SecondTerminal { terminal } => format!(
                "a shell job is restored on one terminal, and this process's is \
                /dev/pts/{terminal}"
            ),
            Self::PtyIndexUnknown => {
                "the kernel does not show its pty index (no tty-index in fdinfo)".into()
            }
            Self::InnerTerminalOfOtherSession { .. } => {
                "it does not lead the session that terminal controls, which crust cannot \
                recreate"
                    .into()
            }
        }
    }
}

/// Whether a controlling terminal's device number (stat's `tty_nr`) is a pty slave.
fn is_pty(tty: u32) -> bool {
    let major = tty >> 8 & 0xfff;
    let minor = (tty & 0xff) | (tty >> 12 & 0xfff00);
    crate::snapshot::tty::slave_index(major, minor).is_some()
}
