//! `/proc/PID/status`: identity, credentials, capabilities, seccomp and signal masks.

use nix::unistd::Pid;

use super::{dec, hex_u64, read_parsed, BadLine, ProcError};

/// The scheduler state of a task (`State:` in status, the third field of stat).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskState {
    /// `R`
    Running,
    /// `S`
    Sleeping,
    /// `D`: uninterruptible sleep
    DiskSleep,
    /// `T`: stopped by a signal
    Stopped,
    /// `t`: stopped by a tracer
    TracingStop,
    /// `Z`
    Zombie,
    /// `X`
    Dead,
    /// `I`: idle kernel thread
    Idle,
    /// `P`: parked kernel thread
    Parked,
}

impl TaskState {
    /// The state named by its letter.
    pub fn from_letter(letter: char) -> Option<Self> {
        Some(match letter {
            'R' => Self::Running,
            'S' => Self::Sleeping,
            'D' => Self::DiskSleep,
            'T' => Self::Stopped,
            't' => Self::TracingStop,
            'Z' => Self::Zombie,
            'X' | 'x' => Self::Dead,
            'I' => Self::Idle,
            'P' => Self::Parked,
            _ => return None,
        })
    }
}

/// Seccomp mode of a task (`Seccomp:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SeccompMode {
    /// 0: no seccomp
    #[default]
    Disabled,
    /// 1: strict mode
    Strict,
    /// 2: filters
    Filter,
}

/// The four user or group ids of a task: real, effective, saved, filesystem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Ids {
    /// Real id.
    pub real: u32,
    /// Effective id.
    pub effective: u32,
    /// Saved set id.
    pub saved: u32,
    /// Filesystem id.
    pub fs: u32,
}

/// What crust uses of `/proc/PID/status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// `Name`: the comm.
    pub name: String,
    /// `State`
    pub state: TaskState,
    /// `Tgid`
    pub tgid: Pid,
    /// `Pid`
    pub pid: Pid,
    /// `PPid`
    pub ppid: Pid,
    /// `TracerPid`: 0 when not traced.
    pub tracer_pid: Pid,
    /// `Uid`
    pub uid: Ids,
    /// `Gid`
    pub gid: Ids,
    /// `Groups`: supplementary groups.
    pub groups: Vec<u32>,
    /// `NStgid`: the tgid in each pid namespace, outermost first.
    pub ns_tgid: Vec<Pid>,
    /// `NSpid`: the pid in each pid namespace, outermost first.
    pub ns_pid: Vec<Pid>,
    /// `CapInh`
    pub cap_inh: u64,
    /// `CapPrm`
    pub cap_prm: u64,
    /// `CapEff`
    pub cap_eff: u64,
    /// `CapBnd`
    pub cap_bnd: u64,
    /// `CapAmb`
    pub cap_amb: u64,
    /// `NoNewPrivs`
    pub no_new_privs: bool,
    /// `Seccomp`
    pub seccomp: SeccompMode,
    /// `Seccomp_filters`: number of attached filters.
    pub seccomp_filters: u32,
    /// `SigQ`: signals queued to the real uid, and the limit.
    pub sig_queued: (u64, u64),
    /// `SigPnd`: signals pending for the thread.
    pub sig_pnd: u64,
    /// `ShdPnd`: signals pending for the process.
    pub shd_pnd: u64,
    /// `SigBlk`
    pub sig_blk: u64,
    /// `SigIgn`
    pub sig_ign: u64,
    /// `SigCgt`
    pub sig_cgt: u64,
    /// `Threads`
    pub threads: u32,
}

/// Read `/proc/PID/status`.
pub fn status(pid: Pid) -> Result<Status, ProcError> {
    read_parsed(pid, "status", parse_status)
}

/// Every traced process of the machine (by its leader's `TracerPid`), by tracer: one pass over
/// `/proc`. Processes that cannot be read, or exit meanwhile, are passed over.
pub fn all_tracees() -> std::collections::BTreeMap<Pid, Vec<Pid>> {
    let mut tracees: std::collections::BTreeMap<Pid, Vec<Pid>> = Default::default();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return tracees;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        let pid = Pid::from_raw(pid);
        if let Ok(status) = status(pid) {
            if status.tracer_pid.as_raw() > 0 {
                tracees.entry(status.tracer_pid).or_default().push(pid);
            }
        }
    }
    tracees
}

/// Read `/proc/PID/task/TID/status` (per-thread masks and state).
pub fn thread_status(pid: Pid, tid: Pid) -> Result<Status, ProcError> {
    read_parsed(pid, &format!("task/{tid}/status"), parse_status)
}

/// Parse a whole status file.
pub fn parse_status(text: &str) -> Result<Status, BadLine> {
    let mut status = Status::blank();
    let mut seen_state = false;
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if key == "State" {
            seen_state = true;
        }
        status.apply(key, value, line)?;
    }
    if !seen_state {
        return Err(BadLine::new(
            text.lines().next().unwrap_or(""),
            "no State line",
        ));
    }
    Ok(status)
}

impl Status {
    fn blank() -> Self {
        let zero = Pid::from_raw(0);
        Self {
            name: String::new(),
            state: TaskState::Running,
            tgid: zero,
            pid: zero,
            ppid: zero,
            tracer_pid: zero,
            uid: Ids::default(),
            gid: Ids::default(),
            groups: Vec::new(),
            ns_tgid: Vec::new(),
            ns_pid: Vec::new(),
            cap_inh: 0,
            cap_prm: 0,
            cap_eff: 0,
            cap_bnd: 0,
            cap_amb: 0,
            no_new_privs: false,
            seccomp: SeccompMode::Disabled,
            seccomp_filters: 0,
            sig_queued: (0, 0),
            sig_pnd: 0,
            shd_pnd: 0,
            sig_blk: 0,
            sig_ign: 0,
            sig_cgt: 0,
            threads: 0,
        }
    }

    fn apply(&mut self, key: &str, value: &str, line: &str) -> Result<(), BadLine> {
        let pid = |v: &str| dec::<i32>(v, line, "bad pid").map(Pid::from_raw);
        let mask = |v: &str| hex_u64(v, line, "bad mask");
        match key {
            "Name" => self.name = value.to_string(),
            "State" => self.state = parse_state(value, line)?,
            "Tgid" => self.tgid = pid(value)?,
            "Pid" => self.pid = pid(value)?,
            "PPid" => self.ppid = pid(value)?,
            "TracerPid" => self.tracer_pid = pid(value)?,
            "Uid" => self.uid = parse_ids(value, line)?,
            "Gid" => self.gid = parse_ids(value, line)?,
            "Groups" => self.groups = numbers(value, line)?,
            "NStgid" => {
                self.ns_tgid = numbers::<i32>(value, line)?
                    .into_iter()
                    .map(Pid::from_raw)
                    .collect()
            }
            "NSpid" => {
                self.ns_pid = numbers::<i32>(value, line)?
                    .into_iter()
                    .map(Pid::from_raw)
                    .collect()
            }
            "CapInh" => self.cap_inh = mask(value)?,
            "CapPrm" => self.cap_prm = mask(value)?,
            "CapEff" => self.cap_eff = mask(value)?,
            "CapBnd" => self.cap_bnd = mask(value)?,
            "CapAmb" => self.cap_amb = mask(value)?,
            "NoNewPrivs" => self.no_new_privs = dec::<u8>(value, line, "bad NoNewPrivs")? != 0,
            "Seccomp" => self.seccomp = parse_seccomp(value, line)?,
            "Seccomp_filters" => self.seccomp_filters = dec(value, line, "bad Seccomp_filters")?,
            "SigQ" => self.sig_queued = parse_sigq(value, line)?,
            "SigPnd" => self.sig_pnd = mask(value)?,
            "ShdPnd" => self.shd_pnd = mask(value)?,
            "SigBlk" => self.sig_blk = mask(value)?,
            "SigIgn" => self.sig_ign = mask(value)?,
            "SigCgt" => self.sig_cgt = mask(value)?,
            "Threads" => self.threads = dec(value, line, "bad Threads")?,
            _ => {}
        }
        Ok(())
    }
}

fn parse_state(value: &str, line: &str) -> Result<TaskState, BadLine> {
    value
        .chars()
        .next()
        .and_then(TaskState::from_letter)
        .ok_or(BadLine::new(line, "unknown state"))
}

fn parse_ids(value: &str, line: &str) -> Result<Ids, BadLine> {
    match numbers::<u32>(value, line)?[..] {
        [real, effective, saved, fs] => Ok(Ids {
            real,
            effective,
            saved,
            fs,
        }),
        _ => Err(BadLine::new(line, "expected four ids")),
    }
}

fn parse_seccomp(value: &str, line: &str) -> Result<SeccompMode, BadLine> {
    match value {
        "0" => Ok(SeccompMode::Disabled),
        "1" => Ok(SeccompMode::Strict),
        "2" => Ok(SeccompMode::Filter),
        _ => Err(BadLine::new(line, "unknown seccomp mode")),
    }
}

fn parse_sigq(value: &str, line: &str) -> Result<(u64, u64), BadLine> {
    let (queued, limit) = value
        .split_once('/')
        .ok_or(BadLine::new(line, "SigQ is not N/LIMIT"))?;
    Ok((
        dec(queued, line, "bad SigQ")?,
        dec(limit, line, "bad SigQ limit")?,
    ))
}

fn numbers<T: std::str::FromStr>(value: &str, line: &str) -> Result<Vec<T>, BadLine> {
    value
        .split_whitespace()
        .map(|word| dec(word, line, "bad number"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "Name:\tmy prog: x
Umask:\t0022
State:\tt (tracing stop)
Tgid:\t7879
Ngid:\t0
Pid:\t7880
PPid:\t7869
TracerPid:\t7001
Uid:\t1000\t1001\t1002\t1003
Gid:\t0\t0\t0\t0
FDSize:\t256
Groups:\t 
NStgid:\t7879\t1
NSpid:\t7880\t2
Threads:\t3
SigQ:\t1/96368
SigPnd:\t0000000000000100
ShdPnd:\t0000000000000000
SigBlk:\t0000000000010000
SigIgn:\t0000000000001000
SigCgt:\t0000000180004002
CapInh:\t0000000000000000
CapPrm:\t000001fffeffffff
CapEff:\t000001fffeffffff
CapBnd:\t000001fffeffffff
CapAmb:\t0000000000000000
NoNewPrivs:\t1
Seccomp:\t2
Seccomp_filters:\t1
";

    #[test]
    fn sample_status_parses() {
        let s = parse_status(SAMPLE).unwrap();
        assert_eq!(s.name, "my prog: x");
        assert_eq!(s.state, TaskState::TracingStop);
        assert_eq!(
            (s.tgid.as_raw(), s.pid.as_raw(), s.ppid.as_raw()),
            (7879, 7880, 7869)
        );
        assert_eq!(s.tracer_pid.as_raw(), 7001);
        assert_eq!(
            s.uid,
            Ids {
                real: 1000,
                effective: 1001,
                saved: 1002,
                fs: 1003
            }
        );
        assert!(s.groups.is_empty());
        assert_eq!(s.ns_pid, vec![Pid::from_raw(7880), Pid::from_raw(2)]);
        assert_eq!(s.threads, 3);
        assert_eq!(s.sig_queued, (1, 96368));
        assert_eq!(
            (s.sig_pnd, s.sig_blk, s.sig_ign, s.sig_cgt),
            (0x100, 0x10000, 0x1000, 0x180004002)
        );
        assert_eq!(s.cap_eff, 0x1fffeffffff);
        assert!(s.no_new_privs);
        assert_eq!((s.seccomp, s.seccomp_filters), (SeccompMode::Filter, 1));
    }

    #[test]
    fn broken_uid_is_named() {
        let bad = parse_status("State:\tR (running)\nUid:\t1 2 3\n").unwrap_err();
        assert_eq!(
            (bad.line.as_str(), bad.reason),
            ("Uid:\t1 2 3", "expected four ids")
        );
    }

    #[test]
    fn own_status_reads() {
        let me = nix::unistd::getpid();
        assert_eq!(status(me).unwrap().tgid, me);
    }
}
