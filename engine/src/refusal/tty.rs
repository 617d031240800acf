//! Refusals about terminals: pseudo-terminal ends and the controlling
//! terminal.
//!
//! crust dumps a pty whose two ends the process holds, and, with
//! `--shell-job`, the one terminal of a shell job (a pty slave whose master
//! is held outside, by a terminal emulator or tmux), which a restore replaces
//! with its own terminal. Anything else about terminals is refused here.

use std::collections::BTreeSet;

use nix::unistd::Pid;

use super::files::OpenFd;
use super::{Allowances, Findings, Reason, RefusalError, Resource, Tree};
use crate::proc::fd::FdKind;
use crate::proc::stat::stat;
use crate::snapshot::tty::{is_ptmx, slave_index};

/// The pty ends among a process's fds: (fd, index, what the fd is), masters
/// and slaves apart. A master whose index the kernel does not show is refused.
struct PtyFds {
    masters: Vec<(i32, u32, String)>,
    slaves: Vec<(i32, u32, String)>,
}

fn pty_fds(open: &[OpenFd], found: &mut Findings) -> PtyFds {
    let mut ptys = PtyFds {
        masters: Vec::new(),
        slaves: Vec::new(),
    };
    for fd in open {
        let FdKind::CharDevice { path, dev } = &fd.kind else {
            continue;
        };
        let what = format!("{} (char {dev})", path.display());
        if let Some(index) = slave_index(dev.major, dev.minor) {
            ptys.slaves.push((fd.link.fd, index, what));
        } else if is_ptmx(dev.major, dev.minor) {
            match fd
                .info
                .extra_value("tty-index")
                .and_then(|i| i.parse().ok())
            {
                Some(index) => ptys.masters.push((fd.link.fd, index, what)),
                None => found.add(Resource::Fd(fd.link.fd, what), Reason::PtyIndexUnknown),
            }
        }
    }
    ptys
}

/// Adds the pty indexes whose master (`ends.0`) or slave (`ends.1`) `pid` holds.
pub(super) fn pty_ends_of(pid: Pid, ends: &mut (BTreeSet<u32>, BTreeSet<u32>)) {
    let Ok(fds) = std::fs::read_dir(crate::proc::proc_path(pid, "fd")) else {
        return;
    };
    for fd in fds.flatten() {
        let Ok(target) = std::fs::read_link(fd.path()) else {
            continue;
        };
        let target = target.to_string_lossy();
        if let Some(index) = target
            .strip_prefix("/dev/pts/")
            .and_then(|i| i.parse().ok())
        {
            ends.1.insert(index);
        } else if target == "/dev/ptmx" || target == "/dev/pts/ptmx" {
            let info = crate::proc::proc_path(
                pid,
                &format!("fdinfo/{}", fd.file_name().to_string_lossy()),
            );
            let text = std::fs::read_to_string(info).unwrap_or_default();
            let index = text
                .lines()
                .find_map(|line| line.strip_prefix("tty-index:")?.trim().parse().ok());
            if let Some(index) = index {
                ends.0.insert(index);
            }
        }
    }
}

/// Checks every pty end of `pid` and its controlling terminal. A pty whose two ends are held
/// by processes of the tree (a terminal emulator and its shell) is dumped with the tree.
pub(super) fn check_ttys(
    pid: Pid,
    open: &[OpenFd],
    allowed: &Allowances,
    tree: &Tree,
    found: &mut Findings,
) -> Result<(), RefusalError> {
    let ptys = pty_fds(open, found);
    let (tree_masters, tree_slaves) = tree.pty_ends();
    let own_masters = ptys.masters.iter().map(|(_, index, _)| *index);
    let masters: BTreeSet<u32> = own_masters.chain(tree_masters.iter().copied()).collect();
    let own_slaves = ptys.slaves.iter().map(|(_, index, _)| *index);
    let slaves: BTreeSet<u32> = own_slaves.chain(tree_slaves.iter().copied()).collect();
    for (fd, index, what) in &ptys.masters {
        if !slaves.contains(index) {
            let reason = Reason::PtyMasterAlone { index: *index };
            found.add(Resource::Fd(*fd, what.clone()), reason);
        }
    }

    let stat = stat(pid).map_err(RefusalError::Task)?;
    let ctty = controlling_pty(stat.tty_nr);
    let terminal = ctty.filter(|index| !masters.contains(index)).or_else(|| {
        let mut outside = ptys.slaves.iter().filter(|(_, i, _)| !masters.contains(i));
        outside.next().map(|(_, index, _)| *index)
    });
    for (fd, index, what) in &ptys.slaves {
        if masters.contains(index) {
            continue;
        }
        let resource = Resource::Fd(*fd, what.clone());
        if !allowed.shell_job {
            let reason = Reason::ExternalTerminal { index: *index };
            found.add_with_option(resource, reason, "--shell-job");
        } else if Some(*index) != terminal {
            let terminal = terminal.unwrap_or(*index);
            found.add(resource, Reason::SecondTerminal { terminal });
        }
    }
    check_controlling_terminal(pid, &stat, &masters, allowed, tree, found);
    Ok(())
}

/// The pty index of a controlling terminal `tty_nr` (stat's encoding), if
/// it is a pty slave.
fn controlling_pty(tty_nr: u32) -> Option<u32> {
    if tty_nr == 0 {
        return None;
    }
    let major = tty_nr >> 8 & 0xfff;
    let minor = (tty_nr & 0xff) | (tty_nr >> 12 & 0xfff00);
    slave_index(major, minor)
}

/// A controlling terminal passes when it is a pty whose master the process
/// holds and the process leads the session (the restore makes it its
/// controlling terminal again), or, with `--shell-job`, when it is a pty.
fn check_controlling_terminal(
    pid: Pid,
    stat: &crate::proc::stat::Stat,
    masters: &BTreeSet<u32>,
    allowed: &Allowances,
    tree: &Tree,
    found: &mut Findings,
) {
    if stat.tty_nr == 0 {
        return;
    }
    let tty = stat.tty_nr;
    match controlling_pty(tty) {
        None => found.add(Resource::Task, Reason::ControllingTerminal { tty }),
        Some(index) if masters.contains(&index) => {
            // The session leader, of the tree, makes it its controlling terminal again
            // before its children are forked; they inherit it.
            if stat.session != pid && !tree.contains(stat.session) {
                let reason = Reason::InnerTerminalOfOtherSession { index };
                found.add(Resource::Task, reason);
            }
        }
        Some(_) if allowed.shell_job => {}
        Some(_) => {
            let reason = Reason::ControllingTerminal { tty };
            found.add_with_option(Resource::Task, reason, "--shell-job");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controlling_terminals_decode_to_pty_indexes() {
        assert_eq!(controlling_pty(0), None);
        assert_eq!(controlling_pty(34816), Some(0));
        assert_eq!(controlling_pty(34816 + 5), Some(5));
        // major 137, minor 2: pts 258.
        assert_eq!(controlling_pty(137 << 8 | 2), Some(258));
        // /dev/tty1 (4:1) is no pty.
        assert_eq!(controlling_pty(4 << 8 | 1), None);
    }
}
