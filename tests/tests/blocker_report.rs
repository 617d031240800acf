//! One tree with a blocker in each of its three processes: `crust check -t` lists them all
//! at once and exits 1, `crust dump` refuses with the same lines and writes nothing, and the
//! tree, left untouched by both, checks itself and reports OK.
//!
//! Needs the crust binary built first: `cargo build --release -p cli`.

use std::time::Duration;

use nix::unistd::Pid;
use tests::{KillOnDrop, Subject};

const TIMEOUT: Duration = Duration::from_secs(60);

/// The root forks A, then makes an eventfd; A forks G, then makes a packet-mode pipe
/// (O_DIRECT); G holds a UDP socket. Each counts in memory every millisecond. On SIGUSR1 the root checks
/// that its count moved on, that its eventfd still counts (write 5, read 5) and that A is
/// alive and unreaped, then reports. `ready ROOT A G`.
const TREE: &str = r#"
#define _GNU_SOURCE
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
static volatile sig_atomic_t asked;
static void ask(int sig) { (void)sig; asked = 1; }
static void tick(volatile unsigned long *count) {
    struct timespec nap = { 0, 1000000 };
    nanosleep(&nap, NULL);
    (*count)++;
}
int main(void) {
    volatile unsigned long count = 0;
    signal(SIGUSR1, ask);
    int ready[2];
    if (pipe(ready) != 0) return 1;
    pid_t a = fork();
    if (a == 0) {
        close(ready[0]);
        pid_t g = fork();
        if (g == 0) {
            if (socket(AF_INET, SOCK_DGRAM, 0) < 0) return 1;
            close(ready[1]);
            for (;;) tick(&count);
        }
        int packets[2];
        if (pipe2(packets, O_DIRECT) != 0) return 1;
        if (write(ready[1], &g, sizeof g) != sizeof g) return 1;
        close(ready[1]);
        for (;;) tick(&count);
    }
    int event = eventfd(0, 0);
    close(ready[1]);
    pid_t g = 0;
    if (read(ready[0], &g, sizeof g) != sizeof g) return 1;
    char end;
    if (read(ready[0], &end, 1) != 0) return 1;
    printf("ready %d %d %d\n", getpid(), a, g);
    fflush(stdout);
    while (!asked) tick(&count);
    unsigned long seen = count;
    struct timespec nap = { 0, 20000000 };
    nanosleep(&nap, NULL);
    for (int i = 0; i < 20; i++) tick(&count);
    uint64_t five = 5, got = 0;
    int counts = write(event, &five, 8) == 8 && read(event, &got, 8) == 8 && got == 5;
    int alive = waitpid(a, NULL, WNOHANG) == 0 && kill(a, 0) == 0;
    if (count > seen && counts && alive)
        printf("OK pid=%d count=%lu\n", getpid(), count);
    else
        printf("FAIL pid=%d moved=%d eventfd=%d child=%d\n", getpid(), count > seen, counts, alive);
    fflush(stdout);
    for (;;) pause();
}
"#;

/// (state, TracerPid) of `pid` from its status.
fn state_and_tracer(pid: Pid) -> (char, i32) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let field = |name: &str| {
        let line = status.lines().find_map(|line| line.strip_prefix(name));
        line.map(str::trim).expect("status field").to_owned()
    };
    let state = field("State:").chars().next().expect("state");
    (state, field("TracerPid:").parse().expect("tracer"))
}

#[test]
fn a_tree_with_a_blocker_in_each_process_gets_them_all_listed_and_runs_on() {
    let subject = Subject::start_c_in_dir("blocker-report", TREE).expect("start the tree");
    let pids: Vec<Pid> = subject
        .ready()
        .split(' ')
        .skip(1)
        .map(|pid| Pid::from_raw(pid.parse().expect("pid")))
        .collect();
    let [root, a, g] = pids[..] else {
        panic!("ready line {:?}", subject.ready())
    };
    // The subject ends only the root: A and G are ended here, whatever happens.
    let _children = [a, g].map(KillOnDrop);

    let checked = tests::crust(&["check", "-t", &root.to_string()], TIMEOUT).expect("check");
    assert_eq!(checked.code(), Some(1), "{checked:?}");
    let lines: Vec<&str> = checked.stdout.lines().collect();
    let names = |pid: Pid, what: &str| {
        let prefix = format!("pid {pid}: fd ");
        lines
            .iter()
            .filter(|line| line.starts_with(&prefix) && line.contains(what))
            .count()
    };
    assert_eq!(names(root, "eventfd"), 1, "{lines:?}");
    let packet_ends = names(a, "packet-mode pipe");
    assert!((1..=2).contains(&packet_ends), "{lines:?}");
    assert_eq!(names(g, "AF_INET"), 1, "{lines:?}");
    assert_eq!(lines.len(), 2 + packet_ends, "{lines:?}");
    let summary = format!(
        "crust: pid {root} cannot be dumped: {} refusals",
        lines.len()
    );
    assert_eq!(checked.stderr.trim_end(), summary, "{checked:?}");

    let images = subject.images().to_string_lossy().into_owned();
    let dumped = tests::crust(&["dump", "-t", &root.to_string(), "-D", &images], TIMEOUT);
    let dumped = dumped.expect("dump");
    assert_eq!(dumped.code(), Some(1), "{dumped:?}");
    for line in &lines {
        assert!(
            dumped.stderr.contains(line),
            "{line} missing from {dumped:?}"
        );
    }
    let left = subject.images_left();
    assert!(left.is_empty(), "a refused dump left {left:?}");

    for pid in [root, a, g] {
        assert_eq!(state_and_tracer(pid).1, 0, "pid {pid} left traced");
        assert_ne!(state_and_tracer(pid).0, 't', "pid {pid} left stopped");
    }
    subject
        .ok_report("count=", TIMEOUT)
        .unwrap_or_else(|error| panic!("{error}"));
}
