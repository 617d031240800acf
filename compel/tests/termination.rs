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

/// The tool: infects the victim and asks the parasite for its info until a
/// signal ends it. Does nothing in a normal test run.
#[test]
fn tool() {
    let Ok(victim) = std::env::var(TOOL_ENV) else {
        return;
    };
    let pid = Pid::from_raw(victim.parse().expect("victim pid"));
    let guard = TerminationGuard::new().expect("termination guard");
    let error = hold_parasite(pid);
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

struct Tool(Child);

impl Tool {
    fn start(victim: &VictimProcess) -> Tool {
        let exe = std::env::current_exe().expect("test binary");
        let mut child = Command::new(exe)
            .args(["--exact", "tool", "--nocapture", "--test-threads=1"])
            .env(TOOL_ENV, victim.pid().to_string())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn tool");
        let stdout = child.stdout.take().expect("tool stdout");
        let tool = Tool(child);
        let running = BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .any(|line| line.ends_with("parasite running"));
        assert!(running, "the tool never started the parasite");
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
