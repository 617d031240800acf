//! compel: seize a live process, run syscalls in it, load a parasite into it,
//! and cure it so that it carries on as if nothing happened.
//!
//! Layers, each usable on its own:
//!
//! - [`ptrace`]: a [`ptrace::Tracee`] is one thread under `PTRACE_SEIZE`:
//!   registers, xsave area, signal mask, memory words, classified stops.
//! - [`remote`]: [`ptrace::Tracee::syscall`] runs one syscall in a stopped
//!   thread through a trampoline and stops at its exit.
//! - [`infect`]: a [`Victim`] is a whole process seized; an [`Infection`]
//!   has a shared area mapped in it; a [`Parasite`] runs the blob there and
//!   answers commands (task info, pages, file descriptors).
//! - [`signals`]: a [`signals::TerminationGuard`] turns SIGINT, SIGTERM,
//!   SIGHUP and SIGQUIT into a cure followed by the same signal.
//! - [`blob`]: the parasite blob, parsed and relocated.
//!
//! # Infect, run, cure
//!
//! ```no_run
//! use compel::infect::{DrainSink, PageRange};
//! use compel::signals::TerminationGuard;
//! use compel::Victim;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let pid = nix::unistd::Pid::from_raw(1234);
//! let _termination = TerminationGuard::new()?; // dropped last: cure, then die
//!
//! let victim = Victim::seize(pid)?; // every thread stopped, state saved
//! let mut infection = victim.infect()?; // shared area mapped in the victim
//! let remote_pid = infection.syscall(libc::SYS_getpid, [0; 6])?;
//! assert_eq!(remote_pid, 1234);
//!
//! let mut parasite = infection.start_parasite()?; // blob runs in the leader
//! let info = parasite.info()?;
//! println!("tid {} sigaltstack at {:#x}", info.tid, info.altstack.sp);
//! let mut pages = Vec::new();
//! let mut sink = |chunk: &[u8]| {
//!     pages.extend_from_slice(chunk);
//!     Ok(())
//! };
//! let range = PageRange { start: 0x7f00_0000_0000, len: 4096 };
//! parasite.drain(&[range], DrainSink::Callback(&mut sink))?;
//! let fds = parasite.take_fds(&[0, 1, 2])?; // the victim's stdio, now ours
//! # drop(fds);
//!
//! parasite.cure()?; // unmap, restore every thread, detach
//! # Ok(()) }
//! ```
//!
//! Each stage cures in `Drop` as well (best effort, failures logged); the
//! explicit `cure()` returns the error. A parasite that crashes is cured on
//! the spot and reported as [`ParasiteError::Crashed`] (thread, signal, rip).
//!
//! # How the area is shared
//!
//! compel and the victim share one memory area, mapped on both sides. By
//! default ([`infect::AreaSharing::Auto`]) the victim maps anonymous shared
//! memory and compel opens it through `/proc/PID/map_files/START-END`,
//! which the kernel allows only to a tool holding CAP_CHECKPOINT_RESTORE or
//! CAP_SYS_ADMIN. A tool without them (an ordinary user infecting its own
//! processes) gets the other way: compel creates a memfd of the area's
//! size, the victim opens it as `/proc/TOOL/fd/N`, maps it `MAP_SHARED` and
//! closes that fd, all three calls within the first code-trampoline window,
//! and compel maps its own memfd. The memfd way costs two more remote
//! syscalls and a memfd: 0.05 to 0.09 ms more per infection on a shared
//! 2-core VM (median seize, infect and cure 0.25 against 0.20 ms, 0.51
//! against 0.42 ms under heavier load, as `examples/bench.rs`
//! measures), keeps the victim longer in the window where a SIGKILL of the
//! tool harms it, and needs the victim to see the tool's `/proc` entry; so
//! map_files stays the default where it is open. Either way a failure
//! leaves no fd and no mapping in the victim. Choose with
//! [`InfectOptions::sharing`].
//!
//! # What the victim sees
//!
//! Registers, the xsave area (x87, SSE, AVX, AVX-512 state), the signal mask
//! and pending signals are as before. A thread stopped inside an
//! interruptible syscall re-enters it: `read` goes on waiting, `nanosleep`
//! finishes its time through `restart_syscall`, and an `epoll_wait` without
//! timeout that the seize turned into EINTR is re-entered too (with a finite
//! timeout the EINTR stays, as after SIGSTOP and SIGCONT). A process that was
//! stopped by SIGSTOP is stopped again after the cure and goes on at SIGCONT.
//! Signals that arrive during the infection wait in the pending set and are
//! delivered after the cure.
//!
//! # If the tool dies
//!
//! SIGINT, SIGTERM, SIGHUP and SIGQUIT under a [`signals::TerminationGuard`]
//! cure the victim first: compel checks at each step and the guards unwind.
//! SIGKILL cannot be caught; what the victim gets depends on the moment:
//!
//! 1. While seizing and between steps, the kernel detaches the threads and
//!    they run on unchanged (leaked: nothing).
//! 2. The first remote syscalls (`mmap`; with a memfd area `open`, `mmap`
//!    and `close`) run from the vDSO's zero padding through `syscall;
//!    rt_sigreturn`, with an rt_sigframe of the leader's saved state written
//!    below its stack's red zone: the leader's code is not touched, and a tool
//!    dying there leaves the leader to finish the syscall and return to its
//!    own registers, mask and xsave state (leaked: that syscall's mapping or
//!    fd). Where that cannot be done (no vDSO, no room in it, no writable
//!    stack below the red zone), `syscall; int3` is written over a few bytes
//!    of the leader's code instead, its mask all-blocked, for those syscalls
//!    and a handful of ptrace requests; a SIGKILL then can kill the victim
//!    (SIGTRAP) or let it run on with wrong registers.
//! 3. From the end of that mmap until the area trampoline and the self-cure
//!    sigframe are written, the victim runs unchanged (leaked: the area).
//! 4. Every later remote syscall goes through `syscall; jmp
//!    parasite_selfcure` in the area, and the parasite itself cures on EOF
//!    of its control socket: either way the leader finishes what it was
//!    doing and returns to its saved registers, xsave area and mask with
//!    `rt_sigreturn`; its sigaltstack is kept. Leaked: the area and, before
//!    the parasite started, compel's control socket fd. A syscall that was
//!    interrupted with `ERESTART_RESTARTBLOCK` (nanosleep, clock_nanosleep,
//!    poll with timeout, futex with timeout) returns EINTR instead of
//!    resuming, since `rt_sigreturn` drops the restart block.
//! 5. The cure's last remote syscall is the area's `munmap`: from its entry
//!    until the leader's saved registers are back (one syscall and three
//!    ptrace requests), a SIGKILL makes the leader fault in the vanished
//!    trampoline and die of SIGSEGV. Registers are restored last so that
//!    this failure is loud, never a silent run with compel's state.
//!
//! Other threads' remote syscalls ([`Infection::syscall_in`]) go through a
//! trampoline of their own, `syscall; rt_sigreturn` through a sigframe of that
//! thread's saved state, so a thread left there returns to its own state, not
//! the leader's.
//!
//! Measured by killing `crust dump --leave-running` with SIGKILL at random
//! moments: a one-process program killed 80-160 ms after start (while it is
//! infected) died in 2 runs of 30 before the vDSO way back, in none of 30
//! after; threaded python trees killed 0.1-0.4 s in lost 22 processes in 20
//! runs before the threads' own trampoline, none after. Window 5 remains.
//!
//! A victim that exits during an infection is reported as
//! [`InfectError::Exited`]; compel then only reaps its threads.
//!
//! # Threads
//!
//! ptrace binds a tracee to the thread that seized it: a [`Victim`] and what
//! comes from it must stay on that thread (they are not `Send`).
#![deny(missing_docs)]

pub mod blob;
pub mod infect;
pub mod ptrace;
pub mod remote;
pub mod restart;
pub mod signals;

pub use infect::{InfectError, InfectOptions, Infection, Parasite, ParasiteError, Victim};
