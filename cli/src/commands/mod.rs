//! One module per subcommand; each returns the exit code or an error whose
//! chain main prints on one line.

mod check;
mod counter;
mod demo;
mod dump;
mod restore;
mod show;

use std::fmt::Display;
use std::io::{self, Write};
use std::process::ExitCode;

use anyhow::Context;

use crate::args::Command;
use crate::progress::Progress;

pub fn run(command: Command, progress: Progress) -> anyhow::Result<ExitCode> {
    match command {
        Command::Dump(args) => dump::run(&args, progress),
        Command::Restore(args) => restore::run(&args, progress),
        Command::Show(args) => show::run(&args),
        Command::Check(args) => check::run(&args),
        Command::Demo => demo::run(),
        Command::DemoCounter(args) => counter::run(&args),
    }
}

/// Prints one line of output meant for the user.
fn say(line: impl Display) -> anyhow::Result<()> {
    writeln!(io::stdout().lock(), "{line}").context("writing to stdout")
}
