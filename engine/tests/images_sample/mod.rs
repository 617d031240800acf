//! A realistic small dump: a task with two threads and a child, written
//! through the public images API. Shared by the crit and fuzz tests.

#![allow(dead_code)]

use std::io::Write;
use std::os::fd::AsFd;

use engine::images::core::{
    task_state, CoreEntry, March, SeccompMode, TaskCoreEntry, TaskKobjIdsEntry, TaskRlimitsEntry,
    ThreadCoreEntry, ThreadSasEntry,
};
use engine::images::core_x86::{
    ThreadInfoX86, UserDescT, UserX86FpregsEntry, UserX86RegsEntry, UserX86RegsMode,
    UserX86XsaveEntry,
};
use engine::images::creds::CredsEntry;
use engine::images::eventfd::EventfdFileEntry;
use engine::images::fdinfo::{FdTypes, FdinfoEntry, FileEntry};
use engine::images::fown::FownEntry;
use engine::images::fs::FsEntry;
use engine::images::inventory::{InventoryEntry, Lsmtype, IMAGES_V1_1};
use engine::images::mm::MmEntry;
use engine::images::pipe::{PipeDataEntry, PipeEntry};
use engine::images::pstree::PstreeEntry;
use engine::images::regfile::RegFileEntry;
use engine::images::rlimit::RlimitEntry;
use engine::images::rseq::RseqEntry;
use engine::images::sa::SaEntry;
use engine::images::seccomp::{SeccompEntry, SeccompFilter};
use engine::images::siginfo::{SiginfoEntry, SignalQueueEntry};
use engine::images::timer::{ItimerEntry, PosixTimerEntry, TaskTimersEntry};
use engine::images::vma::{vma_status, VmaEntry};
use engine::images::{ImageDir, ImageKind, ImageName, PAGE_SIZE};

pub const LEADER: u32 = 4100;
pub const THREAD: u32 = 4101;
pub const CHILD: u32 = 4102;

const EXE_ID: u32 = 1;
const LOG_ID: u32 = 2;
const PIPE_R_ID: u32 = 3;
const PIPE_W_ID: u32 = 4;
const ROOT_ID: u32 = 5;
const CWD_ID: u32 = 6;
const EVENTFD_ID: u32 = 7;
pub const PIPE_INODE: u32 = 77_001;
const STACK_TOP: u64 = 0x7ffd_0000_0000;

/// Every entry of the sample dump, kept to compare with what is read back.
pub struct Sample {
    pub inventory: InventoryEntry,
    pub pstree: Vec<PstreeEntry>,
    pub leader: CoreEntry,
    pub thread: CoreEntry,
    pub child: CoreEntry,
    pub ids: TaskKobjIdsEntry,
    pub mm: MmEntry,
    pub child_mm: MmEntry,
    pub files: Vec<FileEntry>,
    pub fdinfo: Vec<FdinfoEntry>,
    pub fs: FsEntry,
    pub seccomp: SeccompEntry,
    /// (vaddr, bytes) of the leader's stored memory runs.
    pub page_runs: Vec<(u64, Vec<u8>)>,
}

impl Sample {
    pub fn new() -> Sample {
        let ids = ids();
        Sample {
            inventory: InventoryEntry {
                img_version: IMAGES_V1_1,
                fdinfo_per_id: Some(true),
                root_ids: Some(ids.clone()),
                ns_per_id: Some(true),
                root_cg_set: Some(1),
                lsmtype: Some(Lsmtype::NoLsm as i32),
                dump_uptime: Some(123_456_789),
                ..Default::default()
            },
            pstree: vec![
                PstreeEntry {
                    pid: LEADER,
                    ppid: 0,
                    pgid: LEADER,
                    sid: 4000,
                    threads: vec![LEADER, THREAD],
                },
                PstreeEntry {
                    pid: CHILD,
                    ppid: LEADER,
                    pgid: LEADER,
                    sid: 4000,
                    threads: vec![CHILD],
                },
            ],
            leader: leader_core(),
            thread: thread_core(THREAD, "worker", -5, None),
            child: thread_core(CHILD, "sample-child", 0, Some(task_core("sample-child"))),
            ids,
            mm: leader_mm(),
            child_mm: child_mm(),
            files: files(),
            fdinfo: fdinfo(),
            fs: FsEntry {
                cwd_id: CWD_ID,
                root_id: ROOT_ID,
                umask: Some(0o022),
            },
            seccomp: SeccompEntry {
                seccomp_filters: vec![SeccompFilter {
                    // BPF_RET|BPF_K, SECCOMP_RET_ALLOW
                    filter: vec![0x06, 0, 0, 0, 0, 0, 0xff, 0x7f],
                    prev: None,
                    flags: Some(0),
                }],
            },
            page_runs: vec![
                (0x60_2000, pattern(3, 0x11)),
                (STACK_TOP - 2 * PAGE_SIZE, pattern(2, 0x77)),
            ],
        }
    }

    /// Writes the whole dump into `dir` (not committed).
    pub fn write(&self, dir: &ImageDir) {
        let fixed = ImageName::fixed;
        let per = ImageName::with_id;
        dir.write_one(fixed(ImageKind::Inventory), &self.inventory)
            .unwrap();
        dir.write_entries(fixed(ImageKind::Pstree), &self.pstree)
            .unwrap();
        dir.write_one(per(ImageKind::Core, LEADER), &self.leader)
            .unwrap();
        dir.write_one(per(ImageKind::Core, THREAD), &self.thread)
            .unwrap();
        dir.write_one(per(ImageKind::Core, CHILD), &self.child)
            .unwrap();
        for pid in [LEADER, CHILD] {
            dir.write_one(per(ImageKind::Ids, pid), &self.ids).unwrap();
            dir.write_one(per(ImageKind::Fs, pid), &self.fs).unwrap();
        }
        dir.write_one(per(ImageKind::Mm, LEADER), &self.mm).unwrap();
        dir.write_one(per(ImageKind::Mm, CHILD), &self.child_mm)
            .unwrap();
        dir.write_entries(fixed(ImageKind::Files), &self.files)
            .unwrap();
        dir.write_entries(per(ImageKind::Fdinfo, self.ids.files_id), &self.fdinfo)
            .unwrap();
        dir.write_one(fixed(ImageKind::Seccomp), &self.seccomp)
            .unwrap();
        self.write_pipes_data(dir);
        self.write_leader_pages(dir);
        let mut child_pages = dir.pages_writer(CHILD, 2).unwrap();
        child_pages
            .write_pages(0x60_2000, &pattern(1, 0x33))
            .unwrap();
        child_pages.finish().unwrap();
    }

    fn write_pipes_data(&self, dir: &ImageDir) {
        let data = b"hello, pipe!\n";
        let mut pipes = dir.writer(ImageName::fixed(ImageKind::PipesData)).unwrap();
        let entry = PipeDataEntry {
            pipe_id: PIPE_INODE,
            bytes: data.len() as u32,
            size: Some(65536),
        };
        pipes.write_entry(&entry).unwrap();
        pipes.write_payload(data).unwrap();
        pipes.finish().unwrap();
    }

    /// The heap run goes in as two pages from memory then one page spliced
    /// from a pipe, which the writer merges into one run of three.
    fn write_leader_pages(&self, dir: &ImageDir) {
        let mut pages = dir.pages_writer(LEADER, 1).unwrap();
        let (heap, heap_bytes) = &self.page_runs[0];
        pages
            .write_pages(*heap, &heap_bytes[..2 * PAGE_SIZE as usize])
            .unwrap();
        let (rx, tx) = nix::unistd::pipe().unwrap();
        std::fs::File::from(tx)
            .write_all(&heap_bytes[2 * PAGE_SIZE as usize..])
            .unwrap();
        pages
            .splice_pages(heap + 2 * PAGE_SIZE, 1, rx.as_fd())
            .unwrap();
        let (stack, stack_bytes) = &self.page_runs[1];
        pages.write_pages(*stack, stack_bytes).unwrap();
        let summary = pages.finish().unwrap();
        assert_eq!((summary.nr_entries, summary.pages_len), (2, 5 * PAGE_SIZE));
    }
}

/// `nr_pages` pages, each byte derived from `seed` and its offset.
pub fn pattern(nr_pages: usize, seed: u8) -> Vec<u8> {
    (0..nr_pages * PAGE_SIZE as usize)
        .map(|i| seed.wrapping_add((i % 251) as u8))
        .collect()
}

fn ids() -> TaskKobjIdsEntry {
    TaskKobjIdsEntry {
        vm_id: 1,
        files_id: 1,
        fs_id: 1,
        sighand_id: 1,
        pid_ns_id: Some(2),
        net_ns_id: Some(3),
        ipc_ns_id: Some(4),
        uts_ns_id: Some(5),
        mnt_ns_id: Some(6),
        user_ns_id: Some(7),
        cgroup_ns_id: Some(8),
        time_ns_id: Some(9),
    }
}

fn leader_core() -> CoreEntry {
    let mut core = thread_core(LEADER, "sample-app", 0, Some(task_core("sample-app")));
    let thread_core = core.thread_core.as_mut().expect("thread core");
    thread_core.creds = Some(creds());
    thread_core.seccomp_mode = Some(SeccompMode::Filter as i32);
    thread_core.seccomp_filter = Some(0);
    core
}

fn task_core(comm: &str) -> TaskCoreEntry {
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
    }
}

fn thread_core(tid: u32, comm: &str, nice: i32, tc: Option<TaskCoreEntry>) -> CoreEntry {
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

fn vma(start: u64, end: u64, prot: u32, flags: u32, status: u32, shmid: u64) -> VmaEntry {
    VmaEntry {
        start,
        end,
        pgoff: 0,
        shmid,
        prot,
        flags,
        status,
        fd: -1,
        madv: None,
        fdflags: None,
    }
}

fn leader_mm() -> MmEntry {
    const R: u32 = 1;
    const W: u32 = 2;
    const X: u32 = 4;
    const PRIVATE: u32 = 0x2;
    const ANON: u32 = 0x20;
    const GROWSDOWN: u32 = 0x100;
    let file = vma_status::AREA_REGULAR | vma_status::FILE_PRIVATE;
    let anon = vma_status::AREA_REGULAR | vma_status::ANON_PRIVATE;
    let vmas = vec![
        vma(
            0x40_0000,
            0x40_1000,
            R | X,
            PRIVATE,
            file,
            u64::from(EXE_ID),
        ),
        vma(
            0x60_0000,
            0x60_2000,
            R | W,
            PRIVATE,
            file,
            u64::from(EXE_ID),
        ),
        vma(
            0x60_2000,
            0x62_3000,
            R | W,
            PRIVATE | ANON,
            anon | vma_status::AREA_HEAP,
            0,
        ),
        vma(
            0x7f00_0000_0000,
            0x7f00_0001_4000,
            R | W,
            PRIVATE | ANON,
            anon,
            0,
        ),
        vma(
            STACK_TOP - 0x2_2000,
            STACK_TOP,
            R | W,
            PRIVATE | ANON | GROWSDOWN,
            anon | vma_status::AREA_STACK,
            0,
        ),
        vma(
            STACK_TOP + 0x10_0000,
            STACK_TOP + 0x10_2000,
            R | X,
            PRIVATE,
            anon | vma_status::AREA_VDSO,
            0,
        ),
    ];
    MmEntry {
        mm_start_code: 0x40_0000,
        mm_end_code: 0x40_1000,
        mm_start_data: 0x60_0000,
        mm_end_data: 0x60_2000,
        mm_start_stack: STACK_TOP - 0x1000,
        mm_start_brk: 0x60_2000,
        mm_brk: 0x62_3000,
        mm_arg_start: STACK_TOP - 0x800,
        mm_arg_end: STACK_TOP - 0x7f0,
        mm_env_start: STACK_TOP - 0x7f0,
        mm_env_end: STACK_TOP - 0x10,
        exe_file_id: EXE_ID,
        // AT_PAGESZ, AT_ENTRY, AT_NULL pairs.
        mm_saved_auxv: vec![6, 4096, 9, 0x40_1000, 0, 0],
        vmas,
        dumpable: Some(1),
        aios: vec![],
        thp_disabled: Some(false),
    }
}

/// A forked child keeps its parent's layout; it loses the parent's
/// thread-stack mapping here. (`crit x rss` needs a VMA above the last
/// pagemap run, as real tasks always have: vdso, vsyscall.)
fn child_mm() -> MmEntry {
    let mut mm = leader_mm();
    mm.vmas.remove(3);
    mm
}

fn fown() -> FownEntry {
    FownEntry {
        uid: 0,
        euid: 0,
        signum: 0,
        pid_type: 0,
        pid: 0,
    }
}

fn reg(id: u32, name: &str, flags: u32, pos: u64, mode: u32) -> FileEntry {
    FileEntry {
        r#type: FdTypes::Reg as i32,
        id,
        reg: Some(RegFileEntry {
            id,
            flags,
            pos,
            fown: fown(),
            name: name.into(),
            mnt_id: Some(22),
            size: Some(16384),
            mode: Some(mode),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn pipe(id: u32, flags: u32) -> FileEntry {
    FileEntry {
        r#type: FdTypes::Pipe as i32,
        id,
        pipe: Some(PipeEntry {
            id,
            pipe_id: PIPE_INODE,
            flags,
            fown: fown(),
        }),
        ..Default::default()
    }
}

fn files() -> Vec<FileEntry> {
    const O_WRONLY: u32 = 0o1;
    const O_APPEND: u32 = 0o2000;
    const O_LARGEFILE: u32 = 0o100000;
    const O_DIRECTORY: u32 = 0o200000;
    vec![
        reg(EXE_ID, "/usr/bin/sample-app", O_LARGEFILE, 0, 0o100755),
        reg(
            LOG_ID,
            "/var/log/sample.log",
            O_WRONLY | O_APPEND | O_LARGEFILE,
            4096,
            0o100644,
        ),
        pipe(PIPE_R_ID, 0),
        pipe(PIPE_W_ID, O_WRONLY),
        reg(ROOT_ID, "/", O_DIRECTORY | O_LARGEFILE, 0, 0o40755),
        reg(CWD_ID, "/home/user", O_DIRECTORY | O_LARGEFILE, 0, 0o40755),
        FileEntry {
            r#type: FdTypes::Eventfd as i32,
            id: EVENTFD_ID,
            efd: Some(EventfdFileEntry {
                id: EVENTFD_ID,
                flags: 0o2,
                fown: fown(),
                counter: 5,
            }),
            ..Default::default()
        },
    ]
}

fn fdinfo() -> Vec<FdinfoEntry> {
    let fd = |fd, id, kind: FdTypes| FdinfoEntry {
        id,
        flags: 0,
        r#type: kind as i32,
        fd,
        xattr_security_selinux: None,
    };
    vec![
        fd(0, LOG_ID, FdTypes::Reg),
        fd(1, LOG_ID, FdTypes::Reg),
        fd(2, EVENTFD_ID, FdTypes::Eventfd),
        fd(3, PIPE_R_ID, FdTypes::Pipe),
        fd(4, PIPE_W_ID, FdTypes::Pipe),
    ]
}
