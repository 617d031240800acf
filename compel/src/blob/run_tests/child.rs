//! The forked child: sets up its signal state as a host would, enters the
//! area, and ends in `resumed` once the sigframe brings it back.

use super::area::{Area, Layout, ALTSTACK_SIZE, RESUMED_OK};
use crate::blob::Blob;

/// Where the self-cure lands: checks the restored mask and altstack, exits.
pub(super) extern "C" fn resumed(expected_mask: u64, altstack: u64) -> ! {
    let mut mask = 0u64;
    // SAFETY: a NULL new set: the kernel writes 8 bytes into `mask`.
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_BLOCK,
            0usize,
            &mut mask,
            8usize,
        )
    };
    // SAFETY: stack_t is plain data; all zeroes is valid.
    let mut stack: libc::stack_t = unsafe { std::mem::zeroed() };
    // SAFETY: a NULL new stack: the kernel writes into `stack`.
    unsafe { libc::sigaltstack(std::ptr::null(), &mut stack) };
    let code = if mask != expected_mask {
        43
    } else if stack.ss_sp as u64 != altstack || stack.ss_size != ALTSTACK_SIZE {
        44
    } else {
        RESUMED_OK
    };
    // SAFETY: _exit is async-signal-safe and ends the forked child.
    unsafe { libc::_exit(code) }
}

/// How the child enters the area.
#[derive(Clone, Copy)]
pub(super) enum Start {
    /// At the blob entry, as the host starts the parasite.
    Parasite,
    /// At the area trampoline with a getpid in rax, as a task released
    /// mid-syscall by a dead host.
    Trampoline,
}

/// Forks a child that sets up its signal state as a host would (every
/// signal blocked, an altstack, a virtual timer) and enters the area.
/// The child closes `host`, its copy of the test's end of the socket, so
/// that the test closing its own end is an EOF for the parasite.
pub(super) fn spawn(
    area: &Area,
    layout: &Layout,
    blob: &Blob,
    start: Start,
    host: i32,
) -> libc::pid_t {
    // SAFETY: the child only makes raw syscalls and jumps into the area.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid > 0 {
        return pid;
    }
    // SAFETY: closes the child's copy of an fd it does not use.
    unsafe { libc::close(host) };
    let stack = libc::stack_t {
        ss_sp: area.addr(layout.altstack) as *mut libc::c_void,
        ss_flags: 0,
        ss_size: ALTSTACK_SIZE,
    };
    let timer = libc::itimerval {
        it_interval: libc::timeval {
            tv_sec: 0,
            tv_usec: 0,
        },
        it_value: libc::timeval {
            tv_sec: 1000,
            tv_usec: 0,
        },
    };
    let all = u64::MAX;
    // SAFETY: plain syscalls on structs on this stack; the altstack lies in
    // the area, which stays mapped in the child.
    unsafe {
        libc::sigaltstack(&stack, std::ptr::null_mut());
        libc::setitimer(libc::ITIMER_VIRTUAL, &timer, std::ptr::null_mut());
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            &all,
            0usize,
            8usize,
        );
    }
    let (rip, rax) = match start {
        Start::Parasite => (area.addr(0) + blob.entry(), 0),
        Start::Trampoline => (area.addr(layout.trampoline), libc::SYS_getpid as u64),
    };
    let rsp = area.addr(layout.stack_top) - 8;
    let rdi = area.addr(layout.header);
    // SAFETY: the area holds the relocated blob, its header and a sigframe
    // that ends the child through `resumed`; nothing returns here.
    unsafe {
        std::arch::asm!("mov rsp, {rsp}", "jmp {rip}", rsp = in(reg) rsp, rip = in(reg) rip,
            in("rdi") rdi, in("rax") rax, options(noreturn));
    }
}

/// Reaps the child; kills it and fails if it takes more than 10 s.
pub(super) fn wait(pid: libc::pid_t) -> i32 {
    let mut status = 0;
    for _ in 0..1000 {
        // SAFETY: polls our own child.
        match unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } {
            0 => std::thread::sleep(std::time::Duration::from_millis(10)),
            got => {
                assert_eq!(got, pid);
                return status;
            }
        }
    }
    // SAFETY: our own child, by pid; then reaped.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
        libc::waitpid(pid, &mut status, 0);
    }
    panic!("child {pid} did not end within 10 s");
}
