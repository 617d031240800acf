//! A tree in an IPC namespace of its own (workloads/ipc_ns.c started with `unshare --ipc`)
//! is dumped with its SysV objects and restored into a new IPC namespace: the processes
//! check their shared memory (attached where it was, by both), semaphores and messages
//! themselves, and the namespace's sysctls. What stays refused: SysV memory of crust's own
//! IPC namespace, a member of the tree in another IPC namespace than the root's, and a process
//! outside the tree that shares the tree's IPC namespace.
//!
//! Needs the crust binary built first: `cargo build --release -p cli`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use nix::unistd::Pid;
use serde_json::Value;
use tests::image_json::{number, Decoded};
use tests::tree::TreeGuard;
use tests::{
    compile_c, crit_decode_dir, crust, poll_until, spawn_in_own_session, wait_until_gone, Abi,
    Subject, TempDir, Workload,
};

const SOURCE: &str = include_str!("../workloads/ipc_ns.c");
const TIMEOUT: Duration = Duration::from_secs(60);

/// One workload at a time, as in the other end-to-end tests.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Starts the workload as the root of an IPC namespace of its own; `extra` follows its
/// directory argument.
fn start(tag: &str, extra: &'static [&'static str]) -> Subject {
    let program = compile_c(SOURCE, Abi::X86_64, &["-O2"]).unwrap_or_else(|e| panic!("{e}"));
    let subject = Subject::start(tag, |dir| {
        let mut command = Command::new("unshare");
        command.arg("--ipc").arg(&program).arg(dir).args(extra);
        command
    });
    subject.unwrap_or_else(|error| panic!("{error}"))
}

/// The child's pid from `ready pid=P child=C`.
fn child_of(subject: &Subject) -> Pid {
    let ready = subject.ready();
    let child = ready
        .split_whitespace()
        .find_map(|word| word.strip_prefix("child="))
        .and_then(|pid| pid.parse().ok());
    Pid::from_raw(child.unwrap_or_else(|| panic!("no child= in {ready:?}")))
}

/// The IPC namespace link of `pid` (`ipc:[INODE]`).
fn ipc_namespace(pid: Pid) -> String {
    let link = std::fs::read_link(format!("/proc/{pid}/ns/ipc"));
    let link = link.unwrap_or_else(|error| panic!("pid {pid}: ns/ipc: {error}"));
    link.to_string_lossy().into_owned()
}

fn own_ipc_namespace() -> String {
    ipc_namespace(nix::unistd::getpid())
}

/// The entries of the one image whose name starts with `prefix` (`ipcns-shm-`).
fn entries_of<'a>(decoded: &'a Decoded, prefix: &str) -> &'a [Value] {
    let mut images = decoded.iter().filter(|(name, _)| name.starts_with(prefix));
    let (name, json) = images
        .next()
        .unwrap_or_else(|| panic!("no {prefix}N.img among {:?}", decoded.keys()));
    assert!(images.next().is_none(), "more than one {prefix}N.img");
    json["entries"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_else(|| panic!("{name} has no entries"))
}

/// The images hold the namespace: both segments with their keys and sizes, the semaphore
/// set, the queue with its four messages, the sysctls; every process names the namespace in
/// its ids image, and the child's memory has its three SysV areas (A twice, B once) as such.
fn check_images(decoded: &Decoded, root: Pid, child: Pid) {
    let segments = entries_of(decoded, "ipcns-shm-");
    let mut found: Vec<(u64, u64)> = segments
        .iter()
        .map(|s| (key_of(&s["desc"]), number(&s["size"]).unwrap_or(0)))
        .collect();
    found.sort_unstable();
    assert_eq!(
        found,
        vec![(0, 5000), (0x1c0ffee, 3 * 4096 + 1000)],
        "{segments:?}"
    );
    let sets = entries_of(decoded, "ipcns-sem-");
    assert_eq!(sets.len(), 1, "{sets:?}");
    assert_eq!(key_of(&sets[0]["desc"]), 0x5e4a);
    assert_eq!(number(&sets[0]["nsems"]), Some(5));
    let queues = entries_of(decoded, "ipcns-msg-");
    assert_eq!(queues.len(), 1, "{queues:?}");
    assert_eq!(key_of(&queues[0]["desc"]), 0x3e55);
    assert_eq!(number(&queues[0]["qnum"]), Some(4));
    assert_eq!(number(&queues[0]["qbytes"]), Some(8000));
    assert_eq!(entries_of(decoded, "ipcns-var-").len(), 1);

    let namespace_ids: Vec<Option<u64>> = [root, child]
        .iter()
        .map(|pid| {
            let ids = &decoded[&format!("ids-{pid}.img")]["entries"][0];
            number(&ids["ipc_ns_id"])
        })
        .collect();
    assert!(namespace_ids[0].is_some(), "{namespace_ids:?}");
    assert_eq!(namespace_ids[0], namespace_ids[1]);

    let vmas = decoded[&format!("mm-{child}.img")]["entries"][0]["vmas"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let sysv = vmas
        .iter()
        .filter(|vma| {
            vma["status"]
                .as_str()
                .unwrap_or("")
                .contains("VMA_AREA_SYSVIPC")
        })
        .count();
    assert_eq!(
        sysv, 3,
        "the child's SysV areas (A twice, B once): {vmas:?}"
    );
}

/// A key as crit prints it: a number, or a hex string for fields marked so.
fn key_of(desc: &Value) -> u64 {
    let key = &desc["key"];
    number(key).unwrap_or_else(|| panic!("key {key:?}"))
}

#[test]
fn ipc_ns_workload_checks_can_fail() {
    let _serial = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let subject = start("ipc-ns-selftest", &["--selftest-break"]);
    let mut guard = TreeGuard::new();
    guard.watch(&[child_of(&subject)]);
    let report = subject
        .ask_report(TIMEOUT)
        .unwrap_or_else(|e| panic!("{e}"));
    let expected = format!("FAIL pid={} a semaphore's value", subject.pid());
    assert_eq!(report, expected);
    subject.finish().unwrap_or_else(|e| panic!("{e}"));
}

/// Starts the workload with `extra`, dumps it, checks the images, restores it and has it
/// check itself: same ids, in a new IPC namespace shared by both processes.
fn dump_and_restore(tag: &str, extra: &'static [&'static str]) {
    let mut subject = start(tag, extra);
    let (root, child) = (subject.pid(), child_of(&subject));
    let mut guard = TreeGuard::new();
    guard.watch(&[child]);
    let namespace = ipc_namespace(root);
    assert_ne!(namespace, own_ipc_namespace());
    assert_eq!(ipc_namespace(child), namespace);
    // The ids the objects had, which the report after the restore must repeat.
    let ready = subject.ready().to_owned();
    let ids = &ready[ready.find(" shm=").unwrap_or_else(|| panic!("{ready:?}")) + 1..];

    tests::dump(root, subject.images(), false, TIMEOUT).unwrap_or_else(|e| panic!("{e}"));
    subject.reap_original().unwrap_or_else(|e| panic!("{e}"));
    wait_until_gone(child, TIMEOUT).unwrap_or_else(|e| panic!("{e}"));
    let decoded = crit_decode_dir(subject.images()).unwrap_or_else(|e| panic!("{e}"));
    check_images(&decoded, root, child);

    subject.restore(TIMEOUT).unwrap_or_else(|e| panic!("{e}"));
    guard.watch(&[child]);
    let restored = ipc_namespace(root);
    assert_ne!(restored, own_ipc_namespace());
    assert_eq!(ipc_namespace(child), restored);
    let report = subject.ok_report(ids, TIMEOUT);
    report.unwrap_or_else(|e| panic!("{e}"));
    subject.finish().unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn ipc_namespace_objects_survive_dump_and_restore() {
    let _serial = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    dump_and_restore("ipc-ns-cycle", &[]);
}

/// A dump that leaves the tree running reads the messages without taking them (MSG_COPY)
/// and the segments without changing them: the workload's own check still passes after it.
#[test]
fn ipc_namespace_left_running_keeps_its_messages() {
    let _serial = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let subject = start("ipc-ns-left-running", &[]);
    let (root, child) = (subject.pid(), child_of(&subject));
    let mut guard = TreeGuard::new();
    guard.watch(&[child]);
    tests::dump(root, subject.images(), true, TIMEOUT).unwrap_or_else(|e| panic!("{e}"));
    let decoded = crit_decode_dir(subject.images()).unwrap_or_else(|e| panic!("{e}"));
    check_images(&decoded, root, child);
    let report = subject.ok_report("shm=", TIMEOUT);
    report.unwrap_or_else(|e| panic!("{e}"));
    subject.finish().unwrap_or_else(|e| panic!("{e}"));
}

/// With `shm_rmid_forced` set, a segment nobody has attached is destroyed when the task that
/// made it exits: the restore must make the segments and have them attached before the
/// namespace gets that setting.
#[test]
fn ipc_namespace_with_shm_rmid_forced_keeps_its_segments() {
    let _serial = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    dump_and_restore("ipc-ns-rmid-forced", &["--rmid-forced"]);
}

/// Runs crit with `args`; it must succeed.
fn crit(args: &[&str]) {
    let mut command = Command::new("crit");
    command.args(args);
    let finished = tests::run_with_timeout(&mut command, TIMEOUT);
    let finished = finished.unwrap_or_else(|e| panic!("crit {args:?}: {e}"));
    assert_eq!(
        finished.code(),
        Some(0),
        "crit {args:?}: {}",
        finished.stderr
    );
}

/// The path of the one image in `images` whose name starts with `prefix`.
fn image_named(images: &Path, prefix: &str) -> std::path::PathBuf {
    let listed = std::fs::read_dir(images).unwrap_or_else(|e| panic!("{e}"));
    let found = listed
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|path| {
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            name.is_some_and(|n| n.starts_with(prefix))
        });
    found.unwrap_or_else(|| panic!("no {prefix}N.img in {}", images.display()))
}

/// A restore whose namespace cannot take its objects (the images' msgmax, lowered by hand
/// with crit, is below the messages' length, so msgsnd fails after the root was made) fails
/// naming the step, and leaves no process; the intact images still restore the tree.
#[test]
fn a_failed_namespace_restore_leaves_nothing() {
    let _serial = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut subject = start("ipc-ns-failure", &[]);
    let (root, child) = (subject.pid(), child_of(&subject));
    let mut guard = TreeGuard::new();
    guard.watch(&[child]);
    tests::dump(root, subject.images(), false, TIMEOUT).unwrap_or_else(|e| panic!("{e}"));
    subject.reap_original().unwrap_or_else(|e| panic!("{e}"));
    wait_until_gone(child, TIMEOUT).unwrap_or_else(|e| panic!("{e}"));

    let var = image_named(subject.images(), "ipcns-var-");
    let saved = std::fs::read(&var).unwrap_or_else(|e| panic!("{e}"));
    let json = subject.dir().join("ipcns-var.json");
    let (var_arg, json_arg) = (var.to_string_lossy(), json.to_string_lossy());
    crit(&["decode", "-i", &var_arg, "-o", &json_arg]);
    let text = std::fs::read_to_string(&json).unwrap_or_else(|e| panic!("{e}"));
    let mut decoded: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
    decoded["entries"][0]["msg_ctlmax"] = Value::from(1);
    std::fs::write(&json, decoded.to_string()).unwrap_or_else(|e| panic!("{e}"));
    crit(&["encode", "-i", &json_arg, "-o", &var_arg]);

    let images = subject.images().to_string_lossy().into_owned();
    let failed = crust(&["restore", "-d", "-D", &images], TIMEOUT);
    let failed = failed.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(failed.code(), Some(1), "{failed:?}");
    assert!(failed.stderr.contains("msgsnd"), "{}", failed.stderr);
    for pid in [root, child] {
        wait_until_gone(pid, TIMEOUT).unwrap_or_else(|e| panic!("pid {pid} left: {e}"));
    }

    std::fs::write(&var, saved).unwrap_or_else(|e| panic!("{e}"));
    subject.restore(TIMEOUT).unwrap_or_else(|e| panic!("{e}"));
    guard.watch(&[child]);
    let report = subject.ok_report("shm=", TIMEOUT);
    report.unwrap_or_else(|e| panic!("{e}"));
    subject.finish().unwrap_or_else(|e| panic!("{e}"));
}

/// `crust check -t PID`: its exit code must be 1 (blockers found); its stdout.
fn blockers(pid: Pid) -> String {
    let checked = crust(&["check", "-t", &pid.to_string()], TIMEOUT);
    let checked = checked.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(checked.code(), Some(1), "{checked:?}");
    checked.stdout
}

/// The one line of `stdout` that starts with `pid PID:`, and says `what`.
fn line_about<'a>(stdout: &'a str, pid: Pid, what: &str) -> &'a str {
    let prefix = format!("pid {pid}:");
    let mut lines = stdout
        .lines()
        .filter(|line| line.starts_with(&prefix) && line.contains(what));
    let line = lines
        .next()
        .unwrap_or_else(|| panic!("no line for pid {pid} about {what:?} in:\n{stdout}"));
    line
}

/// Starts a C program (with the directory as argument) in a session of its own; waits for
/// its `ready ...` line and returns it with the workload.
fn start_c(
    source: &str,
    temp: &Path,
    command: impl FnOnce(&Path) -> Command,
) -> (Workload, String) {
    let program = compile_c(source, Abi::X86_64, &["-O2"]).unwrap_or_else(|e| panic!("{e}"));
    let output = temp.join("output");
    let mut command = command(&program);
    let workload = spawn_in_own_session(&mut command, &output).unwrap_or_else(|e| panic!("{e}"));
    let ready = poll_until(TIMEOUT, || {
        let text = std::fs::read_to_string(&output).ok()?;
        text.lines()
            .find(|l| l.starts_with("ready"))
            .map(str::to_owned)
    });
    (
        workload,
        ready.unwrap_or_else(|| panic!("no ready line in {}", output.display())),
    )
}

/// Attaches a segment of crust's (the host's) IPC namespace, marked for removal so that it
/// goes with the process; prints `ready KEY SHMID`.
const HOST_SHM: &str = r#"
#include <stdio.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <unistd.h>
int main(void) {
    key_t key = 0x7e000000 | (getpid() & 0xffffff);
    int id = shmget(key, 4096, IPC_CREAT | IPC_EXCL | 0600);
    if (id < 0 || shmat(id, NULL, 0) == (void *)-1) return 2;
    shmctl(id, IPC_RMID, NULL);
    printf("ready %d %d\n", key, id);
    fflush(stdout);
    for (;;) pause();
}
"#;

#[test]
fn host_sysv_memory_is_refused_with_its_key_and_id() {
    let _serial = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let temp = TempDir::new("ipc-host-shm").unwrap_or_else(|e| panic!("{e}"));
    let (workload, ready) = start_c(HOST_SHM, temp.path(), |program| Command::new(program));
    let words: Vec<i64> = ready
        .split_whitespace()
        .skip(1)
        .filter_map(|w| w.parse().ok())
        .collect();
    let (key, id) = (words[0], words[1]);
    let stdout = blockers(workload.pid());
    let line = line_about(&stdout, workload.pid(), "SysV shared memory");
    assert!(line.contains(&format!("key {key:#010x}")), "{line}");
    assert!(line.contains(&format!("shmid {id}")), "{line}");
    assert!(
        line.contains("unshare --ipc"),
        "the hint names unshare --ipc: {line}"
    );
}

/// A root that forks a child into an IPC namespace of its own; prints `ready CHILD`.
const CHILD_ELSEWHERE: &str = r#"
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <unistd.h>
int main(void) {
    int ready[2];
    if (pipe(ready) != 0) return 2;
    pid_t child = fork();
    if (child == 0) {
        close(ready[0]);
        if (unshare(CLONE_NEWIPC) != 0) return 2;
        close(ready[1]);
        for (;;) pause();
    }
    close(ready[1]);
    char byte;
    if (read(ready[0], &byte, 1) != 0) return 2;
    close(ready[0]);
    printf("ready %d\n", child);
    fflush(stdout);
    for (;;) pause();
}
"#;

#[test]
fn member_in_another_ipc_namespace_than_the_root_is_refused() {
    let _serial = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let temp = TempDir::new("ipc-member-elsewhere").unwrap_or_else(|e| panic!("{e}"));
    let (workload, ready) = start_c(CHILD_ELSEWHERE, temp.path(), |program| {
        let mut command = Command::new("unshare");
        command.arg("--ipc").arg(program);
        command
    });
    let child = ready.split_whitespace().nth(1).and_then(|c| c.parse().ok());
    let child = Pid::from_raw(child.unwrap_or_else(|| panic!("{ready:?}")));
    let mut guard = TreeGuard::new();
    guard.watch(&[child]);
    assert_ne!(ipc_namespace(child), ipc_namespace(workload.pid()));
    let stdout = blockers(workload.pid());
    line_about(&stdout, child, "ipc");
    let root_prefix = format!("pid {}:", workload.pid());
    assert!(
        !stdout.lines().any(|l| l.starts_with(&root_prefix)),
        "the root's own IPC namespace is allowed:\n{stdout}"
    );
}

#[test]
fn process_outside_the_tree_sharing_its_ipc_namespace_is_refused() {
    let _serial = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let temp = TempDir::new("ipc-shared-ns").unwrap_or_else(|e| panic!("{e}"));
    let sleeper = "#include <unistd.h>\n#include <stdio.h>\nint main(void) { \
                   printf(\"ready\\n\"); fflush(stdout); for (;;) pause(); }\n";
    let (root, _) = start_c(sleeper, temp.path(), |program| {
        let mut command = Command::new("unshare");
        command.arg("--ipc").arg(program);
        command
    });
    let namespace = format!("--ipc=/proc/{}/ns/ipc", root.pid());
    let mut nsenter = Command::new("nsenter");
    nsenter
        .arg(namespace)
        .args(["sleep", "600"])
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    let outsider = Workload::spawn(&mut nsenter).unwrap_or_else(|e| panic!("{e}"));
    let joined = poll_until(TIMEOUT, || {
        let link = std::fs::read_link(format!("/proc/{}/ns/ipc", outsider.pid())).ok()?;
        (link.to_string_lossy() == ipc_namespace(root.pid())).then_some(())
    });
    joined.unwrap_or_else(|| panic!("nsenter did not join the namespace"));
    let stdout = blockers(root.pid());
    let line = line_about(&stdout, root.pid(), &outsider.pid().to_string());
    assert!(line.contains("ipc"), "{line}");
}

/// In an IPC namespace of its own, opens a POSIX message queue (which lives in that
/// namespace's mqueue filesystem); prints `ready FD`.
const POSIX_QUEUE: &str = r#"
#include <fcntl.h>
#include <mqueue.h>
#include <stdio.h>
#include <unistd.h>
int main(void) {
    mqd_t queue = mq_open("/crust-ipc-ns-test", O_CREAT | O_RDWR, 0600, NULL);
    if (queue < 0) return 2;
    printf("ready %d\n", (int)queue);
    fflush(stdout);
    for (;;) pause();
}
"#;

/// POSIX message queues are not dumped, in the tree's own IPC namespace either: the fd is
/// named.
#[test]
fn posix_message_queue_in_an_own_namespace_is_refused() {
    let _serial = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let temp = TempDir::new("ipc-ns-mqueue").unwrap_or_else(|e| panic!("{e}"));
    let (workload, ready) = start_c(POSIX_QUEUE, temp.path(), |program| {
        let mut command = Command::new("unshare");
        command.arg("--ipc").arg(program);
        command
    });
    let fd = ready
        .split_whitespace()
        .nth(1)
        .unwrap_or_else(|| panic!("{ready:?}"));
    let stdout = blockers(workload.pid());
    let line = line_about(&stdout, workload.pid(), "POSIX message queue");
    assert!(line.contains(&format!("fd {fd} ")), "{line}");
}

/// In an IPC namespace of its own, attaches a two-page segment and makes its second page
/// read-only, which splits the area in two; prints `ready`.
const SPLIT_ATTACHMENT: &str = r#"
#include <stdio.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <unistd.h>
int main(void) {
    int id = shmget(IPC_PRIVATE, 8192, IPC_CREAT | 0600);
    char *at = id < 0 ? (void *)-1 : shmat(id, NULL, 0);
    if (at == (void *)-1 || mprotect(at + 4096, 4096, PROT_READ) != 0) return 2;
    at[0] = 1;
    printf("ready\n");
    fflush(stdout);
    for (;;) pause();
}
"#;

/// A restore attaches segments whole, so an attachment split by mprotect is a dump error
/// naming the area; the tree is left running, untouched.
#[test]
fn split_sysv_attachment_fails_the_dump_and_leaves_the_tree_running() {
    let _serial = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let temp = TempDir::new("ipc-ns-split").unwrap_or_else(|e| panic!("{e}"));
    let (workload, _) = start_c(SPLIT_ATTACHMENT, temp.path(), |program| {
        let mut command = Command::new("unshare");
        command.arg("--ipc").arg(program);
        command
    });
    let pid = workload.pid().to_string();
    // The check says it too, as the dump does.
    let checked = crust(&["check", "-t", &pid], TIMEOUT).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(checked.code(), Some(1), "{checked:?}");
    assert!(checked.stderr.contains("SysV shm id 0"), "{checked:?}");
    let images = temp.path().join("images");
    let images_arg = images.to_string_lossy();
    let dumped = crust(&["dump", "-t", &pid, "-D", &images_arg], TIMEOUT);
    let dumped = dumped.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(dumped.code(), Some(1), "{dumped:?}");
    assert!(dumped.stderr.contains("SysV shm id 0"), "{}", dumped.stderr);
    let left: Vec<_> = std::fs::read_dir(&images)
        .map(|listed| {
            listed
                .filter_map(Result::ok)
                .map(|e| e.file_name())
                .collect()
        })
        .unwrap_or_default();
    assert!(left.is_empty(), "a failed dump leaves no file: {left:?}");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"));
    let status = status.unwrap_or_else(|e| panic!("the tree is gone: {e}"));
    assert!(status.contains("TracerPid:\t0"), "{status}");
}
