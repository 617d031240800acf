//! Files with no name left, across dump, kill and restore (workloads/invisible.c): an unlinked
//! file with a hole, held by an fd at an offset and by a shared mapping; a sealed memfd held by
//! an fd, a shared and a private mapping; a memfd sealed against writes; a removed working
//! directory. The process checks them itself after the restore: contents, sizes, modes, link
//! counts, offsets, seals, names in /proc, and that writes through an fd show in the mapping.
//! An unlinked file over `--ghost-limit` is refused, and the process runs on untouched.
//!
//! Needs the crust binary built first: `cargo build --release -p cli`.

use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;
use tests::image_json::Decoded;
use tests::{compile_c, crit_decode_dir, crust, Abi, Subject};

const SOURCE: &str = include_str!("../workloads/invisible.c");
const TIMEOUT: Duration = Duration::from_secs(60);

/// One workload at a time, as in the other end-to-end tests.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Starts the workload; `ghost_size` grows its unlinked file to that many bytes.
fn start(tag: &str, ghost_size: Option<u64>) -> Subject {
    let program = compile_c(SOURCE, Abi::X86_64, &["-O2"]).unwrap_or_else(|e| panic!("{e}"));
    let build = |dir: &std::path::Path| {
        let mut command = Command::new(&program);
        command.arg(dir);
        if let Some(size) = ghost_size {
            command.arg(size.to_string());
        }
        command
    };
    Subject::start(tag, build).unwrap_or_else(|error| panic!("{error}"))
}

fn expect_ok_report(subject: &Subject) {
    let report = subject
        .ask_report(TIMEOUT)
        .unwrap_or_else(|error| panic!("{error}"));
    let expected = format!("OK pid={} ghost=ok memfd=ok cwd=ok", subject.pid());
    assert_eq!(report, expected, "the workload reported: {report}");
}

/// The entries of the decoded image `file`.
fn entries<'a>(decoded: &'a Decoded, file: &str) -> &'a [Value] {
    decoded
        .get(file)
        .and_then(|image| image["entries"].as_array())
        .map(Vec::as_slice)
        .unwrap_or_else(|| panic!("no {file} among {:?}", decoded.keys()))
}

#[test]
fn invisible_files_report_ok_without_any_checkpoint() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let mut subject = start("invisible-plain", None);
    expect_ok_report(&subject);
    let status = subject
        .reap_original()
        .unwrap_or_else(|error| panic!("{error}"));
    assert!(status.success(), "{status}");
}

#[test]
fn unlinked_file_memfds_and_removed_cwd_survive_dump_and_restore() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let mut subject = start("invisible-cycle", None);
    let decoded = subject
        .dump(false, TIMEOUT)
        .unwrap_or_else(|error| panic!("{error}"));

    let remaps = entries(&decoded, "remap-fpath.img");
    assert!(
        remaps.iter().all(|r| r["remap_type"] == "GHOST"),
        "{remaps:?}"
    );
    // The file (its fd, its mapping) and the working directory.
    assert_eq!(remaps.len(), 3, "{remaps:?}");
    let ghost_path = subject.dir().join("ghost.dat").display().to_string();
    let named_ghost = entries(&decoded, "files.img")
        .iter()
        .any(|f| f["reg"]["name"] == ghost_path.as_str());
    assert!(named_ghost, "files.img lacks {ghost_path}");
    let ghosts: Vec<&Value> = decoded
        .iter()
        .filter(|(name, _)| name.starts_with("ghost-file-"))
        .flat_map(|(_, image)| image["entries"].as_array().into_iter().flatten())
        .collect();
    // The file's inode and its two runs of data around the hole, and the directory's inode.
    assert_eq!(ghosts.len(), 4, "{ghosts:?}");
    let memfds = entries(&decoded, "memfd.img");
    let names: Vec<&str> = memfds.iter().filter_map(|m| m["name"].as_str()).collect();
    assert_eq!(names, ["crust-invisible", "crust-sealed"]);
    assert!(decoded.contains_key("pagemap-shmem-1.img"));

    subject
        .restore(TIMEOUT)
        .unwrap_or_else(|error| panic!("{error}"));
    expect_ok_report(&subject);
    let left: Vec<_> = std::fs::read_dir(subject.dir())
        .unwrap_or_else(|error| panic!("{error}"))
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| !["output", "images"].contains(&name.as_str()))
        .collect();
    assert!(left.is_empty(), "the restore left {left:?} behind");
    subject.finish().unwrap_or_else(|error| panic!("{error}"));
}

#[test]
fn an_unlinked_file_over_the_ghost_limit_is_refused_and_the_process_runs_on() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let size = 2 << 20;
    let mut subject = start("invisible-big", Some(size));
    let pid = subject.pid();
    let images = subject.dir().join("images");
    let finished = crust(
        &[
            "dump",
            "-t",
            &pid.to_string(),
            "-D",
            &images.to_string_lossy(),
        ],
        TIMEOUT,
    )
    .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(finished.code(), Some(1), "{}", finished.stderr);
    let ghost_path = subject.dir().join("ghost.dat").display().to_string();
    let verdict = format!(
        "it was unlinked and its {size} bytes are over the ghost file limit of 1048576 bytes; \
         raise it with --ghost-limit"
    );
    // One line for the fd, one for the mapping of the same file.
    let lines = finished.stderr_lines();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(
        lines[0],
        format!(
            "crust: dump of pid {pid} failed: pid {pid}: fd 3 is {ghost_path} (deleted): {verdict}"
        )
    );
    let mapping = format!(" maps {ghost_path} (deleted): {verdict}");
    assert!(
        lines[1].starts_with(&format!("pid {pid}: 0x")) && lines[1].ends_with(&mapping),
        "{}",
        lines[1]
    );
    let written: Vec<_> = std::fs::read_dir(&images)
        .unwrap_or_else(|error| panic!("{error}"))
        .collect();
    assert!(written.is_empty(), "a refused dump left {written:?}");
    expect_ok_report(&subject);
    let status = subject
        .reap_original()
        .unwrap_or_else(|error| panic!("{error}"));
    assert!(status.success(), "{status}");
}

#[test]
fn a_raised_ghost_limit_lets_the_big_file_through_holes_and_all() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let size: u64 = 2 << 20;
    let mut subject = start("invisible-raised", Some(size));
    let pid = subject.pid().to_string();
    let images = subject.dir().join("images");
    let images_arg = images.to_string_lossy();
    let args = ["dump", "-t", &pid, "-D", &images_arg, "--ghost-limit", "4M"];
    let finished = crust(&args, TIMEOUT).unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(finished.code(), Some(0), "{}", finished.stderr);
    subject
        .reap_original()
        .unwrap_or_else(|error| panic!("{error}"));
    let decoded = crit_decode_dir(&images).unwrap_or_else(|error| panic!("{error}"));
    // 2 MiB of file, but only the blocks written are stored (whole blocks of the filesystem):
    // the rest is a hole.
    let stored: u64 = decoded
        .iter()
        .filter(|(name, _)| name.starts_with("ghost-file-"))
        .flat_map(|(_, image)| image["entries"].as_array().into_iter().flatten())
        .filter_map(|entry| entry["len"].as_u64())
        .sum();
    assert!(
        (4096 + 4196..=4 * 4096).contains(&stored),
        "{stored} bytes stored"
    );
    subject
        .restore(TIMEOUT)
        .unwrap_or_else(|error| panic!("{error}"));
    expect_ok_report(&subject);
    subject.finish().unwrap_or_else(|error| panic!("{error}"));
}

#[test]
fn a_process_whose_program_was_deleted_comes_back_running_it() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let program = compile_c(SOURCE, Abi::X86_64, &["-O2"]).unwrap_or_else(|e| panic!("{e}"));
    let mut copy = None;
    let build = |dir: &std::path::Path| {
        let own = dir.join("program");
        std::fs::copy(&program, &own).unwrap_or_else(|e| panic!("{e}"));
        let mut command = Command::new(&own);
        command.arg(dir);
        copy = Some(own);
        command
    };
    let mut subject = Subject::start("invisible-exe", build).unwrap_or_else(|e| panic!("{e}"));
    let copy = copy.unwrap_or_else(|| panic!("no program copied"));
    std::fs::remove_file(&copy).unwrap_or_else(|e| panic!("{e}"));
    let exe = format!("/proc/{}/exe", subject.pid());
    let deleted = format!("{} (deleted)", copy.display());
    let link = || std::fs::read_link(&exe).map(|l| l.display().to_string());
    assert_eq!(link().ok().as_deref(), Some(deleted.as_str()));

    subject
        .dump(false, TIMEOUT)
        .unwrap_or_else(|error| panic!("{error}"));
    subject
        .restore(TIMEOUT)
        .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(link().ok().as_deref(), Some(deleted.as_str()));
    expect_ok_report(&subject);
    assert!(!copy.exists(), "the restore left the program's name behind");
    subject.finish().unwrap_or_else(|error| panic!("{error}"));
}
