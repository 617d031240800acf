//! Ghosts (an unlinked file with a hole, held by an fd and a mapping; a removed working
//! directory) and memfds written as CRIU images, decoded by crit, and read back equal.

mod codec_sample;

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use proptest::prelude::*;

use codec_sample as sample;
use codec_sample::read_process;
use engine::snapshot::{
    DataChunk, FdSnapshot, FileSnapshot, GhostFile, InodeAttributes, InvisibleFiles, MemfdFile,
    MemfdInode, RegularFile, PAGE_SIZE,
};

const GHOST_PATH: &str = "/var/tmp/crust-sample-ghost";
const GHOST_FILE_ID: u32 = 20;
const MEMFD_FILE_ID: u32 = 21;

fn with_invisible_files() -> engine::snapshot::ProcessSnapshot {
    let mut process = sample::process();
    let ghost_file = RegularFile {
        path: GHOST_PATH.into(),
        flags: libc::O_RDWR as u32,
        pos: 5000,
        size: 3 * PAGE_SIZE + 100,
        mode: libc::S_IFREG | 0o640,
    };
    process.files.push(FileSnapshot::Regular {
        id: GHOST_FILE_ID,
        file: ghost_file,
    });
    let memfd = MemfdFile {
        inode_id: 1,
        flags: libc::O_RDWR as u32,
        pos: 777,
    };
    process.files.push(FileSnapshot::Memfd {
        id: MEMFD_FILE_ID,
        memfd,
    });
    for (fd, file_id) in [(7, GHOST_FILE_ID), (8, MEMFD_FILE_ID)] {
        process.fds.push(FdSnapshot {
            fd,
            file_id,
            cloexec: false,
        });
    }
    let attributes = |mode| InodeAttributes {
        mode,
        uid: 1000,
        gid: 100,
        atime: (1_700_000_000, 5),
        mtime: (1_700_000_100, 7),
    };
    let chunk = |offset, byte, len| DataChunk {
        offset,
        bytes: vec![byte; len],
    };
    process.invisible = InvisibleFiles {
        ghosts: vec![
            GhostFile {
                id: 1,
                path: GHOST_PATH.into(),
                file_ids: vec![GHOST_FILE_ID],
                dev: libc::makedev(254, 1),
                ino: 99,
                attributes: attributes(libc::S_IFREG | 0o640),
                size: 3 * PAGE_SIZE + 100,
                chunks: vec![chunk(0, b'a', 4096), chunk(2 * PAGE_SIZE, b'c', 4196)],
            },
            GhostFile {
                id: 2,
                path: "/var/tmp/gone".into(),
                file_ids: Vec::new(),
                dev: libc::makedev(254, 1),
                ino: 100,
                attributes: attributes(libc::S_IFDIR | 0o750),
                size: 0,
                chunks: Vec::new(),
            },
        ],
        memfds: vec![MemfdInode {
            id: 1,
            name: "sample memfd".into(),
            attributes: InodeAttributes {
                atime: (0, 0),
                mtime: (0, 0),
                ..attributes(libc::S_IFREG | 0o600)
            },
            size: 2 * PAGE_SIZE + 10,
            seals: (libc::F_SEAL_SHRINK | libc::F_SEAL_GROW) as u32,
            chunks: vec![chunk(0, b'm', 2 * 4096 + 10)],
        }],
        cwd_ghost: Some(2),
    };
    process.cwd = "/var/tmp/gone".into();
    process
}

#[test]
fn ghosts_and_memfds_read_back_equal() {
    let path = sample::scratch_dir("invisible");
    let process = with_invisible_files();
    process.validate().unwrap();
    sample::dump(&path, &process);
    let read = read_process(&path).unwrap();
    assert_eq!(read.process.invisible, process.invisible);
    assert_eq!(read.process.files, process.files);
    assert_eq!(read.process.cwd, process.cwd);
    std::fs::remove_dir_all(&path).unwrap();
}

#[test]
fn crit_decodes_ghosts_and_memfds() {
    let path = sample::scratch_dir("invisible-crit");
    sample::dump(&path, &with_invisible_files());
    for file in [
        "remap-fpath.img",
        "ghost-file-1.img",
        "ghost-file-2.img",
        "memfd.img",
        "pagemap-shmem-1.img",
        "files.img",
    ] {
        let output = Command::new("crit")
            .args(["decode", "--pretty", "-i"])
            .arg(path.join(file))
            .output()
            .expect("run crit");
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{file}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let expected = match file {
            "remap-fpath.img" => "\"GHOST\"",
            "ghost-file-1.img" => "\"off\": 8192",
            "ghost-file-2.img" => "\"size\": 0",
            "memfd.img" => "\"sample memfd\"",
            "pagemap-shmem-1.img" => "\"pages_id\": 1048577",
            _ => "\"MEMFD\"",
        };
        assert!(text.contains(expected), "{file} lacks {expected}: {text}");
    }
    std::fs::remove_dir_all(&path).unwrap();
}

/// The images of the sample with ghosts and memfds, by file name.
fn pristine() -> &'static [(String, Vec<u8>)] {
    static IMAGES: OnceLock<Vec<(String, Vec<u8>)>> = OnceLock::new();
    IMAGES.get_or_init(|| {
        let path = sample::scratch_dir("invisible-pristine");
        sample::dump(&path, &with_invisible_files());
        let mut images: Vec<(String, Vec<u8>)> = std::fs::read_dir(&path)
            .unwrap()
            .map(|entry| {
                let entry = entry.unwrap();
                let name = entry.file_name().into_string().unwrap();
                (name, std::fs::read(entry.path()).unwrap())
            })
            .collect();
        images.sort();
        std::fs::remove_dir_all(&path).unwrap();
        images
    })
}

fn write_all(dir: &Path, images: &[(String, Vec<u8>)]) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    for (name, bytes) in images {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}

const DAMAGED: [&str; 5] = [
    "remap-fpath.img",
    "ghost-file-1.img",
    "memfd.img",
    "pagemap-shmem-1.img",
    "pages-1048577.img",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// A ghost or memfd image cut short or with a byte changed reads back as an error or as
    /// a snapshot that validates or is refused by validation: never a panic.
    #[test]
    fn damaged_ghost_and_memfd_images_never_panic(
        which in 0..DAMAGED.len(),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        cut in any::<bool>(),
    ) {
        let mut images = pristine().to_vec();
        let (_, bytes) = images
            .iter_mut()
            .find(|(name, _)| name == DAMAGED[which])
            .unwrap();
        let at = at.index(bytes.len());
        if cut {
            bytes.truncate(at);
        } else {
            bytes[at] ^= byte | 1;
        }
        let dir = sample::scratch_dir("invisible-damaged");
        write_all(&dir, &images);
        if let Ok(read) = read_process(&dir) {
            let _ = read.process.validate();
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
