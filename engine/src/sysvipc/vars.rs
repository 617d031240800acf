//! The sysctls of the calling thread's IPC namespace, as CRIU's `ipc_var_entry` holds them.

use std::path::{Path, PathBuf};

use super::SysvIpcError;
use crate::snapshot::IpcVars;

const KERNEL: &str = "/proc/sys/kernel";

/// One sysctl and where its value lives in [`IpcVars`].
struct Sysctl {
    path: &'static str,
    get: fn(&IpcVars) -> String,
    set: fn(&mut IpcVars, &str) -> Option<()>,
}

macro_rules! sysctl {
    ($dir:expr, $name:literal, $field:ident) => {
        Sysctl {
            path: concat!($dir, "/", $name),
            get: |vars| vars.$field.to_string(),
            set: |vars, text| {
                vars.$field = text.trim().parse().ok()?;
                Some(())
            },
        }
    };
}

/// Every sysctl but `shm_rmid_forced` and the `*_next_id` ones, in the order a restore writes
/// them.
const LIMITS: [Sysctl; 13] = [
    Sysctl {
        path: "/proc/sys/kernel/sem",
        get: |vars| {
            let [a, b, c, d] = vars.sem;
            format!("{a} {b} {c} {d}")
        },
        set: |vars, text| {
            let values: Vec<u32> = text
                .split_whitespace()
                .map(|v| v.parse().ok())
                .collect::<Option<_>>()?;
            vars.sem = values.try_into().ok()?;
            Some(())
        },
    },
    sysctl!("/proc/sys/kernel", "msgmax", msgmax),
    sysctl!("/proc/sys/kernel", "msgmnb", msgmnb),
    sysctl!("/proc/sys/kernel", "msgmni", msgmni),
    sysctl!("/proc/sys/kernel", "auto_msgmni", auto_msgmni),
    sysctl!("/proc/sys/kernel", "shmmax", shmmax),
    sysctl!("/proc/sys/kernel", "shmall", shmall),
    sysctl!("/proc/sys/kernel", "shmmni", shmmni),
    sysctl!("/proc/sys/fs/mqueue", "queues_max", mq_queues_max),
    sysctl!("/proc/sys/fs/mqueue", "msg_max", mq_msg_max),
    sysctl!("/proc/sys/fs/mqueue", "msgsize_max", mq_msgsize_max),
    sysctl!("/proc/sys/fs/mqueue", "msg_default", mq_msg_default),
    sysctl!("/proc/sys/fs/mqueue", "msgsize_default", mq_msgsize_default),
];

/// Written last: while it is set, a segment attached by no process is destroyed as soon as its
/// creator (a thread of crust) exits or its last attachment goes.
const RMID_FORCED: Sysctl = sysctl!("/proc/sys/kernel", "shm_rmid_forced", shm_rmid_forced);

/// The `*_next_id` sysctls: the id the next object of each kind gets (-1: the lowest free).
const NEXT_IDS: [Sysctl; 3] = [
    sysctl!("/proc/sys/kernel", "msg_next_id", msg_next_id),
    sysctl!("/proc/sys/kernel", "sem_next_id", sem_next_id),
    sysctl!("/proc/sys/kernel", "shm_next_id", shm_next_id),
];

/// Reads every sysctl of the caller's IPC namespace.
pub(super) fn read_vars() -> Result<IpcVars, SysvIpcError> {
    let mut vars = IpcVars::default();
    for sysctl in LIMITS.iter().chain([&RMID_FORCED]).chain(&NEXT_IDS) {
        let path = Path::new(sysctl.path);
        let text = read(path)?;
        (sysctl.set)(&mut vars, &text).ok_or_else(|| SysvIpcError::SysctlText {
            path: path.to_path_buf(),
            text,
        })?;
    }
    Ok(vars)
}

/// Gives the caller's IPC namespace the limits of `vars`, writing only those that differ
/// from what it has (a fresh namespace has the kernel's defaults).
pub(super) fn write_limits(vars: &IpcVars) -> Result<(), SysvIpcError> {
    write_differing(&LIMITS, vars)
}

/// Gives the caller's IPC namespace the `*_next_id` values of `vars`.
pub(super) fn write_next_ids(vars: &IpcVars) -> Result<(), SysvIpcError> {
    write_differing(&NEXT_IDS, vars)
}

/// Gives the caller's IPC namespace the `shm_rmid_forced` of `vars`.
pub(super) fn write_rmid_forced(vars: &IpcVars) -> Result<(), SysvIpcError> {
    write_differing(std::slice::from_ref(&RMID_FORCED), vars)
}

fn write_differing(sysctls: &[Sysctl], vars: &IpcVars) -> Result<(), SysvIpcError> {
    for sysctl in sysctls {
        let path = Path::new(sysctl.path);
        let wanted = (sysctl.get)(vars);
        let now = read(path)?;
        if now.split_whitespace().eq(wanted.split_whitespace()) {
            continue;
        }
        write(path, &wanted)?;
    }
    Ok(())
}

/// Writes `id` to the `*_next_id` sysctl named `name` (`shm_next_id`).
pub(super) fn write_next_id(name: &str, id: i32) -> Result<(), SysvIpcError> {
    write(&PathBuf::from(KERNEL).join(name), &id.to_string())
}

fn read(path: &Path) -> Result<String, SysvIpcError> {
    std::fs::read_to_string(path).map_err(|source| SysvIpcError::Sysctl {
        path: path.to_path_buf(),
        source,
    })
}

fn write(path: &Path, text: &str) -> Result<(), SysvIpcError> {
    std::fs::write(path, text).map_err(|source| SysvIpcError::Sysctl {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sysctl_reads_back_what_it_wrote() {
        let mut vars = IpcVars {
            sem: [1, 2, 3, 4],
            shm_next_id: -1,
            shmmax: u64::MAX,
            ..Default::default()
        };
        for sysctl in LIMITS.iter().chain([&RMID_FORCED]).chain(&NEXT_IDS) {
            let text = (sysctl.get)(&vars);
            assert_eq!((sysctl.set)(&mut vars, &text), Some(()), "{}", sysctl.path);
        }
        assert_eq!((vars.sem, vars.shm_next_id), ([1, 2, 3, 4], -1));
    }

    #[test]
    fn crusts_own_namespace_reads() {
        let vars = read_vars().unwrap();
        assert!(vars.msgmni > 0);
    }
}
