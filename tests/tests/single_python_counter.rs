//! python3 counting with a generator into a file it keeps open
//! (workloads/counter.py), through `crust dump` and `crust restore -d`:
//! the count carries on with no gap and no repeat.
//!
//! Needs the crust binary built first: `cargo build --release -p cli`.

use std::path::Path;
use std::process::Command;
use std::sync::Mutex;

use tests::counter_cycle::{dump_kill_restore, leave_running_then_restore, COUNT_FILE};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/workloads/counter.py");

/// One workload at a time: they share two CPUs with crust.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn python_counter(dir: &Path) -> Command {
    let mut command = Command::new("python3");
    command.arg(SCRIPT).arg(dir.join(COUNT_FILE));
    command
}

#[test]
fn python_counter_carries_on_after_dump_and_restore() {
    let _serial = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Err(error) = dump_kill_restore("python-counter", python_counter) {
        panic!("{error}");
    }
}

#[test]
fn python_counter_left_running_is_unharmed_and_restores_later() {
    let _serial = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Err(error) = leave_running_then_restore("python-counter-lr", python_counter) {
        panic!("{error}");
    }
}
