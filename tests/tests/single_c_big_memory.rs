//! A C process holding 2 GiB where every 8-byte word is its index XOR a
//! seed (workloads/big_memory.c), sleeping; after `crust restore -d` the
//! test sends SIGUSR1 and the process verifies every word itself.
//!
//! Needs the crust binary built first: `cargo build --release -p cli`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::thread;
use std::time::Duration;

use nix::sys::signal::Signal;
use tests::image_json::{pstree, vmas, Decoded};
use tests::{compile_c, Abi, Subject};

const SOURCE: &str = include_str!("../workloads/big_memory.c");

/// The buffer's size, as the workload's argument.
const MIB: &str = "2048";

/// 2 GiB to write out and read back, on a shared machine.
const CRUST_TIMEOUT: Duration = Duration::from_secs(300);

/// Verifying 2 GiB.
const REPORT_TIMEOUT: Duration = Duration::from_secs(60);

/// How long the restored process runs before it is asked for its report.
const RUN_AFTER_RESTORE: Duration = Duration::from_millis(300);

/// One 2 GiB workload at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn program() -> PathBuf {
    compile_c(SOURCE, Abi::X86_64, &["-O2"]).unwrap_or_else(|error| panic!("{error}"))
}

fn start(tag: &str, selftest: bool) -> Subject {
    let program = program();
    let build = |_: &Path| {
        let mut command = Command::new(&program);
        if selftest {
            command.arg("--selftest-corrupt");
        }
        command.arg(MIB);
        command
    };
    Subject::start(tag, build).unwrap_or_else(|error| panic!("{error}"))
}

/// The buffer's range from `ready pid=P buffer=START-END`.
fn buffer(ready: &str) -> (u64, u64) {
    let range = ready
        .split(' ')
        .find_map(|word| word.strip_prefix("buffer="))
        .unwrap_or_else(|| panic!("no buffer= in {ready:?}"));
    let hex = |text: &str| {
        u64::from_str_radix(text.trim_start_matches("0x"), 16)
            .unwrap_or_else(|_| panic!("not hex: {text}"))
    };
    let (start, end) = range.split_once('-').expect("START-END");
    (hex(start), hex(end))
}

/// One single-threaded process, and a vma covering the whole buffer.
fn check_images(decoded: &Decoded, subject: &Subject) {
    let pid = u64::try_from(subject.pid().as_raw()).expect("pid");
    assert_eq!(pstree(decoded), [(pid, vec![pid])]);
    let (start, end) = buffer(subject.ready());
    let vmas = vmas(decoded);
    assert!(
        vmas.iter()
            .any(|&(vma_start, vma_end)| vma_start <= start && vma_end >= end),
        "no vma covers the buffer {start:#x}-{end:#x}: {vmas:x?}"
    );
}

fn report(subject: &Subject) -> String {
    subject
        .signal(Signal::SIGUSR1)
        .unwrap_or_else(|error| panic!("{error}"));
    subject
        .report(REPORT_TIMEOUT)
        .unwrap_or_else(|error| panic!("{error}"))
}

fn expect_ok_report(subject: &Subject) {
    let report = report(subject);
    assert_eq!(
        report,
        format!("OK verified={MIB} MiB"),
        "the workload reported: {report}"
    );
}

#[test]
fn big_memory_reports_ok_without_any_checkpoint() {
    let _serial = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut subject = start("big-plain", false);
    expect_ok_report(&subject);
    let status = subject
        .reap_original()
        .unwrap_or_else(|error| panic!("{error}"));
    assert!(status.success(), "{status}");
}

#[test]
fn big_memory_selftest_corruption_is_reported_with_its_offset() {
    let _serial = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut subject = start("big-selftest", true);
    let report = report(&subject);
    // The workload flips the byte at size / 2 + 12345, in word 0x40003038.
    assert!(
        report.starts_with("FAIL first bad offset=0x40003038 "),
        "{report}"
    );
    let status = subject
        .reap_original()
        .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(status.code(), Some(1));
}

#[test]
fn big_memory_survives_dump_and_restore() {
    let _serial = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut subject = start("big", false);
    let decoded = subject
        .dump(false, CRUST_TIMEOUT)
        .unwrap_or_else(|error| panic!("{error}"));
    check_images(&decoded, &subject);

    subject
        .restore(CRUST_TIMEOUT)
        .unwrap_or_else(|error| panic!("{error}"));
    thread::sleep(RUN_AFTER_RESTORE);
    expect_ok_report(&subject);
    subject.finish().unwrap_or_else(|error| panic!("{error}"));
}

#[test]
fn big_memory_left_running_is_unharmed_and_restores_later() {
    let _serial = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut subject = start("big-lr", false);
    let decoded = subject
        .dump(true, CRUST_TIMEOUT)
        .unwrap_or_else(|error| panic!("{error}"));
    check_images(&decoded, &subject);

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
