//! A process with a SysV shm area, in a tree with an IPC namespace of its own: the area goes
//! through the images as CRIU writes one (a regular shared area with the SysV status bit and
//! the segment's id) and comes back as the segment's, not as shared anonymous memory of
//! that id; the namespace comes back equal; an area whose segment the images lack is refused.

mod codec_sample;
#[path = "images_sample/ipc.rs"]
mod ipc_sample;

use codec_sample as sample;
use engine::codec::read_tree;
use engine::snapshot::{ProcessSnapshot, TreeSnapshot, VmaBacking, VmaSnapshot, PAGE_SIZE};

/// The sample process with segment 3 of the sample namespace (4097 bytes) attached whole.
fn with_segment() -> ProcessSnapshot {
    let mut process = sample::process();
    let start = 0x5000_0000_0000;
    process.memory.vmas.push(VmaSnapshot {
        start,
        end: start + 2 * PAGE_SIZE,
        prot: (libc::PROT_READ | libc::PROT_WRITE) as u32,
        flags: libc::MAP_SHARED as u32,
        pgoff: 0,
        backing: VmaBacking::SysvShm { shmid: 3 },
        madvise: 0,
        shmem_id: 0,
    });
    process.memory.vmas.sort_by_key(|vma| vma.start);
    process
}

fn tree(process: ProcessSnapshot, with_namespace: bool) -> TreeSnapshot {
    TreeSnapshot {
        processes: vec![process],
        zombies: Vec::new(),
        ipc: with_namespace.then(ipc_sample::ipc_namespace),
    }
}

#[test]
fn sysv_area_and_its_namespace_read_back_equal() {
    let dir = sample::scratch_dir("sysv-area");
    let written = tree(with_segment(), true);
    sample::dump_tree(&dir, &written);
    let read = read_tree(&dir).unwrap_or_else(|e| panic!("{e}")).tree;
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(read.processes, written.processes);
    assert_eq!(read.ipc, written.ipc);
    read.validate().unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn sysv_area_without_its_segment_is_refused() {
    let dir = sample::scratch_dir("sysv-area-alone");
    sample::dump_tree(&dir, &tree(with_segment(), false));
    let read = read_tree(&dir).unwrap_or_else(|e| panic!("{e}")).tree;
    std::fs::remove_dir_all(&dir).unwrap();
    let refused = read.validate().unwrap_err().to_string();
    assert!(refused.contains("SysV shm id of an area"), "{refused}");
}
