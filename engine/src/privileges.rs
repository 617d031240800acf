//! The capabilities crust itself needs, checked before it touches anything.
//!
//! compel maps its shared area through /proc/PID/map_files and a restore
//! forks with chosen pids (clone3 set_tid): both need CAP_CHECKPOINT_RESTORE
//! (or CAP_SYS_ADMIN); seizing another user's task needs CAP_SYS_PTRACE.
//! Without them crust says so up front, instead of failing half-way with a
//! bare EPERM.

/// CAP_SYS_PTRACE.
const CAP_SYS_PTRACE: u32 = 19;
/// CAP_SYS_ADMIN.
const CAP_SYS_ADMIN: u32 = 21;
/// CAP_CHECKPOINT_RESTORE (Linux 5.9).
const CAP_CHECKPOINT_RESTORE: u32 = 40;

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
    #[error("cannot read crust's capabilities from /proc/self/status: {0}")]
    Unreadable(std::io::Error),
}

/// Checks that crust may checkpoint or restore (`operation` names which).
pub fn require_checkpoint_restore(operation: &'static str) -> Result<(), PrivilegeError> {
    let status =
        std::fs::read_to_string("/proc/self/status").map_err(PrivilegeError::Unreadable)?;
    let effective = effective_set(&status);
    let has = |cap: u32| effective & (1 << cap) != 0;
    if !has(CAP_CHECKPOINT_RESTORE) && !has(CAP_SYS_ADMIN) {
        return Err(PrivilegeError::Missing {
            operation,
            needed: "CAP_CHECKPOINT_RESTORE",
        });
    }
    if !has(CAP_SYS_PTRACE) {
        return Err(PrivilegeError::Missing {
            operation,
            needed: "CAP_SYS_PTRACE",
        });
    }
    Ok(())
}

/// The `CapEff:` mask of a status file (0 if absent).
fn effective_set(status: &str) -> u64 {
    status
        .lines()
        .find_map(|line| line.strip_prefix("CapEff:"))
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_effective_set_is_read_in_hex() {
        assert_eq!(
            effective_set("Name:\tx\nCapEff:\t000001ffffffffff\n"),
            0x1ff_ffff_ffff
        );
        assert_eq!(effective_set("Name:\tx\n"), 0);
    }

    #[test]
    fn the_message_says_what_to_do() {
        let error = PrivilegeError::Missing {
            operation: "dump pid 7",
            needed: "CAP_CHECKPOINT_RESTORE",
        };
        assert_eq!(
            error.to_string(),
            "crust needs CAP_CHECKPOINT_RESTORE to dump pid 7 (run it as root, or give it the \
             capability); it has not"
        );
    }
}
