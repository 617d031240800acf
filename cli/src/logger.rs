//! The log: `log` records on stderr, or in a file with timestamps and pid.
//!
//! A logger of our own rather than env_logger: the level comes from -v, not
//! from an environment variable, and the file format needs only a UTC
//! timestamp and the pid in front of each record, which takes a few lines
//! here instead of another dependency.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use log::{LevelFilter, Log, Metadata, Record};

const SECONDS_PER_DAY: u64 = 86_400;

/// Sends `log` records at the level -v asks for to stderr or to `file`.
pub fn init(verbosity: u8, file: Option<&Path>) -> anyhow::Result<()> {
    let level = level_for(verbosity);
    let sink = match file {
        None => Sink::Stderr,
        Some(path) => Sink::File(Mutex::new(open_log_file(path)?)),
    };
    // Installed once for the life of the process, so leaking it is its lifetime.
    let logger: &'static Logger = Box::leak(Box::new(Logger { level, sink }));
    log::set_logger(logger).map_err(|_| anyhow::anyhow!("a logger is already installed"))?;
    log::set_max_level(level);
    Ok(())
}

fn level_for(verbosity: u8) -> LevelFilter {
    match verbosity {
        0 => LevelFilter::Warn,
        1 => LevelFilter::Info,
        2 => LevelFilter::Debug,
        _ => LevelFilter::Trace,
    }
}

fn open_log_file(path: &Path) -> anyhow::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open log file {}", path.display()))
}

struct Logger {
    level: LevelFilter,
    sink: Sink,
}

enum Sink {
    Stderr,
    File(Mutex<File>),
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= self.level
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let line = format!(
            "{:<5} {}: {}\n",
            record.level(),
            record.target(),
            record.args()
        );
        // A log that cannot be written has nowhere to report that: drop the record.
        let _ = match &self.sink {
            Sink::Stderr => io::stderr().write_all(line.as_bytes()),
            Sink::File(file) => write_stamped(file, &line),
        };
    }

    fn flush(&self) {
        if let Sink::File(file) = &self.sink {
            if let Ok(mut file) = file.lock() {
                let _ = file.flush();
            }
        }
    }
}

fn write_stamped(file: &Mutex<File>, line: &str) -> io::Result<()> {
    let stamped = format!(
        "{} {} {line}",
        utc_timestamp(SystemTime::now()),
        std::process::id()
    );
    match file.lock() {
        Ok(mut file) => file.write_all(stamped.as_bytes()),
        Err(_) => Ok(()),
    }
}

/// `2026-12-04T16:07:13.123456Z`.
fn utc_timestamp(time: SystemTime) -> String {
    let since_epoch = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since_epoch.as_secs();
    let (year, month, day) = civil_date(seconds / SECONDS_PER_DAY);
    let second_of_day = seconds % SECONDS_PER_DAY;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60,
        since_epoch.subsec_micros()
    )
}

/// Year, month and day of the day `days` after 1970-01-01, in the proleptic
/// Gregorian calendar: count in 400-year eras starting on March 1st, so that
/// the leap day falls at the end of each year.
fn civil_date(days: u64) -> (u64, u64, u64) {
    const DAYS_PER_ERA: u64 = 146_097;
    // Days from 0000-03-01 to 1970-01-01.
    let days = days + 719_468;
    let era = days / DAYS_PER_ERA;
    let day_of_era = days % DAYS_PER_ERA;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    // Months counted from March, each 30 or 31 days in a 153-day pattern of five.
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = era * 400 + year_of_era + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn verbosity_maps_to_levels() {
        assert_eq!(level_for(0), LevelFilter::Warn);
        assert_eq!(level_for(1), LevelFilter::Info);
        assert_eq!(level_for(2), LevelFilter::Debug);
        assert_eq!(level_for(3), LevelFilter::Trace);
        assert_eq!(level_for(9), LevelFilter::Trace);
    }

    #[test]
    fn civil_dates_around_leap_days_and_eras() {
        assert_eq!(civil_date(0), (1970, 1, 1));
        assert_eq!(civil_date(11_016), (2000, 2, 29));
        assert_eq!(civil_date(11_017), (2000, 3, 1));
        assert_eq!(civil_date(19_357), (2022, 12, 31));
        assert_eq!(civil_date(20_513), (2026, 3, 1));
    }

    #[test]
    fn timestamps_are_iso_8601_utc() {
        let time = UNIX_EPOCH + Duration::new(1_796_400_433, 123_456_000);
        assert_eq!(utc_timestamp(time), "2026-12-04T16:07:13.123456Z");
    }
}
