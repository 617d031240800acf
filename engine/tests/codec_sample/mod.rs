//! A realistic process snapshot for the codec tests, and a dump of it.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use engine::codec::{read_tree, write_tree, CodecError};
use engine::images::ImageDir;
use engine::snapshot::{
    Credentials, FdSnapshot, FileLockKind, FileLockSnapshot, FileSnapshot, InvisibleFiles,
    ItimerValue, MemorySnapshot, MmFields, PageRun, PendingSignal, PipeSnapshot, PosixTimer,
    ProcessSnapshot, RegularFile, Rlimit, RseqRegistration, SigAction, SigAltStack, ThreadSnapshot,
    TreeSnapshot, VmaBacking, VmaSnapshot, PAGE_SIZE,
};

pub const PID: i32 = 4242;
pub const TID: i32 = 4243;
pub const PIPE_ID: u32 = 77_001;
pub const PIPE_DATA: &[u8] = b"queued in the pipe, waiting for a reader";
pub const LOG_PATH: &str = "/var/tmp/crust-sample.log";
pub const LOG_POS: u64 = 1234;

const EXE_ID: u32 = 3;

/// A fresh, empty directory for one test.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("crust-codec-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Dumps `process` into `path` as the dump does: pages through the pages
/// writer, then every other image, then commit.
pub fn dump(path: &Path, process: &ProcessSnapshot) {
    let tree = TreeSnapshot {
        processes: vec![process.clone()],
        zombies: Vec::new(),
        ipc: None,
    };
    dump_tree(path, &tree);
}

/// Dumps `tree`, whose one process is the sample's pid, as [`dump`] does.
pub fn dump_tree(path: &Path, tree: &TreeSnapshot) {
    let process = &tree.processes[0];
    let dir = ImageDir::create(path).unwrap();
    let mut pages = dir.pages_writer(PID as u32, PAGES_ID).unwrap();
    for run in &process.memory.pages {
        pages
            .write_pages(run.addr, &page_bytes(run.addr, run.pages))
            .unwrap();
    }
    pages.finish().unwrap();
    write_tree(&dir, tree).unwrap();
    dir.commit().unwrap();
}

/// The pages image id of the sample's one process.
pub const PAGES_ID: u32 = 1;

/// A process read back from images, with its pages image.
#[derive(Debug)]
pub struct ReadBack {
    pub process: ProcessSnapshot,
    pub pages_path: PathBuf,
}

/// Reads the images of a one-process dump back.
pub fn read_process(path: &Path) -> Result<ReadBack, CodecError> {
    let mut images = read_tree(path)?;
    assert_eq!(images.tree.processes.len(), 1, "one process in {path:?}");
    Ok(ReadBack {
        process: images.tree.processes.remove(0),
        pages_path: images.pages_paths.remove(0),
    })
}

/// Recognisable contents for the pages of a run.
pub fn page_bytes(addr: u64, pages: u64) -> Vec<u8> {
    (0..pages * PAGE_SIZE)
        .map(|i| ((addr + i) / 8 % 251) as u8)
        .collect()
}

/// A two-thread process with file, anonymous, heap, stack and kernel
/// areas, regular, pipe and /dev/null fds, pending signals and timers.
pub fn process() -> ProcessSnapshot {
    ProcessSnapshot {
        pid: PID,
        ppid: 0,
        pgid: PID,
        sid: 4000,
        threads: vec![
            thread(PID, "sample", true),
            thread(TID, "sample-worker", false),
        ],
        memory: memory(),
        files: files(),
        fds: vec![
            fd(0, 5, false),
            fd(1, 1, false),
            fd(3, 2, true),
            fd(4, 4, true),
        ],
        pipe_data: vec![(PIPE_ID, PIPE_DATA.to_vec())],
        file_locks: file_locks(),
        invisible: InvisibleFiles::default(),
        cwd: "/var/tmp".into(),
        root: "/".into(),
        umask: 0o027,
        sigactions: sigactions(),
        shared_pending: vec![siginfo(libc::SIGUSR1, 11)],
        itimers: [
            ItimerValue {
                interval_us: 1_500_000,
                value_us: 250_001,
            },
            ItimerValue::default(),
            ItimerValue {
                interval_us: 0,
                value_us: 3_000_000,
            },
        ],
        posix_timers: vec![
            PosixTimer {
                id: 0,
                clock_id: libc::CLOCK_MONOTONIC,
                notify: libc::SIGEV_SIGNAL,
                notify_tid: 0,
                signal: libc::SIGALRM,
                sigev_value: 0xfeed,
                interval_ns: 2_000_000_001,
                value_ns: 999_999_999,
                overrun: 2,
            },
            PosixTimer {
                id: 1,
                // A thread CPU clock: a negative id.
                clock_id: -(TID * 8) - 2,
                notify: 4,
                notify_tid: TID,
                signal: libc::SIGRTMIN() + 1,
                sigev_value: 0,
                interval_ns: 0,
                value_ns: 5,
                overrun: 0,
            },
        ],
        rlimits: (0..16)
            .map(|i| Rlimit {
                soft: if i == 7 { 1024 } else { u64::MAX },
                hard: if i == 7 { 4096 } else { u64::MAX },
            })
            .collect(),
        personality: 0x0040_0000,
        no_new_privs: true,
        dumpable: 1,
        child_subreaper: true,
        exit_signal: libc::SIGCHLD,
        stopped: false,
        shares_fs_with_parent: false,
        shares_files_with_parent: false,
        ttys: Vec::new(),
    }
}

fn thread(tid: i32, comm: &str, leader: bool) -> ThreadSnapshot {
    let regs = compel::ptrace::UserRegs {
        rip: 0x40_0123,
        rsp: 0x7ffd_0000_3f00,
        rax: u64::MAX - 3,
        orig_rax: 35,
        cs: 0x33,
        ss: 0x2b,
        eflags: 0x246,
        fs_base: 0x7f00_0000_1740 + tid as u64,
        r15: 15,
        rdi: 0xdead_beef,
        ..Default::default()
    };
    ThreadSnapshot {
        tid,
        regs,
        xstate: xstate(tid as u8),
        sigmask: if leader {
            1 << 9
        } else {
            0x0000_0001_0000_0000
        },
        altstack: SigAltStack {
            sp: if leader { 0x7f00_0000_8000 } else { 0 },
            flags: if leader { i32::MIN } else { libc::SS_DISABLE },
            size: if leader { 0x4000 } else { 0 },
        },
        clear_tid_addr: 0x7f00_0000_1a10 + tid as u64,
        robust_list: (0x7f00_0000_1a20, 24),
        rseq: leader.then_some(RseqRegistration {
            addr: 0x7f00_0000_1e00,
            len: 32,
            signature: 0x5305_3053,
        }),
        pdeath_signal: if leader { 0 } else { libc::SIGTERM },
        comm: comm.into(),
        pending: if leader {
            vec![]
        } else {
            vec![siginfo(libc::SIGUSR2, 3)]
        },
        creds: Credentials {
            uids: [1000, 1001, 1002, 1003],
            gids: [100, 101, 102, 103],
            groups: vec![4, 24, 27],
            cap_inheritable: 1 << 10,
            cap_permitted: (1 << 40) | (1 << 10) | 1,
            cap_effective: 1 << 10,
            cap_bounding: (1 << 41) - 1,
            cap_ambient: 1 << 10,
            securebits: 0x2f,
        },
    }
}

/// An xsave area of this CPU's size, as the kernel lays it out: legacy
/// area and the AVX upper halves patterned, everything else zero.
pub fn xstate(seed: u8) -> Vec<u8> {
    let info = arch::x86_64::cpuid::xstate_info().unwrap();
    let mut area = vec![0u8; info.size as usize];
    for (i, byte) in area[..512].iter_mut().enumerate() {
        *byte = seed.wrapping_add(i as u8);
    }
    area[512..520].copy_from_slice(&0b111u64.to_le_bytes());
    let ymm = core::arch::x86_64::__cpuid_count(0xd, 2).ebx as usize;
    for (i, byte) in area[ymm..ymm + 256].iter_mut().enumerate() {
        *byte = seed ^ (i as u8);
    }
    area
}

fn siginfo(signo: i32, value: u8) -> PendingSignal {
    let mut siginfo = [value; 128];
    siginfo[..4].copy_from_slice(&signo.to_ne_bytes());
    PendingSignal { siginfo }
}

fn sigactions() -> Vec<SigAction> {
    (1..=64)
        .map(|signal| match signal {
            libc::SIGINT | libc::SIGUSR1 => SigAction {
                handler: 0x40_1000 + signal as u64,
                flags: (libc::SA_SIGINFO | libc::SA_RESTART) as u64 | 0x0400_0000,
                restorer: 0x7f00_0000_2000,
                mask: 1 << 14,
            },
            libc::SIGPIPE => SigAction {
                handler: 1,
                ..Default::default()
            },
            _ => SigAction::default(),
        })
        .collect()
}

fn vma(start: u64, end: u64, prot: i32, flags: i32, backing: VmaBacking) -> VmaSnapshot {
    VmaSnapshot {
        start,
        end,
        prot: prot as u32,
        flags: flags as u32,
        pgoff: 0,
        backing,
        madvise: 0,
        shmem_id: 0,
    }
}

fn memory() -> MemorySnapshot {
    use libc::{MAP_ANONYMOUS as ANON, MAP_GROWSDOWN, MAP_PRIVATE as PRIV, MAP_SHARED as SHARED};
    let (r, rw, rx) = (
        libc::PROT_READ,
        libc::PROT_READ | libc::PROT_WRITE,
        libc::PROT_READ | libc::PROT_EXEC,
    );
    let exe = VmaBacking::File { file_id: EXE_ID };
    let mut data = vma(0x40_1000, 0x40_3000, rw, PRIV, exe.clone());
    data.pgoff = 1;
    let mut anon = vma(
        0x7f00_0001_0000,
        0x7f00_0001_4000,
        rw,
        PRIV | ANON,
        VmaBacking::Anonymous,
    );
    anon.madvise = 1 << libc::MADV_DONTFORK;
    let vmas = vec![
        vma(0x40_0000, 0x40_1000, rx, PRIV, exe),
        data,
        vma(0x60_0000, 0x61_0000, rw, PRIV | ANON, VmaBacking::Heap),
        anon,
        vma(
            0x7f00_0002_0000,
            0x7f00_0002_2000,
            rw,
            SHARED | ANON,
            VmaBacking::Anonymous,
        ),
        vma(
            0x7f00_0003_0000,
            0x7f00_0003_4000,
            r,
            PRIV,
            VmaBacking::Vvar,
        ),
        vma(
            0x7f00_0003_4000,
            0x7f00_0003_6000,
            r,
            PRIV,
            VmaBacking::VvarVclock,
        ),
        vma(
            0x7f00_0003_6000,
            0x7f00_0003_8000,
            rx,
            PRIV,
            VmaBacking::Vdso,
        ),
        vma(
            0x7ffd_0000_0000,
            0x7ffd_0002_1000,
            rw,
            PRIV | ANON | MAP_GROWSDOWN,
            VmaBacking::Stack,
        ),
        vma(
            0xffff_ffff_ff60_0000,
            0xffff_ffff_ff60_1000,
            libc::PROT_EXEC,
            PRIV,
            VmaBacking::Vsyscall,
        ),
    ];
    MemorySnapshot {
        vmas,
        mm: MmFields {
            start_code: 0x40_0000,
            end_code: 0x40_0fff,
            start_data: 0x40_1000,
            end_data: 0x40_2800,
            start_brk: 0x60_0000,
            brk: 0x60_f000,
            start_stack: 0x7ffd_0002_0000,
            arg_start: 0x7ffd_0002_0100,
            arg_end: 0x7ffd_0002_0180,
            env_start: 0x7ffd_0002_0180,
            env_end: 0x7ffd_0002_0ff0,
        },
        auxv: vec![33, 0x7f00_0003_6000, 6, 4096, 25, 0x7ffd_0002_0200, 0, 0],
        exe_file_id: EXE_ID,
        pages: vec![
            PageRun {
                addr: 0x40_2000,
                pages: 1,
            },
            PageRun {
                addr: 0x60_0000,
                pages: 3,
            },
            PageRun {
                addr: 0x7f00_0001_1000,
                pages: 2,
            },
            PageRun {
                addr: 0x7ffd_0001_f000,
                pages: 2,
            },
        ],
    }
}

/// A flock and a POSIX write lock on bytes 10-29, both through fd 1 (the log).
fn file_locks() -> Vec<FileLockSnapshot> {
    let lock = |kind, exclusive, start, len| FileLockSnapshot {
        kind,
        exclusive,
        fd: 1,
        start,
        len,
    };
    vec![
        lock(FileLockKind::Flock, false, 0, 0),
        lock(FileLockKind::Posix, true, 10, 20),
    ]
}

fn files() -> Vec<FileSnapshot> {
    let regular = |id, path: &str, flags, pos, size, mode| FileSnapshot::Regular {
        id,
        file: RegularFile {
            path: path.into(),
            flags: flags as u32,
            pos,
            size,
            mode,
        },
    };
    let pipe = |id, flags: i32| FileSnapshot::Pipe {
        id,
        pipe: PipeSnapshot {
            pipe_id: PIPE_ID,
            flags: flags as u32,
        },
    };
    vec![
        regular(
            1,
            LOG_PATH,
            libc::O_WRONLY | libc::O_APPEND,
            LOG_POS,
            4096,
            0o100644,
        ),
        pipe(2, libc::O_RDONLY),
        regular(
            EXE_ID,
            "/usr/bin/sample",
            libc::O_RDONLY,
            0,
            14_000,
            0o100755,
        ),
        pipe(4, libc::O_WRONLY | libc::O_NONBLOCK),
        regular(5, "/dev/null", libc::O_RDWR, 0, 0, 0o20666),
    ]
}

fn fd(fd: i32, file_id: u32, cloexec: bool) -> FdSnapshot {
    FdSnapshot {
        fd,
        file_id,
        cloexec,
    }
}
