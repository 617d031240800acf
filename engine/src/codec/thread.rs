//! One thread's part of `core-TID.img`: `thread_info` (registers, FPU
//! state, clear_tid_addr) and `thread_core` (robust futex list, signal mask,
//! sigaltstack, pending signals, credentials, comm, rseq).

use std::path::Path;

use super::error::{check_range, fit, narrow, CodecError};
use super::fpu::{self, XsaveLayout};
use crate::images::core::{ThreadCoreEntry, ThreadSasEntry};
use crate::images::core_x86::{ThreadInfoX86, UserX86RegsEntry, UserX86RegsMode};
use crate::images::creds::CredsEntry;
use crate::images::rseq::RseqEntry;
use crate::images::siginfo::{SiginfoEntry, SignalQueueEntry};
use crate::snapshot::{Credentials, PendingSignal, RseqRegistration, SigAltStack, ThreadSnapshot};

/// Most supplementary groups a thread has (NGROUPS_MAX).
const MAX_GROUPS: usize = 65536;

/// Words of a capability set in `creds_entry` (CRIU's CR_CAP_SIZE).
const CAP_WORDS: usize = 2;

/// Builds `thread_info` for a thread.
pub(crate) fn thread_info(
    thread: &ThreadSnapshot,
    layout: &XsaveLayout,
) -> Result<ThreadInfoX86, CodecError> {
    Ok(ThreadInfoX86 {
        clear_tid_addr: thread.clear_tid_addr,
        gpregs: gpregs(&thread.regs),
        fpregs: fpu::split(thread.tid, &thread.xstate, layout)?,
        tls: Vec::new(),
    })
}

fn gpregs(r: &compel::ptrace::UserRegs) -> UserX86RegsEntry {
    let mode = if r.is_compat() {
        UserX86RegsMode::Compat
    } else {
        UserX86RegsMode::Native
    };
    UserX86RegsEntry {
        r15: r.r15,
        r14: r.r14,
        r13: r.r13,
        r12: r.r12,
        bp: r.rbp,
        bx: r.rbx,
        r11: r.r11,
        r10: r.r10,
        r9: r.r9,
        r8: r.r8,
        ax: r.rax,
        cx: r.rcx,
        dx: r.rdx,
        si: r.rsi,
        di: r.rdi,
        orig_ax: r.orig_rax,
        ip: r.rip,
        cs: r.cs,
        flags: r.eflags,
        sp: r.rsp,
        ss: r.ss,
        fs_base: r.fs_base,
        gs_base: r.gs_base,
        ds: r.ds,
        es: r.es,
        fs: r.fs,
        gs: r.gs,
        mode: Some(mode as i32),
    }
}

/// Builds `thread_core` for a thread; `no_new_privs` is the process's.
pub(crate) fn thread_core(
    pid: i32,
    thread: &ThreadSnapshot,
    no_new_privs: bool,
) -> Result<ThreadCoreEntry, CodecError> {
    let sas = ThreadSasEntry {
        ss_sp: thread.altstack.sp,
        ss_size: thread.altstack.size,
        // The kernel's int, kept bit for bit (SS_AUTODISARM is bit 31).
        ss_flags: u32::from_ne_bytes(thread.altstack.flags.to_ne_bytes()),
    };
    Ok(ThreadCoreEntry {
        futex_rla: thread.robust_list.0,
        futex_rla_len: fit(pid, "robust list length", thread.robust_list.1)?,
        blk_sigset: Some(thread.sigmask),
        sas: Some(sas),
        pdeath_sig: Some(fit(pid, "parent death signal", thread.pdeath_signal)?),
        signals_p: Some(signal_queue(&thread.pending)),
        creds: Some(creds_entry(&thread.creds, no_new_privs)),
        comm: Some(thread.comm.clone()),
        rseq_entry: thread.rseq.map(|r| RseqEntry {
            rseq_abi_pointer: r.addr,
            rseq_abi_size: r.len,
            signature: r.signature,
            rseq_cs_pointer: None,
        }),
        ..Default::default()
    })
}

/// A queue of pending signals, oldest first.
pub(crate) fn signal_queue(pending: &[PendingSignal]) -> SignalQueueEntry {
    SignalQueueEntry {
        signals: pending
            .iter()
            .map(|s| SiginfoEntry {
                siginfo: s.siginfo.to_vec(),
            })
            .collect(),
    }
}

fn creds_entry(c: &Credentials, no_new_privs: bool) -> CredsEntry {
    CredsEntry {
        uid: c.uids[0],
        euid: c.uids[1],
        suid: c.uids[2],
        fsuid: c.uids[3],
        gid: c.gids[0],
        egid: c.gids[1],
        sgid: c.gids[2],
        fsgid: c.gids[3],
        cap_inh: cap_words(c.cap_inheritable),
        cap_prm: cap_words(c.cap_permitted),
        cap_eff: cap_words(c.cap_effective),
        cap_bnd: cap_words(c.cap_bounding),
        secbits: c.securebits,
        groups: c.groups.clone(),
        no_new_privs: Some(u32::from(no_new_privs)),
        cap_amb: cap_words(c.cap_ambient),
        ..Default::default()
    }
}

/// A capability set as CRIU keeps it: 32-bit words, low word first.
fn cap_words(set: u64) -> Vec<u32> {
    // The low and the high half; each cast keeps exactly 32 bits.
    vec![set as u32, (set >> 32) as u32]
}

/// A thread read back, with the process-wide flag its credentials carry.
pub(crate) struct ReadThread {
    pub thread: ThreadSnapshot,
    pub no_new_privs: bool,
}

/// What the task core gives a thread that lacks it in its own core.
pub(crate) struct TaskDefaults<'a> {
    pub blk_sigset: Option<u64>,
    pub comm: Option<&'a str>,
}

/// Reads a thread from its `thread_info` and `thread_core`.
pub(crate) fn read_thread(
    path: &Path,
    tid: i32,
    info: Option<ThreadInfoX86>,
    core: Option<ThreadCoreEntry>,
    defaults: TaskDefaults<'_>,
    layout: &XsaveLayout,
) -> Result<ReadThread, CodecError> {
    let missing = |what| CodecError::MissingField {
        path: path.into(),
        what,
    };
    let info = info.ok_or(missing("thread_info"))?;
    let core = core.ok_or(missing("thread_core"))?;
    check_mode(path, info.gpregs.mode)?;
    let creds = core.creds.as_ref().ok_or(missing("thread_core.creds"))?;
    let sas = core.sas.as_ref().ok_or(missing("thread_core.sas"))?;
    let comm = core.comm.as_deref().or(defaults.comm);
    let pdeath: i32 = narrow(path, "pdeath_sig", core.pdeath_sig.unwrap_or(0))?;
    let thread = ThreadSnapshot {
        tid,
        regs: read_gpregs(&info.gpregs),
        xstate: fpu::merge(path, &info.fpregs, layout)?,
        sigmask: core
            .blk_sigset
            .or(defaults.blk_sigset)
            .ok_or(missing("thread_core.blk_sigset"))?,
        altstack: SigAltStack {
            sp: sas.ss_sp,
            flags: i32::from_ne_bytes(sas.ss_flags.to_ne_bytes()),
            size: sas.ss_size,
        },
        clear_tid_addr: info.clear_tid_addr,
        robust_list: (core.futex_rla, u64::from(core.futex_rla_len)),
        rseq: read_rseq(core.rseq_entry.as_ref()),
        pdeath_signal: check_range(path, "pdeath_sig", pdeath, 0..=64)?,
        comm: comm.ok_or(missing("thread_core.comm"))?.to_owned(),
        pending: read_signals(path, core.signals_p.as_ref())?,
        creds: read_creds(path, creds)?,
    };
    Ok(ReadThread {
        thread,
        no_new_privs: creds.no_new_privs.unwrap_or(0) != 0,
    })
}

fn check_mode(path: &Path, mode: Option<i32>) -> Result<(), CodecError> {
    match mode.map(UserX86RegsMode::try_from) {
        None | Some(Ok(_)) => Ok(()),
        Some(Err(_)) => Err(CodecError::OutOfRange {
            path: path.into(),
            what: "gpregs.mode",
            value: mode.unwrap_or(0).into(),
        }),
    }
}

fn read_gpregs(r: &UserX86RegsEntry) -> compel::ptrace::UserRegs {
    compel::ptrace::UserRegs {
        r15: r.r15,
        r14: r.r14,
        r13: r.r13,
        r12: r.r12,
        rbp: r.bp,
        rbx: r.bx,
        r11: r.r11,
        r10: r.r10,
        r9: r.r9,
        r8: r.r8,
        rax: r.ax,
        rcx: r.cx,
        rdx: r.dx,
        rsi: r.si,
        rdi: r.di,
        orig_rax: r.orig_ax,
        rip: r.ip,
        cs: r.cs,
        eflags: r.flags,
        rsp: r.sp,
        ss: r.ss,
        fs_base: r.fs_base,
        gs_base: r.gs_base,
        ds: r.ds,
        es: r.es,
        fs: r.fs,
        gs: r.gs,
    }
}

/// CRIU writes an rseq entry for every thread; a null area means none.
fn read_rseq(entry: Option<&RseqEntry>) -> Option<RseqRegistration> {
    entry
        .filter(|e| e.rseq_abi_pointer != 0)
        .map(|e| RseqRegistration {
            addr: e.rseq_abi_pointer,
            len: e.rseq_abi_size,
            signature: e.signature,
        })
}

/// Reads a queue of pending signals, each a whole 128-byte siginfo.
pub(crate) fn read_signals(
    path: &Path,
    queue: Option<&SignalQueueEntry>,
) -> Result<Vec<PendingSignal>, CodecError> {
    let Some(queue) = queue else {
        return Ok(Vec::new());
    };
    queue
        .signals
        .iter()
        .map(|s| {
            let siginfo = s
                .siginfo
                .as_slice()
                .try_into()
                .map_err(|_| CodecError::BadLength {
                    path: path.into(),
                    what: "siginfo bytes",
                    found: s.siginfo.len(),
                    expected: 128,
                })?;
            Ok(PendingSignal { siginfo })
        })
        .collect()
}

fn read_creds(path: &Path, c: &CredsEntry) -> Result<Credentials, CodecError> {
    if c.groups.len() > MAX_GROUPS {
        return Err(CodecError::BadLength {
            path: path.into(),
            what: "creds.groups",
            found: c.groups.len(),
            expected: MAX_GROUPS,
        });
    }
    Ok(Credentials {
        uids: [c.uid, c.euid, c.suid, c.fsuid],
        gids: [c.gid, c.egid, c.sgid, c.fsgid],
        groups: c.groups.clone(),
        cap_inheritable: read_caps(path, "creds.cap_inh", &c.cap_inh, false)?,
        cap_permitted: read_caps(path, "creds.cap_prm", &c.cap_prm, false)?,
        cap_effective: read_caps(path, "creds.cap_eff", &c.cap_eff, false)?,
        cap_bounding: read_caps(path, "creds.cap_bnd", &c.cap_bnd, false)?,
        cap_ambient: read_caps(path, "creds.cap_amb", &c.cap_amb, true)?,
        securebits: c.secbits,
    })
}

/// A capability set from its words; `optional` sets (absent from CRIU
/// releases before the ambient set) may have none.
fn read_caps(
    path: &Path,
    what: &'static str,
    words: &[u32],
    optional: bool,
) -> Result<u64, CodecError> {
    match words {
        [low, high] => Ok(u64::from(*low) | u64::from(*high) << 32),
        [] if optional => Ok(0),
        _ => Err(CodecError::BadLength {
            path: path.into(),
            what,
            found: words.len(),
            expected: CAP_WORDS,
        }),
    }
}
