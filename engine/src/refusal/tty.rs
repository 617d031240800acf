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
use super::{Allowances, Findings, Reason, RefusalError, Resource};
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

/// Checks every pty end of `pid` and its controlling terminal.
pub(super) fn check_ttys(
    pid: Pid,
    open: &[OpenFd],
    allowed: &Allowances,
    found: &mut Findings,
) -> Result<(), RefusalError> {
    let ptys = pty_fds(open, found);
    let masters: BTreeSet<u32> = ptys.masters.iter().map(|(_, index, _)| *index).collect();
    let slaves: BTreeSet<u32> = ptys.slaves.iter().map(|(_, index, _)| *index).collect();
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
    check_controlling_terminal(pid, &stat, &masters, allowed, found);
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
    found: &mut Findings,
) {
    if stat.tty_nr == 0 {
        return;
    }
    let tty = stat.tty_nr;
    match controlling_pty(tty) {
        None => found.add(Resource::Task, Reason::ControllingTerminal { tty }),
        Some(index) if masters.contains(&index) => {
            if stat.session != pid {
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
