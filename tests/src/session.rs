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
/// truncated), so that their writes never overwrite each other.
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
    // only setsid(2), which is async-signal-safe and touches no memory.
    unsafe {
        command.pre_exec(|| {
            nix::unistd::setsid()
                .map(drop)
                .map_err(std::io::Error::from)
        });
    }
    Workload::spawn(command)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TempDir;

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
