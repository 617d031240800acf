//! A process that attached a segment of crust's IPC namespace and then left it for one of its
//! own (`unshare(CLONE_NEWIPC)` keeps attachments) still maps the old segment; when its new
//! namespace holds a segment with the same id and size, only the key that maps shows tells
//! them apart. The dump must fail naming the area, not restore it onto the namespace's own
//! segment.
//!
//! Needs the crust binary built first: `cargo build --release -p cli`.

use std::process::Command;
use std::time::Duration;

use tests::{compile_c, crust, poll_until, spawn_in_own_session, Abi, TempDir};

const TIMEOUT: Duration = Duration::from_secs(60);

/// Attaches a private segment of crust's namespace (removed, so it goes with the process),
/// moves to a new IPC namespace, makes a segment of the same size there with the same id
/// (through shm_next_id) and attaches it too; prints `ready ID`.
const SAME_ID_TWICE: &str = r#"
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <unistd.h>
int main(void) {
    int host = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
    if (host < 0 || shmat(host, NULL, 0) == (void *)-1) return 2;
    shmctl(host, IPC_RMID, NULL);
    if (unshare(CLONE_NEWIPC) != 0) return 3;
    FILE *next = fopen("/proc/sys/kernel/shm_next_id", "w");
    if (!next || fprintf(next, "%d", host) < 0 || fclose(next) != 0) return 4;
    int own = shmget(0x1234, 4096, IPC_CREAT | 0600);
    if (own != host || shmat(own, NULL, 0) == (void *)-1) return 5;
    printf("ready %d\n", own);
    fflush(stdout);
    for (;;) pause();
}
"#;

#[test]
fn segment_of_crusts_namespace_with_an_id_of_the_trees_fails_the_dump() {
    let temp = TempDir::new("ipc-host-attachment").unwrap_or_else(|e| panic!("{e}"));
    let program = compile_c(SAME_ID_TWICE, Abi::X86_64, &["-O2"]).unwrap_or_else(|e| panic!("{e}"));
    let output = temp.path().join("output");
    let workload = spawn_in_own_session(&mut Command::new(&program), &output);
    let workload = workload.unwrap_or_else(|e| panic!("{e}"));
    let ready = poll_until(TIMEOUT, || {
        let text = std::fs::read_to_string(&output).ok()?;
        text.lines()
            .find(|l| l.starts_with("ready"))
            .map(str::to_owned)
    });
    let ready = ready.unwrap_or_else(|| panic!("no ready line in {}", output.display()));
    let id = ready.trim_start_matches("ready ");

    let pid = workload.pid().to_string();
    let images = temp.path().join("images");
    let dumped = crust(
        &["dump", "-t", &pid, "-D", &images.to_string_lossy()],
        TIMEOUT,
    );
    let dumped = dumped.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(dumped.code(), Some(1), "{dumped:?}");
    let named = format!("(SysV shm id {id}) attaches a segment that is not of the tree's IPC");
    assert!(dumped.stderr.contains(&named), "{}", dumped.stderr);
    assert!(
        std::fs::metadata(format!("/proc/{pid}")).is_ok(),
        "a failed dump leaves the process running"
    );
}
