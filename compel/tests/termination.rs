//! A termination signal to the tool in the middle of an infection: SIGINT and
//! SIGTERM cure the victim before the tool dies; SIGKILL leaves the parasite
//! to cure the victim itself, leaking only the shared area.
//!
//! The tool is this very test binary, started again with TOOL_ENV set so that
//! only the `tool` test runs, and runs as a tool would.

mod victim_process;

use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use compel::signals::TerminationGuard;
use compel::{ParasiteError, Victim};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use victim_process::VictimProcess;

const TOOL_ENV: &str = "COMPEL_TERMINATION_TOOL_VICTIM";
/// Set (to anything) for the tool to run a remote nanosleep in the victim's second thread
/// instead of holding the parasite.
const THREAD_SLEEP_ENV: &str = "COMPEL_TERMINATION_TOOL_THREAD_SLEEP";

/// The tool: infects the victim and asks the parasite for its info until a
/// signal ends it. Does nothing in a normal test run.
#[test]
fn tool() {
    let Ok(victim) = std::env::var(TOOL_ENV) else {
        return;
    };
    let pid = Pid::from_raw(victim.parse().expect("victim pid"));
    let guard = TerminationGuard::new().expect("termination guard");
    let error = match std::env::var(THREAD_SLEEP_ENV) {
        Ok(_) => sleep_in_second_thread(pid),
        Err(_) => hold_parasite(pid),
    };
    eprintln!("tool: {error}");
    drop(guard);
    std::process::exit(3);
}

fn hold_parasite(pid: Pid) -> ParasiteError {
    let infection = match Victim::seize(pid).and_then(|victim| victim.infect()) {
        Ok(infection) => infection,
        Err(error) => return error.into(),
    };
    let mut parasite = match infection.start_parasite() {
        Ok(parasite) => parasite,
        Err(error) => return error,
    };
    println!("parasite running");
    loop {
        if let Err(error) = parasite.info() {
            return error;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Runs a 300 ms nanosleep in the victim's second thread through the threads' trampoline,
/// saying so first; returns only if that fails.
fn sleep_in_second_thread(pid: Pid) -> ParasiteError {
    let mut infection = match Victim::seize(pid).and_then(|victim| victim.infect()) {
        Ok(infection) => infection,
        Err(error) => return error.into(),
    };
    let pause = libc::timespec {
        tv_sec: 0,
        tv_nsec: 300_000_000,
    };
    // SAFETY: a timespec is plain integers, all initialized; the slice lives for the call.
    let bytes = unsafe {
        std::slice::from_raw_parts(
            (&pause as *const libc::timespec).cast::<u8>(),
            std::mem::size_of::<libc::timespec>(),
        )
    };
    if let Err(error) = infection.scratch_write(0, bytes) {
        return error.into();
    }
    let args = [infection.scratch_addr(0), 0, 0, 0, 0, 0];
    println!("thread sleeping");
    match infection.syscall_in(1, libc::SYS_nanosleep, args) {
        Ok(_) => std::thread::sleep(Duration::from_secs(60)),
        Err(error) => return error.into(),
    }
    ParasiteError::from(compel::InfectError::Gone { pid })
}

struct Tool(Child);

impl Tool {
    fn start(victim: &VictimProcess) -> Tool {
        Tool::start_saying(victim, "parasite running", false)
    }

    /// Starts the tool (sleeping in the victim's second thread if `thread_sleep`) and waits
    /// for its line ending with `said`.
    fn start_saying(victim: &VictimProcess, said: &str, thread_sleep: bool) -> Tool {
        let exe = std::env::current_exe().expect("test binary");
        let mut command = Command::new(exe);
        command
            .args(["--exact", "tool", "--nocapture", "--test-threads=1"])
            .env(TOOL_ENV, victim.pid().to_string())
            .stdout(Stdio::piped());
        if thread_sleep {
            command.env(THREAD_SLEEP_ENV, "1");
        }
        let mut child = command.spawn().expect("spawn tool");
        let stdout = child.stdout.take().expect("tool stdout");
        let tool = Tool(child);
        let running = BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .any(|line| line.ends_with(said));
        assert!(running, "the tool never said {said:?}");
        tool
    }

    fn signal_and_wait(&mut self, signal: Signal) -> Option<i32> {
        kill(Pid::from_raw(self.0.id() as i32), signal).expect("signal the tool");
        self.0.wait().expect("wait for the tool").signal()
    }
}

impl Drop for Tool {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Shared writable executable mappings: compel's area, if it was left behind.
fn leaked_areas(victim: &VictimProcess) -> usize {
    let maps = std::fs::read_to_string(format!("/proc/{}/maps", victim.pid()));
    maps.unwrap_or_default()
        .lines()
        .filter(|line| line.contains(" rwxs "))
        .count()
}

fn check_cured_by_the_tool(signal: Signal) {
    let mut victim = VictimProcess::start("busy");
    victim.wait_word_nonzero(victim.hex("counters"));
    let mut tool = Tool::start(&victim);
    assert_eq!(
        tool.signal_and_wait(signal),
        Some(signal as i32),
        "tool did not die by {signal}"
    );
    assert_eq!(
        leaked_areas(&victim),
        0,
        "the tool exited without curing the victim"
    );
    victim.release_busy_loop();
    let report = victim.report();
    assert!(report.starts_with("REPORT ok"), "victim reported: {report}");
}

#[test]
fn sigint_to_the_tool_cures_the_victim_first() {
    check_cured_by_the_tool(Signal::SIGINT);
}

#[test]
fn sigterm_to_the_tool_cures_the_victim_first() {
    check_cured_by_the_tool(Signal::SIGTERM);
}

#[test]
fn sigkill_to_the_tool_leaves_a_self_cured_victim_and_the_area() {
    let mut victim = VictimProcess::start("busy");
    victim.wait_word_nonzero(victim.hex("counters"));
    let mut tool = Tool::start(&victim);
    assert_eq!(tool.signal_and_wait(Signal::SIGKILL), Some(libc::SIGKILL));
    let counter = victim.hex("counters");
    victim.wait_word_changes(counter, victim.read_word(counter));
    assert_eq!(
        leaked_areas(&victim),
        1,
        "the self-cure leaks exactly the area"
    );
    victim.release_busy_loop();
    let report = victim.report();
    assert!(report.starts_with("REPORT ok"), "victim reported: {report}");
}

/// A thread other than the leader, left in a remote syscall when the tool dies, finishes it and
/// returns to its own saved state (not the leader's): the victim's threads find their
/// registers, memory and mask as they were.
#[test]
fn sigkill_to_the_tool_during_another_threads_syscall_leaves_that_thread_as_it_was() {
    let mut victim = VictimProcess::start("threads");
    // The first worker's count (the leader waits in pthread_join).
    victim.wait_word_nonzero(victim.hex("counters") + 8);
    let mut tool = Tool::start_saying(&victim, "thread sleeping", true);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(tool.signal_and_wait(Signal::SIGKILL), Some(libc::SIGKILL));
    std::thread::sleep(Duration::from_millis(500));
    victim.release_busy_loop();
    // A thread run on with another's state may hang the victim rather than fail its checks.
    let finished = (0..200).any(|_| {
        std::thread::sleep(Duration::from_millis(50));
        victim.state() == 'Z'
    });
    assert!(finished, "the victim did not finish within 10 s");
    let report = victim.report();
    assert!(report.starts_with("REPORT ok"), "victim reported: {report}");
}
