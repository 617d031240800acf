//! A directory of the test's own, removed when the test ends.

use std::fs::{self, DirBuilder};
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

static CREATED: AtomicU32 = AtomicU32::new(0);

/// A fresh private directory under the system's temporary directory,
/// removed with everything in it on drop.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates `crust-test-TAG-PID-N-NANOS` (mode 0700).
    pub fn new(tag: &str) -> io::Result<Self> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|since| since.subsec_nanos())
            .unwrap_or_default();
        let number = CREATED.fetch_add(1, Ordering::Relaxed);
        let name = format!(
            "crust-test-{tag}-{}-{number}-{nanos:08x}",
            std::process::id()
        );
        let path = std::env::temp_dir().join(name);
        DirBuilder::new().mode(0o700).create(&path)?;
        Ok(Self { path })
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_directory_and_its_files_go_away_on_drop() {
        let dir = TempDir::new("self-test").expect("temp dir");
        let path = dir.path().to_path_buf();
        fs::write(path.join("file"), "x").expect("write");
        assert!(path.is_dir());
        drop(dir);
        assert!(!path.exists());
    }

    #[test]
    fn two_directories_differ() {
        let first = TempDir::new("self-test").expect("temp dir");
        let second = TempDir::new("self-test").expect("temp dir");
        assert_ne!(first.path(), second.path());
    }
}
