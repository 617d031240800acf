//! `crust demo`: checkpoint and restore a counter while the user watches.

use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use engine::dump::DumpOptions;
use engine::restore::{RestoreOptions, RestoreOutcome};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;

use super::counter::COUNT_INTERVAL;
use super::{dump, say};

const STEPS: usize = 5;
const LINES_BEFORE_DUMP: usize = 5;
const FIRST_LINES_TIMEOUT: Duration = Duration::from_secs(5);
const WATCH_AFTER_RESTORE: Duration = Duration::from_secs(1);
const INDENT: &str = "      ";
/// How long a killed restored counter may take to be reaped by its parent.
const GONE_TIMEOUT: Duration = Duration::from_secs(2);

pub fn run() -> anyhow::Result<ExitCode> {
    let workdir = DemoDir::create()?;
    let log = workdir.path.join("counter.log");
    let images_dir = workdir.path.join("images");
    fs::create_dir(&images_dir)
        .with_context(|| format!("cannot create {}", images_dir.display()))?;

    step(
        1,
        format_args!("starting a counter that writes to {}", log.display()),
    )?;
    let mut counter = Counter::start(&log)?;
    let first = counter.wait_for_lines(&log, LINES_BEFORE_DUMP)?;
    say(format_args!("{INDENT}pid {} wrote:", counter.pid))?;
    show_lines(&first)?;

    let pid = counter.pid;
    step(
        2,
        format_args!("dumping pid {pid} into {} ...", images_dir.display()),
    )?;
    let options = DumpOptions {
        pid,
        images_dir: images_dir.clone(),
        leave_running: false,
        external: Vec::new(),
        file_locks: false,
        shell_job: false,
        ghost_limit: engine::refusal::DEFAULT_GHOST_LIMIT,
    };
    let summary =
        engine::dump::dump(&options).with_context(|| format!("dump of pid {pid} failed"))?;
    counter.reap_after_dump();
    say(format_args!(
        "{INDENT}{}",
        dump::describe(&options, &summary)
    ))?;
    let at_dump = read_lines(&log)?;
    say(format_args!(
        "{INDENT}the file stops at `{}`",
        last_line(&at_dump)
    ))?;

    step(
        3,
        format_args!("restoring from {} ...", images_dir.display()),
    )?;
    let restored = restore_detached(&images_dir)?;
    say(format_args!("{INDENT}pid {} runs again", restored.pid))?;

    step(
        4,
        format_args!("watching it for {} s", WATCH_AFTER_RESTORE.as_secs()),
    )?;
    thread::sleep(WATCH_AFTER_RESTORE);
    let after = read_lines(&log)?;
    let new_lines = after.get(at_dump.len()..).unwrap_or_default();
    if new_lines.is_empty() {
        anyhow::bail!("the restored counter (pid {}) wrote nothing", restored.pid);
    }
    show_lines(new_lines)?;
    check_counts(&after)?;
    say(format_args!(
        "{INDENT}it went on from {} with no number lost or repeated",
        at_dump.len()
    ))?;

    step(
        5,
        format_args!(
            "stopping pid {} and removing {}",
            restored.pid,
            workdir.path.display()
        ),
    )?;
    drop(restored);
    drop(workdir);
    say("done")?;
    Ok(ExitCode::SUCCESS)
}

fn step(number: usize, what: std::fmt::Arguments) -> anyhow::Result<()> {
    say(format_args!("[{number}/{STEPS}] {what}"))
}

fn show_lines(lines: &[String]) -> anyhow::Result<()> {
    lines
        .iter()
        .try_for_each(|line| say(format_args!("{INDENT}  {line}")))
}

fn last_line(lines: &[String]) -> &str {
    lines.last().map(String::as_str).unwrap_or("")
}

fn read_lines(path: &Path) -> anyhow::Result<Vec<String>> {
    let text =
        fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(text.lines().map(str::to_owned).collect())
}

/// Every line must be `count N` with N = 1, 2, 3, … in order.
fn check_counts(lines: &[String]) -> anyhow::Result<()> {
    for (index, line) in lines.iter().enumerate() {
        let expected = index + 1;
        let count = line
            .strip_prefix("count ")
            .and_then(|n| n.parse::<usize>().ok());
        if count != Some(expected) {
            anyhow::bail!(
                "line {expected} of the counter's file is `{line}`, not `count {expected}`"
            );
        }
    }
    Ok(())
}

fn restore_detached(images_dir: &Path) -> anyhow::Result<RestoredCounter> {
    let options = RestoreOptions {
        images_dir: images_dir.to_path_buf(),
        detach: true,
        inherit_fds: Vec::new(),
        shell_job: false,
    };
    let outcome = engine::restore::restore(&options)
        .with_context(|| format!("restore from {} failed", images_dir.display()))?;
    match outcome {
        RestoreOutcome::Detached(pid) => Ok(RestoredCounter { pid }),
        other => anyhow::bail!("restore ended with {other:?} instead of a running counter"),
    }
}

/// The counter crust started; killed and reaped on drop unless dump did it.
struct Counter {
    pid: Pid,
    child: Option<Child>,
}

impl Counter {
    fn start(log: &Path) -> anyhow::Result<Self> {
        let crust = std::env::current_exe().context("cannot find the crust executable")?;
        let child = Command::new(crust)
            .arg("demo-counter")
            .arg(log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start the counter")?;
        let pid = Pid::from_raw(i32::try_from(child.id()).context("the counter's pid")?);
        Ok(Self {
            pid,
            child: Some(child),
        })
    }

    /// Waits until the counter has written `count` lines, and returns them.
    fn wait_for_lines(&mut self, log: &Path, count: usize) -> anyhow::Result<Vec<String>> {
        let deadline = Instant::now() + FIRST_LINES_TIMEOUT;
        loop {
            let lines = if log.exists() {
                read_lines(log)?
            } else {
                Vec::new()
            };
            if lines.len() >= count {
                return Ok(lines);
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                anyhow::bail!("the counter (pid {}) ended early: {status}", self.pid);
            }
            if Instant::now() > deadline {
                anyhow::bail!(
                    "the counter (pid {}) wrote {} lines in {} s",
                    self.pid,
                    lines.len(),
                    FIRST_LINES_TIMEOUT.as_secs()
                );
            }
            thread::sleep(COUNT_INTERVAL / 4);
        }
    }

    /// Collects the counter the dump killed, so that its pid is free again.
    fn reap_after_dump(&mut self) {
        if let Some(mut child) = self.child.take() {
            // The engine may have reaped it already as its tracer; either way it is gone.
            let _ = child.wait();
        }
    }
}

impl Drop for Counter {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The counter restore brought back; killed by the pid restore returned.
struct RestoredCounter {
    pid: Pid,
}

impl Drop for RestoredCounter {
    fn drop(&mut self) {
        let _ = kill(self.pid, Signal::SIGKILL);
        // It is our child only if the engine restored it so; then collect it.
        // Otherwise its parent does, soon: wait for that, within reason.
        let _ = waitpid(self.pid, None);
        let proc_dir = PathBuf::from(format!("/proc/{}", self.pid));
        let deadline = Instant::now() + GONE_TIMEOUT;
        while proc_dir.exists() && Instant::now() < deadline {
            thread::sleep(COUNT_INTERVAL / 20);
        }
    }
}

/// A private directory under the system's temporary directory, removed on drop.
struct DemoDir {
    path: PathBuf,
}

impl DemoDir {
    fn create() -> anyhow::Result<Self> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|since| since.subsec_nanos())
            .unwrap_or_default();
        let name = format!("crust-demo-{}-{nanos:08x}", std::process::id());
        let path = std::env::temp_dir().join(name);
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        Ok(Self { path })
    }
}

impl Drop for DemoDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &[&str]) -> Vec<String> {
        text.iter().map(|line| line.to_string()).collect()
    }

    #[test]
    fn counts_in_order_pass() {
        assert!(check_counts(&lines(&["count 1", "count 2", "count 3"])).is_ok());
    }

    #[test]
    fn a_repeated_count_is_named() {
        let error = check_counts(&lines(&["count 1", "count 2", "count 2"])).unwrap_err();
        assert_eq!(
            error.to_string(),
            "line 3 of the counter's file is `count 2`, not `count 3`"
        );
    }

    #[test]
    fn a_lost_count_is_named() {
        let error = check_counts(&lines(&["count 1", "count 3"])).unwrap_err();
        assert!(error.to_string().starts_with("line 2 "));
    }
}
