//! The low layers alone: seize a sleeping process, run syscalls in it through
//! a trampoline written over its code, put everything back, release it.

use std::process::{Child, Command};
use std::time::Duration;

use compel::ptrace::Tracee;
use compel::remote::RemoteError;
use compel::restart;
use nix::sys::ptrace::Options;
use nix::unistd::Pid;

struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn state_of(pid: u32) -> char {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let line = status
        .lines()
        .find(|l| l.starts_with("State:"))
        .unwrap_or("State: ?");
    line["State:".len()..].trim().chars().next().unwrap_or('?')
}

#[test]
fn remote_syscalls_in_a_sleeping_process_leave_it_sleeping() {
    let child = Reaped(
        Command::new("sleep")
            .arg("1000")
            .spawn()
            .expect("spawn sleep"),
    );
    let pid = Pid::from_raw(child.0.id() as i32);
    std::thread::sleep(Duration::from_millis(100));

    let mut tracee = Tracee::seize(pid).expect("seize");
    let saved = tracee.regs().expect("regs");
    let trampoline = saved.rip & !7;
    let code = tracee
        .replace_bytes(trampoline, &[0x0f, 0x05, 0xcc])
        .expect("write trampoline");

    let no_args = [0; 6];
    assert_eq!(
        tracee.syscall(trampoline, libc::SYS_getpid, no_args).ok(),
        Some(pid.as_raw() as i64)
    );
    let prot = (libc::PROT_READ | libc::PROT_WRITE) as u64;
    let flags = (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS) as u64;
    let mmap_args = [0, 4096, prot, flags, u64::MAX, 0];
    let area = tracee
        .syscall_checked(trampoline, libc::SYS_mmap, mmap_args)
        .expect("mmap");
    assert_eq!(area & 0xfff, 0);
    let munmap = tracee.syscall_checked(trampoline, libc::SYS_munmap, [area, 4096, 0, 0, 0, 0]);
    assert_eq!(munmap.ok(), Some(0));
    let bad = tracee.syscall_checked(trampoline, libc::SYS_munmap, [area + 1, 4096, 0, 0, 0, 0]);
    assert_eq!(
        bad.map_err(|e| e.to_string())
            .err()
            .as_deref()
            .map(|s| s.ends_with("remote munmap failed: EINVAL: Invalid argument")),
        Some(true)
    );

    tracee
        .replace_bytes(trampoline, &code)
        .expect("restore code");
    tracee
        .set_regs(&restart::for_direct_resume(&saved))
        .expect("restore regs");
    tracee.detach().expect("detach");

    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(state_of(child.0.id()), 'S');
}

#[test]
fn a_child_forked_by_a_remote_syscall_is_adopted_and_driven() {
    let child = Reaped(
        Command::new("sleep")
            .arg("1000")
            .spawn()
            .expect("spawn sleep"),
    );
    let pid = Pid::from_raw(child.0.id() as i32);
    std::thread::sleep(Duration::from_millis(100));

    let mut tracee = Tracee::seize(pid).expect("seize");
    let saved = tracee.regs().expect("regs");
    let trampoline = saved.rip & !7;
    let code = tracee
        .replace_bytes(trampoline, &[0x0f, 0x05, 0xcc])
        .expect("write trampoline");
    tracee
        .set_options(Options::PTRACE_O_TRACEFORK)
        .expect("PTRACE_O_TRACEFORK");

    let forked = tracee
        .syscall_checked(trampoline, libc::SYS_fork, [0; 6])
        .expect("remote fork");
    let forked = Pid::from_raw(forked as i32);
    assert_eq!(tracee.take_children(), [forked]);
    let mut grandchild = Tracee::from_new_child_thread(forked).expect("adopt");
    assert_eq!(grandchild.regs().map(|regs| regs.rax).ok(), Some(0));
    let parent = grandchild.syscall(trampoline, libc::SYS_getppid, [0; 6]);
    assert_eq!(parent.ok(), Some(pid.as_raw() as i64));
    let exit = grandchild.syscall(trampoline, libc::SYS_exit_group, [0; 6]);
    assert!(matches!(exit, Err(RemoteError::Exited { .. })), "{exit:?}");

    tracee
        .replace_bytes(trampoline, &code)
        .expect("restore code");
    tracee
        .set_regs(&restart::for_direct_resume(&saved))
        .expect("restore regs");
    tracee.detach().expect("detach");
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(state_of(child.0.id()), 'S');
}
