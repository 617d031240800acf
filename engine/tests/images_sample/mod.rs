//! A realistic small dump: a task with two threads and a child, written
//! through the public images API. Shared by the crit and fuzz tests.

#![allow(dead_code)]

use std::io::Write;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use engine::images::core::{CoreEntry, TaskKobjIdsEntry};
use engine::images::fdinfo::{FdinfoEntry, FileEntry};
use engine::images::fs::FsEntry;
use engine::images::inventory::{InventoryEntry, Lsmtype, IMAGES_V1_1};
use engine::images::mm::MmEntry;
use engine::images::pipe::PipeDataEntry;
use engine::images::pstree::PstreeEntry;
use engine::images::seccomp::{SeccompEntry, SeccompFilter};
use engine::images::sk_packet::SkPacketEntry;
use engine::images::tty::{TtyDataEntry, TtyInfoEntry};
use engine::images::{ImageDir, ImageKind, ImageName, PAGE_SIZE};

mod core;
mod files;
pub mod ipc;
mod mm;
mod special;

use self::core::{leader_core, task_core, thread_core};
use files::{fdinfo, files};
use mm::{child_mm, leader_mm};
use special::{sk_queue, special_fds, special_files, tty_info, QUEUED};

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
    pub sk_queue: SkPacketEntry,
    pub tty_info: TtyInfoEntry,
    pub tty_data: TtyDataEntry,
    /// (vaddr, bytes) of the leader's stored memory runs.
    pub page_runs: Vec<(u64, Vec<u8>)>,
    /// The tree's own IPC namespace.
    pub ipc: engine::snapshot::IpcNamespaceSnapshot,
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
            files: files().into_iter().chain(special_files()).collect(),
            fdinfo: fdinfo().into_iter().chain(special_fds()).collect(),
            sk_queue: sk_queue(),
            tty_info: tty_info(),
            tty_data: TtyDataEntry {
                tty_id: special::TTY_INFO_ID,
                data: b"ls\n".to_vec(),
            },
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
            ipc: ipc::ipc_namespace(),
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
        self.write_terminal_and_queues(dir);
        let mut child_pages = dir.pages_writer(CHILD, 2).unwrap();
        child_pages
            .write_pages(0x60_2000, &pattern(1, 0x33))
            .unwrap();
        child_pages.finish().unwrap();
        engine::codec::ipc::write_ipc(dir, LEADER as i32, &self.ipc).unwrap();
    }

    fn write_terminal_and_queues(&self, dir: &ImageDir) {
        let fixed = ImageName::fixed;
        dir.write_one(fixed(ImageKind::TtyInfo), &self.tty_info)
            .unwrap();
        dir.write_one(fixed(ImageKind::TtyData), &self.tty_data)
            .unwrap();
        let mut queues = dir.writer(fixed(ImageKind::SkQueues)).unwrap();
        queues.write_entry(&self.sk_queue).unwrap();
        queues.write_payload(QUEUED).unwrap();
        queues.finish().unwrap();
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

/// A fresh directory under the system temp dir, removed when dropped.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(tag: &str) -> Scratch {
        let path = std::env::temp_dir().join(format!("crust-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        Scratch(path)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Writes the sample dump into `dir` and commits it.
pub fn write_sample(dir: &Path) -> Sample {
    let sample = Sample::new();
    let images = ImageDir::create(dir).expect("create image dir");
    sample.write(&images);
    images.commit().expect("commit");
    sample
}
