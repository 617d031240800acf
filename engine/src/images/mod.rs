//! CRIU's image format (as of CRIU 3.17, so that `crit` decodes what crust
//! writes): files that start with magics and hold protobuf entries, each
//! prefixed by its length as a little-endian u32, and raw page files.
//!
//! A dump writes into an [`ImageDir`] created with [`ImageDir::create`]; the
//! files appear in the target directory only at [`ImageDir::commit`]. A
//! restore opens one with [`ImageDir::open`] and reads entries back with
//! their lengths bounded, so damaged images give errors, never panics.
//!
//! ```
//! use engine::images::core::TaskKobjIdsEntry;
//! use engine::images::fs::FsEntry;
//! use engine::images::inventory::InventoryEntry;
//! use engine::images::pstree::PstreeEntry;
//! use engine::images::{ImageDir, ImageKind, ImageName};
//!
//! # fn main() -> Result<(), engine::images::ImageError> {
//! # let target = std::env::temp_dir().join(format!("crust-doc-{}", std::process::id()));
//! let pid = 4100;
//! let dump = ImageDir::create(&target)?;
//! let task = PstreeEntry { pid, ppid: 0, pgid: pid, sid: pid, threads: vec![pid] };
//! dump.write_entries(ImageName::fixed(ImageKind::Pstree), [&task])?;
//! let fs = FsEntry { cwd_id: 1, root_id: 2, umask: Some(0o022) };
//! dump.write_one(ImageName::fs(pid), &fs)?;
//!
//! // Memory: runs of pages, from a buffer or spliced from a pipe.
//! let mut pages = dump.pages_writer(pid, 1)?;
//! pages.write_pages(0x7f00_0000_0000, &[0xaa; 8192])?;
//! pages.finish()?;
//!
//! let ids = TaskKobjIdsEntry { vm_id: 1, files_id: 1, ..Default::default() };
//! dump.write_one(ImageName::fixed(ImageKind::Inventory), &InventoryEntry::new(ids))?;
//! dump.commit()?; // until here, nothing is in `target`
//!
//! let restore = ImageDir::open(&target)?;
//! restore.read_inventory()?;
//! let tree: Vec<PstreeEntry> = restore.read_entries(ImageName::fixed(ImageKind::Pstree))?;
//! let pages = restore.pages_reader(pid)?;
//! assert_eq!((tree.len(), pages.runs()[0].nr_pages), (1, 2));
//! # std::fs::remove_dir_all(&target).ok();
//! # Ok(())
//! # }
//! ```

mod dir;
mod error;
mod json;
mod kind;
mod open;
mod pages;
mod reader;
#[cfg(test)]
pub(crate) mod scratch;
mod show;
mod splice;
mod writer;

pub mod core;
pub mod core_x86;
pub mod creds;
pub mod eventfd;
pub mod eventpoll;
pub mod fdinfo;
pub mod file_lock;
pub mod fown;
pub mod fs;
pub mod ghost;
pub mod inventory;
pub mod ipc;
pub mod memfd;
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
pub use open::open_image_file;
pub use pages::{PageRun, PagesReader, PagesSummary, PagesWriter, PAGE_SIZE};
pub use reader::{ImageReader, MAX_ENTRY_LEN};
pub use show::{show_dir, show_image};
pub use writer::ImageWriter;
