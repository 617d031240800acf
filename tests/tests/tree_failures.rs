//! A restore of a tree that fails part way, after some of its processes
//! were made, leaves none of them: every process made is killed before any
//! runs, and crust names the process and the step that failed.
//!
//! Needs the crust binary built first: `cargo build --release -p cli`.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use tests::{compile_c, crit_decode_dir, crust, run_with_timeout, spawn_in_own_session, TempDir};

const TIMEOUT: Duration = Duration::from_secs(60);

/// A root with two children, the first with a child of its own; each writes its pid to the
/// output, then all wait in pause(2).
const TREE: &str = r#"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
static void spawn(int grandchild) {
    if (fork() == 0) {
        char *mine = malloc(1 << 20);
        memset(mine, getpid() & 0xff, 1 << 20);
        if (grandchild) spawn(0);
        printf("pid %d\n", getpid());
        fflush(stdout);
        for (;;) pause();
    }
}
int main(void) {
    printf("pid %d\n", getpid());
    fflush(stdout);
    spawn(1);
    spawn(0);
    for (;;) pause();
}
"#;

/// Starts the tree, waits for its four pids and dumps it into `images`; returns the pids,
/// the root first.
fn dumped_tree(dir: &Path, images: &Path) -> Vec<i32> {
    let program = compile_c(TREE, tests::Abi::X86_64, &["-O2"]).expect("compile the tree");
    let output = dir.join("out.txt");
    let mut workload =
        spawn_in_own_session(&mut Command::new(program), &output).expect("start the tree");
    let pids = tests::poll_until(TIMEOUT, || {
        let text = fs::read_to_string(&output).ok()?;
        let pids: Vec<i32> = text
            .lines()
            .filter_map(|line| line.strip_prefix("pid ")?.parse().ok())
            .collect();
        (pids.len() == 4).then_some(pids)
    })
    .expect("the tree reports its pids");
    let root = workload.pid().as_raw();
    assert_eq!(pids[0], root);
    let images_arg = images.to_string_lossy();
    let dumped = crust(
        &["dump", "-t", &root.to_string(), "-D", &images_arg],
        TIMEOUT,
    )
    .expect("run crust dump");
    assert_eq!(dumped.code(), Some(0), "{}", dumped.stderr);
    assert!(dumped.stdout.contains("4 processes"), "{}", dumped.stdout);
    workload
        .collect_dumped(TIMEOUT)
        .expect("the dump kills the tree");
    crit_decode_dir(images).expect("crit decodes every image");
    pids
}

/// Moves the vdso of process `pid`'s mm image one page up with crit, so that its restore
/// fails once the processes before it in the tree are made.
fn break_vdso_of(images: &Path, pid: i32, json: &Path) {
    let mm = images.join(format!("mm-{pid}.img"));
    let decoded = run_with_timeout(
        Command::new("crit")
            .args(["decode", "--pretty", "-i"])
            .arg(&mm),
        TIMEOUT,
    )
    .expect("crit decode");
    let mut value: serde_json::Value = serde_json::from_str(&decoded.stdout).expect("JSON");
    let vmas = value["entries"][0]["vmas"].as_array_mut().expect("vmas");
    let vdso = vmas
        .iter_mut()
        .find(|vma| vma["status"].as_str().is_some_and(|s| s.contains("VDSO")))
        .expect("a vdso area");
    let start = vdso["start"]
        .as_str()
        .expect("start")
        .trim_start_matches("0x");
    let start = u64::from_str_radix(start, 16).expect("hex start");
    vdso["start"] = serde_json::Value::String(format!("{:#x}", start + 4096));
    fs::write(json, value.to_string()).expect("write JSON");
    let encoded = run_with_timeout(
        Command::new("crit")
            .args(["encode", "-i"])
            .arg(json)
            .arg("-o")
            .arg(&mm),
        TIMEOUT,
    )
    .expect("crit encode");
    assert_eq!(encoded.code(), Some(0), "{}", encoded.stderr);
}

/// No process of the tree runs (a killed one may stay a zombie until pid 1 reaps it).
fn assert_none_runs(pids: &[i32]) {
    for pid in pids {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        assert!(
            stat.is_empty() || stat.contains(") Z ") || stat.contains(") X "),
            "a failed restore left pid {pid} alive: {stat}"
        );
    }
    let gone = tests::poll_until(Duration::from_secs(5), || {
        pids.iter()
            .all(|pid| !Path::new(&format!("/proc/{pid}")).exists())
            .then_some(())
    });
    assert!(gone.is_some(), "pids {pids:?} are still held");
}

#[test]
fn a_tree_whose_restore_fails_at_any_process_leaves_none() {
    let temp = TempDir::new("tree-fail").expect("temp dir");
    let images = temp.path().join("images");
    let pids = dumped_tree(temp.path(), &images);
    // The first child's child, then the last child: each fails with processes already made.
    for (round, broken) in [pids[2], pids[3], pids[0]].into_iter().enumerate() {
        let copy = temp.path().join(format!("broken-{round}"));
        fs::create_dir_all(&copy).expect("copy dir");
        for entry in fs::read_dir(&images).expect("list") {
            let path = entry.expect("entry").path();
            fs::copy(&path, copy.join(path.file_name().expect("name"))).expect("copy");
        }
        break_vdso_of(&copy, broken, &temp.path().join("mm.json"));
        tests::poll_until(Duration::from_secs(5), || {
            pids.iter()
                .all(|pid| !Path::new(&format!("/proc/{pid}")).exists())
                .then_some(())
        });
        let restored =
            crust(&["restore", "-D", &copy.to_string_lossy()], TIMEOUT).expect("run crust restore");
        assert_eq!(restored.code(), Some(1), "{}", restored.stderr);
        assert!(
            restored.stderr.contains(&format!("pid {broken}")) && restored.stderr.contains("vdso"),
            "{}",
            restored.stderr
        );
        assert_none_runs(&pids);
    }
    // And the images as dumped still restore the whole tree.
    let restored = crust(&["restore", "-d", "-D", &images.to_string_lossy()], TIMEOUT)
        .expect("run crust restore");
    assert_eq!(restored.code(), Some(0), "{}", restored.stderr);
    for pid in &pids {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).expect("restored");
        assert!(stat.contains(") S "), "pid {pid}: {stat}");
    }
    for pid in pids.iter().rev() {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(*pid), nix::sys::signal::SIGKILL);
    }
}
