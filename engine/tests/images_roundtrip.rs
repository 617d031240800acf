//! What crust writes, its own readers read back equal, and `show` decodes
//! every image of a dump.

mod images_sample;

use std::fs;

use engine::images::core::CoreEntry;
use engine::images::fdinfo::{FdinfoEntry, FileEntry};
use engine::images::fs::FsEntry;
use engine::images::mm::MmEntry;
use engine::images::pipe::PipeDataEntry;
use engine::images::pstree::PstreeEntry;
use engine::images::seccomp::SeccompEntry;
use engine::images::sk_packet::SkPacketEntry;
use engine::images::tty::{TtyDataEntry, TtyInfoEntry};
use engine::images::{ImageDir, ImageKind, ImageName};
use images_sample::{write_sample, Scratch, LEADER, THREAD};

#[test]
fn what_crust_writes_it_reads_back_equal() {
    let scratch = Scratch::new("roundtrip");
    let sample = write_sample(&scratch.0);
    let dir = ImageDir::open(&scratch.0).expect("open dump");

    let inventory = dir.read_inventory().expect("a supported inventory");
    assert_eq!(inventory, sample.inventory);
    let pstree: Vec<PstreeEntry> = dir
        .read_entries(ImageName::fixed(ImageKind::Pstree))
        .unwrap();
    assert_eq!(pstree, sample.pstree);
    let leader: CoreEntry = dir
        .read_one(ImageName::with_id(ImageKind::Core, LEADER))
        .unwrap();
    assert_eq!(leader, sample.leader);
    let thread: CoreEntry = dir
        .read_one(ImageName::with_id(ImageKind::Core, THREAD))
        .unwrap();
    assert_eq!(thread, sample.thread);
    let mm: MmEntry = dir
        .read_one(ImageName::with_id(ImageKind::Mm, LEADER))
        .unwrap();
    assert_eq!(mm, sample.mm);
    let files: Vec<FileEntry> = dir
        .read_entries(ImageName::fixed(ImageKind::Files))
        .unwrap();
    assert_eq!(files, sample.files);
    let fds: Vec<FdinfoEntry> = dir
        .read_entries(ImageName::with_id(ImageKind::Fdinfo, 1))
        .unwrap();
    assert_eq!(fds, sample.fdinfo);
    let fs_entry: FsEntry = dir
        .read_one(ImageName::with_id(ImageKind::Fs, LEADER))
        .unwrap();
    assert_eq!(fs_entry, sample.fs);
    let seccomp: SeccompEntry = dir.read_one(ImageName::fixed(ImageKind::Seccomp)).unwrap();
    assert_eq!(seccomp, sample.seccomp);
    let tty_info: TtyInfoEntry = dir.read_one(ImageName::fixed(ImageKind::TtyInfo)).unwrap();
    assert_eq!(tty_info, sample.tty_info);
    let tty_data: TtyDataEntry = dir.read_one(ImageName::fixed(ImageKind::TtyData)).unwrap();
    assert_eq!(tty_data, sample.tty_data);
    let mut queues = dir.reader(ImageName::fixed(ImageKind::SkQueues)).unwrap();
    let packet: SkPacketEntry = queues.next_entry().unwrap().expect("one packet");
    assert_eq!(packet, sample.sk_queue);
    assert_eq!(
        queues.read_payload(u64::from(packet.length)).unwrap(),
        b"ping!"
    );

    let mut pipes = dir.reader(ImageName::fixed(ImageKind::PipesData)).unwrap();
    let entry: PipeDataEntry = pipes.next_entry().unwrap().expect("one pipe");
    assert_eq!(
        pipes.read_payload(u64::from(entry.bytes)).unwrap(),
        b"hello, pipe!\n"
    );
    assert!(pipes.next_entry::<PipeDataEntry>().unwrap().is_none());

    let pages = dir.pages_reader(LEADER).expect("pagemap and pages");
    assert_eq!(pages.runs().len(), 2);
    for (run, expected) in pages.runs().iter().zip(&sample.page_runs) {
        let mut buf = vec![0u8; run.len() as usize];
        pages.read_run(run, &mut buf).unwrap();
        assert_eq!(run.vaddr, expected.0);
        assert!(
            buf == expected.1,
            "pages of the run at {:#x} differ",
            run.vaddr
        );
    }
}

#[test]
fn show_decodes_every_image_of_the_dump() {
    let scratch = Scratch::new("show");
    write_sample(&scratch.0);
    fs::write(scratch.0.join("cgroup.img"), b"not ours").unwrap();
    let shown = engine::images::show_dir(&scratch.0).expect("show");
    let images = shown["images"].as_array().expect("images");
    assert_eq!(images.len(), 27, "{shown:#}");
    for image in images {
        assert!(image.get("error").is_none(), "{image}");
    }
    let find = |file: &str| {
        images
            .iter()
            .find(|i| i["file"] == file)
            .expect(file)
            .clone()
    };
    assert_eq!(find("cgroup.img")["kind"], "unknown");
    assert_eq!(find("pages-1.img")["size"], 5 * 4096);
    let core = find(&format!("core-{LEADER}.img"));
    assert_eq!(core["entries"][0]["tc"]["comm"], "sample-app");
    assert_eq!(core["entries"][0]["mtype"], "X86_64");
    assert_eq!(find("pipes-data.img")["entries"][0]["extra"], "<13 bytes>");
    assert_eq!(
        find("ipcns-shm-1.img")["entries"][0]["extra"],
        "<4097 bytes>"
    );
    let queue = &find("ipcns-msg-1.img")["entries"][0];
    assert_eq!(queue["messages"][1]["msize"], 9);
}

#[test]
fn the_ipc_namespace_reads_back_equal() {
    let scratch = Scratch::new("roundtrip-ipc");
    let sample = write_sample(&scratch.0);
    let dir = ImageDir::open(&scratch.0).expect("open dump");
    let ipc = engine::codec::ipc::read_ipc(&dir, engine::codec::ipc::IPC_NS_ID);
    assert_eq!(ipc.expect("the sample's IPC namespace"), sample.ipc);
}
