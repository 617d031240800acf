//! A shell job on a real terminal: python3's REPL in a window of a private
//! tmux server (`tmux -L <socket of this test>`, never anyone else's), with a
//! variable set by typing. It is refused without `--shell-job` and carries
//! on; with it, it is dumped from outside tmux, a restore of those images
//! without `--shell-job`, or off a terminal, fails before making anything,
//! and `crust restore --shell-job` run in a new window brings the REPL back
//! on that window's terminal, in the foreground: typing `print(x + 1)`
//! shows 42, and `exit()` ends it cleanly.
//!
//! Needs the crust binary built first: `cargo build --release -p cli`, and
//! tmux (scripts/setup.sh installs it).

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use nix::unistd::Pid;
use tests::TempDir;
use tests::{crit_decode_dir, crust, crust_binary, poll_until, run_with_timeout, Finished};

const PYTHON: &str = "/usr/bin/python3";
const CRUST_TIMEOUT: Duration = Duration::from_secs(60);
const TMUX_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the pane may take to show what is expected.
const SCREEN_TIMEOUT: Duration = Duration::from_secs(15);

/// One tmux server at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// A private tmux server, killed (it alone, by its socket) when dropped.
struct Tmux {
    socket: String,
}

impl Tmux {
    /// Starts a server with one idle window (`cat`) that keeps it alive
    /// while the windows under test come and go; windows whose process
    /// ended stay, to be read.
    fn start(tag: &str) -> Tmux {
        let tmux = Tmux {
            socket: format!("crust-test-{tag}-{}", std::process::id()),
        };
        tmux.run(&[
            "new-session",
            "-d",
            "-s",
            "main",
            "-x",
            "120",
            "-y",
            "40",
            "cat",
        ]);
        tmux.run(&["set-option", "-g", "remain-on-exit", "on"]);
        tmux
    }

    /// `tmux -L SOCKET -f /dev/null ARGS`, which must succeed; fds past stderr
    /// are not passed on to the server.
    fn run(&self, args: &[&str]) -> String {
        let mut command = Command::new("tmux");
        command
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args);
        // SAFETY: the closure runs in the forked child before exec and calls only
        // close_range(2), which is async-signal-safe and touches no memory.
        unsafe {
            command.pre_exec(|| {
                let flags = libc::CLOSE_RANGE_CLOEXEC as libc::c_uint;
                match libc::syscall(libc::SYS_close_range, 3, libc::c_uint::MAX, flags) {
                    0 => Ok(()),
                    _ => Err(std::io::Error::last_os_error()),
                }
            });
        }
        let finished = run_with_timeout(&mut command, TMUX_TIMEOUT)
            .unwrap_or_else(|error| panic!("tmux {args:?}: {error}"));
        assert_eq!(finished.code(), Some(0), "tmux {args:?}: {finished:?}");
        finished.stdout
    }

    /// Opens window `name` running `command` (through the shell).
    fn new_window(&self, name: &str, command: &str) {
        self.run(&["new-window", "-d", "-n", name, command]);
    }

    /// The pid of the process the window's pane runs.
    fn pane_pid(&self, name: &str) -> Pid {
        let target = format!("main:{name}");
        let out = self.run(&["list-panes", "-t", &target, "-F", "#{pane_pid}"]);
        let pid = out
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("pane pid {out:?}"));
        Pid::from_raw(pid)
    }

    /// The terminal device of the window's pane (`/dev/pts/N`).
    fn pane_tty(&self, name: &str) -> String {
        let target = format!("main:{name}");
        self.run(&["list-panes", "-t", &target, "-F", "#{pane_tty}"])
            .trim()
            .to_string()
    }

    fn type_line(&self, name: &str, line: &str) {
        let target = format!("main:{name}");
        self.run(&["send-keys", "-t", &target, "-l", line]);
        self.run(&["send-keys", "-t", &target, "Enter"]);
    }

    fn screen(&self, name: &str) -> String {
        let target = format!("main:{name}");
        self.run(&["capture-pane", "-p", "-t", &target])
    }

    /// Waits until the window's screen satisfies `wanted`; fails showing it.
    fn wait_for_screen(&self, name: &str, what: &str, wanted: impl Fn(&str) -> bool) {
        let seen = poll_until(SCREEN_TIMEOUT, || {
            let screen = self.screen(name);
            wanted(&screen).then_some(screen)
        });
        if seen.is_none() {
            panic!(
                "window {name} never showed {what}; it shows:\n{}",
                self.screen(name)
            );
        }
    }
}

impl Tmux {
    /// Waits until `pid`, a window's process that ended, is gone. tmux 3.3
    /// sometimes leaves such a child a zombie until its next SIGCHLD, so each
    /// look that still finds it has tmux run a short job, whose end makes it
    /// reap every child that ended.
    fn wait_until_reaped(&self, pid: Pid) {
        let gone = poll_until(CRUST_TIMEOUT, || {
            if !Path::new(&format!("/proc/{pid}")).exists() {
                return Some(());
            }
            self.run(&["run-shell", "true"]);
            None
        });
        assert!(gone.is_some(), "pid {pid} is still there");
    }

    /// The exit status of window `name`'s process, once it ended (tmux
    /// nudged as in [`Tmux::wait_until_reaped`]).
    fn exit_status(&self, name: &str) -> String {
        let target = format!("main:{name}");
        let status = poll_until(CRUST_TIMEOUT, || {
            let format = "#{pane_dead} #{pane_dead_status}";
            let pane = self.run(&["list-panes", "-t", &target, "-F", format]);
            if let Some(status) = pane.trim().strip_prefix("1 ") {
                return Some(status.to_string());
            }
            self.run(&["run-shell", "true"]);
            None
        });
        status.unwrap_or_else(|| panic!("window {name} still runs: {}", self.screen(name)))
    }
}

impl Drop for Tmux {
    /// Kills this server alone (by its socket) and removes its socket file.
    fn drop(&mut self) {
        let tmux = |args: &[&str]| {
            Command::new("tmux")
                .args(["-L", &self.socket])
                .args(args)
                .output()
        };
        let socket = tmux(&["display-message", "-p", "#{socket_path}"]);
        let _ = tmux(&["kill-server"]);
        if let Ok(socket) = socket {
            let path = String::from_utf8_lossy(&socket.stdout).trim().to_string();
            if path.ends_with(&self.socket) {
                let _ = std::fs::remove_file(path);
            }
        }
    }
}

fn prompts(screen: &str) -> usize {
    screen
        .lines()
        .filter(|line| line.starts_with(">>>"))
        .count()
}

/// python3's REPL in window `repl`, after `x = 41` was typed into it.
fn start_repl(tmux: &Tmux) -> Pid {
    tmux.new_window("repl", &format!("exec {PYTHON} -q"));
    tmux.wait_for_screen("repl", "a prompt", |s| prompts(s) == 1);
    tmux.type_line("repl", "x = 41");
    tmux.wait_for_screen("repl", "the prompt after x = 41", |s| prompts(s) == 2);
    let pid = tmux.pane_pid("repl");
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    assert_eq!(
        comm.trim(),
        "python3",
        "the pane of window repl runs pid {pid}"
    );
    pid
}

fn run_crust(args: &[&str]) -> Finished {
    crust(args, CRUST_TIMEOUT).unwrap_or_else(|error| panic!("{error}"))
}

/// (session, process group, controlling terminal, foreground group) of
/// `pid`, if it runs.
fn job_of(pid: Pid) -> Option<(i32, i32, u32, i32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat[stat.rfind(')')? + 2..].split(' ').collect();
    let number = |i: usize| fields.get(i)?.parse::<i64>().ok();
    let tty = u32::try_from(number(4)?).ok()?;
    Some((number(3)? as i32, number(2)? as i32, tty, number(5)? as i32))
}

/// st_rdev of a terminal, in stat's tty_nr encoding (for minors below 256).
fn tty_nr(path: &str) -> u32 {
    let rdev = nix::sys::stat::stat(Path::new(path))
        .expect("stat the pane's tty")
        .st_rdev;
    let (major, minor) = (nix::sys::stat::major(rdev), nix::sys::stat::minor(rdev));
    (major << 8 | minor) as u32
}

#[test]
fn a_python_repl_in_tmux_is_dumped_and_restored_as_a_shell_job() {
    let _serial = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let tmux = Tmux::start("repl");
    let pid = start_repl(&tmux);
    let dir = TempDir::new("shell-job").expect("temp dir");
    let images = dir.path().to_string_lossy().into_owned();
    let pid_text = pid.to_string();

    let dumped = run_crust(&["dump", "-t", &pid_text, "--shell-job", "-D", &images]);
    assert_eq!(dumped.code(), Some(0), "{dumped:?}");
    tmux.wait_until_reaped(pid);
    let decoded = crit_decode_dir(dir.path()).unwrap_or_else(|error| panic!("{error}"));
    let infos = decoded["tty-info.img"]["entries"]
        .as_array()
        .expect("tty-info entries");
    assert_eq!(infos.len(), 1, "only the external terminal: {infos:?}");
    assert_eq!(infos[0]["type"], "PTY");

    // Neither without the option nor off a terminal does anything get made.
    let plain = run_crust(&["restore", "-D", &images]);
    assert_eq!(plain.code(), Some(1), "{plain:?}");
    assert!(plain.stderr.contains("--shell-job"), "{plain:?}");
    let off_terminal = run_crust(&["restore", "--shell-job", "-D", &images]);
    assert_eq!(off_terminal.code(), Some(1), "{off_terminal:?}");
    assert!(
        off_terminal.stderr.contains("from a terminal"),
        "{off_terminal:?}"
    );
    assert!(!Path::new(&format!("/proc/{pid}")).exists());

    // crust is the window's process (its session leader), so that the window
    // dies with its status once the REPL exits and crust returns it.
    let crust = crust_binary().expect("crust binary");
    let restore = format!("exec {} restore --shell-job -D {images}", crust.display());
    tmux.new_window("back", &restore);
    // The foreground is handed over last, just before the process is let go.
    let restored = poll_until(SCREEN_TIMEOUT, || {
        let job = job_of(pid)?;
        (job.3 == pid.as_raw()).then_some(job)
    });
    let Some((sid, pgid, tty, _)) = restored else {
        let job = job_of(pid);
        panic!(
            "pid {pid} did not come back in the foreground ({job:?}): {}",
            tmux.screen("back")
        );
    };
    let crust_pid = tmux.pane_pid("back").as_raw();
    assert_eq!(
        sid, crust_pid,
        "it joined the session of crust, the window's process"
    );
    assert_eq!(pgid, pid.as_raw(), "it leads a group of its own");
    let window_tty = tty_nr(&tmux.pane_tty("back"));
    assert_eq!(tty, window_tty, "the window's terminal is its own");

    tmux.type_line("back", "print(x + 1)");
    tmux.wait_for_screen("back", "42", |s| s.lines().any(|l| l.trim() == "42"));
    tmux.type_line("back", "exit()");
    tmux.wait_until_reaped(pid);
    let status = tmux.exit_status("back");
    assert_eq!(
        status,
        "0",
        "crust's exit status (the REPL's): {}",
        tmux.screen("back")
    );
}

#[test]
fn a_shell_job_is_refused_without_the_option_and_carries_on() {
    let _serial = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let tmux = Tmux::start("refused");
    let pid = start_repl(&tmux);
    let dir = TempDir::new("shell-job-refused").expect("temp dir");
    let images = dir.path().to_string_lossy().into_owned();

    let refused = run_crust(&["dump", "-t", &pid.to_string(), "-D", &images]);
    assert_eq!(refused.code(), Some(1), "{refused:?}");
    let terminal = format!("pid {pid}: process has a controlling terminal (device ");
    let line = refused
        .stderr_lines()
        .into_iter()
        .find(|l| l.starts_with(&terminal));
    let line = line.unwrap_or_else(|| panic!("no line about the terminal: {refused:?}"));
    assert!(
        line.ends_with("dump it as a shell job with --shell-job (restored on crust's terminal)"),
        "{line}"
    );
    let left: Vec<_> = std::fs::read_dir(dir.path()).expect("images dir").collect();
    assert!(left.is_empty(), "a refused dump wrote {left:?}");

    tmux.type_line("repl", "print(x * 2)");
    tmux.wait_for_screen("repl", "82", |s| s.lines().any(|l| l.trim() == "82"));
    tmux.type_line("repl", "exit()");
    tmux.wait_until_reaped(pid);
}
