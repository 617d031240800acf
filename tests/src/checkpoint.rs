//! One step of a checkpoint cycle each: `crust dump` and `crust restore -d`,
//! required to succeed, with what they printed kept for the failure message.

use std::path::Path;
use std::time::Duration;

use nix::unistd::Pid;

use crate::binary::{crust, CrustError};
use crate::run::Finished;

/// A crust command that did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// crust could not be run to its end.
    #[error("`crust {args}`: {source}")]
    Run {
        /// The arguments given.
        args: String,
        /// What went wrong.
        source: CrustError,
    },
    /// crust exited with a failure.
    #[error("`crust {args}` exited with {code:?}: {stderr}")]
    Failed {
        /// The arguments given.
        args: String,
        /// Its exit code (None: killed by a signal).
        code: Option<i32>,
        /// What it printed on stderr.
        stderr: String,
    },
    /// `crust restore -d` succeeded without naming the pid it restored.
    #[error("`crust {args}` printed no `restored pid N`: {stdout:?}")]
    NoPid {
        /// The arguments given.
        args: String,
        /// What it printed on stdout.
        stdout: String,
    },
}

/// `crust dump -t PID -D IMAGES [--leave-running]`, which must exit 0.
pub fn dump(
    pid: Pid,
    images: &Path,
    leave_running: bool,
    timeout: Duration,
) -> Result<Finished, CheckpointError> {
    let extra: &[&str] = if leave_running {
        &["--leave-running"]
    } else {
        &[]
    };
    dump_with(pid, images, extra, timeout)
}

/// `crust dump -t PID -D IMAGES EXTRA...`, which must exit 0.
pub fn dump_with(
    pid: Pid,
    images: &Path,
    extra: &[&str],
    timeout: Duration,
) -> Result<Finished, CheckpointError> {
    let pid = pid.to_string();
    let images = images.to_string_lossy();
    let mut args = vec!["dump", "-t", &pid, "-D", &images];
    args.extend_from_slice(extra);
    succeed(&args, timeout)
}

/// `crust restore -D IMAGES -d`, which must exit 0 and print the pid it
/// restored (`restored pid N, ...`); that pid.
pub fn restore_detached(images: &Path, timeout: Duration) -> Result<Pid, CheckpointError> {
    let images = images.to_string_lossy();
    let args = ["restore", "-D", &images, "-d"];
    let finished = succeed(&args, timeout)?;
    restored_pid(&finished.stdout).ok_or_else(|| CheckpointError::NoPid {
        args: args.join(" "),
        stdout: finished.stdout.clone(),
    })
}

fn succeed(args: &[&str], timeout: Duration) -> Result<Finished, CheckpointError> {
    let finished = crust(args, timeout).map_err(|source| CheckpointError::Run {
        args: args.join(" "),
        source,
    })?;
    if finished.code() == Some(0) {
        return Ok(finished);
    }
    Err(CheckpointError::Failed {
        args: args.join(" "),
        code: finished.code(),
        stderr: finished.stderr.trim().to_owned(),
    })
}

fn restored_pid(stdout: &str) -> Option<Pid> {
    let rest = stdout.split("restored pid ").nth(1)?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok().map(Pid::from_raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_restored_pid_is_read_from_the_message() {
        assert_eq!(
            restored_pid("restored pid 4242, running detached\n"),
            Some(Pid::from_raw(4242))
        );
        assert_eq!(restored_pid("done\n"), None);
    }
}
