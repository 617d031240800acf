//! One program per refusal of the seed's list: each creates the situation, crust's dump is
//! refused with one line naming the pid, the resource and the reason, the image directory is
//! left empty, and the program, untouched, checks its own state and reports OK.
//!
//! Needs the crust binary built first: `cargo build --release -p cli`.

use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use nix::unistd::Pid;
use tests::{crust, KillOnDrop, Subject};

const TIMEOUT: Duration = Duration::from_secs(60);

/// `refusals CASE DIR`: sets up CASE (its fd is kept in `held`), prints `ready PID EXTRA`, and
/// on SIGUSR1 checks that its 1 MiB pattern is intact, that its count moved on and that `held`
/// is still open, then reports.
const PROGRAM: &str = r#"
#define _GNU_SOURCE
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#define SIZE (1 << 20)
static volatile sig_atomic_t asked;
static void ask(int sig) { (void)sig; asked = 1; }
static unsigned char pattern(size_t i) { return (unsigned char)(i * 7 + i / 4096); }
int main(int argc, char **argv) {
    if (argc != 3) return 2;
    const char *which = argv[1], *dir = argv[2];
    signal(SIGUSR1, ask);
    unsigned char *buffer = malloc(SIZE);
    for (size_t i = 0; i < SIZE; i++) buffer[i] = pattern(i);
    int held = -1, extra = 0;
    char path[4096];
    if (!strcmp(which, "char-device") || !strcmp(which, "block-device")) {
        snprintf(path, sizeof path, "%s/node", dir);
        held = open(path, O_RDONLY);
    } else if (!strcmp(which, "unmounted")) {
        snprintf(path, sizeof path, "%s/mnt/file", dir);
        held = open(path, O_RDONLY);
    } else if (!strcmp(which, "packet-pipe")) {
        /* The write end is the one in packet mode (O_DIRECT); the read end is kept too. */
        int ends[2];
        if (pipe2(ends, O_DIRECT) == 0) held = ends[1];
    } else if (!strcmp(which, "inet-socket")) {
        held = socket(AF_INET, SOCK_DGRAM, 0);
    } else if (!strcmp(which, "netlink-socket")) {
        held = socket(AF_NETLINK, SOCK_RAW, 0);
    } else if (!strcmp(which, "unix-peer")) {
        struct sockaddr_un address = { .sun_family = AF_UNIX };
        snprintf(address.sun_path, sizeof address.sun_path, "%s/listener", dir);
        held = socket(AF_UNIX, SOCK_STREAM, 0);
        if (connect(held, (struct sockaddr *)&address, sizeof address) != 0) held = -1;
    } else if (!strcmp(which, "tracer")) {
        /* Traces the process whose pid DIR/tracee holds, outside the tree. */
        snprintf(path, sizeof path, "%s/tracee", dir);
        FILE *named = fopen(path, "r");
        if (named && fscanf(named, "%d", &extra) == 1 && ptrace(PTRACE_SEIZE, extra, 0, 0) == 0)
            held = open(dir, O_RDONLY);
    } else if (!strcmp(which, "traced")) {
        pid_t me = getpid();
        int ready[2];
        if (pipe(ready) != 0) return 1;
        pid_t tracer = fork();
        if (tracer == 0) {
            if (ptrace(PTRACE_SEIZE, me, 0, 0) != 0) _exit(1);
            close(ready[1]);
            /* Passes on every signal its tracee stops for (the report's SIGUSR1). */
            for (;;) {
                int status;
                if (waitpid(me, &status, __WALL) < 0) _exit(0);
                if (WIFSTOPPED(status)) ptrace(PTRACE_CONT, me, 0, WSTOPSIG(status));
            }
        }
        close(ready[1]);
        char end;
        if (read(ready[0], &end, 1) != 0) return 1;
        held = ready[0];
        extra = tracer;
    }
    if (held < 0) {
        printf("FAIL setup of %s\n", which);
        fflush(stdout);
        return 1;
    }
    printf("ready %d %d\n", getpid(), extra);
    fflush(stdout);
    unsigned long count = 0;
    while (!asked) {
        struct timespec nap = { 0, 1000000 };
        nanosleep(&nap, NULL);
        count++;
    }
    unsigned long seen = count;
    for (int i = 0; i < 5; i++) {
        struct timespec nap = { 0, 1000000 };
        nanosleep(&nap, NULL);
        count++;
    }
    size_t bad = 0;
    for (size_t i = 0; i < SIZE; i++) bad += buffer[i] != pattern(i);
    int open_still = fcntl(held, F_GETFD) >= 0;
    if (!bad && count > seen && open_still)
        printf("OK pid=%d %s\n", getpid(), which);
    else
        printf("FAIL pid=%d bad=%zu open=%d\n", getpid(), bad, open_still);
    fflush(stdout);
    for (;;) pause();
}
"#;

/// Starts the program on `case`, with `dir` (or its own temporary directory) as where its
/// files are.
fn start(case: &str, dir: Option<&Path>) -> Subject {
    let subject = Subject::start(&format!("refusal-{case}"), |own| {
        let program = tests::compile_c(PROGRAM, tests::Abi::X86_64, &["-O2"]).expect("compile");
        let mut command = Command::new(program);
        command.args([case, &dir.unwrap_or(own).to_string_lossy()]);
        command
    });
    subject.unwrap_or_else(|error| panic!("{case}: {error}"))
}

/// Starts the program on `case` and checks its dump is refused as [`check_refused`] says.
fn refused(case: &str, expected: &[&str]) {
    check_refused(&start(case, None), case, expected);
}

/// Dumps `subject` and checks the refusal line holds every one of `expected` (with `{pid}`
/// and `{extra}` filled in from its ready line), that nothing was written, and that the
/// program reports OK afterwards.
fn check_refused(subject: &Subject, case: &str, expected: &[&str]) {
    let words: Vec<&str> = subject.ready().split(' ').collect();
    let (pid, extra) = (words[1], words[2]);
    let images = subject.images().to_string_lossy().into_owned();
    let dumped = crust(&["dump", "-t", pid, "-D", &images], TIMEOUT).expect("run crust");
    assert_eq!(dumped.code(), Some(1), "{case}: {dumped:?}");
    let line = dumped
        .stderr
        .lines()
        .find(|line| line.contains(&format!("pid {pid}: ")))
        .unwrap_or_else(|| panic!("{case}: no refusal line for pid {pid}: {dumped:?}"));
    for part in expected {
        let part = part.replace("{pid}", pid).replace("{extra}", extra);
        assert!(line.contains(&part), "{case}: {part:?} not in {line:?}");
    }
    let left = subject.images_left();
    assert!(left.is_empty(), "{case}: a refused dump left {left:?}");
    subject
        .ok_report(case, TIMEOUT)
        .unwrap_or_else(|error| panic!("{case}: {error}"));
}

/// Runs `program` with `args`; fails the test unless it succeeds.
fn run(program: &str, args: &[&str]) {
    let status = Command::new(program).args(args).status().expect(program);
    assert!(status.success(), "{program} {args:?}: {status}");
}

/// Starts the program on a device node `kind` (`c` or `b`) `major`:`minor` made in a
/// directory of the test's, and checks the refusal names it.
fn device_refused(case: &str, kind: &str, major: u32, minor: u32, named: &str) {
    let dir = tests::TempDir::new(case).expect("temp dir");
    let node = dir.path().join("node");
    let node_arg = node.to_string_lossy().into_owned();
    run(
        "mknod",
        &[&node_arg, kind, &major.to_string(), &minor.to_string()],
    );
    let subject = start(case, Some(dir.path()));
    let line = format!("fd 3 is {} ({named} {major}:{minor})", node.display());
    check_refused(&subject, case, &[&line, "devices cannot be dumped"]);
}

#[test]
fn a_character_device_is_refused_with_its_path_and_number() {
    // /dev/kmsg's number: a device crust does not reopen.
    device_refused("char-device", "c", 1, 11, "char");
}

#[test]
fn a_block_device_is_refused_with_its_path_and_number() {
    // The first loop device's number.
    device_refused("block-device", "b", 7, 0, "block");
}

#[test]
fn a_packet_mode_pipe_is_refused() {
    refused(
        "packet-pipe",
        &[
            "fd 4 is a packet-mode pipe (pipe:[",
            "O_DIRECT",
            "not supported",
        ],
    );
}

#[test]
fn sockets_of_families_crust_does_not_handle_are_refused_by_family() {
    refused("inet-socket", &["fd 3 is a socket (AF_INET, socket:["]);
    refused(
        "netlink-socket",
        &["fd 3 is a socket (AF_NETLINK, socket:["],
    );
}

#[test]
fn a_process_tracing_one_outside_the_tree_is_refused_naming_its_tracee() {
    let dir = tests::TempDir::new("tracer").expect("temp dir");
    let mut sleeper = Command::new("sleep").arg("1000").spawn().expect("sleep");
    let tracee = Pid::from_raw(sleeper.id() as i32);
    let _tracee = KillOnDrop(tracee);
    std::fs::write(dir.path().join("tracee"), tracee.to_string()).expect("tracee file");
    let subject = start("tracer", Some(dir.path()));
    check_refused(
        &subject,
        "tracer",
        &["pid {pid}: process traces pid {extra}"],
    );
    // The tracer ends first: a traced process's end is its tracer's to see before its parent.
    drop(subject);
    drop(_tracee);
    let _ = sleeper.wait();
}

#[test]
fn a_traced_task_is_refused_naming_its_tracer() {
    let subject = start("traced", None);
    // Killed before the subject: the subject's end waits for it, which its tracer holds back.
    let tracer = subject.ready().split(' ').nth(2).expect("tracer pid");
    let _tracer = KillOnDrop(Pid::from_raw(tracer.parse().expect("tracer pid")));
    let expected = ["pid {pid}: process is traced by pid {extra}"];
    check_refused(&subject, "traced", &expected);
}

#[test]
fn a_file_on_a_lazily_unmounted_filesystem_is_refused() {
    let dir = tests::TempDir::new("lazy-unmount").expect("temp dir");
    let mount = dir.path().join("mnt");
    std::fs::create_dir(&mount).expect("mount point");
    let mount_arg = mount.to_string_lossy().into_owned();
    run("mount", &["-t", "tmpfs", "crust-test", &mount_arg]);
    std::fs::write(mount.join("file"), b"data").expect("file");
    let subject = start("unmounted", Some(dir.path()));
    run("umount", &["-l", &mount_arg]);
    check_refused(
        &subject,
        "unmounted",
        &["fd 3 is ", "its filesystem was lazily unmounted (mount "],
    );
}

#[test]
fn a_unix_socket_connected_outside_names_the_peer_path_and_pid() {
    // The listener is the test's: outside the dumped tree.
    let dir = tests::TempDir::new("unix-peer-listener").expect("temp dir");
    let listener_path = dir.path().join("listener");
    let _listener = UnixListener::bind(&listener_path).expect("bind");
    let subject = start("unix-peer", Some(dir.path()));
    let expected = format!(
        "connected to {} held by pid {}",
        listener_path.display(),
        std::process::id()
    );
    check_refused(&subject, "unix-peer", &["fd 3 is a unix socket", &expected]);
}
