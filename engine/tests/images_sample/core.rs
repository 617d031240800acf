//! Core images of the sample: task and thread state, x86 registers.

use engine::images::core::{
    task_state, CoreEntry, March, SeccompMode, TaskCoreEntry, TaskRlimitsEntry, ThreadCoreEntry,
    ThreadSasEntry,
};
use engine::images::core_x86::{
    ThreadInfoX86, UserDescT, UserX86FpregsEntry, UserX86RegsEntry, UserX86RegsMode,
    UserX86XsaveEntry,
};
use engine::images::creds::CredsEntry;
use engine::images::rlimit::RlimitEntry;
use engine::images::rseq::RseqEntry;
use engine::images::sa::SaEntry;
use engine::images::siginfo::{SiginfoEntry, SignalQueueEntry};
use engine::images::timer::{ItimerEntry, PosixTimerEntry, TaskTimersEntry};

use super::{LEADER, STACK_TOP};

pub fn leader_core() -> CoreEntry {
    let mut core = thread_core(LEADER, "sample-app", 0, Some(task_core("sample-app")));
    let thread_core = core.thread_core.as_mut().expect("thread core");
    thread_core.creds = Some(creds());
    thread_core.seccomp_mode = Some(SeccompMode::Filter as i32);
    thread_core.seccomp_filter = Some(0);
    core
}

pub fn task_core(comm: &str) -> TaskCoreEntry {
    let mut siginfo = vec![0u8; 128];
    siginfo[0] = 10; // si_signo = SIGUSR1
    siginfo[16..20].copy_from_slice(&LEADER.to_le_bytes()); // si_pid
    TaskCoreEntry {
        task_state: task_state::ALIVE,
        exit_code: 0,
        personality: 0,
        flags: 0x40,
        blk_sigset: 1 << 9,
        comm: comm.into(),
        timers: Some(timers()),
        rlimits: Some(TaskRlimitsEntry { rlimits: rlimits() }),
        cg_set: Some(1),
        signals_s: Some(SignalQueueEntry {
            signals: vec![SiginfoEntry { siginfo }],
        }),
        loginuid: Some(1000),
        oom_score_adj: Some(200),
        sigactions: sigactions(),
        child_subreaper: Some(true),
        ..Default::default()
    }
}

fn timers() -> TaskTimersEntry {
    let zero = ItimerEntry {
        isec: 0,
        iusec: 0,
        vsec: 0,
        vusec: 0,
    };
    TaskTimersEntry {
        real: ItimerEntry {
            isec: 2,
            iusec: 0,
            vsec: 1,
            vusec: 500_000,
        },
        virt: zero.clone(),
        prof: zero,
        posix: vec![PosixTimerEntry {
            it_id: 0,
            clock_id: 1,
            si_signo: 14,
            it_sigev_notify: 0,
            sival_ptr: 0x1234,
            overrun: 0,
            isec: 0,
            insec: 500_000_000,
            vsec: 0,
            vnsec: 250_000_000,
            notify_thread_id: None,
        }],
    }
}

fn rlimits() -> Vec<RlimitEntry> {
    (0..16)
        .map(|resource| match resource {
            7 => RlimitEntry {
                cur: 1024,
                max: 4096,
            },
            3 => RlimitEntry {
                cur: 8 << 20,
                max: u64::MAX,
            },
            _ => RlimitEntry {
                cur: u64::MAX,
                max: u64::MAX,
            },
        })
        .collect()
}

fn sigactions() -> Vec<SaEntry> {
    (1..=64u64)
        .map(|signo| SaEntry {
            sigaction: if signo == 10 { 0x40_1230 } else { 0 },
            flags: if signo == 10 { 0x0400_0004 } else { 0 },
            restorer: if signo == 10 { 0x7f00_0004_5320 } else { 0 },
            mask: 0,
            compat_sigaction: Some(false),
            mask_extended: None,
        })
        .collect()
}

fn creds() -> CredsEntry {
    CredsEntry {
        uid: 1000,
        gid: 1000,
        euid: 1000,
        egid: 1000,
        suid: 1000,
        sgid: 1000,
        fsuid: 1000,
        fsgid: 1000,
        cap_inh: vec![0, 0],
        cap_prm: vec![0, 0],
        cap_eff: vec![0, 0],
        cap_bnd: vec![0xffff_ffff, 0x1ff],
        secbits: 0,
        groups: vec![1000, 27],
        lsm_profile: None,
        lsm_sockcreate: None,
        apparmor_data: None,
        no_new_privs: None,
        cap_amb: vec![],
    }
}

pub fn thread_core(tid: u32, comm: &str, nice: i32, tc: Option<TaskCoreEntry>) -> CoreEntry {
    let tls_base = 0x7f00_0000_2000 + u64::from(tid - LEADER) * 0x1000;
    CoreEntry {
        mtype: March::X86_64 as i32,
        thread_info: Some(thread_info(tls_base)),
        tc,
        ids: None,
        thread_core: Some(ThreadCoreEntry {
            futex_rla: tls_base + 0xa20,
            futex_rla_len: 24,
            sched_nice: Some(nice),
            sched_policy: Some(0),
            sched_prio: Some(0),
            blk_sigset: Some(1 << 9),
            sas: Some(ThreadSasEntry {
                ss_sp: 0x7f00_0001_0000,
                ss_size: 8192,
                ss_flags: 0,
            }),
            pdeath_sig: Some(0),
            signals_p: Some(SignalQueueEntry { signals: vec![] }),
            comm: Some(comm.into()),
            rseq_entry: Some(RseqEntry {
                rseq_abi_pointer: tls_base + 0xfe0,
                rseq_abi_size: 32,
                signature: 0x5305_3053,
                rseq_cs_pointer: Some(0),
            }),
            ..Default::default()
        }),
    }
}

fn thread_info(tls_base: u64) -> ThreadInfoX86 {
    ThreadInfoX86 {
        clear_tid_addr: tls_base + 0xa10,
        gpregs: UserX86RegsEntry {
            r15: 1,
            r14: 2,
            r13: 3,
            r12: 4,
            bp: STACK_TOP - 0x1000,
            bx: 6,
            r11: 0x246,
            r10: 8,
            r9: 9,
            r8: 10,
            ax: u64::MAX - 3, // -ERESTARTNOHAND from an interrupted pause()
            cx: 0x40_1102,
            dx: 13,
            si: 14,
            di: 15,
            orig_ax: 34,
            ip: 0x40_1100,
            cs: 0x33,
            flags: 0x246,
            sp: STACK_TOP - 0x1100,
            ss: 0x2b,
            fs_base: tls_base,
            gs_base: 0,
            ds: 0,
            es: 0,
            fs: 0,
            gs: 0,
            mode: Some(UserX86RegsMode::Native as i32),
        },
        fpregs: UserX86FpregsEntry {
            cwd: 0x37f,
            swd: 0,
            twd: 0,
            fop: 0,
            rip: 0,
            rdp: 0,
            mxcsr: 0x1f80,
            mxcsr_mask: 0xffff,
            st_space: (0..32).collect(),
            xmm_space: (100..164).collect(),
            padding: vec![0; 24],
            xsave: Some(UserX86XsaveEntry {
                xstate_bv: 0x7,
                ymmh_space: (1000..1064).collect(),
                ..Default::default()
            }),
        },
        tls: (12..15)
            .map(|entry_number| UserDescT {
                entry_number,
                base_addr: 0,
                limit: 0,
                seg_32bit: false,
                contents_h: false,
                contents_l: false,
                read_exec_only: true,
                limit_in_pages: false,
                seg_not_present: true,
                usable: false,
            })
            .collect(),
    }
}
