//! Finding the `crust` binary cargo built, and running it.

use std::io;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::run::{run_with_timeout, Finished, RunError};

/// Environment variable naming a crust binary to test instead of the built one.
const CRUST_BIN: &str = "CRUST_BIN";

/// Why crust could not be run.
#[derive(Debug, thiserror::Error)]
pub enum CrustError {
    /// The test executable's own path is unknown.
    #[error("cannot find the test executable: {0}")]
    CurrentExe(#[source] io::Error),
    /// The test executable is not where cargo puts test executables.
    #[error("{0} is not in a cargo target directory (target/PROFILE/deps/)")]
    NotInTargetDir(PathBuf),
    /// crust has not been built for this profile.
    #[error("{0} does not exist: build it first with `cargo build --release -p cli`")]
    NotBuilt(PathBuf),
    /// Running it failed.
    #[error(transparent)]
    Run(#[from] RunError),
}

/// The crust binary: `$CRUST_BIN`, or `crust` in the target directory the
/// running test was built into (`target/release/deps/test-HASH` gives
/// `target/release/crust`).
pub fn crust_binary() -> Result<PathBuf, CrustError> {
    let path = match std::env::var_os(CRUST_BIN) {
        Some(path) => PathBuf::from(path),
        None => {
            let test_exe = std::env::current_exe().map_err(CrustError::CurrentExe)?;
            let profile_dir = test_exe
                .parent()
                .filter(|deps| deps.ends_with("deps"))
                .and_then(|deps| deps.parent())
                .ok_or_else(|| CrustError::NotInTargetDir(test_exe.clone()))?;
            profile_dir.join("crust")
        }
    };
    if path.is_file() {
        Ok(path)
    } else {
        Err(CrustError::NotBuilt(path))
    }
}

/// Runs crust with `args`, killing it after `timeout`.
pub fn crust(args: &[&str], timeout: Duration) -> Result<Finished, CrustError> {
    let mut command = Command::new(crust_binary()?);
    command.args(args);
    Ok(run_with_timeout(&mut command, timeout)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_binary_is_looked_for_beside_the_deps_directory() {
        if std::env::var_os(CRUST_BIN).is_some() {
            return;
        }
        match crust_binary() {
            Ok(path) | Err(CrustError::NotBuilt(path)) => {
                assert!(path.ends_with("crust"), "{}", path.display());
                let deps = std::env::current_exe()
                    .ok()
                    .and_then(|exe| exe.parent().map(Into::into));
                assert_eq!(path.parent().map(|p| p.join("deps")), deps);
            }
            Err(error) => panic!("{error}"),
        }
    }
}
