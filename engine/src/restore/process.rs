//! Process-wide state restored inside the task: session, signal handlers,
//! timers, limits and the prctl flags.

use crate::snapshot::ProcessSnapshot;

use super::remote::{bytes_of, RemoteThread, Scratch};
use super::RestoreError;

const PR_SET_MM: u64 = 35;
const PR_SET_MM_MAP: u64 = 14;
const PR_SET_CHILD_SUBREAPER: u64 = 36;
const PR_SET_NO_NEW_PRIVS: u64 = 38;
const PR_SET_DUMPABLE: u64 = 4;
/// prctl(PR_TIMER_CREATE_RESTORE_IDS): timer_create takes the id to use from *timerid.
const PR_TIMER_CREATE_RESTORE_IDS: u64 = 77;

/// `struct prctl_mm_map`.
#[repr(C)]
#[derive(Clone, Copy)]
struct PrctlMmMap {
    fields: [u64; 11],
    auxv: u64,
    auxv_size: u32,
    exe_fd: u32,
}

/// Sets the mm fields, the auxiliary vector and the exe link in one go.
/// `exe_fd` is `None` when the task's exe link (crust's, inherited by the
/// fork) already names the process's executable: the kernel refuses to
/// replace an exe link whose file is still mapped, and there is nothing to do.
pub fn set_mm(
    thread: &mut RemoteThread,
    scratch: &Scratch,
    process: &ProcessSnapshot,
    exe_fd: Option<i32>,
) -> Result<(), RestoreError> {
    let auxv: Vec<u8> = process
        .memory
        .auxv
        .iter()
        .flat_map(|w| w.to_ne_bytes())
        .collect();
    let auxv_addr = scratch.put(1024, &auxv)?;
    let map = PrctlMmMap {
        fields: process.memory.mm.in_prctl_order(),
        auxv: auxv_addr,
        auxv_size: auxv.len() as u32,
        exe_fd: exe_fd.map_or(u32::MAX, |fd| fd as u32),
    };
    let addr = scratch.put(0, bytes_of(&map))?;
    let size = std::mem::size_of::<PrctlMmMap>() as u64;
    thread.call(
        "set the mm fields (PR_SET_MM_MAP)",
        libc::SYS_prctl,
        [PR_SET_MM, PR_SET_MM_MAP, addr, size, 0, 0],
    )?;
    Ok(())
}

/// Signal dispositions, umask, personality, limits, timers and prctl flags.
pub fn set_process_state(
    thread: &mut RemoteThread,
    scratch: &Scratch,
    process: &ProcessSnapshot,
) -> Result<(), RestoreError> {
    for (index, action) in process.sigactions.iter().enumerate() {
        let signal = index as u64 + 1;
        if signal == libc::SIGKILL as u64 || signal == libc::SIGSTOP as u64 {
            continue;
        }
        let raw = [action.handler, action.flags, action.restorer, action.mask];
        let addr = scratch.put(0, bytes_of(&raw))?;
        thread.call(
            "set a signal handler",
            libc::SYS_rt_sigaction,
            [signal, addr, 0, 8, 0, 0],
        )?;
    }
    thread.call(
        "set the umask",
        libc::SYS_umask,
        [process.umask.into(), 0, 0, 0, 0, 0],
    )?;
    thread.call(
        "set the personality",
        libc::SYS_personality,
        [process.personality.into(), 0, 0, 0, 0, 0],
    )?;
    for (resource, limit) in process.rlimits.iter().enumerate() {
        let addr = scratch.put(0, bytes_of(&[limit.soft, limit.hard]))?;
        thread.call(
            "set a resource limit",
            libc::SYS_prlimit64,
            [0, resource as u64, addr, 0, 0, 0],
        )?;
    }
    for (which, timer) in process.itimers.iter().enumerate() {
        let split = |us: u64| [us / 1_000_000, us % 1_000_000];
        let [isec, iusec] = split(timer.interval_us);
        let [vsec, vusec] = split(timer.value_us);
        let addr = scratch.put(0, bytes_of(&[isec, iusec, vsec, vusec]))?;
        thread.call(
            "set an interval timer",
            libc::SYS_setitimer,
            [which as u64, addr, 0, 0, 0, 0],
        )?;
    }
    set_posix_timers(thread, scratch, process)?;
    if process.child_subreaper {
        thread.call(
            "become a child subreaper",
            libc::SYS_prctl,
            [PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0, 0],
        )?;
    }
    Ok(())
}

fn set_posix_timers(
    thread: &mut RemoteThread,
    scratch: &Scratch,
    process: &ProcessSnapshot,
) -> Result<(), RestoreError> {
    if process.posix_timers.is_empty() {
        return Ok(());
    }
    thread.call(
        "ask for chosen timer ids",
        libc::SYS_prctl,
        [PR_TIMER_CREATE_RESTORE_IDS, 1, 0, 0, 0, 0],
    )?;
    for timer in &process.posix_timers {
        // struct sigevent: value, signo, notify, then the thread id; 64 bytes.
        let mut event = [0u8; 64];
        event[0..8].copy_from_slice(&timer.sigev_value.to_ne_bytes());
        event[8..12].copy_from_slice(&timer.signal.to_ne_bytes());
        event[12..16].copy_from_slice(&timer.notify.to_ne_bytes());
        event[16..20].copy_from_slice(&timer.notify_tid.to_ne_bytes());
        let event_addr = scratch.put(0, &event)?;
        let id_addr = scratch.put(64, &timer.id.to_ne_bytes())?;
        thread.call(
            "create a POSIX timer",
            libc::SYS_timer_create,
            [timer.clock_id as u64, event_addr, id_addr, 0, 0, 0],
        )?;
        let split = |ns: u64| [ns / 1_000_000_000, ns % 1_000_000_000];
        let [isec, insec] = split(timer.interval_ns);
        let [vsec, vnsec] = split(timer.value_ns);
        let spec = scratch.put(128, bytes_of(&[isec, insec, vsec, vnsec]))?;
        thread.call(
            "arm a POSIX timer",
            libc::SYS_timer_settime,
            [timer.id as u64, 0, spec, 0, 0, 0],
        )?;
    }
    thread.call(
        "stop choosing timer ids",
        libc::SYS_prctl,
        [PR_TIMER_CREATE_RESTORE_IDS, 0, 0, 0, 0, 0],
    )?;
    Ok(())
}

/// The prctl flags that must come last: no_new_privs cannot be undone and
/// dumpable is reset by credential changes.
pub fn set_final_flags(
    thread: &mut RemoteThread,
    process: &ProcessSnapshot,
) -> Result<(), RestoreError> {
    thread.call(
        "set dumpable",
        libc::SYS_prctl,
        [PR_SET_DUMPABLE, process.dumpable.into(), 0, 0, 0, 0],
    )?;
    if process.no_new_privs {
        thread.call(
            "set no_new_privs",
            libc::SYS_prctl,
            [PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0],
        )?;
    }
    Ok(())
}
