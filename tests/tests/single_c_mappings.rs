//! A C process's memory mappings across dump, kill and restore
//! (workloads/mappings.c): shared anonymous memory whose pages left the page
//! tables (MADV_DONTNEED) but hold data, a MAP_SHARED file mapping written
//! after the restore (the file gets the write), a MAP_PRIVATE file mapping
//! changed in memory (the change survives, the file never sees it).
//!
//! Needs the crust binary built first: `cargo build --release -p cli`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use nix::sys::signal::Signal;
use tests::{compile_c, Abi, Subject};

const SOURCE: &str = include_str!("../workloads/mappings.c");
const TIMEOUT: Duration = Duration::from_secs(60);

/// One workload at a time, as in the other end-to-end tests.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn program() -> PathBuf {
    compile_c(SOURCE, Abi::X86_64, &["-O2"]).unwrap_or_else(|error| panic!("{error}"))
}

fn start(tag: &str) -> Subject {
    let program = program();
    let build = |dir: &Path| {
        let mut command = Command::new(&program);
        command.arg(dir);
        command
    };
    Subject::start(tag, build).unwrap_or_else(|error| panic!("{error}"))
}

fn expect_ok_report(subject: &Subject) {
    subject
        .signal(Signal::SIGUSR1)
        .unwrap_or_else(|error| panic!("{error}"));
    let report = subject
        .report(TIMEOUT)
        .unwrap_or_else(|error| panic!("{error}"));
    let expected = format!("OK pid={} ", subject.pid());
    assert!(
        report.starts_with(&expected),
        "the workload reported: {report}"
    );
}

#[test]
fn mappings_report_ok_without_any_checkpoint() {
    let _serial = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut subject = start("mappings-plain");
    expect_ok_report(&subject);
    let status = subject
        .reap_original()
        .unwrap_or_else(|error| panic!("{error}"));
    assert!(status.success(), "{status}");
}

#[test]
fn mappings_survive_dump_and_restore() {
    let _serial = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut subject = start("mappings-cycle");
    subject
        .dump(false, TIMEOUT)
        .unwrap_or_else(|error| panic!("{error}"));
    subject
        .restore(TIMEOUT)
        .unwrap_or_else(|error| panic!("{error}"));
    expect_ok_report(&subject);
    subject.finish().unwrap_or_else(|error| panic!("{error}"));
}
