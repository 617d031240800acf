//! A C process with four threads spinning in inline assembly that keeps
//! known values in ymm8-ymm15 (zmm16-zmm31 too with AVX-512F) and r12-r15,
//! a POSIX timer, a blocked and pending SIGUSR2 (thread) and SIGPWR
//! (process), and a 64 MiB checksummed buffer (workloads/threads_regs.c).
//! After `crust restore -d` the test sends SIGUSR1 and the process checks
//! itself: same pid and tids, threads moving, registers intact, timer
//! ticking, mask and pending signals kept, buffer unchanged.
//!
//! Needs the crust binary built first: `cargo build --release -p cli`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::thread;
use std::time::Duration;

use tests::image_json::{pstree, vmas, Decoded};
use tests::{compile_c, Abi, Subject};

const SOURCE: &str = include_str!("../workloads/threads_regs.c");

/// Threads besides the main one.
const WORKERS: usize = 4;

const CRUST_TIMEOUT: Duration = Duration::from_secs(60);

/// The report waits 200 ms and checksums 64 MiB, with four threads spinning.
const REPORT_TIMEOUT: Duration = Duration::from_secs(30);

/// How long the restored process runs before it is asked for its report.
const RUN_AFTER_RESTORE: Duration = Duration::from_millis(300);

/// One workload at a time: four spinning threads already fill two CPUs.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn program() -> PathBuf {
    compile_c(SOURCE, Abi::X86_64, &["-O2", "-pthread"]).unwrap_or_else(|error| panic!("{error}"))
}

fn start(tag: &str, args: &[&str]) -> Subject {
    let program = program();
    let build = |_: &Path| {
        let mut command = Command::new(&program);
        command.args(args);
        command
    };
    Subject::start(tag, build).unwrap_or_else(|error| panic!("{error}"))
}

/// The value of `key=` in the ready line.
fn field<'a>(ready: &'a str, key: &str) -> &'a str {
    ready
        .split(' ')
        .find_map(|word| {
            word.strip_prefix(key)
                .and_then(|rest| rest.strip_prefix('='))
        })
        .unwrap_or_else(|| panic!("no {key}= in {ready:?}"))
}

fn hex(text: &str) -> u64 {
    u64::from_str_radix(text.trim_start_matches("0x"), 16)
        .unwrap_or_else(|_| panic!("not hex: {text}"))
}

/// pid, worker tids, and the buffer's range, from the ready line.
fn layout(ready: &str) -> (u64, Vec<u64>, (u64, u64)) {
    let pid = field(ready, "pid").parse().expect("pid");
    let tids: Vec<u64> = field(ready, "tids")
        .split(',')
        .map(|tid| tid.parse().expect("tid"))
        .collect();
    assert_eq!(tids.len(), WORKERS, "{ready}");
    let (start, end) = field(ready, "buffer")
        .split_once('-')
        .expect("buffer range");
    (pid, tids, (hex(start), hex(end)))
}

/// The images hold the process with all its threads, a core image per
/// thread, and a vma covering the buffer.
fn check_images(decoded: &Decoded, ready: &str) {
    let (pid, tids, (start, end)) = layout(ready);
    let tree = pstree(decoded);
    let mut threads = tree[0].1.clone();
    threads.sort_unstable();
    let mut expected = tids.clone();
    expected.push(pid);
    expected.sort_unstable();
    assert_eq!(threads, expected, "pstree threads, ready line {ready}");
    for tid in expected {
        assert!(
            decoded.contains_key(&format!("core-{tid}.img")),
            "no core-{tid}.img"
        );
    }
    let vmas = vmas(decoded);
    assert!(
        vmas.iter()
            .any(|&(vma_start, vma_end)| vma_start <= start && vma_end >= end),
        "no vma covers the buffer {start:#x}-{end:#x}: {vmas:x?}"
    );
}

/// Asks for the report and checks it is OK for this pid.
fn expect_ok_report(subject: &Subject) {
    let ok = subject.ok_report("tids=same ", REPORT_TIMEOUT);
    ok.unwrap_or_else(|error| panic!("{error}"));
}

#[test]
fn threads_report_ok_without_any_checkpoint() {
    let _serial = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut subject = start("threads-plain", &[]);
    layout(subject.ready());
    expect_ok_report(&subject);
    let status = subject
        .reap_original()
        .unwrap_or_else(|error| panic!("{error}"));
    assert!(status.success(), "{status}");
}

#[test]
fn threads_selftest_corruption_is_reported() {
    let _serial = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut subject = start("threads-selftest", &["--selftest-corrupt"]);
    let report = subject
        .ask_report(REPORT_TIMEOUT)
        .unwrap_or_else(|error| panic!("{error}"));
    assert!(report.starts_with("FAIL"), "{report}");
    assert!(
        report.contains("regs(") && report.contains("checksum"),
        "{report}"
    );
    let status = subject
        .reap_original()
        .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(status.code(), Some(1));
}

#[test]
fn threads_registers_timer_and_signals_survive_dump_and_restore() {
    let _serial = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut subject = start("threads", &[]);
    let decoded = subject
        .dump(false, CRUST_TIMEOUT)
        .unwrap_or_else(|error| panic!("{error}"));
    check_images(&decoded, subject.ready());

    subject
        .restore(CRUST_TIMEOUT)
        .unwrap_or_else(|error| panic!("{error}"));
    thread::sleep(RUN_AFTER_RESTORE);
    expect_ok_report(&subject);
    subject.finish().unwrap_or_else(|error| panic!("{error}"));
}

#[test]
fn threads_left_running_are_unharmed_and_restore_later() {
    let _serial = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut subject = start("threads-lr", &[]);
    let decoded = subject
        .dump(true, CRUST_TIMEOUT)
        .unwrap_or_else(|error| panic!("{error}"));
    check_images(&decoded, subject.ready());

    thread::sleep(RUN_AFTER_RESTORE);
    expect_ok_report(&subject);
    let status = subject
        .reap_original()
        .unwrap_or_else(|error| panic!("{error}"));
    assert!(
        status.success(),
        "the original after --leave-running: {status}"
    );

    let output = subject.output().to_path_buf();
    subject
        .rewind_to_dump(&decoded, &output)
        .unwrap_or_else(|error| panic!("{error}"));
    subject
        .restore(CRUST_TIMEOUT)
        .unwrap_or_else(|error| panic!("{error}"));
    thread::sleep(RUN_AFTER_RESTORE);
    expect_ok_report(&subject);
    subject.finish().unwrap_or_else(|error| panic!("{error}"));
}
