//! crust run by an ordinary user (the system user `crust-test`, through setpriv): it dumps
//! and restores that user's own tree (workloads/own_tree.py: a child, pipes, a file, and
//! optionally MAP_SHARED anonymous memory), with CAP_CHECKPOINT_RESTORE or, for the dump,
//! with no capability at all; it refuses root's process and root's images with one line, and
//! touches neither.
//!
//! Needs the crust binary built first: `cargo build --release -p cli`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use nix::unistd::Pid;
use tests::image_json::pstree;
use tests::{crit_decode_dir, crust_binary, run_with_timeout, Caps, Finished, Subject, TestUser};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/workloads/own_tree.py");

/// The system's python, which the test user can run (a python3 found in root's PATH may
/// live under /root).
const PYTHON: &str = "/usr/bin/python3";

const CRUST_TIMEOUT: Duration = Duration::from_secs(60);
const REPORT_TIMEOUT: Duration = Duration::from_secs(20);

/// One workload at a time: they share two CPUs with crust.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// A workload of the test user's (or root's), with copies of crust and the script the user
/// can run, in a directory the user owns.
struct Setup {
    user: TestUser,
    subject: Subject,
    crust: PathBuf,
}

impl Setup {
    /// Starts own_tree.py as the test user (`as_root`: as root, in a directory still handed to
    /// the user so that it may write images there).
    /// `options`: own_tree.py's (`shm`, `undumpable`).
    fn start(tag: &str, as_root: bool, options: &[&str]) -> Setup {
        let user = TestUser::get().expect("the test user");
        let mut copies = None;
        let subject = Subject::start(tag, |dir| {
            user.give(dir).expect("hand the directory to the user");
            user.give(&dir.join("images"))
                .expect("hand the images directory over");
            let script = user
                .copy_program(Path::new(SCRIPT), dir)
                .expect("copy the script");
            let crust = crust_binary().expect("crust binary");
            copies = Some(user.copy_program(&crust, dir).expect("copy crust"));
            let (mut command, uid) = if as_root {
                (Command::new(PYTHON), 0)
            } else {
                (user.command(PYTHON, Caps::Nothing), user.uid)
            };
            command
                .arg(script)
                .arg(dir)
                .arg(uid.to_string())
                .args(options);
            command
        })
        .expect("workload started");
        if !as_root {
            user.give(subject.output())
                .expect("hand the output file to the user");
            user.give(&subject.dir().join("data"))
                .expect("hand the data file to the user");
        }
        let crust = copies.expect("crust copied");
        Setup {
            user,
            subject,
            crust,
        }
    }

    fn pid(&self) -> Pid {
        self.subject.pid()
    }

    /// crust run as the user with `caps`.
    fn crust_as_user(&self, caps: Caps, args: &[&str]) -> Finished {
        let mut command = self.user.command(&self.crust, caps);
        command.args(args).current_dir(self.subject.dir());
        run_with_timeout(&mut command, CRUST_TIMEOUT).expect("run crust as the user")
    }

    fn images(&self) -> String {
        self.subject.images().to_string_lossy().into_owned()
    }

    fn dump_as_user(&self, caps: Caps) -> Finished {
        let pid = self.pid().to_string();
        self.crust_as_user(caps, &["dump", "-t", &pid, "-D", &self.images()])
    }

    /// Dumps the tree as the user with `caps`, which must succeed and kill it; crit reads the
    /// images.
    fn dump_and_check(&mut self, caps: Caps) {
        let dumped = self.dump_as_user(caps);
        assert_eq!(dumped.code(), Some(0), "dump failed: {}", dumped.stderr);
        self.subject
            .reap_original()
            .expect("the dump killed the tree");
        self.check_images();
    }

    fn restore_as_user(&self, caps: Caps) -> Finished {
        self.crust_as_user(caps, &["restore", "-D", &self.images(), "-d"])
    }

    /// The images decode with crit and hold the parent and its child.
    fn check_images(&self) {
        let decoded = crit_decode_dir(self.subject.images()).expect("crit decodes every image");
        let tree = pstree(&decoded);
        let pids: Vec<u64> = tree.iter().map(|(pid, _)| *pid).collect();
        assert_eq!(pids.len(), 2, "pstree.img holds {tree:?}");
        assert_eq!(
            pids[0],
            self.pid().as_raw() as u64,
            "pstree.img holds {tree:?}"
        );
    }

    /// The restored tree is adopted and reports itself intact.
    fn check_restored(&mut self, restored: &Finished) {
        assert_eq!(
            restored.code(),
            Some(0),
            "restore failed: {}",
            restored.stderr
        );
        let expected = format!("restored pid {}, running detached", self.pid());
        assert!(restored.stdout.contains(&expected), "{}", restored.stdout);
        self.subject
            .adopt_restored()
            .expect("adopt the restored tree");
        let more = format!("uid={}", self.user.uid);
        self.subject
            .ok_report(&more, REPORT_TIMEOUT)
            .expect("the restored tree finds itself intact");
    }
}

fn serial() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// The one line crust printed on stderr when it failed.
fn failure(finished: &Finished) -> String {
    assert_eq!(finished.code(), Some(1), "crust did not fail: {finished:?}");
    let lines = finished.stderr_lines();
    assert_eq!(lines.len(), 1, "not one line: {:?}", finished.stderr);
    lines[0].to_string()
}

fn exists(pid: Pid) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Nothing in the images directory (a refused dump writes nothing there).
fn assert_empty(dir: &Path) {
    let left: Vec<_> = std::fs::read_dir(dir).expect("images dir").collect();
    assert!(left.is_empty(), "a refused dump left {left:?}");
}

#[test]
fn own_tree_with_checkpoint_restore_is_dumped_and_restored() {
    let _serial = serial();
    let mut setup = Setup::start("unpriv-cr", false, &[]);
    setup.dump_and_check(Caps::CheckpointRestore);

    let restored = setup.restore_as_user(Caps::CheckpointRestore);
    setup.check_restored(&restored);
    setup.subject.finish().expect("clean up");
}

#[test]
fn own_tree_is_dumped_without_any_capability_and_restored_only_with_it() {
    let _serial = serial();
    let mut setup = Setup::start("unpriv-none", false, &[]);
    setup.dump_and_check(Caps::Nothing);

    let refused = setup.restore_as_user(Caps::Nothing);
    let expected = format!(
        "crust: restore from {} failed: crust needs CAP_CHECKPOINT_RESTORE to restore \
         (processes are forked with their pids) (run it as root, or give it the capability); \
         it has not",
        setup.images()
    );
    assert_eq!(failure(&refused), expected);
    assert!(
        !exists(setup.pid()),
        "a refused restore created pid {}",
        setup.pid()
    );

    let restored = setup.restore_as_user(Caps::CheckpointRestore);
    setup.check_restored(&restored);
    setup.subject.finish().expect("clean up");
}

#[test]
fn roots_process_is_refused_and_left_untouched() {
    let _serial = serial();
    let setup = Setup::start("unpriv-root-proc", true, &[]);
    let pid = setup.pid();
    let refusal = format!(
        "pid {pid}: process belongs to uid 0: crust runs as uid {} without CAP_SYS_PTRACE, and \
         dumps only its own user's processes",
        setup.user.uid
    );
    for caps in [Caps::Nothing, Caps::CheckpointRestore] {
        let refused = setup.dump_as_user(caps);
        let expected = format!("crust: dump of pid {pid} failed: {refusal}");
        assert_eq!(failure(&refused), expected, "with {caps:?}");
        assert_empty(setup.subject.images());
    }
    let pid_text = pid.to_string();
    let checked = setup.crust_as_user(Caps::Nothing, &["check", "-t", &pid_text]);
    assert_eq!(checked.code(), Some(1), "{checked:?}");
    assert_eq!(checked.stdout.trim_end(), refusal);

    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("it runs");
    assert!(status.contains("TracerPid:\t0"), "{status}");
    setup
        .subject
        .ok_report("uid=0", REPORT_TIMEOUT)
        .expect("root's process finds itself intact");
    setup.subject.finish().expect("clean up");
}

#[test]
fn roots_images_are_refused_before_anything_is_created() {
    let _serial = serial();
    let mut setup = Setup::start("unpriv-root-images", true, &[]);
    let pid = setup.pid();
    tests::dump(pid, setup.subject.images(), false, CRUST_TIMEOUT).expect("root dumps");
    setup
        .subject
        .reap_original()
        .expect("the dump killed the tree");
    setup.check_images();
    let readable = Command::new("chmod")
        .args(["-R", "a+rX"])
        .arg(setup.subject.images())
        .status()
        .expect("chmod");
    assert!(readable.success(), "chmod -R a+rX the images");

    let refused = setup.restore_as_user(Caps::CheckpointRestore);
    let expected = format!(
        "crust: restore from {} failed: pid {pid} (tid {pid}) ran with uid 0, and crust runs \
         as uid {} without root's CAP_SETUID, CAP_SETGID and CAP_SETPCAP: only root restores \
         another user's processes",
        setup.images(),
        setup.user.uid
    );
    assert_eq!(failure(&refused), expected);
    assert!(!exists(pid), "a refused restore created pid {pid}");

    // The images were sound: root restores them.
    let restored = tests::restore_detached(setup.subject.images(), CRUST_TIMEOUT);
    assert_eq!(restored.expect("root restores its images"), pid);
    setup.subject.adopt_restored().expect("adopt");
    setup
        .subject
        .ok_report("uid=0", REPORT_TIMEOUT)
        .expect("root's restored tree finds itself intact");
    setup.subject.finish().expect("clean up");
}

#[test]
fn shared_anonymous_memory_needs_checkpoint_restore() {
    let _serial = serial();
    let mut setup = Setup::start("unpriv-shm", false, &["shm"]);
    let pid = setup.pid();
    let range = setup
        .subject
        .ready()
        .strip_prefix("ready shm=")
        .expect("the workload names its shared memory")
        .trim()
        .to_string();
    let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .expect("the workload's children");
    let child = children.trim().to_string();
    assert!(child.parse::<i32>().is_ok(), "one child, not {children:?}");
    // Parent and child map the same memory: one line each.
    let refusal = |holder: &str| {
        format!(
            "pid {holder}: {range} is shared anonymous memory: reading it needs \
             CAP_CHECKPOINT_RESTORE (through /proc/PID/map_files), which crust has not"
        )
    };
    let pid_text = pid.to_string();
    let expected = [
        format!("crust: dump of pid {pid} failed: {}", refusal(&pid_text)),
        refusal(&child),
    ];
    let refused = setup.dump_as_user(Caps::Nothing);
    assert_eq!(refused.code(), Some(1), "crust did not fail: {refused:?}");
    assert_eq!(refused.stderr_lines(), expected);
    assert_empty(setup.subject.images());
    let checked = setup.crust_as_user(Caps::Nothing, &["check", "-t", &pid_text]);
    let lines: Vec<&str> = checked.stdout.lines().collect();
    assert_eq!(lines, [refusal(&pid_text), refusal(&child)]);

    setup.dump_and_check(Caps::CheckpointRestore);
    let restored = setup.restore_as_user(Caps::CheckpointRestore);
    setup.check_restored(&restored);
    setup.subject.finish().expect("clean up");
}

/// The user's own process made undumpable (as ssh-agent and gpg-agent do) cannot be traced
/// without CAP_SYS_PTRACE: refused on its ids, and it runs on untouched.
#[test]
fn an_undumpable_process_of_the_users_is_refused() {
    let _serial = serial();
    let setup = Setup::start("unpriv-undumpable", false, &["undumpable"]);
    let pid = setup.pid();
    let refusal = format!(
        "pid {pid}: process is not dumpable (PR_SET_DUMPABLE, or it changed ids): crust may \
         not trace it without CAP_SYS_PTRACE"
    );
    let refused = setup.dump_as_user(Caps::CheckpointRestore);
    assert_eq!(
        failure(&refused),
        format!("crust: dump of pid {pid} failed: {refusal}")
    );
    assert_empty(setup.subject.images());
    let more = format!("uid={}", setup.user.uid);
    setup
        .subject
        .ok_report(&more, REPORT_TIMEOUT)
        .expect("the process finds itself intact");
    setup.subject.finish().expect("clean up");
}

/// A semaphore set of root's in crust's IPC namespace, readable by root alone; removed on drop.
struct RootsSemaphoreSet(i32);

impl RootsSemaphoreSet {
    fn make() -> Self {
        // SAFETY: semget takes plain integers and touches no memory of ours.
        let id = unsafe { libc::semget(libc::IPC_PRIVATE, 1, libc::IPC_CREAT | 0o600) };
        assert!(id >= 0, "semget: {}", std::io::Error::last_os_error());
        Self(id)
    }
}

impl Drop for RootsSemaphoreSet {
    fn drop(&mut self) {
        // SAFETY: IPC_RMID takes no fourth argument and touches no memory of ours.
        unsafe { libc::semctl(self.0, 0, libc::IPC_RMID) };
    }
}

#[test]
fn roots_semaphore_set_the_user_may_not_read_is_no_blocker() {
    let _serial = serial();
    let _set = RootsSemaphoreSet::make();
    let mut setup = Setup::start("unpriv-sem", false, &[]);
    let pid = setup.pid().to_string();
    let checked = setup.crust_as_user(Caps::Nothing, &["check", "-t", &pid]);
    assert_eq!(checked.code(), Some(0), "{checked:?}");
    setup.dump_and_check(Caps::Nothing);
}
