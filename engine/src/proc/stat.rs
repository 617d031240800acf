//! `/proc/PID/stat`: the one-line scheduler view of a task.

use nix::unistd::Pid;

use super::status::TaskState;
use super::{dec, read_parsed, BadLine, ProcError};

/// `PF_KTHREAD` in the `flags` field: the task is a kernel thread.
pub const PF_KTHREAD: u32 = 0x0020_0000;

/// What crust uses of `/proc/PID/stat`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    /// Field 2, without its parentheses.
    pub comm: String,
    /// Field 3.
    pub state: TaskState,
    /// Field 4.
    pub ppid: Pid,
    /// Field 5: process group.
    pub pgrp: Pid,
    /// Field 6: session.
    pub session: Pid,
    /// Field 7: controlling terminal (device number).
    pub tty_nr: u32,
    /// Field 8: foreground process group of the controlling terminal (-1: none).
    pub tpgid: i32,
    /// Field 9: `PF_*` flags.
    pub flags: u32,
    /// Field 20.
    pub num_threads: u32,
    /// Field 26.
    pub start_code: u64,
    /// Field 27.
    pub end_code: u64,
    /// Field 28.
    pub start_stack: u64,
    /// Field 45.
    pub start_data: u64,
    /// Field 46.
    pub end_data: u64,
    /// Field 47: start of the heap (the current `brk` is not in stat).
    pub start_brk: u64,
    /// Field 48.
    pub arg_start: u64,
    /// Field 49.
    pub arg_end: u64,
    /// Field 50.
    pub env_start: u64,
    /// Field 51.
    pub env_end: u64,
    /// Field 52.
    pub exit_code: i32,
}

impl Stat {
    /// Whether the task is a kernel thread.
    pub fn is_kernel_thread(&self) -> bool {
        self.flags & PF_KTHREAD != 0
    }
}

/// Read `/proc/PID/stat`.
pub fn stat(pid: Pid) -> Result<Stat, ProcError> {
    read_parsed(pid, "stat", parse_stat)
}

/// Read `/proc/PID/task/TID/stat`.
pub fn thread_stat(pid: Pid, tid: Pid) -> Result<Stat, ProcError> {
    read_parsed(pid, &format!("task/{tid}/stat"), parse_stat)
}

/// Parse a stat line. The comm may hold spaces and `)`: it ends at the last `)`.
pub fn parse_stat(text: &str) -> Result<Stat, BadLine> {
    let line = text.trim_end_matches('\n');
    let open = line
        .find('(')
        .ok_or(BadLine::new(line, "no ( before the comm"))?;
    let close = line
        .rfind(')')
        .ok_or(BadLine::new(line, "no ) after the comm"))?;
    let comm = line
        .get(open + 1..close)
        .ok_or(BadLine::new(line, "comm out of place"))?;
    let rest: Vec<&str> = line
        .get(close + 1..)
        .unwrap_or("")
        .split_whitespace()
        .collect();
    // `rest[0]` is field 3; field N is `rest[N - 3]`.
    let field = |n: usize| {
        rest.get(n - 3)
            .copied()
            .ok_or(BadLine::new(line, "too few fields"))
    };
    let num = |n: usize| field(n).and_then(|f| dec::<u64>(f, line, "bad number"));
    let pid = |n: usize| {
        field(n)
            .and_then(|f| dec::<i32>(f, line, "bad pid"))
            .map(Pid::from_raw)
    };
    let state = field(3)?.chars().next().and_then(TaskState::from_letter);

    Ok(Stat {
        comm: comm.to_string(),
        state: state.ok_or(BadLine::new(line, "unknown state"))?,
        ppid: pid(4)?,
        pgrp: pid(5)?,
        session: pid(6)?,
        tty_nr: field(7).and_then(|f| dec(f, line, "bad tty_nr"))?,
        tpgid: field(8).and_then(|f| dec(f, line, "bad tpgid"))?,
        flags: field(9).and_then(|f| dec(f, line, "bad flags"))?,
        num_threads: field(20).and_then(|f| dec(f, line, "bad num_threads"))?,
        start_code: num(26)?,
        end_code: num(27)?,
        start_stack: num(28)?,
        start_data: num(45)?,
        end_data: num(46)?,
        start_brk: num(47)?,
        arg_start: num(48)?,
        arg_end: num(49)?,
        env_start: num(50)?,
        env_end: num(51)?,
        exit_code: field(52).and_then(|f| dec(f, line, "bad exit_code"))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str =
        "8457 (a) b) (c) S 8450 8457 7150 34816 8457 4194304 108 0 0 0 0 0 0 0 20 \
        0 1 0 1796400 3133440 428 18446744073709551615 94321205747712 94321205764497 \
        140727198063584 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 94321205777840 94321205779088 \
        94321232904192 140727198066384 140727198066404 140727198066404 140727198068715 0\n";

    #[test]
    fn comm_with_parentheses_and_spaces() {
        let stat = parse_stat(SAMPLE).unwrap();
        assert_eq!(stat.comm, "a) b) (c");
        assert_eq!(stat.state, TaskState::Sleeping);
        assert_eq!(
            (
                stat.ppid.as_raw(),
                stat.pgrp.as_raw(),
                stat.session.as_raw()
            ),
            (8450, 8457, 7150)
        );
        assert_eq!((stat.tty_nr, stat.tpgid), (34816, 8457));
        assert_eq!(stat.flags, 4194304);
        assert!(!stat.is_kernel_thread());
        assert_eq!(stat.num_threads, 1);
        assert_eq!(
            (stat.start_code, stat.end_code),
            (94321205747712, 94321205764497)
        );
        assert_eq!(stat.start_stack, 140727198063584);
        assert_eq!(stat.start_brk, 94321232904192);
        assert_eq!(
            (stat.env_start, stat.env_end),
            (140727198066404, 140727198068715)
        );
        assert_eq!(stat.exit_code, 0);
    }

    #[test]
    fn truncated_line_is_named() {
        assert_eq!(
            parse_stat("1 (init) S 0 1 1").unwrap_err().reason,
            "too few fields"
        );
    }

    #[test]
    fn kernel_thread_is_seen() {
        let kthreadd = stat(Pid::from_raw(2));
        if let Ok(stat) = kthreadd {
            assert!(stat.is_kernel_thread());
        }
    }
}
