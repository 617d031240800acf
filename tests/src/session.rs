//! Starting a workload the way crust can dump it: in a session of its own,
//! stdin from /dev/null, stdout and stderr into one regular file.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::workload::{Workload, WorkloadError};

/// Starts `command` as the leader of a new session (so no process outside
/// it leads its session or group), with stdin from /dev/null and stdout and
/// stderr sharing one open file description of `output` (created, or
/// truncated), so that their writes never overwrite each other. Every other
/// descriptor the test inherited (a jobserver pipe, the harness's own) is
/// closed at exec: a pipe shared with an outside process would be refused.
pub fn spawn_in_own_session(
    command: &mut Command,
    output: &Path,
) -> Result<Workload, WorkloadError> {
    let spawn_error = |source| WorkloadError::Spawn {
        program: command.get_program().to_string_lossy().into_owned(),
        source,
    };
    let stdout = File::create(output).map_err(spawn_error)?;
    let stderr = stdout.try_clone().map_err(spawn_error)?;
    command.stdin(Stdio::null()).stdout(stdout).stderr(stderr);
    // SAFETY: the closure runs in the forked child before exec and calls
    // only setsid(2) and close_range(2), which are async-signal-safe and
    // touch no memory.
    unsafe {
        command.pre_exec(|| {
            nix::unistd::setsid().map_err(std::io::Error::from)?;
            close_on_exec_from(FIRST_UNINHERITED_FD)
        });
    }
    let workload = Workload::spawn(command);
    // The command keeps what it was given for stdio until told otherwise: the test would hold
    // the output's open description too, a file shared with a process outside the dump.
    command.stdout(Stdio::null()).stderr(Stdio::null());
    workload
}

/// The first descriptor after stdin, stdout and stderr.
const FIRST_UNINHERITED_FD: libc::c_uint = 3;

/// Marks every descriptor from `first` up close-on-exec (it is not closed
/// now: the standard library's exec-error pipe must survive until exec).
fn close_on_exec_from(first: libc::c_uint) -> std::io::Result<()> {
    // SAFETY: close_range takes two descriptor numbers and flags and reads
    // no memory; with CLOSE_RANGE_CLOEXEC it only sets flags.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            libc::c_uint::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if ret == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TempDir;

    #[test]
    fn inherited_descriptors_are_not_passed_on() {
        let dir = TempDir::new("session").expect("temp dir");
        let output = dir.path().join("out");
        let mut command = Command::new("ls");
        command.arg("/proc/self/fd");
        let mut workload = spawn_in_own_session(&mut command, &output).expect("started");
        let status = workload.collect_dumped(std::time::Duration::from_secs(10));
        assert!(status.is_ok_and(|status| status.success()));
        let text = std::fs::read_to_string(&output).expect("output");
        // ls's own directory descriptor is the only one above 2.
        let fds: Vec<&str> = text.lines().collect();
        assert_eq!(fds.len(), 4, "{text}");
    }

    #[test]
    fn the_workload_leads_its_own_session_and_writes_to_the_file() {
        let dir = TempDir::new("session").expect("temp dir");
        let output = dir.path().join("out");
        let mut command = Command::new("sh");
        command.args(["-c", "cat /proc/self/stat; echo err >&2"]);
        let mut workload = spawn_in_own_session(&mut command, &output).expect("started");
        let status = workload.collect_dumped(std::time::Duration::from_secs(10));
        assert!(status.is_ok_and(|status| status.success()));
        let text = std::fs::read_to_string(&output).expect("output");
        // cat is sh's child: its session (field 6) is sh's pid.
        let stat: Vec<&str> = text.lines().next().unwrap_or_default().split(' ').collect();
        assert_eq!(
            stat.get(5).copied(),
            Some(workload.pid().to_string().as_str())
        );
        assert!(text.ends_with("err\n"), "{text}");
    }
}
