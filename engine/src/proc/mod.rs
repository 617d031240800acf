//! Reading one task from /proc, typed, parsed once.
//!
//! Every /proc file kind has its own module: a pure parser over the text (unit-tested with
//! samples taken from a Linux 6.18 kernel) and a thin reader that takes a pid. Errors name the
//! pid, the /proc path and the line that did not parse.
//!
//! Text is read as UTF-8 with invalid bytes replaced: a path that is not UTF-8 comes out changed,
//! and the refusal checks then see that it no longer names the same file.

mod error;

pub mod auxv;
pub mod fd;
pub mod fdinfo;
pub mod holders;
pub mod identity;
pub mod limits;
pub mod locks;
pub mod maps;
pub mod mountinfo;
pub mod ns;
pub mod pagemap;
#[cfg(test)]
mod robustness;
pub mod smaps;
pub mod socket;
pub mod stat;
pub mod status;
pub mod sysvipc;
pub mod task;
pub mod timers;
pub mod tree;

use std::path::{Path, PathBuf};

use nix::unistd::Pid;

pub use error::{BadLine, ProcError};

/// The path of `/proc/PID/NAME`.
pub fn proc_path(pid: Pid, name: &str) -> PathBuf {
    PathBuf::from(format!("/proc/{pid}/{name}"))
}

/// Read `/proc/PID/NAME` as text.
fn read_text(pid: Pid, name: &str) -> Result<(PathBuf, String), ProcError> {
    let path = proc_path(pid, name);
    match std::fs::read(&path) {
        Ok(bytes) => Ok((path, String::from_utf8_lossy(&bytes).into_owned())),
        Err(source) => Err(ProcError::Read { pid, path, source }),
    }
}

/// Read a file of /proc that belongs to no task (`/proc/locks`, `/proc/sysvipc/shm`).
fn read_system_text(path: &Path) -> Result<String, ProcError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(String::from_utf8_lossy(&bytes).into_owned()),
        Err(source) => Err(ProcError::ReadSystem {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Read `/proc/PID/NAME` and run a pure parser over it.
fn read_parsed<T>(
    pid: Pid,
    name: &str,
    parse: impl FnOnce(&str) -> Result<T, BadLine>,
) -> Result<T, ProcError> {
    let (path, text) = read_text(pid, name)?;
    parse(&text).map_err(|bad| ProcError::parse(pid, path, bad))
}

/// Parse a hexadecimal field (no `0x` prefix).
fn hex_u64(field: &str, line: &str, reason: &'static str) -> Result<u64, BadLine> {
    u64::from_str_radix(field, 16).map_err(|_| BadLine::new(line, reason))
}

/// Parse a decimal field.
fn dec<T: std::str::FromStr>(field: &str, line: &str, reason: &'static str) -> Result<T, BadLine> {
    field.parse().map_err(|_| BadLine::new(line, reason))
}

/// A device number as the kernel prints it (`fe:00`, `0:21`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct DevId {
    /// Major number.
    pub major: u32,
    /// Minor number.
    pub minor: u32,
}

impl DevId {
    /// Parse `MAJOR:MINOR`, both in hex (`fe:00`, as maps and locks print them).
    fn parse_hex(text: &str, line: &str) -> Result<Self, BadLine> {
        let (major, minor) = text
            .split_once(':')
            .ok_or(BadLine::new(line, "device is not MAJOR:MINOR"))?;
        let major =
            u32::from_str_radix(major, 16).map_err(|_| BadLine::new(line, "bad device major"))?;
        let minor =
            u32::from_str_radix(minor, 16).map_err(|_| BadLine::new(line, "bad device minor"))?;
        Ok(Self { major, minor })
    }

    /// Parse `MAJOR:MINOR`, both in decimal (as mountinfo prints them).
    fn parse_dec(text: &str, line: &str) -> Result<Self, BadLine> {
        let (major, minor) = text
            .split_once(':')
            .ok_or(BadLine::new(line, "device is not MAJOR:MINOR"))?;
        Ok(Self {
            major: dec(major, line, "bad device major")?,
            minor: dec(minor, line, "bad device minor")?,
        })
    }

    /// Split a `dev_t` as `stat` returns it.
    pub fn from_dev_t(dev: u64) -> Self {
        let part = |value: u64| u32::try_from(value).unwrap_or(u32::MAX);
        Self {
            major: part(nix::sys::stat::major(dev)),
            minor: part(nix::sys::stat::minor(dev)),
        }
    }
}

impl std::fmt::Display for DevId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.major, self.minor)
    }
}
