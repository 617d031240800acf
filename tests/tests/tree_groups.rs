//! Process groups and zombies of a tree come back as they were: a group
//! whose leader exited and was reaped (its members reparented to the root, a
//! subreaper), a group led by a zombie, the zombie itself with its name and
//! exit status, reaped by its parent after the restore.
//!
//! Needs the crust binary built first: `cargo build --release -p cli`.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tests::{
    compile_c, crit_decode_dir, crust, poll_until, spawn_in_own_session, TempDir, Workload,
};

/// Every image of a dump, decoded by crit, by file name.
type Decoded = std::collections::BTreeMap<String, serde_json::Value>;

const TIMEOUT: Duration = Duration::from_secs(60);

/// Dumps the tree `workload` leads into DIR/images, waits for the dump to have killed it,
/// has crit decode every image, restores the tree detached, and returns the decoded images.
fn dump_kill_restore(workload: &mut Workload, dir: &Path) -> Decoded {
    let root = workload.pid().as_raw();
    let images = dir.join("images");
    let images_arg = images.to_string_lossy();
    let dumped = crust(
        &["dump", "-t", &root.to_string(), "-D", &images_arg],
        TIMEOUT,
    )
    .expect("run crust dump");
    assert_eq!(dumped.code(), Some(0), "{}", dumped.stderr);
    workload
        .collect_dumped(TIMEOUT)
        .expect("the dump kills the tree");
    let decoded = crit_decode_dir(&images).expect("crit decodes every image");
    let restored = crust(&["restore", "-d", "-D", &images_arg], TIMEOUT).expect("restore");
    assert_eq!(restored.code(), Some(0), "{}", restored.stderr);
    decoded
}

/// The root (a subreaper) holds the read end of a pipe with 4 bytes in it whose write end
/// is closed everywhere, which every child inherits. It forks A, which leads a new group,
/// forks B into it and exits (the root reaps it: B's group has no leader any more); C, which
/// leads a group, forks D into it and exits with status 3; and E, killed by SIGKILL (C and E
/// stay zombies). On SIGUSR1 the root reaps C and E and reports their status and what the
/// pipe holds.
const GROUPS: &str = r#"
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
static volatile sig_atomic_t asked;
static void ask(int sig) { (void)sig; asked = 1; }
int main(void) {
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    signal(SIGUSR1, ask);
    int fds[2];
    if (pipe(fds) != 0 || write(fds[1], "data", 4) != 4) return 1;
    close(fds[1]);
    pid_t a = fork();
    if (a == 0) {
        setpgid(0, 0);
        if (fork() == 0) for (;;) pause();
        _exit(0);
    }
    waitpid(a, 0, 0);
    pid_t c = fork();
    if (c == 0) {
        setpgid(0, 0);
        if (fork() == 0) for (;;) pause();
        prctl(PR_SET_NAME, "doomed");
        _exit(3);
    }
    pid_t e = fork();
    if (e == 0) for (;;) pause();
    kill(e, SIGKILL);
    usleep(300000);
    printf("ready %d %d\n", a, c);
    fflush(stdout);
    while (!asked) pause();
    int status = 0;
    pid_t got = waitpid(c, &status, WNOHANG);
    printf("reaped %d exited %d status %d\n", got, WIFEXITED(status), WEXITSTATUS(status));
    got = waitpid(e, &status, WNOHANG);
    printf("reaped %d signaled %d signal %d\n", got - e, WIFSIGNALED(status), WTERMSIG(status));
    char bytes[8] = {0};
    ssize_t first = read(fds[0], bytes, sizeof bytes - 1);
    ssize_t second = read(fds[0], bytes + 4, 1);
    printf("pipe %zd %s then %zd\n", first, bytes, second);
    fflush(stdout);
    for (;;) pause();
}
"#;

/// (ppid, pgid, sid, state, comm) of `pid` from /proc.
fn identity(pid: i32) -> (i32, i32, i32, char, String) {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let open = stat.find('(').expect("comm start");
    let close = stat.rfind(')').expect("comm end");
    let comm = stat[open + 1..close].to_string();
    let rest: Vec<&str> = stat[close + 2..].split(' ').collect();
    let number = |i: usize| rest[i].parse::<i32>().expect("number");
    let state = rest[0].chars().next().expect("state");
    (number(1), number(2), number(3), state, comm)
}

#[test]
fn groups_without_a_live_leader_and_zombies_come_back() {
    let temp = TempDir::new("tree-groups").expect("temp dir");
    let program = compile_c(GROUPS, tests::Abi::X86_64, &["-O2"]).expect("compile");
    let output = temp.path().join("out.txt");
    let mut workload = spawn_in_own_session(&mut Command::new(program), &output).expect("start");
    let root = workload.pid().as_raw();
    let (a, c) = poll_until(TIMEOUT, || {
        let text = fs::read_to_string(&output).ok()?;
        let line = text.lines().find(|l| l.starts_with("ready "))?;
        let mut words = line.split(' ').skip(1).map(|w| w.parse::<i32>().ok());
        Some((words.next()??, words.next()??))
    })
    .expect("the tree is ready");
    let children = fs::read_to_string(format!("/proc/{root}/task/{root}/children")).expect("kids");
    let mut pids: Vec<i32> = children
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    pids.sort_unstable();
    let before: Vec<_> = pids.iter().map(|pid| (*pid, identity(*pid))).collect();
    assert_eq!(before.len(), 4, "{before:?}");
    assert!(
        before.iter().any(|(_, id)| id.1 == a),
        "a member of A's group: {before:?}"
    );
    assert!(
        before.iter().any(|(pid, id)| *pid == c && id.3 == 'Z'),
        "{before:?}"
    );

    dump_kill_restore(&mut workload, temp.path());
    let after: Vec<_> = pids.iter().map(|pid| (*pid, identity(*pid))).collect();
    assert_eq!(after, before);
    assert_eq!(identity(root).1, root);
    assert!(
        !std::path::Path::new(&format!("/proc/{a}")).exists(),
        "the helper that led group {a} is gone"
    );

    kill(Pid::from_raw(root), Signal::SIGUSR1).expect("ask the root");
    let report = poll_until(TIMEOUT, || {
        let text = fs::read_to_string(&output).ok()?;
        let lines: Vec<String> = text
            .lines()
            .filter(|l| l.starts_with("reaped ") || l.starts_with("pipe "))
            .map(str::to_owned)
            .collect();
        (lines.len() == 3).then_some(lines)
    })
    .expect("the root reports");
    assert_eq!(
        report,
        [
            format!("reaped {c} exited 1 status 3"),
            "reaped 0 signaled 1 signal 9".to_string(),
            "pipe 4 data then 0".to_string(),
        ]
    );
    for pid in pids.iter().chain([&root]) {
        let _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
    }
}

/// A child made with clone(CLONE_FS) waits for SIGUSR1 and reports its cwd and umask; on
/// SIGUSR1 the parent changes both (in the shared fs information) and wakes the child.
const SHARED_FS: &str = r#"
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
static char stack[65536];
static void nop(int sig) { (void)sig; }
static int child(void *arg) {
    (void)arg;
    for (;;) {
        pause();
        char cwd[256];
        if (!getcwd(cwd, sizeof cwd)) cwd[0] = 0;
        mode_t mask = umask(0);
        umask(mask);
        printf("child cwd %s umask %o\n", cwd, mask);
        fflush(stdout);
    }
}
int main(void) {
    signal(SIGUSR1, nop);
    pid_t c = clone(child, stack + sizeof stack, CLONE_FS | SIGCHLD, 0);
    printf("ready %d\n", c);
    fflush(stdout);
    for (;;) {
        pause();
        chdir("/tmp");
        umask(027);
        kill(c, SIGUSR1);
    }
}
"#;

#[test]
fn a_child_sharing_fs_information_still_shares_it() {
    let report = shared_with_parent("tree-fs", SHARED_FS, "fs_id");
    assert_eq!(report, "child cwd /tmp umask 27");
}

/// A child made with clone(CLONE_FILES) waits for SIGUSR1 and says whether fd 77 is open;
/// on SIGUSR1 the parent opens /dev/null as fd 77 (in the shared table) and wakes the child.
const SHARED_FILES: &str = r#"
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
static char stack[65536];
static void nop(int sig) { (void)sig; }
static int child(void *arg) {
    (void)arg;
    for (;;) {
        pause();
        printf("child fd 77 %s\n", fcntl(77, F_GETFD) == -1 ? "closed" : "open");
        fflush(stdout);
    }
}
int main(void) {
    signal(SIGUSR1, nop);
    pid_t c = clone(child, stack + sizeof stack, CLONE_FILES | SIGCHLD, 0);
    printf("ready %d\n", c);
    fflush(stdout);
    for (;;) {
        pause();
        dup2(open("/dev/null", O_RDONLY), 77);
        kill(c, SIGUSR1);
    }
}
"#;

#[test]
fn a_child_sharing_the_fd_table_still_shares_it() {
    let report = shared_with_parent("tree-files", SHARED_FILES, "files_id");
    assert_eq!(report, "child fd 77 open");
}

/// Runs a program whose child shares something with it (`source`: it prints `ready CHILD`,
/// and on SIGUSR1 changes the shared thing and has the child report a line starting with
/// `child `); dumps it, checks both have the same `id` in their ids image (CRIU's way of
/// saying they share), restores it, asks and returns the child's report.
fn shared_with_parent(tag: &str, source: &str, id: &str) -> String {
    let temp = TempDir::new(tag).expect("temp dir");
    let program = compile_c(source, tests::Abi::X86_64, &["-O2"]).expect("compile");
    let output = temp.path().join("out.txt");
    let mut workload = spawn_in_own_session(&mut Command::new(program), &output).expect("start");
    let root = workload.pid().as_raw();
    let child: i32 = poll_until(TIMEOUT, || {
        let text = fs::read_to_string(&output).ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix("ready ")?.parse().ok())
    })
    .expect("ready");

    let decoded = dump_kill_restore(&mut workload, temp.path());
    let id_of = |pid: i32| decoded[&format!("ids-{pid}.img")]["entries"][0][id].clone();
    assert_eq!(
        id_of(root),
        id_of(child),
        "{id} of the parent and the child"
    );

    kill(Pid::from_raw(root), Signal::SIGUSR1).expect("ask the root");
    let report = poll_until(TIMEOUT, || {
        let text = fs::read_to_string(&output).ok()?;
        Some(text.lines().find(|l| l.starts_with("child "))?.to_string())
    })
    .expect("the child reports");
    for pid in [child, root] {
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
    report
}

/// The root makes a FIFO in its directory and forks a writer; the writer opens it for
/// writing, the root for reading; the writer writes `hello` and waits. On SIGUSR1 the root
/// reads what waits in the FIFO and asks the writer for `world`, then reads that too.
const FIFO_PAIR: &str = r#"
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
static volatile sig_atomic_t asked;
static void ask(int sig) { (void)sig; asked = 1; }
int main(void) {
    signal(SIGUSR1, ask);
    if (mkfifo("fifo", 0600) != 0) return 1;
    pid_t writer = fork();
    if (writer == 0) {
        int w = open("fifo", O_WRONLY);
        if (write(w, "hello", 5) != 5) return 1;
        while (!asked) pause();
        if (write(w, "world", 5) != 5) return 1;
        for (;;) pause();
    }
    int r = open("fifo", O_RDONLY);
    usleep(200000);
    printf("ready %d\n", writer);
    fflush(stdout);
    while (!asked) pause();
    char got[16] = {0};
    ssize_t n = read(r, got, 5);
    kill(writer, SIGUSR1);
    ssize_t m = read(r, got + 5, 5);
    printf("child %zd %zd %s\n", n, m, got);
    fflush(stdout);
    for (;;) pause();
}
"#;

#[test]
fn a_fifo_between_two_processes_keeps_its_bytes() {
    let temp = TempDir::new("tree-fifo").expect("temp dir");
    let program = compile_c(FIFO_PAIR, tests::Abi::X86_64, &["-O2"]).expect("compile");
    let output = temp.path().join("out.txt");
    let mut command = Command::new(program);
    command.current_dir(temp.path());
    let mut workload = spawn_in_own_session(&mut command, &output).expect("start");
    let root = workload.pid().as_raw();
    let writer: i32 = poll_until(TIMEOUT, || {
        let text = fs::read_to_string(&output).ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix("ready ")?.parse().ok())
    })
    .expect("ready");

    let decoded = dump_kill_restore(&mut workload, temp.path());
    let data = &decoded["fifo-data.img"]["entries"][0]["bytes"];
    assert_eq!(data.as_u64(), Some(5), "{}", decoded["fifo-data.img"]);

    kill(Pid::from_raw(root), Signal::SIGUSR1).expect("ask the root");
    let report = poll_until(TIMEOUT, || {
        let text = fs::read_to_string(&output).ok()?;
        Some(text.lines().find(|l| l.starts_with("child "))?.to_string())
    })
    .expect("the root reports");
    assert_eq!(report, "child 5 5 helloworld");
    for pid in [writer, root] {
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
}

/// Opens the FIFO `fifo` (made by the test) for reading and writing, then waits.
const FIFO_HOLDER: &str = r#"
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
int main(void) {
    if (open("fifo", O_RDWR) < 0) return 1;
    printf("ready\n");
    fflush(stdout);
    for (;;) pause();
}
"#;

#[test]
fn a_fifo_also_open_outside_the_tree_is_refused_naming_the_holder() {
    let temp = TempDir::new("tree-fifo-out").expect("temp dir");
    nix::unistd::mkfifo(
        &temp.path().join("fifo"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .expect("mkfifo");
    let program = compile_c(FIFO_HOLDER, tests::Abi::X86_64, &["-O2"]).expect("compile");
    let start = |name: &str| {
        let output = temp.path().join(name);
        let mut command = Command::new(&program);
        command.current_dir(temp.path());
        let workload = spawn_in_own_session(&mut command, &output).expect("start");
        poll_until(TIMEOUT, || {
            fs::read_to_string(&output)
                .ok()?
                .contains("ready")
                .then_some(())
        })
        .expect("ready");
        workload
    };
    let inside = start("inside.txt");
    let outside = start("outside.txt");
    let pid = inside.pid().as_raw();
    let checked = crust(&["check", "-t", &pid.to_string()], TIMEOUT).expect("run crust check");
    assert_eq!(checked.code(), Some(1), "{checked:?}");
    let fifo = temp.path().join("fifo");
    let expected = format!(
        "pid {pid}: fd 3 is a FIFO ({}), also open in pid {}, outside the tree: a FIFO is \
         dumped only when every process that has it open is in the tree; dump it with \
         --external file[",
        fifo.display(),
        outside.pid()
    );
    let line = checked.stdout.lines().next().unwrap_or_default();
    assert!(line.starts_with(&expected), "{checked:?}");
    for workload in [&inside, &outside] {
        let _ = kill(workload.pid(), Signal::SIGKILL);
    }
}

/// python3's pty.fork: the root holds a pty master, its child leads a session whose
/// controlling terminal is the slave and echoes each line it reads. The root writes `before`
/// and records what comes back; on SIGUSR1 it writes `after` and records that too.
const PTY_FORK: &str = r#"
import os, pty, signal, sys, time
asked = []
signal.signal(signal.SIGUSR1, lambda *_: asked.append(1))
pid, fd = pty.fork()
if pid == 0:
    while True:
        line = sys.stdin.readline()
        print("echo:" + line.strip(), flush=True)
os.write(fd, b"before\n")
time.sleep(0.3)
out = open("ptyout", "a")
out.write("child %d %s\n" % (pid, os.read(fd, 1024)))
out.flush()
while not asked:
    time.sleep(0.05)
os.write(fd, b"after\n")
time.sleep(0.3)
out.write("again %s\n" % os.read(fd, 1024))
out.flush()
time.sleep(1000)
"#;

#[test]
fn a_pty_between_a_process_and_its_child_carries_on() {
    let temp = TempDir::new("tree-pty").expect("temp dir");
    let script = temp.path().join("ptyfork.py");
    fs::write(&script, PTY_FORK).expect("write the script");
    let output = temp.path().join("out.txt");
    let mut command = Command::new("python3");
    command.arg(&script).current_dir(temp.path());
    let mut workload = spawn_in_own_session(&mut command, &output).expect("start");
    let root = workload.pid().as_raw();
    let record = temp.path().join("ptyout");
    let child: i32 = poll_until(TIMEOUT, || {
        let text = fs::read_to_string(&record).ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix("child ")?.split(' ').next()?.parse().ok())
    })
    .expect("the pty answered");

    dump_kill_restore(&mut workload, temp.path());
    let stat = fs::read_to_string(format!("/proc/{child}/stat")).expect("the child is back");
    let tty_nr: u32 = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split(' ')
        .nth(5)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        tty_nr >> 8,
        136,
        "its controlling terminal is a pty slave again: {stat}"
    );
    kill(Pid::from_raw(root), Signal::SIGUSR1).expect("ask the root");
    let again = poll_until(TIMEOUT, || {
        let text = fs::read_to_string(&record).ok()?;
        Some(text.lines().find(|l| l.starts_with("again "))?.to_string())
    })
    .expect("the pty answered after the restore");
    assert!(again.contains("echo:after"), "{again}");
    for pid in [child, root] {
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
}
