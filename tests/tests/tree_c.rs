//! A tree of C processes (workloads/tree.c) through `crust dump -t ROOT` and
//! `crust restore -d`: a zombie, a child in a session of its own, a group
//! leader with a grandchild in its group, a pipe with bytes in flight between
//! two of them, a MAP_SHARED page, one file description shared by all, and a
//! 64 MiB private buffer every process shares copy-on-write. The test checks
//! from /proc that every process comes back with its parent, group and
//! session, and that the tree's PSS does not grow (the buffer is not copied
//! into each process); the processes check the rest themselves.
//!
//! Needs the crust binary built first: `cargo build --release -p cli`.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use nix::unistd::Pid;
use tests::image_json::Decoded;
use tests::tree::{memory, places, saved_pids, wait_all_gone, Memory, Place, Places, TreeGuard};
use tests::{compile_c, crit_decode_dir, dump, Abi, Subject};

const SOURCE: &str = include_str!("../workloads/tree.c");

/// A dump or restore of five processes and 64 MiB, on a shared machine.
const CRUST_TIMEOUT: Duration = Duration::from_secs(120);

/// The report: every process reads the 64 MiB buffer once.
const REPORT_TIMEOUT: Duration = Duration::from_secs(60);

/// How long the processes of a dumped tree may take to go away.
const GONE_TIMEOUT: Duration = Duration::from_secs(10);

/// The restored tree's PSS may exceed the original's by this factor at most:
/// one copy of the 64 MiB buffer per process would make it about four.
const PSS_GROWTH_LIMIT: f64 = 1.5;

/// One tree at a time: they share two CPUs with crust.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The pids the root printed in its `ready` line.
#[derive(Debug, Clone, Copy)]
struct Members {
    root: Pid,
    zombie: Pid,
    session: Pid,
    group: Pid,
    grandchild: Pid,
}

impl Members {
    /// From `ready pid=R z=Z s=S g=G gg=GG`.
    fn parse(ready: &str) -> Self {
        let pid_of = |key: &str| {
            let prefix = format!("{key}=");
            let value = ready
                .split(' ')
                .find_map(|word| word.strip_prefix(&prefix))
                .unwrap_or_else(|| panic!("no {key}= in {ready:?}"));
            Pid::from_raw(value.parse().unwrap_or_else(|_| panic!("{ready:?}")))
        };
        Self {
            root: pid_of("pid"),
            zombie: pid_of("z"),
            session: pid_of("s"),
            group: pid_of("g"),
            grandchild: pid_of("gg"),
        }
    }

    /// Where each process must stand, as tree.c builds it (the root's own
    /// parent aside: it changes with the restore).
    fn expected(&self, root_parent: Pid) -> Places {
        let place = |ppid, pgid, sid, zombie| Place {
            ppid,
            pgid,
            sid,
            zombie,
        };
        let Self {
            root,
            zombie,
            session,
            group,
            grandchild,
        } = *self;
        Places::from([
            (root, place(root_parent, root, root, false)),
            (zombie, place(root, root, root, true)),
            (session, place(root, session, session, false)),
            (group, place(root, group, root, false)),
            (grandchild, place(group, group, root, false)),
        ])
    }
}

fn start(tag: &str) -> (Subject, Members) {
    let subject = Subject::start_c_in_dir(tag, SOURCE).unwrap_or_else(|error| panic!("{error}"));
    let members = Members::parse(subject.ready());
    (subject, members)
}

/// The tree under the root, which must stand as tree.c built it.
fn tree_in_place(members: &Members) -> Places {
    let found = places(members.root).unwrap_or_else(|error| panic!("{error}"));
    let root_parent = found
        .get(&members.root)
        .map_or(Pid::from_raw(0), |p| p.ppid);
    assert_eq!(found, members.expected(root_parent));
    found
}

fn tree_memory(tree: &Places, when: &str) -> Memory {
    let live: Vec<Pid> = tree
        .iter()
        .filter(|(_, place)| !place.zombie)
        .map(|(&pid, _)| pid)
        .collect();
    let total = memory(&live).unwrap_or_else(|error| panic!("{error}"));
    eprintln!(
        "{when}: RSS {} KiB, PSS {} KiB over {} processes",
        total.rss_kib,
        total.pss_kib,
        live.len()
    );
    total
}

/// Dumps the tree; the images decode with crit and their pstree names
/// exactly the processes of `tree`.
fn dump_tree(subject: &Subject, tree: &Places, leave_running: bool) -> Decoded {
    let dumped = dump(
        subject.pid(),
        subject.images(),
        leave_running,
        CRUST_TIMEOUT,
    );
    dumped.unwrap_or_else(|error| panic!("{error}"));
    let decoded = crit_decode_dir(subject.images()).unwrap_or_else(|error| panic!("{error}"));
    let wanted: BTreeSet<Pid> = tree.keys().copied().collect();
    assert_eq!(saved_pids(&decoded), wanted, "pstree.img against the tree");
    decoded
}

fn expect_ok_report(subject: &Subject) {
    let ok = subject.ok_report("", REPORT_TIMEOUT);
    ok.unwrap_or_else(|error| panic!("{error}"));
}

/// Restores the tree; it must stand as before, the root's parent aside.
fn restore_in_place(subject: &mut Subject, members: &Members, before: &Places) -> Places {
    subject
        .restore(CRUST_TIMEOUT)
        .unwrap_or_else(|error| panic!("{error}"));
    let after = tree_in_place(members);
    let without_root = |tree: &Places| {
        let mut tree = tree.clone();
        tree.remove(&members.root);
        tree
    };
    assert_eq!(without_root(&after), without_root(before));
    after
}

#[test]
fn tree_reports_ok_without_any_checkpoint() {
    let _serial = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let (mut subject, members) = start("tree-plain");
    let tree = tree_in_place(&members);
    let mut guard = TreeGuard::new();
    guard.watch(tree.keys());
    expect_ok_report(&subject);
    let status = subject
        .reap_original()
        .unwrap_or_else(|error| panic!("{error}"));
    assert!(status.success(), "{status}");
    wait_all_gone(tree.keys(), GONE_TIMEOUT).unwrap_or_else(|error| panic!("{error}"));
}

/// The checks can fail: with one thing of each kind broken, the report
/// names every one.
#[test]
fn tree_reports_each_broken_thing_in_selftest_mode() {
    let _serial = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let program = compile_c(SOURCE, Abi::X86_64, &["-O2"]).unwrap_or_else(|e| panic!("{e}"));
    let build = |dir: &Path| {
        let mut command = Command::new(&program);
        command.arg("--selftest-break").arg(dir);
        command
    };
    let mut subject = Subject::start("tree-selftest", build).unwrap_or_else(|e| panic!("{e}"));
    let members = Members::parse(subject.ready());
    let mut guard = TreeGuard::new();
    guard.watch(&[
        members.root,
        members.session,
        members.group,
        members.grandchild,
    ]);
    let report = subject
        .ask_report(REPORT_TIMEOUT)
        .unwrap_or_else(|error| panic!("{error}"));
    assert!(
        report.starts_with(&format!("FAIL pid={} ", members.root)),
        "{report}"
    );
    let named = [
        "big-buffer-word-0",
        "G-shared-answer=0",
        "pgid=",
        "flight-pipe-bytes=50000",
        "zombie-not-a-zombie-child",
        "file-offset=",
        "file-contents",
    ];
    for what in named {
        assert!(report.contains(what), "{what} is not in: {report}");
    }
    subject.reap_original().unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn tree_comes_back_in_place_with_shared_state_and_cow_memory() {
    let _serial = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let (mut subject, members) = start("tree-cycle");
    let before = tree_in_place(&members);
    let mut guard = TreeGuard::new();
    guard.watch(before.keys());
    let memory_before = tree_memory(&before, "before the dump");

    dump_tree(&subject, &before, false);
    subject
        .reap_original()
        .unwrap_or_else(|error| panic!("{error}"));
    wait_all_gone(before.keys(), GONE_TIMEOUT).unwrap_or_else(|error| panic!("{error}"));

    let after = restore_in_place(&mut subject, &members, &before);
    guard.watch(after.keys());
    let memory_after = tree_memory(&after, "after the restore");
    let limit = memory_before.pss_kib as f64 * PSS_GROWTH_LIMIT;
    assert!(
        memory_after.pss_kib as f64 <= limit,
        "PSS grew from {} KiB to {} KiB: the restore copied memory that was shared \
         copy-on-write",
        memory_before.pss_kib,
        memory_after.pss_kib
    );

    expect_ok_report(&subject);
    subject.finish().unwrap_or_else(|error| panic!("{error}"));
    wait_all_gone(after.keys(), GONE_TIMEOUT).unwrap_or_else(|error| panic!("{error}"));
}

#[test]
fn tree_left_running_is_unharmed_and_restores_after_it_ended() {
    let _serial = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let (mut subject, members) = start("tree-leave-running");
    let before = tree_in_place(&members);
    let mut guard = TreeGuard::new();
    guard.watch(before.keys());

    let decoded = dump_tree(&subject, &before, true);
    assert_eq!(
        tree_in_place(&members),
        before,
        "the tree changed at the dump"
    );
    expect_ok_report(&subject);
    let status = subject
        .reap_original()
        .unwrap_or_else(|error| panic!("{error}"));
    assert!(status.success(), "{status}");
    wait_all_gone(before.keys(), GONE_TIMEOUT).unwrap_or_else(|error| panic!("{error}"));

    // Undo what the original wrote after the dump: its report, its records.
    for file in [
        subject.output().to_path_buf(),
        subject.dir().join("shared-offset"),
    ] {
        let rewound = subject.rewind_to_dump(&decoded, &file);
        rewound.unwrap_or_else(|error| panic!("{error}"));
    }

    let after = restore_in_place(&mut subject, &members, &before);
    guard.watch(after.keys());
    expect_ok_report(&subject);
    subject.finish().unwrap_or_else(|error| panic!("{error}"));
    wait_all_gone(after.keys(), GONE_TIMEOUT).unwrap_or_else(|error| panic!("{error}"));
}
