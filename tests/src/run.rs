//! Running a program with a deadline and capturing what it prints.

use std::io::{self, Read};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

/// How often a running program is polled for its exit.
const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// How long output may stay open after the program exits (a grandchild
/// that inherited stdout keeps it open).
const OUTPUT_GRACE: Duration = Duration::from_secs(2);

/// A program that ran to its end.
#[derive(Debug)]
pub struct Finished {
    /// How it ended.
    pub status: ExitStatus,
    /// All it wrote on stdout (lossily decoded).
    pub stdout: String,
    /// All it wrote on stderr (lossily decoded).
    pub stderr: String,
}

impl Finished {
    /// The exit code, or `None` if a signal ended it.
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// The non-empty lines of stderr.
    pub fn stderr_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|line| !line.is_empty())
            .collect()
    }
}

/// Why a program could not be run to its end.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// It could not be started.
    #[error("cannot start `{command}`: {source}")]
    Spawn {
        /// The command line.
        command: String,
        /// What went wrong.
        source: io::Error,
    },
    /// Waiting for it failed.
    #[error("waiting for `{command}` (pid {pid}): {source}")]
    Wait {
        /// The command line.
        command: String,
        /// Its pid.
        pid: u32,
        /// What went wrong.
        source: io::Error,
    },
    /// It ran past its deadline and was killed.
    #[error("`{command}` (pid {pid}) ran for more than {timeout:?} and was killed")]
    Timeout {
        /// The command line.
        command: String,
        /// Its pid.
        pid: u32,
        /// The deadline it missed.
        timeout: Duration,
    },
    /// It exited, but something it started still holds its stdout or stderr.
    #[error("`{command}` (pid {pid}) exited but its output stayed open (a child holds it)")]
    OutputHeldOpen {
        /// The command line.
        command: String,
        /// Its pid.
        pid: u32,
    },
}

/// Runs `command` with stdin from /dev/null, capturing stdout and stderr;
/// kills it (by its pid) if it has not finished after `timeout`.
pub fn run_with_timeout(command: &mut Command, timeout: Duration) -> Result<Finished, RunError> {
    let described = describe(command);
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| RunError::Spawn {
            command: described.clone(),
            source,
        })?;
    let pid = child.id();
    let stdout = collect(child.stdout.take());
    let stderr = collect(child.stderr.take());

    let deadline = Instant::now() + timeout;
    let status = loop {
        let wait_error = |source| RunError::Wait {
            command: described.clone(),
            pid,
            source,
        };
        if let Some(status) = child.try_wait().map_err(wait_error)? {
            break status;
        }
        if Instant::now() >= deadline {
            // Not yet reaped, so the pid is still this child's.
            let _ = child.kill();
            let _ = child.wait();
            return Err(RunError::Timeout {
                command: described,
                pid,
                timeout,
            });
        }
        thread::sleep(POLL_INTERVAL);
    };

    let held_open = || RunError::OutputHeldOpen {
        command: described.clone(),
        pid,
    };
    let stdout = stdout.recv_timeout(OUTPUT_GRACE).map_err(|_| held_open())?;
    let stderr = stderr.recv_timeout(OUTPUT_GRACE).map_err(|_| held_open())?;
    Ok(Finished {
        status,
        stdout,
        stderr,
    })
}

/// Reads a pipe to its end on a thread of its own; the text arrives on the channel.
fn collect(pipe: Option<impl Read + Send + 'static>) -> Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        let _ = sender.send(String::from_utf8_lossy(&bytes).into_owned());
    });
    receiver
}

fn describe(command: &Command) -> String {
    let mut words = vec![command.get_program().to_string_lossy().into_owned()];
    words.extend(
        command
            .get_args()
            .map(|arg| arg.to_string_lossy().into_owned()),
    );
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_and_status_are_captured() {
        let mut command = Command::new("sh");
        command.args(["-c", "echo out; echo err >&2; exit 3"]);
        let finished = run_with_timeout(&mut command, Duration::from_secs(10)).expect("sh ran");
        assert_eq!(finished.code(), Some(3));
        assert_eq!(finished.stdout, "out\n");
        assert_eq!(finished.stderr_lines(), ["err"]);
    }

    #[test]
    fn a_program_past_its_deadline_is_killed() {
        let started = Instant::now();
        let mut command = Command::new("sleep");
        command.arg("30");
        let result = run_with_timeout(&mut command, Duration::from_millis(200));
        assert!(
            matches!(result, Err(RunError::Timeout { .. })),
            "{result:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn a_missing_program_is_named() {
        let mut command = Command::new("/nonexistent/program");
        let error = run_with_timeout(&mut command, Duration::from_secs(1)).unwrap_err();
        assert!(
            error.to_string().contains("/nonexistent/program"),
            "{error}"
        );
    }
}
