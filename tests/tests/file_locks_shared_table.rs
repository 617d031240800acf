//! A POSIX lock taken by a child that shares its parent's fd table (clone with CLONE_FILES,
//! as some thread libraries and daemons do): after a dump with `--file-locks` and a restore,
//! the lock is held again, by the child, as another process sees it.
//!
//! Needs the crust binary built first: `cargo build --release -p cli`.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::Duration;

use nix::unistd::Pid;
use tests::{crit_decode_dir, dump_with, restore_detached, KillOnDrop, Subject};

const TIMEOUT: Duration = Duration::from_secs(60);

/// `shared_lock DIR`: opens DIR/locked, clones a child sharing the fd table, which write-locks
/// bytes 0-9 of it; prints `ready CHILD` and waits.
const PROGRAM: &str = r#"
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
static char stack[65536];
static int fd;
static int child(void *arg) {
    (void)arg;
    struct flock lock = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10 };
    if (fcntl(fd, F_SETLK, &lock) != 0) return 1;
    printf("ready %d\n", getpid());
    fflush(stdout);
    for (;;) pause();
}
int main(int argc, char **argv) {
    if (argc != 2) return 2;
    char path[4096];
    snprintf(path, sizeof path, "%s/locked", argv[1]);
    fd = open(path, O_RDWR | O_CREAT, 0600);
    if (fd < 0) return 1;
    if (clone(child, stack + sizeof stack, CLONE_FILES | SIGCHLD, 0) < 0) return 1;
    for (;;) pause();
}
"#;

/// The pid holding a lock that conflicts with a write lock on bytes 0-9 of `path`, as
/// F_GETLK tells another process (this test); 0 if none.
fn holder(path: &Path) -> i32 {
    let file = File::options()
        .read(true)
        .write(true)
        .open(path)
        .expect("open");
    let mut lock = libc::flock {
        l_type: libc::F_WRLCK as i16,
        l_whence: libc::SEEK_SET as i16,
        l_start: 0,
        l_len: 10,
        l_pid: 0,
    };
    // SAFETY: F_GETLK reads and writes one struct flock, which `lock` is, alive for the call.
    let rc = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GETLK, &mut lock) };
    assert_eq!(rc, 0, "F_GETLK: {}", std::io::Error::last_os_error());
    match i32::from(lock.l_type) {
        libc::F_UNLCK => 0,
        _ => lock.l_pid,
    }
}

#[test]
fn a_lock_of_a_child_sharing_its_parents_fd_table_is_held_again() {
    let mut subject = Subject::start_c_in_dir("shared-table-lock", PROGRAM)
        .unwrap_or_else(|error| panic!("{error}"));
    let child: i32 = subject.ready()["ready ".len()..]
        .parse()
        .expect("child pid");
    let _child = KillOnDrop(Pid::from_raw(child));
    let locked = subject.dir().join("locked");
    assert_eq!(holder(&locked), child, "before the dump");

    let images = subject.images().to_path_buf();
    dump_with(subject.pid(), &images, &["--file-locks"], TIMEOUT)
        .unwrap_or_else(|error| panic!("{error}"));
    subject
        .reap_original()
        .unwrap_or_else(|error| panic!("{error}"));
    tests::wait_until_gone(Pid::from_raw(child), TIMEOUT).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(holder(&locked), 0, "the dump killed the tree");
    crit_decode_dir(&images).unwrap_or_else(|error| panic!("{error}"));

    restore_detached(&images, TIMEOUT).unwrap_or_else(|error| panic!("{error}"));
    subject
        .adopt_restored()
        .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(holder(&locked), child, "after the restore");
}
