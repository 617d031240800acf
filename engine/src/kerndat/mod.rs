//! What the running kernel offers crust ("kernel data", after CRIU's kerndat).
//!
//! Each feature crust relies on has a small probe that tries the feature
//! for real: a ptrace request on a child forked for the purpose, a syscall
//! with arguments the kernel must reject in a telling way, a file in /proc.
//! Probes leave nothing behind: every child they start is killed and reaped
//! before they return, and every descriptor they open is closed.
//!
//! ```no_run
//! for report in engine::kerndat::check_all() {
//!     println!("{}: {}", report.feature.name, report.result.is_ok());
//! }
//! ```

mod ipc;
mod memory;
mod net;
mod probe_child;
mod process;
mod ptrace;

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::path::PathBuf;

use nix::errno::Errno;
use nix::sys::wait::WaitStatus;
use nix::unistd::Pid;

/// Whether crust can work without a feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Dump or restore of ordinary processes fails without it.
    Required,
    /// Only some workloads, or only some speedups, need it.
    Optional,
}

/// One kernel feature and the probe that finds it.
#[derive(Debug)]
pub struct Feature {
    /// What the feature is, as the kernel names it.
    pub name: &'static str,
    /// Whether crust can do without it.
    pub need: Need,
    /// The privilege its probe needs, when it needs one.
    pub gate: Option<&'static Gate>,
    probe: fn() -> Result<(), KerndatError>,
}

/// A privilege a feature's probe needs, so that a crust without it cannot tell whether the
/// kernel has the feature (and cannot use it either).
#[derive(Debug)]
pub struct Gate {
    /// The privilege, as the user reads it (`CAP_CHECKPOINT_RESTORE`).
    pub needs: &'static str,
    /// What crust does without it.
    pub without: &'static str,
    held: fn() -> bool,
}

impl Gate {
    /// Whether crust holds the privilege.
    pub fn held(&self) -> bool {
        (self.held)()
    }
}

static MAP_FILES_GATE: Gate = Gate {
    needs: "CAP_CHECKPOINT_RESTORE",
    without: "compel shares its area through a memfd, and a dump refuses MAP_SHARED anonymous \
        memory, memfd and unlinked-file mappings",
    held: crate::privileges::may_open_map_files,
};

static SET_TID_GATE: Gate = Gate {
    needs: "CAP_CHECKPOINT_RESTORE",
    without: "crust restore is refused",
    held: || crate::privileges::CrustCredentials::read().is_ok_and(|c| c.may_choose_pids()),
};

static USERFAULTFD_GATE: Gate = Gate {
    needs: "CAP_SYS_PTRACE (or sysctl vm.unprivileged_userfaultfd=1)",
    without: "nothing changes today: crust restores no memory lazily yet",
    held: || crate::privileges::CrustCredentials::read().is_ok_and(|c| c.may_trace_other_users()),
};

static ROOT_GATE: Gate = Gate {
    needs: "root",
    without: "a restore relies on clone3 set_tid alone, which is what crust uses",
    held: || nix::unistd::geteuid().is_root(),
};

impl Feature {
    /// Tries the feature on this kernel; the error says what was missing.
    pub fn probe(&self) -> Result<(), KerndatError> {
        (self.probe)()
    }
}

/// The outcome of one probe.
#[derive(Debug)]
pub struct Report {
    /// The feature probed.
    pub feature: &'static Feature,
    /// `Ok` if present, otherwise why it is missing.
    pub result: Result<(), KerndatError>,
}

/// Why a feature is missing, or why its probe could not tell.
#[derive(Debug, thiserror::Error)]
pub enum KerndatError {
    /// Forking a child to probe on failed.
    #[error("fork of a probe child failed: {0}")]
    Fork(#[source] Errno),
    /// A ptrace request on the probe child failed.
    #[error("{request} on probe child {pid} failed: {errno}")]
    Ptrace {
        /// The request, by its kernel name.
        request: &'static str,
        /// The probe child.
        pid: Pid,
        /// What the kernel said.
        errno: Errno,
    },
    /// Waiting for the probe child failed.
    #[error("waiting for probe child {pid} failed: {errno}")]
    Wait {
        /// The probe child.
        pid: Pid,
        /// What the kernel said.
        errno: Errno,
    },
    /// The probe child stopped or ended in a way the probe did not ask for.
    #[error("probe child {pid} reported {status:?}")]
    UnexpectedStatus {
        /// The probe child.
        pid: Pid,
        /// What waitpid reported.
        status: WaitStatus,
    },
    /// A syscall failed.
    #[error("{call} failed: {errno}")]
    Syscall {
        /// The syscall, with the arguments that matter.
        call: &'static str,
        /// What the kernel said.
        errno: Errno,
    },
    /// The kernel does not know the syscall or the option.
    #[error("{call} is not implemented by this kernel ({errno})")]
    NotImplemented {
        /// The syscall, with the arguments that matter.
        call: &'static str,
        /// What the kernel said (ENOSYS, or EINVAL for an unknown option).
        errno: Errno,
    },
    /// A file could not be opened, read or written.
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: io::Error,
    },
    /// clone3 exists but is older than set_tid (Linux 5.5).
    #[error("clone3 does not take set_tid (kernel older than 5.5)")]
    Clone3WithoutSetTid,
    /// /proc/self/map_files lists nothing to open.
    #[error("/proc/self/map_files lists no mappings")]
    MapFilesEmpty,
    /// A written page did not come back soft-dirty from pagemap.
    #[error(
        "page at {address:#x} is not soft-dirty after a write \
         (kernel built without CONFIG_MEM_SOFT_DIRTY)"
    )]
    SoftDirtyNotSet {
        /// The page written.
        address: usize,
    },
    /// A 32-bit syscall (int 0x80) did not work in the probe child.
    #[error("int 0x80 in probe child {pid} ended with {status:?} (IA32 emulation is off)")]
    Ia32Unavailable {
        /// The probe child.
        pid: Pid,
        /// What waitpid reported.
        status: WaitStatus,
    },
}

/// The error for a syscall that just failed, from errno.
fn last_syscall_error(call: &'static str) -> KerndatError {
    match Errno::last() {
        errno @ Errno::ENOSYS => KerndatError::NotImplemented { call, errno },
        errno => KerndatError::Syscall { call, errno },
    }
}

/// Takes ownership of the descriptor a raw syscall returned, or its error.
fn owned_fd(ret: libc::c_long, call: &'static str) -> Result<OwnedFd, KerndatError> {
    if ret < 0 {
        return Err(last_syscall_error(call));
    }
    let fd = RawFd::try_from(ret).map_err(|_| KerndatError::Syscall {
        call,
        errno: Errno::EOVERFLOW,
    })?;
    // SAFETY: the syscall just returned this descriptor and nothing else holds it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The error for a file that could not be opened, read or written.
fn file_error(path: &str) -> impl FnOnce(io::Error) -> KerndatError + '_ {
    move |source| KerndatError::File {
        path: PathBuf::from(path),
        source,
    }
}

/// Every feature crust knows about, in the order `crust check` lists them.
pub fn features() -> &'static [Feature] {
    &FEATURES
}

/// Probes every feature; each report says present or why missing.
pub fn check_all() -> Vec<Report> {
    FEATURES
        .iter()
        .map(|feature| {
            let result = feature.probe();
            match &result {
                Ok(()) => log::debug!("kernel feature {}: present", feature.name),
                Err(why) => log::debug!("kernel feature {}: missing: {why}", feature.name),
            }
            Report { feature, result }
        })
        .collect()
}

const fn required(name: &'static str, probe: fn() -> Result<(), KerndatError>) -> Feature {
    Feature {
        name,
        need: Need::Required,
        gate: None,
        probe,
    }
}

const fn optional(name: &'static str, probe: fn() -> Result<(), KerndatError>) -> Feature {
    Feature {
        name,
        need: Need::Optional,
        gate: None,
        probe,
    }
}

const fn gated(
    name: &'static str,
    probe: fn() -> Result<(), KerndatError>,
    gate: &'static Gate,
) -> Feature {
    Feature {
        name,
        need: Need::Required,
        gate: Some(gate),
        probe,
    }
}

static FEATURES: [Feature; 21] = [
    required("ptrace PTRACE_SEIZE", ptrace::seize),
    required("ptrace PTRACE_INTERRUPT", ptrace::interrupt),
    required(
        "ptrace PTRACE_GETREGSET NT_X86_XSTATE",
        ptrace::getregset_xstate,
    ),
    required("ptrace PTRACE_GETSIGMASK", ptrace::getsigmask),
    required(
        "ptrace PTRACE_GET_RSEQ_CONFIGURATION",
        ptrace::get_rseq_configuration,
    ),
    gated(
        "/proc/PID/map_files readable",
        memory::map_files,
        &MAP_FILES_GATE,
    ),
    gated(
        "clone3 with set_tid",
        process::clone3_set_tid,
        &SET_TID_GATE,
    ),
    gated(
        "/proc/sys/kernel/ns_last_pid writable",
        process::ns_last_pid,
        &ROOT_GATE,
    ),
    required("memfd_create", memory::memfd_create),
    gated("userfaultfd", memory::userfaultfd, &USERFAULTFD_GATE),
    required("kcmp", process::kcmp),
    required("pidfd_open and pidfd_getfd", process::pidfd),
    required("vmsplice", memory::vmsplice),
    required("prctl PR_SET_MM_MAP", memory::prctl_set_mm_map),
    required("arch_prctl ARCH_MAP_VDSO_64", process::arch_map_vdso_64),
    required("time namespaces", process::time_namespace),
    required("sock_diag netlink", net::sock_diag),
    optional("soft-dirty page tracking", memory::soft_dirty),
    optional("msgrcv MSG_COPY", ipc::msg_copy),
    optional("/proc/sys/kernel/shm_next_id writable", ipc::next_id),
    optional("IA32 emulation", process::ia32_emulation),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feature_names_are_unique() {
        let mut names: Vec<_> = features().iter().map(|f| f.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), features().len());
    }

    #[test]
    fn features_every_linux_6_kernel_has_are_present() {
        for name in [
            "ptrace PTRACE_SEIZE",
            "memfd_create",
            "pidfd_open and pidfd_getfd",
            "msgrcv MSG_COPY",
        ] {
            let feature = features().iter().find(|f| f.name == name);
            let result = feature.map(Feature::probe);
            assert!(matches!(result, Some(Ok(()))), "{name}: {result:?}");
        }
    }

    #[test]
    fn check_all_reports_every_feature_once() {
        let reports = check_all();
        assert_eq!(reports.len(), features().len());
    }
}
