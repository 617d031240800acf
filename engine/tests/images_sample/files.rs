//! File images of the sample: open files and the fd table.

use engine::images::eventfd::EventfdFileEntry;
use engine::images::fdinfo::{FdTypes, FdinfoEntry, FileEntry};
use engine::images::fown::FownEntry;
use engine::images::pipe::PipeEntry;
use engine::images::regfile::RegFileEntry;

use super::{CWD_ID, EVENTFD_ID, EXE_ID, LOG_ID, PIPE_INODE, PIPE_R_ID, PIPE_W_ID, ROOT_ID};

fn fown() -> FownEntry {
    FownEntry {
        uid: 0,
        euid: 0,
        signum: 0,
        pid_type: 0,
        pid: 0,
    }
}

fn reg(id: u32, name: &str, flags: u32, pos: u64, mode: u32) -> FileEntry {
    FileEntry {
        r#type: FdTypes::Reg as i32,
        id,
        reg: Some(RegFileEntry {
            id,
            flags,
            pos,
            fown: fown(),
            name: name.into(),
            mnt_id: Some(22),
            size: Some(16384),
            mode: Some(mode),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn pipe(id: u32, flags: u32) -> FileEntry {
    FileEntry {
        r#type: FdTypes::Pipe as i32,
        id,
        pipe: Some(PipeEntry {
            id,
            pipe_id: PIPE_INODE,
            flags,
            fown: fown(),
        }),
        ..Default::default()
    }
}

pub fn files() -> Vec<FileEntry> {
    const O_WRONLY: u32 = 0o1;
    const O_APPEND: u32 = 0o2000;
    const O_LARGEFILE: u32 = 0o100000;
    const O_DIRECTORY: u32 = 0o200000;
    vec![
        reg(EXE_ID, "/usr/bin/sample-app", O_LARGEFILE, 0, 0o100755),
        reg(
            LOG_ID,
            "/var/log/sample.log",
            O_WRONLY | O_APPEND | O_LARGEFILE,
            4096,
            0o100644,
        ),
        pipe(PIPE_R_ID, 0),
        pipe(PIPE_W_ID, O_WRONLY),
        reg(ROOT_ID, "/", O_DIRECTORY | O_LARGEFILE, 0, 0o40755),
        reg(CWD_ID, "/home/user", O_DIRECTORY | O_LARGEFILE, 0, 0o40755),
        FileEntry {
            r#type: FdTypes::Eventfd as i32,
            id: EVENTFD_ID,
            efd: Some(EventfdFileEntry {
                id: EVENTFD_ID,
                flags: 0o2,
                fown: fown(),
                counter: 5,
            }),
            ..Default::default()
        },
    ]
}

pub fn fdinfo() -> Vec<FdinfoEntry> {
    let fd = |fd, id, kind: FdTypes| FdinfoEntry {
        id,
        flags: 0,
        r#type: kind as i32,
        fd,
        xattr_security_selinux: None,
    };
    vec![
        fd(0, LOG_ID, FdTypes::Reg),
        fd(1, LOG_ID, FdTypes::Reg),
        fd(2, EVENTFD_ID, FdTypes::Eventfd),
        fd(3, PIPE_R_ID, FdTypes::Pipe),
        fd(4, PIPE_W_ID, FdTypes::Pipe),
    ]
}
