//! Threads: created inside the task with their original tids, then given
//! their own state (robust futexes, rseq, altstack, name, credentials).

use compel::ptrace::Tracee;
use nix::unistd::Pid;

use crate::snapshot::{Credentials, ThreadSnapshot};

use super::remote::{bytes_of, RemoteThread, Scratch};
use super::RestoreError;
use crate::clone3::CloneArgs;

const THREAD_FLAGS: u64 = (libc::CLONE_VM
    | libc::CLONE_FS
    | libc::CLONE_FILES
    | libc::CLONE_SIGHAND
    | libc::CLONE_THREAD
    | libc::CLONE_SYSVSEM) as u64;
const PR_SET_NAME: u64 = 15;
const PR_SET_PDEATHSIG: u64 = 1;
const PR_SET_SECUREBITS: u64 = 28;
const PR_CAPBSET_DROP: u64 = 24;
const PR_CAP_AMBIENT: u64 = 47;
const PR_CAP_AMBIENT_RAISE: u64 = 2;
const PR_CAP_AMBIENT_CLEAR_ALL: u64 = 4;
const SECBIT_KEEP_CAPS: u32 = 1 << 4;
const CAPABILITY_VERSION_3: u32 = 0x2008_0522;
const LAST_CAP: u64 = 63;

/// Creates thread `tid` inside the task through its leader (clone3 with
/// set_tid) and seizes it; it waits in its first stop for its registers.
pub fn create_thread(
    leader: &mut RemoteThread,
    scratch: &Scratch,
    tid: i32,
) -> Result<RemoteThread, RestoreError> {
    let set_tid = scratch.put(512, &tid.to_ne_bytes())?;
    let args = CloneArgs {
        flags: THREAD_FLAGS,
        set_tid,
        set_tid_size: 1,
        ..Default::default()
    };
    let addr = scratch.put(0, bytes_of(&args))?;
    let nr = libc::SYS_clone3;
    let trampoline = leader.trampoline;
    let created = leader
        .tracee
        .syscall(trampoline, nr, [addr, CloneArgs::SIZE as u64, 0, 0, 0, 0]);
    let created = created.map_err(|source| RestoreError::Remote {
        tid,
        step: "create a thread",
        source: Box::new(source),
    })?;
    if created != i64::from(tid) {
        return Err(RestoreError::ThreadId {
            wanted: tid,
            got: created,
        });
    }
    let tracee = Tracee::from_new_child_thread(Pid::from_raw(tid)).map_err(|source| {
        RestoreError::Ptrace {
            tid,
            source: Box::new(source),
        }
    })?;
    Ok(RemoteThread { tracee, trampoline })
}

/// The per-thread kernel state a thread registers itself.
pub fn set_thread_state(
    thread: &mut RemoteThread,
    scratch: &Scratch,
    saved: &ThreadSnapshot,
) -> Result<(), RestoreError> {
    let (head, len) = saved.robust_list;
    thread.call(
        "set the robust futex list",
        libc::SYS_set_robust_list,
        [head, len, 0, 0, 0, 0],
    )?;
    thread.call(
        "set the clear-tid address",
        libc::SYS_set_tid_address,
        [saved.clear_tid_addr, 0, 0, 0, 0, 0],
    )?;
    if let Some(rseq) = saved.rseq {
        let args = [rseq.addr, rseq.len.into(), 0, rseq.signature.into(), 0, 0];
        thread.call("register rseq", libc::SYS_rseq, args)?;
    }
    let stack = saved.altstack;
    let raw: [u64; 3] = [stack.sp, stack.flags as u32 as u64, stack.size];
    let addr = scratch.put(0, bytes_of(&raw))?;
    thread.call(
        "set the alternate signal stack",
        libc::SYS_sigaltstack,
        [addr, 0, 0, 0, 0, 0],
    )?;
    let mut name = [0u8; 16];
    let comm = saved.comm.as_bytes();
    let n = comm.len().min(15);
    name[..n].copy_from_slice(&comm[..n]);
    let addr = scratch.put(0, &name)?;
    thread.call(
        "set the thread name",
        libc::SYS_prctl,
        [PR_SET_NAME, addr, 0, 0, 0, 0],
    )?;
    thread.call(
        "set the parent death signal",
        libc::SYS_prctl,
        [PR_SET_PDEATHSIG, saved.pdeath_signal as u64, 0, 0, 0, 0],
    )?;
    Ok(())
}

/// Queues the thread's pending signals again (its signals are all blocked now).
pub fn queue_signals(
    thread: &mut RemoteThread,
    scratch: &Scratch,
    pid: i32,
    saved: &ThreadSnapshot,
) -> Result<(), RestoreError> {
    for signal in &saved.pending {
        let addr = scratch.put(0, &signal.siginfo)?;
        let args = [
            pid as u64,
            saved.tid as u64,
            signal.signo() as u64,
            addr,
            0,
            0,
        ];
        thread.call("queue a pending signal", libc::SYS_rt_tgsigqueueinfo, args)?;
    }
    Ok(())
}

/// Gives the thread its credentials. The steps follow what the kernel
/// allows: the bounding set is trimmed while crust's capabilities are whole;
/// SECBIT_KEEP_CAPS keeps the permitted set across the uid change, which
/// clears the effective one; the effective set is raised again from the
/// permitted one to set the process's own securebits; the process's
/// capability sets come last, then its ambient set. A crust without the capabilities to
/// change ids sets only the capabilities: the images were checked to hold crust's own ids,
/// groups, securebits and bounding set, which the thread has from crust already.
pub fn set_credentials(
    thread: &mut RemoteThread,
    scratch: &Scratch,
    creds: &Credentials,
) -> Result<(), RestoreError> {
    if super::credentials::keeps_crusts_ids() {
        let own = [
            creds.cap_effective,
            creds.cap_permitted,
            creds.cap_inheritable,
        ];
        set_capabilities(thread, scratch, own)?;
        return set_ambient(thread, creds.cap_ambient);
    }
    drop_from_bounding_set(thread, creds.cap_bounding);
    let keep = creds.securebits | SECBIT_KEEP_CAPS;
    let keep_args = [PR_SET_SECUREBITS, keep.into(), 0, 0, 0, 0];
    thread.call(
        "keep capabilities across the uid change",
        libc::SYS_prctl,
        keep_args,
    )?;
    set_ids(thread, scratch, creds)?;

    let [_, permitted, inheritable] = capabilities(thread, scratch)?;
    set_capabilities(thread, scratch, [permitted, permitted, inheritable])?;
    if keep != creds.securebits {
        let args = [PR_SET_SECUREBITS, creds.securebits.into(), 0, 0, 0, 0];
        thread.call("set the securebits", libc::SYS_prctl, args)?;
    }
    let own = [
        creds.cap_effective,
        creds.cap_permitted,
        creds.cap_inheritable,
    ];
    set_capabilities(thread, scratch, own)?;
    set_ambient(thread, creds.cap_ambient)
}

fn drop_from_bounding_set(thread: &mut RemoteThread, bounding: u64) {
    for cap in (0..=LAST_CAP).filter(|cap| bounding & (1 << cap) == 0) {
        // Capabilities this kernel does not know report EINVAL: nothing to drop.
        let args = [PR_CAPBSET_DROP, cap, 0, 0, 0, 0];
        let _ = thread
            .tracee
            .syscall(thread.trampoline, libc::SYS_prctl, args);
    }
}

fn set_ids(
    thread: &mut RemoteThread,
    scratch: &Scratch,
    creds: &Credentials,
) -> Result<(), RestoreError> {
    let groups: Vec<u8> = creds.groups.iter().flat_map(|g| g.to_ne_bytes()).collect();
    let groups_addr = scratch.put(0, &groups)?;
    let count = creds.groups.len() as u64;
    thread.call(
        "set the supplementary groups",
        libc::SYS_setgroups,
        [count, groups_addr, 0, 0, 0, 0],
    )?;
    let [rg, eg, sg, fsg] = creds.gids.map(u64::from);
    thread.call("set the gids", libc::SYS_setresgid, [rg, eg, sg, 0, 0, 0])?;
    // setfsgid and setfsuid return the previous id, never an errno.
    thread.call_raw("set the fs gid", libc::SYS_setfsgid, [fsg, 0, 0, 0, 0, 0])?;
    let [ru, eu, su, fsu] = creds.uids.map(u64::from);
    thread.call("set the uids", libc::SYS_setresuid, [ru, eu, su, 0, 0, 0])?;
    thread.call_raw("set the fs uid", libc::SYS_setfsuid, [fsu, 0, 0, 0, 0, 0])?;
    Ok(())
}

/// The thread's effective, permitted and inheritable sets (capget).
fn capabilities(thread: &mut RemoteThread, scratch: &Scratch) -> Result<[u64; 3], RestoreError> {
    let header: [u32; 2] = [CAPABILITY_VERSION_3, 0];
    let header_addr = scratch.put(0, bytes_of(&header))?;
    let data_addr = scratch.put(64, &[0u8; 24])?;
    thread.call(
        "read the capabilities",
        libc::SYS_capget,
        [header_addr, data_addr, 0, 0, 0, 0],
    )?;
    let mut data = [0u8; 24];
    super::remote::read_memory(scratch.pid, data_addr, &mut data)?;
    let word = |i: usize| {
        u64::from(u32::from_ne_bytes([
            data[i],
            data[i + 1],
            data[i + 2],
            data[i + 3],
        ]))
    };
    // struct __user_cap_data_struct[2]: {effective, permitted, inheritable} low, then high.
    Ok([0, 4, 8].map(|at| word(at) | word(at + 12) << 32))
}

/// capset with [effective, permitted, inheritable].
fn set_capabilities(
    thread: &mut RemoteThread,
    scratch: &Scratch,
    sets: [u64; 3],
) -> Result<(), RestoreError> {
    let [effective, permitted, inheritable] = sets;
    let low = |set: u64| set as u32;
    let high = |set: u64| (set >> 32) as u32;
    let header: [u32; 2] = [CAPABILITY_VERSION_3, 0];
    let data: [u32; 6] = [
        low(effective),
        low(permitted),
        low(inheritable),
        high(effective),
        high(permitted),
        high(inheritable),
    ];
    let header_addr = scratch.put(0, bytes_of(&header))?;
    let data_addr = scratch.put(64, bytes_of(&data))?;
    thread.call(
        "set the capabilities",
        libc::SYS_capset,
        [header_addr, data_addr, 0, 0, 0, 0],
    )?;
    Ok(())
}

fn set_ambient(thread: &mut RemoteThread, ambient: u64) -> Result<(), RestoreError> {
    let clear = [PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0, 0];
    thread.call("clear ambient capabilities", libc::SYS_prctl, clear)?;
    for cap in (0..=LAST_CAP).filter(|cap| ambient & (1 << cap) != 0) {
        let raise = [PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0, 0];
        thread.call("raise an ambient capability", libc::SYS_prctl, raise)?;
    }
    Ok(())
}
