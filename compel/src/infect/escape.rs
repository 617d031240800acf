//! A way back for the first remote syscalls, should the tool die while they run.
//!
//! The first syscalls (the area's mmap, or open, mmap and close of the host's memfd) run
//! before the area exists, so before the parasite's self-cure. Where it can, compel runs them
//! from the vDSO's padding (the zero bytes after its code, which nothing executes) through
//! `syscall; rt_sigreturn`, with an rt_sigframe of the leader's saved state written below its
//! stack's red zone. A tool dying at any point leaves the leader to finish the syscall it is
//! in and return to its own registers, mask and xsave state, leaking at most the mapping or
//! fd of that syscall; its code is never touched. Where it cannot (no vDSO, no room, a frame
//! not on writable memory), compel falls back to `syscall; int3` over the
//! leader's code.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};

use arch::x86_64::sigframe;
use arch::x86_64::trampoline::{syscall_sigreturn, SYSCALL_SIGRETURN_LEN};
use nix::unistd::Pid;

use super::victim::SeizedThread;

/// The x86_64 red zone below the stack pointer, which the leader's code may be using.
const RED_ZONE: u64 = 128;

/// The way back, in place: the trampoline in the vDSO, the frame on the stack, and what was
/// there before each, to put back.
#[derive(Debug)]
pub(super) struct Escape {
    /// Where the code goes (and the bytes after it, such as the memfd path).
    pub at: u64,
    /// The trampoline: `syscall; mov rsp, frame + 8; mov eax, 15; syscall`.
    pub code: [u8; SYSCALL_SIGRETURN_LEN],
    frame_at: u64,
    old_stack: Vec<u8>,
}

impl Escape {
    /// Prepares the way back for `leader` of `pid`, with `extra` bytes of room after the code:
    /// writes the frame below its stack (keeping what was there). `None` when it cannot.
    pub(super) fn prepare(pid: Pid, leader: &SeizedThread, extra: usize) -> Option<Escape> {
        let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).ok()?;
        let at = vdso_room(pid, &maps, SYSCALL_SIGRETURN_LEN + extra)?;
        // Placed for the largest frame the leader's xsave area makes, then built once there.
        let room = sigframe::max_size(leader.xstate.len()) as u64;
        let rsp = leader.regs.rsp;
        let frame_at = rsp.checked_sub(RED_ZONE + room)? & !63;
        if !writable(&maps, frame_at, rsp) {
            return None;
        }
        let frame = leader.cure_frame(pid, frame_at).ok()?;
        let code = syscall_sigreturn(frame_at)?;
        let mut mem = open_mem(pid)?;
        let mut old_stack = vec![0u8; frame.len()];
        mem.seek(SeekFrom::Start(frame_at)).ok()?;
        mem.read_exact(&mut old_stack).ok()?;
        mem.seek(SeekFrom::Start(frame_at)).ok()?;
        mem.write_all(&frame).ok()?;
        Some(Escape {
            at,
            code,
            frame_at,
            old_stack,
        })
    }

    /// Puts back the stack bytes the frame took (best effort, logged).
    pub(super) fn put_back(self, pid: Pid) {
        let written = open_mem(pid).and_then(|mut mem| {
            mem.seek(SeekFrom::Start(self.frame_at)).ok()?;
            mem.write_all(&self.old_stack).ok()
        });
        if written.is_none() {
            log::warn!(
                "pid {pid}: cannot put back {} stack bytes at {:#x}",
                self.old_stack.len(),
                self.frame_at
            );
        }
    }
}

fn open_mem(pid: Pid) -> Option<File> {
    let path = format!("/proc/{pid}/mem");
    File::options().read(true).write(true).open(path).ok()
}

/// A 16-byte aligned address in the zero padding after the vDSO's last non-zero byte with
/// `len` bytes of room, read through /proc/PID/mem.
fn vdso_room(pid: Pid, maps: &str, len: usize) -> Option<u64> {
    let line = maps.lines().find(|line| line.ends_with("[vdso]"))?;
    let range = line.split_whitespace().next()?;
    let (start, end) = range.split_once('-')?;
    let start = u64::from_str_radix(start, 16).ok()?;
    let end = u64::from_str_radix(end, 16).ok()?;
    let mut bytes = vec![0u8; usize::try_from(end.checked_sub(start)?).ok()?];
    let mut mem = File::open(format!("/proc/{pid}/mem")).ok()?;
    mem.seek(SeekFrom::Start(start)).ok()?;
    mem.read_exact(&mut bytes).ok()?;
    let used = bytes.iter().rposition(|&byte| byte != 0)? + 1;
    let at = start + (used as u64).next_multiple_of(16) + 16;
    (at.checked_add(len as u64)? <= end).then_some(at)
}

/// Whether one writable mapping of `maps` holds all of `from..to`.
fn writable(maps: &str, from: u64, to: u64) -> bool {
    maps.lines().any(|line| {
        let mut fields = line.split_whitespace();
        let (Some(range), Some(perms)) = (fields.next(), fields.next()) else {
            return false;
        };
        let Some((start, end)) = range.split_once('-') else {
            return false;
        };
        let parse = |hex| u64::from_str_radix(hex, 16).ok();
        matches!((parse(start), parse(end)), (Some(start), Some(end))
            if start <= from && to <= end && perms.starts_with("rw"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAPS: &str = "7ffd0000-7ffd2000 rw-p 00000000 00:00 0 [stack]\n\
                        7ffe0000-7ffe2000 r-xp 00000000 00:00 0 [vdso]\n";

    #[test]
    fn the_frame_must_lie_in_one_writable_mapping() {
        assert!(writable(MAPS, 0x7ffd_1000, 0x7ffd_1f00));
        assert!(!writable(MAPS, 0x7ffc_ff00, 0x7ffd_0100));
        assert!(!writable(MAPS, 0x7ffe_0000, 0x7ffe_0100));
    }
}
