//! `core-TID.img`: one `core_entry` per thread; the leader's also carries
//! the task-wide `tc` (state, personality, timers, limits, signal handlers,
//! shared pending signals).

use std::path::Path;

use super::error::{check_range, fit, narrow, CodecError};
use super::fpu::XsaveLayout;
use super::thread::{self, ReadThread, TaskDefaults};
use super::tree::TaskIds;
use crate::images::core::{task_state, CoreEntry, March, TaskCoreEntry, TaskRlimitsEntry};
use crate::images::rlimit::RlimitEntry;
use crate::images::sa::SaEntry;
use crate::images::timer::{ItimerEntry, PosixTimerEntry, TaskTimersEntry};
use crate::images::{ImageDir, ImageKind, ImageName};
use crate::snapshot::{
    ItimerValue, PendingSignal, PosixTimer, ProcessSnapshot, Rlimit, SigAction, ThreadSnapshot,
    ZombieSnapshot,
};

/// Number of signals (SIGMAX); CRIU keeps the handlers of all but SIGKILL
/// and SIGSTOP, which cannot have any, in signal order.
const SIGMAX: usize = 64;
const SIGKILL: usize = 9;
const SIGSTOP: usize = 19;
const SAVED_SIGACTIONS: usize = SIGMAX - 2;

/// Most resource limits a task has (RLIM_NLIMITS).
const RLIMIT_COUNT: usize = 16;

/// Most POSIX timers crust reads for one task.
const MAX_POSIX_TIMERS: usize = 1 << 16;

/// SIGCHLD: the exit signal of a task whose images do not say otherwise.
const SIGCHLD: i32 = 17;

const USEC_PER_SEC: u64 = 1_000_000;
const NSEC_PER_SEC: u64 = 1_000_000_000;

/// Writes `core-TID.img` for every thread, the leader's with the task core.
pub(crate) fn write_cores(
    dir: &ImageDir,
    process: &ProcessSnapshot,
    layout: &XsaveLayout,
) -> Result<(), CodecError> {
    let pid = process.pid;
    for thread in &process.threads {
        let tc = if thread.tid == pid {
            Some(task_core(process, thread)?)
        } else {
            None
        };
        let core = CoreEntry {
            mtype: March::X86_64 as i32,
            thread_info: Some(thread::thread_info(thread, layout)?),
            tc,
            ids: None,
            thread_core: Some(thread::thread_core(pid, thread, process.no_new_privs)?),
        };
        let tid = fit(pid, "thread id", thread.tid)?;
        dir.write_one(ImageName::with_id(ImageKind::Core, tid), &core)?;
    }
    Ok(())
}

/// Writes `core-PID.img` of a zombie: CRIU's dead task, with the status its parent will reap.
pub(crate) fn write_zombie(dir: &ImageDir, zombie: &ZombieSnapshot) -> Result<(), CodecError> {
    let pid = zombie.pid;
    let tc = TaskCoreEntry {
        task_state: task_state::DEAD,
        exit_code: zombie.wait_status as u32,
        comm: zombie.comm.clone(),
        crust_exit_signal: Some(fit(pid, "exit signal", zombie.exit_signal)?),
        ..Default::default()
    };
    let core = CoreEntry {
        mtype: March::X86_64 as i32,
        tc: Some(tc),
        ..Default::default()
    };
    dir.write_one(
        ImageName::with_id(ImageKind::Core, fit(pid, "pid", pid)?),
        &core,
    )?;
    Ok(())
}

/// The leader's core of task `pid`, when it is a zombie: its wait status, exit signal and name.
pub(crate) fn read_zombie(
    dir: &ImageDir,
    pid: i32,
) -> Result<Option<(i32, i32, String)>, CodecError> {
    let name = ImageName::with_id(ImageKind::Core, task_id(pid));
    let path = dir.file_path(name);
    let core: CoreEntry = dir.read_one(name)?;
    let Some(tc) = core.tc.filter(|tc| tc.task_state == task_state::DEAD) else {
        return Ok(None);
    };
    let exit_signal = match tc.crust_exit_signal {
        Some(signal) => check_range(&path, "exit signal", signal, 1..=64)? as i32,
        None => SIGCHLD,
    };
    let comm: String = tc.comm.chars().take(15).collect();
    Ok(Some((tc.exit_code as i32, exit_signal, comm)))
}

fn task_core(
    process: &ProcessSnapshot,
    leader: &ThreadSnapshot,
) -> Result<TaskCoreEntry, CodecError> {
    let pid = process.pid;
    Ok(TaskCoreEntry {
        task_state: if process.stopped {
            task_state::STOPPED
        } else {
            task_state::ALIVE
        },
        exit_code: 0,
        personality: process.personality,
        flags: 0,
        blk_sigset: leader.sigmask,
        comm: leader.comm.clone(),
        timers: Some(timers(process)?),
        rlimits: Some(TaskRlimitsEntry {
            rlimits: process
                .rlimits
                .iter()
                .map(|r| RlimitEntry {
                    cur: r.soft,
                    max: r.hard,
                })
                .collect(),
        }),
        signals_s: Some(thread::signal_queue(&process.shared_pending)),
        sigactions: sigactions(pid, &process.sigactions)?,
        child_subreaper: Some(process.child_subreaper),
        crust_exit_signal: Some(fit(pid, "exit signal", process.exit_signal)?),
        ..Default::default()
    })
}

fn timers(process: &ProcessSnapshot) -> Result<TaskTimersEntry, CodecError> {
    let itimer = |v: &ItimerValue| ItimerEntry {
        isec: v.interval_us / USEC_PER_SEC,
        iusec: v.interval_us % USEC_PER_SEC,
        vsec: v.value_us / USEC_PER_SEC,
        vusec: v.value_us % USEC_PER_SEC,
    };
    let [real, virt, prof] = &process.itimers;
    let posix = process
        .posix_timers
        .iter()
        .map(|t| posix_timer(process.pid, t))
        .collect::<Result<_, _>>()?;
    Ok(TaskTimersEntry {
        real: itimer(real),
        virt: itimer(virt),
        prof: itimer(prof),
        posix,
    })
}

fn posix_timer(pid: i32, t: &PosixTimer) -> Result<PosixTimerEntry, CodecError> {
    Ok(PosixTimerEntry {
        it_id: fit(pid, "posix timer id", t.id)?,
        // CPU clocks are negative ids; CRIU keeps the int bit for bit.
        clock_id: u32::from_ne_bytes(t.clock_id.to_ne_bytes()),
        si_signo: fit(pid, "posix timer signal", t.signal)?,
        it_sigev_notify: fit(pid, "posix timer notify", t.notify)?,
        sival_ptr: t.sigev_value,
        overrun: fit(pid, "posix timer overrun", t.overrun)?,
        isec: t.interval_ns / NSEC_PER_SEC,
        insec: t.interval_ns % NSEC_PER_SEC,
        vsec: t.value_ns / NSEC_PER_SEC,
        vnsec: t.value_ns % NSEC_PER_SEC,
        notify_thread_id: (t.notify_tid != 0).then_some(t.notify_tid),
    })
}

fn sigactions(pid: i32, actions: &[SigAction]) -> Result<Vec<SaEntry>, CodecError> {
    if actions.len() != SIGMAX {
        return Err(CodecError::Unrepresentable {
            pid,
            what: "number of signal handlers",
            value: actions.len() as i128,
            why: "CRIU's images hold the handlers of signals 1 to 64",
        });
    }
    let entries = actions
        .iter()
        .enumerate()
        .filter(|(i, _)| !matches!(i + 1, SIGKILL | SIGSTOP))
        .map(|(_, a)| SaEntry {
            sigaction: a.handler,
            flags: a.flags,
            restorer: a.restorer,
            mask: a.mask,
            compat_sigaction: None,
            mask_extended: None,
        })
        .collect();
    Ok(entries)
}

/// The task-wide state read from the leader's `tc`.
pub(crate) struct TaskState {
    pub personality: u32,
    pub sigactions: Vec<SigAction>,
    pub shared_pending: Vec<PendingSignal>,
    pub itimers: [ItimerValue; 3],
    pub posix_timers: Vec<PosixTimer>,
    pub rlimits: Vec<Rlimit>,
    pub child_subreaper: bool,
    pub exit_signal: i32,
    pub stopped: bool,
}

/// Reads every thread's core; returns the threads in pstree order, the
/// task state and whether the task has no_new_privs.
pub(crate) fn read_cores(
    dir: &ImageDir,
    task: &TaskIds,
    layout: &XsaveLayout,
) -> Result<(Vec<ThreadSnapshot>, TaskState, bool), CodecError> {
    let leader_name = ImageName::with_id(ImageKind::Core, task_id(task.pid));
    let leader_path = dir.file_path(leader_name);
    let leader: CoreEntry = dir.read_one(leader_name)?;
    let tc = leader.tc.clone().ok_or(CodecError::MissingField {
        path: leader_path.clone(),
        what: "tc (the task core)",
    })?;
    let state = read_task_core(&leader_path, &tc)?;
    let mut threads = Vec::with_capacity(task.tids.len());
    let mut no_new_privs = false;
    for &tid in &task.tids {
        let name = ImageName::with_id(ImageKind::Core, task_id(tid));
        let core = if tid == task.pid {
            leader.clone()
        } else {
            dir.read_one(name)?
        };
        let is_leader = tid == task.pid;
        let defaults = TaskDefaults {
            blk_sigset: is_leader.then_some(tc.blk_sigset),
            comm: is_leader.then_some(tc.comm.as_str()),
        };
        let read = read_core(&dir.file_path(name), tid, core, defaults, layout)?;
        if is_leader {
            no_new_privs = read.no_new_privs;
        }
        threads.push(read.thread);
    }
    Ok((threads, state, no_new_privs))
}

fn task_id(tid: i32) -> u32 {
    u32::try_from(tid).unwrap_or(0)
}

fn read_core(
    path: &Path,
    tid: i32,
    core: CoreEntry,
    defaults: TaskDefaults<'_>,
    layout: &XsaveLayout,
) -> Result<ReadThread, CodecError> {
    if core.mtype != March::X86_64 as i32 {
        return Err(CodecError::Format {
            path: path.into(),
            what: "mtype",
            found: core.mtype.to_string(),
            expected: "1 (X86_64)",
        });
    }
    thread::read_thread(
        path,
        tid,
        core.thread_info,
        core.thread_core,
        defaults,
        layout,
    )
}

fn read_task_core(path: &Path, tc: &TaskCoreEntry) -> Result<TaskState, CodecError> {
    let stopped = match tc.task_state {
        task_state::ALIVE => false,
        task_state::STOPPED => true,
        other => {
            return Err(CodecError::Format {
                path: path.into(),
                what: "task_state",
                found: other.to_string(),
                expected: "1 (alive) or 3 (stopped)",
            })
        }
    };
    let timers = tc.timers.as_ref().ok_or(CodecError::MissingField {
        path: path.into(),
        what: "tc.timers",
    })?;
    let exit_signal: i32 = match tc.crust_exit_signal {
        Some(signal) => narrow(path, "exit signal", signal)?,
        None => SIGCHLD,
    };
    Ok(TaskState {
        personality: tc.personality,
        sigactions: read_sigactions(path, &tc.sigactions)?,
        shared_pending: thread::read_signals(path, tc.signals_s.as_ref())?,
        itimers: [
            read_itimer(path, &timers.real)?,
            read_itimer(path, &timers.virt)?,
            read_itimer(path, &timers.prof)?,
        ],
        posix_timers: read_posix_timers(path, &timers.posix)?,
        rlimits: read_rlimits(path, tc.rlimits.as_ref())?,
        child_subreaper: tc.child_subreaper.unwrap_or(false),
        exit_signal: check_range(path, "exit signal", exit_signal, 0..=64)?,
        stopped,
    })
}

fn read_sigactions(path: &Path, entries: &[SaEntry]) -> Result<Vec<SigAction>, CodecError> {
    if entries.len() != SAVED_SIGACTIONS {
        return Err(CodecError::BadLength {
            path: path.into(),
            what: "tc.sigactions",
            found: entries.len(),
            expected: SAVED_SIGACTIONS,
        });
    }
    let mut saved = entries.iter();
    let actions = (1..=SIGMAX)
        .map(|signal| match signal {
            SIGKILL | SIGSTOP => SigAction::default(),
            _ => saved
                .next()
                .map_or_else(SigAction::default, |sa| SigAction {
                    handler: sa.sigaction,
                    flags: sa.flags,
                    restorer: sa.restorer,
                    mask: sa.mask,
                }),
        })
        .collect();
    Ok(actions)
}

fn read_itimer(path: &Path, e: &ItimerEntry) -> Result<ItimerValue, CodecError> {
    Ok(ItimerValue {
        interval_us: join_time(path, "itimer interval", e.isec, e.iusec, USEC_PER_SEC)?,
        value_us: join_time(path, "itimer value", e.vsec, e.vusec, USEC_PER_SEC)?,
    })
}

/// Seconds and a fraction below one second back into one count of `unit`ths.
fn join_time(
    path: &Path,
    what: &'static str,
    sec: u64,
    frac: u64,
    unit: u64,
) -> Result<u64, CodecError> {
    let out_of_range = |value: u64| CodecError::OutOfRange {
        path: path.into(),
        what,
        value: value.into(),
    };
    if frac >= unit {
        return Err(out_of_range(frac));
    }
    sec.checked_mul(unit)
        .and_then(|t| t.checked_add(frac))
        .ok_or(out_of_range(sec))
}

fn read_posix_timers(
    path: &Path,
    entries: &[PosixTimerEntry],
) -> Result<Vec<PosixTimer>, CodecError> {
    if entries.len() > MAX_POSIX_TIMERS {
        return Err(CodecError::BadLength {
            path: path.into(),
            what: "posix timers",
            found: entries.len(),
            expected: MAX_POSIX_TIMERS,
        });
    }
    entries
        .iter()
        .map(|e| {
            let signal: i32 = narrow(path, "posix timer signal", e.si_signo)?;
            Ok(PosixTimer {
                id: narrow(path, "posix timer id", e.it_id)?,
                clock_id: i32::from_ne_bytes(e.clock_id.to_ne_bytes()),
                notify: narrow(path, "posix timer notify", e.it_sigev_notify)?,
                notify_tid: e.notify_thread_id.unwrap_or(0),
                signal: check_range(path, "posix timer signal", signal, 0..=64)?,
                sigev_value: e.sival_ptr,
                interval_ns: join_time(
                    path,
                    "posix timer interval",
                    e.isec,
                    e.insec,
                    NSEC_PER_SEC,
                )?,
                value_ns: join_time(path, "posix timer value", e.vsec, e.vnsec, NSEC_PER_SEC)?,
                overrun: narrow(path, "posix timer overrun", e.overrun)?,
            })
        })
        .collect()
}

fn read_rlimits(path: &Path, entry: Option<&TaskRlimitsEntry>) -> Result<Vec<Rlimit>, CodecError> {
    let Some(entry) = entry else {
        return Ok(Vec::new());
    };
    if entry.rlimits.len() > RLIMIT_COUNT {
        return Err(CodecError::BadLength {
            path: path.into(),
            what: "tc.rlimits",
            found: entry.rlimits.len(),
            expected: RLIMIT_COUNT,
        });
    }
    Ok(entry
        .rlimits
        .iter()
        .map(|r| Rlimit {
            soft: r.cur,
            hard: r.max,
        })
        .collect())
}
