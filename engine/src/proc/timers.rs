//! `/proc/PID/timers`: the POSIX timers of a process (`timer_create`).

use nix::unistd::Pid;

use super::{dec, read_parsed, BadLine, ProcError};

/// One POSIX timer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PosixTimer {
    /// `ID`: the timer id.
    pub id: i32,
    /// `signal`: the signal number sent on expiry.
    pub signal: i32,
    /// `signal`: the `sigev_value` pointer, after the `/`.
    pub sigev_value: u64,
    /// `notify`: how expiry is notified (`signal`, `thread`, `none`), and to which pid/tid.
    pub notify: String,
    /// `ClockID`
    pub clock_id: i32,
}

/// Read `/proc/PID/timers`.
pub fn timers(pid: Pid) -> Result<Vec<PosixTimer>, ProcError> {
    read_parsed(pid, "timers", parse_timers)
}

/// Parse a timers file: blocks of `ID`, `signal`, `notify`, `ClockID` lines.
pub fn parse_timers(text: &str) -> Result<Vec<PosixTimer>, BadLine> {
    let mut timers: Vec<PosixTimer> = Vec::new();
    for line in text.lines().filter(|line| !line.is_empty()) {
        let (key, value) = line.split_once(':').ok_or(BadLine::new(line, "no ':'"))?;
        let value = value.trim();
        if key == "ID" {
            timers.push(PosixTimer {
                id: dec(value, line, "bad ID")?,
                ..PosixTimer::default()
            });
            continue;
        }
        let timer = timers
            .last_mut()
            .ok_or(BadLine::new(line, "line before any ID"))?;
        match key {
            "signal" => {
                let (signal, value) = value
                    .split_once('/')
                    .ok_or(BadLine::new(line, "signal is not N/VALUE"))?;
                timer.signal = dec(signal, line, "bad signal")?;
                timer.sigev_value = u64::from_str_radix(value, 16)
                    .map_err(|_| BadLine::new(line, "bad sigev_value"))?;
            }
            "notify" => timer.notify = value.to_string(),
            "ClockID" => timer.clock_id = dec(value, line, "bad ClockID")?,
            _ => {}
        }
    }
    Ok(timers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_timers() {
        let text = "ID: 0\nsignal: 14/0000000000000000\nnotify: signal/pid.812\nClockID: 1\n\
                    ID: 1\nsignal: 10/00007ffd12340000\nnotify: thread/tid.813\nClockID: 0\n";
        let timers = parse_timers(text).unwrap();
        assert_eq!(timers.len(), 2);
        assert_eq!((timers[0].signal, timers[0].clock_id), (14, 1));
        assert_eq!(timers[0].notify, "signal/pid.812");
        assert_eq!(timers[1].sigev_value, 0x7ffd12340000);
        assert!(parse_timers("").unwrap().is_empty());
        assert_eq!(
            parse_timers("ClockID: 1\n").unwrap_err().reason,
            "line before any ID"
        );
    }
}
