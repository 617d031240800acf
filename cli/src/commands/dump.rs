//! `crust dump`.

use std::process::ExitCode;

use anyhow::Context;
use engine::dump::{DumpOptions, DumpSummary};
use nix::unistd::Pid;

use super::say;
use crate::args::DumpArgs;
use crate::progress::Progress;

pub fn run(args: &DumpArgs, progress: Progress) -> anyhow::Result<ExitCode> {
    let options = DumpOptions {
        pid: Pid::from_raw(args.pid),
        images_dir: args.images_dir.clone(),
        leave_running: args.leave_running,
        external: args.external.clone(),
        file_locks: args.file_locks,
        shell_job: args.shell_job,
        ghost_limit: args.ghost_limit,
    };
    progress.phase(format_args!(
        "dumping pid {} into {}",
        args.pid,
        args.images_dir.display()
    ));
    let summary =
        engine::dump::dump(&options).with_context(|| format!("dump of pid {} failed", args.pid))?;
    say(describe(&options, &summary))?;
    Ok(ExitCode::SUCCESS)
}

/// One line saying what a dump did.
pub fn describe(options: &DumpOptions, summary: &DumpSummary) -> String {
    let fate = if options.leave_running {
        "left running"
    } else {
        "killed"
    };
    let what = if summary.processes == 1 {
        "the process was"
    } else {
        "the tree was"
    };
    let zombies = match summary.zombies {
        0 => String::new(),
        n => format!(", {}", counted(n, "zombie", "zombies")),
    };
    format!(
        "dumped pid {} into {}: {}, {}{zombies}, {:.1} MiB of memory, frozen for {} ms; {what} \
         {fate}",
        options.pid,
        options.images_dir.display(),
        counted(summary.processes, "process", "processes"),
        counted(summary.threads, "thread", "threads"),
        summary.pages_bytes as f64 / (1024.0 * 1024.0),
        summary.frozen.as_millis(),
    )
}

fn counted(count: usize, one: &str, many: &str) -> String {
    format!("{count} {}", if count == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_summary_reads_as_a_sentence() {
        let options = DumpOptions {
            pid: Pid::from_raw(42),
            images_dir: "/tmp/ckpt".into(),
            leave_running: false,
            external: Vec::new(),
            file_locks: false,
            shell_job: false,
            ghost_limit: engine::refusal::DEFAULT_GHOST_LIMIT,
        };
        let summary = DumpSummary {
            processes: 1,
            threads: 3,
            zombies: 0,
            pages_bytes: 3 * 1024 * 1024 / 2,
            frozen: Duration::from_millis(12),
        };
        assert_eq!(
            describe(&options, &summary),
            "dumped pid 42 into /tmp/ckpt: 1 process, 3 threads, 1.5 MiB of memory, \
             frozen for 12 ms; the process was killed"
        );
    }
}
