//! Refusals of memory mappings, on real children: SysV shm, replaced files, unlinked files
//! over the ghost limit; memfd mappings and small unlinked files pass.

mod refusal_child;

use std::fs::File;
use std::os::fd::AsRawFd;

use nix::sys::mman::{mmap, munmap, MapFlags, ProtFlags};

use engine::proc::maps::{maps, VmaKind};
use engine::refusal::{check_tree_with, Allowances};
use refusal_child::{lines, serial, Child, TempDir};

/// A shared mapping of `len` bytes of `file` in the test process, unmapped on drop.
struct Mapping(std::ptr::NonNull<libc::c_void>, usize);

impl Mapping {
    fn of(file: &File, len: usize) -> Mapping {
        let size = std::num::NonZeroUsize::new(len).unwrap();
        let prot = ProtFlags::PROT_READ | ProtFlags::PROT_WRITE;
        // SAFETY: a new shared file mapping at an address the kernel picks aliases nothing.
        let addr = unsafe { mmap(None, size, prot, MapFlags::MAP_SHARED, file, 0) }.unwrap();
        Mapping(addr, len)
    }

    fn range(&self) -> (u64, u64) {
        let start = self.0.as_ptr() as u64;
        (start, start + self.1 as u64)
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: the mapping came from `Mapping::of` with this length; nothing uses it now.
        let _ = unsafe { munmap(self.0, self.1) };
    }
}

#[test]
fn sysv_shm_attachment_is_refused() {
    let _serial = serial();
    // SAFETY: shmget takes integers only.
    let shmid = unsafe { libc::shmget(libc::IPC_PRIVATE, 8192, libc::IPC_CREAT | 0o600) };
    assert!(shmid >= 0);
    let child = Child::spawn(&[], move || {
        // SAFETY: attaching at an address the kernel picks aliases nothing.
        unsafe { libc::shmat(shmid, std::ptr::null(), 0) as isize != -1 }
    });
    let pid = child.pid;
    let found = lines(pid);
    let vma = maps(pid)
        .unwrap()
        .into_iter()
        .find(|v| matches!(v.kind, VmaKind::SysvShm { .. }))
        .unwrap();
    drop(child);
    // SAFETY: IPC_RMID takes no buffer.
    unsafe { libc::shmctl(shmid, libc::IPC_RMID, std::ptr::null_mut()) };
    assert_eq!(
        found,
        vec![format!(
            "pid {pid}: {:#x}-{:#x} is SysV shared memory (key 0x00000000, shmid {shmid}): \
             crust does not dump the SysV objects of its own IPC namespace; a tree running in \
             an IPC namespace of its own (started with `unshare --ipc`) is dumped with its \
             objects",
            vma.start, vma.end
        )]
    );
}

#[test]
fn mapping_of_an_unlinked_file_is_kept_up_to_the_ghost_limit() {
    let _serial = serial();
    let dir = TempDir::new("mapped-gone");
    let path = dir.path("mapped");
    let file = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .unwrap();
    file.set_len(3 * 4096).unwrap();
    let mapping = Mapping::of(&file, 3 * 4096);
    std::fs::remove_file(&path).unwrap();
    let child = Child::spawn(&[], || true);
    let (start, end) = mapping.range();
    drop(mapping);
    let pid = child.pid;
    assert_eq!(lines(pid), Vec::<String>::new());
    let allowed = Allowances {
        ghost_limit: 4096,
        ..Default::default()
    };
    let refused = check_tree_with(pid, &allowed).unwrap();
    assert_eq!(
        refused.iter().map(ToString::to_string).collect::<Vec<_>>(),
        vec![format!(
            "pid {pid}: {start:#x}-{end:#x} maps {} (deleted): it was unlinked and its 12288 \
             bytes are over the ghost file limit of 4096 bytes; raise it with --ghost-limit",
            path.display()
        )]
    );
    assert_eq!(refused[0].option, Some("--ghost-limit"));
}

#[test]
fn mapping_of_a_file_hidden_by_a_mount_is_refused() {
    use nix::mount::{mount, umount2, MntFlags, MsFlags};
    let _serial = serial();
    let dir = TempDir::new("mapped-hidden");
    let path = dir.path("mapped");
    let file = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .unwrap();
    file.set_len(4096).unwrap();
    let mapping = Mapping::of(&file, 4096);
    // A tmpfs mounted over the directory makes the same path name a new file.
    mount(
        Some("tmpfs"),
        &dir.0,
        Some("tmpfs"),
        MsFlags::empty(),
        Some("size=64k"),
    )
    .unwrap();
    std::fs::write(&path, b"impostor").unwrap();
    let child = Child::spawn(&[], || true);
    let (start, end) = mapping.range();
    drop(mapping);
    let pid = child.pid;
    let found = lines(pid);
    drop(child);
    umount2(&dir.0, MntFlags::MNT_DETACH).unwrap();
    assert_eq!(
        found,
        vec![format!(
            "pid {pid}: {start:#x}-{end:#x} maps {}: its path now names a different file",
            path.display()
        )]
    );
}

#[test]
fn mapping_whose_name_was_unlinked_is_refused_even_if_the_file_lives_on() {
    let _serial = serial();
    let dir = TempDir::new("mapped-renamed-over");
    let path = dir.path("mapped");
    let file = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .unwrap();
    file.set_len(4096).unwrap();
    let mapping = Mapping::of(&file, 4096);
    std::fs::hard_link(&path, dir.path("keep")).unwrap();
    std::fs::write(dir.path("new"), b"new").unwrap();
    std::fs::rename(dir.path("new"), &path).unwrap();
    let child = Child::spawn(&[], || true);
    let (start, end) = mapping.range();
    drop(mapping);
    let pid = child.pid;
    // maps marks the name deleted once that dentry is gone, whatever other links remain.
    assert_eq!(
        lines(pid),
        vec![format!(
            "pid {pid}: {start:#x}-{end:#x} maps {} (deleted): the name it was opened by was \
             unlinked while other links keep the file; crust cannot tell their names, and a copy \
             would part from the file",
            path.display()
        )]
    );
}

#[test]
fn memfd_mapping_passes() {
    let _serial = serial();
    let name = std::ffi::CString::new("crust-test").unwrap();
    let memfd =
        nix::sys::memfd::memfd_create(&name, nix::sys::memfd::MemFdCreateFlag::empty()).unwrap();
    let file = File::from(memfd);
    file.set_len(4096).unwrap();
    let mapping = Mapping::of(&file, 4096);
    let child = Child::spawn(&[], || true);
    let (start, end) = mapping.range();
    drop(mapping);
    assert!(start < end);
    assert_eq!(lines(child.pid), Vec::<String>::new());
    let _ = file.as_raw_fd();
}
