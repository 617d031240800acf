//! Refusals of pseudo-terminals, on real children holding their ends.

mod refusal_child;

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};

use engine::refusal::{check_tree_with, Allowances};
use refusal_child::{serial, Child};

/// A new pty: (master, slave, index).
fn pty() -> (OwnedFd, OwnedFd, u32) {
    let flags = nix::fcntl::OFlag::O_RDWR | nix::fcntl::OFlag::O_NOCTTY;
    let master = nix::fcntl::open("/dev/ptmx", flags, nix::sys::stat::Mode::empty()).unwrap();
    // SAFETY: open returned a new fd that nothing else owns.
    let master = unsafe { OwnedFd::from_raw_fd(master) };
    engine::pty::set_locked(master.as_fd(), false).unwrap();
    let slave = engine::pty::open_peer(master.as_fd(), libc::O_RDWR).unwrap();
    let index = engine::pty::index(master.as_fd()).unwrap();
    (master, slave, index)
}

/// The refusal lines about fd 100 and 101 of the child, with their options.
fn fd_lines(child: &Child, shell_job: bool) -> Vec<(String, Option<&'static str>)> {
    let allowed = Allowances {
        shell_job,
        ..Default::default()
    };
    check_tree_with(child.pid, &allowed)
        .unwrap()
        .into_iter()
        .map(|r| (r.to_string(), r.option))
        .filter(|(line, _)| line.contains(": fd 10"))
        .collect()
}

#[test]
fn a_pty_held_whole_passes() {
    let _serial = serial();
    let (master, slave, _) = pty();
    let child = Child::spawn(&[master.as_raw_fd(), slave.as_raw_fd()], || true);
    assert_eq!(fd_lines(&child, false), []);
}

#[test]
fn a_master_without_its_slave_is_refused() {
    let _serial = serial();
    let (master, _slave, index) = pty();
    let child = Child::spawn(&[master.as_raw_fd()], || true);
    let expected = format!(
        "pid {}: fd 100 is /dev/ptmx (char 5:2): its slave /dev/pts/{index} is not open in this \
         process, and crust dumps a pseudo-terminal only with both its ends",
        child.pid
    );
    assert_eq!(fd_lines(&child, false), [(expected.clone(), None)]);
    assert_eq!(fd_lines(&child, true), [(expected, None)]);
}

#[test]
fn a_slave_whose_master_is_outside_needs_the_shell_job_option() {
    let _serial = serial();
    let (_master, slave, index) = pty();
    let child = Child::spawn(&[slave.as_raw_fd()], || true);
    let expected = format!(
        "pid {}: fd 100 is /dev/pts/{index} (char 136:{index}): its master is outside the \
         process; dump it as a shell job with --shell-job (restored on crust's terminal)",
        child.pid
    );
    assert_eq!(fd_lines(&child, false), [(expected, Some("--shell-job"))]);
    assert_eq!(fd_lines(&child, true), []);
}

#[test]
fn a_shell_job_has_one_terminal() {
    let _serial = serial();
    let (_first_master, first, first_index) = pty();
    let (_second_master, second, _) = pty();
    let child = Child::spawn(&[first.as_raw_fd(), second.as_raw_fd()], || true);
    let found = fd_lines(&child, true);
    assert_eq!(found.len(), 1, "{found:?}");
    let tail = format!(
        "a shell job is restored on one terminal, and this process's is /dev/pts/{first_index}"
    );
    assert!(
        found[0]
            .0
            .starts_with(&format!("pid {}: fd 101 is", child.pid)),
        "{found:?}"
    );
    assert!(found[0].0.ends_with(&tail), "{found:?}");
}
