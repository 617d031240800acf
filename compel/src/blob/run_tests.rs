//! Runs the real parasite blob in a forked child, without ptrace: the test
//! lays out the area (blob, header, sigframe) in a shared mapping, the
//! child jumps into the blob, and the test plays the host over the control
//! socket. Proves the protocol, the self-cure path and the sigframe builder
//! against the real kernel.

use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Mutex;

use arch::x86_64::sigframe::{self, FpuState, UcStack};
use arch::x86_64::{cpuid, trampoline, UserRegs, USER_CS, USER_DS};

use super::tests::blob;
use super::*;
use crate::infect::protocol::{self, AreaHeader, Command, CommandKind, PageRange, Reply, TaskInfo};

/// Forking tests run one at a time.
static FORK_LOCK: Mutex<()> = Mutex::new(());

const PAGE: usize = 4096;
const HEADER_PAGES: usize = 2;
const DATA_PAGES: usize = 2;
const STACK_SIZE: usize = 64 * 1024;
const ALTSTACK_SIZE: usize = 64 * 1024;
const TRAMPOLINE_PAGE: usize = PAGE;
const FRAME_MASK: u64 = (1 << (libc::SIGUSR1 - 1)) | (1 << (libc::SIGUSR2 - 1));
const RESUMED_OK: i32 = 42;

/// Offsets of the parts of the test area.
struct Layout {
    header: usize,
    data: usize,
    stack_top: usize,
    resume_stack_top: usize,
    altstack: usize,
    trampoline: usize,
    sigframe: usize,
    size: usize,
}

impl Layout {
    fn new(image_size: usize, frame_size: usize) -> Layout {
        let header = image_size;
        let data = header + HEADER_PAGES * PAGE;
        let stack_top = data + DATA_PAGES * PAGE + STACK_SIZE;
        let resume_stack_top = stack_top + STACK_SIZE;
        let altstack = resume_stack_top;
        let trampoline = altstack + ALTSTACK_SIZE;
        let sigframe = trampoline + TRAMPOLINE_PAGE;
        let size = (sigframe + frame_size).next_multiple_of(PAGE);
        Layout {
            header,
            data,
            stack_top,
            resume_stack_top,
            altstack,
            trampoline,
            sigframe,
            size,
        }
    }
}

/// A shared RWX mapping seen by the test and the forked child alike.
struct Area {
    base: *mut u8,
    len: usize,
}

impl Area {
    fn map(len: usize) -> Area {
        let prot = libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC;
        let flags = libc::MAP_SHARED | libc::MAP_ANONYMOUS;
        // SAFETY: a fresh mapping at an address the kernel picks.
        let base = unsafe { libc::mmap(std::ptr::null_mut(), len, prot, flags, -1, 0) };
        assert_ne!(base, libc::MAP_FAILED);
        Area {
            base: base.cast(),
            len,
        }
    }

    fn addr(&self, offset: usize) -> u64 {
        self.base as u64 + offset as u64
    }

    fn bytes(&mut self) -> &mut [u8] {
        // SAFETY: the mapping is len bytes, readable and writable, and only
        // this struct hands out views of it.
        unsafe { std::slice::from_raw_parts_mut(self.base, self.len) }
    }

    fn write<T: Copy>(&mut self, offset: usize, value: T) {
        assert!(offset + size_of::<T>() <= self.len);
        // SAFETY: in bounds (checked above); unaligned write of plain data.
        unsafe { self.base.add(offset).cast::<T>().write_unaligned(value) };
    }

    fn read<T: Copy>(&self, offset: usize) -> T {
        assert!(offset + size_of::<T>() <= self.len);
        // SAFETY: in bounds (checked above); T is a plain protocol struct.
        unsafe { self.base.add(offset).cast::<T>().read_unaligned() }
    }
}

impl Drop for Area {
    fn drop(&mut self) {
        // SAFETY: the mapping is ours and no view of it outlives self.
        unsafe { libc::munmap(self.base.cast(), self.len) };
    }
}

/// The registers the self-cure returns to: `resumed(FRAME_MASK, altstack)`
/// on a stack of its own.
fn resume_regs(area: &Area, layout: &Layout) -> UserRegs {
    UserRegs {
        rip: resumed as *const () as u64,
        rsp: area.addr(layout.resume_stack_top) - 8,
        rdi: FRAME_MASK,
        rsi: area.addr(layout.altstack),
        cs: USER_CS,
        ss: USER_DS,
        eflags: 0x202,
        orig_rax: u64::MAX,
        ..UserRegs::default()
    }
}

/// An xsave area in the init state but for valid x87/SSE control words.
fn init_xsave() -> (Vec<u8>, u64) {
    let info = cpuid::xstate_info().expect("this machine uses xsave");
    let mut xsave = vec![0u8; info.size as usize];
    xsave[0..2].copy_from_slice(&0x037fu16.to_le_bytes());
    xsave[24..28].copy_from_slice(&0x1f80u32.to_le_bytes());
    xsave[512..520].copy_from_slice(&3u64.to_le_bytes());
    (xsave, info.xfeatures)
}

/// How the test host fills the frame's `uc_stack`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum FrameAltstack {
    /// "Disabled", leaving it to the parasite to copy the real one in.
    LeftToParasite,
    /// The altstack the child will install, as a host that knows it would.
    Known,
}

/// Builds the whole area: blob, header, data pattern, sigframe, trampoline.
fn prepare(control_fd: i32, altstack: FrameAltstack) -> (Area, Layout, Blob) {
    let blob = blob();
    let (xsave, xfeatures) = init_xsave();
    let layout = Layout::new(blob.image_size() as usize, sigframe::max_size(xsave.len()));
    let mut area = Area::map(layout.size);
    let base = area.addr(0);

    blob.image_for(base, area.bytes()).expect("layout");
    let frame_addr = area.addr(layout.sigframe).next_multiple_of(64);
    let sigframe = blob.symbol(protocol::SIGFRAME_SYMBOL).expect("slot");
    area.write(sigframe as usize, frame_addr);

    let header = AreaHeader {
        magic: protocol::AREA_MAGIC,
        version: protocol::PROTOCOL_VERSION,
        control_fd,
        args_offset: 64,
        args_size: (HEADER_PAGES * PAGE - 64) as u64,
        sigframe_offset: frame_addr - area.addr(layout.header),
    };
    area.write(layout.header, header);
    area.bytes()[layout.data..layout.data + DATA_PAGES * PAGE].fill(0xa5);

    let regs = resume_regs(&area, &layout);
    let frame_off = (frame_addr - base) as usize;
    let fpu = FpuState {
        xsave: &xsave,
        xfeatures,
    };
    let frame = &mut area.bytes()[frame_off..];
    let built = match altstack {
        FrameAltstack::LeftToParasite => sigframe::build(frame, frame_addr, &regs, fpu, FRAME_MASK),
        FrameAltstack::Known => {
            let stack = UcStack {
                ss_sp: regs.rsi,
                ss_size: ALTSTACK_SIZE as u64,
                ..UcStack::default()
            };
            sigframe::build_with_altstack(frame, frame_addr, &regs, fpu, FRAME_MASK, stack)
        }
    };
    built.expect("frame");

    let selfcure = base + blob.symbol(protocol::SELFCURE_SYMBOL).expect("selfcure");
    let jmp = trampoline::syscall_jmp(area.addr(layout.trampoline), selfcure).expect("reach");
    area.bytes()[layout.trampoline..layout.trampoline + jmp.len()].copy_from_slice(&jmp);
    (area, layout, blob)
}

/// Where the self-cure lands: checks the restored mask and altstack, exits.
extern "C" fn resumed(expected_mask: u64, altstack: u64) -> ! {
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
enum Start {
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
fn spawn(area: &Area, layout: &Layout, blob: &Blob, start: Start, host: i32) -> libc::pid_t {
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
fn wait(pid: libc::pid_t) -> i32 {
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

fn seqpacket_pair() -> (OwnedFd, OwnedFd) {
    let mut sv = [-1; 2];
    // SAFETY: socketpair writes two fds into sv.
    let rc = unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_SEQPACKET, 0, sv.as_mut_ptr()) };
    assert_eq!(rc, 0);
    let timeout = libc::timeval {
        tv_sec: 10,
        tv_usec: 0,
    };
    let len = size_of::<libc::timeval>() as libc::socklen_t;
    let opt = libc::SO_RCVTIMEO;
    // SAFETY: sets a receive timeout on our own socket from a timeval.
    let rc = unsafe {
        libc::setsockopt(
            sv[0],
            libc::SOL_SOCKET,
            opt,
            (&timeout as *const libc::timeval).cast(),
            len,
        )
    };
    assert_eq!(rc, 0);
    // SAFETY: both fds are fresh and owned by nobody else.
    unsafe { (OwnedFd::from_raw_fd(sv[0]), OwnedFd::from_raw_fd(sv[1])) }
}

/// Sends a command, with `fd` attached if given.
fn send(sock: &OwnedFd, command: Command, fd: Option<i32>) {
    let mut space = [0u64; 4];
    let mut iov = libc::iovec {
        iov_base: &command as *const _ as *mut _,
        iov_len: 16,
    };
    // SAFETY: msghdr is plain data; zeroes are valid.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if let Some(fd) = fd {
        msg.msg_control = space.as_mut_ptr().cast();
        // SAFETY: pure arithmetic.
        msg.msg_controllen = unsafe { libc::CMSG_SPACE(4) } as usize;
        // SAFETY: the control buffer has room for one cmsg of 4 bytes.
        unsafe {
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN(4) as usize;
            libc::CMSG_DATA(cmsg).cast::<i32>().write_unaligned(fd);
        }
    }
    // SAFETY: msg points at `command`, `iov` and `space`, all alive.
    assert_eq!(unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, 0) }, 16);
}

/// Receives a reply and the fds that came with it.
fn receive(sock: &OwnedFd) -> (Reply, Vec<OwnedFd>) {
    let mut reply = Reply::default();
    let mut space = [0u64; 16];
    let mut iov = libc::iovec {
        iov_base: &mut reply as *mut _ as *mut _,
        iov_len: 16,
    };
    // SAFETY: msghdr is plain data; zeroes are valid.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = space.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&space);
    let flags = libc::MSG_CMSG_CLOEXEC;
    // SAFETY: msg points at `reply`, `iov` and `space`, all alive.
    let got = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, flags) };
    assert_eq!(got, 16);
    let mut fds = Vec::new();
    // SAFETY: walks the control buffer the kernel just filled, as sized by
    // msg_controllen; each SCM_RIGHTS fd is new and ours.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            let n = ((*cmsg).cmsg_len as usize - libc::CMSG_LEN(0) as usize) / 4;
            for i in 0..n {
                let fd = libc::CMSG_DATA(cmsg).cast::<i32>().add(i).read_unaligned();
                fds.push(OwnedFd::from_raw_fd(fd));
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    (reply, fds)
}

fn command(kind: CommandKind, count: u32) -> Command {
    Command {
        kind: kind as u32,
        count,
        arg: 0,
    }
}

fn inode(fd: i32) -> u64 {
    // SAFETY: stat is plain data; fstat fills it.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat writes one struct stat.
    assert_eq!(unsafe { libc::fstat(fd, &mut st) }, 0);
    st.st_ino
}

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
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
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
