//! Raw Linux syscalls for code that has no libc (the parasite blob).
//!
//! [`raw`] holds the `syscall0..syscall6` entry points in inline assembly;
//! the other modules wrap the calls the blobs make, grouped by kernel area,
//! and return `Result<usize, Errno>`. Nothing here allocates, formats or
//! panics. Where a call takes or returns raw addresses the kernel
//! dereferences, the wrapper is an `unsafe fn` with a `# Safety` section.
//!
//! Deliberately absent: a libc-like surface. Only what crust's blobs call is
//! here; the host uses `nix`.
#![no_std]
#![deny(unsafe_code)]
#![deny(missing_docs)]

#[cfg(test)]
extern crate std;

mod errno;
pub mod io;
pub mod mm;
pub mod net;
pub mod process;
pub mod raw;
pub mod signal;

pub use errno::Errno;
