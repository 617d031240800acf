//! Special files of the sample: a unix socket pair with a queued packet, a
//! listening TCP socket, epoll, signalfd, timerfd and a pty slave.

use engine::images::eventpoll::{EventpollFileEntry, EventpollTfdEntry};
use engine::images::fdinfo::{FdTypes, FdinfoEntry, FileEntry};
use engine::images::fown::FownEntry;
use engine::images::signalfd::SignalfdEntry;
use engine::images::sk_inet::InetSkEntry;
use engine::images::sk_opts::SkOptsEntry;
use engine::images::sk_packet::SkPacketEntry;
use engine::images::sk_unix::UnixSkEntry;
use engine::images::timerfd::TimerfdEntry;
use engine::images::tty::{TermiosEntry, TtyFileEntry, TtyInfoEntry, TtyType, WinsizeEntry};

use super::{LEADER, PIPE_R_ID};

pub const UNIX_A_ID: u32 = 8;
pub const UNIX_B_ID: u32 = 9;
pub const TCP_ID: u32 = 10;
pub const EPOLL_ID: u32 = 11;
pub const SIGNALFD_ID: u32 = 12;
pub const TIMERFD_ID: u32 = 13;
pub const TTY_ID: u32 = 14;
pub const TTY_INFO_ID: u32 = 1;
pub const QUEUED: &[u8] = b"ping!";

const SOCK_STREAM: u32 = 1;
const TCP_ESTABLISHED: u32 = 1;
const TCP_LISTEN: u32 = 10;

fn fown() -> FownEntry {
    FownEntry {
        uid: 0,
        euid: 0,
        signum: 0,
        pid_type: 0,
        pid: 0,
    }
}

fn opts() -> SkOptsEntry {
    SkOptsEntry {
        so_sndbuf: 212_992,
        so_rcvbuf: 212_992,
        ..Default::default()
    }
}

fn unix(id: u32, ino: u32, peer: u32, name: &[u8]) -> FileEntry {
    FileEntry {
        r#type: FdTypes::Unixsk as i32,
        id,
        usk: Some(UnixSkEntry {
            id,
            ino,
            r#type: SOCK_STREAM,
            state: TCP_ESTABLISHED,
            flags: 0o2,
            uflags: 0,
            backlog: 0,
            peer,
            fown: fown(),
            opts: opts(),
            name: name.to_vec(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn tcp_listener() -> FileEntry {
    FileEntry {
        r#type: FdTypes::Inetsk as i32,
        id: TCP_ID,
        isk: Some(InetSkEntry {
            id: TCP_ID,
            ino: 90_010,
            family: 2, // AF_INET
            r#type: SOCK_STREAM,
            proto: 6, // IPPROTO_TCP
            state: TCP_LISTEN,
            src_port: 8080,
            dst_port: 0,
            flags: 0o2,
            backlog: 128,
            src_addr: vec![u32::from_ne_bytes([127, 0, 0, 1])],
            dst_addr: vec![0],
            fown: fown(),
            opts: SkOptsEntry {
                reuseaddr: Some(true),
                ..opts()
            },
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn epoll() -> FileEntry {
    let watch = EventpollTfdEntry {
        id: PIPE_R_ID,
        tfd: 3,
        events: 0x1, // EPOLLIN
        data: 0xdead_beef,
        dev: Some(0x0d),
        inode: Some(77_001),
        pos: Some(0),
    };
    let epfd = EventpollFileEntry {
        id: EPOLL_ID,
        flags: 0o2,
        fown: fown(),
        tfd: vec![watch],
    };
    FileEntry {
        r#type: FdTypes::Eventpoll as i32,
        id: EPOLL_ID,
        epfd: Some(epfd),
        ..Default::default()
    }
}

fn signalfd() -> FileEntry {
    let sgfd = SignalfdEntry {
        id: SIGNALFD_ID,
        flags: 0o4000,
        fown: fown(),
        sigmask: 1 << 16,
    };
    FileEntry {
        r#type: FdTypes::Signalfd as i32,
        id: SIGNALFD_ID,
        sgfd: Some(sgfd),
        ..Default::default()
    }
}

fn timerfd() -> FileEntry {
    let tfd = TimerfdEntry {
        id: TIMERFD_ID,
        flags: 0o2,
        fown: fown(),
        clockid: 1,
        ticks: 0,
        settime_flags: 0,
        vsec: 0,
        vnsec: 250_000_000,
        isec: 1,
        insec: 0,
    };
    FileEntry {
        r#type: FdTypes::Timerfd as i32,
        id: TIMERFD_ID,
        tfd: Some(tfd),
        ..Default::default()
    }
}

fn tty() -> FileEntry {
    let tty = TtyFileEntry {
        id: TTY_ID,
        tty_info_id: TTY_INFO_ID,
        flags: 0o2,
        fown: fown(),
        regf_id: None,
    };
    FileEntry {
        r#type: FdTypes::Tty as i32,
        id: TTY_ID,
        tty: Some(tty),
        ..Default::default()
    }
}

/// The special files, after the sample's regular ones in `files.img`.
pub fn special_files() -> Vec<FileEntry> {
    vec![
        unix(UNIX_A_ID, 90_001, 90_002, b"\0sample-abstract"),
        unix(UNIX_B_ID, 90_002, 90_001, b""),
        tcp_listener(),
        epoll(),
        signalfd(),
        timerfd(),
        tty(),
    ]
}

/// fds 5 and up of the sample task.
pub fn special_fds() -> Vec<FdinfoEntry> {
    let fd = |fd, id, kind: FdTypes| FdinfoEntry {
        id,
        flags: 1, // FD_CLOEXEC
        r#type: kind as i32,
        fd,
        xattr_security_selinux: None,
    };
    vec![
        fd(5, UNIX_A_ID, FdTypes::Unixsk),
        fd(6, UNIX_B_ID, FdTypes::Unixsk),
        fd(7, TCP_ID, FdTypes::Inetsk),
        fd(8, EPOLL_ID, FdTypes::Eventpoll),
        fd(9, SIGNALFD_ID, FdTypes::Signalfd),
        fd(10, TIMERFD_ID, FdTypes::Timerfd),
        fd(11, TTY_ID, FdTypes::Tty),
    ]
}

/// A packet waiting in socket B's queue, sent from A.
pub fn sk_queue() -> SkPacketEntry {
    SkPacketEntry {
        id_for: UNIX_B_ID,
        length: QUEUED.len() as u32,
        scm: vec![],
    }
}

/// The pty slave's terminal: /dev/pts/3, the sample's session.
pub fn tty_info() -> TtyInfoEntry {
    TtyInfoEntry {
        id: TTY_INFO_ID,
        r#type: TtyType::Pty as i32,
        locked: false,
        exclusive: false,
        packet_mode: false,
        sid: 4000,
        pgrp: LEADER,
        rdev: (136 << 20) | 3,
        termios: Some(TermiosEntry {
            c_iflag: 0o2400,
            c_oflag: 0o5,
            c_cflag: 0o277,
            c_lflag: 0o105073,
            c_line: 0,
            c_ispeed: 15,
            c_ospeed: 15,
            c_cc: vec![
                3, 28, 127, 21, 4, 0, 1, 0, 17, 19, 26, 0, 18, 15, 23, 22, 0, 0, 0,
            ],
        }),
        termios_locked: None,
        winsize: Some(WinsizeEntry {
            ws_row: 24,
            ws_col: 80,
            ws_xpixel: 0,
            ws_ypixel: 0,
        }),
        pty: Some(engine::images::tty::TtyPtyEntry { index: 3 }),
        dev: Some(0x16),
        uid: Some(1000),
        gid: Some(5),
    }
}
