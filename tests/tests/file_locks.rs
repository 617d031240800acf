//! File locks across dump, kill and restore with `--file-locks`.
//!
//! A C process (workloads/locks.c) holds a shared and an exclusive flock, a POSIX write lock
//! on bytes 100-149 and an OFD read lock on bytes 10-29. Without the option the dump is
//! refused, one line per lock naming it and the option, and the process runs on holding
//! them. With it, the images hold the four locks; while the process is dead another process
//! takes each conflicting lock, and once it is restored the same attempts fail again with
//! EWOULDBLOCK/EAGAIN, and the process finds its locks itself.
//!
//! A real program: python3's sqlite3 module in the middle of a `BEGIN EXCLUSIVE` transaction
//! (workloads/sqlite_exclusive.py). After restore the sqlite3 shell is told "database is
//! locked", and the transaction commits.
//!
//! Needs the crust binary built first: `cargo build --release -p cli`.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::kill;
use serde_json::Value;
use tests::image_json::{number, Decoded};
use tests::{crust, run_with_timeout, Finished, Subject};

const SOURCE: &str = include_str!("../workloads/locks.c");
const SQLITE_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/workloads/sqlite_exclusive.py");
const TIMEOUT: Duration = Duration::from_secs(60);

/// One workload at a time, as in the other end-to-end tests.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// A lock another process asks for without waiting, through a description of its own.
#[derive(Debug, Clone, Copy)]
enum Attempt {
    /// flock(2) with `LOCK_NB`.
    Flock(libc::c_int),
    /// fcntl(2) `F_SETLK` (POSIX) or `F_OFD_SETLK`, with a type, start and length.
    Range(libc::c_int, libc::c_int, i64, i64),
}

/// Each lock of the workload, with an attempt that conflicts with it.
const CONFLICTING: [(&str, Attempt); 5] = [
    ("shared", Attempt::Flock(libc::LOCK_EX)),
    ("exclusive", Attempt::Flock(libc::LOCK_SH)),
    (
        "posix",
        Attempt::Range(libc::F_SETLK, libc::F_RDLCK, 120, 1),
    ),
    (
        "ofd",
        Attempt::Range(libc::F_OFD_SETLK, libc::F_WRLCK, 15, 1),
    ),
    ("ofd", Attempt::Range(libc::F_SETLK, libc::F_WRLCK, 29, 1)),
];

/// Attempts the workload's locks leave room for: they show the kinds and ranges are right.
const COMPATIBLE: [(&str, Attempt); 4] = [
    ("shared", Attempt::Flock(libc::LOCK_SH)),
    (
        "posix",
        Attempt::Range(libc::F_SETLK, libc::F_WRLCK, 0, 100),
    ),
    (
        "ofd",
        Attempt::Range(libc::F_OFD_SETLK, libc::F_RDLCK, 15, 1),
    ),
    (
        "ofd",
        Attempt::Range(libc::F_OFD_SETLK, libc::F_WRLCK, 30, 0),
    ),
];

/// Makes `attempt` on `dir/name` through a new open file description, and drops it again.
fn try_lock(dir: &Path, name: &str, attempt: Attempt) -> Result<(), Errno> {
    let file = File::options()
        .read(true)
        .write(true)
        .open(dir.join(name))
        .unwrap_or_else(|error| panic!("{name}: {error}"));
    let fd = file.as_raw_fd();
    let result = match attempt {
        // SAFETY: flock on an fd owned by `file`.
        Attempt::Flock(mode) => unsafe { libc::flock(fd, mode | libc::LOCK_NB) },
        Attempt::Range(command, kind, start, len) => {
            // SAFETY: all-zero bytes are a valid `struct flock`.
            let mut lock: libc::flock = unsafe { std::mem::zeroed() };
            lock.l_type = kind as libc::c_short;
            lock.l_whence = libc::SEEK_SET as libc::c_short;
            lock.l_start = start;
            lock.l_len = len;
            // SAFETY: fcntl on an fd owned by `file`, reading `lock` on the stack.
            unsafe { libc::fcntl(fd, command, &lock) }
        }
    };
    // Closing the file drops whatever was taken (and this process's POSIX locks on it).
    Errno::result(result).map(drop)
}

/// The results of `attempts`, each labelled with its file and attempt.
fn outcomes(dir: &Path, attempts: &[(&str, Attempt)]) -> Vec<String> {
    attempts
        .iter()
        .map(|(name, attempt)| {
            let result = match try_lock(dir, name, *attempt) {
                Ok(()) => "taken".to_string(),
                Err(errno) => errno.desc().to_string(),
            };
            format!("{name} {attempt:?}: {result}")
        })
        .collect()
}

fn expect_all(dir: &Path, attempts: &[(&str, Attempt)], result: &str) {
    let found = outcomes(dir, attempts);
    let expected: Vec<String> = attempts
        .iter()
        .map(|(name, attempt)| format!("{name} {attempt:?}: {result}"))
        .collect();
    assert_eq!(found, expected);
}

/// Every lock of the workload is held: each conflicting attempt fails with EWOULDBLOCK
/// (EAGAIN), each compatible one succeeds.
fn expect_held(dir: &Path) {
    expect_all(dir, &CONFLICTING, Errno::EWOULDBLOCK.desc());
    expect_all(dir, &COMPATIBLE, "taken");
}

fn start_locks(tag: &str) -> Subject {
    Subject::start_c_in_dir(tag, SOURCE).unwrap_or_else(|error| panic!("{error}"))
}

fn run_crust(args: &[&str]) -> Finished {
    crust(args, TIMEOUT).unwrap_or_else(|error| panic!("{error}"))
}

/// (flag, type, pid, fd, start, len) of each entry of filelocks.img.
fn lock_entries(decoded: &Decoded) -> Vec<[u64; 6]> {
    let entries = decoded
        .get("filelocks.img")
        .and_then(|image| image["entries"].as_array())
        .unwrap_or_else(|| panic!("no filelocks.img entries: {:?}", decoded.keys()));
    let field = |entry: &Value, name: &str| {
        number(&entry[name]).unwrap_or_else(|| panic!("{name} of {entry}"))
    };
    entries
        .iter()
        .map(|entry| ["flag", "type", "pid", "fd", "start", "len"].map(|name| field(entry, name)))
        .collect()
}

#[test]
fn without_file_locks_the_dump_is_refused_naming_each_lock_and_the_option() {
    let _serial = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let subject = start_locks("locks-refused");
    let pid = subject.pid();
    let images = subject.images().to_string_lossy().into_owned();
    let finished = run_crust(&["dump", "-t", &pid.to_string(), "-D", &images]);
    assert_eq!(finished.code(), Some(1), "{finished:?}");

    let dir = subject.dir();
    let path = |name: &str| dir.join(name).display().to_string();
    let expected = [
        format!(
            "fd 3 holds a FLOCK READ lock on {} (bytes 0-EOF)",
            path("shared")
        ),
        format!(
            "fd 4 holds a FLOCK WRITE lock on {} (bytes 0-EOF)",
            path("exclusive")
        ),
        format!(
            "fd 5 holds a POSIX WRITE lock on {} (bytes 100-149)",
            path("posix")
        ),
        format!(
            "fd 6 holds a OFDLCK READ lock on {} (bytes 10-29)",
            path("ofd")
        ),
    ]
    .map(|lock| format!("pid {pid}: {lock}: file locks are dumped only with --file-locks"));
    let lines = finished.stderr_lines();
    assert_eq!(lines.len(), expected.len(), "{finished:?}");
    for (line, expected) in lines.iter().zip(&expected) {
        assert!(
            line.ends_with(expected.as_str()),
            "{line:?} is not {expected:?}"
        );
    }

    // The blocker report says the same, and nothing once the option is given.
    let checked = run_crust(&["check", "-t", &pid.to_string()]);
    assert_eq!(checked.code(), Some(1), "{checked:?}");
    assert!(checked.stdout.contains("--file-locks"), "{checked:?}");
    let checked = run_crust(&["check", "-t", &pid.to_string(), "--file-locks"]);
    assert_eq!(checked.code(), Some(0), "{checked:?}");

    // Untouched: it still runs, holding every lock, and finds them itself.
    assert!(kill(pid, None).is_ok(), "pid {pid} is gone");
    expect_held(dir);
    let report = subject
        .ask_report(TIMEOUT)
        .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(report, format!("OK pid={pid} locks held"));
    subject.finish().unwrap_or_else(|error| panic!("{error}"));
}

#[test]
fn flock_posix_and_ofd_locks_are_held_again_after_restore() {
    let _serial = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut subject = start_locks("locks-cycle");
    let dir = subject.dir().to_path_buf();
    expect_held(&dir);

    let decoded = subject
        .dump_with(&["--file-locks"], TIMEOUT)
        .unwrap_or_else(|error| panic!("{error}"));
    let pid = u64::try_from(subject.pid().as_raw()).expect("pid");
    // CRIU's FL_FLOCK 2, FL_POSIX 1, FL_OFD 4; F_RDLCK 0, F_WRLCK 1.
    assert_eq!(
        lock_entries(&decoded),
        [
            [2, 0, pid, 3, 0, 0],
            [2, 1, pid, 4, 0, 0],
            [1, 1, pid, 5, 100, 50],
            [4, 0, pid, 6, 10, 20],
        ]
    );

    // The dump killed it, and its locks went with it.
    expect_all(&dir, &CONFLICTING, "taken");

    subject
        .restore(TIMEOUT)
        .unwrap_or_else(|error| panic!("{error}"));
    expect_held(&dir);
    let report = subject
        .ask_report(TIMEOUT)
        .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(report, format!("OK pid={pid} locks held"));
    subject.finish().unwrap_or_else(|error| panic!("{error}"));
}

/// `sqlite3 DB SQL` (the shell, a connection of its own): what it printed on stdout and
/// stderr, as one string.
fn sqlite_shell(db: &Path, sql: &str) -> String {
    let mut command = Command::new("sqlite3");
    command.arg(db).arg(sql).stdin(Stdio::null());
    let finished = run_with_timeout(&mut command, TIMEOUT).unwrap_or_else(|error| {
        panic!("sqlite3 (Debian package sqlite3) must be installed: {error}")
    });
    format!("{}{}", finished.stdout, finished.stderr)
}

#[test]
fn sqlite_exclusive_transaction_keeps_its_lock_and_commits_after_restore() {
    let _serial = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut subject = Subject::start("locks-sqlite", |dir| {
        let mut command = Command::new("python3");
        command.arg(SQLITE_SCRIPT).arg(dir);
        command
    })
    .unwrap_or_else(|error| panic!("{error}"));
    let db = subject.dir().join("db.sqlite");
    let count = "SELECT count(*) FROM t;";
    assert!(
        sqlite_shell(&db, count).contains("database is locked"),
        "the transaction holds no lock before the dump"
    );

    let decoded = subject
        .dump_with(&["--file-locks"], TIMEOUT)
        .unwrap_or_else(|error| panic!("{error}"));
    let posix_write_locks = lock_entries(&decoded)
        .iter()
        .filter(|entry| entry[0] == 1 && entry[1] == 1)
        .count();
    assert!(posix_write_locks > 0, "{:?}", lock_entries(&decoded));

    subject
        .restore(TIMEOUT)
        .unwrap_or_else(|error| panic!("{error}"));
    let locked = sqlite_shell(&db, count);
    assert!(
        locked.contains("database is locked"),
        "another connection read the database while the restored transaction was open: \
         {locked:?}"
    );

    let report = subject
        .ask_report(TIMEOUT)
        .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(
        report,
        format!("OK pid={} rows=before,during", subject.pid())
    );
    assert_eq!(
        sqlite_shell(&db, "SELECT x FROM t ORDER BY rowid;"),
        "before\nduring\n"
    );
    subject.finish().unwrap_or_else(|error| panic!("{error}"));
}

#[test]
fn a_lock_taken_by_another_process_since_the_dump_fails_the_restore_cleanly() {
    let _serial = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut subject = start_locks("locks-taken");
    let pid = subject.pid();
    subject
        .dump_with(&["--file-locks"], TIMEOUT)
        .unwrap_or_else(|error| panic!("{error}"));

    let shared = subject.dir().join("shared");
    let intruder = File::open(&shared).expect("shared");
    // SAFETY: flock on an fd owned by `intruder`.
    let rc = unsafe { libc::flock(intruder.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    assert_eq!(rc, 0, "the dumped process's lock outlived it");
    let images = subject.images().to_string_lossy().into_owned();
    let finished = run_crust(&["restore", "-D", &images, "-d"]);
    assert_eq!(finished.code(), Some(1), "{finished:?}");
    let expected = format!(
        "pid {pid}: cannot take the flock LOCK_SH lock on fd 3 ({}) again: {}",
        shared.display(),
        Errno::EWOULDBLOCK
    );
    assert!(
        finished.stderr.trim_end().ends_with(&expected),
        "{:?} does not end with {expected:?}",
        finished.stderr
    );
    assert_eq!(
        kill(pid, None),
        Err(Errno::ESRCH),
        "a half-restored pid {pid} is left"
    );

    // Once the lock is free again, the same images restore.
    drop(intruder);
    subject
        .restore(TIMEOUT)
        .unwrap_or_else(|error| panic!("{error}"));
    expect_held(subject.dir());
    subject.finish().unwrap_or_else(|error| panic!("{error}"));
}
