//! Making SysV objects in an IPC namespace and reading them back, on a real namespace (a
//! `sleep` started with `unshare --ipc`): what `create_objects` makes, `read_namespace` reads
//! back equal, owners, creators, modes, bytes, values and messages included, and crust's own
//! credentials are untouched afterwards.

use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use engine::snapshot::{
    IpcNamespaceSnapshot, IpcPerm, MsgQueueSnapshot, QueuedMessage, SemSetSnapshot,
    ShmSegmentSnapshot,
};
use engine::sysvipc::{create_objects, read_namespace};
use nix::unistd::Pid;

/// Making an object as its creator changes crust's dumpable flag for a moment, process-wide:
/// one test at a time, so that each sees the flag as crust leaves it.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// A `sleep` in an IPC namespace of its own, killed and reaped on drop.
struct Namespace(Child);

impl Namespace {
    fn start() -> Namespace {
        let child = Command::new("unshare")
            .args(["--ipc", "sleep", "60"])
            .stdin(Stdio::null())
            .spawn()
            .expect("unshare must be installed (util-linux)");
        let namespace = Namespace(child);
        let ours = std::fs::read_link("/proc/self/ns/ipc").expect("own ns link");
        let link = format!("/proc/{}/ns/ipc", namespace.0.id());
        let started = Instant::now();
        while std::fs::read_link(&link).ok().as_ref() == Some(&ours) {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "no new IPC namespace"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        namespace
    }

    fn pid(&self) -> Pid {
        Pid::from_raw(i32::try_from(self.0.id()).expect("a pid"))
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Owned by uid 1000, made by uid 4321 gid 4322: neither is crust's.
fn perm(key: i32, id: i32, mode: u32) -> IpcPerm {
    IpcPerm {
        key,
        id,
        uid: 1000,
        gid: 100,
        cuid: 4321,
        cgid: 4322,
        mode,
    }
}

fn objects(mut ipc: IpcNamespaceSnapshot) -> IpcNamespaceSnapshot {
    ipc.vars.msgmni = 1234;
    ipc.segments = vec![ShmSegmentSnapshot {
        perm: perm(0x5151, 7, 0o640),
        size: 5000,
        data: (0..5000u32).map(|i| (i % 253) as u8).collect(),
    }];
    ipc.sem_sets = vec![SemSetSnapshot {
        perm: perm(0, 65536, 0o600),
        values: vec![3, 0, 32767],
    }];
    ipc.queues = vec![MsgQueueSnapshot {
        perm: perm(0x7171, 2, 0o620),
        // Lowered below the 5 bytes it holds, as msgctl IPC_SET allows.
        qbytes: 4,
        messages: vec![
            QueuedMessage {
                mtype: 9,
                body: b"first".to_vec(),
            },
            QueuedMessage {
                mtype: 1,
                body: Vec::new(),
            },
        ],
    }];
    ipc
}

#[test]
fn objects_made_in_a_namespace_read_back_equal() {
    let _serial = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let namespace = Namespace::start();
    let fresh = read_namespace(namespace.pid()).expect("read the fresh namespace");
    assert!(
        fresh.segments.is_empty() && fresh.queues.is_empty(),
        "{fresh:?}"
    );
    let wanted = objects(fresh);

    create_objects(namespace.pid(), &wanted).unwrap_or_else(|e| panic!("{e}"));
    let made = read_namespace(namespace.pid()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(made, wanted);

    // SAFETY: geteuid and getegid take no arguments and cannot fail.
    let ids = unsafe { (libc::geteuid(), libc::getegid()) };
    assert_eq!(ids, (0, 0), "crust's own ids changed");
    // SAFETY: PR_GET_DUMPABLE takes no pointer.
    assert_eq!(unsafe { libc::prctl(libc::PR_GET_DUMPABLE) }, 1);
}

#[test]
fn an_id_taken_already_fails_naming_the_object() {
    let _serial = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let namespace = Namespace::start();
    let wanted = objects(read_namespace(namespace.pid()).expect("read"));
    create_objects(namespace.pid(), &wanted).unwrap_or_else(|e| panic!("{e}"));
    let again = create_objects(namespace.pid(), &wanted)
        .unwrap_err()
        .to_string();
    assert!(again.contains("SysV shm id 7 (key 0x00005151)"), "{again}");
}
