//! A C counter whose stdout is a pipe the test reads (workloads/pipe_counter.c), in a session
//! of its own: the pipe is shared with a process outside the dump. Without `--external` the
//! dump is refused and the counter carries on; with it the dump succeeds; the restore then
//! needs `--inherit-fd`, and with a new pipe given as crust's fd the count goes on in it from
//! where it stopped.
//!
//! Needs the crust binary built first: `cargo build --release -p cli`.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::Path;

use nix::fcntl::OFlag;
use nix::unistd::Pid;
use tests::outside::{
    counts_on, failure_line, run, run_inheriting, start_counter, CountLines, LINE_TIMEOUT,
};
use tests::{crit_decode_dir, Finished, TempDir, Workload};

/// crust's fd the test gives the restore in place of the counter's stdout.
const INHERITED_FD: RawFd = 7;

fn pipe() -> (OwnedFd, OwnedFd) {
    nix::unistd::pipe2(OFlag::O_CLOEXEC).expect("pipe")
}

fn inode_of(fd: &OwnedFd) -> u64 {
    nix::sys::stat::fstat(fd.as_raw_fd()).expect("fstat").st_ino
}

fn exists(pid: Pid) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// `crust restore -D IMAGES -d --inherit-fd fd[K]:pipe:[INODE]`, with `write_end` as crust's
/// fd K.
fn restore_inheriting(images: &str, inode: u64, write_end: &OwnedFd) -> Finished {
    let inherit = format!("fd[{INHERITED_FD}]:pipe:[{inode}]");
    let args = ["restore", "-D", images, "-d", "--inherit-fd", &inherit];
    run_inheriting(&args, write_end, INHERITED_FD)
}

/// The counter under test and where its images go.
struct Case {
    counter: Workload,
    pid: Pid,
    inode: u64,
    _dir: TempDir,
    images: String,
}

impl Case {
    fn dump(&self, extra: &[&str]) -> Finished {
        let pid = self.pid.to_string();
        let mut args = vec!["dump", "-t", &pid, "-D", &self.images];
        args.extend_from_slice(extra);
        run(&args)
    }
}

#[test]
fn a_pipe_shared_with_the_outside_is_dumped_with_external_and_restored_with_inherit_fd() {
    let (read_end, write_end) = pipe();
    let inode = inode_of(&read_end);
    let counter = start_counter(write_end);
    let mut lines = CountLines::read(read_end);
    lines.next_count();
    let dir = TempDir::new("external-pipe").expect("temp dir");
    let images = dir.path().join("images").to_string_lossy().into_owned();
    let mut case = Case {
        pid: counter.pid(),
        counter,
        inode,
        _dir: dir,
        images,
    };

    refused_without_external(&case, &mut lines);
    dumped_with_external(&mut case);
    let counts = lines.until_end();
    assert!(counts_on(&counts, 0), "{counts:?}");
    let last = *counts.last().expect("counts before the dump");
    restore_refused_without_inherit_fd(&case);
    goes_on_in_a_new_pipe(case, last + 1);
}

/// Step 1: refused, naming the pipe, its holder and the option; the counter carries on.
fn refused_without_external(case: &Case, lines: &mut CountLines) {
    let (pid, inode) = (case.pid, case.inode);
    let refusal = format!(
        "pid {pid}: fd 1 is a pipe (pipe:[{inode}]): it is also open in pid {}; dump it with \
         --external pipe:[{inode}]",
        Pid::this()
    );
    let refused = failure_line(&case.dump(&[]));
    assert_eq!(
        refused,
        format!("crust: dump of pid {pid} failed: {refusal}")
    );
    let checked = run(&["check", "-t", &pid.to_string()]);
    let shown = checked.stdout.lines().any(|line| line == refusal);
    assert!(shown, "{checked:?}");
    lines.skip_waiting();
    lines.next_count();
    assert!(exists(pid));
}

/// Step 2: an --external naming what the process lacks is an error; the right one dumps,
/// crit reads the images, and the counter is gone.
fn dumped_with_external(case: &mut Case) {
    let pid = case.pid;
    let absent = failure_line(&case.dump(&["--external", "pipe:[1]"]));
    let expected =
        format!("no process of the tree of pid {pid} holds pipe:[1], which --external names");
    assert_eq!(
        absent,
        format!("crust: dump of pid {pid} failed: {expected}")
    );

    let dumped = case.dump(&["--external", &format!("pipe:[{}]", case.inode)]);
    assert_eq!(dumped.code(), Some(0), "{dumped:?}");
    let collected = case.counter.collect_dumped(LINE_TIMEOUT);
    collected.unwrap_or_else(|error| panic!("{error}"));

    let decoded = crit_decode_dir(Path::new(&case.images)).unwrap_or_else(|e| panic!("{e}"));
    let files = &decoded["files.img"]["entries"];
    let pipe_ids: Vec<u64> = files
        .as_array()
        .expect("files entries")
        .iter()
        .filter(|file| file["type"] == "PIPE")
        .filter_map(|file| file["pipe"]["pipe_id"].as_u64())
        .collect();
    assert_eq!(pipe_ids, [case.inode], "{files}");
    let no_data = decoded
        .get("pipes-data.img")
        .is_none_or(|image| image["entries"].as_array().is_none_or(Vec::is_empty));
    assert!(no_data, "the external pipe's data was saved");
}

/// Step 3: without --inherit-fd the restore is refused before anything is created.
fn restore_refused_without_inherit_fd(case: &Case) {
    let (pid, inode, images) = (case.pid, case.inode, &case.images);
    let refused = failure_line(&run(&["restore", "-D", images, "-d"]));
    assert_eq!(
        refused,
        format!(
            "crust: restore from {images} failed: pid {pid}: fd 1 is the write end of \
             pipe:[{inode}], whose other end was outside the dump: restore with --inherit-fd \
             fd[K]:pipe:[{inode}], K an fd of crust's open for writing"
        )
    );
    assert!(!exists(pid), "a process was left behind");
}

/// Step 4: a new pipe's write end as crust's fd K: the count goes on in it from `next`.
fn goes_on_in_a_new_pipe(mut case: Case, next: u64) {
    let (read_end, write_end) = pipe();
    let restored = restore_inheriting(&case.images, case.inode, &write_end);
    assert_eq!(restored.code(), Some(0), "{restored:?}");
    let adopted = case.counter.adopt_restored();
    adopted.unwrap_or_else(|error| panic!("{error}"));
    drop(write_end);
    let mut lines = CountLines::read(read_end);
    for _ in 0..10 {
        lines.next_count();
    }
    drop(case);
    let counts = lines.until_end();
    assert!(counts_on(&counts, next), "{counts:?}");
}
