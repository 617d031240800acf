//! A C counter whose stdout is a pipe the test reads (workloads/pipe_counter.c), in a session
//! of its own: the pipe is shared with a process outside the dump. Without `--external` the
//! dump is refused and the counter carries on; with it the dump succeeds; the restore then
//! needs `--inherit-fd`, and with a new pipe given as crust's fd the count goes on in it from
//! where it stopped.
//!
//! Needs the crust binary built first: `cargo build --release -p cli`.

use std::io::{BufRead, BufReader};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use nix::fcntl::OFlag;
use nix::unistd::Pid;
use tests::{
    compile_c, crit_decode_dir, crust, run_with_timeout, Abi, Finished, TempDir, Workload,
};

const SOURCE: &str = include_str!("../workloads/pipe_counter.c");

const CRUST_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a line of the counter (one every 20 ms) may take to come.
const LINE_TIMEOUT: Duration = Duration::from_secs(10);

/// crust's fd the test gives the restore in place of the counter's stdout.
const INHERITED_FD: RawFd = 7;

fn program() -> PathBuf {
    compile_c(SOURCE, Abi::X86_64, &[]).unwrap_or_else(|error| panic!("{error}"))
}

/// The counts read from a pipe, on a thread of its own until the pipe's end of file.
struct Lines {
    receiver: Receiver<String>,
    reader: JoinHandle<()>,
    /// The counts handed out so far.
    seen: Vec<u64>,
}

impl Lines {
    fn read(pipe: OwnedFd) -> Self {
        let (sender, receiver) = mpsc::channel();
        let reader = thread::spawn(move || {
            for line in BufReader::new(std::fs::File::from(pipe)).lines() {
                let Ok(line) = line else { return };
                if sender.send(line).is_err() {
                    return;
                }
            }
        });
        Self {
            receiver,
            reader,
            seen: Vec::new(),
        }
    }

    /// The next count; fails if none comes in time or the line is not a number.
    fn next(&mut self) -> u64 {
        let line = self
            .receiver
            .recv_timeout(LINE_TIMEOUT)
            .unwrap_or_else(|error| panic!("no line from the counter: {error}"));
        let count = parse_count(&line);
        self.seen.push(count);
        count
    }

    /// Takes in the counts already waiting, so that the next one is written after this call.
    fn skip_waiting(&mut self) {
        let waiting: Vec<String> = self.receiver.try_iter().collect();
        self.seen
            .extend(waiting.iter().map(|line| parse_count(line)));
    }

    /// Every count read from the pipe, from the first, once its end of file came (all its
    /// writers gone).
    fn until_end(mut self) -> Vec<u64> {
        self.seen
            .extend(self.receiver.iter().map(|line| parse_count(&line)));
        self.reader.join().expect("reader thread");
        self.seen
    }
}

fn parse_count(line: &str) -> u64 {
    line.parse()
        .unwrap_or_else(|_| panic!("not a count: {line:?}"))
}

/// Whether `counts` go up by one from `first`, with no gap and no repeat.
fn counts_on(counts: &[u64], first: u64) -> bool {
    counts.first() == Some(&first) && counts.windows(2).all(|pair| pair[1] == pair[0] + 1)
}

fn pipe() -> (OwnedFd, OwnedFd) {
    nix::unistd::pipe2(OFlag::O_CLOEXEC).expect("pipe")
}

fn inode_of(fd: &OwnedFd) -> u64 {
    nix::sys::stat::fstat(fd.as_raw_fd()).expect("fstat").st_ino
}

/// The counter, leading a session of its own, stdin and stderr /dev/null, stdout `stdout`.
fn start_counter(stdout: OwnedFd) -> Workload {
    let mut command = Command::new(program());
    command
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(Stdio::null());
    // SAFETY: the closure runs in the forked child before exec and calls only setsid(2),
    // which is async-signal-safe.
    unsafe {
        command.pre_exec(|| nix::unistd::setsid().map(drop).map_err(Into::into));
    }
    Workload::spawn(&mut command).unwrap_or_else(|error| panic!("{error}"))
}

fn run(args: &[&str]) -> Finished {
    crust(args, CRUST_TIMEOUT).unwrap_or_else(|error| panic!("{error}"))
}

/// crust failed with exactly one line on stderr; that line.
fn failure_line(finished: &Finished) -> String {
    assert_eq!(finished.code(), Some(1), "{finished:?}");
    match finished.stderr_lines()[..] {
        [line] => line.to_owned(),
        _ => panic!("not one line on stderr: {finished:?}"),
    }
}

fn exists(pid: Pid) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// `crust restore -D IMAGES -d --inherit-fd fd[K]:pipe:[INODE]`, with `write_end` as crust's
/// fd K.
fn restore_inheriting(images: &str, inode: u64, write_end: &OwnedFd) -> Finished {
    let inherit = format!("fd[{INHERITED_FD}]:pipe:[{inode}]");
    let mut command = Command::new(tests::crust_binary().expect("crust binary"));
    command.args(["restore", "-D", images, "-d", "--inherit-fd", &inherit]);
    let source = write_end.as_raw_fd();
    // SAFETY: the closure runs in the forked child before exec and calls only dup2(2) and
    // fcntl(2), which are async-signal-safe and touch no memory.
    unsafe {
        command.pre_exec(move || {
            let placed = if source == INHERITED_FD {
                nix::fcntl::fcntl(
                    source,
                    nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
                )
            } else {
                nix::unistd::dup2(source, INHERITED_FD)
            };
            placed.map(drop).map_err(Into::into)
        });
    }
    run_with_timeout(&mut command, CRUST_TIMEOUT).unwrap_or_else(|error| panic!("{error}"))
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
    let mut lines = Lines::read(read_end);
    lines.next();
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
fn refused_without_external(case: &Case, lines: &mut Lines) {
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
    lines.next();
    assert!(exists(pid));
}

/// Step 2: an --external naming what the process lacks is an error; the right one dumps,
/// crit reads the images, and the counter is gone.
fn dumped_with_external(case: &mut Case) {
    let pid = case.pid;
    let absent = failure_line(&case.dump(&["--external", "pipe:[1]"]));
    let expected = format!("pid {pid} holds no pipe:[1], which --external names");
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
    let mut lines = Lines::read(read_end);
    for _ in 0..10 {
        lines.next();
    }
    drop(case);
    let counts = lines.until_end();
    assert!(counts_on(&counts, next), "{counts:?}");
}
