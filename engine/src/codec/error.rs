//! The one error type of the image codec.

use std::path::{Path, PathBuf};

use crate::images::ImageError;

/// Why a process could not be written as images, or read back from them.
/// Reading errors name the image file and what is wrong in it.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// Opening, framing, encoding or decoding an image failed.
    #[error(transparent)]
    Image(#[from] ImageError),

    /// The snapshot holds a value the images cannot carry.
    #[error("pid {pid}: cannot write {what} ({value}) into the images: {why}")]
    Unrepresentable {
        /// The process being written.
        pid: i32,
        /// What the value is.
        what: &'static str,
        /// The value.
        value: i128,
        /// Why it does not fit.
        why: &'static str,
    },

    /// A thread's xsave area cannot be split into CRIU's fpregs entry.
    #[error("tid {tid}: cannot write the xsave area: {why}")]
    XstateLayout {
        /// The thread.
        tid: i32,
        /// What is wrong with the area.
        why: &'static str,
    },

    /// A thread's xsave area holds state of a component CRIU's fpregs entry
    /// has no field for.
    #[error("tid {tid}: xsave component {index} ({name}) is in use and CRIU's images have no place for it")]
    XstateComponentUnsupported {
        /// The thread.
        tid: i32,
        /// Component index (CPUID leaf 0xD sub-leaf).
        index: u32,
        /// Its name.
        name: &'static str,
    },

    /// The image is not one crust reads (version, layout options).
    #[error("image {path}: {what} is {found}, crust reads only {expected}")]
    Format {
        /// The image.
        path: PathBuf,
        /// The field.
        what: &'static str,
        /// The value found.
        found: String,
        /// What crust reads.
        expected: &'static str,
    },

    /// files.img has pipes but the image of their queued bytes is missing.
    #[error("{path} is missing, and files.img describes pipes whose contents it holds")]
    MissingPipeData {
        /// Where pipes-data.img should be.
        path: PathBuf,
    },

    /// An entry lacks a member crust needs.
    #[error("image {path}: {what} is missing")]
    MissingField {
        /// The image.
        path: PathBuf,
        /// The member.
        what: &'static str,
    },

    /// A number in an image is outside the range it may take.
    #[error("image {path}: {what} is out of range ({value})")]
    OutOfRange {
        /// The image.
        path: PathBuf,
        /// What the number is.
        what: &'static str,
        /// The value found.
        value: i128,
    },

    /// A repeated member has the wrong number of items.
    #[error("image {path}: {what} holds {found} items, {expected} expected")]
    BadLength {
        /// The image.
        path: PathBuf,
        /// The member.
        what: &'static str,
        /// Items found.
        found: usize,
        /// Items expected.
        expected: usize,
    },

    /// The images hold no task, or more than crust reads.
    #[error("image {path} describes {count} processes; crust restores 1 to {max}")]
    ProcessCount {
        /// The pstree image.
        path: PathBuf,
        /// Entries found.
        count: usize,
        /// Most crust reads.
        max: usize,
    },

    /// A memory area's CRIU status bits are unknown, unsupported or contradictory.
    #[error("image {path}: area {start:#x}-{end:#x} has status {status:#x}: {why}")]
    BadVmaStatus {
        /// The mm image.
        path: PathBuf,
        /// Start of the area.
        start: u64,
        /// End of the area.
        end: u64,
        /// The status bits.
        status: u32,
        /// What is wrong with them.
        why: &'static str,
    },

    /// The same id is described twice.
    #[error("image {path}: {what} {id} is described twice")]
    DuplicateId {
        /// The image.
        path: PathBuf,
        /// What kind of id (file id, pipe id, thread id).
        what: &'static str,
        /// The id.
        id: u64,
    },

    /// An id refers to a file the images do not describe, or describe as
    /// another kind of file.
    #[error("image {path}: {referrer} refers to file id {id}, which files.img does not describe as {expected}")]
    UnknownFileId {
        /// The image holding the reference.
        path: PathBuf,
        /// What refers to it.
        referrer: &'static str,
        /// The id.
        id: u32,
        /// The kind of file needed.
        expected: &'static str,
    },

    /// A file entry is of a kind crust does not restore, or is malformed.
    #[error("image {path}: file id {id} ({kind}) {why}")]
    BadFile {
        /// files.img.
        path: PathBuf,
        /// The file id.
        id: u32,
        /// The file type CRIU gives it.
        kind: String,
        /// What is wrong.
        why: &'static str,
    },

    /// A file lock entry crust cannot take again.
    #[error("image {path}: file lock {index}: {why}")]
    BadFileLock {
        /// filelocks.img.
        path: PathBuf,
        /// The entry's place in the image, from 0.
        index: usize,
        /// What is wrong with it.
        why: &'static str,
    },

    /// The pagemap names pages that are not in its pages file.
    #[error("image {path}: pages at {vaddr:#x} have flags {flags:#x}; crust reads only pages stored in the pages file")]
    UnstoredPages {
        /// The pagemap image.
        path: PathBuf,
        /// Start of the run.
        vaddr: u64,
        /// Its pagemap flags.
        flags: u32,
    },

    /// The images hold xsave state this CPU cannot load.
    #[error("image {path}: xsave component {index} ({name}) is in use and this CPU lacks it")]
    XstateComponentMissing {
        /// The core image.
        path: PathBuf,
        /// Component index (CPUID leaf 0xD sub-leaf).
        index: u32,
        /// Its name.
        name: &'static str,
    },
}

/// Converts a number read from `path` to the type the snapshot keeps it in,
/// or names it as out of range.
pub(crate) fn narrow<T, U>(path: &Path, what: &'static str, value: U) -> Result<T, CodecError>
where
    T: TryFrom<U>,
    U: Into<i128> + Copy,
{
    T::try_from(value).map_err(|_| CodecError::OutOfRange {
        path: path.into(),
        what,
        value: value.into(),
    })
}

/// Converts a snapshot number to the type its image field has, or names it
/// as one the images cannot carry.
pub(crate) fn fit<T, U>(pid: i32, what: &'static str, value: U) -> Result<T, CodecError>
where
    T: TryFrom<U>,
    U: Into<i128> + Copy,
{
    T::try_from(value).map_err(|_| CodecError::Unrepresentable {
        pid,
        what,
        value: value.into(),
        why: "it does not fit the image field",
    })
}

/// Checks that a number read from `path` lies in `range`.
pub(crate) fn check_range<U>(
    path: &Path,
    what: &'static str,
    value: U,
    range: std::ops::RangeInclusive<U>,
) -> Result<U, CodecError>
where
    U: Into<i128> + Copy + PartialOrd,
{
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(CodecError::OutOfRange {
            path: path.into(),
            what,
            value: value.into(),
        })
    }
}
