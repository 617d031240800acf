//! Terminals: `tty_file_entry` members of `files.img` (one per open file
//! description of a pty end), `tty-info.img` (one `tty_info_entry` per end,
//! type PTY, with its index, termios, window size, lock, packet and
//! exclusive modes, session and foreground group) and `tty-data.img` (the
//! bytes waiting to be read from an end, by its info id).
//!
//! The terminal of a shell job is written as CRIU writes it: a PTY slave
//! whose master no entry describes.

use std::collections::HashSet;
use std::io::ErrorKind;
use std::path::Path;

use super::error::{narrow, CodecError};
use crate::images::fdinfo::{FdTypes, FileEntry};
use crate::images::fown::FownEntry;
use crate::images::tty::{
    TermiosEntry, TtyDataEntry, TtyFileEntry, TtyInfoEntry, TtyPtyEntry, TtyType, WinsizeEntry,
};
use crate::images::{ImageDir, ImageError, ImageKind, ImageName};
use crate::snapshot::tty::{is_ptmx, slave_index, MAX_QUEUED, TERMIOS_NCC};
use crate::snapshot::{FileSnapshot, PtyEnd, Termios, TtyFile, TtyInfo, Winsize};

/// Most pty ends crust reads from one `tty-info.img`.
const MAX_TTYS: usize = 4096;

/// The `files.img` entry of a pty end's open file description.
pub(crate) fn tty_file_entry(id: u32, tty: &TtyFile) -> FileEntry {
    FileEntry {
        r#type: FdTypes::Tty as i32,
        id,
        tty: Some(TtyFileEntry {
            id,
            tty_info_id: tty.info_id,
            flags: tty.flags,
            fown: FownEntry::default(),
            regf_id: None,
        }),
        ..Default::default()
    }
}

/// Writes `tty-info.img` and `tty-data.img` for `ttys` (of one process or
/// of a whole tree); nothing when there are none.
pub fn write_ttys(dir: &ImageDir, ttys: &[TtyInfo]) -> Result<(), CodecError> {
    if ttys.is_empty() {
        return Ok(());
    }
    let infos: Vec<TtyInfoEntry> = ttys.iter().map(info_entry).collect();
    dir.write_entries(ImageName::fixed(ImageKind::TtyInfo), &infos)?;
    let data: Vec<TtyDataEntry> = ttys
        .iter()
        .filter(|tty| !tty.queued.is_empty())
        .map(|tty| TtyDataEntry {
            tty_id: tty.id,
            data: tty.queued.clone(),
        })
        .collect();
    if !data.is_empty() {
        dir.write_entries(ImageName::fixed(ImageKind::TtyData), &data)?;
    }
    Ok(())
}

fn info_entry(tty: &TtyInfo) -> TtyInfoEntry {
    let winsize = WinsizeEntry {
        ws_row: tty.winsize.rows.into(),
        ws_col: tty.winsize.cols.into(),
        ws_xpixel: tty.winsize.xpixel.into(),
        ws_ypixel: tty.winsize.ypixel.into(),
    };
    TtyInfoEntry {
        id: tty.id,
        r#type: TtyType::Pty as i32,
        locked: tty.locked,
        exclusive: tty.exclusive,
        packet_mode: tty.packet_mode,
        sid: tty.sid.max(0).unsigned_abs(),
        pgrp: tty.pgrp.max(0).unsigned_abs(),
        // CRIU keeps st_rdev in 32 bits; every pty's device number fits.
        rdev: u32::try_from(tty.rdev()).unwrap_or(u32::MAX),
        termios: Some(termios_entry(&tty.termios)),
        termios_locked: None,
        winsize: Some(winsize),
        pty: Some(TtyPtyEntry { index: tty.index }),
        ..Default::default()
    }
}

fn termios_entry(termios: &Termios) -> TermiosEntry {
    TermiosEntry {
        c_iflag: termios.iflag,
        c_oflag: termios.oflag,
        c_cflag: termios.cflag,
        c_lflag: termios.lflag,
        c_line: termios.line.into(),
        c_ispeed: termios.ispeed,
        c_ospeed: termios.ospeed,
        c_cc: termios.cc.iter().map(|&c| c.into()).collect(),
    }
}

/// A `files.img` entry of type TTY.
pub(crate) fn read_tty_file(path: &Path, entry: &FileEntry) -> Result<FileSnapshot, CodecError> {
    let id = entry.id;
    let bad = |why| CodecError::BadFile {
        path: path.into(),
        id,
        kind: "TTY".into(),
        why,
    };
    let tty = entry.tty.as_ref().ok_or(bad("has no tty member"))?;
    if tty.id != id {
        return Err(bad("has a tty member of another id"));
    }
    if tty.regf_id.is_some() {
        return Err(bad(
            "is a terminal opened by path (regf_id), which crust does not restore",
        ));
    }
    let tty = TtyFile {
        info_id: tty.tty_info_id,
        flags: tty.flags,
    };
    Ok(FileSnapshot::Tty { id, tty })
}

/// Reads `tty-info.img` and `tty-data.img`, which must exist when
/// `files.img` has terminals.
pub(crate) fn read_ttys(dir: &ImageDir, has_ttys: bool) -> Result<Vec<TtyInfo>, CodecError> {
    let name = ImageName::fixed(ImageKind::TtyInfo);
    let path = dir.file_path(name);
    let entries: Vec<TtyInfoEntry> = match dir.read_entries(name) {
        Err(ImageError::OpenFile { source, .. })
            if source.kind() == ErrorKind::NotFound && !has_ttys =>
        {
            return Ok(Vec::new())
        }
        read => read?,
    };
    if entries.len() > MAX_TTYS {
        let found = entries.len();
        let what = "tty entries";
        return Err(CodecError::BadLength {
            path,
            what,
            found,
            expected: MAX_TTYS,
        });
    }
    let mut ttys = entries
        .iter()
        .map(|entry| read_info(&path, entry))
        .collect::<Result<Vec<_>, _>>()?;
    read_queued(dir, &mut ttys)?;
    Ok(ttys)
}

fn read_info(path: &Path, entry: &TtyInfoEntry) -> Result<TtyInfo, CodecError> {
    let missing = |what| CodecError::MissingField {
        path: path.into(),
        what,
    };
    if entry.r#type != TtyType::Pty as i32 {
        return Err(CodecError::Format {
            path: path.into(),
            what: "tty type",
            found: entry.r#type.to_string(),
            expected: "PTY (1): crust restores pseudo-terminals only",
        });
    }
    let index = entry.pty.as_ref().ok_or(missing("pty member"))?.index;
    let rdev = u64::from(entry.rdev);
    let (major, minor) = (nix::sys::stat::major(rdev), nix::sys::stat::minor(rdev));
    let (major, minor) = (narrow(path, "rdev", major)?, narrow(path, "rdev", minor)?);
    let end = if is_ptmx(major, minor) {
        PtyEnd::Master
    } else if slave_index(major, minor) == Some(index) {
        PtyEnd::Slave
    } else {
        let value = rdev.into();
        let what = "rdev (neither /dev/ptmx nor the slave of the pty index)";
        return Err(CodecError::OutOfRange {
            path: path.into(),
            what,
            value,
        });
    };
    let termios = entry.termios.as_ref().ok_or(missing("termios"))?;
    let winsize = entry.winsize.as_ref().ok_or(missing("winsize"))?;
    Ok(TtyInfo {
        id: entry.id,
        index,
        end,
        locked: entry.locked,
        exclusive: entry.exclusive,
        packet_mode: entry.packet_mode,
        sid: narrow(path, "tty sid", entry.sid)?,
        pgrp: narrow(path, "tty pgrp", entry.pgrp)?,
        termios: read_termios(path, termios)?,
        winsize: Winsize {
            rows: narrow(path, "winsize rows", winsize.ws_row)?,
            cols: narrow(path, "winsize columns", winsize.ws_col)?,
            xpixel: narrow(path, "winsize width", winsize.ws_xpixel)?,
            ypixel: narrow(path, "winsize height", winsize.ws_ypixel)?,
        },
        queued: Vec::new(),
    })
}

fn read_termios(path: &Path, entry: &TermiosEntry) -> Result<Termios, CodecError> {
    if entry.c_cc.len() != TERMIOS_NCC {
        let found = entry.c_cc.len();
        let (path, what) = (path.into(), "termios c_cc");
        let expected = TERMIOS_NCC;
        return Err(CodecError::BadLength {
            path,
            what,
            found,
            expected,
        });
    }
    let mut cc = [0u8; TERMIOS_NCC];
    for (slot, &value) in cc.iter_mut().zip(&entry.c_cc) {
        *slot = narrow(path, "termios control character", value)?;
    }
    Ok(Termios {
        iflag: entry.c_iflag,
        oflag: entry.c_oflag,
        cflag: entry.c_cflag,
        lflag: entry.c_lflag,
        line: narrow(path, "termios line discipline", entry.c_line)?,
        cc,
        ispeed: entry.c_ispeed,
        ospeed: entry.c_ospeed,
    })
}

/// Puts the bytes of `tty-data.img` (if there is one) on the ends they wait on.
fn read_queued(dir: &ImageDir, ttys: &mut [TtyInfo]) -> Result<(), CodecError> {
    let name = ImageName::fixed(ImageKind::TtyData);
    let path = dir.file_path(name);
    let entries: Vec<TtyDataEntry> = match dir.read_entries(name) {
        Err(ImageError::OpenFile { source, .. }) if source.kind() == ErrorKind::NotFound => {
            return Ok(())
        }
        read => read?,
    };
    let mut seen = HashSet::new();
    for entry in entries {
        if !seen.insert(entry.tty_id) {
            let id = entry.tty_id.into();
            let what = "tty id";
            return Err(CodecError::DuplicateId { path, what, id });
        }
        if entry.data.len() > MAX_QUEUED {
            let value = entry.data.len() as i128;
            let what = "queued tty bytes";
            return Err(CodecError::OutOfRange { path, what, value });
        }
        let tty = ttys.iter_mut().find(|t| t.id == entry.tty_id);
        let tty = tty.ok_or(CodecError::OutOfRange {
            path: path.clone(),
            what: "tty id of queued bytes (no such tty)",
            value: entry.tty_id.into(),
        })?;
        tty.queued = entry.data;
    }
    Ok(())
}
