//! A task's memory contents: `pagemap-PID.img` lists runs of pages and
//! `pages-N.img` holds the bytes of the present runs, back to back, in
//! pagemap order, with no header.

mod reader;
mod writer;

pub use reader::{PageRun, PagesReader};
pub use writer::{PagesSummary, PagesWriter};

/// Size of a page in images: CRIU's x86 images use 4 KiB pages throughout.
pub const PAGE_SIZE: u64 = 4096;
