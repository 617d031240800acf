//! Dump: freeze a process, collect its state, write CRIU images.

use std::path::PathBuf;

use nix::unistd::Pid;

/// What `crust dump` was asked to do.
#[derive(Debug, Clone)]
pub struct DumpOptions {
    /// The process to dump (all its threads).
    pub pid: Pid,
    /// Directory the images go to.
    pub images_dir: PathBuf,
    /// Let the process run after the dump instead of killing it.
    pub leave_running: bool,
}

/// What a finished dump reports.
#[derive(Debug, Clone, Default)]
pub struct DumpSummary {
    /// Processes dumped.
    pub processes: usize,
    /// Threads dumped.
    pub threads: usize,
    /// Bytes of memory written to pages images.
    pub pages_bytes: u64,
    /// How long the process was frozen.
    pub frozen: std::time::Duration,
}

/// Why a dump failed.
#[derive(Debug, thiserror::Error)]
pub enum DumpError {
    /// The engine does not dump yet (placeholder until the dump lands).
    #[error("pid {0}: dump is not available in this build")]
    Unavailable(Pid),
}

/// Dump the process named in `options` into its image directory.
pub fn dump(options: &DumpOptions) -> Result<DumpSummary, DumpError> {
    Err(DumpError::Unavailable(options.pid))
}
