//! Small per-task files: exe/cwd/root links, comm, personality, loginuid, oom_score_adj.

use std::path::PathBuf;

use nix::unistd::Pid;

use super::{dec, proc_path, read_parsed, BadLine, ProcError};

fn link(pid: Pid, name: &str) -> Result<PathBuf, ProcError> {
    let path = proc_path(pid, name);
    std::fs::read_link(&path).map_err(|source| ProcError::Readlink { pid, path, source })
}

/// `/proc/PID/exe`: the executable.
pub fn exe(pid: Pid) -> Result<PathBuf, ProcError> {
    link(pid, "exe")
}

/// `/proc/PID/cwd`: the working directory.
pub fn cwd(pid: Pid) -> Result<PathBuf, ProcError> {
    link(pid, "cwd")
}

/// `/proc/PID/root`: the root directory.
pub fn root(pid: Pid) -> Result<PathBuf, ProcError> {
    link(pid, "root")
}

/// `/proc/PID/comm`, without the newline.
pub fn comm(pid: Pid) -> Result<String, ProcError> {
    read_parsed(pid, "comm", |text| {
        Ok(text.trim_end_matches('\n').to_string())
    })
}

/// `/proc/PID/personality` (hexadecimal).
pub fn personality(pid: Pid) -> Result<u32, ProcError> {
    read_parsed(pid, "personality", parse_personality)
}

/// `/proc/PID/loginuid` (`u32::MAX` when unset).
pub fn loginuid(pid: Pid) -> Result<u32, ProcError> {
    read_parsed(pid, "loginuid", |text| {
        dec(text.trim(), text, "bad loginuid")
    })
}

/// `/proc/PID/oom_score_adj` (-1000 to 1000).
pub fn oom_score_adj(pid: Pid) -> Result<i32, ProcError> {
    read_parsed(pid, "oom_score_adj", |text| {
        dec(text.trim(), text, "bad oom_score_adj")
    })
}

/// Parse the hexadecimal personality word.
pub fn parse_personality(text: &str) -> Result<u32, BadLine> {
    u32::from_str_radix(text.trim(), 16).map_err(|_| BadLine::new(text, "bad personality"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn personality_is_hex() {
        assert_eq!(parse_personality("00400000\n").unwrap(), 0x0040_0000);
        assert!(parse_personality("zz").is_err());
    }

    #[test]
    fn own_small_files() {
        let me = nix::unistd::getpid();
        assert!(exe(me).unwrap().is_absolute());
        assert_eq!(cwd(me).unwrap(), std::env::current_dir().unwrap());
        assert!(!comm(me).unwrap().is_empty());
        assert!((-1000..=1000).contains(&oom_score_adj(me).unwrap()));
        loginuid(me).unwrap();
        personality(me).unwrap();
    }
}
