//! The parasite: a position-independent blob compel loads into a live task
//! during a dump. It serves the commands of [`protocol`] over a unix socket
//! and, if crust goes away, returns the task to where it was on its own.
//!
//! Plain by design: no allocation, no formatting, no panics; every failure
//! is a negative errno in a reply.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

mod area;
mod commands;
mod control;
mod entry;
mod mem;
#[allow(dead_code)]
mod protocol;
mod serve;
