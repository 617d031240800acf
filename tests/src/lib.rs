//! Shared support for crust's end-to-end tests: finding and running the
//! `crust` binary, building C test programs, decoding images with crit,
//! and guards that clean up the processes and directories a test makes.
//!
//! The tests run the `crust` binary that cargo built next to them
//! (`target/release/crust` for `cargo test --release`). Cargo does not
//! build another crate's binary for these tests, so build it first:
//! `cargo build --release -p cli` (scripts/test.sh does), or point
//! `CRUST_BIN` at a binary.
//!
//! ```no_run
//! use std::time::Duration;
//! let finished = tests::crust(&["check"], Duration::from_secs(30)).expect("crust ran");
//! assert_eq!(finished.code(), Some(0));
//! ```

mod binary;
mod cc;
mod checkpoint;
mod counter;
pub mod counter_cycle;
mod crit;
mod cycle;
pub mod image_json;
pub mod outside;
mod run;
mod session;
mod tempdir;
pub mod tree;
mod user;
mod watch;
mod workload;

pub use binary::{crust, crust_binary, CrustError};
pub use cc::{compile_c, Abi, CompileError};
pub use checkpoint::{dump, dump_with, restore_detached, CheckpointError};
pub use counter::{gapless_count, CounterError};
pub use crit::{crit_decode_dir, CritError};
pub use cycle::{CycleError, Subject};
pub use run::{run_with_timeout, Finished, RunError};
pub use session::spawn_in_own_session;
pub use tempdir::TempDir;
pub use user::{Caps, TestUser, UserError, TEST_USER};
pub use watch::{poll_until, wait_for_line, wait_until_gone, WatchError};
pub use workload::{KillOnDrop, Workload, WorkloadError};
