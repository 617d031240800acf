//! An image directory: staged while a dump writes it, moved into place only
//! when the dump commits, so a failed dump leaves no half-written images.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{BufReader, ErrorKind};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use super::error::ImageError;
use super::inventory::InventoryEntry;
use super::kind::{ImageKind, ImageName};
use super::pages::{PagesReader, PagesWriter};
use super::reader::ImageReader;
use super::writer::ImageWriter;

/// Prefix of the hidden directory a dump is staged in, inside the target.
pub const STAGING_PREFIX: &str = ".crust-partial-";

/// A directory of images, either being written by a dump (files go to a
/// staging directory until [`ImageDir::commit`]) or read by a restore.
#[derive(Debug)]
pub struct ImageDir {
    root: PathBuf,
    staging: Option<Staging>,
}

#[derive(Debug)]
struct Staging {
    path: PathBuf,
    replace: bool,
    committed: bool,
}

impl ImageDir {
    /// Starts a dump into `path` (created if missing). Refuses a directory
    /// that already holds a dump.
    pub fn create(path: &Path) -> Result<ImageDir, ImageError> {
        ImageDir::create_with(path, false)
    }

    /// Starts a dump into `path`, replacing the dump it may hold at commit.
    pub fn create_replacing(path: &Path) -> Result<ImageDir, ImageError> {
        ImageDir::create_with(path, true)
    }

    /// Opens a finished dump for a restore.
    pub fn open(path: &Path) -> Result<ImageDir, ImageError> {
        fs::read_dir(path).map_err(|source| ImageError::ReadDir {
            path: path.into(),
            source,
        })?;
        Ok(ImageDir {
            root: path.into(),
            staging: None,
        })
    }

    fn create_with(path: &Path, replace: bool) -> Result<ImageDir, ImageError> {
        let create_err = |path: &Path, source| ImageError::CreateDir {
            path: path.into(),
            source,
        };
        fs::create_dir_all(path).map_err(|source| create_err(path, source))?;
        if !replace && holds_dump(path) {
            return Err(ImageError::DumpExists { path: path.into() });
        }
        remove_abandoned_staging(path);
        let staging = path.join(staging_name());
        DirBuilder::new()
            .mode(0o700)
            .create(&staging)
            .map_err(|source| create_err(&staging, source))?;
        let staging = Staging {
            path: staging,
            replace,
            committed: false,
        };
        Ok(ImageDir {
            root: path.into(),
            staging: Some(staging),
        })
    }

    /// The directory the dump lives in (the target, not the staging area).
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// Where a file of this name is read from or written to now.
    pub fn file_path(&self, name: ImageName) -> PathBuf {
        self.files_dir().join(name.to_string())
    }

    /// Creates an image file (mode 0600) and writes its magics.
    pub fn writer(&self, name: ImageName) -> Result<ImageWriter, ImageError> {
        let path = self.new_file_path(name)?;
        let file = create_file(&path)?;
        ImageWriter::start(path, file, name.kind)
    }

    /// Writes an image holding exactly `entries`, in order.
    pub fn write_entries<'a, M, I>(&self, name: ImageName, entries: I) -> Result<(), ImageError>
    where
        M: prost::Message + 'a,
        I: IntoIterator<Item = &'a M>,
    {
        let mut writer = self.writer(name)?;
        for entry in entries {
            writer.write_entry(entry)?;
        }
        writer.finish()
    }

    /// Writes an image holding the one entry `entry`.
    pub fn write_one<M: prost::Message>(
        &self,
        name: ImageName,
        entry: &M,
    ) -> Result<(), ImageError> {
        self.write_entries(name, [entry])
    }

    /// Starts `pagemap-PID.img` and `pages-PAGES_ID.img` for a task's memory.
    pub fn pages_writer(&self, pid: u32, pages_id: u32) -> Result<PagesWriter, ImageError> {
        let pagemap = self.writer(ImageName::with_id(ImageKind::Pagemap, pid))?;
        let pages_path = self.new_file_path(ImageName::with_id(ImageKind::Pages, pages_id))?;
        let pages = create_file(&pages_path)?;
        PagesWriter::start(pagemap, pages_path, pages, pages_id)
    }

    /// Starts `pagemap-shmem-SHMID.img` and `pages-PAGES_ID.img` for the pages of a shared
    /// memory object (a memfd); the runs' addresses are offsets in the object.
    pub fn shmem_pages_writer(&self, shmid: u32, pages_id: u32) -> Result<PagesWriter, ImageError> {
        let pagemap = self.writer(ImageName::with_id(ImageKind::ShmemPagemap, shmid))?;
        let pages_path = self.new_file_path(ImageName::with_id(ImageKind::Pages, pages_id))?;
        let pages = create_file(&pages_path)?;
        PagesWriter::start(pagemap, pages_path, pages, pages_id)
    }

    /// Reads the pagemap of shared memory object `shmid` and checks its pages file against it.
    pub fn shmem_pages_reader(&self, shmid: u32) -> Result<PagesReader, ImageError> {
        let pagemap = self.reader(ImageName::with_id(ImageKind::ShmemPagemap, shmid))?;
        PagesReader::open(pagemap, |pages_id| {
            self.file_path(ImageName::with_id(ImageKind::Pages, pages_id))
        })
    }

    /// Opens an image for reading and checks its magics.
    pub fn reader(&self, name: ImageName) -> Result<ImageReader<BufReader<File>>, ImageError> {
        ImageReader::open(&self.checked_path(name)?, name.kind)
    }

    /// Reads every entry of an image.
    pub fn read_entries<M: prost::Message + Default>(
        &self,
        name: ImageName,
    ) -> Result<Vec<M>, ImageError> {
        self.reader(name)?.read_entries()
    }

    /// Reads the only entry of an image.
    pub fn read_one<M: prost::Message + Default>(&self, name: ImageName) -> Result<M, ImageError> {
        self.reader(name)?.read_one()
    }

    /// Reads `inventory.img` and checks that crust can restore its layout.
    pub fn read_inventory(&self) -> Result<InventoryEntry, ImageError> {
        let name = ImageName::fixed(ImageKind::Inventory);
        let inventory = self.read_inventory_unchecked()?;
        match inventory.unsupported() {
            Some(problem) => Err(ImageError::UnsupportedInventory {
                path: self.file_path(name),
                problem,
            }),
            None => Ok(inventory),
        }
    }

    /// Reads `inventory.img` as it is. A directory without one holds no
    /// dump, which is said in those words rather than as a failed open.
    pub fn read_inventory_unchecked(&self) -> Result<InventoryEntry, ImageError> {
        match self.read_one(ImageName::fixed(ImageKind::Inventory)) {
            Err(ImageError::OpenFile { source, .. }) if source.kind() == ErrorKind::NotFound => {
                Err(ImageError::NoDump {
                    path: self.root.clone(),
                })
            }
            read => read,
        }
    }

    /// Reads a task's pagemap and checks its pages file against it.
    pub fn pages_reader(&self, pid: u32) -> Result<PagesReader, ImageError> {
        let pagemap = self.reader(ImageName::with_id(ImageKind::Pagemap, pid))?;
        PagesReader::open(pagemap, |pages_id| {
            self.file_path(ImageName::with_id(ImageKind::Pages, pages_id))
        })
    }

    /// Moves every staged image into the target directory, `inventory.img`
    /// last, so that a dump that stops half-way is never taken for a whole
    /// one. Refuses to replace a dump unless created with `create_replacing`.
    pub fn commit(mut self) -> Result<(), ImageError> {
        let Some(staging) = self.staging.as_mut() else {
            return Err(ImageError::ReadOnly {
                path: self.root.clone(),
            });
        };
        if staging.replace {
            remove_old_dump(&self.root)?;
        } else if holds_dump(&self.root) {
            return Err(ImageError::DumpExists {
                path: self.root.clone(),
            });
        }
        let mut staged = list_images(&staging.path)?;
        // Sorting puts the inventory last: it is the only name of its kind.
        staged.sort_by_key(|name| name.kind == ImageKind::Inventory);
        for name in staged {
            let (from, to) = (
                staging.path.join(name.to_string()),
                self.root.join(name.to_string()),
            );
            fs::rename(&from, &to).map_err(|source| ImageError::Commit { from, to, source })?;
        }
        staging.committed = true;
        fs::remove_dir(&staging.path).map_err(|source| ImageError::RemoveOld {
            path: staging.path.clone(),
            source,
        })
    }

    fn files_dir(&self) -> &Path {
        match &self.staging {
            Some(staging) => &staging.path,
            None => &self.root,
        }
    }

    fn new_file_path(&self, name: ImageName) -> Result<PathBuf, ImageError> {
        if self.staging.is_none() {
            return Err(ImageError::ReadOnly {
                path: self.root.clone(),
            });
        }
        self.checked_path(name)
    }

    fn checked_path(&self, name: ImageName) -> Result<PathBuf, ImageError> {
        if !name.is_well_formed() {
            let expected = if name.kind.takes_id() {
                "named by an id"
            } else {
                "named without an id"
            };
            return Err(ImageError::NameMismatch {
                kind: name.kind,
                id: name.id,
                expected,
            });
        }
        Ok(self.file_path(name))
    }
}

impl Drop for ImageDir {
    fn drop(&mut self) {
        let Some(staging) = &self.staging else { return };
        if staging.committed {
            return;
        }
        if let Err(err) = fs::remove_dir_all(&staging.path) {
            log::warn!(
                "cannot remove unfinished dump {}: {err}",
                staging.path.display()
            );
        }
    }
}

/// `.crust-partial-PID-N`: unique among the dumps of this process, and
/// naming the process so that leftovers of a dead one can be recognised.
fn staging_name() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{STAGING_PREFIX}{}-{n}", std::process::id())
}

/// Removes staging directories left in `dir` by dumps whose process died
/// before committing or cleaning up (killed, crashed). Best effort: a
/// leftover that cannot be removed only costs space.
fn remove_abandoned_staging(dir: &Path) {
    let Ok(dirents) = fs::read_dir(dir) else {
        return;
    };
    for dirent in dirents.flatten() {
        let name = dirent.file_name();
        let Some(owner) = name.to_str().and_then(staging_owner) else {
            continue;
        };
        if Path::new("/proc").join(owner.to_string()).exists() {
            continue;
        }
        let path = dirent.path();
        log::debug!(
            "removing {} left by dead dump process {owner}",
            path.display()
        );
        if let Err(err) = fs::remove_dir_all(&path) {
            log::warn!("cannot remove abandoned dump {}: {err}", path.display());
        }
    }
}

/// The pid in a staging directory's name.
fn staging_owner(name: &str) -> Option<u32> {
    let (pid, _) = name.strip_prefix(STAGING_PREFIX)?.split_once('-')?;
    pid.parse().ok()
}

fn holds_dump(dir: &Path) -> bool {
    dir.join(ImageName::fixed(ImageKind::Inventory).to_string())
        .exists()
}

fn create_file(path: &Path) -> Result<File, ImageError> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|source| ImageError::CreateFile {
            path: path.into(),
            source,
        })
}

/// Names of the image files in `dir`; other files are not ours to touch.
fn list_images(dir: &Path) -> Result<Vec<ImageName>, ImageError> {
    let read_err = |source| ImageError::ReadDir {
        path: dir.into(),
        source,
    };
    let mut names = Vec::new();
    for dirent in fs::read_dir(dir).map_err(read_err)? {
        let dirent = dirent.map_err(read_err)?;
        if let Some(name) = dirent.file_name().to_str().and_then(ImageName::parse) {
            names.push(name);
        }
    }
    Ok(names)
}

/// Removes a previous dump's images, `inventory.img` first so that the
/// directory never looks like a whole dump while it is half replaced.
fn remove_old_dump(dir: &Path) -> Result<(), ImageError> {
    let mut old = list_images(dir)?;
    old.sort_by_key(|name| name.kind != ImageKind::Inventory);
    for name in old {
        let path = dir.join(name.to_string());
        fs::remove_file(&path).map_err(|source| ImageError::RemoveOld { path, source })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
