//! A process and all its descendants, read from `/proc/PID/task/*/children`.

use nix::unistd::Pid;

use super::status::TaskState;
use super::ProcError;

/// One process of a tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member {
    /// The process.
    pub pid: Pid,
    /// Its parent in the tree (`None` for the root).
    pub parent: Option<Pid>,
    /// Whether it had exited and waits to be reaped.
    pub zombie: bool,
}

/// `root` and every descendant, parents before children (depth first, children in pid
/// order). A descendant that exits while the tree is read is left out; the root must exist.
pub fn walk(root: Pid) -> Result<Vec<Member>, ProcError> {
    walk_within(root, |_| true)
}

/// [`walk`], listing the children only of the processes `descend` accepts (the others are
/// members without descendants).
pub fn walk_within(
    root: Pid,
    mut descend: impl FnMut(Pid) -> bool,
) -> Result<Vec<Member>, ProcError> {
    let mut members = Vec::new();
    let mut stack = vec![(root, None)];
    while let Some((pid, parent)) = stack.pop() {
        let state = match super::stat::stat(pid) {
            Ok(stat) => stat.state,
            Err(_) if parent.is_some() => continue,
            Err(error) => return Err(error),
        };
        let zombie = state == TaskState::Zombie;
        members.push(Member {
            pid,
            parent,
            zombie,
        });
        if zombie || !descend(pid) {
            continue;
        }
        let children = match super::task::children(pid) {
            Ok(children) => children,
            Err(_) if parent.is_some() && !super::proc_path(pid, "stat").exists() => continue,
            Err(error) => return Err(error),
        };
        stack.extend(children.into_iter().rev().map(|child| (child, Some(pid))));
    }
    Ok(members)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lone_process_is_its_own_tree() {
        let me = Pid::this();
        let members = walk(me).unwrap();
        assert_eq!(members[0].pid, me);
        assert_eq!(members[0].parent, None);
        assert!(!members[0].zombie);
    }
}
