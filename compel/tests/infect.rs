//! Infect a victim in each of its waits, run syscalls and the parasite in it,
//! cure it, and let the victim check that nothing was harmed.

mod victim_process;

use std::os::fd::AsFd;
use std::os::unix::fs::FileExt;
use std::time::Duration;

use compel::infect::{DrainSink, PageRange};
use compel::{Parasite, Victim};
use nix::sys::signal::Signal;
use victim_process::VictimProcess;

/// Getpid, mmap and munmap through the area trampoline, then the parasite.
fn infect(victim: &VictimProcess) -> Parasite {
    let pid = victim.pid();
    let seized = Victim::seize(pid).expect("seize");
    let mut infection = seized.infect().expect("infect");
    assert_eq!(
        infection.syscall(libc::SYS_getpid, [0; 6]).ok(),
        Some(pid.as_raw() as i64)
    );
    let prot = (libc::PROT_READ | libc::PROT_WRITE) as u64;
    let flags = (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS) as u64;
    let addr = infection
        .syscall_checked(libc::SYS_mmap, [0, 8192, prot, flags, u64::MAX, 0])
        .expect("remote mmap");
    infection
        .syscall_checked(libc::SYS_munmap, [addr, 8192, 0, 0, 0, 0])
        .expect("remote munmap");
    infection.start_parasite().expect("start parasite")
}

/// What every victim gets: info, a 64 MiB drain compared with /proc/PID/mem,
/// one fd pulled out and read.
fn exercise(victim: &VictimProcess, parasite: &mut Parasite) {
    let pid = victim.pid().as_raw();
    let info = parasite.info().expect("info");
    assert_eq!((info.pid, info.tid), (pid, pid));
    assert_eq!(info.altstack.sp, victim.hex("altstack"));
    assert_eq!(info.altstack.size, victim.hex("altsize"));

    let (start, len) = (victim.hex("mem"), victim.hex("len"));
    let mut drained = Vec::with_capacity(len as usize);
    let mut sink = |chunk: &[u8]| {
        drained.extend_from_slice(chunk);
        Ok(())
    };
    let moved = parasite
        .drain(&[PageRange { start, len }], DrainSink::Callback(&mut sink))
        .expect("drain");
    assert_eq!(moved, len);
    assert!(
        drained == victim.read_memory(start, len as usize),
        "drained bytes differ"
    );

    let head = 1 << 20;
    let out = tempfile_in_tmp();
    let range = PageRange { start, len: head };
    let spliced = parasite
        .drain(&[range], DrainSink::Fd(out.as_fd()))
        .expect("drain to a file");
    assert_eq!(spliced, head);
    let mut copy = vec![0u8; head as usize];
    out.read_exact_at(&mut copy, 0)
        .expect("read the spliced copy");
    assert!(copy == drained[..head as usize], "spliced bytes differ");

    let memfd = victim.number("memfd") as i32;
    let fds = parasite.take_fds(&[memfd]).expect("take fds");
    let file = std::fs::File::from(fds.into_iter().next().expect("one fd"));
    let mut secret = [0u8; 19];
    file.read_exact_at(&mut secret, 0)
        .expect("read the victim's memfd");
    assert_eq!(&secret, b"secret-from-victim\n");
}

/// An unlinked file in the temp dir.
fn tempfile_in_tmp() -> std::fs::File {
    let dir = std::env::temp_dir();
    let path = dir.join(format!(
        "compel-drain-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .expect("temp file");
    std::fs::remove_file(&path).expect("unlink temp file");
    file
}

fn assert_ok(report: &str) {
    assert!(report.starts_with("REPORT ok"), "victim reported: {report}");
}

#[test]
fn busy_victim_is_unharmed() {
    let mut victim = VictimProcess::start("busy");
    victim.wait_word_nonzero(victim.hex("counters"));
    let mut parasite = infect(&victim);
    exercise(&victim, &mut parasite);
    assert!(matches!(
        parasite.syscall(libc::SYS_getpid, [0; 6]),
        Err(compel::ParasiteError::StillRunning { .. })
    ));
    parasite.finish().expect("finish");
    let pid = parasite
        .syscall(libc::SYS_getpid, [0; 6])
        .expect("getpid after finish");
    assert_eq!(pid, victim.pid().as_raw() as i64);
    parasite.cure().expect("cure");
    victim.release_busy_loop();
    assert_ok(&victim.report());
}

#[test]
fn read_goes_on_after_the_cure() {
    let mut victim = VictimProcess::start("read");
    victim.wait_in_syscall(libc::SYS_read);
    let mut parasite = infect(&victim);
    exercise(&victim, &mut parasite);
    parasite.cure().expect("cure");
    victim.wait_in_syscall(libc::SYS_read);
    victim.send(b"wake\n");
    assert_ok(&victim.report());
}

#[test]
fn epoll_wait_goes_on_after_the_cure() {
    let mut victim = VictimProcess::start("epoll");
    victim.wait_in_syscall(libc::SYS_epoll_wait);
    let mut parasite = infect(&victim);
    exercise(&victim, &mut parasite);
    parasite.cure().expect("cure");
    victim.wait_in_syscall(libc::SYS_epoll_wait);
    victim.send(b"wake\n");
    assert_ok(&victim.report());
}

#[test]
fn nanosleep_sleeps_its_full_time() {
    let mut victim = VictimProcess::start("nanosleep");
    victim.wait_in_syscall(libc::SYS_nanosleep);
    let mut parasite = infect(&victim);
    exercise(&victim, &mut parasite);
    parasite.cure().expect("cure");
    assert_ok(&victim.report());
}

#[test]
fn stopped_victim_stays_stopped_and_continues_on_sigcont() {
    let mut victim = VictimProcess::start("busy");
    let counter = victim.hex("counters");
    victim.wait_word_nonzero(counter);
    nix::sys::signal::kill(victim.pid(), Signal::SIGSTOP).expect("SIGSTOP");
    victim.wait_state('T');
    let mut parasite = infect(&victim);
    exercise(&victim, &mut parasite);
    parasite.cure().expect("cure");

    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(
        victim.state(),
        'T',
        "victim runs after the cure, but was stopped before"
    );
    let frozen = victim.read_word(counter);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(
        victim.read_word(counter),
        frozen,
        "a stopped victim's loop went on"
    );
    nix::sys::signal::kill(victim.pid(), Signal::SIGCONT).expect("SIGCONT");
    victim.wait_word_changes(counter, frozen);
    victim.release_busy_loop();
    assert_ok(&victim.report());
}

#[test]
fn other_threads_stay_frozen_while_the_parasite_runs() {
    let mut victim = VictimProcess::start("threads");
    let counters = victim.hex("counters");
    let workers: Vec<u64> = (1..=8).map(|i| counters + 8 * i).collect();
    for &counter in &workers {
        victim.wait_word_nonzero(counter);
    }
    let mut parasite = infect(&victim);
    let before: Vec<u64> = workers.iter().map(|&c| victim.read_word(c)).collect();
    exercise(&victim, &mut parasite);
    std::thread::sleep(Duration::from_millis(50));
    let after: Vec<u64> = workers.iter().map(|&c| victim.read_word(c)).collect();
    assert_eq!(before, after, "worker threads ran while the parasite did");
    parasite.cure().expect("cure");
    for (&counter, &frozen) in workers.iter().zip(&after) {
        victim.wait_word_changes(counter, frozen);
    }
    victim.release_busy_loop();
    assert_ok(&victim.report());
}

#[test]
fn pending_signals_are_neither_lost_nor_delivered_early() {
    let mut victim = VictimProcess::start("signals");
    let early = victim.hex("early");
    victim.wait_word_nonzero(victim.hex("counters"));
    let mut parasite = infect(&victim);
    nix::sys::signal::kill(victim.pid(), Signal::SIGWINCH).expect("SIGWINCH");
    exercise(&victim, &mut parasite);
    assert_eq!(
        victim.read_word(early),
        0,
        "SIGWINCH was handled during the infection"
    );
    parasite.cure().expect("cure");
    victim.wait_word_nonzero(early);
    victim.release_busy_loop();
    let report = victim.report();
    assert_ok(&report);
    assert!(report.contains("winch=1"), "{report}");
}

#[test]
fn victim_in_another_network_namespace_is_reached() {
    let mut victim = VictimProcess::start_under(&["unshare", "--net", "--"], "busy");
    let ours =
        std::fs::metadata("/proc/self/ns/net").map(|m| std::os::unix::fs::MetadataExt::ino(&m));
    let theirs = std::fs::metadata(format!("/proc/{}/ns/net", victim.pid()))
        .map(|m| std::os::unix::fs::MetadataExt::ino(&m));
    assert_ne!(
        ours.ok(),
        theirs.ok(),
        "unshare did not give the victim its own netns"
    );
    victim.wait_word_nonzero(victim.hex("counters"));
    let mut parasite = infect(&victim);
    exercise(&victim, &mut parasite);
    parasite.cure().expect("cure");
    victim.release_busy_loop();
    assert_ok(&victim.report());
}

#[test]
fn signals_racing_the_seize_are_delivered_and_harm_nothing() {
    let _ = env_logger::builder().is_test(true).try_init();
    let mut victim = VictimProcess::start("busy");
    let early = victim.hex("early");
    victim.wait_word_nonzero(victim.hex("counters"));
    let pid = victim.pid();
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = nix::sys::signal::kill(pid, Signal::SIGWINCH);
                std::thread::sleep(Duration::from_micros(50));
            }
        });
        for _ in 0..30 {
            let infection = Victim::seize(pid).expect("seize").infect().expect("infect");
            infection.cure().expect("cure");
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    victim.wait_word_nonzero(early);
    std::thread::sleep(Duration::from_millis(50));
    victim.release_busy_loop();
    assert_ok(&victim.report());
}
