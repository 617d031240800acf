//! Freezing a tree: each process seized with all its threads, top down, so
//! that a frozen parent can make no new child while its children are read.

use compel::infect::Victim;
use nix::unistd::Pid;

use crate::proc::status::TaskState;
use crate::snapshot::ZombieSnapshot;

use super::DumpError;

/// A frozen process of the tree, with its parent in the tree.
pub struct FrozenProcess {
    /// The seized process.
    pub victim: Victim,
    /// Its parent (`None` for the root).
    pub parent: Option<Pid>,
}

/// The tree under a pid, frozen: live processes in the order a restore
/// creates them (parents first), and the zombies among them.
pub struct FrozenTree {
    /// Live processes, the root first, each parent before its children.
    pub processes: Vec<FrozenProcess>,
    /// Children that had exited and were not reaped.
    pub zombies: Vec<ZombieSnapshot>,
}

/// Seizes `root`, then each of its children, and so on down. A child that
/// exits on the way is a zombie now (its parent is frozen and cannot reap
/// it): it is recorded as one. Should anything fail, the processes seized so
/// far are released untouched as the tree is dropped.
pub fn freeze(root: Pid) -> Result<FrozenTree, DumpError> {
    let mut tree = FrozenTree {
        processes: Vec::new(),
        zombies: Vec::new(),
    };
    let mut stack = vec![(root, None)];
    while let Some((pid, parent)) = stack.pop() {
        if let Some(parent) = parent {
            if let Some(zombie) = zombie(pid, parent)? {
                tree.zombies.push(zombie);
                continue;
            }
        }
        let victim = match (Victim::seize(pid), parent) {
            (Ok(victim), _) => victim,
            // It exited since it was listed: a zombie now, or reaped (its
            // parent ignores SIGCHLD) and gone.
            (Err(error), Some(parent)) => match zombie(pid, parent) {
                Ok(Some(zombie)) => {
                    tree.zombies.push(zombie);
                    continue;
                }
                Err(_) if !crate::proc::proc_path(pid, "stat").exists() => continue,
                _ => return Err(error.into()),
            },
            (Err(error), None) => return Err(error.into()),
        };
        let children = crate::proc::task::children(pid)?;
        log::debug!("pid {pid}: frozen, children {children:?}");
        stack.extend(children.into_iter().rev().map(|child| (child, Some(pid))));
        tree.processes.push(FrozenProcess { victim, parent });
    }
    Ok(tree)
}

/// `pid` as a zombie, if it is one.
fn zombie(pid: Pid, parent: Pid) -> Result<Option<ZombieSnapshot>, DumpError> {
    let stat = crate::proc::stat::stat(pid)?;
    if stat.state != TaskState::Zombie {
        return Ok(None);
    }
    Ok(Some(ZombieSnapshot {
        pid: pid.as_raw(),
        ppid: parent.as_raw(),
        pgid: stat.pgrp.as_raw(),
        sid: stat.session.as_raw(),
        wait_status: stat.exit_code,
        exit_signal: libc::SIGCHLD,
        comm: stat.comm,
    }))
}
