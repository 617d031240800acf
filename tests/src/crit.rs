//! Checking images with crit, CRIU's own image tool.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::run::{run_with_timeout, RunError};

/// Longest a single `crit decode` may take.
const CRIT_TIMEOUT: Duration = Duration::from_secs(120);

/// Why an images directory did not decode.
#[derive(Debug, thiserror::Error)]
pub enum CritError {
    /// The directory could not be listed.
    #[error("cannot list {dir}: {source}")]
    List {
        /// The images directory.
        dir: PathBuf,
        /// What went wrong.
        source: io::Error,
    },
    /// crit could not be run.
    #[error("{file}: {source}")]
    Run {
        /// The image file.
        file: PathBuf,
        /// What went wrong.
        source: RunError,
    },
    /// crit refused the image.
    #[error("{file}: crit decode failed: {stderr}")]
    Decode {
        /// The image file.
        file: PathBuf,
        /// What crit said.
        stderr: String,
    },
    /// crit printed something that is not JSON.
    #[error("{file}: crit printed invalid JSON: {source}")]
    Json {
        /// The image file.
        file: PathBuf,
        /// Where the JSON broke.
        source: serde_json::Error,
    },
}

/// Decodes every `*.img` in `dir` except raw `pages-*.img` with
/// `crit decode -i FILE --pretty`; the JSON of each, by file name.
pub fn crit_decode_dir(dir: &Path) -> Result<BTreeMap<String, serde_json::Value>, CritError> {
    image_files(dir)?
        .into_iter()
        .map(|(name, file)| decode(&file).map(|json| (name, json)))
        .collect()
}

fn image_files(dir: &Path) -> Result<Vec<(String, PathBuf)>, CritError> {
    let list_error = |source| CritError::List {
        dir: dir.to_path_buf(),
        source,
    };
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).map_err(list_error)? {
        let entry = entry.map_err(list_error)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".img") && !name.starts_with("pages-") {
            files.push((name, entry.path()));
        }
    }
    files.sort();
    Ok(files)
}

fn decode(file: &Path) -> Result<serde_json::Value, CritError> {
    let mut command = Command::new("crit");
    command.arg("decode").arg("-i").arg(file).arg("--pretty");
    let finished =
        run_with_timeout(&mut command, CRIT_TIMEOUT).map_err(|source| CritError::Run {
            file: file.to_path_buf(),
            source,
        })?;
    if !finished.status.success() {
        return Err(CritError::Decode {
            file: file.to_path_buf(),
            stderr: finished.stderr.trim().replace('\n', " "),
        });
    }
    serde_json::from_str(&finished.stdout).map_err(|source| CritError::Json {
        file: file.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TempDir;

    /// Magics from CRIU's magic list: the service-image prefix, then inventory's.
    const IMG_SERVICE: u32 = 0x5510_5940;
    const INVENTORY: u32 = 0x5831_3116;

    /// An inventory image with one entry: img_version (field 1, varint) = 2.
    fn inventory_image() -> Vec<u8> {
        let entry = [0x08, 0x02];
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&IMG_SERVICE.to_le_bytes());
        bytes.extend_from_slice(&INVENTORY.to_le_bytes());
        bytes.extend_from_slice(&2_u32.to_le_bytes());
        bytes.extend_from_slice(&entry);
        bytes
    }

    #[test]
    fn images_decode_and_pages_are_skipped() {
        let dir = TempDir::new("crit").expect("temp dir");
        fs::write(dir.path().join("inventory.img"), inventory_image()).expect("write");
        fs::write(dir.path().join("pages-1.img"), [0_u8; 4096]).expect("write");
        let decoded = crit_decode_dir(dir.path()).expect("decoded");
        assert_eq!(decoded.keys().collect::<Vec<_>>(), ["inventory.img"]);
        assert_eq!(decoded["inventory.img"]["entries"][0]["img_version"], 2);
    }

    #[test]
    fn a_bad_image_is_named_with_crits_message() {
        let dir = TempDir::new("crit").expect("temp dir");
        fs::write(dir.path().join("core-1.img"), b"garbage!").expect("write");
        let error = crit_decode_dir(dir.path()).unwrap_err();
        let message = error.to_string();
        assert!(message.contains("core-1.img"), "{message}");
        assert!(message.contains("Unknown magic"), "{message}");
    }
}
