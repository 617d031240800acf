//! A C process holding both ends of a pseudo-terminal (workloads/pty_pair.c):
//! the slave is its controlling terminal, bytes are queued both ways, the
//! slave has its own termios and window size, the master is in packet mode
//! and the slave locked. The process checks all of it itself after a dump
//! and restore, and after a dump that leaves it running (the queued bytes,
//! taken out for the images, must be back).
//!
//! Needs the crust binary built first: `cargo build --release -p cli`.

use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;
use tests::image_json::{number, Decoded};
use tests::Subject;

const SOURCE: &str = include_str!("../workloads/pty_pair.c");
const TIMEOUT: Duration = Duration::from_secs(60);

/// One workload at a time, as in the other end-to-end tests.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn start(tag: &str) -> Subject {
    Subject::start_c_in_dir(tag, SOURCE).unwrap_or_else(|error| panic!("{error}"))
}

/// N of the `pts=N` the workload printed when ready.
fn pts_index(subject: &Subject) -> u64 {
    let ready = subject.ready();
    let index = ready
        .split_whitespace()
        .find_map(|w| w.strip_prefix("pts="));
    index
        .and_then(|i| i.parse().ok())
        .unwrap_or_else(|| panic!("no pts=N in {ready:?}"))
}

fn expect_ok_report(subject: &Subject) {
    let ok = subject.ok_report("", TIMEOUT);
    ok.unwrap_or_else(|error| panic!("{error}"));
}

fn entries<'a>(decoded: &'a Decoded, image: &str) -> &'a [Value] {
    decoded
        .get(image)
        .and_then(|json| json["entries"].as_array())
        .map(Vec::as_slice)
        .unwrap_or_else(|| panic!("no {image} among {:?}", decoded.keys()))
}

/// The images hold the pair as two PTY ends at the workload's index, and
/// bytes queued on each.
fn check_images(decoded: &Decoded, index: u64) {
    let infos = entries(decoded, "tty-info.img");
    assert_eq!(infos.len(), 2, "{infos:?}");
    for info in infos {
        assert_eq!(info["type"], "PTY");
        assert_eq!(number(&info["pty"]["index"]), Some(index));
    }
    let master = infos
        .iter()
        .find(|i| number(&i["rdev"]) == Some(5 << 8 | 2));
    let master = master.unwrap_or_else(|| panic!("no master (5:2) in {infos:?}"));
    assert_eq!(master["packet_mode"], true);
    assert_eq!(master["locked"], true);
    let queued = entries(decoded, "tty-data.img");
    assert_eq!(queued.len(), 2, "bytes queued on both ends: {queued:?}");
}

#[test]
fn pty_pair_reports_ok_without_any_checkpoint() {
    let _serial = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut subject = start("pty-plain");
    expect_ok_report(&subject);
    let status = subject
        .reap_original()
        .unwrap_or_else(|error| panic!("{error}"));
    assert!(status.success(), "{status}");
}

#[test]
fn pty_pair_survives_dump_and_restore() {
    let _serial = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut subject = start("pty-cycle");
    let index = pts_index(&subject);
    let decoded = subject
        .dump(false, TIMEOUT)
        .unwrap_or_else(|error| panic!("{error}"));
    check_images(&decoded, index);
    subject
        .restore(TIMEOUT)
        .unwrap_or_else(|error| panic!("{error}"));
    expect_ok_report(&subject);
    subject.finish().unwrap_or_else(|error| panic!("{error}"));
}

#[test]
fn pty_pair_left_running_keeps_its_queued_bytes() {
    let _serial = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut subject = start("pty-left-running");
    let index = pts_index(&subject);
    let decoded = subject
        .dump(true, TIMEOUT)
        .unwrap_or_else(|error| panic!("{error}"));
    check_images(&decoded, index);
    expect_ok_report(&subject);
    let status = subject
        .reap_original()
        .unwrap_or_else(|error| panic!("{error}"));
    assert!(status.success(), "{status}");
}
