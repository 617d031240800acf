//! Which image a file is: its magics and its name in the image directory.

use std::fmt;

/// Magic that opens every image except `inventory.img` (CRIU's IMG_COMMON).
pub const IMG_COMMON_MAGIC: u32 = 0x5456_4319;
/// Magic that opens CRIU's service images (stats, irmap cache).
pub const IMG_SERVICE_MAGIC: u32 = 0x5510_5940;

/// The images crust reads and writes, in CRIU 3.17's naming.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum ImageKind {
    /// `inventory.img`: format version and root task ids.
    Inventory,
    /// `pstree.img`: the process tree.
    Pstree,
    /// `core-TID.img`: one thread's registers and state.
    Core,
    /// `ids-PID.img`: a task's kernel object ids.
    Ids,
    /// `mm-PID.img`: a task's address space.
    Mm,
    /// `pagemap-PID.img`: which pages of the task are stored, and where.
    Pagemap,
    /// `pages-N.img`: raw page contents, no header.
    Pages,
    /// `fdinfo-N.img`: the fd table with files id N.
    Fdinfo,
    /// `files.img`: every open file of the tree, by id.
    Files,
    /// `fs-PID.img`: cwd, root and umask.
    Fs,
    /// `pipes-data.img`: bytes queued in pipes.
    PipesData,
    /// `fifo-data.img`: bytes queued in FIFOs.
    FifoData,
    /// `seccomp.img`: seccomp filters of the tree.
    Seccomp,
    /// `sk-queues.img`: packets queued on sockets.
    SkQueues,
    /// `tty-info.img`: state of each terminal.
    TtyInfo,
    /// `tty-data.img`: unread terminal input.
    TtyData,
    /// `filelocks.img`: file locks of the tree.
    FileLocks,
    /// `remap-fpath.img`: open files to be found elsewhere than by their path (ghosts).
    RemapFpath,
    /// `ghost-file-N.img`: an unlinked file's inode and contents.
    GhostFile,
    /// `memfd.img`: every memfd inode of the tree.
    MemfdInode,
    /// `pagemap-shmem-SHMID.img`: which pages of a shared memory object (a memfd) are stored.
    ShmemPagemap,
    /// `ipcns-var-N.img`: the sysctls of IPC namespace N.
    IpcVar,
    /// `ipcns-shm-N.img`: the SysV shared memory segments of IPC namespace N, with their bytes.
    IpcShm,
    /// `ipcns-msg-N.img`: the SysV message queues of IPC namespace N, with their messages.
    IpcMsg,
    /// `ipcns-sem-N.img`: the SysV semaphore sets of IPC namespace N, with their values.
    IpcSem,
}

impl ImageKind {
    /// Every kind, for matching file names.
    pub const ALL: [ImageKind; 25] = [
        ImageKind::Inventory,
        ImageKind::Pstree,
        ImageKind::Core,
        ImageKind::Ids,
        ImageKind::Mm,
        ImageKind::Pagemap,
        ImageKind::Pages,
        ImageKind::Fdinfo,
        ImageKind::Files,
        ImageKind::Fs,
        ImageKind::PipesData,
        ImageKind::FifoData,
        ImageKind::Seccomp,
        ImageKind::SkQueues,
        ImageKind::TtyInfo,
        ImageKind::TtyData,
        ImageKind::FileLocks,
        ImageKind::RemapFpath,
        ImageKind::GhostFile,
        ImageKind::MemfdInode,
        ImageKind::ShmemPagemap,
        ImageKind::IpcVar,
        ImageKind::IpcShm,
        ImageKind::IpcMsg,
        ImageKind::IpcSem,
    ];

    /// The magics the file starts with, in order: the image's own magic alone
    /// for `inventory.img`, IMG_COMMON then the image's magic for the others,
    /// none for raw pages files.
    pub fn magics(self) -> &'static [u32] {
        match self {
            ImageKind::Inventory => &[0x5831_3116],
            ImageKind::Pstree => &[IMG_COMMON_MAGIC, 0x5027_3030],
            ImageKind::Core => &[IMG_COMMON_MAGIC, 0x5505_3847],
            ImageKind::Ids => &[IMG_COMMON_MAGIC, 0x5443_2030],
            ImageKind::Mm => &[IMG_COMMON_MAGIC, 0x5749_2820],
            ImageKind::Pagemap => &[IMG_COMMON_MAGIC, 0x5608_4025],
            ImageKind::Pages => &[],
            ImageKind::Fdinfo => &[IMG_COMMON_MAGIC, 0x5621_3732],
            ImageKind::Files => &[IMG_COMMON_MAGIC, 0x5630_3138],
            ImageKind::Fs => &[IMG_COMMON_MAGIC, 0x5140_3912],
            ImageKind::PipesData => &[IMG_COMMON_MAGIC, 0x5645_3709],
            ImageKind::FifoData => &[IMG_COMMON_MAGIC, 0x5933_3054],
            ImageKind::Seccomp => &[IMG_COMMON_MAGIC, 0x6441_3049],
            ImageKind::SkQueues => &[IMG_COMMON_MAGIC, 0x5626_4026],
            ImageKind::TtyInfo => &[IMG_COMMON_MAGIC, 0x5945_3036],
            ImageKind::TtyData => &[IMG_COMMON_MAGIC, 0x5941_3026],
            ImageKind::FileLocks => &[IMG_COMMON_MAGIC, 0x5432_3616],
            ImageKind::RemapFpath => &[IMG_COMMON_MAGIC, 0x5913_3954],
            ImageKind::GhostFile => &[IMG_COMMON_MAGIC, 0x5258_3605],
            ImageKind::MemfdInode => &[IMG_COMMON_MAGIC, 0x4845_3499],
            ImageKind::ShmemPagemap => &[IMG_COMMON_MAGIC, 0x5608_4025],
            ImageKind::IpcVar => &[IMG_COMMON_MAGIC, 0x5311_5007],
            ImageKind::IpcShm => &[IMG_COMMON_MAGIC, 0x4628_3044],
            ImageKind::IpcMsg => &[IMG_COMMON_MAGIC, 0x5545_3737],
            ImageKind::IpcSem => &[IMG_COMMON_MAGIC, 0x5957_3019],
        }
    }

    /// The file name without `.img`, before any id: `core` for `core-7.img`.
    pub fn stem(self) -> &'static str {
        match self {
            ImageKind::Inventory => "inventory",
            ImageKind::Pstree => "pstree",
            ImageKind::Core => "core",
            ImageKind::Ids => "ids",
            ImageKind::Mm => "mm",
            ImageKind::Pagemap => "pagemap",
            ImageKind::Pages => "pages",
            ImageKind::Fdinfo => "fdinfo",
            ImageKind::Files => "files",
            ImageKind::Fs => "fs",
            ImageKind::PipesData => "pipes-data",
            ImageKind::FifoData => "fifo-data",
            ImageKind::Seccomp => "seccomp",
            ImageKind::SkQueues => "sk-queues",
            ImageKind::TtyInfo => "tty-info",
            ImageKind::TtyData => "tty-data",
            ImageKind::FileLocks => "filelocks",
            ImageKind::RemapFpath => "remap-fpath",
            ImageKind::GhostFile => "ghost-file",
            ImageKind::MemfdInode => "memfd",
            ImageKind::ShmemPagemap => "pagemap-shmem",
            ImageKind::IpcVar => "ipcns-var",
            ImageKind::IpcShm => "ipcns-shm",
            ImageKind::IpcMsg => "ipcns-msg",
            ImageKind::IpcSem => "ipcns-sem",
        }
    }

    /// Whether the file name carries an id (`core-TID.img`) or is fixed
    /// (`pstree.img`).
    pub fn takes_id(self) -> bool {
        matches!(
            self,
            ImageKind::Core
                | ImageKind::Ids
                | ImageKind::Mm
                | ImageKind::Pagemap
                | ImageKind::Pages
                | ImageKind::Fdinfo
                | ImageKind::Fs
                | ImageKind::GhostFile
                | ImageKind::ShmemPagemap
                | ImageKind::IpcVar
                | ImageKind::IpcShm
                | ImageKind::IpcMsg
                | ImageKind::IpcSem
        )
    }
}

/// One image file: its kind and, for per-task or per-object images, the id
/// in its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ImageName {
    pub kind: ImageKind,
    pub id: Option<u32>,
}

impl ImageName {
    /// An image with a fixed name, such as `pstree.img`.
    pub fn fixed(kind: ImageKind) -> ImageName {
        ImageName { kind, id: None }
    }

    /// An image named by an id, such as `core-TID.img`.
    pub fn with_id(kind: ImageKind, id: u32) -> ImageName {
        ImageName { kind, id: Some(id) }
    }

    /// `core-TID.img`.
    pub fn core(tid: u32) -> ImageName {
        ImageName::with_id(ImageKind::Core, tid)
    }

    /// `ids-PID.img`.
    pub fn ids(pid: u32) -> ImageName {
        ImageName::with_id(ImageKind::Ids, pid)
    }

    /// `mm-PID.img`.
    pub fn mm(pid: u32) -> ImageName {
        ImageName::with_id(ImageKind::Mm, pid)
    }

    /// `fs-PID.img`.
    pub fn fs(pid: u32) -> ImageName {
        ImageName::with_id(ImageKind::Fs, pid)
    }

    /// `fdinfo-FILES_ID.img`: the fd table with that `files_id`.
    pub fn fdinfo(files_id: u32) -> ImageName {
        ImageName::with_id(ImageKind::Fdinfo, files_id)
    }

    /// Whether the id matches the kind: present exactly when the kind takes one.
    pub fn is_well_formed(&self) -> bool {
        self.kind.takes_id() == self.id.is_some()
    }

    /// Recognises a file name of one of the known kinds.
    pub fn parse(file_name: &str) -> Option<ImageName> {
        let stem = file_name.strip_suffix(".img")?;
        ImageKind::ALL.into_iter().find_map(|kind| {
            if !kind.takes_id() {
                return (stem == kind.stem()).then_some(ImageName::fixed(kind));
            }
            let digits = stem.strip_prefix(kind.stem())?.strip_prefix('-')?;
            let canonical = !digits.is_empty()
                && digits.bytes().all(|b| b.is_ascii_digit())
                && (digits == "0" || !digits.starts_with('0'));
            let id = digits.parse().ok().filter(|_| canonical)?;
            Some(ImageName::with_id(kind, id))
        })
    }
}

impl fmt::Display for ImageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.id {
            Some(id) => write!(f, "{}-{}.img", self.kind.stem(), id),
            None => write!(f, "{}.img", self.kind.stem()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for kind in ImageKind::ALL {
            let name = if kind.takes_id() {
                ImageName::with_id(kind, 4242)
            } else {
                ImageName::fixed(kind)
            };
            assert_eq!(ImageName::parse(&name.to_string()), Some(name));
        }
    }

    #[test]
    fn look_alike_names_are_not_images() {
        for file in [
            "pagemap-shmem-.img",
            "pages-shmem-3.img",
            "core-.img",
            "core-07.img",
            "core-+7.img",
            "core-99999999999.img",
            "pstree-1.img",
            "inventory",
            "stats-dump",
        ] {
            assert_eq!(ImageName::parse(file), None, "{file}");
        }
    }

    #[test]
    fn shared_memory_pagemaps_are_not_task_pagemaps() {
        assert_eq!(
            ImageName::parse("pagemap-shmem-3.img"),
            Some(ImageName::with_id(ImageKind::ShmemPagemap, 3))
        );
        assert_eq!(
            ImageName::parse("ghost-file-12.img"),
            Some(ImageName::with_id(ImageKind::GhostFile, 12))
        );
    }

    #[test]
    fn only_inventory_and_pages_lack_the_common_magic() {
        for kind in ImageKind::ALL {
            let common = kind.magics().first() == Some(&IMG_COMMON_MAGIC);
            let expected = !matches!(kind, ImageKind::Inventory | ImageKind::Pages);
            assert_eq!(common, expected, "{kind:?}");
        }
    }
}
