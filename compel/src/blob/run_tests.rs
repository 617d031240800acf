//! Runs the real parasite blob in a forked child, without ptrace: the test
//! lays out the area (blob, header, sigframe) in a shared mapping, the
//! child jumps into the blob, and the test plays the host over the control
//! socket. Proves the protocol, the self-cure path and the sigframe builder
//! against the real kernel.

mod area;
mod child;
mod socket;

use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Mutex;

use area::{prepare, FrameAltstack, ALTSTACK_SIZE, DATA_PAGES, PAGE, RESUMED_OK};
use child::{spawn, wait, Start};
use socket::{command, inode, receive, send, seqpacket_pair};

use crate::infect::protocol::{Command, CommandKind, PageRange, Reply, TaskInfo};

/// Forking tests run one at a time.
static FORK_LOCK: Mutex<()> = Mutex::new(());

#[test]
fn parasite_serves_every_command_then_cures_itself_on_eof() {
    let _guard = FORK_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let (host, victim) = seqpacket_pair();
    let (mut area, layout, blob) = prepare(victim.as_raw_fd(), FrameAltstack::LeftToParasite);
    let child = spawn(&area, &layout, &blob, Start::Parasite, host.as_raw_fd());
    let (victim_fd, victim_inode) = (victim.as_raw_fd(), inode(victim.as_raw_fd()));
    drop(victim);
    let args = layout.header + 64;

    send(&host, command(CommandKind::Info, 0), None);
    assert_eq!(
        receive(&host).0,
        Reply {
            status: 0,
            value: 0
        }
    );
    let info: TaskInfo = area.read(args);
    assert_eq!((info.pid, info.tid), (child, child));
    assert_eq!(info.altstack.sp, area.addr(layout.altstack));
    assert_eq!(info.altstack.size, ALTSTACK_SIZE as u64);
    assert!(info.itimers[1].value.sec > 990, "{:?}", info.itimers);

    let mut fds = [-1; 2];
    // SAFETY: pipe writes two fds.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: both fds are fresh and ours.
    let (mut pipe_r, pipe_w) = unsafe {
        (
            std::fs::File::from_raw_fd(fds[0]),
            OwnedFd::from_raw_fd(fds[1]),
        )
    };
    send(
        &host,
        command(CommandKind::ReceivePipe, 0),
        Some(pipe_w.as_raw_fd()),
    );
    assert_eq!(receive(&host).0.status, 0);
    drop(pipe_w);

    let len = (DATA_PAGES * PAGE) as u64;
    area.write(
        args,
        PageRange {
            start: area.addr(layout.data),
            len,
        },
    );
    send(&host, command(CommandKind::DrainPages, 1), None);
    assert_eq!(
        receive(&host).0,
        Reply {
            status: 0,
            value: len
        }
    );
    let mut pages = vec![0u8; len as usize];
    pipe_r.read_exact(&mut pages).expect("pages from the pipe");
    assert!(pages.iter().all(|&b| b == 0xa5));

    area.write(args, [victim_fd, 9999]);
    send(&host, command(CommandKind::SendFds, 2), None);
    let (reply, got) = receive(&host);
    assert_eq!((reply.status, got.len()), (-libc::EBADF as i64, 0));
    send(&host, command(CommandKind::SendFds, 1), None);
    let (reply, got) = receive(&host);
    assert_eq!((reply.status, reply.value, got.len()), (0, 1, 1));
    assert_eq!(inode(got[0].as_raw_fd()), victim_inode);

    send(
        &host,
        Command {
            kind: 77,
            count: 0,
            arg: 0,
        },
        None,
    );
    assert_eq!(receive(&host).0.status, -libc::ENOSYS as i64);

    drop(host);
    let status = wait(child);
    assert!(libc::WIFEXITED(status), "status {status:#x}");
    assert_eq!(libc::WEXITSTATUS(status), RESUMED_OK);
}

#[test]
fn more_fds_than_a_message_holds_come_in_batches() {
    let _guard = FORK_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let (host, victim) = seqpacket_pair();
    let (mut area, layout, blob) = prepare(victim.as_raw_fd(), FrameAltstack::LeftToParasite);
    let child = spawn(&area, &layout, &blob, Start::Parasite, host.as_raw_fd());
    let fd = victim.as_raw_fd();
    drop(victim);
    area.write(layout.header + 64, [fd; 20]);
    send(&host, command(CommandKind::SendFds, 20), None);
    let (first, fds_first) = receive(&host);
    let (second, fds_second) = receive(&host);
    assert_eq!((first.status, first.value, fds_first.len()), (0, 16, 16));
    assert_eq!((second.status, second.value, fds_second.len()), (0, 4, 4));
    drop(host);
    assert_eq!(libc::WEXITSTATUS(wait(child)), RESUMED_OK);
}

#[test]
fn finish_replies_then_traps() {
    let _guard = FORK_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let (host, victim) = seqpacket_pair();
    let (area, layout, blob) = prepare(victim.as_raw_fd(), FrameAltstack::LeftToParasite);
    let child = spawn(&area, &layout, &blob, Start::Parasite, host.as_raw_fd());
    drop(victim);
    send(&host, command(CommandKind::Finish, 0), None);
    assert_eq!(receive(&host).0.status, 0);
    let status = wait(child);
    assert!(
        libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGTRAP,
        "{status:#x}"
    );
}

#[test]
fn fault_dies_of_sigsegv() {
    let _guard = FORK_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let (host, victim) = seqpacket_pair();
    let (area, layout, blob) = prepare(victim.as_raw_fd(), FrameAltstack::LeftToParasite);
    let child = spawn(&area, &layout, &blob, Start::Parasite, host.as_raw_fd());
    drop(victim);
    send(&host, command(CommandKind::Fault, 0), None);
    let status = wait(child);
    assert!(
        libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGSEGV,
        "{status:#x}"
    );
}

#[test]
fn area_trampoline_cures_a_task_left_mid_syscall() {
    let _guard = FORK_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let (host, victim) = seqpacket_pair();
    let (area, layout, blob) = prepare(victim.as_raw_fd(), FrameAltstack::Known);
    let child = spawn(&area, &layout, &blob, Start::Trampoline, host.as_raw_fd());
    let status = wait(child);
    assert!(libc::WIFEXITED(status), "status {status:#x}");
    assert_eq!(libc::WEXITSTATUS(status), RESUMED_OK);
}
