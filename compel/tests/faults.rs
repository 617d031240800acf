//! Things going wrong during an infection: the victim must come out unharmed
//! (or, if it died, compel must say so and not hang).

mod victim_process;

use compel::infect::{DrainSink, InfectOptions, LayoutError, PageRange};
use compel::{InfectError, ParasiteError, Victim};
use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use victim_process::VictimProcess;

fn busy_victim() -> VictimProcess {
    let victim = VictimProcess::start("busy");
    victim.wait_word_nonzero(victim.hex("counters"));
    victim
}

fn assert_unharmed(mut victim: VictimProcess) {
    victim.release_busy_loop();
    let report = victim.report();
    assert!(report.starts_with("REPORT ok"), "victim reported: {report}");
}

#[test]
fn crashing_parasite_is_cured_and_reported() {
    let victim = busy_victim();
    let pid = victim.pid();
    let infection = Victim::seize(pid).expect("seize").infect().expect("infect");
    let mut parasite = infection.start_parasite().expect("start");
    match parasite.fault() {
        Err(ParasiteError::Crashed {
            pid: victim_pid,
            tid,
            signal,
            cure,
            ..
        }) => {
            assert_eq!((victim_pid, tid, signal), (pid, pid, libc::SIGSEGV));
            assert!(cure.is_none(), "cure failed: {cure:?}");
        }
        other => panic!("expected a crash, got {other:?}"),
    }
    // A crashed parasite answers nothing more, and its cure is done already.
    assert!(matches!(
        parasite.info(),
        Err(ParasiteError::NotRunning { .. })
    ));
    parasite.cure().expect("cure after a crash");
    assert_unharmed(victim);
}

#[test]
fn blob_too_large_for_the_area_leaves_the_victim_untouched() {
    let victim = busy_victim();
    let maps_before = std::fs::read_to_string(format!("/proc/{}/maps", victim.pid()));
    let options = InfectOptions {
        area_size: Some(4096),
        ..InfectOptions::default()
    };
    let error = Victim::seize(victim.pid())
        .expect("seize")
        .infect_with(options);
    match error {
        Err(InfectError::Layout {
            source: LayoutError::TooSmall { size: 4096, .. },
            ..
        }) => {}
        Err(other) => panic!("expected TooSmall, got {other}"),
        Ok(_) => panic!("a 4 KiB area cannot hold the parasite"),
    }
    let maps_after = std::fs::read_to_string(format!("/proc/{}/maps", victim.pid()));
    assert_eq!(maps_before.ok(), maps_after.ok());
    assert_unharmed(victim);
}

#[test]
fn victim_killed_while_the_parasite_runs_is_an_error_not_a_hang() {
    let mut victim = busy_victim();
    let pid = victim.pid();
    let infection = Victim::seize(pid).expect("seize").infect().expect("infect");
    let mut parasite = infection.start_parasite().expect("start");
    parasite.info().expect("info");
    kill(pid, Signal::SIGKILL).expect("SIGKILL");
    match parasite.info() {
        Err(ParasiteError::Infect(InfectError::Exited { pid: gone })) => assert_eq!(gone, pid),
        other => panic!("expected Exited, got {other:?}"),
    }
    parasite.cure().expect("cure of a dead victim only reaps");
    victim.kill();
}

#[test]
fn victim_killed_before_the_infection_is_an_error() {
    let mut victim = busy_victim();
    let pid = victim.pid();
    let seized = Victim::seize(pid).expect("seize");
    kill(pid, Signal::SIGKILL).expect("SIGKILL");
    match seized.infect() {
        Err(InfectError::Exited { pid: gone }) => assert_eq!(gone, pid),
        other => panic!("expected Exited, got {other:?}"),
    }
    victim.kill();
}

#[test]
fn a_traced_thread_is_refused_naming_its_tracer() {
    let victim = busy_victim();
    let first = Victim::seize(victim.pid()).expect("seize");
    // TracerPid names the tracing thread.
    let tracer = nix::unistd::gettid();
    let error = std::thread::scope(|scope| {
        scope
            .spawn(|| Victim::seize(victim.pid()).map(drop))
            .join()
            .expect("thread")
    });
    match error {
        Err(InfectError::Seize { source, .. }) => {
            assert!(source
                .to_string()
                .contains(&format!("already traced by pid {tracer}")));
        }
        other => panic!("expected AlreadyTraced, got {other:?}"),
    }
    first.cure().expect("cure");
    assert_unharmed(victim);
}

#[test]
fn failing_commands_are_named_errors_and_the_parasite_serves_on() {
    let victim = busy_victim();
    let infection = Victim::seize(victim.pid())
        .expect("seize")
        .infect()
        .expect("infect");
    let mut parasite = infection.start_parasite().expect("start");

    match parasite.take_fds(&[9999]) {
        Err(ParasiteError::Command {
            errno: Errno::EBADF,
            ..
        }) => {}
        other => panic!("expected EBADF, got {other:?}"),
    }
    // A page the victim does not map: the parasite's vmsplice fails.
    let nowhere = PageRange {
        start: 0x1000,
        len: 0x1000,
    };
    let mut sink = |_: &[u8]| Ok(());
    match parasite.drain(&[nowhere], DrainSink::Callback(&mut sink)) {
        Err(ParasiteError::Command {
            errno: Errno::EFAULT,
            ..
        }) => {}
        other => panic!("expected EFAULT, got {other:?}"),
    }
    let (start, len) = (victim.hex("mem"), 1 << 20);
    let moved = parasite.drain(&[PageRange { start, len }], DrainSink::Callback(&mut sink));
    assert_eq!(moved.ok(), Some(len), "a drain after a failed one");
    assert_eq!(
        parasite.info().map(|info| info.pid).ok(),
        Some(victim.pid().as_raw())
    );
    parasite.cure().expect("cure");
    assert_unharmed(victim);
}

#[test]
fn a_process_whose_main_thread_exited_is_refused_by_name() {
    let victim = VictimProcess::start("zombie-leader");
    let worker = victim.hex("counters") + 8;
    victim.wait_word_nonzero(worker);
    victim.wait_state('Z');
    match Victim::seize(victim.pid()) {
        Err(InfectError::ZombieLeader { pid }) => assert_eq!(pid, victim.pid()),
        other => panic!("expected ZombieLeader, got {other:?}"),
    }
    victim.wait_word_changes(worker, victim.read_word(worker));
}
