//! The two facts compel reads from `/proc/TID/status` before seizing a thread:
//! who traces it already, and whether it sits in a group-stop.

use std::path::PathBuf;

use nix::unistd::Pid;

use super::PtraceError;

/// What `/proc/TID/status` says about a thread before it is seized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThreadStatus {
    /// Pid of the current tracer, if any (`TracerPid:` other than 0).
    pub tracer: Option<i32>,
    /// The thread is in a group-stop (`State:` T (stopped)), not a ptrace stop.
    pub group_stopped: bool,
    /// The thread has exited and waits to be reaped (`State:` Z (zombie)).
    pub zombie: bool,
    /// Signals pending for the thread or its process (`SigPnd` | `ShdPnd`).
    pub pending: u64,
    /// Signals the thread blocks (`SigBlk`).
    pub blocked: u64,
}

impl ThreadStatus {
    /// Reads and parses `/proc/TID/status`.
    pub fn read(tid: Pid) -> Result<Self, PtraceError> {
        let path = PathBuf::from(format!("/proc/{tid}/status"));
        let text = std::fs::read_to_string(&path).map_err(|source| PtraceError::ReadStatus {
            path: path.clone(),
            source,
        })?;
        Self::parse(&text).ok_or(PtraceError::ParseStatus { path })
    }

    /// Parses the text of a status file; `None` if a needed line is missing or malformed.
    pub fn parse(text: &str) -> Option<Self> {
        let mut tracer = None;
        let mut state = None;
        let (mut pending, mut blocked) = (0, 0);
        let mask = |value: &str| u64::from_str_radix(value.trim(), 16).ok();
        for line in text.lines() {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            match key {
                "TracerPid" => tracer = Some(value.trim().parse::<i32>().ok()?),
                "State" => state = value.trim().chars().next(),
                "SigPnd" | "ShdPnd" => pending |= mask(value)?,
                "SigBlk" => blocked = mask(value)?,
                _ => {}
            }
        }
        let tracer = tracer?;
        let state = state?;
        Some(Self {
            tracer: (tracer != 0).then_some(tracer),
            group_stopped: state == 'T',
            zombie: state == 'Z',
            pending,
            blocked,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_running_untraced_thread() {
        let text = "Name:\tcat\nState:\tR (running)\nTgid:\t5\nTracerPid:\t0\nUid:\t0\n";
        let status = ThreadStatus::parse(text);
        let expected = ThreadStatus {
            tracer: None,
            group_stopped: false,
            zombie: false,
            pending: 0,
            blocked: 0,
        };
        assert_eq!(status, Some(expected));
    }

    #[test]
    fn parses_a_stopped_traced_thread_with_signals() {
        let text = "State:\tT (stopped)\nTracerPid:\t812\nSigPnd:\t0000000000000100\n\
                    ShdPnd:\t0000000000000001\nSigBlk:\t0000000000000300\n";
        let status = ThreadStatus::parse(text);
        let expected = ThreadStatus {
            tracer: Some(812),
            group_stopped: true,
            zombie: false,
            pending: 0x101,
            blocked: 0x300,
        };
        assert_eq!(status, Some(expected));
    }

    #[test]
    fn a_traced_stop_is_not_a_group_stop() {
        let text = "State:\tt (tracing stop)\nTracerPid:\t812\n";
        assert_eq!(
            ThreadStatus::parse(text).map(|s| s.group_stopped),
            Some(false)
        );
    }

    #[test]
    fn a_zombie_is_seen() {
        let text = "State:\tZ (zombie)\nTracerPid:\t0\n";
        assert_eq!(ThreadStatus::parse(text).map(|s| s.zombie), Some(true));
    }

    #[test]
    fn missing_tracer_line_is_refused() {
        assert_eq!(ThreadStatus::parse("State:\tS (sleeping)\n"), None);
    }
}
