//! SIGINT to crust in the middle of a dump or a restore: crust finishes the
//! step it is in, puts back what it touched and ends by the signal. The
//! dumped process runs on as it was (no area of compel's left in it, no
//! signal pending), no half-written images are left, and an interrupted
//! restore leaves no process behind. The signal is sent while crust is
//! moving a 512 MiB process's memory, 0.1 s in.
//!
//! Needs the crust binary built first: `cargo build --release -p cli`.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tests::{compile_c, crust, crust_binary, Abi, TempDir, Workload};

const HOLDER: &str = r#"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
volatile uint64_t *kept;
int main(void) {
    size_t words = (512ul << 20) / 8;
    uint64_t *memory = malloc(words * 8);
    for (size_t i = 0; i < words; i++) memory[i] = i * 0x9e3779b97f4a7c15ull;
    kept = memory;
    printf("ready\n");
    fflush(stdout);
    for (;;) pause();
}
"#;

const TIMEOUT: Duration = Duration::from_secs(60);

/// Starts the 512 MiB holder in its own session and waits until it is ready.
fn start_holder(dir: &Path) -> Workload {
    let program = compile_c(HOLDER, Abi::X86_64, &["-O2"]).expect("compile the holder");
    let output = fs::File::create(dir.join("output")).expect("output file");
    let mut command = Command::new(program);
    command
        .stdin(Stdio::null())
        .stdout(output)
        .stderr(Stdio::null());
    // SAFETY: setsid and close_range are async-signal-safe raw syscalls.
    unsafe {
        command.pre_exec(|| {
            libc::setsid();
            libc::syscall(libc::SYS_close_range, 3, u32::MAX, 0);
            Ok(())
        });
    }
    let holder = Workload::spawn(&mut command).expect("start the holder");
    let deadline = Instant::now() + TIMEOUT;
    while !fs::read_to_string(dir.join("output"))
        .unwrap_or_default()
        .contains("ready")
    {
        assert!(Instant::now() < deadline, "the holder never got ready");
        thread::sleep(Duration::from_millis(20));
    }
    holder
}

/// Runs crust with `args` and sends it SIGINT after `delay`; returns its stderr.
fn interrupted(args: &[&str], delay: Duration) -> String {
    let child = Command::new(crust_binary().expect("crust binary"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start crust");
    thread::sleep(delay);
    let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGINT);
    let finished = child.wait_with_output().expect("wait for crust");
    String::from_utf8_lossy(&finished.stderr).into_owned()
}

fn status_of(pid: Pid) -> String {
    fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default()
}

#[test]
fn an_interrupted_dump_leaves_the_process_as_it_was() {
    let temp = TempDir::new("interrupt-dump").expect("temp dir");
    let holder = start_holder(temp.path());
    let pid = holder.pid();
    let images = temp.path().join("images");
    let args = [
        "dump",
        "--leave-running",
        "-t",
        &pid.to_string(),
        "-D",
        &images.to_string_lossy(),
    ];
    let stderr = interrupted(&args, Duration::from_millis(100));

    let status = status_of(pid);
    assert!(
        status.contains("State:\tS"),
        "the process is not as it was: {status}\n{stderr}"
    );
    assert!(status.contains("SigPnd:\t0000000000000000"), "{status}");
    assert!(status.contains("TracerPid:\t0"), "{status}");
    let maps = fs::read_to_string(format!("/proc/{pid}/maps")).expect("maps");
    assert!(!maps.contains("rwxs"), "compel's area is left:\n{maps}");
    let left: Vec<String> = fs::read_dir(&images)
        .map(|dir| {
            dir.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    let complete = left.iter().any(|name| name == "inventory.img");
    assert!(
        complete || left.is_empty(),
        "half-written images left: {left:?}\n{stderr}"
    );
    if !complete {
        assert!(stderr.contains("was left running as it was"), "{stderr}");
    }
}

#[test]
fn an_interrupted_restore_leaves_no_process() {
    let temp = TempDir::new("interrupt-restore").expect("temp dir");
    let mut holder = start_holder(temp.path());
    let pid = holder.pid();
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
    holder
        .collect_dumped(TIMEOUT)
        .expect("the dump kills the holder");

    let stderr = interrupted(
        &["restore", "-d", "-D", &images.to_string_lossy()],
        Duration::from_millis(100),
    );
    thread::sleep(Duration::from_millis(100));
    if stderr.contains("restored pid") || Path::new(&format!("/proc/{pid}")).exists() {
        // The restore finished before the signal: the process must be whole.
        let status = status_of(pid);
        assert!(
            status.contains("State:\tS") && status.contains("TracerPid:\t0"),
            "{status}"
        );
        holder.adopt_restored().expect("adopt the restored holder");
        return;
    }
    assert!(
        stderr.contains("every half-restored process was killed"),
        "{stderr}"
    );
}
