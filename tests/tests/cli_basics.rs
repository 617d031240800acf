//! The `crust` command line: version, help, usage errors, check, and the
//! one-line failures of dump and restore.
//!
//! Needs the crust binary built first: `cargo build --release -p cli`.

use std::time::Duration;

use tests::{crust, Finished, TempDir};

const TIMEOUT: Duration = Duration::from_secs(60);

/// Subcommands a user can see in `crust --help`.
const SUBCOMMANDS: [&str; 5] = ["dump", "restore", "show", "check", "demo"];

fn run(args: &[&str]) -> Finished {
    match crust(args, TIMEOUT) {
        Ok(finished) => finished,
        Err(error) => panic!("crust {}: {error}", args.join(" ")),
    }
}

#[test]
fn version_names_the_program_and_version() {
    let finished = run(&["--version"]);
    assert_eq!(finished.code(), Some(0));
    assert_eq!(
        finished.stdout.trim(),
        format!("crust {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn top_level_help_lists_every_subcommand_and_exit_codes() {
    let finished = run(&["--help"]);
    assert_eq!(finished.code(), Some(0));
    for subcommand in SUBCOMMANDS {
        assert!(
            finished.stdout.contains(&format!("  {subcommand} ")),
            "{subcommand} missing"
        );
    }
    assert!(finished.stdout.contains("Exit status:"));
    assert!(!finished.stdout.contains("demo-counter"));
}

#[test]
fn every_subcommand_has_help_with_an_example() {
    for subcommand in SUBCOMMANDS {
        let finished = run(&[subcommand, "--help"]);
        assert_eq!(
            finished.code(),
            Some(0),
            "{subcommand}: {}",
            finished.stderr
        );
        assert!(
            finished.stdout.contains("Example:"),
            "{subcommand}:\n{}",
            finished.stdout
        );
        assert!(
            finished.stdout.contains(&format!("crust {subcommand}")),
            "{subcommand}:\n{}",
            finished.stdout
        );
    }
}

#[test]
fn restore_help_explains_the_exit_status() {
    let finished = run(&["restore", "--help"]);
    assert!(finished.stdout.contains("128+SIG"), "{}", finished.stdout);
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["dump"][..],
        &["dump", "-t", "notapid", "-D", "/tmp"],
        &["restore"],
        &["no-such-command"],
        &["check", "--no-such-option"],
    ] {
        let finished = run(args);
        assert_eq!(
            finished.code(),
            Some(2),
            "crust {}: {}",
            args.join(" "),
            finished.stderr
        );
        assert!(finished.stdout.is_empty());
    }
}

#[test]
fn check_prints_one_line_per_feature_and_a_verdict() {
    let finished = run(&["check"]);
    let lines: Vec<&str> = finished.stdout.lines().collect();
    let (verdict, features) = lines.split_last().expect("check printed something");
    assert_eq!(
        features.len(),
        engine::kerndat::features().len(),
        "{}",
        finished.stdout
    );
    for (line, feature) in features.iter().zip(engine::kerndat::features()) {
        let state_given = line.starts_with("present  ") || line.starts_with("missing  ");
        assert!(state_given && line.contains(feature.name), "{line}");
    }
    match finished.code() {
        Some(0) => assert!(verdict.contains("all"), "{verdict}"),
        code => assert_eq!(code, Some(1), "{}", finished.stderr),
    }
}

#[test]
fn dump_of_a_missing_pid_fails_with_one_line_naming_it() {
    let dir = TempDir::new("cli-dump").expect("temp dir");
    let images = dir.path().to_string_lossy().into_owned();
    // Above the largest pid_max the kernel allows, so never a live process.
    let pid = "4194305";
    let finished = run(&["dump", "-t", pid, "-D", &images]);
    assert_eq!(finished.code(), Some(1));
    let lines = finished.stderr_lines();
    assert_eq!(lines.len(), 1, "{}", finished.stderr);
    assert!(
        lines[0].starts_with(&format!("crust: dump of pid {pid} failed: ")),
        "{}",
        lines[0]
    );
}

#[test]
fn restore_from_a_missing_directory_fails_with_one_line_naming_it() {
    let dir = TempDir::new("cli-restore").expect("temp dir");
    let missing = dir.path().join("no-such-images");
    let missing = missing.to_string_lossy();
    let finished = run(&["restore", "-D", &missing]);
    assert_eq!(finished.code(), Some(1));
    let lines = finished.stderr_lines();
    assert_eq!(lines.len(), 1, "{}", finished.stderr);
    assert!(lines[0].starts_with("crust: restore from "), "{}", lines[0]);
    assert!(lines[0].contains(missing.as_ref()), "{}", lines[0]);
}

#[test]
fn a_log_file_gets_timestamped_records_not_stderr() {
    let dir = TempDir::new("cli-log").expect("temp dir");
    let log = dir.path().join("crust.log");
    let log_arg = log.to_string_lossy().into_owned();
    let finished = run(&["-vv", "-o", &log_arg, "check"]);
    assert!(
        finished
            .stderr
            .lines()
            .all(|line| line.starts_with("crust: ")),
        "log records leaked to stderr:\n{}",
        finished.stderr
    );
    let records = std::fs::read_to_string(&log).expect("log file written");
    let first = records.lines().next().expect("at least one record");
    // `2026-12-04T16:07:13.123456Z PID LEVEL target: message`; -vv logs each probe.
    let fields: Vec<&str> = first.splitn(4, ' ').collect();
    assert_eq!(fields.len(), 4, "{first}");
    assert!(
        fields[0].ends_with('Z') && fields[0].contains('T'),
        "{first}"
    );
    assert!(fields[1].parse::<u32>().is_ok(), "{first}");
    assert!(
        ["ERROR", "WARN", "INFO", "DEBUG", "TRACE"].contains(&fields[2]),
        "{first}"
    );
}

#[test]
fn the_demo_counter_counts_in_a_session_of_its_own() {
    let dir = TempDir::new("cli-counter").expect("temp dir");
    let file = dir.path().join("count");
    let binary = tests::crust_binary().expect("crust built");
    let mut command = std::process::Command::new(binary);
    command
        .arg("demo-counter")
        .arg(&file)
        .stdin(std::process::Stdio::null());
    let workload = tests::Workload::spawn(&mut command).expect("counter started");
    std::thread::sleep(Duration::from_millis(1100));

    let session = nix::unistd::getsid(Some(workload.pid())).expect("getsid");
    assert_eq!(session, workload.pid());
    let text = std::fs::read_to_string(&file).expect("counter file");
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() >= 3, "{text}");
    for (index, line) in lines.iter().enumerate() {
        assert_eq!(*line, format!("count {}", index + 1));
    }
}

#[test]
fn the_demo_leaves_no_process_or_directory_behind() {
    let demo_dirs = || -> Vec<String> {
        let entries = std::fs::read_dir(std::env::temp_dir()).expect("temp dir listed");
        let names = entries.filter_map(|entry| entry.ok()?.file_name().into_string().ok());
        names
            .filter(|name| name.starts_with("crust-demo-"))
            .collect()
    };
    let before = demo_dirs();
    let finished = run(&["demo"]);
    assert!(
        finished.stdout.starts_with("[1/5] starting a counter"),
        "{}",
        finished.stdout
    );

    let counter_pid = finished
        .stdout
        .lines()
        .find_map(|line| line.trim().strip_prefix("pid ")?.strip_suffix(" wrote:"))
        .expect("the demo named its counter");
    assert!(!std::path::Path::new(&format!("/proc/{counter_pid}")).exists());
    assert_eq!(demo_dirs(), before);
}

/// `crust show` of a directory without images (empty, or holding only a
/// dump's staging directory) fails instead of printing an empty list.
#[test]
fn show_of_a_directory_without_images_fails_naming_it() {
    let dir = TempDir::new("cli-show-empty").expect("temp dir");
    let path = dir.path().to_string_lossy().into_owned();
    let expected = format!("{path} holds no images");
    for staged in [false, true] {
        if staged {
            let staging = dir.path().join(".crust-partial-1-0");
            std::fs::create_dir(&staging).expect("staging dir");
            std::fs::write(staging.join("inventory.img"), b"").expect("staged image");
        }
        let finished = run(&["show", &path]);
        assert_eq!(finished.code(), Some(1), "{}", finished.stdout);
        let lines = finished.stderr_lines();
        assert_eq!(lines.len(), 1, "{}", finished.stderr);
        assert!(lines[0].ends_with(&expected), "{}", lines[0]);
        assert!(finished.stdout.is_empty(), "{}", finished.stdout);
    }
}

#[test]
fn with_a_log_file_progress_goes_there_not_to_stderr() {
    let dir = TempDir::new("cli-log-progress").expect("temp dir");
    let log = dir.path().join("crust.log");
    let log_arg = log.to_string_lossy().into_owned();
    let missing = dir.path().join("no-such-images");
    let missing_arg = missing.to_string_lossy().into_owned();
    let finished = run(&["-v", "-o", &log_arg, "restore", "-D", &missing_arg]);
    assert_eq!(finished.code(), Some(1));
    let lines = finished.stderr_lines();
    assert_eq!(lines.len(), 1, "only the failure: {}", finished.stderr);
    assert!(lines[0].starts_with("crust: restore from "), "{}", lines[0]);
    let records = std::fs::read_to_string(&log).expect("log file written");
    assert!(
        records.contains(&format!("restoring from {missing_arg}")),
        "{records}"
    );
}
