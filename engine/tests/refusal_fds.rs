//! Refusals of open files, on real children holding them.

mod refusal_child;

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use nix::sys::socket::{socket, socketpair, AddressFamily, SockFlag, SockType};
use nix::unistd::Pid;

use engine::external::External;
use engine::proc::status::TaskState;
use engine::refusal::{check_tree, check_tree_with, Allowances, Reason};
use refusal_child::{lines, lines_with, serial, Child, TempDir};

fn inode_of(fd: &impl AsRawFd) -> u64 {
    nix::sys::stat::fstat(fd.as_raw_fd()).unwrap().st_ino
}

#[test]
fn a_plain_child_has_no_refusals() {
    let _serial = serial();
    let child = Child::spawn(&[], || true);
    assert_eq!(lines(child.pid), Vec::<String>::new());
}

#[test]
fn allowed_files_pass() {
    let _serial = serial();
    let dir = TempDir::new("allowed");
    std::fs::write(dir.path("data"), b"hello").unwrap();
    let data = File::options().append(true).open(dir.path("data")).unwrap();
    let directory = File::open(&dir.0).unwrap();
    let null = File::open("/dev/null").unwrap();
    let urandom = File::open("/dev/urandom").unwrap();
    let (pipe_read, pipe_write) = nix::unistd::pipe().unwrap();
    let keep = [
        &data.as_raw_fd(),
        &directory.as_raw_fd(),
        &null.as_raw_fd(),
        &urandom.as_raw_fd(),
    ]
    .map(|fd| *fd);
    let keep = [
        keep.as_slice(),
        &[pipe_read.as_raw_fd(), pipe_write.as_raw_fd()],
    ]
    .concat();
    let child = Child::spawn(&keep, || true);
    // The test's own copies would share the file's and directory's descriptions (and the
    // pipe's ends) with the child from outside.
    drop((pipe_read, pipe_write, data, directory));
    assert_eq!(lines(child.pid), Vec::<String>::new());
}

#[test]
fn socketpair_ends_are_unix_sockets() {
    let _serial = serial();
    let (a, b) = socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::empty(),
    )
    .unwrap();
    let (ia, ib) = (inode_of(&a), inode_of(&b));
    let child = Child::spawn(&[a.as_raw_fd(), b.as_raw_fd()], || true);
    drop((a, b));
    let pid = child.pid;
    assert_eq!(
        lines(pid),
        vec![
            format!(
                "pid {pid}: fd 100 is a unix socket (socket:[{ia}]) connected to an unnamed \
                socket held by this process (fd 101): sockets are not supported yet"
            ),
            format!(
                "pid {pid}: fd 101 is a unix socket (socket:[{ib}]) connected to an unnamed \
                socket held by this process (fd 100): sockets are not supported yet"
            ),
        ]
    );
    // Checking neither stops nor traces the child (on a loaded machine it may be seen runnable).
    let state = child.state();
    assert!(
        matches!(state, TaskState::Sleeping | TaskState::Running),
        "{state:?}"
    );
}

#[test]
fn sockets_are_named_by_family() {
    let _serial = serial();
    let flags = SockFlag::empty();
    let inet6 = socket(AddressFamily::Inet6, SockType::Stream, flags, None).unwrap();
    let netlink = socket(AddressFamily::Netlink, SockType::Raw, flags, None).unwrap();
    let udp = socket(AddressFamily::Inet, SockType::Datagram, flags, None).unwrap();
    let socks: [&OwnedFd; 3] = [&inet6, &netlink, &udp];
    let keep: Vec<i32> = socks.iter().map(|s| s.as_raw_fd()).collect();
    let inodes: Vec<u64> = socks.iter().map(|s| inode_of(*s)).collect();
    let child = Child::spawn(&keep, || true);
    drop((inet6, netlink, udp));
    let pid = child.pid;
    let expected: Vec<String> = ["AF_INET6", "AF_NETLINK", "AF_INET"]
        .iter()
        .zip(&inodes)
        .enumerate()
        .map(|(i, (family, inode))| {
            format!(
                "pid {pid}: fd {} is a socket ({family}, socket:[{inode}]): sockets are not \
                supported yet",
                100 + i
            )
        })
        .collect();
    assert_eq!(lines(pid), expected);
}

#[test]
fn vsock_socket_is_named() {
    let _serial = serial();
    let Ok(vsock) = socket(
        AddressFamily::Vsock,
        SockType::Stream,
        SockFlag::empty(),
        None,
    ) else {
        // No vsock transport in this kernel: nothing to check.
        return;
    };
    let inode = inode_of(&vsock);
    let child = Child::spawn(&[vsock.as_raw_fd()], || true);
    drop(vsock);
    let pid = child.pid;
    assert_eq!(
        lines(pid),
        vec![format!(
            "pid {pid}: fd 100 is a socket (AF_VSOCK, socket:[{inode}]): sockets are \
            not supported yet"
        )]
    );
}

#[test]
fn eventfd_and_epoll_are_refused() {
    let _serial = serial();
    let eventfd = nix::sys::eventfd::EventFd::new().unwrap();
    let epoll = nix::sys::epoll::Epoll::new(nix::sys::epoll::EpollCreateFlags::empty()).unwrap();
    let child = Child::spawn(&[eventfd.as_raw_fd(), epoll.0.as_raw_fd()], || true);
    drop((eventfd, epoll));
    let pid = child.pid;
    assert_eq!(
        lines(pid),
        vec![
            format!(
                "pid {pid}: fd 100 is an eventfd (anon_inode:[eventfd]): eventfds are not \
                supported yet"
            ),
            format!(
                "pid {pid}: fd 101 is an epoll instance (anon_inode:[eventpoll]): epoll \
                instances are not \
                 supported yet"
            ),
        ]
    );
}

#[test]
fn devices_other_than_the_harmless_five_are_refused() {
    let _serial = serial();
    let kmsg = File::open("/dev/kmsg").unwrap();
    let zero = File::open("/dev/zero").unwrap();
    let child = Child::spawn(&[kmsg.as_raw_fd(), zero.as_raw_fd()], || true);
    drop((kmsg, zero));
    let pid = child.pid;
    assert_eq!(
        lines(pid),
        vec![format!(
            "pid {pid}: fd 100 is /dev/kmsg (char 1:11): devices cannot be dumped"
        )]
    );
}

#[test]
fn an_unlinked_file_is_kept_up_to_the_ghost_limit() {
    let _serial = serial();
    let dir = TempDir::new("unlinked");
    let path = dir.path("gone");
    std::fs::write(&path, b"ten bytes!").unwrap();
    let file = File::open(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let child = Child::spawn(&[file.as_raw_fd()], || true);
    drop(file);
    let pid = child.pid;
    assert_eq!(lines(pid), Vec::<String>::new());
    let allowed = Allowances {
        ghost_limit: 9,
        ..Default::default()
    };
    let refused = check_tree_with(pid, &allowed).unwrap();
    assert_eq!(
        refused.iter().map(ToString::to_string).collect::<Vec<_>>(),
        vec![format!(
            "pid {pid}: fd 100 is {} (deleted): it was unlinked and its 10 bytes are over the \
             ghost file limit of 9 bytes; raise it with --ghost-limit",
            path.display()
        )]
    );
    assert_eq!(refused[0].option, Some("--ghost-limit"));
}

#[test]
fn an_unlinked_file_whose_directory_is_gone_is_refused() {
    let _serial = serial();
    let dir = TempDir::new("unlinked-dir");
    let sub = dir.path("sub");
    std::fs::create_dir(&sub).unwrap();
    let path = sub.join("gone");
    let file = File::create(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    std::fs::remove_dir(&sub).unwrap();
    let child = Child::spawn(&[file.as_raw_fd()], || true);
    drop(file);
    let pid = child.pid;
    assert_eq!(
        lines(pid),
        vec![format!(
            "pid {pid}: fd 100 is {} (deleted): it was unlinked and the directory it was in is \
             gone too, so it cannot be made again",
            path.display()
        )]
    );
}

#[test]
fn a_replaced_file_with_no_name_left_is_kept_as_a_ghost() {
    let _serial = serial();
    let dir = TempDir::new("replaced");
    let path = dir.path("config");
    let file = File::create(&path).unwrap();
    std::fs::write(dir.path("new"), b"new").unwrap();
    std::fs::rename(dir.path("new"), &path).unwrap();
    let child = Child::spawn(&[file.as_raw_fd()], || true);
    drop(file);
    // The old file has no name left: the kernel calls it deleted, and crust keeps its contents.
    assert_eq!(lines(child.pid), Vec::<String>::new());
}

#[test]
fn file_reached_through_another_name_is_refused() {
    let _serial = serial();
    let dir = TempDir::new("moved");
    let path = dir.path("config");
    let file = File::create(&path).unwrap();
    // A second link keeps the file alive while the opened path is made to name another file.
    std::fs::hard_link(&path, dir.path("keep")).unwrap();
    std::fs::write(dir.path("new"), b"new").unwrap();
    std::fs::rename(dir.path("new"), &path).unwrap();
    let child = Child::spawn(&[file.as_raw_fd()], || true);
    drop(file);
    let pid = child.pid;
    // The opened name was unlinked but the inode lives on through "keep": the kernel marks the
    // name deleted while the file keeps a link count, and the path now names another file.
    assert_eq!(
        lines(pid),
        vec![format!(
            "pid {pid}: fd 100 is {} (deleted): the name it was opened by was unlinked while \
             other links keep the file; crust cannot tell their names, and a copy would part \
             from the file",
            path.display()
        )]
    );
    assert_eq!(check_tree(pid).unwrap()[0].reason, Reason::NameUnlinked);
}

#[test]
fn pipe_with_an_end_elsewhere_names_the_holder() {
    let _serial = serial();
    let (read, write) = nix::unistd::pipe().unwrap();
    let inode = inode_of(&read);
    let child = Child::spawn(&[read.as_raw_fd()], || true);
    drop(read);
    let pid = child.pid;
    let me = Pid::this();
    assert_eq!(
        lines(pid),
        vec![format!(
            "pid {pid}: fd 100 is a pipe (pipe:[{inode}]): it is also open in pid {me}; dump it \
            with --external pipe:[{inode}]"
        )]
    );
    assert_eq!(check_tree(pid).unwrap()[0].option, Some("--external"));
    // Once the other end is closed everywhere, the pipe is the process's alone: dumped, and
    // restored with its other end closed.
    drop(write);
    assert_eq!(lines(pid), Vec::<String>::new());
}

#[test]
fn a_pipe_named_external_is_let_through() {
    let _serial = serial();
    let (read, _write) = nix::unistd::pipe().unwrap();
    let (other_read, _other_write) = nix::unistd::pipe().unwrap();
    let inode = inode_of(&read);
    let other = inode_of(&other_read);
    let child = Child::spawn(&[read.as_raw_fd(), other_read.as_raw_fd()], || true);
    drop((read, other_read));
    let pid = child.pid;
    let allowed = Allowances {
        external: [External::Pipe { inode }].into(),
        ..Allowances::default()
    };
    let refused: Vec<String> = lines_with(pid, &allowed);
    let me = Pid::this();
    assert_eq!(
        refused,
        vec![format!(
            "pid {pid}: fd 101 is a pipe (pipe:[{other}]): it is also open in pid {me}; dump it \
            with --external pipe:[{other}]"
        )]
    );
}

#[test]
fn packet_mode_pipe_is_refused() {
    let _serial = serial();
    let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_DIRECT).unwrap();
    let inode = inode_of(&read);
    let child = Child::spawn(&[read.as_raw_fd(), write.as_raw_fd()], || true);
    drop((read, write));
    let pid = child.pid;
    assert_eq!(
        lines(pid),
        vec![format!(
            "pid {pid}: fd 101 is a packet-mode pipe (pipe:[{inode}], O_DIRECT): packet-mode \
            pipes are not \
             supported yet"
        )]
    );
}

#[test]
fn held_file_locks_are_refused_with_their_option() {
    let _serial = serial();
    let dir = TempDir::new("locks");
    let flocked = File::create(dir.path("flocked")).unwrap();
    let posix = File::create(dir.path("posix")).unwrap();
    // SAFETY: flock on an fd owned by `flocked`.
    let rc = unsafe { libc::flock(flocked.as_raw_fd(), libc::LOCK_EX) };
    assert_eq!(rc, 0);
    let posix_fd = 101;
    let child = Child::spawn(&[flocked.as_raw_fd(), posix.as_raw_fd()], move || {
        // SAFETY: `lock` is a valid flock struct on the stack; fcntl only reads it.
        unsafe {
            let mut lock: libc::flock = std::mem::zeroed();
            lock.l_type = libc::F_WRLCK as libc::c_short;
            lock.l_whence = libc::SEEK_SET as libc::c_short;
            lock.l_start = 10;
            lock.l_len = 20;
            libc::fcntl(posix_fd, libc::F_SETLK, &lock) == 0
        }
    });
    drop((flocked, posix));
    let pid = child.pid;
    let flocked = dir.path("flocked");
    let posix = dir.path("posix");
    assert_eq!(
        lines(pid),
        vec![
            format!(
                "pid {pid}: fd 100 holds a FLOCK WRITE lock on {} (bytes 0-EOF): file locks are \
                 dumped only with --file-locks",
                flocked.display()
            ),
            format!(
                "pid {pid}: fd 101 holds a POSIX WRITE lock on {} (bytes 10-29): file locks are \
                 dumped only with --file-locks",
                posix.display()
            ),
        ]
    );
    let refusals = check_tree(pid).unwrap();
    assert!(refusals.iter().all(|r| r.option == Some("--file-locks")));
}

#[test]
fn with_file_locks_flock_posix_and_ofd_locks_pass() {
    let _serial = serial();
    let dir = TempDir::new("locks-allowed");
    let flocked = File::create(dir.path("flocked")).unwrap();
    let ranged = File::create(dir.path("ranged")).unwrap();
    let (flock_fd, ranged_fd) = (100, 101);
    let child = Child::spawn(&[flocked.as_raw_fd(), ranged.as_raw_fd()], move || {
        // SAFETY: flock and fcntl on fds the child holds; `lock` is a valid flock struct on
        // the stack that fcntl only reads.
        unsafe {
            let mut lock: libc::flock = std::mem::zeroed();
            lock.l_type = libc::F_WRLCK as libc::c_short;
            lock.l_whence = libc::SEEK_SET as libc::c_short;
            lock.l_len = 10;
            let posix = libc::fcntl(ranged_fd, libc::F_SETLK, &lock);
            lock.l_start = 50;
            let ofd = libc::fcntl(ranged_fd, libc::F_OFD_SETLK, &lock);
            libc::flock(flock_fd, libc::LOCK_SH) == 0 && posix == 0 && ofd == 0
        }
    });
    drop((flocked, ranged));
    let pid = child.pid;
    let without: Vec<Reason> = check_tree(pid)
        .unwrap()
        .into_iter()
        .map(|refusal| refusal.reason)
        .collect();
    assert_eq!(
        without,
        [Reason::FileLock, Reason::FileLock, Reason::FileLock]
    );
    let allowed = Allowances {
        file_locks: true,
        ..Allowances::default()
    };
    let with: Vec<String> = lines_with(pid, &allowed);
    assert_eq!(with, Vec::<String>::new());
}

#[test]
fn a_lease_stays_refused_with_file_locks() {
    let _serial = serial();
    let dir = TempDir::new("locks-lease");
    std::fs::write(dir.path("leased"), b"x").unwrap();
    let leased = File::open(dir.path("leased")).unwrap();
    let child = Child::spawn(&[leased.as_raw_fd()], || {
        // SAFETY: fcntl on an fd the child holds, with an integer argument.
        unsafe { libc::fcntl(100, libc::F_SETLEASE, libc::F_RDLCK) == 0 }
    });
    drop(leased);
    let pid = child.pid;
    let allowed = Allowances {
        file_locks: true,
        ..Allowances::default()
    };
    let refused: Vec<String> = lines_with(pid, &allowed);
    assert_eq!(
        refused,
        vec![format!(
            "pid {pid}: fd 100 holds a LEASE READ lock on {} (bytes 0-EOF): leases cannot be \
             restored, even with --file-locks",
            dir.path("leased").display()
        )]
    );
}

/// flock(1) waiting for a lock the test holds: its pending request is refused even with
/// `--file-locks`.
#[test]
fn a_waiting_lock_request_stays_refused_with_file_locks() {
    use std::os::unix::process::CommandExt;
    let _serial = serial();
    let dir = TempDir::new("locks-waiting");
    let path = dir.path("contended");
    let held = File::create(&path).unwrap();
    // SAFETY: flock on an fd owned by `held`.
    assert_eq!(unsafe { libc::flock(held.as_raw_fd(), libc::LOCK_EX) }, 0);
    let mut command = std::process::Command::new("flock");
    command
        .arg(&path)
        .arg("true")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    // SAFETY: runs in the forked child before exec; setsid and close_range are
    // async-signal-safe and touch no memory.
    unsafe {
        command.pre_exec(|| {
            libc::setsid();
            libc::syscall(
                libc::SYS_close_range,
                3,
                u32::MAX,
                libc::CLOSE_RANGE_CLOEXEC,
            );
            Ok(())
        });
    }
    let mut waiter = command.spawn().expect("flock(1) from util-linux");
    let pid = Pid::from_raw(waiter.id() as i32);
    let waiting = format!(" -> FLOCK  ADVISORY  WRITE {pid} ");
    let mut seen = false;
    for _ in 0..1000 {
        let locks = std::fs::read_to_string("/proc/locks").unwrap();
        if locks.lines().any(|line| line.contains(&waiting)) {
            seen = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let allowed = Allowances {
        file_locks: true,
        ..Allowances::default()
    };
    let refused: Vec<String> = lines_with(pid, &allowed)
        .into_iter()
        .filter(|line| line.contains("lock"))
        .collect();
    let _ = waiter.kill();
    let _ = waiter.wait();
    assert!(seen, "flock(1) never waited for the lock");
    assert_eq!(
        refused,
        vec![format!(
            "pid {pid}: waits for a FLOCK WRITE lock on {} (bytes 0-EOF): crust does not carry \
             over a lock request that is still waiting, even with --file-locks",
            path.display()
        )]
    );
}

#[test]
fn files_on_a_lazily_unmounted_filesystem_are_refused() {
    use nix::mount::{mount, umount2, MntFlags, MsFlags};
    let _serial = serial();
    let dir = TempDir::new("lazy");
    mount(
        Some("tmpfs"),
        &dir.0,
        Some("tmpfs"),
        MsFlags::empty(),
        Some("size=64k"),
    )
    .unwrap();
    let file = File::create(dir.path("on-tmpfs")).unwrap();
    let mnt_id = engine::proc::fdinfo::fdinfo(Pid::this(), file.as_raw_fd())
        .unwrap()
        .mnt_id;
    let child = Child::spawn(&[file.as_raw_fd()], || true);
    drop(file);
    umount2(&dir.0, MntFlags::MNT_DETACH).unwrap();
    let pid = child.pid;
    assert_eq!(
        lines(pid),
        vec![format!(
            "pid {pid}: fd 100 is /on-tmpfs: its filesystem was lazily unmounted (mount \
            {mnt_id} is unreachable)"
        )]
    );
}

#[test]
fn timerfd_signalfd_inotify_and_pidfd_are_refused_but_not_memfds() {
    use nix::sys::signal::SigSet;
    use nix::sys::signalfd::SignalFd;
    use nix::sys::timerfd::{ClockId, TimerFd, TimerFlags};
    let _serial = serial();
    let name = std::ffi::CString::new("crust-memfd").unwrap();
    let memfd =
        nix::sys::memfd::memfd_create(&name, nix::sys::memfd::MemFdCreateFlag::empty()).unwrap();
    let timerfd = TimerFd::new(ClockId::CLOCK_MONOTONIC, TimerFlags::empty()).unwrap();
    let signalfd = SignalFd::new(&SigSet::empty()).unwrap();
    // SAFETY: inotify_init1 takes flags; the fd it returns is owned below.
    let inotify = unsafe { libc::inotify_init1(0) };
    assert!(inotify >= 0);
    // SAFETY: `inotify` was just returned by inotify_init1 and nothing else owns it.
    let inotify = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(inotify) };
    // SAFETY: pidfd_open takes a pid and flags; the fd it returns is owned below.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, std::process::id(), 0) } as i32;
    assert!(pidfd >= 0);
    // SAFETY: `pidfd` was just returned by pidfd_open and nothing else owns it.
    let pidfd = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(pidfd) };
    let keep = [
        memfd.as_raw_fd(),
        timerfd.as_fd().as_raw_fd(),
        signalfd.as_raw_fd(),
        inotify.as_raw_fd(),
        pidfd.as_raw_fd(),
    ];
    let child = Child::spawn(&keep, || true);
    drop((memfd, timerfd, signalfd, inotify, pidfd));
    let pid = child.pid;
    assert_eq!(
        lines(pid),
        vec![
            format!(
                "pid {pid}: fd 101 is a timerfd (anon_inode:[timerfd]): timerfds are not supported \
                 yet"
            ),
            format!(
                "pid {pid}: fd 102 is a signalfd (anon_inode:[signalfd]): signalfds are not \
                 supported yet"
            ),
            format!(
                "pid {pid}: fd 103 is an inotify instance (anon_inode:inotify): inotify instances \
                 are not supported yet"
            ),
            format!(
                "pid {pid}: fd 104 is a pidfd (anon_inode:[pidfd]): pidfds are not supported yet"
            ),
        ]
    );
}

/// A child whose working directory is `cwd`, removed after it went there.
fn in_removed_directory(cwd: &std::path::Path) -> Child {
    std::fs::create_dir(cwd).unwrap();
    let held = File::open(cwd).unwrap();
    let held_fd = held.as_raw_fd();
    let child = Child::spawn(&[held_fd], || {
        // SAFETY: fchdir on the directory fd the child was given (at FIRST_FD).
        unsafe {
            libc::fchdir(refusal_child::FIRST_FD) == 0 && libc::close(refusal_child::FIRST_FD) == 0
        }
    });
    drop(held);
    std::fs::remove_dir(cwd).unwrap();
    child
}

#[test]
fn a_removed_working_directory_is_kept_as_a_ghost() {
    let _serial = serial();
    let dir = TempDir::new("cwd");
    let child = in_removed_directory(&dir.path("here"));
    assert_eq!(lines(child.pid), Vec::<String>::new());
}

#[test]
fn a_removed_working_directory_whose_parent_is_gone_is_refused() {
    let _serial = serial();
    let dir = TempDir::new("cwd-parent");
    let parent = dir.path("parent");
    std::fs::create_dir(&parent).unwrap();
    let cwd = parent.join("here");
    let child = in_removed_directory(&cwd);
    std::fs::remove_dir(&parent).unwrap();
    let pid = child.pid;
    assert_eq!(
        lines(pid),
        vec![format!(
            "pid {pid}: working directory {} (deleted): it was unlinked and the directory it was \
             in is gone too, so it cannot be made again",
            cwd.display()
        )]
    );
}

#[test]
fn posix_message_queues_are_refused_by_name() {
    let _serial = serial();
    let name = std::ffi::CString::new(format!("/crust-test-{}", std::process::id())).unwrap();
    // SAFETY: mq_open reads the NUL-terminated name; a null attr asks for the defaults.
    let queue = unsafe {
        libc::mq_open(
            name.as_ptr(),
            libc::O_CREAT | libc::O_RDWR,
            0o600,
            std::ptr::null_mut::<libc::mq_attr>(),
        )
    };
    assert!(queue >= 0, "mq_open: {}", std::io::Error::last_os_error());
    let child = Child::spawn(&[queue], || true);
    // SAFETY: the queue's name and descriptor are this test's own.
    unsafe {
        libc::mq_unlink(name.as_ptr());
        libc::close(queue);
    }
    let pid = child.pid;
    let found = lines(pid);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with(&format!("pid {pid}: fd 100 is a POSIX message queue ("))
            && found[0].ends_with("): POSIX message queues are not supported yet"),
        "{found:?}"
    );
}

#[test]
fn a_file_description_shared_with_a_process_outside_is_refused_until_named_external() {
    let _serial = serial();
    let dir = TempDir::new("shared-description");
    let path = dir.path("log");
    std::fs::write(&path, b"").unwrap();
    let log = File::options().append(true).open(&path).unwrap();
    let child = Child::spawn(&[log.as_raw_fd()], || true);
    let pid = child.pid;
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", log.as_raw_fd())).unwrap();
    let mnt_id: u32 = info
        .lines()
        .find_map(|line| line.strip_prefix("mnt_id:"))
        .map(|value| value.trim().parse().unwrap())
        .unwrap();
    let name = External::File {
        mnt_id,
        inode: inode_of(&log),
    };
    assert_eq!(
        lines(pid),
        vec![format!(
            "pid {pid}: fd 100 is {}, one open description with fd {} of pid {}, outside the \
             tree: restored alone, its offset would part from the other's; dump it with \
             --external {name}",
            path.display(),
            log.as_raw_fd(),
            std::process::id()
        )]
    );
    let allowed = Allowances {
        external: [name].into(),
        ..Default::default()
    };
    assert!(check_tree_with(pid, &allowed).unwrap().is_empty());
    // Once the test's copy is closed, nothing outside shares it.
    drop(log);
    assert_eq!(lines(pid), Vec::<String>::new());
}
