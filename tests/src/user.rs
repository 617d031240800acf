//! The ordinary user the unprivileged tests run crust and their workloads as.
//!
//! `crust-test` is a system user without a home, made on first use (the tests run as root, as
//! CI does; scripts/setup.sh makes it too). Commands run as it through util-linux's setpriv,
//! with its own groups and, when asked, CAP_CHECKPOINT_RESTORE as an ambient capability.

use std::fs::File;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use nix::fcntl::{Flock, FlockArg};

/// The test user's name.
pub const TEST_USER: &str = "crust-test";

/// Where concurrent tests serialise the creation of the user.
const CREATION_LOCK: &str = "/tmp/crust-test-user.lock";

/// Setting up the test user or its directory failed.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    /// The creation lock could not be taken.
    #[error("locking {CREATION_LOCK}: {0}")]
    Lock(io::Error),
    /// useradd could not run or failed.
    #[error("useradd {TEST_USER} failed: {0}")]
    Useradd(String),
    /// The user's ids could not be read after creating it.
    #[error("{TEST_USER} has no uid and gid after useradd: {0}")]
    Lookup(String),
    /// A file could not be handed to the user.
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: io::Error,
    },
}

/// The test user's ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TestUser {
    /// Its uid.
    pub uid: u32,
    /// Its primary gid.
    pub gid: u32,
}

/// Capabilities a command gets as the test user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caps {
    /// None at all.
    Nothing,
    /// CAP_CHECKPOINT_RESTORE, inheritable and ambient, so that it survives exec.
    CheckpointRestore,
}

impl TestUser {
    /// The user, made first if missing (with a lock, so that two tests at once make it once;
    /// useradd's exit status 9 says another process made it first).
    pub fn get() -> Result<Self, UserError> {
        if let Ok(user) = lookup() {
            return Ok(user);
        }
        let lock_file = File::create(CREATION_LOCK).map_err(UserError::Lock)?;
        let _lock = Flock::lock(lock_file, FlockArg::LockExclusive)
            .map_err(|(_, errno)| UserError::Lock(errno.into()))?;
        if let Ok(user) = lookup() {
            return Ok(user);
        }
        let made = Command::new("useradd")
            .args([
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
            ])
            .arg(TEST_USER)
            .output()
            .map_err(|error| UserError::Useradd(error.to_string()))?;
        if !made.status.success() && made.status.code() != Some(9) {
            let stderr = String::from_utf8_lossy(&made.stderr).trim().to_string();
            return Err(UserError::Useradd(format!("{}: {stderr}", made.status)));
        }
        lookup()
    }

    /// `program` run as the user with `caps`.
    pub fn command(&self, program: impl AsRef<Path>, caps: Caps) -> Command {
        let mut command = Command::new("setpriv");
        command.arg(format!("--reuid={}", self.uid));
        command.arg(format!("--regid={}", self.gid));
        command.arg("--init-groups");
        if caps == Caps::CheckpointRestore {
            command.args([
                "--inh-caps=+checkpoint_restore",
                "--ambient-caps=+checkpoint_restore",
            ]);
        }
        command.arg("--").arg(program.as_ref());
        command
    }

    /// Makes `path` the user's (a directory the user works in, an output file it reopens).
    pub fn give(&self, path: &Path) -> Result<(), UserError> {
        std::os::unix::fs::chown(path, Some(self.uid), Some(self.gid)).map_err(|source| {
            UserError::File {
                path: path.to_path_buf(),
                source,
            }
        })
    }

    /// A copy of `binary` (a program or script) in `dir` that the user may run: the original
    /// may lie where the user cannot reach (under /root).
    pub fn copy_program(&self, binary: &Path, dir: &Path) -> Result<PathBuf, UserError> {
        let name = binary.file_name().unwrap_or(binary.as_os_str());
        let copy = dir.join(name);
        let file_error = |source| UserError::File {
            path: copy.clone(),
            source,
        };
        std::fs::copy(binary, &copy).map_err(file_error)?;
        let executable = std::fs::Permissions::from_mode(0o755);
        std::fs::set_permissions(&copy, executable).map_err(file_error)?;
        Ok(copy)
    }
}

/// The user's ids, from the owner `id` reports.
fn lookup() -> Result<TestUser, UserError> {
    let id = |flag: &str| -> Result<u32, UserError> {
        let out = Command::new("id")
            .args([flag, TEST_USER])
            .output()
            .map_err(|error| UserError::Lookup(error.to_string()))?;
        let text = String::from_utf8_lossy(&out.stdout);
        text.trim()
            .parse()
            .map_err(|_| UserError::Lookup(String::from_utf8_lossy(&out.stderr).into_owned()))
    };
    Ok(TestUser {
        uid: id("-u")?,
        gid: id("-g")?,
    })
}
