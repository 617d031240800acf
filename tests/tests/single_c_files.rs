//! A C process's open files across dump, kill and restore
//! (workloads/files.c): a pipe it holds both ends of with bytes in flight,
//! a file at an odd offset with a dup() sharing it, O_APPEND, O_NONBLOCK and
//! FD_CLOEXEC flags, /dev/null, /dev/zero and /dev/urandom. The process
//! checks them itself after the restore.
//!
//! Needs the crust binary built first: `cargo build --release -p cli`.

use std::sync::Mutex;
use std::time::Duration;

use tests::image_json::regular_file_pos;
use tests::Subject;

const SOURCE: &str = include_str!("../workloads/files.c");
const TIMEOUT: Duration = Duration::from_secs(60);

/// One workload at a time, as in the other end-to-end tests.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn start(tag: &str) -> Subject {
    Subject::start_c_in_dir(tag, SOURCE).unwrap_or_else(|error| panic!("{error}"))
}

fn expect_ok_report(subject: &Subject) {
    let ok = subject.ok_report("", TIMEOUT);
    ok.unwrap_or_else(|error| panic!("{error}"));
}

#[test]
fn files_report_ok_without_any_checkpoint() {
    let _serial = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut subject = start("files-plain");
    expect_ok_report(&subject);
    let status = subject
        .reap_original()
        .unwrap_or_else(|error| panic!("{error}"));
    assert!(status.success(), "{status}");
}

#[test]
fn files_pipes_and_offsets_survive_dump_and_restore() {
    let _serial = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut subject = start("files-cycle");
    let decoded = subject
        .dump(false, TIMEOUT)
        .unwrap_or_else(|error| panic!("{error}"));
    let data = subject.dir().join("data");
    let data = data.to_string_lossy();
    assert_eq!(
        regular_file_pos(&decoded, &data),
        Some(12345),
        "saved offset of {data}"
    );
    subject
        .restore(TIMEOUT)
        .unwrap_or_else(|error| panic!("{error}"));
    expect_ok_report(&subject);
    subject.finish().unwrap_or_else(|error| panic!("{error}"));
}
