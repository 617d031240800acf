//! Fuzzing the image readers on the stable toolchain: random bytes, and the
//! sample dump's images with random damage (truncation, flipped bytes, huge
//! lengths, inserted bytes), read as the entry type of each image. Every
//! case must end in Ok or a clean Err: no panic, no runaway allocation.

mod images_sample;

use std::error::Error;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use engine::codec::ipc;
use engine::images::core::{CoreEntry, TaskKobjIdsEntry};
use engine::images::fdinfo::{FdinfoEntry, FileEntry};
use engine::images::file_lock::FileLockEntry;
use engine::images::fs::FsEntry;
use engine::images::ghost::{GhostChunkEntry, GhostFileEntry, RemapFilePathEntry};
use engine::images::inventory::InventoryEntry;
use engine::images::ipc::IpcVarEntry;
use engine::images::memfd::MemfdInodeEntry;
use engine::images::mm::MmEntry;
use engine::images::pagemap::{PagemapEntry, PagemapHead};
use engine::images::pipe::PipeDataEntry;
use engine::images::pstree::PstreeEntry;
use engine::images::seccomp::SeccompEntry;
use engine::images::sk_packet::SkPacketEntry;
use engine::images::tty::{TtyDataEntry, TtyInfoEntry};
use engine::images::{ImageDir, ImageError, ImageKind, ImageName, ImageReader, PagesReader};
use images_sample::Sample;
use proptest::prelude::*;

/// Every non-pages image of the sample dump, as (kind, bytes).
fn sample_images() -> &'static [(ImageKind, Vec<u8>)] {
    static IMAGES: OnceLock<Vec<(ImageKind, Vec<u8>)>> = OnceLock::new();
    IMAGES.get_or_init(|| {
        let path = std::env::temp_dir().join(format!("crust-fuzz-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        let dir = ImageDir::create(&path).expect("create");
        Sample::new().write(&dir);
        dir.commit().expect("commit");
        let mut images = Vec::new();
        for dirent in std::fs::read_dir(&path).expect("list") {
            let file = dirent.expect("dirent").path();
            let name = file
                .file_name()
                .and_then(|f| f.to_str())
                .and_then(ImageName::parse);
            let name = name.expect("only images in the sample");
            if name.kind != ImageKind::Pages {
                images.push((name.kind, std::fs::read(&file).expect("read")));
            }
        }
        std::fs::remove_dir_all(&path).expect("clean up");
        images.sort();
        images
    })
}

/// Reads an image to its end as its kind's entries; returns the entry count.
fn read_all(kind: ImageKind, bytes: &[u8]) -> Result<usize, Box<dyn Error>> {
    let mut r = ImageReader::from_bytes(Path::new("fuzz.img"), bytes, kind)?;
    let count: Result<usize, ImageError> = match kind {
        ImageKind::Inventory => r.read_entries::<InventoryEntry>().map(|e| e.len()),
        ImageKind::Pstree => r.read_entries::<PstreeEntry>().map(|e| e.len()),
        ImageKind::Core => r.read_one::<CoreEntry>().map(|_| 1),
        ImageKind::Ids => r.read_one::<TaskKobjIdsEntry>().map(|_| 1),
        ImageKind::Mm => r.read_one::<MmEntry>().map(|_| 1),
        ImageKind::Fdinfo => r.read_entries::<FdinfoEntry>().map(|e| e.len()),
        ImageKind::Files => r.read_entries::<FileEntry>().map(|e| e.len()),
        ImageKind::Fs => r.read_one::<FsEntry>().map(|_| 1),
        ImageKind::Seccomp => r.read_one::<SeccompEntry>().map(|_| 1),
        ImageKind::PipesData | ImageKind::FifoData => {
            read_with_payload(r, |e: &PipeDataEntry| e.bytes)
        }
        ImageKind::SkQueues => read_with_payload(r, |e: &SkPacketEntry| e.length),
        ImageKind::TtyInfo => r.read_entries::<TtyInfoEntry>().map(|e| e.len()),
        ImageKind::TtyData => r.read_entries::<TtyDataEntry>().map(|e| e.len()),
        ImageKind::FileLocks => r.read_entries::<FileLockEntry>().map(|e| e.len()),
        ImageKind::RemapFpath => r.read_entries::<RemapFilePathEntry>().map(|e| e.len()),
        ImageKind::MemfdInode => r.read_entries::<MemfdInodeEntry>().map(|e| e.len()),
        ImageKind::GhostFile => {
            r.next_entry::<GhostFileEntry>()?;
            let mut count = 1;
            while let Some(chunk) = r.next_entry::<GhostChunkEntry>()? {
                r.read_payload(chunk.len)?;
                count += 1;
            }
            Ok(count)
        }
        ImageKind::Pagemap | ImageKind::ShmemPagemap => {
            r.next_entry::<PagemapHead>()?;
            r.read_entries::<PagemapEntry>().map(|e| e.len() + 1)
        }
        ImageKind::IpcVar => r.read_one::<IpcVarEntry>().map(|_| 1),
        ImageKind::IpcShm | ImageKind::IpcSem | ImageKind::IpcMsg => {
            return read_ipc_objects(kind, r)
        }
        ImageKind::Pages => Ok(0),
    };
    Ok(count?)
}

/// Reads the SysV objects of an IPC namespace image as a restore does, with what they hold.
fn read_ipc_objects(kind: ImageKind, mut r: ImageReader<&[u8]>) -> Result<usize, Box<dyn Error>> {
    Ok(match kind {
        ImageKind::IpcShm => ipc::read_segments(&mut r)?.len(),
        ImageKind::IpcSem => ipc::read_sem_sets(&mut r)?.len(),
        _ => ipc::read_queues(&mut r)?.len(),
    })
}

fn read_with_payload<M: prost::Message + Default>(
    mut r: ImageReader<&[u8]>,
    payload_len: impl Fn(&M) -> u32,
) -> Result<usize, ImageError> {
    let mut count = 0;
    while let Some(entry) = r.next_entry::<M>()? {
        r.read_payload(u64::from(payload_len(&entry)))?;
        count += 1;
    }
    Ok(count)
}

/// Reads `bytes` as everything it could be: its kind's entries and, for a
/// pagemap, validated runs (against a pages file that is not there).
fn read_every_way(kind: ImageKind, bytes: &[u8]) {
    let _ = read_all(kind, bytes);
    if kind == ImageKind::Pagemap {
        if let Ok(r) = ImageReader::from_bytes(Path::new("fuzz.img"), bytes, kind) {
            let _ = PagesReader::open(r, |_| PathBuf::from("/nonexistent/crust-fuzz-pages.img"));
        }
    }
}

#[derive(Clone, Debug)]
enum Damage {
    Truncate(usize),
    Flip(usize, u8),
    HugeLength(usize, u32),
    Insert(usize, Vec<u8>),
}

fn damage() -> impl Strategy<Value = Damage> {
    let huge = prop_oneof![
        Just(u32::MAX),
        Just(0x7fff_ffff),
        Just(64 << 20),
        0..4096u32
    ];
    prop_oneof![
        any::<usize>().prop_map(Damage::Truncate),
        (any::<usize>(), 1..=255u8).prop_map(|(at, x)| Damage::Flip(at, x)),
        (any::<usize>(), huge).prop_map(|(at, len)| Damage::HugeLength(at, len)),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(at, bytes)| Damage::Insert(at, bytes)),
    ]
}

fn apply(bytes: &mut Vec<u8>, damage: &Damage) {
    let at = |i: usize, len: usize| if len == 0 { 0 } else { i % len };
    match damage {
        Damage::Truncate(i) => bytes.truncate(at(*i, bytes.len() + 1)),
        Damage::Flip(i, x) if !bytes.is_empty() => {
            let i = at(*i, bytes.len());
            bytes[i] ^= x;
        }
        Damage::Flip(..) => {}
        Damage::HugeLength(i, len) if bytes.len() >= 4 => {
            let i = at(*i, bytes.len() - 3);
            bytes[i..i + 4].copy_from_slice(&len.to_le_bytes());
        }
        Damage::HugeLength(..) => {}
        Damage::Insert(i, extra) => {
            let i = at(*i, bytes.len() + 1);
            bytes.splice(i..i, extra.iter().copied());
        }
    }
}

/// The kind's magics, then entries whose length prefixes may or may not
/// match what follows them.
fn framed_noise() -> impl Strategy<Value = (ImageKind, Vec<u8>)> {
    let kinds = prop::sample::select(ImageKind::ALL.to_vec());
    let entry = (
        any::<bool>(),
        prop::collection::vec(any::<u8>(), 0..64),
        any::<u32>(),
    );
    (kinds, prop::collection::vec(entry, 0..6)).prop_map(|(kind, entries)| {
        let mut bytes: Vec<u8> = kind.magics().iter().flat_map(|m| m.to_le_bytes()).collect();
        for (honest, payload, len) in entries {
            let len = if honest { payload.len() as u32 } else { len };
            bytes.extend_from_slice(&len.to_le_bytes());
            bytes.extend_from_slice(&payload);
        }
        (kind, bytes)
    })
}

#[test]
fn undamaged_sample_images_read_cleanly() {
    for (kind, bytes) in sample_images() {
        let count = read_all(*kind, bytes);
        assert!(matches!(count, Ok(n) if n > 0), "{kind:?}: {count:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn damaged_images_never_panic(
        index in any::<prop::sample::Index>(),
        damages in prop::collection::vec(damage(), 1..4),
    ) {
        let images = sample_images();
        let (kind, original) = &images[index.index(images.len())];
        let mut bytes = original.clone();
        damages.iter().for_each(|d| apply(&mut bytes, d));
        read_every_way(*kind, &bytes);
    }

    #[test]
    fn framed_noise_never_panics((kind, bytes) in framed_noise()) {
        read_every_way(kind, &bytes);
    }

    #[test]
    fn raw_noise_never_panics(
        kind in prop::sample::select(ImageKind::ALL.to_vec()),
        bytes in prop::collection::vec(any::<u8>(), 0..256),
    ) {
        read_every_way(kind, &bytes);
    }
}
