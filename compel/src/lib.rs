//! compel: seize a live task, run syscalls in it, load a parasite, cure it.
#![deny(missing_docs)]

pub mod blob;
pub mod infect;
pub mod ptrace;
pub mod remote;
pub mod restart;
pub mod signals;

pub use infect::{InfectError, InfectOptions, Infection, Parasite, ParasiteError, Victim};
