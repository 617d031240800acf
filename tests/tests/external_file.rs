//! The C counter (workloads/pipe_counter.c), in a session of its own, writing to a regular file
//! or a FIFO that the test has open too: the `--external file[MNT_ID:INODE]` cases.
//!
//! - A log file whose open description the test shares (as a shell's `exec 3>>log` would with
//!   its jobs): refused by default, naming the test's pid and fd and the exact `--external`;
//!   dumped with it; the restore needs `--inherit-fd`; given the test's own fd, the count goes
//!   on in the file at the shared offset with no line lost, doubled or overwritten.
//! - The same file opened by the test on its own (another description): no blocker.
//! - A FIFO the test reads: refused naming the test, dumped with `--external`, restored into a
//!   new pipe given by `--inherit-fd`.
//!
//! Needs the crust binary built first: `cargo build --release -p cli`.

use std::fs::OpenOptions;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use nix::unistd::Pid;
use tests::outside::{
    counts_on, failure_line, run, run_inheriting, start_counter, CountLines, LINE_TIMEOUT,
};
use tests::{crit_decode_dir, gapless_count, poll_until, TempDir, Workload};

/// crust's fd the test gives the restore in place of the counter's stdout.
const INHERITED_FD: RawFd = 7;

/// `file[MNT_ID:INODE]` of one of the test's own fds, as `--external` names it.
fn external_name(fd: &OwnedFd) -> String {
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd()))
        .expect("own fdinfo");
    let mnt_id: u32 = info
        .lines()
        .find_map(|line| line.strip_prefix("mnt_id:"))
        .and_then(|value| value.trim().parse().ok())
        .expect("mnt_id in fdinfo");
    let inode = nix::sys::stat::fstat(fd.as_raw_fd()).expect("fstat").st_ino;
    format!("file[{mnt_id:x}:{inode:x}]")
}

/// `TracerPid:` of `pid`'s status.
fn tracer_of(pid: Pid) -> i32 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let tracer = status
        .lines()
        .find_map(|line| line.strip_prefix("TracerPid:"));
    tracer
        .and_then(|value| value.trim().parse().ok())
        .expect("TracerPid")
}

fn exists(pid: Pid) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Waits until the counter file holds more than `count` clean lines; the clean count.
fn count_passes(log: &Path, count: u64) -> u64 {
    let passed = poll_until(LINE_TIMEOUT, || {
        let now = gapless_count(log).unwrap_or_else(|error| panic!("{error}"));
        (now > count).then_some(now)
    });
    passed.unwrap_or_else(|| panic!("{} stayed at {count} lines or fewer", log.display()))
}

/// A temporary directory (tagged `tag`) with a new file `log` in it, open for writing.
fn new_log(tag: &str) -> (TempDir, PathBuf, OwnedFd) {
    let dir = TempDir::new(tag).expect("temp dir");
    let log = dir.path().join("log");
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&log)
        .expect("log file");
    (dir, log, OwnedFd::from(file))
}

fn dump(pid: Pid, images: &str, extra: &[&str]) -> tests::Finished {
    let pid = pid.to_string();
    let mut args = vec!["dump", "-t", &pid, "-D", images];
    args.extend_from_slice(extra);
    run(&args)
}

/// The `files.img` entry crit shows for the external file: a REG entry marked `ext`.
fn external_entry_named(images: &str, name: &str) -> bool {
    let decoded = crit_decode_dir(Path::new(images)).unwrap_or_else(|e| panic!("{e}"));
    let files = decoded["files.img"]["entries"].as_array().cloned();
    files.unwrap_or_default().iter().any(|file| {
        file["type"] == "REG" && file["reg"]["ext"] == true && file["reg"]["name"] == name
    })
}

/// Dumps the counter with `--external NAME`, which must succeed and kill it; crit shows CRIU's
/// external regular-file entry for the name.
fn dump_external(counter: &mut Workload, images: &str, name: &str) {
    let dumped = dump(counter.pid(), images, &["--external", name]);
    assert_eq!(dumped.code(), Some(0), "{dumped:?}");
    counter
        .collect_dumped(LINE_TIMEOUT)
        .unwrap_or_else(|error| panic!("{error}"));
    assert!(
        external_entry_named(images, name),
        "no external entry {name}"
    );
}

#[test]
fn a_file_shared_with_the_outside_is_dumped_with_external_and_restored_with_inherit_fd() {
    let (dir, log, file) = new_log("external-file");
    let mut counter = start_counter(file.try_clone().expect("dup"));
    let pid = counter.pid();
    count_passes(&log, 2);
    let images = dir.path().join("images").to_string_lossy().into_owned();
    let name = external_name(&file);

    // Refused, naming the test's fd and the option; the counter carries on.
    let refusal = format!(
        "pid {pid}: fd 1 is {}, one open description with fd {} of pid {}, outside the tree: \
         restored alone, its offset would part from the other's; dump it with --external {name}",
        log.display(),
        file.as_raw_fd(),
        Pid::this()
    );
    let refused = failure_line(&dump(pid, &images, &[]));
    assert_eq!(
        refused,
        format!("crust: dump of pid {pid} failed: {refusal}")
    );
    let checked = run(&["check", "-t", &pid.to_string(), "-v"]);
    assert!(
        checked.stdout.lines().any(|line| line == refusal),
        "{checked:?}"
    );
    let froze = checked
        .stderr
        .contains(&format!("pid {pid}: tree frozen for "));
    assert!(froze, "the check did not freeze the tree: {checked:?}");
    assert_eq!(tracer_of(pid), 0, "the check left pid {pid} traced");
    // An --external naming nothing of the tree: the check says what the dump would.
    let wrong = run(&["check", "-t", &pid.to_string(), "--external", "file[1:1]"]);
    let said = format!("no process of the tree of pid {pid} holds file[1:1], which --external");
    assert!(
        wrong.code() == Some(1) && wrong.stderr.contains(&said),
        "{wrong:?}"
    );
    let before = gapless_count(&log).expect("count");
    count_passes(&log, before + 2);
    assert!(!Path::new(&images).exists(), "a refused dump left images");

    // Dumped with --external: crit shows CRIU's external regular-file entry.
    dump_external(&mut counter, &images, &name);
    let at_dump = gapless_count(&log).expect("count");

    // The restore needs the file back.
    let refused = failure_line(&run(&["restore", "-D", &images, "-d"]));
    assert_eq!(
        refused,
        format!(
            "crust: restore from {images} failed: pid {pid}: fd 1 is {name}, which was named \
             --external at dump: restore with --inherit-fd fd[K]:{name}, K an fd of crust's \
             open for writing"
        )
    );
    assert!(!exists(pid), "a process was left behind");

    // Given the test's own description, the count goes on at the shared offset.
    let inherit = format!("fd[{INHERITED_FD}]:{name}");
    let args = ["restore", "-D", &images, "-d", "--inherit-fd", &inherit];
    let restored = run_inheriting(&args, &file, INHERITED_FD);
    assert_eq!(restored.code(), Some(0), "{restored:?}");
    counter
        .adopt_restored()
        .unwrap_or_else(|error| panic!("{error}"));
    count_passes(&log, at_dump + 10);
    drop(counter);
    gapless_count(&log).unwrap_or_else(|error| panic!("{error}"));
}

#[test]
fn a_file_the_outside_opened_on_its_own_is_no_blocker() {
    let (_dir, log, file) = new_log("own-file");
    let counter = start_counter(file);
    count_passes(&log, 2);
    // The test's own open of the same file: another description, another offset.
    let _reader = std::fs::File::open(&log).expect("reopen");
    let checked = run(&["check", "-t", &counter.pid().to_string()]);
    assert_eq!(checked.code(), Some(0), "{checked:?}");
}

#[test]
fn a_fifo_read_outside_is_dumped_with_external_and_restored_with_inherit_fd() {
    let dir = TempDir::new("external-fifo").expect("temp dir");
    let fifo = dir.path().join("fifo");
    nix::unistd::mkfifo(&fifo, Mode::from_bits_truncate(0o600)).expect("mkfifo");
    let open = |flags| {
        let fd = nix::fcntl::open(&fifo, flags | OFlag::O_CLOEXEC, Mode::empty()).expect("open");
        // SAFETY: open(2) just returned this fd, owned by nothing else.
        unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) }
    };
    let read_end = open(OFlag::O_RDONLY | OFlag::O_NONBLOCK);
    let write_end = open(OFlag::O_WRONLY);
    nix::fcntl::fcntl(
        read_end.as_raw_fd(),
        nix::fcntl::FcntlArg::F_SETFL(OFlag::empty()),
    )
    .expect("blocking read end");
    let name = external_name(&read_end);
    let mut counter = start_counter(write_end);
    let pid = counter.pid();
    let mut lines = CountLines::read(read_end);
    lines.next_count();
    let images = dir.path().join("images").to_string_lossy().into_owned();

    let refusal = format!(
        "pid {pid}: fd 1 is a FIFO ({}), also open in pid {}, outside the tree: a FIFO is \
         dumped only when every process that has it open is in the tree; dump it with \
         --external {name}",
        fifo.display(),
        Pid::this()
    );
    let refused = failure_line(&dump(pid, &images, &[]));
    assert_eq!(
        refused,
        format!("crust: dump of pid {pid} failed: {refusal}")
    );
    lines.skip_waiting();
    lines.next_count();

    dump_external(&mut counter, &images, &name);
    let counts = lines.until_end();
    assert!(counts_on(&counts, 0), "{counts:?}");
    let next = counts.last().expect("counts") + 1;

    let (new_read, new_write) = nix::unistd::pipe2(OFlag::O_CLOEXEC).expect("pipe");
    let inherit = format!("fd[{INHERITED_FD}]:{name}");
    let args = ["restore", "-D", &images, "-d", "--inherit-fd", &inherit];
    let restored = run_inheriting(&args, &new_write, INHERITED_FD);
    assert_eq!(restored.code(), Some(0), "{restored:?}");
    counter
        .adopt_restored()
        .unwrap_or_else(|error| panic!("{error}"));
    drop(new_write);
    let mut lines = CountLines::read(new_read);
    for _ in 0..10 {
        lines.next_count();
    }
    drop(counter);
    let counts = lines.until_end();
    assert!(counts_on(&counts, next), "{counts:?}");
}

#[test]
fn a_log_given_in_a_pipes_place_keeps_its_append_mode() {
    let (read_end, write_end) = nix::unistd::pipe2(OFlag::O_CLOEXEC).expect("pipe");
    let inode = nix::sys::stat::fstat(read_end.as_raw_fd())
        .expect("fstat")
        .st_ino;
    let mut counter = start_counter(write_end);
    let pid = counter.pid();
    let mut lines = CountLines::read(read_end);
    lines.next_count();
    let (dir, log, _) = new_log("pipe-into-log");
    let images = dir.path().join("images").to_string_lossy().into_owned();
    let external = format!("pipe:[{inode}]");
    let dumped = dump(pid, &images, &["--external", &external]);
    assert_eq!(dumped.code(), Some(0), "{dumped:?}");
    counter
        .collect_dumped(LINE_TIMEOUT)
        .unwrap_or_else(|error| panic!("{error}"));
    // The counts so far go into the log first, as `cat >> log` would have put them.
    let counts = lines.until_end();
    let text: String = counts.iter().map(|count| format!("{count}\n")).collect();
    std::fs::write(&log, text).expect("write the counts so far");

    let appending = OpenOptions::new().append(true).open(&log).expect("log");
    let appending = OwnedFd::from(appending);
    let inherit = format!("fd[{INHERITED_FD}]:{external}");
    let args = ["restore", "-D", &images, "-d", "--inherit-fd", &inherit];
    let restored = run_inheriting(&args, &appending, INHERITED_FD);
    assert_eq!(restored.code(), Some(0), "{restored:?}");
    counter
        .adopt_restored()
        .unwrap_or_else(|error| panic!("{error}"));
    // Appended after the counts already there, none written over.
    count_passes(&log, counts.len() as u64 + 10);
}
