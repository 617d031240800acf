//! Children made by the refusal tests: forked with exactly the fds a test gives them, doing a
//! little setup of their own, then sleeping until the test kills and reaps them.
//!
//! Between fork and the child's sleep only async-signal-safe calls run (raw syscalls), since
//! the test harness is multi-threaded.

#![allow(dead_code)]

use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::{Mutex, MutexGuard};

use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};

/// The first fd number the kept fds get in the child, in order.
pub const FIRST_FD: RawFd = 100;

/// The fd the child signals its readiness through (a grandchild must close it).
pub const SYNC_FD: RawFd = 99;

static FORKING: Mutex<()> = Mutex::new(());

/// Serialise the tests of one binary: a child forked by one test would inherit the fds of
/// another and confuse its pipe and lock checks.
pub fn serial() -> MutexGuard<'static, ()> {
    FORKING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A child process, killed and reaped on drop.
pub struct Child {
    pub pid: Pid,
}

impl Child {
    /// Fork a child holding `keep` at fds 100, 101, ... (and /dev/null at 0-2, nothing else),
    /// that runs `setup` (raw syscalls only; false means it failed) and then sleeps.
    pub fn spawn(keep: &[RawFd], setup: impl FnOnce() -> bool) -> Child {
        let dev_null = CString::new("/dev/null").unwrap();
        let (sync_read, sync_write) = nix::unistd::pipe().unwrap();
        // SAFETY: the child runs only async-signal-safe calls (see `child_main`) and never
        // returns into the harness.
        match unsafe { fork() }.unwrap() {
            ForkResult::Child => child_main(keep, &dev_null, sync_write.as_raw_fd(), setup),
            ForkResult::Parent { child } => {
                drop(sync_write);
                let child = Child { pid: child };
                child.wait_ready(sync_read);
                child
            }
        }
    }

    fn wait_ready(&self, sync_read: OwnedFd) {
        let mut byte = [0u8; 1];
        let n = nix::unistd::read(sync_read.as_raw_fd(), &mut byte).unwrap();
        assert_eq!(
            n,
            1,
            "child {} failed its setup: {:?}",
            self.pid,
            waitpid(self.pid, None)
        );
        // End of file once the child has closed its end too: it then holds only its own fds.
        assert_eq!(
            nix::unistd::read(sync_read.as_raw_fd(), &mut byte).unwrap(),
            0
        );
    }

    /// The child's scheduler state.
    pub fn state(&self) -> engine::proc::status::TaskState {
        engine::proc::stat::stat(self.pid).unwrap().state
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = kill(self.pid, Signal::SIGKILL);
        let _ = waitpid(self.pid, None);
    }
}

fn child_main(keep: &[RawFd], dev_null: &CString, sync: RawFd, setup: impl FnOnce() -> bool) -> ! {
    // SAFETY: raw fd syscalls on fds this process owns; `dev_null` is a valid C string.
    unsafe {
        let mut staged = [0 as RawFd; 16];
        if keep.len() > staged.len() {
            libc::_exit(2);
        }
        for (slot, fd) in staged.iter_mut().zip(keep) {
            *slot = libc::fcntl(*fd, libc::F_DUPFD, 1000);
        }
        let sync = libc::fcntl(sync, libc::F_DUPFD, 1000);
        libc::dup2(sync, SYNC_FD);
        for (i, fd) in staged.iter().take(keep.len()).enumerate() {
            libc::dup2(*fd, FIRST_FD + i as RawFd);
        }
        libc::syscall(libc::SYS_close_range, 3, SYNC_FD - 1, 0);
        libc::syscall(
            libc::SYS_close_range,
            FIRST_FD + keep.len() as RawFd,
            u32::MAX,
            0,
        );
        // Its own session, as a dumpable process must be (no leader outside it).
        libc::setsid();
        let null = libc::open(dev_null.as_ptr(), libc::O_RDWR);
        for std_fd in 0..3 {
            libc::dup2(null, std_fd);
        }
        if null > 2 {
            libc::close(null);
        }
        if !setup() {
            libc::_exit(1);
        }
        libc::write(SYNC_FD, b"x".as_ptr().cast(), 1);
        libc::close(SYNC_FD);
        loop {
            libc::pause();
        }
    }
}

/// Reap `pid` once it has exited, without blocking forever on a live process.
pub fn reap(pid: Pid) -> WaitStatus {
    waitpid(pid, Some(WaitPidFlag::__WALL)).unwrap()
}

/// The refusal lines for `pid`.
pub fn lines(pid: Pid) -> Vec<String> {
    lines_with(pid, &engine::refusal::Allowances::default())
}

/// [`lines`], with what `allowed` names let through.
pub fn lines_with(pid: Pid, allowed: &engine::refusal::Allowances) -> Vec<String> {
    engine::refusal::check_tree_with(pid, allowed)
        .unwrap()
        .iter()
        .map(|r| r.to_string())
        .collect()
}

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("crust-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self, name: &str) -> std::path::PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
