//! A counter whose stdout something outside the dump holds too, for the `--external` and
//! `--inherit-fd` tests: workloads/pipe_counter.c writes `N\n` every 20 ms, N = 0, 1, 2, ...

use std::io::{BufRead, BufReader};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::{compile_c, run_with_timeout, Abi, Finished, Workload};

const SOURCE: &str = include_str!("../workloads/pipe_counter.c");

/// How long crust may take.
pub const CRUST_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a line of the counter (one every 20 ms) may take to come.
pub const LINE_TIMEOUT: Duration = Duration::from_secs(10);

fn program() -> PathBuf {
    compile_c(SOURCE, Abi::X86_64, &[]).unwrap_or_else(|error| panic!("{error}"))
}

/// The counter, leading a session of its own, stdin and stderr /dev/null, stdout `stdout`.
pub fn start_counter(stdout: OwnedFd) -> Workload {
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

/// The counts read from a pipe or FIFO, on a thread of its own until its end of file.
pub struct CountLines {
    receiver: Receiver<String>,
    reader: JoinHandle<()>,
    /// The counts handed out so far.
    seen: Vec<u64>,
}

impl CountLines {
    /// Starts reading `pipe`.
    pub fn read(pipe: OwnedFd) -> Self {
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
    pub fn next_count(&mut self) -> u64 {
        let line = self
            .receiver
            .recv_timeout(LINE_TIMEOUT)
            .unwrap_or_else(|error| panic!("no line from the counter: {error}"));
        let count = parse_count(&line);
        self.seen.push(count);
        count
    }

    /// Takes in the counts already waiting, so that the next one is written after this call.
    pub fn skip_waiting(&mut self) {
        let waiting: Vec<String> = self.receiver.try_iter().collect();
        self.seen
            .extend(waiting.iter().map(|line| parse_count(line)));
    }

    /// Every count read, from the first, once the end of file came (all writers gone).
    pub fn until_end(mut self) -> Vec<u64> {
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
pub fn counts_on(counts: &[u64], first: u64) -> bool {
    counts.first() == Some(&first) && counts.windows(2).all(|pair| pair[1] == pair[0] + 1)
}

/// Runs crust with `args`; fails the test if it could not be run.
pub fn run(args: &[&str]) -> Finished {
    crate::crust(args, CRUST_TIMEOUT).unwrap_or_else(|error| panic!("{error}"))
}

/// crust failed with exactly one line on stderr; that line.
pub fn failure_line(finished: &Finished) -> String {
    assert_eq!(finished.code(), Some(1), "{finished:?}");
    match finished.stderr_lines()[..] {
        [line] => line.to_owned(),
        _ => panic!("not one line on stderr: {finished:?}"),
    }
}

/// Runs crust with `args` and `given` as its fd `as_fd` (for `--inherit-fd fd[AS_FD]:...`).
pub fn run_inheriting(args: &[&str], given: &OwnedFd, as_fd: RawFd) -> Finished {
    let mut command = Command::new(crate::crust_binary().expect("crust binary"));
    command.args(args);
    let source = given.as_raw_fd();
    // SAFETY: the closure runs in the forked child before exec and calls only dup2(2) and
    // fcntl(2), which are async-signal-safe and touch no memory.
    unsafe {
        command.pre_exec(move || {
            let placed = if source == as_fd {
                nix::fcntl::fcntl(
                    source,
                    nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
                )
            } else {
                nix::unistd::dup2(source, as_fd)
            };
            placed.map(drop).map_err(Into::into)
        });
    }
    run_with_timeout(&mut command, CRUST_TIMEOUT).unwrap_or_else(|error| panic!("{error}"))
}
