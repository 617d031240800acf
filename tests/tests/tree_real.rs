//! Trees of real programs through `crust dump -t ROOT` and `crust restore -d`:
//! a bash pipeline (workloads/pipeline.sh: a counting subshell, tee and cat,
//! with `sleep` processes coming and going) whose count must go on with no
//! line lost or doubled, and python3 multiprocessing workers
//! (workloads/pool.py) dumped with work in flight that must finish with the
//! right sum. A multiprocessing.Pool holds POSIX semaphores, which crust
//! refuses; that dump must be refused and the pool must carry on.
//!
//! Needs the crust binary built first: `cargo build --release -p cli`.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use nix::unistd::Pid;
use tests::tree::{places, saved_pids, wait_all_gone, Places, TreeGuard};
use tests::{crit_decode_dir, dump, gapless_count, poll_until, wait_until_gone, Subject};

const PIPELINE: &str = include_str!("../workloads/pipeline.sh");
const POOL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/workloads/pool.py");
const POOL_SOURCE: &str = include_str!("../workloads/pool.py");

const CRUST_TIMEOUT: Duration = Duration::from_secs(120);

/// How long a workload may take to make the progress a step waits for.
const PROGRESS_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a tree may take to end once told to, or once dumped.
const END_TIMEOUT: Duration = Duration::from_secs(30);

/// How many lines the pipeline must count before the dump and after the restore.
const PIPELINE_PROGRESS: u64 = 20;

/// One tree at a time: they share two CPUs with crust.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn pipeline(dir: &Path) -> Command {
    let mut command = Command::new("bash");
    command.arg("-c").arg(PIPELINE).arg("bash").arg(dir);
    command
}

fn python_workers(mode: &'static str) -> impl FnOnce(&Path) -> Command {
    move |dir| {
        let mut command = Command::new("python3");
        command.arg(POOL).arg(dir).arg(mode);
        command
    }
}

fn start(tag: &str, build: impl FnOnce(&Path) -> Command) -> Subject {
    Subject::start(tag, build).unwrap_or_else(|error| panic!("{error}"))
}

/// The root and its direct children: the processes that live as long as the
/// tree (short-lived ones, such as the pipeline's `sleep`, hang below them).
fn long_lived(root: Pid) -> Places {
    let mut tree = places(root).unwrap_or_else(|error| panic!("{error}"));
    tree.retain(|&pid, place| pid == root || place.ppid == root);
    tree
}

/// Every process under the root now, under the guard's watch.
fn guard_tree(guard: &mut TreeGuard, root: Pid) -> Places {
    let tree = places(root).unwrap_or_else(|error| panic!("{error}"));
    guard.watch(tree.keys());
    tree
}

/// Dumps the tree (killing it), waits until all of it is gone, and checks
/// that crit reads the images and their pstree holds every long-lived process.
fn dump_and_kill(subject: &mut Subject, tree: &Places, long_lived: &Places) {
    let dumped = dump(subject.pid(), subject.images(), false, CRUST_TIMEOUT);
    dumped.unwrap_or_else(|error| panic!("{error}"));
    subject
        .reap_original()
        .unwrap_or_else(|error| panic!("{error}"));
    wait_all_gone(tree.keys(), END_TIMEOUT).unwrap_or_else(|error| panic!("{error}"));
    let decoded = crit_decode_dir(subject.images()).unwrap_or_else(|error| panic!("{error}"));
    let saved = saved_pids(&decoded);
    let wanted: BTreeSet<Pid> = long_lived.keys().copied().collect();
    assert!(
        saved.is_superset(&wanted),
        "pstree.img saves {saved:?}, not all of {wanted:?}"
    );
}

/// Restores the tree; its long-lived processes must stand as before (the
/// root's parent aside).
fn restore_in_place(subject: &mut Subject, before: &Places) -> Places {
    subject
        .restore(CRUST_TIMEOUT)
        .unwrap_or_else(|error| panic!("{error}"));
    let root = subject.pid();
    let after = long_lived(root);
    let without_root = |tree: &Places| {
        let mut tree = tree.clone();
        tree.remove(&root);
        tree
    };
    assert_eq!(without_root(&after), without_root(before));
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>()
    );
    after
}

/// Waits until the count in `path` reaches `at_least` (a read that catches
/// a line half written counts as not yet).
fn count_reaches(path: &Path, at_least: u64) -> u64 {
    let reached = poll_until(PROGRESS_TIMEOUT, || {
        gapless_count(path).ok().filter(|&count| count >= at_least)
    });
    reached.unwrap_or_else(|| {
        let now = gapless_count(path);
        panic!("{} did not reach {at_least} lines: {now:?}", path.display())
    })
}

#[test]
fn bash_pipeline_counts_on_with_no_line_lost_or_doubled() {
    let _serial = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut subject = start("tree-bash-pipeline", pipeline);
    let root = subject.pid();
    let count = subject.dir().join("count");
    count_reaches(&count, PIPELINE_PROGRESS);
    let before = long_lived(root);
    assert_eq!(
        before.len(),
        4,
        "bash, the subshell, tee and cat: {before:?}"
    );
    let mut guard = TreeGuard::new();
    let tree = guard_tree(&mut guard, root);

    dump_and_kill(&mut subject, &tree, &before);
    let at_dump = gapless_count(&count).unwrap_or_else(|error| panic!("{error}"));

    let after = restore_in_place(&mut subject, &before);
    guard_tree(&mut guard, root);
    count_reaches(&count, at_dump + PIPELINE_PROGRESS);

    fs::write(subject.dir().join("stop"), "").expect("stop file");
    wait_until_gone(root, END_TIMEOUT).unwrap_or_else(|error| panic!("{error}"));
    wait_all_gone(after.keys(), END_TIMEOUT).unwrap_or_else(|error| panic!("{error}"));
    let last = gapless_count(&count).unwrap_or_else(|error| panic!("{error}"));
    assert!(last >= at_dump + PIPELINE_PROGRESS, "{last} lines");
    subject.finish().unwrap_or_else(|error| panic!("{error}"));
}

/// A constant `NAME = VALUE` of pool.py.
fn pool_constant(name: &str) -> u64 {
    let prefix = format!("{name} = ");
    let value = POOL_SOURCE
        .lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {name} in pool.py"));
    value.parse().unwrap_or_else(|_| panic!("{name} = {value}"))
}

/// What pool.py must find: the sum of n² for n below CHUNKS * CHUNK.
fn expected_total() -> u128 {
    let n = u128::from(pool_constant("CHUNKS") * pool_constant("CHUNK"));
    (n - 1) * n * (2 * n - 1) / 6
}

fn progress_lines(dir: &Path) -> Vec<String> {
    let text = fs::read_to_string(dir.join("progress")).unwrap_or_default();
    text.lines().map(str::to_owned).collect()
}

fn progress_reaches(dir: &Path, at_least: usize) {
    let reached = poll_until(PROGRESS_TIMEOUT, || {
        (progress_lines(dir).len() >= at_least).then_some(())
    });
    assert!(reached.is_some(), "fewer than {at_least} results in time");
}

/// Waits for DIR/total; every chunk must have been counted once, and the
/// total must be right.
fn finishes_with_the_right_total(dir: &Path) {
    let total = poll_until(PROGRESS_TIMEOUT, || {
        fs::read_to_string(dir.join("total")).ok()
    });
    let total = total.unwrap_or_else(|| panic!("no total; progress: {:?}", progress_lines(dir)));
    assert_eq!(total.trim(), expected_total().to_string());
    let mut chunks: Vec<u64> = progress_lines(dir)
        .iter()
        .filter_map(|line| line.split(' ').next()?.parse().ok())
        .collect();
    chunks.sort_unstable();
    let all: Vec<u64> = (0..pool_constant("CHUNKS")).collect();
    assert_eq!(chunks, all, "each chunk once");
}

#[test]
fn python_workers_dumped_with_work_in_flight_finish_with_the_right_total() {
    let _serial = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut subject = start("tree-python-workers", python_workers("pipes"));
    let root = subject.pid();
    let dir = subject.dir().to_path_buf();
    progress_reaches(&dir, 8);
    let before = long_lived(root);
    assert_eq!(before.len(), 5, "python and 4 workers: {before:?}");
    let mut guard = TreeGuard::new();
    let tree = guard_tree(&mut guard, root);

    dump_and_kill(&mut subject, &tree, &before);
    let done = progress_lines(&dir).len();
    let chunks = usize::try_from(pool_constant("CHUNKS")).expect("CHUNKS");
    assert!(done < chunks, "all {done} chunks were done before the dump");
    assert!(!dir.join("total").exists());

    let after = restore_in_place(&mut subject, &before);
    guard_tree(&mut guard, root);
    finishes_with_the_right_total(&dir);
    wait_until_gone(root, END_TIMEOUT).unwrap_or_else(|error| panic!("{error}"));
    wait_all_gone(after.keys(), END_TIMEOUT).unwrap_or_else(|error| panic!("{error}"));
    subject.finish().unwrap_or_else(|error| panic!("{error}"));
}

/// A multiprocessing.Pool: its queues hold POSIX semaphores, files of /dev/shm the
/// processes map after glibc removed their names (ghosts, one per semaphore, shared by every
/// process of the pool), and its results travel through pipes.
#[test]
fn python_pool_dumped_with_work_in_flight_finishes_with_the_right_total() {
    let _serial = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut subject = start("tree-python-pool", python_workers("pool"));
    let root = subject.pid();
    let dir = subject.dir().to_path_buf();
    progress_reaches(&dir, 8);
    let before = long_lived(root);
    assert!(before.len() >= 5, "python and 4 pool workers: {before:?}");
    let mut guard = TreeGuard::new();
    let tree = guard_tree(&mut guard, root);

    dump_and_kill(&mut subject, &tree, &before);
    let done = progress_lines(&dir).len();
    let chunks = usize::try_from(pool_constant("CHUNKS")).expect("CHUNKS");
    assert!(done < chunks, "all {done} chunks were done before the dump");
    assert!(!dir.join("total").exists());
    let ghosts = fs::read_dir(subject.images())
        .expect("images")
        .filter(|entry| {
            let name = entry.as_ref().map(|e| e.file_name()).unwrap_or_default();
            name.to_string_lossy().starts_with("ghost-file-")
        })
        .count();
    assert!(ghosts > 0, "the pool's semaphores are ghosts in the images");

    let after = restore_in_place(&mut subject, &before);
    guard_tree(&mut guard, root);
    finishes_with_the_right_total(&dir);
    wait_until_gone(root, END_TIMEOUT).unwrap_or_else(|error| panic!("{error}"));
    wait_all_gone(after.keys(), END_TIMEOUT).unwrap_or_else(|error| panic!("{error}"));
    subject.finish().unwrap_or_else(|error| panic!("{error}"));
}
