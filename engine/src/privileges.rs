//! What crust itself may do, asked of the kernel before it touches anything.
//!
//! An ordinary user's crust dumps that user's own processes with no
//! capability at all: ptrace needs none for them, and compel shares its area
//! through a memfd when map_files is closed. What does need privilege is
//! checked where it is needed, so that crust says so in one line up front
//! instead of failing half-way with a bare EPERM:
//!
//! - another user's process (or one holding capabilities crust lacks, or
//!   undumpable) needs CAP_SYS_PTRACE: a refusal of the dump
//!   (`refusal::task`);
//! - reading MAP_SHARED anonymous memory, mapped memfds and mapped unlinked
//!   files goes through /proc/PID/map_files, which needs
//!   CAP_CHECKPOINT_RESTORE (or CAP_SYS_ADMIN): a refusal naming the range;
//! - a restore forks with chosen pids (clone3 set_tid), which needs
//!   CAP_CHECKPOINT_RESTORE (or CAP_SYS_ADMIN): [`require_for_restore`];
//! - restoring processes that ran with credentials other than crust's
//!   (another uid or gid, groups or capabilities crust lacks) needs
//!   CAP_SETUID, CAP_SETGID and the capabilities themselves: checked against
//!   the images before anything is created (`restore::credentials`).

use crate::proc::status::{status, Status};

/// CAP_SETGID.
pub const CAP_SETGID: u32 = 6;
/// CAP_SETUID.
pub const CAP_SETUID: u32 = 7;
/// CAP_SYS_PTRACE.
pub const CAP_SYS_PTRACE: u32 = 19;
/// CAP_SYS_ADMIN.
pub const CAP_SYS_ADMIN: u32 = 21;
/// CAP_CHECKPOINT_RESTORE (Linux 5.9).
pub const CAP_CHECKPOINT_RESTORE: u32 = 40;

/// crust lacks what the operation needs.
#[derive(Debug, thiserror::Error)]
pub enum PrivilegeError {
    /// A capability is missing from crust's effective set.
    #[error(
        "crust needs {needed} to {operation} (run it as root, or give it the capability); \
         it has not"
    )]
    Missing {
        /// What crust was asked to do.
        operation: &'static str,
        /// The capability, by name.
        needed: &'static str,
    },
    /// crust's own status could not be read.
    #[error("cannot read crust's own credentials from /proc: {0}")]
    Unreadable(#[source] crate::proc::ProcError),
}

/// crust's own ids, groups and capabilities.
#[derive(Debug, Clone)]
pub struct CrustCredentials {
    status: Status,
}

impl CrustCredentials {
    /// Reads them from /proc.
    pub fn read() -> Result<Self, PrivilegeError> {
        let status = status(nix::unistd::getpid()).map_err(PrivilegeError::Unreadable)?;
        Ok(CrustCredentials { status })
    }

    /// Credentials as given (for tests of what they allow).
    #[cfg(test)]
    pub(crate) fn from_status(status: Status) -> Self {
        CrustCredentials { status }
    }

    /// Whether capability `cap` is in crust's effective set.
    pub fn has(&self, cap: u32) -> bool {
        self.status.cap_eff & (1 << cap) != 0
    }

    /// crust's permitted capabilities.
    pub fn permitted(&self) -> u64 {
        self.status.cap_prm
    }

    /// crust's bounding set.
    pub fn bounding(&self) -> u64 {
        self.status.cap_bnd
    }

    /// crust's real uid (ptrace compares the tracee's ids with it).
    pub fn uid(&self) -> u32 {
        self.status.uid.real
    }

    /// crust's real gid.
    pub fn gid(&self) -> u32 {
        self.status.gid.real
    }

    /// crust's supplementary groups.
    pub fn groups(&self) -> &[u32] {
        &self.status.groups
    }

    /// Whether crust may seize any process, whoever runs it.
    pub fn may_trace_other_users(&self) -> bool {
        self.has(CAP_SYS_PTRACE)
    }

    /// Whether crust may create processes with chosen pids (clone3 set_tid).
    pub fn may_choose_pids(&self) -> bool {
        self.has(CAP_CHECKPOINT_RESTORE) || self.has(CAP_SYS_ADMIN)
    }
}

/// Whether crust may open /proc/PID/map_files entries (probed once, by opening one of its
/// own: the kernel checks the opener's capabilities, whoever the target).
pub fn may_open_map_files() -> bool {
    use compel::infect::AreaSharing;
    AreaSharing::Auto.resolve() == AreaSharing::MapFiles
}

/// Checks that crust may restore: a restore forks every process with its pid (clone3
/// set_tid), which needs CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN.
pub fn require_for_restore() -> Result<(), PrivilegeError> {
    if CrustCredentials::read()?.may_choose_pids() {
        return Ok(());
    }
    Err(PrivilegeError::Missing {
        operation: "restore (processes are forked with their pids)",
        needed: "CAP_CHECKPOINT_RESTORE",
    })
}

/// The names of the capabilities in `mask`, lowest first (`cap_N` for unnamed ones).
pub fn capability_names(mask: u64) -> String {
    const NAMES: [&str; 41] = [
        "chown",
        "dac_override",
        "dac_read_search",
        "fowner",
        "fsetid",
        "kill",
        "setgid",
        "setuid",
        "setpcap",
        "linux_immutable",
        "net_bind_service",
        "net_broadcast",
        "net_admin",
        "net_raw",
        "ipc_lock",
        "ipc_owner",
        "sys_module",
        "sys_rawio",
        "sys_chroot",
        "sys_ptrace",
        "sys_pacct",
        "sys_admin",
        "sys_boot",
        "sys_nice",
        "sys_resource",
        "sys_time",
        "sys_tty_config",
        "mknod",
        "lease",
        "audit_write",
        "audit_control",
        "setfcap",
        "mac_override",
        "mac_admin",
        "syslog",
        "wake_alarm",
        "block_suspend",
        "audit_read",
        "perfmon",
        "bpf",
        "checkpoint_restore",
    ];
    (0..64)
        .filter(|bit| mask & (1u64 << bit) != 0)
        .map(|bit| match NAMES.get(bit) {
            Some(name) => format!("cap_{name}"),
            None => format!("cap_{bit}"),
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_are_named_as_capsh_does() {
        assert_eq!(capability_names(0), "");
        let mask = 1 << CAP_SYS_PTRACE | 1 << CAP_CHECKPOINT_RESTORE | 1 << 45;
        assert_eq!(
            capability_names(mask),
            "cap_sys_ptrace,cap_checkpoint_restore,cap_45"
        );
    }

    #[test]
    fn the_message_says_what_to_do() {
        let error = PrivilegeError::Missing {
            operation: "restore",
            needed: "CAP_CHECKPOINT_RESTORE",
        };
        assert_eq!(
            error.to_string(),
            "crust needs CAP_CHECKPOINT_RESTORE to restore (run it as root, or give it the \
             capability); it has not"
        );
    }

    #[test]
    fn crusts_own_credentials_are_read() {
        let crust = CrustCredentials::read().expect("crust's status");
        assert_eq!(crust.uid(), nix::unistd::getuid().as_raw());
        assert_eq!(crust.gid(), nix::unistd::getgid().as_raw());
    }
}
