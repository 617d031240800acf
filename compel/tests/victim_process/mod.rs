//! A victim process for the tests: `victims/victim.c`, compiled once per test
//! binary with `cc`, started in a mode, and asked for its self-check report.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use nix::unistd::Pid;

/// Path of the compiled victim, built on first use.
pub fn binary() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let dir = std::env::temp_dir().join(format!("compel-victims-{}", std::process::id()));
            std::fs::create_dir_all(&dir).expect("temp dir");
            let out = dir.join("victim");
            let source = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/victims/victim.c");
            let status = Command::new("cc")
                .args(["-O1", "-Wall", "-pthread", "-o"])
                .arg(&out)
                .arg(source)
                .status()
                .expect("run cc");
            assert!(status.success(), "cc failed on {source}");
            out
        })
        .clone()
}

/// A running victim; killed and reaped on drop.
pub struct VictimProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    /// Fields of the READY line.
    pub ready: HashMap<String, String>,
}

impl VictimProcess {
    /// Starts the victim in `mode` and waits for its READY line.
    pub fn start(mode: &str) -> Self {
        Self::start_under(&[], mode)
    }

    /// Starts the victim through `wrapper` (e.g. `unshare -n --`), which must
    /// exec it in place so that the pid stays the same.
    pub fn start_under(wrapper: &[&str], mode: &str) -> Self {
        let mut command = match wrapper.split_first() {
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args).arg(binary());
                command
            }
            None => Command::new(binary()),
        };
        let mut child = command
            .arg(mode)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn victim");
        let stdin = child.stdin.take();
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("READY line");
        assert!(line.starts_with("READY "), "victim said {line:?}");
        let ready = line
            .split_whitespace()
            .skip(1)
            .filter_map(|field| field.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        VictimProcess {
            child,
            stdin,
            stdout,
            ready,
        }
    }

    pub fn pid(&self) -> Pid {
        Pid::from_raw(self.child.id() as i32)
    }

    /// A hex field of the READY line.
    pub fn hex(&self, key: &str) -> u64 {
        u64::from_str_radix(&self.ready[key], 16).expect("hex field")
    }

    /// A decimal field of the READY line.
    pub fn number(&self, key: &str) -> i64 {
        self.ready[key].parse().expect("decimal field")
    }

    /// Waits until the victim sits in syscall `nr` (from /proc/PID/syscall).
    pub fn wait_in_syscall(&self, nr: i64) {
        let path = format!("/proc/{}/syscall", self.pid());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            if text.split_whitespace().next() == Some(&nr.to_string()) {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        panic!("pid {} never blocked in syscall {nr}", self.pid());
    }

    /// Waits until the word at `addr` is non-zero (e.g. a busy loop's counter).
    pub fn wait_word_nonzero(&self, addr: u64) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.read_word(addr) == 0 {
            assert!(Instant::now() < deadline, "word at {addr:#x} stayed zero");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Waits until the word at `addr` differs from `old`.
    pub fn wait_word_changes(&self, addr: u64, old: u64) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.read_word(addr) == old {
            assert!(Instant::now() < deadline, "word at {addr:#x} stayed {old}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Waits until `State:` is `state`.
    pub fn wait_state(&self, state: char) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.state() != state {
            assert!(
                Instant::now() < deadline,
                "pid {} never reached state {state}",
                self.pid()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Reads victim memory through /proc/PID/mem, or through the mem file of
    /// the last thread when the main thread is a zombie (its mm is gone).
    pub fn read_memory(&self, addr: u64, len: usize) -> Vec<u8> {
        let path = match self.state() {
            'Z' => format!("/proc/{}/task/{}/mem", self.pid(), self.last_thread()),
            _ => format!("/proc/{}/mem", self.pid()),
        };
        let mem = std::fs::File::open(path).expect("open mem");
        let mut out = vec![0u8; len];
        mem.read_exact_at(&mut out, addr).expect("read mem");
        out
    }

    pub fn read_word(&self, addr: u64) -> u64 {
        let bytes = self.read_memory(addr, 8);
        u64::from_ne_bytes(bytes.try_into().expect("8 bytes"))
    }

    /// Writes a word into victim memory through /proc/PID/mem.
    pub fn write_word(&self, addr: u64, value: u64) {
        let mem = std::fs::OpenOptions::new()
            .write(true)
            .open(format!("/proc/{}/mem", self.pid()))
            .expect("open mem");
        mem.write_all_at(&value.to_ne_bytes(), addr)
            .expect("write mem");
    }

    /// Ends a busy wait: sets the flag word.
    pub fn release_busy_loop(&self) {
        self.write_word(self.hex("flag"), 1);
    }

    /// Writes `bytes` to the victim's stdin.
    pub fn send(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin");
        stdin.write_all(bytes).expect("write stdin");
        stdin.flush().expect("flush stdin");
    }

    /// The REPORT line.
    pub fn report(&mut self) -> String {
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("REPORT line");
        line.trim_end().to_owned()
    }

    /// The highest thread id of the victim.
    pub fn last_thread(&self) -> i32 {
        let tasks = std::fs::read_dir(format!("/proc/{}/task", self.pid())).expect("task dir");
        let tids = tasks
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse().ok());
        tids.max().unwrap_or(0)
    }

    /// `State:` letter from /proc/PID/status.
    pub fn state(&self) -> char {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()));
        let status = status.unwrap_or_default();
        let line = status
            .lines()
            .find(|l| l.starts_with("State:"))
            .unwrap_or("State: ?");
        line["State:".len()..].trim().chars().next().unwrap_or('?')
    }

    /// Waits for the process to exit; returns its exit code.
    pub fn wait_exit(&mut self) -> Option<i32> {
        self.child.wait().ok().and_then(|status| status.code())
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
    }
}

impl Drop for VictimProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
