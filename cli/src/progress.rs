//! One line per phase of a long job, for a person watching.

use std::fmt;
use std::io::{self, IsTerminal};

/// Prints phases on stderr when someone is likely to read them there: stderr is a
/// terminal, or -v was given, and the log does not go to a file; with -o they go to
/// the log file instead (at -v, as the rest of the log's progress).
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    shown: bool,
    logged: bool,
}

impl Progress {
    pub fn new(verbosity: u8, log_to_file: bool) -> Self {
        Self {
            shown: !log_to_file && (verbosity > 0 || io::stderr().is_terminal()),
            logged: log_to_file,
        }
    }

    pub fn phase(&self, message: fmt::Arguments) {
        if self.shown {
            eprintln!("crust: {message}");
        }
        if self.logged {
            log::info!("{message}");
        }
    }
}
