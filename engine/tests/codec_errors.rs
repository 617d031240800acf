//! Images that are well formed but say something crust cannot restore give
//! errors naming the image and what is wrong in it.

mod codec_sample;

use std::path::{Path, PathBuf};

use codec_sample as sample;
use codec_sample::read_process;
use engine::codec::CodecError;
use engine::images::core::CoreEntry;
use engine::images::core_x86::UserX86XsaveEntry;
use engine::images::fdinfo::{FdTypes, FdinfoEntry, FileEntry};
use engine::images::inventory::InventoryEntry;
use engine::images::mm::MmEntry;
use engine::images::pstree::PstreeEntry;
use engine::images::vma::vma_status;
use engine::images::{ImageKind, ImageReader};
use prost::Message;

/// A dump of the sample whose image `name` went through `edit`.
fn dump_with<M: Message + Default>(
    test: &str,
    name: &str,
    kind: ImageKind,
    edit: impl FnOnce(&mut Vec<M>),
) -> PathBuf {
    let dir = sample::scratch_dir(test);
    sample::dump(&dir, &sample::process());
    let path = dir.join(name);
    let mut entries: Vec<M> = ImageReader::open(&path, kind)
        .unwrap()
        .read_entries()
        .unwrap();
    edit(&mut entries);
    let mut bytes: Vec<u8> = kind.magics().iter().flat_map(|m| m.to_le_bytes()).collect();
    for entry in &entries {
        let encoded = entry.encode_to_vec();
        bytes.extend((encoded.len() as u32).to_le_bytes());
        bytes.extend(encoded);
    }
    std::fs::write(path, bytes).unwrap();
    dir
}

fn read_error(dir: &Path) -> CodecError {
    let err = read_process(dir).unwrap_err();
    std::fs::remove_dir_all(dir).unwrap();
    err
}

#[test]
fn memory_crust_does_not_restore_is_named() {
    let dir = dump_with(
        "err-vma",
        "mm-4242.img",
        ImageKind::Mm,
        |mm: &mut Vec<MmEntry>| {
            mm[0].vmas[3].status |= vma_status::AREA_SOCKET;
        },
    );
    let expected = format!(
        "image {}: area 0x7f0000010000-0x7f0000014000 has status 0xa01: \
         it is a kind of memory crust does not restore",
        dir.join("mm-4242.img").display()
    );
    assert_eq!(read_error(&dir).to_string(), expected);
}

#[test]
fn contradictory_vma_status_is_refused() {
    let dir = dump_with(
        "err-vma2",
        "mm-4242.img",
        ImageKind::Mm,
        |mm: &mut Vec<MmEntry>| {
            mm[0].vmas[2].status |= vma_status::AREA_STACK;
        },
    );
    assert!(matches!(
        read_error(&dir),
        CodecError::BadVmaStatus {
            start: 0x60_0000,
            ..
        }
    ));
}

#[test]
fn a_file_id_described_twice_is_refused() {
    let dir = dump_with(
        "err-dup",
        "files.img",
        ImageKind::Files,
        |f: &mut Vec<FileEntry>| {
            let copy = f[0].clone();
            f.push(copy);
        },
    );
    let err = read_error(&dir).to_string();
    assert!(
        err.ends_with("files.img: file id 1 is described twice"),
        "{err}"
    );
}

#[test]
fn a_socket_is_a_file_crust_does_not_restore() {
    let dir = dump_with(
        "err-sock",
        "files.img",
        ImageKind::Files,
        |f: &mut Vec<FileEntry>| {
            f[1].r#type = FdTypes::Unixsk as i32;
        },
    );
    let err = read_error(&dir).to_string();
    assert!(
        err.ends_with("file id 2 (UNIXSK) is a kind of file crust does not restore"),
        "{err}"
    );
}

#[test]
fn an_fd_of_an_unknown_file_is_refused() {
    let dir = dump_with(
        "err-fd",
        "fdinfo-1.img",
        ImageKind::Fdinfo,
        |f: &mut Vec<FdinfoEntry>| {
            f[1].id = 99;
        },
    );
    assert!(matches!(
        read_error(&dir),
        CodecError::UnknownFileId { id: 99, .. }
    ));
}

#[test]
fn a_thread_claimed_by_two_processes_is_refused() {
    let dir = dump_with(
        "err-tree",
        "pstree.img",
        ImageKind::Pstree,
        |p: &mut Vec<PstreeEntry>| {
            let mut child = p[0].clone();
            child.pid += 10;
            child.ppid = p[0].pid;
            p.push(child);
        },
    );
    assert!(matches!(
        read_error(&dir),
        CodecError::DuplicateId {
            what: "thread id",
            ..
        }
    ));
}

#[test]
fn an_empty_tree_is_refused() {
    let dir = dump_with(
        "err-empty",
        "pstree.img",
        ImageKind::Pstree,
        |p: &mut Vec<PstreeEntry>| p.clear(),
    );
    assert!(matches!(
        read_error(&dir),
        CodecError::ProcessCount { count: 0, .. }
    ));
}

#[test]
fn a_thread_without_its_core_state_is_refused() {
    let dir = dump_with(
        "err-core",
        "core-4243.img",
        ImageKind::Core,
        |c: &mut Vec<CoreEntry>| {
            c[0].thread_core = None;
        },
    );
    let err = read_error(&dir).to_string();
    assert!(
        err.ends_with("core-4243.img: thread_core is missing"),
        "{err}"
    );
}

/// A user xsave component: its index, CRIU's name for it, and how to mark it used in an entry.
type Component = (u32, &'static str, fn(&mut UserX86XsaveEntry));

/// A user xsave component this CPU does not have (MPX is gone from recent CPUs, AVX-512 was
/// never on many).
fn component_this_cpu_lacks() -> Component {
    let candidates: [Component; 3] = [
        (3, "MPX BNDREGS", |x| x.bndreg_state = vec![0; 8]),
        (5, "AVX-512 opmask", |x| x.opmask_reg = vec![0; 8]),
        (9, "PKRU", |x| x.pkru = vec![0; 2]),
    ];
    // CPUID leaf 0xD, sub-leaf 0: EAX holds the user components the CPU can save.
    let supported = core::arch::x86_64::__cpuid_count(0xd, 0).eax;
    candidates
        .into_iter()
        .find(|(index, _, _)| supported & (1 << index) == 0)
        .expect("this CPU has MPX, AVX-512 and PKRU: no component to test the refusal with")
}

#[test]
fn xsave_state_this_cpu_lacks_is_refused() {
    let (index, name, mark_used) = component_this_cpu_lacks();
    let dir = dump_with(
        "err-xsave",
        "core-4242.img",
        ImageKind::Core,
        |c: &mut Vec<CoreEntry>| {
            let xsave = c[0]
                .thread_info
                .as_mut()
                .unwrap()
                .fpregs
                .xsave
                .as_mut()
                .unwrap();
            xsave.xstate_bv |= 1 << index;
            mark_used(xsave);
        },
    );
    let err = read_error(&dir).to_string();
    let expected = format!("xsave component {index} ({name}) is in use and this CPU lacks it");
    assert!(err.ends_with(&expected), "{err}");
}

#[test]
fn an_unknown_image_version_is_refused() {
    let dir = dump_with(
        "err-version",
        "inventory.img",
        ImageKind::Inventory,
        |i: &mut Vec<InventoryEntry>| {
            i[0].img_version = 1;
        },
    );
    assert!(matches!(
        read_error(&dir),
        CodecError::Format {
            what: "img_version",
            ..
        }
    ));
}
