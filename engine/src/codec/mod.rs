//! The image codec: a [`ProcessSnapshot`] written as CRIU images, and read
//! back (bounded, checked) from them.

use std::path::{Path, PathBuf};

use crate::images::ImageError;
use crate::snapshot::ProcessSnapshot;

/// A process read back from an image directory.
#[derive(Debug)]
pub struct ProcessImages {
    /// The process, not yet validated.
    pub process: ProcessSnapshot,
    /// The pages image holding its saved pages, in `process.memory.pages` order.
    pub pages_path: PathBuf,
}

/// Why images could not be written or read as a process.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The image layer failed.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// The codec is not built yet.
    #[error("{0}: reading processes from images is not available in this build")]
    Unavailable(PathBuf),
}

/// Reads the single process stored in `dir`.
pub fn read_process(dir: &Path) -> Result<ProcessImages, CodecError> {
    Err(CodecError::Unavailable(dir.to_path_buf()))
}
