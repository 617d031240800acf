//! Terminals in the images: a pty pair with bytes queued both ways and a
//! shell job's terminal read back equal, and crit decodes `tty-info.img`,
//! `tty-data.img` and the TTY entries of `files.img` as CRIU writes them.

mod codec_sample;

use std::path::Path;
use std::process::Command;

use codec_sample as sample;
use codec_sample::read_process;
use engine::snapshot::{
    FdSnapshot, FileSnapshot, ProcessSnapshot, PtyEnd, Termios, TtyFile, TtyInfo, Winsize,
};
use serde_json::Value;

const PAIR_INDEX: u32 = 7;
const SHELL_INDEX: u32 = 300;

fn info(id: u32, index: u32, end: PtyEnd, queued: &[u8]) -> TtyInfo {
    let mut cc = [0u8; 19];
    cc[libc::VINTR] = 3;
    cc[libc::VMIN] = 1;
    TtyInfo {
        id,
        index,
        end,
        locked: end == PtyEnd::Master,
        exclusive: end == PtyEnd::Slave,
        packet_mode: false,
        sid: 4242,
        pgrp: 4242,
        termios: Termios {
            iflag: libc::ICRNL,
            oflag: libc::OPOST | libc::ONLCR,
            cflag: libc::CS8 | libc::CREAD,
            lflag: libc::ICANON | libc::ECHO,
            line: 0,
            cc,
            ispeed: 38400,
            ospeed: 9600,
        },
        winsize: Winsize {
            rows: 33,
            cols: 101,
            xpixel: 5,
            ypixel: 9,
        },
        queued: queued.to_vec(),
    }
}

/// The sample process, with a pty pair on fds 10 and 11 and a shell job's
/// terminal on fd 12.
fn with_terminals() -> ProcessSnapshot {
    let mut process = sample::process();
    process.ttys = vec![
        info(1, PAIR_INDEX, PtyEnd::Master, b"written by the slave\r\n"),
        info(2, PAIR_INDEX, PtyEnd::Slave, b"typed\n"),
        info(3, SHELL_INDEX, PtyEnd::Slave, b""),
    ];
    for (file_id, info_id, fd) in [(20, 1, 10), (21, 2, 11), (22, 3, 12)] {
        let flags = (libc::O_RDWR | libc::O_NONBLOCK) as u32;
        let tty = TtyFile { info_id, flags };
        process.files.push(FileSnapshot::Tty { id: file_id, tty });
        process.fds.push(FdSnapshot {
            fd,
            file_id,
            cloexec: false,
        });
    }
    process
}

fn crit_decode(file: &Path) -> Value {
    let output = Command::new("crit")
        .args(["decode", "--pretty", "-i"])
        .arg(file)
        .output()
        .expect("crit (Debian package criu) must be installed to check images");
    assert!(
        output.status.success(),
        "crit failed on {}: {}",
        file.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("crit prints JSON")
}

#[test]
fn terminals_read_back_equal() {
    let path = sample::scratch_dir("tty-round-trip");
    let process = with_terminals();
    process.validate().unwrap();
    sample::dump(&path, &process);
    let images = read_process(&path).unwrap();
    assert_eq!(images.process.ttys, process.ttys);
    assert_eq!(images.process, process);
    std::fs::remove_dir_all(&path).unwrap();
}

#[test]
fn crit_decodes_the_terminal_images() {
    let path = sample::scratch_dir("tty-crit");
    sample::dump(&path, &with_terminals());

    let infos = crit_decode(&path.join("tty-info.img"));
    assert_eq!(infos["magic"], "TTY_INFO");
    let infos = infos["entries"].as_array().unwrap();
    assert_eq!(infos.len(), 3);
    assert_eq!(infos[0]["type"], "PTY");
    assert_eq!(infos[0]["pty"]["index"], PAIR_INDEX);
    assert_eq!(infos[0]["rdev"], 5 << 8 | 2);
    assert_eq!(infos[0]["locked"], true);
    assert_eq!(infos[1]["rdev"], 136 << 8 | PAIR_INDEX);
    assert_eq!(infos[1]["winsize"]["ws_col"], 101);
    assert_eq!(infos[1]["termios"]["c_ospeed"], 9600);
    assert_eq!(infos[1]["termios"]["c_cc"].as_array().unwrap().len(), 19);
    // pts 300: major 137, minor 44.
    assert_eq!(infos[2]["rdev"], 137 << 8 | 44);

    let data = crit_decode(&path.join("tty-data.img"));
    assert_eq!(data["magic"], "TTY_DATA");
    let data = data["entries"].as_array().unwrap();
    let ids: Vec<&Value> = data.iter().map(|e| &e["tty_id"]).collect();
    assert_eq!(ids, [1, 2]);

    let files = crit_decode(&path.join("files.img"));
    let ttys: Vec<&Value> = files["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "TTY")
        .collect();
    assert_eq!(ttys.len(), 3);
    assert_eq!(ttys[2]["tty"]["tty_info_id"], 3);
    assert_eq!(ttys[2]["tty"]["flags"], "0x802");
    std::fs::remove_dir_all(&path).unwrap();
}

#[test]
fn a_file_of_an_undescribed_terminal_is_invalid() {
    let mut process = with_terminals();
    process.ttys.pop();
    assert!(process.validate().is_err());
}
