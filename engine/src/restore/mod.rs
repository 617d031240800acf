//! Restore: read images, recreate the process, let it run.

use std::path::PathBuf;

use nix::unistd::Pid;

/// What `crust restore` was asked to do.
#[derive(Debug, Clone)]
pub struct RestoreOptions {
    /// Directory holding the images.
    pub images_dir: PathBuf,
    /// Return once the process runs instead of waiting for it to exit.
    pub detach: bool,
}

/// How a restore ended.
#[derive(Debug, Clone)]
pub enum RestoreOutcome {
    /// The restored process runs on its own (restore with `detach`).
    Detached(Pid),
    /// The restored process exited with this status (restore and wait).
    Exited(Pid, i32),
    /// The restored process was killed by this signal (restore and wait).
    Signaled(Pid, i32),
}

/// Why a restore failed.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// The engine does not restore yet (placeholder until the restore lands).
    #[error("{0}: restore is not available in this build")]
    Unavailable(PathBuf),
}

/// Restore the process described by the images in `options.images_dir`.
pub fn restore(options: &RestoreOptions) -> Result<RestoreOutcome, RestoreError> {
    Err(RestoreError::Unavailable(options.images_dir.clone()))
}
