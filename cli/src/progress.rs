//! One line per phase of a long job, for a person watching.

use std::fmt;
use std::io::{self, IsTerminal};

/// Prints phases on stderr when someone is likely to read them: stderr is a
/// terminal, or -v was given.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    shown: bool,
}

impl Progress {
    pub fn new(verbosity: u8) -> Self {
        Self {
            shown: verbosity > 0 || io::stderr().is_terminal(),
        }
    }

    pub fn phase(&self, message: fmt::Arguments) {
        if self.shown {
            eprintln!("crust: {message}");
        }
    }
}
