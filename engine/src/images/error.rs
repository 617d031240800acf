//! The one error type of image reading and writing.

use std::io;
use std::path::PathBuf;

use super::kind::ImageKind;

/// What went wrong with an image file or directory, and where.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("cannot create image directory {path}: {source}")]
    CreateDir { path: PathBuf, source: io::Error },

    #[error("{path} already holds a dump (inventory.img); refusing to overwrite it")]
    DumpExists { path: PathBuf },

    #[error("cannot list image directory {path}: {source}")]
    ReadDir { path: PathBuf, source: io::Error },

    #[error("image directory {path} was opened for reading; it cannot be written")]
    ReadOnly { path: PathBuf },

    #[error("{kind:?} images are {expected}; got id {id:?}")]
    NameMismatch {
        kind: ImageKind,
        id: Option<u32>,
        expected: &'static str,
    },

    #[error("cannot create image {path}: {source}")]
    CreateFile { path: PathBuf, source: io::Error },

    #[error("cannot open image {path}: {source}")]
    OpenFile { path: PathBuf, source: io::Error },

    #[error("{path} is a {what}, not an image file")]
    NotRegular { path: PathBuf, what: &'static str },

    #[error("{path} holds no dump (no inventory.img)")]
    NoDump { path: PathBuf },

    #[error("{path} holds no images")]
    NoImages { path: PathBuf },

    #[error("cannot write image {path} at offset {offset:#x}: {source}")]
    Write {
        path: PathBuf,
        offset: u64,
        source: io::Error,
    },

    #[error("cannot read image {path} at offset {offset:#x}: {source}")]
    Read {
        path: PathBuf,
        offset: u64,
        source: io::Error,
    },

    #[error("cannot splice {len} bytes into image {path} at offset {offset:#x}: {source}")]
    Splice {
        path: PathBuf,
        offset: u64,
        len: usize,
        source: nix::errno::Errno,
    },

    #[error(
        "pipe ran dry splicing into image {path} at offset {offset:#x}: {missing} bytes missing"
    )]
    SpliceShort {
        path: PathBuf,
        offset: u64,
        missing: usize,
    },

    #[error("cannot move {from} to {to}: {source}")]
    Commit {
        from: PathBuf,
        to: PathBuf,
        source: io::Error,
    },

    #[error("cannot remove old image {path}: {source}")]
    RemoveOld { path: PathBuf, source: io::Error },

    #[error("image {path}: magic {found:#010x} at offset {offset:#x}, expected {expected:#010x}")]
    BadMagic {
        path: PathBuf,
        offset: u64,
        expected: u32,
        found: u32,
    },

    #[error("image {path} cut short at {offset:#x}: {what} of {needed} bytes, {remaining} left")]
    Truncated {
        path: PathBuf,
        offset: u64,
        what: &'static str,
        needed: u64,
        remaining: u64,
    },

    #[error(
        "image {path}: {what} of {len} bytes at offset {offset:#x} is over the {limit}-byte limit"
    )]
    TooLarge {
        path: PathBuf,
        offset: u64,
        what: &'static str,
        len: u64,
        limit: u64,
    },

    #[error("image {path}: cannot decode the entry at offset {offset:#x}: {source}")]
    Decode {
        path: PathBuf,
        offset: u64,
        source: prost::DecodeError,
    },

    #[error("image {path} holds no entry, one was expected")]
    MissingEntry { path: PathBuf },

    #[error("image {path} has data past its only entry, at offset {offset:#x}")]
    TrailingData { path: PathBuf, offset: u64 },

    #[error("pagemap {path}: run {index} (vaddr {vaddr:#x}, {nr_pages} pages) {problem}")]
    BadPagemapRun {
        path: PathBuf,
        index: usize,
        vaddr: u64,
        nr_pages: u32,
        problem: &'static str,
    },

    #[error("pages file {path} is {actual} bytes long, its pagemap needs {expected}")]
    PagesLength {
        path: PathBuf,
        expected: u64,
        actual: u64,
    },

    #[error("pages written to {path} at vaddr {vaddr:#x}: {problem}")]
    BadPages {
        path: PathBuf,
        vaddr: u64,
        problem: &'static str,
    },

    #[error("inventory {path}: crust cannot restore these images: {problem}")]
    UnsupportedInventory {
        path: PathBuf,
        problem: &'static str,
    },

    #[error("cannot show image {path} as JSON: {source}")]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
}
