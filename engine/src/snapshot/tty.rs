//! Terminals: pseudo-terminal ends a process holds open, and the terminal of
//! a shell job.
//!
//! Each end of a pty the process holds is one [`TtyInfo`]: the master
//! (`/dev/ptmx`) and the slave (`/dev/pts/N`) of pair N are two, as in CRIU's
//! `tty-info.img`. Each open file description of an end is a
//! [`crate::snapshot::FileSnapshot::Tty`] naming its info. A slave whose
//! master is not among the infos was the terminal of a shell job (its master
//! held outside, by a terminal emulator or tmux): a restore with
//! `--shell-job` puts crust's own terminal in its place.

use super::SnapshotError;

/// First major number of the pty slaves (`/dev/pts/N`): 136 to 143.
pub const PTY_SLAVE_MAJOR: u32 = 136;
/// How many majors the pty slaves span.
pub const PTY_SLAVE_MAJORS: u32 = 8;
/// Major and minor of `/dev/ptmx`.
pub const PTMX_DEVICE: (u32, u32) = (5, 2);
/// Most bytes crust keeps of one queue of a pty (the kernel's n_tty buffer is 4 KiB, a pty
/// holds a few more in flight).
pub const MAX_QUEUED: usize = 1 << 20;

/// Which end of a pseudo-terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PtyEnd {
    /// `/dev/ptmx`: the side a terminal emulator holds.
    Master,
    /// `/dev/pts/N`: the side programs read and write as their terminal.
    Slave,
}

/// `struct termios2`, as TCGETS2 fills it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Termios {
    /// Input modes.
    pub iflag: u32,
    /// Output modes.
    pub oflag: u32,
    /// Control modes.
    pub cflag: u32,
    /// Local modes.
    pub lflag: u32,
    /// Line discipline.
    pub line: u8,
    /// Control characters (NCCS of the kernel's termios2: 19).
    pub cc: [u8; TERMIOS_NCC],
    /// Input speed.
    pub ispeed: u32,
    /// Output speed.
    pub ospeed: u32,
}

/// Control characters in the kernel's `struct termios2`.
pub const TERMIOS_NCC: usize = 19;

/// `struct winsize`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Winsize {
    /// Rows.
    pub rows: u16,
    /// Columns.
    pub cols: u16,
    /// Width in pixels.
    pub xpixel: u16,
    /// Height in pixels.
    pub ypixel: u16,
}

/// One end of a pseudo-terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TtyInfo {
    /// Id the files of this end refer to.
    pub id: u32,
    /// N of `/dev/pts/N`.
    pub index: u32,
    /// Which end.
    pub end: PtyEnd,
    /// The slave is locked (TIOCSPTLCK; master only).
    pub locked: bool,
    /// Exclusive mode (TIOCEXCL).
    pub exclusive: bool,
    /// Packet mode (TIOCPKT; master only).
    pub packet_mode: bool,
    /// Session the terminal controls (0: none).
    pub sid: i32,
    /// Its foreground process group (0: none).
    pub pgrp: i32,
    /// Terminal settings of this end.
    pub termios: Termios,
    /// Window size.
    pub winsize: Winsize,
    /// Bytes waiting to be read from this end: what the slave wrote, on the
    /// master; what the master wrote, on the slave.
    pub queued: Vec<u8>,
}

impl TtyInfo {
    /// The device number of this end, as the kernel encodes it for
    /// userspace (`st_rdev`).
    pub fn rdev(&self) -> u64 {
        match self.end {
            PtyEnd::Master => nix::sys::stat::makedev(PTMX_DEVICE.0.into(), PTMX_DEVICE.1.into()),
            PtyEnd::Slave => nix::sys::stat::makedev(
                u64::from(PTY_SLAVE_MAJOR + self.index / 256),
                u64::from(self.index % 256),
            ),
        }
    }
}

/// An open file description of a pty end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TtyFile {
    /// The [`TtyInfo`] of the end.
    pub info_id: u32,
    /// open(2) flags (access mode, O_NONBLOCK, ...), without O_CLOEXEC.
    pub flags: u32,
}

/// The pty index of a slave device `major:minor`, if it is one.
pub fn slave_index(major: u32, minor: u32) -> Option<u32> {
    let first = PTY_SLAVE_MAJOR;
    (first..first + PTY_SLAVE_MAJORS)
        .contains(&major)
        .then(|| (major - first) * 256 + minor)
}

/// Whether `major:minor` is `/dev/ptmx`.
pub fn is_ptmx(major: u32, minor: u32) -> bool {
    (major, minor) == PTMX_DEVICE
}

/// The terminals of a process, checked: ids unique, one master per index,
/// queues bounded.
pub(super) fn validate(
    pid: i32,
    ttys: &[TtyInfo],
    files: &[super::FileSnapshot],
) -> Result<(), SnapshotError> {
    let out_of_range = |what, value: i64| SnapshotError::OutOfRange { pid, what, value };
    let mut ids = std::collections::HashSet::new();
    let mut ends = std::collections::HashSet::new();
    for tty in ttys {
        if !ids.insert(tty.id) {
            return Err(out_of_range("tty id (a duplicate)", tty.id.into()));
        }
        if !ends.insert((tty.index, tty.end)) {
            return Err(out_of_range(
                "pty index (described twice)",
                tty.index.into(),
            ));
        }
        if tty.index >= PTY_SLAVE_MAJORS * 256 {
            return Err(out_of_range("pty index", tty.index.into()));
        }
        if tty.queued.len() > MAX_QUEUED {
            return Err(out_of_range("queued tty bytes", tty.queued.len() as i64));
        }
    }
    for file in files {
        if let super::FileSnapshot::Tty { tty, .. } = file {
            if !ids.contains(&tty.info_id) {
                return Err(out_of_range("tty id of a file", tty.info_id.into()));
            }
        }
    }
    Ok(())
}

/// Whether the slave `info` has no master among `ttys`: the terminal of a
/// shell job.
pub fn is_external(info: &TtyInfo, ttys: &[TtyInfo]) -> bool {
    info.end == PtyEnd::Slave
        && !ttys
            .iter()
            .any(|t| t.end == PtyEnd::Master && t.index == info.index)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slave_devices_map_to_indexes() {
        assert_eq!(slave_index(136, 3), Some(3));
        assert_eq!(slave_index(137, 1), Some(257));
        assert_eq!(slave_index(144, 0), None);
        assert_eq!(slave_index(5, 2), None);
        assert!(is_ptmx(5, 2));
    }

    #[test]
    fn a_slave_device_number_round_trips() {
        let info = TtyInfo {
            id: 1,
            index: 300,
            end: PtyEnd::Slave,
            locked: false,
            exclusive: false,
            packet_mode: false,
            sid: 0,
            pgrp: 0,
            termios: Termios::default(),
            winsize: Winsize::default(),
            queued: Vec::new(),
        };
        let rdev = info.rdev();
        let (major, minor) = (nix::sys::stat::major(rdev), nix::sys::stat::minor(rdev));
        assert_eq!(slave_index(major as u32, minor as u32), Some(300));
    }
}
