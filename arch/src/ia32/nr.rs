//! i386 syscall numbers (`arch/x86/entry/syscalls/syscall_32.tbl`), used
//! by ia32 tasks through `int 0x80`. Only the subset crust may need to run
//! inside a compat task. Names are the kernel's, upper-cased.

/// A syscall number, as put in `eax`.
pub type Nr = usize;

/// `__NR_restart_syscall`
pub const RESTART_SYSCALL: Nr = 0;
/// `__NR_exit`
pub const EXIT: Nr = 1;
/// `__NR_fork`
pub const FORK: Nr = 2;
/// `__NR_read`
pub const READ: Nr = 3;
/// `__NR_write`
pub const WRITE: Nr = 4;
/// `__NR_open`
pub const OPEN: Nr = 5;
/// `__NR_close`
pub const CLOSE: Nr = 6;
/// `__NR_getpid`
pub const GETPID: Nr = 20;
/// `__NR_kill`
pub const KILL: Nr = 37;
/// `__NR_dup`
pub const DUP: Nr = 41;
/// `__NR_brk`
pub const BRK: Nr = 45;
/// `__NR_ioctl`
pub const IOCTL: Nr = 54;
/// `__NR_fcntl`
pub const FCNTL: Nr = 55;
/// `__NR_dup2`
pub const DUP2: Nr = 63;
/// `__NR_munmap`
pub const MUNMAP: Nr = 91;
/// `__NR_socketcall`
pub const SOCKETCALL: Nr = 102;
/// `__NR_setitimer`
pub const SETITIMER: Nr = 104;
/// `__NR_getitimer`
pub const GETITIMER: Nr = 105;
/// `__NR_sigreturn`
pub const SIGRETURN: Nr = 119;
/// `__NR_clone`
pub const CLONE: Nr = 120;
/// `__NR_mprotect`
pub const MPROTECT: Nr = 125;
/// `__NR_personality`
pub const PERSONALITY: Nr = 136;
/// `__NR_nanosleep`
pub const NANOSLEEP: Nr = 162;
/// `__NR_mremap`
pub const MREMAP: Nr = 163;
/// `__NR_prctl`
pub const PRCTL: Nr = 172;
/// `__NR_rt_sigreturn`
pub const RT_SIGRETURN: Nr = 173;
/// `__NR_rt_sigaction`
pub const RT_SIGACTION: Nr = 174;
/// `__NR_rt_sigprocmask`
pub const RT_SIGPROCMASK: Nr = 175;
/// `__NR_sigaltstack`
pub const SIGALTSTACK: Nr = 186;
/// `__NR_mmap2`
pub const MMAP2: Nr = 192;
/// `__NR_madvise`
pub const MADVISE: Nr = 219;
/// `__NR_gettid`
pub const GETTID: Nr = 224;
/// `__NR_set_thread_area`
pub const SET_THREAD_AREA: Nr = 243;
/// `__NR_get_thread_area`
pub const GET_THREAD_AREA: Nr = 244;
/// `__NR_exit_group`
pub const EXIT_GROUP: Nr = 252;
/// `__NR_set_tid_address`
pub const SET_TID_ADDRESS: Nr = 258;
/// `__NR_pipe2`
pub const PIPE2: Nr = 331;
/// `__NR_socket`
pub const SOCKET: Nr = 359;
/// `__NR_connect`
pub const CONNECT: Nr = 362;
/// `__NR_sendmsg`
pub const SENDMSG: Nr = 370;
/// `__NR_recvmsg`
pub const RECVMSG: Nr = 372;
/// `__NR_rseq`
pub const RSEQ: Nr = 386;
/// `__NR_close_range`
pub const CLOSE_RANGE: Nr = 436;
