//! Refusals about memory: mappings of devices, of replaced files, of unlinked files crust
//! cannot keep (see `ghost`), SysV shm, hugetlb and special kernel mappings.

use nix::sys::stat::{FileStat, SFlag};
use nix::unistd::Pid;

use super::files::{is_harmless_device, names_same_file, path_in_root};
use super::{Findings, Reason, RefusalError};
use crate::proc::maps::{maps, Vma, VmaKind};
use crate::proc::smaps::VmFlags;
use crate::proc::DevId;

/// Check every vma of `pid`; with `own_ipc` (the tree has an IPC namespace of its own, dumped
/// with it) SysV shm attachments pass, but those of hugetlb segments.
pub(super) fn check_memory(
    pid: Pid,
    ghost_limit: u64,
    own_ipc: bool,
    found: &mut Findings,
) -> Result<(), RefusalError> {
    let map_files_open = crate::privileges::may_open_map_files();
    for vma in maps(pid).map_err(RefusalError::Memory)? {
        if own_ipc && is_dumped_with_own_ipc(&vma) {
            continue;
        }
        let hugetlb = vma.flags.contains(VmFlags::HUGETLB);
        if let (Some(what), false, false) = (read_through_map_files(&vma), map_files_open, hugetlb)
        {
            found.add_range(vma.start, vma.end, what, Reason::MapFilesClosed);
            continue;
        }
        if let (
            VmaKind::File {
                path,
                deleted: true,
            },
            false,
        ) = (&vma.kind, hugetlb)
        {
            super::ghost::check_mapping(pid, &vma, path, ghost_limit, found);
            continue;
        }
        let named = match &vma.kind {
            VmaKind::File {
                path,
                deleted: false,
            } => nix::sys::stat::stat(&path_in_root(pid, path)).ok(),
            _ => None,
        };
        if let Some((what, reason)) = judge_vma(&vma, named.as_ref()) {
            found.add_range(vma.start, vma.end, what, reason);
        }
    }
    Ok(())
}

/// What a vma that the dump reads through /proc/PID/map_files is (shared anonymous memory,
/// a mapped memfd, a mapped unlinked file), or None.
fn read_through_map_files(vma: &Vma) -> Option<String> {
    match &vma.kind {
        VmaKind::SharedAnonymous => Some("is shared anonymous memory".into()),
        VmaKind::SharedAnonNamed(name) => Some(format!("is shared anonymous memory ({name})")),
        VmaKind::Memfd { name } => Some(format!("maps memfd:{name}")),
        VmaKind::File {
            path,
            deleted: true,
        } => Some(format!("maps {} (deleted)", path.display())),
        _ => None,
    }
}

/// Whether `vma` attaches a SysV segment that a tree's own IPC namespace holds and a restore
/// makes again: any but a hugetlb one, which it would make of ordinary pages.
fn is_dumped_with_own_ipc(vma: &Vma) -> bool {
    matches!(vma.kind, VmaKind::SysvShm { .. }) && !vma.flags.contains(VmFlags::HUGETLB)
}

/// The refusal for a vma, given the stat of the path it names (files only), if any.
pub(super) fn judge_vma(vma: &Vma, named: Option<&FileStat>) -> Option<(String, Reason)> {
    if vma.flags.contains(VmFlags::HUGETLB) || vma.kind == VmaKind::AnonHugepage {
        return Some(("is hugetlb memory".into(), Reason::Hugetlb));
    }
    match &vma.kind {
        VmaKind::SysvShm { key } => Some((
            format!(
                "is SysV shared memory (key {key:#010x}, shmid {})",
                vma.inode
            ),
            Reason::SysvShm,
        )),
        VmaKind::Memfd { .. } => None,
        // Judged by `ghost::check_mapping`, which looks at the file through map_files.
        VmaKind::File { deleted: true, .. } => None,
        VmaKind::File {
            path,
            deleted: false,
        } => judge_file(vma, &path.display().to_string(), named),
        VmaKind::Uprobes | VmaKind::Special(_) => {
            let what = format!("is a special mapping ({})", special_name(&vma.kind));
            Some((
                what,
                Reason::UnsupportedMapping {
                    kind: "special mappings",
                },
            ))
        }
        _ => None,
    }
}

fn special_name(kind: &VmaKind) -> String {
    match kind {
        VmaKind::Special(name) => format!("[{name}]"),
        _ => "[uprobes]".into(),
    }
}

/// A mapped file must still be the file its path names, and not a device.
fn judge_file(vma: &Vma, path: &str, named: Option<&FileStat>) -> Option<(String, Reason)> {
    let dev = nix::sys::stat::makedev(u64::from(vma.dev.major), u64::from(vma.dev.minor));
    if !names_same_file(named, dev, vma.inode) {
        return Some((format!("maps {path}"), Reason::Replaced));
    }
    let st = named?;
    let device = DevId::from_dev_t(st.st_rdev);
    match SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT {
        SFlag::S_IFCHR if !is_harmless_device(device) => {
            Some((format!("maps {path} (char {device})"), Reason::Device))
        }
        SFlag::S_IFBLK => Some((format!("maps {path} (block {device})"), Reason::Device)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proc::maps::parse_vma_line;

    fn file_stat(mode: u32, dev: u64, ino: u64, rdev: u64) -> FileStat {
        // SAFETY: `stat` is plain old data; all-zero bytes are a valid value of it.
        let mut st: FileStat = unsafe { std::mem::zeroed() };
        st.st_mode = mode;
        st.st_dev = dev;
        st.st_ino = ino;
        st.st_rdev = rdev;
        st
    }

    #[test]
    fn hugetlb_sysv_attachment_is_refused_even_with_an_own_namespace() {
        let line = "7f12a000-7f12c000 rw-s 00000000 00:01 3   /SYSV00001234 (deleted)";
        let mut vma = parse_vma_line(line).unwrap();
        assert!(is_dumped_with_own_ipc(&vma));
        vma.flags |= VmFlags::HUGETLB;
        assert!(!is_dumped_with_own_ipc(&vma));
        let refused = judge_vma(&vma, None).map(|(_, reason)| reason);
        assert_eq!(refused, Some(Reason::Hugetlb));
    }

    #[test]
    fn mapped_device_is_refused() {
        let vma =
            parse_vma_line("7f12a000-7f12c000 rw-s 00000000 00:06 512   /dev/dri/card0").unwrap();
        let st = file_stat(
            libc::S_IFCHR | 0o660,
            nix::sys::stat::makedev(0, 6),
            512,
            nix::sys::stat::makedev(226, 0),
        );
        assert_eq!(
            judge_vma(&vma, Some(&st)),
            Some(("maps /dev/dri/card0 (char 226:0)".into(), Reason::Device))
        );
    }

    #[test]
    fn mapped_files_must_keep_their_name() {
        let vma = parse_vma_line("1000-3000 r--p 00000000 fe:00 99   /usr/lib/libx.so").unwrap();
        let same = file_stat(
            libc::S_IFREG | 0o644,
            nix::sys::stat::makedev(0xfe, 0),
            99,
            0,
        );
        assert_eq!(judge_vma(&vma, Some(&same)), None);
        let other = file_stat(
            libc::S_IFREG | 0o644,
            nix::sys::stat::makedev(0xfe, 0),
            100,
            0,
        );
        assert_eq!(
            judge_vma(&vma, Some(&other)),
            Some(("maps /usr/lib/libx.so".into(), Reason::Replaced))
        );
        assert_eq!(judge_vma(&vma, None).unwrap().1, Reason::Replaced);
    }

    #[test]
    fn shm_hugetlb_and_deleted() {
        let shm =
            parse_vma_line("1000-2000 rw-s 00000000 00:01 5   /SYSV00001234 (deleted)").unwrap();
        assert_eq!(
            judge_vma(&shm, None),
            Some((
                "is SysV shared memory (key 0x00001234, shmid 5)".into(),
                Reason::SysvShm
            ))
        );
        let huge =
            parse_vma_line("1000-2000 rw-s 00000000 00:0f 7   /anon_hugepage (deleted)").unwrap();
        assert_eq!(judge_vma(&huge, None).unwrap().1, Reason::Hugetlb);
        let gone = parse_vma_line("1000-2000 rw-p 00000000 fe:00 7   /tmp/x (deleted)").unwrap();
        assert_eq!(judge_vma(&gone, None), None, "judged as a ghost instead");
    }

    #[test]
    fn ordinary_memory_passes() {
        for line in [
            "1000-2000 rw-p 00000000 00:00 0   [heap]",
            "1000-2000 rw-p 00000000 00:00 0 ",
            "1000-2000 rw-s 00000000 00:01 9   /dev/zero (deleted)",
            "1000-2000 r--p 00000000 00:00 0   [vvar]",
            "1000-2000 r--p 00000000 00:00 0   [vvar_vclock]",
            "1000-2000 r-xp 00000000 00:00 0   [vdso]",
            "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0   [vsyscall]",
        ] {
            assert_eq!(
                judge_vma(&parse_vma_line(line).unwrap(), None),
                None,
                "{line}"
            );
        }
    }
}
