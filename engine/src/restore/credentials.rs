//! What a restore by a crust without root's capabilities may give the processes it makes,
//! checked against the images before anything is created.
//!
//! A restored process starts as a child of crust, with crust's ids, groups, capabilities,
//! securebits and limits. Giving it other ones needs capabilities: CAP_SETUID and
//! CAP_SETGID for other ids and for setgroups, CAP_SETPCAP for securebits and the bounding
//! set, CAP_SYS_RESOURCE to raise a hard limit, CAP_CHOWN (or ownership) for a recreated
//! unlinked file's owner; a capability it held must be one crust holds. An ordinary user
//! restoring its own processes needs none of these; images of root's (or anyone else's)
//! processes are refused here with the first credential crust cannot give.

use crate::privileges::{capability_names, CrustCredentials};
use crate::snapshot::TreeSnapshot;
use crate::snapshot::{Credentials, Rlimit};

/// The resource limits by RLIMIT_* number, as setrlimit(2) names them.
const LIMIT_NAMES: [&str; 16] = [
    "RLIMIT_CPU",
    "RLIMIT_FSIZE",
    "RLIMIT_DATA",
    "RLIMIT_STACK",
    "RLIMIT_CORE",
    "RLIMIT_RSS",
    "RLIMIT_NPROC",
    "RLIMIT_NOFILE",
    "RLIMIT_MEMLOCK",
    "RLIMIT_AS",
    "RLIMIT_LOCKS",
    "RLIMIT_SIGPENDING",
    "RLIMIT_MSGQUEUE",
    "RLIMIT_NICE",
    "RLIMIT_RTPRIO",
    "RLIMIT_RTTIME",
];

/// CAP_CHOWN.
const CAP_CHOWN: u32 = 0;
/// CAP_FOWNER.
const CAP_FOWNER: u32 = 3;
/// CAP_SETPCAP.
const CAP_SETPCAP: u32 = 8;
/// CAP_SYS_RESOURCE.
const CAP_SYS_RESOURCE: u32 = 24;

/// A credential of the images that crust cannot give.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CredentialError {
    /// A uid other than crust's.
    #[error(
        "pid {pid} (tid {tid}) ran with uid {uid}, and crust runs as uid {crust_uid} without \
         root's CAP_SETUID, CAP_SETGID and CAP_SETPCAP: only root restores another user's \
         processes"
    )]
    OtherUid {
        /// The process in the images.
        pid: i32,
        /// The thread.
        tid: i32,
        /// The id it had.
        uid: u32,
        /// crust's own.
        crust_uid: u32,
    },
    /// A gid other than crust's.
    #[error(
        "pid {pid} (tid {tid}) ran with gid {gid}, and crust runs with gid {crust_gid} without \
         root's CAP_SETUID, CAP_SETGID and CAP_SETPCAP"
    )]
    OtherGid {
        /// The process in the images.
        pid: i32,
        /// The thread.
        tid: i32,
        /// The id it had.
        gid: u32,
        /// crust's own.
        crust_gid: u32,
    },
    /// Supplementary groups other than crust's.
    #[error(
        "pid {pid} (tid {tid}) had supplementary groups {groups:?}; crust has {crust_groups:?} \
         and may not change them without root's CAP_SETUID, CAP_SETGID and CAP_SETPCAP"
    )]
    OtherGroups {
        /// The process in the images.
        pid: i32,
        /// The thread.
        tid: i32,
        /// Its groups.
        groups: Vec<u32>,
        /// crust's.
        crust_groups: Vec<u32>,
    },
    /// Capabilities crust does not hold.
    #[error("pid {pid} (tid {tid}) held capabilities crust has not: {names}")]
    Capabilities {
        /// The process in the images.
        pid: i32,
        /// The thread.
        tid: i32,
        /// Their names.
        names: String,
    },
    /// Securebits or a bounding set other than crust's.
    #[error(
        "pid {pid} (tid {tid}) had {what} other than crust's, which only root's CAP_SETPCAP \
         changes"
    )]
    Setpcap {
        /// The process in the images.
        pid: i32,
        /// The thread.
        tid: i32,
        /// `securebits` or `a bounding set`.
        what: &'static str,
    },
    /// A hard resource limit above crust's own.
    #[error(
        "pid {pid} had a hard {resource} limit of {hard}, above crust's \
         {crust_hard}, which only CAP_SYS_RESOURCE raises"
    )]
    HardLimit {
        /// The process in the images.
        pid: i32,
        /// The limit, as RLIMIT_* names it.
        resource: &'static str,
        /// Its hard limit.
        hard: u64,
        /// crust's.
        crust_hard: u64,
    },
    /// An unlinked file crust would recreate owned by someone else.
    #[error(
        "pid {pid}: the unlinked file {path} was owned by uid {uid} gid {gid}, which crust \
         without CAP_CHOWN cannot give it"
    )]
    GhostOwner {
        /// The process holding it.
        pid: i32,
        /// Its former path.
        path: String,
        /// Its owner.
        uid: u32,
        /// Its group.
        gid: u32,
    },
}

/// Checks every process and thread of `tree` against what `crust` may give (nothing to check
/// for a crust with CAP_SETUID, CAP_SETGID, CAP_SETPCAP and CAP_SYS_RESOURCE).
pub fn check(tree: &TreeSnapshot, crust: &CrustCredentials) -> Result<(), CredentialError> {
    for process in &tree.processes {
        for thread in &process.threads {
            check_thread(process.pid, thread.tid, &thread.creds, crust)?;
        }
        if !crust.has(CAP_SYS_RESOURCE) {
            check_limits(process.pid, &process.rlimits)?;
        }
        if !crust.has(CAP_CHOWN) {
            for ghost in &process.invisible.ghosts {
                let (uid, gid) = (ghost.attributes.uid, ghost.attributes.gid);
                let own_group = gid == crust.gid() || crust.groups().contains(&gid);
                if uid != crust.uid() || !(own_group || crust.has(CAP_FOWNER)) {
                    let path = ghost.path.clone();
                    let pid = process.pid;
                    return Err(CredentialError::GhostOwner {
                        pid,
                        path,
                        uid,
                        gid,
                    });
                }
            }
        }
    }
    Ok(())
}

/// Whether restored threads keep crust's own ids, groups, securebits and bounding set (the
/// path of a crust without all of CAP_SETUID, CAP_SETGID and CAP_SETPCAP, whose images
/// [`check`] found to hold those very ones), read once.
pub fn keeps_crusts_ids() -> bool {
    static KEEPS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *KEEPS.get_or_init(|| CrustCredentials::read().is_ok_and(|crust| !changes_ids(&crust)))
}

/// Whether `crust` may give a thread other ids, groups and securebits.
fn changes_ids(crust: &CrustCredentials) -> bool {
    crust.has(crate::privileges::CAP_SETUID)
        && crust.has(crate::privileges::CAP_SETGID)
        && crust.has(CAP_SETPCAP)
}

fn check_thread(
    pid: i32,
    tid: i32,
    creds: &Credentials,
    crust: &CrustCredentials,
) -> Result<(), CredentialError> {
    if !changes_ids(crust) {
        check_same_ids(pid, tid, creds, crust)?;
    }
    let mut held = creds.cap_permitted | creds.cap_effective | creds.cap_ambient;
    if !crust.has(CAP_SETPCAP) {
        held |= creds.cap_inheritable;
    }
    let beyond = held & !crust.permitted();
    if beyond != 0 {
        let names = capability_names(beyond);
        return Err(CredentialError::Capabilities { pid, tid, names });
    }
    Ok(())
}

/// The thread's ids, groups, securebits and bounding set must be crust's own.
fn check_same_ids(
    pid: i32,
    tid: i32,
    creds: &Credentials,
    crust: &CrustCredentials,
) -> Result<(), CredentialError> {
    let crust_uid = crust.uid();
    if let Some(&uid) = creds.uids.iter().find(|&&uid| uid != crust_uid) {
        return Err(CredentialError::OtherUid {
            pid,
            tid,
            uid,
            crust_uid,
        });
    }
    let crust_gid = crust.gid();
    if let Some(&gid) = creds.gids.iter().find(|&&gid| gid != crust_gid) {
        return Err(CredentialError::OtherGid {
            pid,
            tid,
            gid,
            crust_gid,
        });
    }
    if !same_set(&creds.groups, crust.groups()) {
        let groups = creds.groups.clone();
        let crust_groups = crust.groups().to_vec();
        return Err(CredentialError::OtherGroups {
            pid,
            tid,
            groups,
            crust_groups,
        });
    }
    let what = if creds.securebits != own_securebits() {
        Some("securebits")
    } else if crust.bounding() & !creds.cap_bounding != 0 {
        Some("a bounding set")
    } else {
        None
    };
    match what {
        Some(what) => Err(CredentialError::Setpcap { pid, tid, what }),
        None => Ok(()),
    }
}

fn check_limits(pid: i32, limits: &[Rlimit]) -> Result<(), CredentialError> {
    for (resource, limit) in limits.iter().enumerate() {
        let Ok(crust) = crust_limit(resource) else {
            continue;
        };
        if limit.hard > crust {
            let hard = limit.hard;
            let resource = LIMIT_NAMES.get(resource).copied().unwrap_or("unknown");
            return Err(CredentialError::HardLimit {
                pid,
                resource,
                hard,
                crust_hard: crust,
            });
        }
    }
    Ok(())
}

/// crust's hard limit of `resource` (u64::MAX: unlimited).
fn crust_limit(resource: usize) -> Result<u64, nix::errno::Errno> {
    let mut limit = libc::rlimit64 {
        rlim_cur: 0,
        rlim_max: 0,
    };
    let resource = i32::try_from(resource).map_err(|_| nix::errno::Errno::EINVAL)?;
    // SAFETY: prlimit64 on ourselves writes one rlimit64 into `limit`, which outlives the call.
    let result = unsafe {
        libc::prlimit64(
            0,
            resource as libc::__rlimit_resource_t,
            std::ptr::null(),
            &mut limit,
        )
    };
    nix::errno::Errno::result(result)?;
    Ok(limit.rlim_max)
}

/// crust's own securebits (prctl PR_GET_SECUREBITS).
fn own_securebits() -> u32 {
    // SAFETY: PR_GET_SECUREBITS takes no pointer and only returns a value.
    let bits = unsafe { libc::prctl(libc::PR_GET_SECUREBITS) };
    u32::try_from(bits).unwrap_or(0)
}

fn same_set(a: &[u32], b: &[u32]) -> bool {
    a.iter().all(|x| b.contains(x)) && b.iter().all(|x| a.contains(x))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An ordinary user's crust (uid 1000, gid 100, group 100, no capability).
    fn user_crust() -> CrustCredentials {
        let mut status = crate::proc::status::status(nix::unistd::getpid()).expect("own status");
        let ids = |id| crate::proc::status::Ids {
            real: id,
            effective: id,
            saved: id,
            fs: id,
        };
        status.uid = ids(1000);
        status.gid = ids(100);
        status.groups = vec![100];
        (status.cap_eff, status.cap_prm) = (0, 0);
        CrustCredentials::from_status(status)
    }

    fn users_creds(crust: &CrustCredentials) -> Credentials {
        Credentials {
            uids: [1000; 4],
            gids: [100; 4],
            groups: vec![100],
            cap_bounding: crust.bounding(),
            securebits: own_securebits(),
            ..Credentials::default()
        }
    }

    #[test]
    fn the_users_own_credentials_pass() {
        let crust = user_crust();
        assert_eq!(check_thread(7, 7, &users_creds(&crust), &crust), Ok(()));
    }

    #[test]
    fn roots_uid_is_named_first() {
        let crust = user_crust();
        let creds = Credentials {
            uids: [0; 4],
            gids: [0; 4],
            cap_permitted: !0,
            ..users_creds(&crust)
        };
        let refused = check_thread(7, 8, &creds, &crust);
        let expected = CredentialError::OtherUid {
            pid: 7,
            tid: 8,
            uid: 0,
            crust_uid: 1000,
        };
        assert_eq!(refused, Err(expected));
    }

    #[test]
    fn a_saved_gid_groups_and_capabilities_are_each_refused() {
        let crust = user_crust();
        let creds = Credentials {
            gids: [100, 100, 5, 100],
            ..users_creds(&crust)
        };
        let refused = check_thread(7, 7, &creds, &crust);
        assert!(matches!(
            refused,
            Err(CredentialError::OtherGid { gid: 5, .. })
        ));

        let creds = Credentials {
            groups: vec![100, 27],
            ..users_creds(&crust)
        };
        let refused = check_thread(7, 7, &creds, &crust);
        assert!(matches!(refused, Err(CredentialError::OtherGroups { .. })));

        let creds = Credentials {
            cap_ambient: 1 << 40,
            ..users_creds(&crust)
        };
        let refused = check_thread(7, 7, &creds, &crust);
        let names = "cap_checkpoint_restore".to_string();
        let expected = CredentialError::Capabilities {
            pid: 7,
            tid: 7,
            names,
        };
        assert_eq!(refused, Err(expected));
    }

    #[test]
    fn a_hard_limit_above_crusts_is_named() {
        let above = Rlimit {
            soft: 0,
            hard: crust_limit(libc::RLIMIT_NOFILE as usize).expect("own limit") + 1,
        };
        let mut limits = vec![Rlimit { soft: 0, hard: 0 }; 16];
        limits[libc::RLIMIT_NOFILE as usize] = above;
        let refused = check_limits(9, &limits);
        assert!(
            matches!(
                refused,
                Err(CredentialError::HardLimit {
                    resource: "RLIMIT_NOFILE",
                    ..
                })
            ),
            "{refused:?}"
        );
    }
}
