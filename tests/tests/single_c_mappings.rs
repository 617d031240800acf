//! A C process's memory mappings across dump, kill and restore
//! (workloads/mappings.c): shared anonymous memory whose pages left the page
//! tables (MADV_DONTNEED) but hold data, a MAP_SHARED file mapping written
//! after the restore (the file gets the write), a MAP_PRIVATE file mapping
//! changed in memory (the change survives, the file never sees it).
//!
//! Needs the crust binary built first: `cargo build --release -p cli`.

use std::sync::Mutex;
use std::time::Duration;

use tests::Subject;

const SOURCE: &str = include_str!("../workloads/mappings.c");
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
    let before = areas(subject.pid());
    subject
        .dump(false, TIMEOUT)
        .unwrap_or_else(|error| panic!("{error}"));
    subject
        .restore(TIMEOUT)
        .unwrap_or_else(|error| panic!("{error}"));
    // Nothing of crust's comes back with it (compel's shared area was once
    // saved as the process's own), and no area goes missing.
    let after = areas(subject.pid());
    let extra: Vec<_> = after
        .iter()
        .filter(|area| !before.contains(area) && !tiled(area, &before))
        .collect();
    assert!(
        extra.is_empty(),
        "areas the process did not have: {extra:?}"
    );
    assert!(
        before.iter().all(|area| area.contains("[vsyscall]")
            || after.contains(area)
            || merged(area, &after)),
        "{before:?}\n{after:?}"
    );
    expect_ok_report(&subject);
    subject.finish().unwrap_or_else(|error| panic!("{error}"));
}

/// The address range, protection and name of each area of `pid`.
fn areas(pid: nix::unistd::Pid) -> Vec<String> {
    std::fs::read_to_string(format!("/proc/{pid}/maps"))
        .expect("maps")
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let name = fields.get(5).copied().unwrap_or("");
            format!("{} {} {name}", fields[0], fields[1])
        })
        .collect()
}

/// Whether `area` lies inside one area of `after` with the same protection
/// and name (the kernel merges adjacent areas that a restore maps alike).
fn merged(area: &str, after: &[String]) -> bool {
    let range = |text: &str| -> Option<(u64, u64, String)> {
        let (span, rest) = text.split_once(' ')?;
        let (start, end) = span.split_once('-')?;
        let parse = |hex| u64::from_str_radix(hex, 16).ok();
        Some((parse(start)?, parse(end)?, rest.to_string()))
    };
    let Some((start, end, rest)) = range(area) else {
        return false;
    };
    after
        .iter()
        .filter_map(|other| range(other))
        .any(|(s, e, r)| s <= start && end <= e && r == rest)
}

/// Whether `area` is exactly covered by areas of `before` with its own
/// protection and name, end to end (pieces the kernel merged on restore).
fn tiled(area: &str, before: &[String]) -> bool {
    let range = |text: &str| -> Option<(u64, u64, String)> {
        let (span, rest) = text.split_once(' ')?;
        let (start, end) = span.split_once('-')?;
        let parse = |hex| u64::from_str_radix(hex, 16).ok();
        Some((parse(start)?, parse(end)?, rest.to_string()))
    };
    let Some((start, end, rest)) = range(area) else {
        return false;
    };
    let mut pieces: Vec<(u64, u64)> = before
        .iter()
        .filter_map(|other| range(other))
        .filter(|(s, e, r)| *r == rest && start <= *s && *e <= end)
        .map(|(s, e, _)| (s, e))
        .collect();
    pieces.sort_unstable();
    let mut cursor = start;
    for (s, e) in pieces {
        if s != cursor {
            return false;
        }
        cursor = e;
    }
    cursor == end
}
