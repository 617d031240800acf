//! Waiting, with a deadline, for what a workload reports and for a pid to
//! be gone.

use std::fs;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use nix::unistd::Pid;

/// How often a file or /proc is looked at again.
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// What did not happen in time.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// No line with the prefix appeared.
    #[error("no line starting with {prefix:?} in {path} after {timeout:?}; it holds: {content:?}")]
    NoLine {
        /// The file watched.
        path: PathBuf,
        /// The prefix looked for.
        prefix: String,
        /// How long it was given.
        timeout: Duration,
        /// What the file held at the end.
        content: String,
    },
    /// /proc/PID still existed.
    #[error("pid {pid} still exists {timeout:?} later (/proc/{pid} is there)")]
    PidStillThere {
        /// The pid.
        pid: Pid,
        /// How long it was given.
        timeout: Duration,
    },
}

/// Calls `probe` until it gives a value or `timeout` passes.
pub fn poll_until<T>(timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe() {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(POLL_INTERVAL);
    }
}

/// The first complete line of `path` that starts with `prefix`, once one
/// is there.
pub fn wait_for_line(path: &Path, prefix: &str, timeout: Duration) -> Result<String, WatchError> {
    let found = poll_until(timeout, || {
        let text = fs::read_to_string(path).ok()?;
        let complete = &text[..text.rfind('\n').map_or(0, |end| end + 1)];
        complete
            .lines()
            .find(|line| line.starts_with(prefix))
            .map(str::to_owned)
    });
    found.ok_or_else(|| WatchError::NoLine {
        path: path.to_path_buf(),
        prefix: prefix.to_owned(),
        timeout,
        content: fs::read_to_string(path).unwrap_or_default(),
    })
}

/// Waits until /proc/PID is gone (a dead process not yet reaped by its
/// parent, pid 1 for restored ones, still has it).
pub fn wait_until_gone(pid: Pid, timeout: Duration) -> Result<(), WatchError> {
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    poll_until(timeout, || (!proc_dir.exists()).then_some(()))
        .ok_or(WatchError::PidStillThere { pid, timeout })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TempDir;

    #[test]
    fn a_line_is_found_only_once_complete() {
        let dir = TempDir::new("watch").expect("temp dir");
        let file = dir.path().join("out");
        fs::write(&file, "starting\nready pid=1").expect("write");
        let short = Duration::from_millis(50);
        assert!(wait_for_line(&file, "ready", short).is_err());
        fs::write(&file, "starting\nready pid=1\n").expect("write");
        assert_eq!(
            wait_for_line(&file, "ready", short).ok().as_deref(),
            Some("ready pid=1")
        );
    }

    #[test]
    fn our_own_pid_is_never_gone() {
        let me = Pid::this();
        let error = wait_until_gone(me, Duration::from_millis(30)).unwrap_err();
        assert!(error.to_string().contains(&me.to_string()), "{error}");
    }
}
