//! `peek [--hold-ms N] PID [ADDR LEN]`: look inside a running process through
//! compel's parasite, then leave it exactly as it was.
//!
//! Prints the pid and tid the parasite sees, the leader's sigaltstack and
//! interval timers and, given ADDR and LEN (hex), the first bytes of that
//! memory range. `--hold-ms` keeps the parasite in the victim that long
//! (asking it for its info again and again), to show that SIGINT or SIGTERM
//! in the meantime still cures the victim before peek exits.
//!
//! Uses compel's public API only.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use compel::infect::{DrainSink, PageRange, TaskInfo};
use compel::signals::TerminationGuard;
use compel::{ParasiteError, Victim};
use nix::unistd::Pid;

struct Args {
    pid: Pid,
    hold: Duration,
    range: Option<(u64, u64)>,
}

fn parse_args() -> Result<Args, String> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut hold = Duration::ZERO;
    if args.first().map(String::as_str) == Some("--hold-ms") {
        let ms = args
            .get(1)
            .and_then(|v| v.parse().ok())
            .ok_or("--hold-ms needs a number")?;
        hold = Duration::from_millis(ms);
        args.drain(..2);
    }
    let usage = "usage: peek [--hold-ms N] PID [ADDR LEN]";
    let pid = args.first().and_then(|v| v.parse().ok()).ok_or(usage)?;
    let hex = |v: &String| u64::from_str_radix(v.trim_start_matches("0x"), 16).ok();
    let range = match (args.get(1).map(hex), args.get(2).map(hex)) {
        (Some(Some(addr)), Some(Some(len))) => Some((addr, len)),
        (None, None) => None,
        _ => return Err(usage.into()),
    };
    Ok(Args {
        pid: Pid::from_raw(pid),
        hold,
        range,
    })
}

fn print_info(info: &TaskInfo) {
    println!("pid {} tid {}", info.pid, info.tid);
    let alt = &info.altstack;
    println!(
        "sigaltstack sp={:#x} size={:#x} flags={:#x}",
        alt.sp, alt.size, alt.flags
    );
    for (name, timer) in ["real", "virtual", "prof"].iter().zip(&info.itimers) {
        let (value, interval) = (&timer.value, &timer.interval);
        println!(
            "itimer {name}: value {}.{:06}s interval {}.{:06}s",
            value.sec, value.usec, interval.sec, interval.usec
        );
    }
}

fn peek(args: &Args) -> Result<(), ParasiteError> {
    let mut parasite = Victim::seize(args.pid)?.infect()?.start_parasite()?;
    print_info(&parasite.info()?);
    println!("parasite running");
    let until = Instant::now() + args.hold;
    while Instant::now() < until {
        parasite.info()?;
        std::thread::sleep(Duration::from_millis(5));
    }
    if let Some((start, len)) = args.range {
        let page = 4096;
        let aligned = start & !(page - 1);
        let span = (start + len).next_multiple_of(page) - aligned;
        let mut bytes = Vec::new();
        let mut sink = |chunk: &[u8]| {
            bytes.extend_from_slice(chunk);
            Ok(())
        };
        let range = PageRange {
            start: aligned,
            len: span,
        };
        parasite.drain(&[range], DrainSink::Callback(&mut sink))?;
        let skip = (start - aligned) as usize;
        let shown = &bytes[skip..skip + (len as usize).min(64)];
        let hex: Vec<String> = shown.iter().map(|b| format!("{b:02x}")).collect();
        println!("{start:#x}: {}", hex.join(" "));
    }
    parasite.cure()
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(usage) => {
            eprintln!("{usage}");
            return ExitCode::from(2);
        }
    };
    // Declared first, dropped last: a SIGINT or SIGTERM is raised again only
    // after the victim is cured.
    let _termination = match TerminationGuard::new() {
        Ok(guard) => guard,
        Err(error) => {
            eprintln!("peek: {error}");
            return ExitCode::FAILURE;
        }
    };
    match peek(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("peek: {error}");
            ExitCode::FAILURE
        }
    }
}
