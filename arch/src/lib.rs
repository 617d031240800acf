//! Per-architecture facts crust needs: register layouts, FPU/xsave areas,
//! signal frames, syscall numbers and syscall trampolines.
//!
//! One module per architecture. `x86_64` is the native mode; `ia32` holds
//! the facts of 32-bit tasks running on a 64-bit kernel (compat mode).
//! Everything here is plain data and pure functions, usable by the no_std
//! blobs and by the host alike.
#![no_std]
#![deny(unsafe_code)]
#![deny(missing_docs)]

#[cfg(test)]
extern crate std;

pub mod ia32;
pub mod x86_64;
