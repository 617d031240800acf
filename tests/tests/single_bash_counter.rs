//! bash counting in a variable into fd 3, opened once with `exec 3>>`
//! (workloads/counter.sh; it never forks), through `crust dump` and `crust restore -d`:
//! the count carries on with no gap and no repeat.
//!
//! Needs the crust binary built first: `cargo build --release -p cli`.

use std::path::Path;
use std::process::Command;
use std::sync::Mutex;

use tests::counter_cycle::{dump_kill_restore, leave_running_then_restore, COUNT_FILE};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/workloads/counter.sh");

/// One workload at a time: they share two CPUs with crust.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn bash_counter(dir: &Path) -> Command {
    let mut command = Command::new("bash");
    command.arg(SCRIPT).arg(dir.join(COUNT_FILE));
    command
}

#[test]
fn bash_counter_carries_on_after_dump_and_restore() {
    let _serial = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Err(error) = dump_kill_restore("bash-counter", bash_counter) {
        panic!("{error}");
    }
}

#[test]
fn bash_counter_left_running_is_unharmed_and_restores_later() {
    let _serial = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Err(error) = leave_running_then_restore("bash-counter-lr", bash_counter) {
        panic!("{error}");
    }
}
