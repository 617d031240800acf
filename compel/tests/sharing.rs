//! The shared area made from the host's memfd instead of map_files: the
//! infection works the same, leaves no fd or mapping behind, and a victim
//! that cannot open the memfd is left exactly as it was.

mod victim_process;

use compel::infect::{AreaSharing, DrainSink, PageRange};
use compel::{InfectError, InfectOptions, Victim};
use victim_process::VictimProcess;

fn memfd_options() -> InfectOptions {
    InfectOptions {
        sharing: AreaSharing::Memfd,
        ..InfectOptions::default()
    }
}

/// The victim's fd numbers and mappings, as /proc shows them.
fn footprint(victim: &VictimProcess) -> (Vec<String>, String) {
    let pid = victim.pid();
    let mut fds: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("list fds")
        .map(|entry| {
            entry
                .expect("fd entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    fds.sort();
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).expect("maps");
    (fds, maps)
}

#[test]
fn a_memfd_area_runs_the_parasite_and_leaves_nothing_behind() {
    let mut victim = VictimProcess::start("busy");
    victim.wait_word_nonzero(victim.hex("counters"));
    let before = footprint(&victim);

    let infection = Victim::seize(victim.pid())
        .expect("seize")
        .infect_with(memfd_options())
        .expect("infect through a memfd");
    let (remote, size) = infection.area_range();
    let (fds, maps) = footprint(&victim);
    assert_eq!(fds, before.0, "the victim keeps an fd of the memfd");
    let area_line = format!("{remote:x}-{:x} rwxs", remote + size as u64);
    let line = maps.lines().find(|line| line.starts_with(&area_line));
    assert!(
        line.is_some_and(|line| line.contains("/memfd:compel-area")),
        "no memfd mapping {area_line} in:\n{maps}"
    );

    let mut parasite = infection.start_parasite().expect("start parasite");
    let info = parasite.info().expect("info");
    assert_eq!(info.pid, victim.pid().as_raw());
    let (start, len) = (victim.hex("mem"), 1 << 20);
    let mut drained = Vec::new();
    let mut sink = |chunk: &[u8]| {
        drained.extend_from_slice(chunk);
        Ok(())
    };
    let range = PageRange { start, len };
    parasite
        .drain(&[range], DrainSink::Callback(&mut sink))
        .expect("drain");
    assert!(
        drained == victim.read_memory(start, len as usize),
        "drained bytes differ"
    );
    parasite.cure().expect("cure");

    assert_eq!(
        footprint(&victim),
        before,
        "fds or mappings changed by the infection"
    );
    victim.release_busy_loop();
    let report = victim.report();
    assert!(report.starts_with("REPORT ok"), "victim reported: {report}");
}

#[test]
fn a_victim_that_cannot_open_the_memfd_is_left_as_it_was() {
    let mut victim = VictimProcess::start("busy");
    victim.wait_word_nonzero(victim.hex("counters"));
    let pid = victim.pid();
    let before = footprint(&victim);
    let limit = |soft: u64| {
        let status = std::process::Command::new("prlimit")
            .arg(format!("--pid={pid}"))
            .arg(format!("--nofile={soft}:"))
            .status()
            .expect("run prlimit");
        assert!(status.success(), "prlimit --nofile={soft}: {status}");
    };
    // Every fd number below the limit is taken: the victim's open fails.
    let lowest_free = (0u64..)
        .find(|fd| !before.0.contains(&fd.to_string()))
        .unwrap_or(0);
    limit(lowest_free);

    let error = Victim::seize(pid)
        .expect("seize")
        .infect_with(memfd_options());
    match error {
        Err(InfectError::Remote { step, .. }) => assert_eq!(step, "opening the host's memfd"),
        other => panic!("expected the victim's open to fail, got {other:?}"),
    }
    assert_eq!(
        footprint(&victim),
        before,
        "a failed infection changed the victim"
    );

    limit(1024);
    victim.release_busy_loop();
    let report = victim.report();
    assert!(report.starts_with("REPORT ok"), "victim reported: {report}");
}

#[test]
fn a_victim_whose_mmap_of_the_memfd_fails_keeps_no_fd_of_it() {
    let mut victim = VictimProcess::start("busy");
    victim.wait_word_nonzero(victim.hex("counters"));
    let pid = victim.pid();
    let before = footprint(&victim);
    let limit = |bytes: &str| {
        let status = std::process::Command::new("prlimit")
            .arg(format!("--pid={pid}"))
            .arg(format!("--as={bytes}:"))
            .status()
            .expect("run prlimit");
        assert!(status.success(), "prlimit --as={bytes}: {status}");
    };
    // No room for one more mapping: the victim opens the memfd, its mmap fails.
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmSize:"))
        .and_then(|size| size.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmSize");
    limit(&(kib * 1024).to_string());

    let error = Victim::seize(pid)
        .expect("seize")
        .infect_with(memfd_options());
    match error {
        Err(InfectError::Remote { step, .. }) => assert_eq!(step, "mapping the host's memfd"),
        other => panic!("expected the victim's mmap to fail, got {other:?}"),
    }
    assert_eq!(
        footprint(&victim),
        before,
        "a failed infection changed the victim"
    );

    limit("unlimited");
    victim.release_busy_loop();
    let report = victim.report();
    assert!(report.starts_with("REPORT ok"), "victim reported: {report}");
}
