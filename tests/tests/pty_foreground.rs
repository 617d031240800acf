//! A pty held by a tree, whose foreground is not its session leader's group: python's
//! `pty.fork()` child (a session leader on the pty slave, as a shell in a terminal emulator)
//! forks a job into a group of its own and gives it the terminal's foreground. After a dump
//! and a restore the job's group has the foreground again; the session leader checks it
//! itself.
//!
//! Needs the crust binary built first: `cargo build --release -p cli`.

use std::process::Command;
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tests::{crit_decode_dir, dump, restore_detached, KillOnDrop, Subject};

const TIMEOUT: Duration = Duration::from_secs(60);

/// `ready ROOT LEADER JOB`; on SIGUSR1 the root has the leader compare the terminal's
/// foreground with the job's group, and reports.
const SCRIPT: &str = r#"
import os, pty, signal, sys, time
asked = []
signal.signal(signal.SIGUSR1, lambda *_: asked.append(1))
def wait_for(name):
    while not os.path.exists(name) or not open(name).read().endswith("\n"):
        time.sleep(0.02)
    return open(name).read().split()
leader, master = pty.fork()
if leader == 0:
    job = os.fork()
    if job == 0:
        os.setpgid(0, 0)
        while True:
            time.sleep(1)
    try:
        os.setpgid(job, job)
    except PermissionError:
        pass
    os.tcsetpgrp(0, job)
    def check(*_):
        fg = os.tcgetpgrp(0)
        verdict = "OK" if fg == job else "FAIL"
        open("checked.tmp", "w").write("%s foreground=%d job=%d\n" % (verdict, fg, job))
        os.rename("checked.tmp", "checked")
    signal.signal(signal.SIGUSR1, check)
    open("leader.tmp", "w").write("%d %d\n" % (os.getpid(), job))
    os.rename("leader.tmp", "leader")
    while True:
        time.sleep(1)
_, job = wait_for("leader")
print("ready %d %d %s" % (os.getpid(), leader, job), flush=True)
while not asked:
    time.sleep(0.05)
os.kill(leader, signal.SIGUSR1)
verdict, *rest = wait_for("checked")
print("%s pid=%d %s" % (verdict, os.getpid(), " ".join(rest)), flush=True)
while True:
    time.sleep(1)
"#;

/// The foreground process group (`tpgid`) of `pid`'s controlling terminal, from its stat.
fn foreground_of(pid: Pid) -> i32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let after_name = stat.rsplit(')').next().expect("stat fields");
    let tpgid = after_name.split_whitespace().nth(5).expect("tpgid");
    tpgid.parse().expect("tpgid number")
}

#[test]
fn a_job_in_the_foreground_of_the_trees_pty_has_it_again_after_the_restore() {
    let mut subject = Subject::start("pty-foreground", |dir| {
        let script = dir.join("pty_foreground.py");
        std::fs::write(&script, SCRIPT).expect("write the script");
        let mut command = Command::new("/usr/bin/python3");
        command.arg(script).current_dir(dir);
        command
    })
    .unwrap_or_else(|error| panic!("{error}"));
    let pids: Vec<Pid> = subject
        .ready()
        .split(' ')
        .skip(1)
        .map(|pid| Pid::from_raw(pid.parse().expect("pid")))
        .collect();
    let [_, leader, job] = pids[..] else {
        panic!("ready line {:?}", subject.ready())
    };
    let _tree = [job, leader].map(KillOnDrop);
    assert_eq!(foreground_of(leader), job.as_raw(), "before the dump");

    dump(subject.pid(), subject.images(), false, TIMEOUT).unwrap_or_else(|e| panic!("{e}"));
    subject
        .reap_original()
        .unwrap_or_else(|error| panic!("{error}"));
    crit_decode_dir(subject.images()).unwrap_or_else(|error| panic!("{error}"));
    restore_detached(subject.images(), TIMEOUT).unwrap_or_else(|error| panic!("{error}"));
    subject
        .adopt_restored()
        .unwrap_or_else(|error| panic!("{error}"));

    assert_eq!(foreground_of(leader), job.as_raw(), "after the restore");
    let report = subject.ok_report("foreground=", TIMEOUT);
    report.unwrap_or_else(|error| panic!("{error}"));
    let _ = kill(subject.pid(), Signal::SIGKILL);
}
