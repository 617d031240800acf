//! Checkpoint cycles of a counter workload (one that appends 0, 1, 2, ...
//! to a file): the count must carry on after restore with no gap and no
//! repeat, and must not move while the process is dumped and dead.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::Duration;

use crate::counter::{gapless_count, CounterError};
use crate::cycle::{CycleError, Subject};
use crate::image_json::regular_file_pos;
use crate::watch::poll_until;

/// Name of the counter file in the workload's directory.
pub const COUNT_FILE: &str = "count";

/// How long crust may take to dump or restore a counter.
const CRUST_TIMEOUT: Duration = Duration::from_secs(60);

/// How many numbers the counter must add to count as running.
const PROGRESS: u64 = 10;

/// How long it may take to add them (20 ms each, on a busy machine).
const PROGRESS_TIMEOUT: Duration = Duration::from_secs(20);

/// How long a dead counter is watched for a change.
const STILLNESS: Duration = Duration::from_millis(300);

/// A way the counter went wrong.
#[derive(Debug, thiserror::Error)]
pub enum CounterCycleError {
    /// A step of the cycle failed.
    #[error(transparent)]
    Cycle(#[from] CycleError),
    /// The file is not a clean count.
    #[error(transparent)]
    Count(#[from] CounterError),
    /// The count did not grow.
    #[error("{when}: the count stayed at {count} for {timeout:?}")]
    Stalled {
        /// Which phase.
        when: &'static str,
        /// Where it stopped.
        count: u64,
        /// How long it was given.
        timeout: Duration,
    },
    /// The count moved although the process was dumped and killed.
    #[error("the count moved from {before} to {after} after the dump killed the process")]
    MovedWhileDead {
        /// At the dump.
        before: u64,
        /// Later.
        after: u64,
    },
    /// The offset saved for the file is not where the file ends.
    #[error(
        "the images save offset {saved:?} for {path}, which is {size} bytes long after the \
         dump: the process wrote after its state was saved (or the offset is wrong)"
    )]
    Offset {
        /// The counter file.
        path: PathBuf,
        /// The saved offset.
        saved: Option<u64>,
        /// The file's size at the dump.
        size: u64,
    },
}

/// Dump (killing it), check the images and the dead count, restore, and
/// check the count carries on from where it stopped.
pub fn dump_kill_restore(
    tag: &str,
    build: impl FnOnce(&Path) -> Command,
) -> Result<(), CounterCycleError> {
    let mut subject = Subject::start(tag, build)?;
    let count_file = subject.dir().join(COUNT_FILE);
    grows(&count_file, 0, "before the dump")?;

    let decoded = subject.dump(false, CRUST_TIMEOUT)?;
    let at_dump = gapless_count(&count_file)?;
    offset_is_file_end(&decoded, &count_file)?;
    thread::sleep(STILLNESS);
    let later = gapless_count(&count_file)?;
    if later != at_dump {
        return Err(CounterCycleError::MovedWhileDead {
            before: at_dump,
            after: later,
        });
    }

    subject.restore(CRUST_TIMEOUT)?;
    grows(&count_file, at_dump, "after the restore")?;
    subject.finish()?;
    Ok(())
}

/// Dump with `--leave-running`: the original carries on cleanly; then kill
/// it, cut the file back to its size at the dump, restore, and check the
/// count carries on from the dump.
pub fn leave_running_then_restore(
    tag: &str,
    build: impl FnOnce(&Path) -> Command,
) -> Result<(), CounterCycleError> {
    let mut subject = Subject::start(tag, build)?;
    let count_file = subject.dir().join(COUNT_FILE);
    grows(&count_file, 0, "before the dump")?;

    let decoded = subject.dump(true, CRUST_TIMEOUT)?;
    let after_dump = gapless_count(&count_file)?;
    grows(
        &count_file,
        after_dump,
        "in the original after a --leave-running dump",
    )?;
    subject.kill_original()?;
    gapless_count(&count_file)?;

    subject.rewind_to_dump(&decoded, &count_file)?;
    let at_dump = gapless_count(&count_file)?;
    subject.restore(CRUST_TIMEOUT)?;
    grows(&count_file, at_dump, "after the restore")?;
    subject.finish()?;
    Ok(())
}

/// Waits until the clean count in `path` passes `from + PROGRESS`.
fn grows(path: &Path, from: u64, when: &'static str) -> Result<u64, CounterCycleError> {
    let mut last = Ok(from);
    let grown = poll_until(PROGRESS_TIMEOUT, || {
        last = gapless_count(path);
        match &last {
            Ok(count) => (*count >= from + PROGRESS).then_some(*count),
            Err(_) => Some(0),
        }
    });
    let count = last?;
    grown.ok_or(CounterCycleError::Stalled {
        when,
        count,
        timeout: PROGRESS_TIMEOUT,
    })
}

fn offset_is_file_end(
    decoded: &crate::image_json::Decoded,
    path: &Path,
) -> Result<(), CounterCycleError> {
    let size = std::fs::metadata(path)
        .map(|meta| meta.len())
        .map_err(|source| CycleError::File {
            path: path.to_path_buf(),
            source,
        })?;
    let saved = regular_file_pos(decoded, &path.to_string_lossy());
    if saved == Some(size) {
        return Ok(());
    }
    Err(CounterCycleError::Offset {
        path: path.to_path_buf(),
        saved,
        size,
    })
}
