//! The work behind each command, each returning the reply to send.
//!
//! # Safety
//!
//! `vmsplice` is handed ranges of the victim's memory the host chose; the
//! kernel reads them (or fails with `EFAULT`), nothing in the blob does.
#![allow(unsafe_code)]

use syscalls::io::{close, vmsplice, IoVec};
use syscalls::signal::{getitimer, sigaltstack_get, Itimerval, Stack};
use syscalls::signal::{ITIMER_PROF, ITIMER_REAL, ITIMER_VIRTUAL};
use syscalls::Errno;

use crate::area::Area;
use crate::control::Control;
use crate::protocol::{AltStack, Itimer, PageRange, Reply, TaskInfo, TimeVal, MAX_FDS_PER_MESSAGE};

/// A reply with status 0 and `value`.
pub fn ok(value: u64) -> Reply {
    Reply { status: 0, value }
}

/// A reply with status `-errno`.
pub fn failed(errno: Errno, value: u64) -> Reply {
    Reply {
        status: errno.negated(),
        value,
    }
}

/// Info: fills a TaskInfo at the start of the args region.
pub fn info(area: &Area) -> Reply {
    match task_info().and_then(|info| area.write_args(info)) {
        Ok(()) => ok(0),
        Err(errno) => failed(errno, 0),
    }
}

fn task_info() -> Result<TaskInfo, Errno> {
    let mut stack = Stack::default();
    sigaltstack_get(&mut stack)?;
    let altstack = AltStack {
        sp: stack.ss_sp,
        flags: stack.ss_flags,
        _pad: 0,
        size: stack.ss_size,
    };
    Ok(TaskInfo {
        pid: syscalls::process::getpid(),
        tid: syscalls::process::gettid(),
        altstack,
        itimers: [
            itimer(ITIMER_REAL)?,
            itimer(ITIMER_VIRTUAL)?,
            itimer(ITIMER_PROF)?,
        ],
    })
}

fn itimer(which: i32) -> Result<Itimer, Errno> {
    let mut t = Itimerval::default();
    getitimer(which, &mut t)?;
    let interval = TimeVal {
        sec: t.interval.sec,
        usec: t.interval.usec,
    };
    Ok(Itimer {
        interval,
        value: TimeVal {
            sec: t.value.sec,
            usec: t.value.usec,
        },
    })
}

/// The outcome of a drain: bytes moved and, on failure, why it stopped.
pub struct Drained {
    /// Bytes moved into the pipe.
    pub bytes: u64,
    /// The error that stopped the drain, if any.
    pub error: Option<Errno>,
}

/// DrainPages: vmsplices `count` ranges from the args region into `pipe`.
pub fn drain_pages(area: &Area, pipe: i32, count: u32) -> Drained {
    let ranges = match area.args::<PageRange>(count as usize) {
        Ok(ranges) => ranges,
        Err(errno) => {
            return Drained {
                bytes: 0,
                error: Some(errno),
            }
        }
    };
    let mut bytes = 0u64;
    for range in ranges {
        match splice_range(pipe, range, &mut bytes) {
            Ok(()) => {}
            Err(errno) => {
                return Drained {
                    bytes,
                    error: Some(errno),
                }
            }
        }
    }
    Drained { bytes, error: None }
}

/// Moves one range into the pipe, looping on partial transfers; adds what
/// moved to `total` as it goes.
fn splice_range(pipe: i32, range: &PageRange, total: &mut u64) -> Result<(), Errno> {
    let start = usize::try_from(range.start).map_err(|_| Errno::EINVAL)?;
    let len = usize::try_from(range.len).map_err(|_| Errno::EINVAL)?;
    start.checked_add(len).ok_or(Errno::EINVAL)?;
    let mut done = 0;
    while done < len {
        let iov = [IoVec {
            base: start + done,
            len: len - done,
        }];
        // SAFETY: the host asks for ranges of the victim's own mappings;
        // vmsplice only reads them (no SPLICE_F_GIFT), and a range that is
        // not mapped fails with EFAULT instead of touching anything.
        match unsafe { vmsplice(pipe, &iov, 0) } {
            Ok(0) => return Err(Errno::EPIPE),
            Ok(n) => {
                done += n;
                *total += n as u64;
            }
            Err(Errno::EINTR) => {}
            Err(errno) => return Err(errno),
        }
    }
    Ok(())
}

/// SendFds: sends `count` fds from the args region back to the host in
/// batches. Returns the error that ended the command early, if any.
pub fn send_fds(area: &Area, control: &Control, count: u32) -> Result<(), Errno> {
    let fds = match area.args::<i32>(count as usize) {
        Ok(fds) => fds,
        Err(errno) => return control.send(failed(errno, 0), &[]),
    };
    if fds.is_empty() {
        return control.send(ok(0), &[]);
    }
    for batch in fds.chunks(MAX_FDS_PER_MESSAGE) {
        if let Err(errno) = control.send(ok(batch.len() as u64), batch) {
            return control.send(failed(errno, 0), &[]);
        }
    }
    Ok(())
}

/// Closes `fd` if there is one.
pub fn close_fd(fd: Option<i32>) {
    if let Some(fd) = fd {
        let _ = close(fd);
    }
}
