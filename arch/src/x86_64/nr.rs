//! x86_64 syscall numbers (`arch/x86/entry/syscalls/syscall_64.tbl`), the
//! ones crust calls in its own code, in remote tasks or in its blobs.
//! Names are the kernel's, upper-cased.

/// A syscall number, as put in `rax`.
pub type Nr = usize;

/// `__NR_read`
pub const READ: Nr = 0;
/// `__NR_write`
pub const WRITE: Nr = 1;
/// `__NR_open`
pub const OPEN: Nr = 2;
/// `__NR_close`
pub const CLOSE: Nr = 3;
/// `__NR_stat`
pub const STAT: Nr = 4;
/// `__NR_fstat`
pub const FSTAT: Nr = 5;
/// `__NR_lstat`
pub const LSTAT: Nr = 6;
/// `__NR_poll`
pub const POLL: Nr = 7;
/// `__NR_lseek`
pub const LSEEK: Nr = 8;
/// `__NR_mmap`
pub const MMAP: Nr = 9;
/// `__NR_mprotect`
pub const MPROTECT: Nr = 10;
/// `__NR_munmap`
pub const MUNMAP: Nr = 11;
/// `__NR_brk`
pub const BRK: Nr = 12;
/// `__NR_rt_sigaction`
pub const RT_SIGACTION: Nr = 13;
/// `__NR_rt_sigprocmask`
pub const RT_SIGPROCMASK: Nr = 14;
/// `__NR_rt_sigreturn`
pub const RT_SIGRETURN: Nr = 15;
/// `__NR_ioctl`
pub const IOCTL: Nr = 16;
/// `__NR_pread64`
pub const PREAD64: Nr = 17;
/// `__NR_pwrite64`
pub const PWRITE64: Nr = 18;
/// `__NR_readv`
pub const READV: Nr = 19;
/// `__NR_writev`
pub const WRITEV: Nr = 20;
/// `__NR_access`
pub const ACCESS: Nr = 21;
/// `__NR_pipe`
pub const PIPE: Nr = 22;
/// `__NR_sched_yield`
pub const SCHED_YIELD: Nr = 24;
/// `__NR_mremap`
pub const MREMAP: Nr = 25;
/// `__NR_msync`
pub const MSYNC: Nr = 26;
/// `__NR_mincore`
pub const MINCORE: Nr = 27;
/// `__NR_madvise`
pub const MADVISE: Nr = 28;
/// `__NR_shmget`
pub const SHMGET: Nr = 29;
/// `__NR_shmat`
pub const SHMAT: Nr = 30;
/// `__NR_shmctl`
pub const SHMCTL: Nr = 31;
/// `__NR_dup`
pub const DUP: Nr = 32;
/// `__NR_dup2`
pub const DUP2: Nr = 33;
/// `__NR_pause`
pub const PAUSE: Nr = 34;
/// `__NR_nanosleep`
pub const NANOSLEEP: Nr = 35;
/// `__NR_getitimer`
pub const GETITIMER: Nr = 36;
/// `__NR_alarm`
pub const ALARM: Nr = 37;
/// `__NR_setitimer`
pub const SETITIMER: Nr = 38;
/// `__NR_getpid`
pub const GETPID: Nr = 39;
/// `__NR_sendfile`
pub const SENDFILE: Nr = 40;
/// `__NR_socket`
pub const SOCKET: Nr = 41;
/// `__NR_connect`
pub const CONNECT: Nr = 42;
/// `__NR_accept`
pub const ACCEPT: Nr = 43;
/// `__NR_sendto`
pub const SENDTO: Nr = 44;
/// `__NR_recvfrom`
pub const RECVFROM: Nr = 45;
/// `__NR_sendmsg`
pub const SENDMSG: Nr = 46;
/// `__NR_recvmsg`
pub const RECVMSG: Nr = 47;
/// `__NR_shutdown`
pub const SHUTDOWN: Nr = 48;
/// `__NR_bind`
pub const BIND: Nr = 49;
/// `__NR_listen`
pub const LISTEN: Nr = 50;
/// `__NR_getsockname`
pub const GETSOCKNAME: Nr = 51;
/// `__NR_getpeername`
pub const GETPEERNAME: Nr = 52;
/// `__NR_socketpair`
pub const SOCKETPAIR: Nr = 53;
/// `__NR_setsockopt`
pub const SETSOCKOPT: Nr = 54;
/// `__NR_getsockopt`
pub const GETSOCKOPT: Nr = 55;
/// `__NR_clone`
pub const CLONE: Nr = 56;
/// `__NR_fork`
pub const FORK: Nr = 57;
/// `__NR_vfork`
pub const VFORK: Nr = 58;
/// `__NR_execve`
pub const EXECVE: Nr = 59;
/// `__NR_exit`
pub const EXIT: Nr = 60;
/// `__NR_wait4`
pub const WAIT4: Nr = 61;
/// `__NR_kill`
pub const KILL: Nr = 62;
/// `__NR_uname`
pub const UNAME: Nr = 63;
/// `__NR_semget`
pub const SEMGET: Nr = 64;
/// `__NR_shmdt`
pub const SHMDT: Nr = 67;
/// `__NR_msgget`
pub const MSGGET: Nr = 68;
/// `__NR_fcntl`
pub const FCNTL: Nr = 72;
/// `__NR_flock`
pub const FLOCK: Nr = 73;
/// `__NR_fsync`
pub const FSYNC: Nr = 74;
/// `__NR_truncate`
pub const TRUNCATE: Nr = 76;
/// `__NR_ftruncate`
pub const FTRUNCATE: Nr = 77;
/// `__NR_getdents`
pub const GETDENTS: Nr = 78;
/// `__NR_getcwd`
pub const GETCWD: Nr = 79;
/// `__NR_chdir`
pub const CHDIR: Nr = 80;
/// `__NR_fchdir`
pub const FCHDIR: Nr = 81;
/// `__NR_readlink`
pub const READLINK: Nr = 89;
/// `__NR_umask`
pub const UMASK: Nr = 95;
/// `__NR_getrlimit`
pub const GETRLIMIT: Nr = 97;
/// `__NR_getrusage`
pub const GETRUSAGE: Nr = 98;
/// `__NR_ptrace`
pub const PTRACE: Nr = 101;
/// `__NR_getuid`
pub const GETUID: Nr = 102;
/// `__NR_syslog`
pub const SYSLOG: Nr = 103;
/// `__NR_getgid`
pub const GETGID: Nr = 104;
/// `__NR_setuid`
pub const SETUID: Nr = 105;
/// `__NR_setgid`
pub const SETGID: Nr = 106;
/// `__NR_geteuid`
pub const GETEUID: Nr = 107;
/// `__NR_getegid`
pub const GETEGID: Nr = 108;
/// `__NR_setpgid`
pub const SETPGID: Nr = 109;
/// `__NR_getppid`
pub const GETPPID: Nr = 110;
/// `__NR_getpgrp`
pub const GETPGRP: Nr = 111;
/// `__NR_setsid`
pub const SETSID: Nr = 112;
/// `__NR_setreuid`
pub const SETREUID: Nr = 113;
/// `__NR_setregid`
pub const SETREGID: Nr = 114;
/// `__NR_getgroups`
pub const GETGROUPS: Nr = 115;
/// `__NR_setgroups`
pub const SETGROUPS: Nr = 116;
/// `__NR_setresuid`
pub const SETRESUID: Nr = 117;
/// `__NR_getresuid`
pub const GETRESUID: Nr = 118;
/// `__NR_setresgid`
pub const SETRESGID: Nr = 119;
/// `__NR_getresgid`
pub const GETRESGID: Nr = 120;
/// `__NR_getpgid`
pub const GETPGID: Nr = 121;
/// `__NR_setfsuid`
pub const SETFSUID: Nr = 122;
/// `__NR_setfsgid`
pub const SETFSGID: Nr = 123;
/// `__NR_getsid`
pub const GETSID: Nr = 124;
/// `__NR_capget`
pub const CAPGET: Nr = 125;
/// `__NR_capset`
pub const CAPSET: Nr = 126;
/// `__NR_rt_sigpending`
pub const RT_SIGPENDING: Nr = 127;
/// `__NR_rt_sigtimedwait`
pub const RT_SIGTIMEDWAIT: Nr = 128;
/// `__NR_rt_sigqueueinfo`
pub const RT_SIGQUEUEINFO: Nr = 129;
/// `__NR_rt_sigsuspend`
pub const RT_SIGSUSPEND: Nr = 130;
/// `__NR_sigaltstack`
pub const SIGALTSTACK: Nr = 131;
/// `__NR_personality`
pub const PERSONALITY: Nr = 135;
/// `__NR_getpriority`
pub const GETPRIORITY: Nr = 140;
/// `__NR_setpriority`
pub const SETPRIORITY: Nr = 141;
/// `__NR_sched_setparam`
pub const SCHED_SETPARAM: Nr = 142;
/// `__NR_sched_getparam`
pub const SCHED_GETPARAM: Nr = 143;
/// `__NR_sched_setscheduler`
pub const SCHED_SETSCHEDULER: Nr = 144;
/// `__NR_sched_getscheduler`
pub const SCHED_GETSCHEDULER: Nr = 145;
/// `__NR_mlock`
pub const MLOCK: Nr = 149;
/// `__NR_munlock`
pub const MUNLOCK: Nr = 150;
/// `__NR_mlockall`
pub const MLOCKALL: Nr = 151;
/// `__NR_munlockall`
pub const MUNLOCKALL: Nr = 152;
/// `__NR_prctl`
pub const PRCTL: Nr = 157;
/// `__NR_arch_prctl`
pub const ARCH_PRCTL: Nr = 158;
/// `__NR_setrlimit`
pub const SETRLIMIT: Nr = 160;
/// `__NR_chroot`
pub const CHROOT: Nr = 161;
/// `__NR_mount`
pub const MOUNT: Nr = 165;
/// `__NR_umount2`
pub const UMOUNT2: Nr = 166;
/// `__NR_gettid`
pub const GETTID: Nr = 186;
/// `__NR_tkill`
pub const TKILL: Nr = 200;
/// `__NR_futex`
pub const FUTEX: Nr = 202;
/// `__NR_sched_setaffinity`
pub const SCHED_SETAFFINITY: Nr = 203;
/// `__NR_sched_getaffinity`
pub const SCHED_GETAFFINITY: Nr = 204;
/// `__NR_set_thread_area`
pub const SET_THREAD_AREA: Nr = 205;
/// `__NR_get_thread_area`
pub const GET_THREAD_AREA: Nr = 211;
/// `__NR_getdents64`
pub const GETDENTS64: Nr = 217;
/// `__NR_set_tid_address`
pub const SET_TID_ADDRESS: Nr = 218;
/// `__NR_restart_syscall`
pub const RESTART_SYSCALL: Nr = 219;
/// `__NR_timer_create`
pub const TIMER_CREATE: Nr = 222;
/// `__NR_timer_settime`
pub const TIMER_SETTIME: Nr = 223;
/// `__NR_timer_gettime`
pub const TIMER_GETTIME: Nr = 224;
/// `__NR_timer_getoverrun`
pub const TIMER_GETOVERRUN: Nr = 225;
/// `__NR_timer_delete`
pub const TIMER_DELETE: Nr = 226;
/// `__NR_clock_settime`
pub const CLOCK_SETTIME: Nr = 227;
/// `__NR_clock_gettime`
pub const CLOCK_GETTIME: Nr = 228;
/// `__NR_clock_getres`
pub const CLOCK_GETRES: Nr = 229;
/// `__NR_clock_nanosleep`
pub const CLOCK_NANOSLEEP: Nr = 230;
/// `__NR_exit_group`
pub const EXIT_GROUP: Nr = 231;
/// `__NR_epoll_wait`
pub const EPOLL_WAIT: Nr = 232;
/// `__NR_epoll_ctl`
pub const EPOLL_CTL: Nr = 233;
/// `__NR_tgkill`
pub const TGKILL: Nr = 234;
/// `__NR_mbind`
pub const MBIND: Nr = 237;
/// `__NR_set_mempolicy`
pub const SET_MEMPOLICY: Nr = 238;
/// `__NR_get_mempolicy`
pub const GET_MEMPOLICY: Nr = 239;
/// `__NR_waitid`
pub const WAITID: Nr = 247;
/// `__NR_ioprio_set`
pub const IOPRIO_SET: Nr = 251;
/// `__NR_ioprio_get`
pub const IOPRIO_GET: Nr = 252;
/// `__NR_inotify_add_watch`
pub const INOTIFY_ADD_WATCH: Nr = 254;
/// `__NR_inotify_rm_watch`
pub const INOTIFY_RM_WATCH: Nr = 255;
/// `__NR_openat`
pub const OPENAT: Nr = 257;
/// `__NR_mkdirat`
pub const MKDIRAT: Nr = 258;
/// `__NR_mknodat`
pub const MKNODAT: Nr = 259;
/// `__NR_fchownat`
pub const FCHOWNAT: Nr = 260;
/// `__NR_newfstatat`
pub const NEWFSTATAT: Nr = 262;
/// `__NR_unlinkat`
pub const UNLINKAT: Nr = 263;
/// `__NR_linkat`
pub const LINKAT: Nr = 265;
/// `__NR_symlinkat`
pub const SYMLINKAT: Nr = 266;
/// `__NR_readlinkat`
pub const READLINKAT: Nr = 267;
/// `__NR_fchmodat`
pub const FCHMODAT: Nr = 268;
/// `__NR_faccessat`
pub const FACCESSAT: Nr = 269;
/// `__NR_unshare`
pub const UNSHARE: Nr = 272;
/// `__NR_set_robust_list`
pub const SET_ROBUST_LIST: Nr = 273;
/// `__NR_get_robust_list`
pub const GET_ROBUST_LIST: Nr = 274;
/// `__NR_splice`
pub const SPLICE: Nr = 275;
/// `__NR_tee`
pub const TEE: Nr = 276;
/// `__NR_vmsplice`
pub const VMSPLICE: Nr = 278;
/// `__NR_epoll_pwait`
pub const EPOLL_PWAIT: Nr = 281;
/// `__NR_signalfd`
pub const SIGNALFD: Nr = 282;
/// `__NR_timerfd_create`
pub const TIMERFD_CREATE: Nr = 283;
/// `__NR_eventfd`
pub const EVENTFD: Nr = 284;
/// `__NR_timerfd_settime`
pub const TIMERFD_SETTIME: Nr = 286;
/// `__NR_timerfd_gettime`
pub const TIMERFD_GETTIME: Nr = 287;
/// `__NR_accept4`
pub const ACCEPT4: Nr = 288;
/// `__NR_signalfd4`
pub const SIGNALFD4: Nr = 289;
/// `__NR_eventfd2`
pub const EVENTFD2: Nr = 290;
/// `__NR_epoll_create1`
pub const EPOLL_CREATE1: Nr = 291;
/// `__NR_dup3`
pub const DUP3: Nr = 292;
/// `__NR_pipe2`
pub const PIPE2: Nr = 293;
/// `__NR_inotify_init1`
pub const INOTIFY_INIT1: Nr = 294;
/// `__NR_preadv`
pub const PREADV: Nr = 295;
/// `__NR_pwritev`
pub const PWRITEV: Nr = 296;
/// `__NR_rt_tgsigqueueinfo`
pub const RT_TGSIGQUEUEINFO: Nr = 297;
/// `__NR_fanotify_init`
pub const FANOTIFY_INIT: Nr = 300;
/// `__NR_fanotify_mark`
pub const FANOTIFY_MARK: Nr = 301;
/// `__NR_prlimit64`
pub const PRLIMIT64: Nr = 302;
/// `__NR_setns`
pub const SETNS: Nr = 308;
/// `__NR_getcpu`
pub const GETCPU: Nr = 309;
/// `__NR_process_vm_readv`
pub const PROCESS_VM_READV: Nr = 310;
/// `__NR_process_vm_writev`
pub const PROCESS_VM_WRITEV: Nr = 311;
/// `__NR_kcmp`
pub const KCMP: Nr = 312;
/// `__NR_renameat2`
pub const RENAMEAT2: Nr = 316;
/// `__NR_seccomp`
pub const SECCOMP: Nr = 317;
/// `__NR_getrandom`
pub const GETRANDOM: Nr = 318;
/// `__NR_memfd_create`
pub const MEMFD_CREATE: Nr = 319;
/// `__NR_userfaultfd`
pub const USERFAULTFD: Nr = 323;
/// `__NR_membarrier`
pub const MEMBARRIER: Nr = 324;
/// `__NR_mlock2`
pub const MLOCK2: Nr = 325;
/// `__NR_pkey_mprotect`
pub const PKEY_MPROTECT: Nr = 329;
/// `__NR_pkey_alloc`
pub const PKEY_ALLOC: Nr = 330;
/// `__NR_pkey_free`
pub const PKEY_FREE: Nr = 331;
/// `__NR_statx`
pub const STATX: Nr = 332;
/// `__NR_rseq`
pub const RSEQ: Nr = 334;
/// `__NR_pidfd_send_signal`
pub const PIDFD_SEND_SIGNAL: Nr = 424;
/// `__NR_io_uring_setup`
pub const IO_URING_SETUP: Nr = 425;
/// `__NR_open_tree`
pub const OPEN_TREE: Nr = 428;
/// `__NR_move_mount`
pub const MOVE_MOUNT: Nr = 429;
/// `__NR_fsopen`
pub const FSOPEN: Nr = 430;
/// `__NR_fsconfig`
pub const FSCONFIG: Nr = 431;
/// `__NR_fsmount`
pub const FSMOUNT: Nr = 432;
/// `__NR_pidfd_open`
pub const PIDFD_OPEN: Nr = 434;
/// `__NR_clone3`
pub const CLONE3: Nr = 435;
/// `__NR_close_range`
pub const CLOSE_RANGE: Nr = 436;
/// `__NR_openat2`
pub const OPENAT2: Nr = 437;
/// `__NR_pidfd_getfd`
pub const PIDFD_GETFD: Nr = 438;
/// `__NR_process_madvise`
pub const PROCESS_MADVISE: Nr = 440;
/// `__NR_mount_setattr`
pub const MOUNT_SETATTR: Nr = 442;
/// `__NR_futex_waitv`
pub const FUTEX_WAITV: Nr = 449;
/// `__NR_map_shadow_stack`
pub const MAP_SHADOW_STACK: Nr = 453;

#[cfg(test)]
mod tests {
    /// libc's `SYS_*` constants are an independent copy of the same table.
    #[test]
    fn numbers_match_libc() {
        macro_rules! same {
            ($($ours:ident = $libc:ident),* $(,)?) => {
                $( assert_eq!(super::$ours as libc::c_long, libc::$libc, stringify!($ours)); )*
            };
        }
        same!(
            READ = SYS_read,
            MMAP = SYS_mmap,
            RT_SIGRETURN = SYS_rt_sigreturn
        );
        same!(
            SENDMSG = SYS_sendmsg,
            RECVMSG = SYS_recvmsg,
            VMSPLICE = SYS_vmsplice
        );
        same!(
            SIGALTSTACK = SYS_sigaltstack,
            GETITIMER = SYS_getitimer,
            GETTID = SYS_gettid
        );
        same!(
            EXIT_GROUP = SYS_exit_group,
            PRCTL = SYS_prctl,
            ARCH_PRCTL = SYS_arch_prctl
        );
        same!(
            CLONE3 = SYS_clone3,
            PIDFD_GETFD = SYS_pidfd_getfd,
            CLOSE_RANGE = SYS_close_range
        );
        same!(
            RSEQ = SYS_rseq,
            MEMFD_CREATE = SYS_memfd_create,
            SECCOMP = SYS_seccomp
        );
        same!(
            PRLIMIT64 = SYS_prlimit64,
            TIMER_CREATE = SYS_timer_create,
            SETNS = SYS_setns
        );
        same!(
            PROCESS_VM_WRITEV = SYS_process_vm_writev,
            RESTART_SYSCALL = SYS_restart_syscall
        );
    }
}
