//! Refusals about files with no name left. An unlinked regular file or directory (held as an
//! fd, mapped, or the working directory) is dumped as a ghost, its contents in the images, if it
//! is no bigger than `--ghost-limit` and the directory it was in is still there to recreate it
//! in. memfds are dumped, but those on hugetlbfs.

use std::path::Path;

use nix::sys::stat::FileStat;
use nix::unistd::Pid;

use super::files::path_in_root;
use super::{Findings, Reason, Resource};
use crate::proc::maps::Vma;

/// The option that raises the size limit.
pub(super) const GHOST_LIMIT_OPTION: &str = "--ghost-limit";

/// What the kernel appends to the path of a file that lost its name.
const DELETED_SUFFIX: &str = " (deleted)";

/// hugetlbfs's statfs magic.
const HUGETLBFS_MAGIC: i64 = 0x9584_58f6;

/// Fd `fd` of `pid` holds an unlinked file that had `path`, with stat `stat`.
pub(super) fn check_fd(
    pid: Pid,
    fd: i32,
    path: &Path,
    stat: &FileStat,
    limit: u64,
    found: &mut Findings,
) {
    let what = format!("{}{DELETED_SUFFIX}", path.display());
    let parent_exists = parent_exists(pid, path);
    if let Some(reason) = judge_ghost(stat, parent_exists, limit) {
        add(found, Resource::Fd(fd, what), reason);
    }
}

/// `vma` of `pid` maps an unlinked file that had `path`.
pub(super) fn check_mapping(pid: Pid, vma: &Vma, path: &Path, limit: u64, found: &mut Findings) {
    let what = format!("maps {}{DELETED_SUFFIX}", path.display());
    // Unreadable: the dump will fail on it with its own error.
    let Ok(stat) = nix::sys::stat::stat(&vma.map_files_path(pid)) else {
        return;
    };
    if let Some(reason) = judge_ghost(&stat, parent_exists(pid, path), limit) {
        let option = matches!(reason, Reason::GhostTooBig { .. });
        found.add_range(vma.start, vma.end, what, reason);
        if let (true, Some(last)) = (option, found.refusals.last_mut()) {
            last.option = Some(GHOST_LIMIT_OPTION);
        }
    }
}

/// The working directory `held` (with stat `stat`) was removed: a ghost directory, if its
/// parent is still there.
pub(super) fn check_cwd(pid: Pid, held: &Path, found: &mut Findings) {
    let text = held.display().to_string();
    let path = text.strip_suffix(DELETED_SUFFIX).unwrap_or(&text);
    if !parent_exists(pid, Path::new(path)) {
        found.add(Resource::Cwd(text.clone()), Reason::GhostDirectoryGone);
    }
}

/// Fd `fd` of `pid` is a memfd: refused only on hugetlbfs.
pub(super) fn check_memfd(pid: Pid, fd: i32, link: &str, found: &mut Findings) {
    let path = crate::proc::proc_path(pid, &format!("fd/{fd}"));
    let on_hugetlbfs =
        nix::sys::statfs::statfs(&path).is_ok_and(|fs| fs.filesystem_type().0 == HUGETLBFS_MAGIC);
    if on_hugetlbfs {
        let what = format!("a hugetlb memfd ({link})");
        found.add(Resource::Fd(fd, what), Reason::Hugetlb);
    }
}

/// The refusal for an unlinked file with stat `stat`, if any.
pub(super) fn judge_ghost(stat: &FileStat, parent_exists: bool, limit: u64) -> Option<Reason> {
    // Its name is gone but another link keeps it: a copy would part from the file.
    if stat.st_nlink != 0 {
        return Some(Reason::NameUnlinked);
    }
    let kind = stat.st_mode & libc::S_IFMT;
    if kind != libc::S_IFREG && kind != libc::S_IFDIR {
        return Some(Reason::Deleted);
    }
    if !parent_exists {
        return Some(Reason::GhostDirectoryGone);
    }
    let size = u64::try_from(stat.st_size).unwrap_or(0);
    (kind == libc::S_IFREG && size > limit).then_some(Reason::GhostTooBig { size, limit })
}

fn add(found: &mut Findings, resource: Resource, reason: Reason) {
    match reason {
        Reason::GhostTooBig { .. } => found.add_with_option(resource, reason, GHOST_LIMIT_OPTION),
        reason => found.add(resource, reason),
    }
}

/// Whether the directory `path` was in still exists, as the task sees it.
fn parent_exists(pid: Pid, path: &Path) -> bool {
    let parent = path.parent().unwrap_or(Path::new("/"));
    path.is_absolute() && path_in_root(pid, parent).is_dir()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(mode: u32, size: i64) -> FileStat {
        // SAFETY: `stat` is plain old data; all-zero bytes are a valid value of it.
        let mut st: FileStat = unsafe { std::mem::zeroed() };
        st.st_mode = mode;
        st.st_size = size;
        st
    }

    #[test]
    fn ghosts_up_to_the_limit_pass() {
        let limit = 1 << 20;
        assert_eq!(
            judge_ghost(&stat(libc::S_IFREG | 0o644, 1 << 20), true, limit),
            None
        );
        assert_eq!(
            judge_ghost(&stat(libc::S_IFDIR | 0o755, 4096), true, limit),
            None
        );
        assert_eq!(
            judge_ghost(&stat(libc::S_IFREG | 0o644, (1 << 20) + 1), true, limit),
            Some(Reason::GhostTooBig {
                size: (1 << 20) + 1,
                limit
            })
        );
    }

    #[test]
    fn other_kinds_and_lost_directories_are_refused() {
        let limit = 1 << 20;
        assert_eq!(
            judge_ghost(&stat(libc::S_IFIFO | 0o644, 0), true, limit),
            Some(Reason::Deleted)
        );
        assert_eq!(
            judge_ghost(&stat(libc::S_IFREG | 0o644, 10), false, limit),
            Some(Reason::GhostDirectoryGone)
        );
        let mut linked = stat(libc::S_IFREG | 0o644, 10);
        linked.st_nlink = 1;
        assert_eq!(
            judge_ghost(&linked, true, limit),
            Some(Reason::NameUnlinked)
        );
    }
}
