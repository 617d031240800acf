//! A process stopped with SIGSTOP when it is dumped comes back stopped, and
//! goes on at SIGCONT (workload: a C program writing a line every 20 ms).
//!
//! Needs the crust binary built first: `cargo build --release -p cli`.

use std::fs;
use std::process::Command;
use std::thread;
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use tests::{compile_c, crust, spawn_in_own_session, wait_for_line, Abi, TempDir};

const TICKER: &str = r#"
#include <stdio.h>
#include <time.h>
int main(void) {
    for (unsigned long n = 0;; n++) {
        printf("tick %lu\n", n);
        fflush(stdout);
        struct timespec pause = {0, 20 * 1000 * 1000};
        nanosleep(&pause, 0);
    }
}
"#;

const TIMEOUT: Duration = Duration::from_secs(60);

fn lines(path: &std::path::Path) -> usize {
    fs::read_to_string(path)
        .map(|text| text.lines().count())
        .unwrap_or(0)
}

fn state(pid: nix::unistd::Pid) -> String {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|line| line.starts_with("State:"))
        .unwrap_or("")
        .to_string()
}

#[test]
fn a_stopped_process_is_restored_stopped_and_goes_on_at_sigcont() {
    let temp = TempDir::new("stopped").expect("temp dir");
    let output = temp.path().join("output");
    let program = compile_c(TICKER, Abi::X86_64, &["-O2"]).expect("compile the ticker");
    let mut ticker =
        spawn_in_own_session(&mut Command::new(program), &output).expect("start the ticker");
    let pid = ticker.pid();
    wait_for_line(&output, "tick 3", TIMEOUT).expect("the ticker ticks");
    kill(pid, Signal::SIGSTOP).expect("stop it");
    thread::sleep(Duration::from_millis(100));
    assert!(state(pid).contains("T (stopped)"), "{}", state(pid));

    let images = temp.path().join("images");
    let dumped = crust(
        &[
            "dump",
            "-t",
            &pid.to_string(),
            "-D",
            &images.to_string_lossy(),
        ],
        TIMEOUT,
    )
    .expect("run crust dump");
    assert_eq!(dumped.code(), Some(0), "{}", dumped.stderr);
    ticker
        .collect_dumped(TIMEOUT)
        .expect("the dump kills the ticker");
    let restored = crust(&["restore", "-d", "-D", &images.to_string_lossy()], TIMEOUT)
        .expect("run crust restore");
    assert_eq!(restored.code(), Some(0), "{}", restored.stderr);
    ticker.adopt_restored().expect("adopt the restored ticker");

    thread::sleep(Duration::from_millis(100));
    assert!(
        state(pid).contains("T (stopped)"),
        "restored as {}",
        state(pid)
    );
    let before = lines(&output);
    thread::sleep(Duration::from_millis(300));
    assert_eq!(
        lines(&output),
        before,
        "the restored process ran while stopped"
    );

    kill(pid, Signal::SIGCONT).expect("continue it");
    let next = format!("tick {}", before + 5);
    wait_for_line(&output, &next, TIMEOUT).expect("it goes on at SIGCONT");
}
