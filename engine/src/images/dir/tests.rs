//! Tests of image directories: staging, commit, replacement, read-only use.

use std::os::unix::fs::PermissionsExt;

use super::*;
use crate::images::fs::FsEntry;
use crate::images::scratch::ScratchDir;

fn inventory() -> ImageName {
    ImageName::fixed(ImageKind::Inventory)
}

fn fs_image(pid: u32) -> ImageName {
    ImageName::with_id(ImageKind::Fs, pid)
}

fn entry(umask: u32) -> FsEntry {
    FsEntry {
        cwd_id: 1,
        root_id: 2,
        umask: Some(umask),
    }
}

/// Writes a dump of one fs image (and an inventory) and commits it.
fn dump(dir: ImageDir, pid: u32, umask: u32) -> Result<(), ImageError> {
    dir.write_one(fs_image(pid), &entry(umask))?;
    let ids = crate::images::core::TaskKobjIdsEntry::default();
    dir.write_one(inventory(), &InventoryEntry::new(ids))?;
    dir.commit()
}

fn names_in(path: &Path) -> Vec<String> {
    let mut names: Vec<_> = fs::read_dir(path)
        .unwrap()
        .map(|d| d.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[test]
fn a_dropped_dump_leaves_nothing_behind() {
    let scratch = ScratchDir::new("dir-drop");
    let dir = ImageDir::create(scratch.path()).unwrap();
    dir.write_one(fs_image(5), &entry(0)).unwrap();
    drop(dir);
    assert!(names_in(scratch.path()).is_empty());
}

#[test]
fn commit_moves_private_files_into_place() {
    let scratch = ScratchDir::new("dir-commit");
    dump(ImageDir::create(scratch.path()).unwrap(), 5, 0o022).unwrap();
    assert_eq!(names_in(scratch.path()), ["fs-5.img", "inventory.img"]);
    let mode = fs::metadata(scratch.path().join("fs-5.img"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let dir = ImageDir::open(scratch.path()).unwrap();
    assert_eq!(dir.read_one::<FsEntry>(fs_image(5)).unwrap(), entry(0o022));
    dir.read_inventory().unwrap();
}

#[test]
fn an_existing_dump_is_kept_unless_replacing() {
    let scratch = ScratchDir::new("dir-replace");
    dump(ImageDir::create(scratch.path()).unwrap(), 5, 0).unwrap();
    fs::write(scratch.path().join("notes.txt"), "mine").unwrap();
    let err = ImageDir::create(scratch.path()).unwrap_err();
    assert!(matches!(err, ImageError::DumpExists { .. }), "{err}");

    dump(ImageDir::create_replacing(scratch.path()).unwrap(), 6, 0).unwrap();
    assert_eq!(
        names_in(scratch.path()),
        ["fs-6.img", "inventory.img", "notes.txt"]
    );
}

#[test]
fn a_dump_committed_meanwhile_is_not_overwritten() {
    let scratch = ScratchDir::new("dir-race");
    let first = ImageDir::create(scratch.path()).unwrap();
    first.write_one(fs_image(5), &entry(0)).unwrap();
    fs::write(scratch.path().join("inventory.img"), b"someone else's").unwrap();
    let err = first.commit().unwrap_err();
    assert!(matches!(err, ImageError::DumpExists { .. }), "{err}");
    assert_eq!(names_in(scratch.path()), ["inventory.img"]);
}

#[test]
fn an_inventory_of_an_old_layout_is_refused() {
    let scratch = ScratchDir::new("dir-old-inventory");
    let dir = ImageDir::create(scratch.path()).unwrap();
    let old = InventoryEntry {
        img_version: 1,
        ..Default::default()
    };
    dir.write_one(inventory(), &old).unwrap();
    dir.commit().unwrap();
    let err = ImageDir::open(scratch.path())
        .unwrap()
        .read_inventory()
        .unwrap_err();
    assert!(
        matches!(err, ImageError::UnsupportedInventory { .. }),
        "{err}"
    );
}

#[test]
fn an_opened_dump_is_read_only() {
    let scratch = ScratchDir::new("dir-read-only");
    dump(ImageDir::create(scratch.path()).unwrap(), 5, 0).unwrap();
    let dir = ImageDir::open(scratch.path()).unwrap();
    let err = dir.writer(fs_image(7)).err().unwrap();
    assert!(matches!(err, ImageError::ReadOnly { .. }), "{err}");
    assert!(matches!(dir.commit(), Err(ImageError::ReadOnly { .. })));
}

#[test]
fn names_must_match_their_kind() {
    let scratch = ScratchDir::new("dir-names");
    let dir = ImageDir::create(scratch.path()).unwrap();
    let bad = [
        ImageName {
            kind: ImageKind::Core,
            id: None,
        },
        ImageName::with_id(ImageKind::Pstree, 1),
    ];
    for name in bad {
        let err = dir.writer(name).err().unwrap();
        assert!(matches!(err, ImageError::NameMismatch { .. }), "{err}");
    }
}

#[test]
fn a_missing_dump_cannot_be_opened() {
    let scratch = ScratchDir::new("dir-missing");
    let err = ImageDir::open(scratch.path()).unwrap_err();
    assert!(matches!(err, ImageError::ReadDir { .. }), "{err}");
}

#[test]
fn staging_left_by_a_dead_process_is_removed() {
    let scratch = ScratchDir::new("dir-abandoned");
    fs::create_dir_all(scratch.path()).unwrap();
    // Pids above pid_max (4194304 at most) belong to no process.
    let dead = scratch.path().join(format!("{STAGING_PREFIX}4999999-0"));
    let alive = scratch
        .path()
        .join(format!("{STAGING_PREFIX}{}-99", std::process::id()));
    fs::create_dir(&dead).unwrap();
    fs::create_dir(&alive).unwrap();
    let dir = ImageDir::create(scratch.path()).unwrap();
    assert!(!dead.exists());
    assert!(alive.exists());
    drop(dir);
}

#[test]
fn two_dumps_of_one_process_stage_apart() {
    let scratch = ScratchDir::new("dir-two");
    let first = ImageDir::create(scratch.path().join("a").as_path()).unwrap();
    let second = ImageDir::create(scratch.path().join("a").as_path()).unwrap();
    first.write_one(fs_image(1), &entry(0)).unwrap();
    second.write_one(fs_image(1), &entry(0)).unwrap();
    drop(second);
    first.commit().unwrap();
    assert_eq!(names_in(&scratch.path().join("a")), ["fs-1.img"]);
}

#[test]
fn an_empty_directory_holds_no_dump() {
    let scratch = ScratchDir::new("dir-empty");
    fs::create_dir_all(scratch.path()).unwrap();
    let error = ImageDir::open(scratch.path())
        .unwrap()
        .read_inventory()
        .unwrap_err();
    let expected = format!(
        "{} holds no dump (no inventory.img)",
        scratch.path().display()
    );
    assert_eq!(error.to_string(), expected);
}
