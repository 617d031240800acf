//! The `crust` command: checkpoint and restore Linux processes.

mod args;
mod commands;
mod logger;
mod progress;

use std::any::Any;
use std::panic::{self, PanicHookInfo};
use std::process::ExitCode;

use clap::Parser;

use crate::args::Cli;
use crate::progress::Progress;

/// Exit status when crust itself breaks (sysexits' EX_SOFTWARE).
const EXIT_INTERNAL_ERROR: i32 = 70;

fn main() -> ExitCode {
    panic::set_hook(Box::new(report_panic_and_exit));

    // Usage errors end here with clap's message and status 2.
    let cli = Cli::parse();
    if let Err(error) = logger::init(cli.verbose, cli.log_file.as_deref()) {
        eprintln!("crust: {}", one_line(&error));
        return ExitCode::FAILURE;
    }

    let progress = Progress::new(cli.verbose, cli.log_file.is_some());
    // While crust works on a process, SIGINT, SIGTERM, SIGHUP and SIGQUIT
    // only raise a flag: the engine stops at its next step and puts back
    // what it touched (a dumped process cured, a half-restored one killed),
    // the error is printed, and dropping the guard then ends crust by the
    // signal it was sent.
    let termination = match cli.command.touches_processes() {
        true => match compel::signals::TerminationGuard::new() {
            Ok(guard) => Some(guard),
            Err(error) => {
                eprintln!("crust: {error}");
                return ExitCode::FAILURE;
            }
        },
        false => None,
    };
    let code = match commands::run(cli.command, progress) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("crust: {}", one_line(&error));
            ExitCode::FAILURE
        }
    };
    drop(termination);
    code
}

/// The error and its causes on one line, joined by ": ". A cause whose text
/// already ends the line (a message that quotes its source) is not repeated.
fn one_line(error: &anyhow::Error) -> String {
    let mut line = error.to_string();
    for cause in error.chain().skip(1) {
        let text = cause.to_string();
        if !line.ends_with(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
    }
    line
}

/// The last resort: one line on stderr, then exit 70, from wherever it was.
fn report_panic_and_exit(info: &PanicHookInfo) {
    let location = info
        .location()
        .map(|at| format!(" at {}:{}", at.file(), at.line()))
        .unwrap_or_default();
    let message = panic_message(info.payload()).replace('\n', " ");
    eprintln!("crust: internal error{location}: {message}");
    std::process::exit(EXIT_INTERNAL_ERROR);
}

fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(message) = payload.downcast_ref::<&str>() {
        message
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message
    } else {
        "panic with no message"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_messages_come_from_str_and_string_payloads() {
        let text: Box<dyn Any + Send> = Box::new("static text");
        let owned: Box<dyn Any + Send> = Box::new(String::from("formatted text"));
        let other: Box<dyn Any + Send> = Box::new(42_u8);
        assert_eq!(panic_message(text.as_ref()), "static text");
        assert_eq!(panic_message(owned.as_ref()), "formatted text");
        assert_eq!(panic_message(other.as_ref()), "panic with no message");
    }
}
