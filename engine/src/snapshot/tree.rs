//! A tree of processes: every process under the dumped one, parents before
//! children, and the children that had exited but were not reaped yet.

use std::collections::HashSet;

use super::{ProcessSnapshot, SnapshotError};

/// A child that had exited and was waiting for its parent to reap it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZombieSnapshot {
    /// Its pid.
    pub pid: i32,
    /// Its parent, a process of the tree.
    pub ppid: i32,
    /// Process group.
    pub pgid: i32,
    /// Session.
    pub sid: i32,
    /// The status its parent's wait(2) will see (exit code << 8, or the killing signal).
    pub wait_status: i32,
    /// The signal its parent gets when it dies (SIGCHLD unless clone(2) said otherwise).
    pub exit_signal: i32,
    /// Its name (comm), as ps shows it.
    pub comm: String,
}

impl ZombieSnapshot {
    /// The exit code it ended with, when it exited rather than died of a signal.
    pub fn exit_code(&self) -> Option<i32> {
        (self.wait_status & 0x7f == 0).then_some((self.wait_status >> 8) & 0xff)
    }

    /// The signal that killed it, when one did.
    pub fn killed_by(&self) -> Option<i32> {
        let signal = self.wait_status & 0x7f;
        (signal != 0).then_some(signal)
    }
}

/// Every process of a dump: the root first, each parent before its children.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeSnapshot {
    /// Live processes, in the order a restore creates them.
    pub processes: Vec<ProcessSnapshot>,
    /// Children that had exited and were not reaped.
    pub zombies: Vec<ZombieSnapshot>,
    /// The tree's own IPC namespace, when it ran in one (`None`: it shared crust's).
    pub ipc: Option<super::IpcNamespaceSnapshot>,
}

impl TreeSnapshot {
    /// The process the dump was asked for.
    pub fn root(&self) -> Option<&ProcessSnapshot> {
        self.processes.first()
    }

    /// The process with this pid.
    pub fn process(&self, pid: i32) -> Option<&ProcessSnapshot> {
        self.processes.iter().find(|p| p.pid == pid)
    }

    /// Every pid and tid the tree will take, zombies included.
    pub fn all_ids(&self) -> Vec<i32> {
        let tids = self
            .processes
            .iter()
            .flat_map(|p| p.threads.iter().map(|t| t.tid));
        tids.chain(self.zombies.iter().map(|z| z.pid)).collect()
    }

    /// Process groups of the tree whose leader is not in it (it had exited and was reaped), as
    /// (pgid, session of their members), each once.
    pub fn orphan_groups(&self) -> Vec<(i32, i32)> {
        let ids = self.all_ids();
        let groups = self.processes.iter().map(|p| (p.pgid, p.sid));
        let mut orphans: Vec<(i32, i32)> = groups
            .chain(self.zombies.iter().map(|z| (z.pgid, z.sid)))
            .filter(|(pgid, _)| !ids.contains(pgid))
            .collect();
        orphans.sort_unstable();
        orphans.dedup_by_key(|(pgid, _)| *pgid);
        orphans
    }

    /// Every SysV shm area of `process` attaches a segment of the tree's own IPC namespace: a
    /// restore attaches segments there, never in crust's.
    fn check_sysv_areas(&self, process: &ProcessSnapshot) -> Result<(), SnapshotError> {
        for vma in &process.memory.vmas {
            let super::VmaBacking::SysvShm { shmid } = vma.backing else {
                continue;
            };
            if self
                .ipc
                .as_ref()
                .and_then(|ipc| ipc.segment(shmid))
                .is_none()
            {
                return Err(SnapshotError::OutOfRange {
                    pid: process.pid,
                    what: "SysV shm id of an area (no segment of the tree's IPC namespace)",
                    value: shmid.into(),
                });
            }
        }
        Ok(())
    }

    /// Checks each process, and that the tree is one: ids unique, the root
    /// without a parent in it, every other process and zombie the child of
    /// a process listed before it.
    pub fn validate(&self) -> Result<(), SnapshotError> {
        let root = self.root().ok_or(SnapshotError::EmptyTree)?;
        if let Some(ipc) = &self.ipc {
            ipc.validate(root.pid)?;
        }
        let mut ids = HashSet::new();
        for id in self.all_ids() {
            if !ids.insert(id) {
                return Err(SnapshotError::DuplicatePid { pid: id });
            }
        }
        let mut made = HashSet::from([root.pid]);
        // A restore gives a process its session by inheritance or by starting one.
        let inherits = |pid: i32, ppid: i32, sid: i32| {
            let parent_sid = self.process(ppid).map(|parent| parent.sid);
            match sid == pid || parent_sid == Some(sid) {
                true => Ok(()),
                false => Err(SnapshotError::OutOfRange {
                    pid,
                    what: "session (neither its own nor its parent's)",
                    value: sid.into(),
                }),
            }
        };
        for process in &self.processes {
            process.validate()?;
            self.check_sysv_areas(process)?;
            if process.pid == root.pid {
                continue;
            }
            if !made.contains(&process.ppid) {
                return Err(SnapshotError::Orphan {
                    pid: process.pid,
                    ppid: process.ppid,
                });
            }
            inherits(process.pid, process.ppid, process.sid)?;
            made.insert(process.pid);
        }
        for zombie in &self.zombies {
            if !made.contains(&zombie.ppid) {
                return Err(SnapshotError::Orphan {
                    pid: zombie.pid,
                    ppid: zombie.ppid,
                });
            }
            inherits(zombie.pid, zombie.ppid, zombie.sid)?;
            if !(1..=64).contains(&zombie.exit_signal) {
                return Err(SnapshotError::OutOfRange {
                    pid: zombie.pid,
                    what: "exit signal",
                    value: zombie.exit_signal.into(),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_status_says_how_the_zombie_ended() {
        let exited = ZombieSnapshot {
            pid: 2,
            ppid: 1,
            pgid: 1,
            sid: 1,
            wait_status: 7 << 8,
            exit_signal: libc::SIGCHLD,
            comm: "sleep".into(),
        };
        assert_eq!(exited.exit_code(), Some(7));
        assert_eq!(exited.killed_by(), None);
        let killed = ZombieSnapshot {
            wait_status: libc::SIGKILL,
            ..exited.clone()
        };
        assert_eq!(killed.exit_code(), None);
        assert_eq!(killed.killed_by(), Some(libc::SIGKILL));
    }
}
