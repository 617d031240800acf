//! State only the process itself can read, read by remote syscalls made in
//! its threads while it is infected: signal handlers, per-thread registrations
//! (clear-tid address, alternate stack, parent death signal, securebits),
//! timers, the program break and prctl flags.

use compel::infect::Infection;

use crate::snapshot::{ItimerValue, PosixTimer, SigAction, SigAltStack, SIGNAL_COUNT};

use super::DumpError;

const PR_GET_PDEATHSIG: u64 = 2;
const PR_GET_DUMPABLE: u64 = 3;
const PR_GET_SECUREBITS: u64 = 27;
const PR_GET_CHILD_SUBREAPER: u64 = 37;
const PR_GET_TID_ADDRESS: u64 = 40;

/// What one thread tells about itself.
#[derive(Debug, Clone, Copy)]
pub struct ThreadInside {
    /// set_tid_address(2) value.
    pub clear_tid_addr: u64,
    /// sigaltstack(2).
    pub altstack: SigAltStack,
    /// PR_GET_PDEATHSIG.
    pub pdeath_signal: i32,
    /// PR_GET_SECUREBITS.
    pub securebits: u32,
}

/// What the process tells about itself.
#[derive(Debug, Clone)]
pub struct ProcessInside {
    /// Dispositions of signals 1..=64.
    pub sigactions: Vec<SigAction>,
    /// ITIMER_REAL, ITIMER_VIRTUAL, ITIMER_PROF.
    pub itimers: [ItimerValue; 3],
    /// The current program break.
    pub brk: u64,
    /// PR_GET_DUMPABLE.
    pub dumpable: u32,
    /// PR_GET_CHILD_SUBREAPER.
    pub child_subreaper: bool,
}

/// Runs `nr(args)` in thread `index`; a negative result names `what`.
fn call(
    infection: &mut Infection,
    index: usize,
    what: &'static str,
    nr: i64,
    args: [u64; 6],
) -> Result<u64, DumpError> {
    let pid = infection.pid().as_raw();
    let raw = infection.syscall_in(index, nr, args)?;
    if (-4095..0).contains(&raw) {
        let errno = nix::errno::Errno::from_raw(-raw as i32);
        return Err(DumpError::Thread {
            tid: pid,
            what,
            errno,
        });
    }
    Ok(raw as u64)
}

/// Reads a value the last remote call wrote at scratch offset `offset`.
fn scratch_u64(infection: &Infection, offset: usize) -> Result<u64, DumpError> {
    let mut word = [0u8; 8];
    infection.scratch_read(offset, &mut word)?;
    Ok(u64::from_ne_bytes(word))
}

/// Reads one thread's registrations (`index` in the victim's thread list).
pub fn thread_inside(infection: &mut Infection, index: usize) -> Result<ThreadInside, DumpError> {
    let out = infection.scratch_addr(0);
    call(
        infection,
        index,
        "PR_GET_TID_ADDRESS",
        libc::SYS_prctl,
        [PR_GET_TID_ADDRESS, out, 0, 0, 0, 0],
    )?;
    let clear_tid_addr = scratch_u64(infection, 0)?;

    call(
        infection,
        index,
        "sigaltstack",
        libc::SYS_sigaltstack,
        [0, out, 0, 0, 0, 0],
    )?;
    let sp = scratch_u64(infection, 0)?;
    let flags = scratch_u64(infection, 8)? as u32 as i32;
    let size = scratch_u64(infection, 16)?;

    infection.scratch_write(0, &[0u8; 8])?;
    call(
        infection,
        index,
        "PR_GET_PDEATHSIG",
        libc::SYS_prctl,
        [PR_GET_PDEATHSIG, out, 0, 0, 0, 0],
    )?;
    let pdeath_signal = scratch_u64(infection, 0)? as u32 as i32;
    let securebits = call(
        infection,
        index,
        "PR_GET_SECUREBITS",
        libc::SYS_prctl,
        [PR_GET_SECUREBITS, 0, 0, 0, 0, 0],
    )? as u32;
    Ok(ThreadInside {
        clear_tid_addr,
        altstack: SigAltStack { sp, flags, size },
        pdeath_signal,
        securebits,
    })
}

/// Reads the process-wide state through the leader.
pub fn process_inside(infection: &mut Infection) -> Result<ProcessInside, DumpError> {
    let out = infection.scratch_addr(0);
    let mut sigactions = Vec::with_capacity(SIGNAL_COUNT);
    for signal in 1..=SIGNAL_COUNT as u64 {
        if signal == libc::SIGKILL as u64 || signal == libc::SIGSTOP as u64 {
            sigactions.push(SigAction::default());
            continue;
        }
        call(
            infection,
            0,
            "rt_sigaction",
            libc::SYS_rt_sigaction,
            [signal, 0, out, 8, 0, 0],
        )?;
        let word = |i: usize| scratch_u64(infection, i * 8);
        sigactions.push(SigAction {
            handler: word(0)?,
            flags: word(1)?,
            restorer: word(2)?,
            mask: word(3)?,
        });
    }
    let mut itimers = [ItimerValue::default(); 3];
    for (which, timer) in itimers.iter_mut().enumerate() {
        call(
            infection,
            0,
            "getitimer",
            libc::SYS_getitimer,
            [which as u64, out, 0, 0, 0, 0],
        )?;
        let word = |i: usize| scratch_u64(infection, i * 8);
        *timer = ItimerValue {
            interval_us: word(0)? * 1_000_000 + word(1)?,
            value_us: word(2)? * 1_000_000 + word(3)?,
        };
    }
    let brk = call(infection, 0, "brk", libc::SYS_brk, [0; 6])?;
    let dumpable = call(
        infection,
        0,
        "PR_GET_DUMPABLE",
        libc::SYS_prctl,
        [PR_GET_DUMPABLE, 0, 0, 0, 0, 0],
    )? as u32;
    infection.scratch_write(0, &[0u8; 8])?;
    call(
        infection,
        0,
        "PR_GET_CHILD_SUBREAPER",
        libc::SYS_prctl,
        [PR_GET_CHILD_SUBREAPER, out, 0, 0, 0, 0],
    )?;
    let child_subreaper = scratch_u64(infection, 0)? as u32 != 0;
    Ok(ProcessInside {
        sigactions,
        itimers,
        brk,
        dumpable,
        child_subreaper,
    })
}

/// The current value of each POSIX timer listed in /proc/PID/timers.
pub fn posix_timers(
    infection: &mut Infection,
    listed: &[crate::proc::timers::PosixTimer],
) -> Result<Vec<PosixTimer>, DumpError> {
    let out = infection.scratch_addr(0);
    let mut timers = Vec::new();
    for timer in listed {
        call(
            infection,
            0,
            "timer_gettime",
            libc::SYS_timer_gettime,
            [timer.id as u64, out, 0, 0, 0, 0],
        )?;
        let word = |i: usize| scratch_u64(infection, i * 8);
        let interval_ns = word(0)? * 1_000_000_000 + word(1)?;
        let value_ns = word(2)? * 1_000_000_000 + word(3)?;
        let overrun = call(
            infection,
            0,
            "timer_getoverrun",
            libc::SYS_timer_getoverrun,
            [timer.id as u64, 0, 0, 0, 0, 0],
        )?;
        let (notify, notify_tid) = notify_of(&timer.notify);
        timers.push(PosixTimer {
            id: timer.id,
            clock_id: timer.clock_id,
            notify,
            notify_tid,
            signal: timer.signal,
            sigev_value: timer.sigev_value,
            interval_ns,
            value_ns,
            overrun: overrun as i32,
        });
    }
    Ok(timers)
}

/// Decodes the `notify:` field of /proc/PID/timers (`signal/pid.N`,
/// `signal/tid.N`, `none/pid.N`, `thread/pid.N`): the SIGEV_* base, with
/// SIGEV_THREAD_ID added and the thread id returned when it says `tid`.
fn notify_of(text: &str) -> (i32, i32) {
    let (how, target) = text.split_once('/').unwrap_or((text, ""));
    let base = match how {
        "none" => libc::SIGEV_NONE,
        "thread" => libc::SIGEV_THREAD,
        _ => libc::SIGEV_SIGNAL,
    };
    match target.split_once('.') {
        Some(("tid", id)) => (base | libc::SIGEV_THREAD_ID, id.parse().unwrap_or(0)),
        _ => (base, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_field_decodes() {
        assert_eq!(notify_of("signal/tid.4242"), (libc::SIGEV_THREAD_ID, 4242));
        assert_eq!(notify_of("signal/pid.17"), (libc::SIGEV_SIGNAL, 0));
        assert_eq!(notify_of("none/pid.17"), (libc::SIGEV_NONE, 0));
    }
}
