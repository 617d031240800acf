//! `crust restore`.

use std::process::ExitCode;

use anyhow::Context;
use engine::restore::{RestoreOptions, RestoreOutcome};

use super::say;
use crate::args::RestoreArgs;
use crate::progress::Progress;

/// Added to a signal number for the status of a process it killed (as shells do).
const SIGNALED_STATUS_BASE: i32 = 128;

pub fn run(args: &RestoreArgs, progress: Progress) -> anyhow::Result<ExitCode> {
    let options = RestoreOptions {
        images_dir: args.images_dir.clone(),
        detach: args.detach,
        inherit_fds: args.inherit_fd.clone(),
        shell_job: args.shell_job,
    };
    progress.phase(format_args!("restoring from {}", args.images_dir.display()));
    let outcome = engine::restore::restore(&options)
        .with_context(|| format!("restore from {} failed", args.images_dir.display()))?;

    match outcome {
        RestoreOutcome::Detached(pid) => {
            say(format_args!("restored pid {pid}, running detached"))?;
            Ok(ExitCode::SUCCESS)
        }
        RestoreOutcome::Exited(pid, status) => {
            progress.phase(format_args!(
                "restored pid {pid} exited with status {status}"
            ));
            Ok(ExitCode::from(exit_status(status)))
        }
        RestoreOutcome::Signaled(pid, signal) => {
            progress.phase(format_args!(
                "restored pid {pid} was killed by signal {signal}"
            ));
            Ok(ExitCode::from(exit_status(SIGNALED_STATUS_BASE + signal)))
        }
    }
}

/// The low byte, which is all of an exit status a parent can see.
fn exit_status(status: i32) -> u8 {
    u8::try_from(status & 0xff).unwrap_or(u8::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_keep_their_low_byte() {
        assert_eq!(exit_status(0), 0);
        assert_eq!(exit_status(3), 3);
        assert_eq!(exit_status(SIGNALED_STATUS_BASE + 9), 137);
        assert_eq!(exit_status(256 + 5), 5);
    }
}
