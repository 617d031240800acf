//! The /proc readers on a live process other than the test: a `sleep` child, and the test's
//! own threads.

use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};

use nix::unistd::Pid;

use engine::proc::fd::{fd_kind, fds, FdKind};
use engine::proc::maps::{maps, VmaKind};
use engine::proc::smaps::VmFlags;
use engine::proc::status::{status, TaskState};
use engine::proc::{auxv, fdinfo, identity, limits, ns, stat, task};

/// A `sleep` child, killed and reaped on drop.
struct Sleeper(std::process::Child);

impl Sleeper {
    fn start() -> Sleeper {
        let child = Command::new("sleep")
            .arg("1000")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let sleeper = Sleeper(child);
        // Wait until it runs sleep itself, not the forked test binary.
        while identity::comm(sleeper.pid()).unwrap() != "sleep"
            || stat::stat(sleeper.pid()).unwrap().state != TaskState::Sleeping
        {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        sleeper
    }

    fn pid(&self) -> Pid {
        Pid::from_raw(self.0.id() as i32)
    }
}

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn sleep_reads_as_one_sleeping_task() {
    let sleeper = Sleeper::start();
    let pid = sleeper.pid();
    assert_eq!(task::tasks(pid).unwrap(), vec![pid]);
    assert!(task::children(pid).unwrap().is_empty());
    assert!(task::children(Pid::this()).unwrap().contains(&pid));

    let status = status(pid).unwrap();
    assert_eq!(
        (status.name.as_str(), status.state),
        ("sleep", TaskState::Sleeping)
    );
    assert_eq!(
        (status.tgid, status.pid, status.ppid),
        (pid, pid, Pid::this())
    );
    assert_eq!(status.threads, 1);

    let stat = stat::stat(pid).unwrap();
    assert_eq!((stat.comm.as_str(), stat.ppid), ("sleep", Pid::this()));
    assert!(stat.start_code < stat.end_code && stat.start_brk > 0);
    assert!(stat.arg_start < stat.arg_end && stat.env_start <= stat.env_end);
    assert!(!stat.is_kernel_thread());
}

#[test]
fn sleep_maps_have_the_usual_vmas() {
    let sleeper = Sleeper::start();
    let vmas = maps(sleeper.pid()).unwrap();
    let find = |kind: &VmaKind| vmas.iter().find(|v| &v.kind == kind).unwrap();
    assert!(find(&VmaKind::Stack).flags.contains(VmFlags::GROWSDOWN));
    let vdso = find(&VmaKind::Vdso);
    assert!(vdso.flags.contains(VmFlags::EXEC));
    assert!(find(&VmaKind::Vvar)
        .flags
        .contains(VmFlags::DONTDUMP | VmFlags::PFNMAP));
    let exe = identity::exe(sleeper.pid()).unwrap();
    let text = vmas.iter().find(|v| {
        v.kind
            == VmaKind::File {
                path: exe.clone(),
                deleted: false,
            }
    });
    assert!(text.is_some(), "no mapping of {}", exe.display());
    assert!(vmas.windows(2).all(|pair| pair[0].end <= pair[1].start));
}

#[test]
fn sleep_fds_are_dev_null() {
    let sleeper = Sleeper::start();
    let pid = sleeper.pid();
    // fds the test harness leaks without O_CLOEXEC come after 0-2.
    let links = fds(pid).unwrap();
    assert_eq!(
        links.iter().take(3).map(|l| l.fd).collect::<Vec<_>>(),
        vec![0, 1, 2]
    );
    for link in &links[..3] {
        assert_eq!(link.target, "/dev/null");
        assert!(matches!(
            fd_kind(pid, link).unwrap(),
            FdKind::CharDevice { .. }
        ));
        let info = fdinfo::fdinfo(pid, link.fd).unwrap();
        assert_eq!(info.pos, 0);
    }
}

#[test]
fn sleep_small_files() {
    let sleeper = Sleeper::start();
    let pid = sleeper.pid();
    let rows = limits::limits(pid).unwrap();
    let mine = limits::limits(Pid::this()).unwrap();
    assert_eq!(rows, mine);
    assert_eq!(
        ns::namespaces(pid).unwrap(),
        ns::namespaces(Pid::this()).unwrap()
    );
    let vector = auxv::auxv(pid).unwrap();
    assert!(vector.contains(&(libc::AT_PAGESZ, 4096)));
    assert_eq!(
        identity::cwd(pid).unwrap(),
        std::env::current_dir().unwrap()
    );
    assert_eq!(identity::root(pid).unwrap(), std::path::PathBuf::from("/"));
    assert_eq!(
        identity::personality(pid).unwrap(),
        identity::personality(Pid::this()).unwrap()
    );
}

#[test]
fn threads_of_the_test_are_listed() {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    let worker = std::thread::spawn(move || {
        ready_tx.send(nix::unistd::gettid()).unwrap();
        let _ = stop_rx.recv();
    });
    let tid = ready_rx.recv().unwrap();
    let tids = task::tasks(Pid::this()).unwrap();
    assert_eq!(tids[0], Pid::this());
    assert!(tids.contains(&tid));
    let thread = engine::proc::status::thread_status(Pid::this(), tid).unwrap();
    assert_eq!((thread.pid, thread.tgid), (tid, Pid::this()));
    stop_tx.send(()).unwrap();
    worker.join().unwrap();
}

#[test]
fn fdinfo_of_an_append_file() {
    let path = std::env::temp_dir().join(format!("crust-proc-live-{}", std::process::id()));
    std::fs::write(&path, b"0123456789").unwrap();
    let file = std::fs::File::options().append(true).open(&path).unwrap();
    let info = fdinfo::fdinfo(Pid::this(), file.as_raw_fd()).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert!(info
        .flags
        .contains(nix::fcntl::OFlag::O_APPEND | nix::fcntl::OFlag::O_WRONLY));
    assert_eq!(
        info.ino,
        nix::sys::stat::fstat(file.as_raw_fd()).unwrap().st_ino
    );
}
