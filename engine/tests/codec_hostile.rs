//! Damaged images: reading them never panics and always ends in a clean
//! result, an error that names what is wrong or a snapshot that validate()
//! judges.

mod codec_sample;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use codec_sample as sample;
use codec_sample::read_process;
use proptest::prelude::*;

/// The sample's image files, name and bytes, dumped once.
fn pristine() -> &'static [(String, Vec<u8>)] {
    static FILES: OnceLock<Vec<(String, Vec<u8>)>> = OnceLock::new();
    FILES.get_or_init(|| {
        let path = sample::scratch_dir("hostile-pristine");
        sample::dump(&path, &sample::process());
        let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&path)
            .unwrap()
            .map(|dirent| {
                let dirent = dirent.unwrap();
                let name = dirent.file_name().into_string().unwrap();
                (name, std::fs::read(dirent.path()).unwrap())
            })
            .collect();
        files.sort();
        std::fs::remove_dir_all(&path).unwrap();
        files
    })
}

/// Writes the pristine images into `dir`, `damage` applied to file `victim`.
fn lay_out(dir: &Path, victim: usize, damage: impl FnOnce(&mut Vec<u8>)) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let mut damage = Some(damage);
    for (i, (name, bytes)) in pristine().iter().enumerate() {
        let mut bytes = bytes.clone();
        if i == victim {
            if let Some(damage) = damage.take() {
                damage(&mut bytes);
            }
        }
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}

/// Reads the directory; an error must say something, a snapshot must go
/// through validate() without panicking.
fn read_cleanly(dir: &Path) -> bool {
    match read_process(dir) {
        Ok(images) => {
            let _ = images.process.validate();
            true
        }
        Err(err) => {
            assert!(!err.to_string().is_empty());
            false
        }
    }
}

#[test]
fn every_truncation_is_a_clean_error() {
    let dir = sample::scratch_dir("hostile-truncate");
    for (victim, (name, bytes)) in pristine().iter().enumerate() {
        let step = (bytes.len() / 300).max(1);
        for len in (0..bytes.len()).step_by(step) {
            lay_out(&dir, victim, |b| b.truncate(len));
            let ok = read_cleanly(&dir);
            // Only images that may end early hold a shorter valid prefix.
            let may_shrink = name.starts_with("fdinfo")
                || name.starts_with("pipes-data")
                || name == "files.img"
                || name == "filelocks.img";
            assert!(!ok || may_shrink, "{name} cut to {len} bytes was read");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_missing_image_is_a_clean_error() {
    let dir = sample::scratch_dir("hostile-missing");
    for (name, _) in pristine() {
        lay_out(&dir, usize::MAX, |_| {});
        std::fs::remove_file(dir.join(name)).unwrap();
        let ok = read_cleanly(&dir);
        // A dump holds filelocks.img only when some process held a lock.
        let optional = ["pipes-data.img", "filelocks.img"];
        assert!(
            !ok || optional.contains(&name.as_str()),
            "read without {name}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// What to do to one image file.
#[derive(Debug, Clone)]
enum Damage {
    /// Xor one byte.
    Flip { at: usize, xor: u8 },
    /// Overwrite bytes.
    Overwrite { at: usize, bytes: Vec<u8> },
    /// Insert bytes.
    Insert { at: usize, bytes: Vec<u8> },
    /// Cut the file.
    Truncate { at: usize },
    /// Append bytes.
    Append { bytes: Vec<u8> },
}

impl Damage {
    fn apply(&self, file: &mut Vec<u8>) {
        let len = file.len().max(1);
        match self {
            Damage::Flip { at, xor } => {
                if let Some(b) = file.get_mut(at % len) {
                    *b ^= xor;
                }
            }
            Damage::Overwrite { at, bytes } => {
                for (i, byte) in bytes.iter().enumerate() {
                    if let Some(b) = file.get_mut(at % len + i) {
                        *b = *byte;
                    }
                }
            }
            Damage::Insert { at, bytes } => {
                let at = (at % len).min(file.len());
                file.splice(at..at, bytes.iter().copied());
            }
            Damage::Truncate { at } => file.truncate(at % len),
            Damage::Append { bytes } => file.extend_from_slice(bytes),
        }
    }
}

fn damage() -> impl Strategy<Value = Damage> {
    let bytes = prop::collection::vec(any::<u8>(), 1..16);
    prop_oneof![
        (any::<usize>(), 1..=255u8).prop_map(|(at, xor)| Damage::Flip { at, xor }),
        (any::<usize>(), bytes.clone()).prop_map(|(at, bytes)| Damage::Overwrite { at, bytes }),
        (any::<usize>(), bytes.clone()).prop_map(|(at, bytes)| Damage::Insert { at, bytes }),
        any::<usize>().prop_map(|at| Damage::Truncate { at }),
        bytes.prop_map(|bytes| Damage::Append { bytes }),
    ]
}

fn case_dir() -> PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    sample::scratch_dir(&format!("hostile-prop-{n}"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn damaged_images_never_panic(
        victims in prop::collection::vec((0usize..64, damage()), 1..4),
    ) {
        let dir = case_dir();
        lay_out(&dir, usize::MAX, |_| {});
        let names: Vec<&String> = pristine().iter().map(|(name, _)| name).collect();
        for (victim, damage) in &victims {
            let file = dir.join(names[victim % names.len()]);
            let mut bytes = std::fs::read(&file).unwrap();
            damage.apply(&mut bytes);
            std::fs::write(&file, bytes).unwrap();
        }
        read_cleanly(&dir);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
