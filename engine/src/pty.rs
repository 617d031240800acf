//! Pseudo-terminal requests crust makes from its own side, on its copies of
//! a process's pty ends (dump) or on the ends it opens for a restore:
//! termios, window size, lock, packet and exclusive modes, and the bytes
//! queued in the line discipline.
//!
//! The queues cannot be read without taking the bytes out, so a dump takes
//! them and puts them back ([`push_queues`]) the way a restore writes them:
//! with the slave raw for a moment, so that neither echo, signals, line
//! editing nor output processing touch them, and waits until the kernel's
//! flip buffers have handed them to the line discipline before the slave
//! gets its own settings back.

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;

use crate::snapshot::{Termios, Winsize};

/// How long queued bytes written back may take to reach the other end's line discipline.
const LANDING_TIMEOUT: Duration = Duration::from_secs(2);

/// Runs ioctl `request` on `fd` with `arg` (a value or a pointer the kernel
/// reads or fills, as the request defines).
fn ioctl(fd: BorrowedFd, request: libc::Ioctl, arg: libc::c_ulong) -> nix::Result<libc::c_int> {
    // SAFETY: the callers pass, for each request, either a plain integer or
    // the address of a live value of the type the kernel reads or writes for
    // it (termios2, winsize, int), valid for the duration of the call.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), request, arg) };
    Errno::result(rc)
}

/// An int the kernel fills, from `request`.
fn get_int(fd: BorrowedFd, request: libc::Ioctl) -> nix::Result<libc::c_int> {
    let mut value: libc::c_int = 0;
    ioctl(fd, request, &mut value as *mut libc::c_int as libc::c_ulong)?;
    Ok(value)
}

/// An int the kernel reads, for `request`.
fn set_int(fd: BorrowedFd, request: libc::Ioctl, value: libc::c_int) -> nix::Result<()> {
    ioctl(fd, request, &value as *const libc::c_int as libc::c_ulong).map(drop)
}

/// TCGETS2.
pub fn termios(fd: BorrowedFd) -> nix::Result<Termios> {
    // SAFETY: termios2 is plain old data; all-zero bytes are a valid value.
    let mut raw: libc::termios2 = unsafe { std::mem::zeroed() };
    ioctl(
        fd,
        libc::TCGETS2,
        &mut raw as *mut libc::termios2 as libc::c_ulong,
    )?;
    Ok(Termios {
        iflag: raw.c_iflag,
        oflag: raw.c_oflag,
        cflag: raw.c_cflag,
        lflag: raw.c_lflag,
        line: raw.c_line,
        cc: raw.c_cc,
        ispeed: raw.c_ispeed,
        ospeed: raw.c_ospeed,
    })
}

/// TCSETS2.
pub fn set_termios(fd: BorrowedFd, termios: &Termios) -> nix::Result<()> {
    let raw = libc::termios2 {
        c_iflag: termios.iflag,
        c_oflag: termios.oflag,
        c_cflag: termios.cflag,
        c_lflag: termios.lflag,
        c_line: termios.line,
        c_cc: termios.cc,
        c_ispeed: termios.ispeed,
        c_ospeed: termios.ospeed,
    };
    ioctl(
        fd,
        libc::TCSETS2,
        &raw as *const libc::termios2 as libc::c_ulong,
    )
    .map(drop)
}

/// TIOCGWINSZ.
pub fn winsize(fd: BorrowedFd) -> nix::Result<Winsize> {
    let mut raw = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    ioctl(
        fd,
        libc::TIOCGWINSZ,
        &mut raw as *mut libc::winsize as libc::c_ulong,
    )?;
    Ok(Winsize {
        rows: raw.ws_row,
        cols: raw.ws_col,
        xpixel: raw.ws_xpixel,
        ypixel: raw.ws_ypixel,
    })
}

/// TIOCSWINSZ.
pub fn set_winsize(fd: BorrowedFd, size: &Winsize) -> nix::Result<()> {
    let raw = libc::winsize {
        ws_row: size.rows,
        ws_col: size.cols,
        ws_xpixel: size.xpixel,
        ws_ypixel: size.ypixel,
    };
    ioctl(
        fd,
        libc::TIOCSWINSZ,
        &raw as *const libc::winsize as libc::c_ulong,
    )
    .map(drop)
}

/// TIOCGPTN: the index of a master.
pub fn index(master: BorrowedFd) -> nix::Result<u32> {
    let index = get_int(master, libc::TIOCGPTN)?;
    u32::try_from(index).map_err(|_| Errno::ERANGE)
}

/// TIOCGPTLCK: whether the slave of `master` is locked.
pub fn locked(master: BorrowedFd) -> nix::Result<bool> {
    get_int(master, libc::TIOCGPTLCK).map(|v| v != 0)
}

/// TIOCSPTLCK.
pub fn set_locked(master: BorrowedFd, locked: bool) -> nix::Result<()> {
    set_int(master, libc::TIOCSPTLCK, locked.into())
}

/// TIOCGPKT: whether `master` is in packet mode.
pub fn packet_mode(master: BorrowedFd) -> nix::Result<bool> {
    get_int(master, libc::TIOCGPKT).map(|v| v != 0)
}

/// TIOCPKT.
pub fn set_packet_mode(master: BorrowedFd, on: bool) -> nix::Result<()> {
    set_int(master, libc::TIOCPKT, on.into())
}

/// TIOCGEXCL.
pub fn exclusive(fd: BorrowedFd) -> nix::Result<bool> {
    get_int(fd, libc::TIOCGEXCL).map(|v| v != 0)
}

/// TIOCEXCL.
pub fn set_exclusive(fd: BorrowedFd) -> nix::Result<()> {
    ioctl(fd, libc::TIOCEXCL, 0).map(drop)
}

/// TIOCGSID and TIOCGPGRP: the session a terminal controls and its
/// foreground group, asked through a master; (0, 0) when it controls none.
pub fn session_of(master: BorrowedFd) -> nix::Result<(i32, i32)> {
    match get_int(master, libc::TIOCGSID) {
        Ok(sid) => Ok((sid, get_int(master, libc::TIOCGPGRP).unwrap_or(0))),
        Err(Errno::ENOTTY) => Ok((0, 0)),
        Err(errno) => Err(errno),
    }
}

/// TIOCGPTPEER: a new open file description of the slave of `master`, with
/// `flags` (O_NOCTTY is always added: crust never takes a terminal).
pub fn open_peer(master: BorrowedFd, flags: i32) -> nix::Result<OwnedFd> {
    let flags = flags | libc::O_NOCTTY | libc::O_CLOEXEC;
    let fd = ioctl(master, libc::TIOCGPTPEER, flags as libc::c_ulong)?;
    // SAFETY: TIOCGPTPEER returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Bytes waiting to be read (TIOCINQ).
fn waiting(fd: BorrowedFd) -> nix::Result<usize> {
    let count = get_int(fd, libc::TIOCINQ)?;
    usize::try_from(count).map_err(|_| Errno::ERANGE)
}

/// Reads every byte `fd` holds now, up to `limit`, without blocking: the
/// description is made non-blocking for the time of the reads and given its
/// flags back.
pub fn take_queue(fd: BorrowedFd, limit: usize) -> nix::Result<Vec<u8>> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    let flags = OFlag::from_bits_truncate(fcntl(fd.as_raw_fd(), FcntlArg::F_GETFL)?);
    fcntl(fd.as_raw_fd(), FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    let taken = read_all(fd, limit);
    fcntl(fd.as_raw_fd(), FcntlArg::F_SETFL(flags))?;
    taken
}

fn read_all(fd: BorrowedFd, limit: usize) -> nix::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match nix::unistd::read(fd.as_raw_fd(), &mut buffer) {
            Ok(0) | Err(Errno::EAGAIN) | Err(Errno::EIO) => return Ok(bytes),
            Ok(n) if bytes.len() + n > limit => return Err(Errno::EFBIG),
            Ok(n) => bytes.extend_from_slice(&buffer[..n]),
            Err(Errno::EINTR) => continue,
            Err(errno) => return Err(errno),
        }
    }
}

/// `termios` with everything that would change or act on bytes passing
/// through turned off: no line editing, echo, signals, input translation or
/// output processing; reads return what is there.
pub fn raw(termios: &Termios) -> Termios {
    let mut raw = *termios;
    raw.iflag &= !(libc::IGNBRK
        | libc::BRKINT
        | libc::PARMRK
        | libc::ISTRIP
        | libc::INLCR
        | libc::IGNCR
        | libc::ICRNL
        | libc::IUCLC
        | libc::IXON
        | libc::IXOFF);
    raw.oflag &= !libc::OPOST;
    raw.lflag &= !(libc::ICANON | libc::ECHO | libc::ECHONL | libc::ISIG | libc::IEXTEN);
    raw.cc[libc::VMIN] = 0;
    raw.cc[libc::VTIME] = 0;
    raw
}

/// Takes the bytes queued on both ends of a pty: (waiting on the master,
/// waiting on the slave). `slave` must be crust's own non-blocking
/// description of the slave; its settings are made raw for the reads
/// (switching canonical mode off makes a pending partial line readable) and
/// given back.
pub fn take_queues(
    master: BorrowedFd,
    slave: BorrowedFd,
    termios: &Termios,
    limit: usize,
) -> nix::Result<(Vec<u8>, Vec<u8>)> {
    let output = take_queue(master, limit)?;
    set_termios(slave, &raw(termios))?;
    let input = read_all(slave, limit);
    set_termios(slave, termios)?;
    Ok((output, input?))
}

/// Writes `output` so that the master reads it and `input` so that the
/// slave reads it, with the slave raw meanwhile, waits until both have
/// reached their line disciplines, and gives the slave `termios`. The slave
/// then reads the input as it would have (in canonical mode, a partial line
/// becomes readable as a line of its own).
pub fn push_queues(
    master: BorrowedFd,
    slave: BorrowedFd,
    termios: &Termios,
    output: &[u8],
    input: &[u8],
) -> nix::Result<()> {
    set_termios(slave, &raw(termios))?;
    let pushed = write_all(slave, output)
        .and_then(|()| write_all(master, input))
        .and_then(|()| wait_until_waiting(master, output.len()))
        .and_then(|()| wait_until_waiting(slave, input.len()));
    set_termios(slave, termios)?;
    pushed
}

fn write_all(fd: BorrowedFd, mut bytes: &[u8]) -> nix::Result<()> {
    while !bytes.is_empty() {
        match nix::unistd::write(fd, bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(Errno::EINTR) => continue,
            Err(errno) => return Err(errno),
        }
    }
    Ok(())
}

/// Waits until `fd` has at least `count` bytes to read.
fn wait_until_waiting(fd: BorrowedFd, count: usize) -> nix::Result<()> {
    let start = Instant::now();
    while waiting(fd)? < count {
        if start.elapsed() > LANDING_TIMEOUT {
            return Err(Errno::ETIMEDOUT);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    fn open_pair() -> (OwnedFd, OwnedFd) {
        let master = nix::fcntl::open(
            "/dev/ptmx",
            nix::fcntl::OFlag::O_RDWR | nix::fcntl::OFlag::O_NOCTTY | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .expect("open /dev/ptmx");
        // SAFETY: open returned a new fd that nothing else owns.
        let master = unsafe { OwnedFd::from_raw_fd(master) };
        set_locked(master.as_fd(), false).expect("unlock");
        let slave = open_peer(master.as_fd(), libc::O_RDWR | libc::O_NONBLOCK).expect("peer");
        (master, slave)
    }

    #[test]
    fn queues_taken_and_pushed_back_come_out_the_same() {
        let (master, slave) = open_pair();
        let termios = termios(slave.as_fd()).expect("termios");
        assert!(termios.lflag & libc::ICANON != 0);
        write_all(slave.as_fd(), b"out\n").unwrap();
        write_all(master.as_fd(), b"line one\npartial").unwrap();
        // Echo of the input lands on the master too.
        wait_until_waiting(master.as_fd(), 4).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        let (output, input) =
            take_queues(master.as_fd(), slave.as_fd(), &termios, 1 << 16).expect("take the queues");
        assert!(output.starts_with(b"out\r\n"), "{output:?}");
        assert_eq!(input, b"line one\npartial");
        push_queues(master.as_fd(), slave.as_fd(), &termios, &output, &input).expect("push");
        let (again_out, again_in) =
            take_queues(master.as_fd(), slave.as_fd(), &termios, 1 << 16).expect("take again");
        assert_eq!((again_out, again_in), (output, input));
        assert_eq!(self::termios(slave.as_fd()).unwrap(), termios);
    }

    #[test]
    fn window_size_and_modes_round_trip() {
        let (master, slave) = open_pair();
        let size = Winsize {
            rows: 33,
            cols: 101,
            xpixel: 7,
            ypixel: 9,
        };
        set_winsize(slave.as_fd(), &size).unwrap();
        assert_eq!(winsize(master.as_fd()).unwrap(), size);
        assert!(!packet_mode(master.as_fd()).unwrap());
        set_packet_mode(master.as_fd(), true).unwrap();
        assert!(packet_mode(master.as_fd()).unwrap());
        set_locked(master.as_fd(), true).unwrap();
        assert!(locked(master.as_fd()).unwrap());
        assert!(index(master.as_fd()).is_ok());
    }
}
