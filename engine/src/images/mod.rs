//! CRIU's image format (as of CRIU 3.17, so that `crit` decodes what crust
//! writes): files that start with magics and hold protobuf entries, each
//! prefixed by its length as a little-endian u32, and raw page files.
//!
//! A dump writes into an [`ImageDir`] created with [`ImageDir::create`]; the
//! files appear in the target directory only at [`ImageDir::commit`]. A
//! restore opens one with [`ImageDir::open`] and reads entries back with
//! their lengths bounded, so damaged images give errors, never panics.

mod dir;
mod error;
mod json;
mod kind;
mod pages;
mod reader;
#[cfg(test)]
mod scratch;
mod show;
mod splice;
mod writer;

pub mod core;
pub mod core_x86;
pub mod creds;
pub mod eventfd;
pub mod eventpoll;
pub mod fdinfo;
pub mod fown;
pub mod fs;
pub mod inventory;
pub mod mm;
pub mod pagemap;
pub mod pipe;
pub mod pstree;
pub mod regfile;
pub mod rlimit;
pub mod rseq;
pub mod sa;
pub mod seccomp;
pub mod siginfo;
pub mod signalfd;
pub mod sk_inet;
pub mod sk_opts;
pub mod sk_packet;
pub mod sk_unix;
pub mod timer;
pub mod timerfd;
pub mod tty;
pub mod vma;

pub use dir::{ImageDir, STAGING_PREFIX};
pub use error::ImageError;
pub use kind::{ImageKind, ImageName, IMG_COMMON_MAGIC, IMG_SERVICE_MAGIC};
pub use pages::{PageRun, PagesReader, PagesSummary, PagesWriter, PAGE_SIZE};
pub use reader::{ImageReader, MAX_ENTRY_LEN};
pub use show::{show_dir, show_image};
pub use writer::ImageWriter;
