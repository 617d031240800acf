//! `crust demo-counter FILE`: the program `crust demo` checkpoints.
//!
//! It appends `count N` to FILE five times a second, forever, in a session
//! of its own with no terminal, so that it can be dumped and restored alone.

use std::fs::OpenOptions;
use std::io::Write;
use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use anyhow::Context;

use crate::args::DemoCounterArgs;

/// Time between two counts.
pub const COUNT_INTERVAL: Duration = Duration::from_millis(200);

pub fn run(args: &DemoCounterArgs) -> anyhow::Result<ExitCode> {
    // Fails only if already a group leader (started by hand from a shell),
    // which is harmless for a demo.
    let _ = nix::unistd::setsid();
    // Whatever started crust may have left fds open (a pipe to a shell or a
    // CI runner): the counter keeps none of them, so it holds nothing that
    // leads outside itself and can be dumped alone.
    // SAFETY: close_range takes plain integers; no fd above stdio is in use
    // by this program yet.
    unsafe { libc::syscall(libc::SYS_close_range, 3, u32::MAX, 0) };
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&args.file)
        .with_context(|| format!("cannot open {}", args.file.display()))?;

    for count in 1_u64.. {
        // One write per line, so that a line is never half there.
        file.write_all(format!("count {count}\n").as_bytes())
            .with_context(|| format!("writing to {}", args.file.display()))?;
        thread::sleep(COUNT_INTERVAL);
    }
    Ok(ExitCode::SUCCESS)
}
