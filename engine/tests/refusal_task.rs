//! Refusals of the process as a whole, on real children: children of their own, zombies,
//! tracers, seccomp filters, namespaces; crust itself and kernel threads.

mod refusal_child;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use engine::proc::ns::{ns_inode, NsKind};
use engine::proc::status::TaskState;
use refusal_child::{lines, reap, serial, Child};

/// Make the test process the reaper of its orphaned grandchildren, so it can reap them.
fn become_subreaper() {
    // SAFETY: prctl with integer arguments only.
    let rc = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    assert_eq!(rc, 0);
}

#[test]
fn crust_refuses_itself_alone() {
    let me = Pid::this();
    assert_eq!(
        lines(me),
        vec![format!(
            "pid {me}: process is crust itself: crust cannot dump itself"
        )]
    );
}

#[test]
fn kernel_threads_are_refused() {
    // Pid 2 is kthreadd in the initial pid namespace, where these tests run.
    let kthreadd = std::fs::read_to_string("/proc/2/comm").unwrap_or_default();
    assert_eq!(
        kthreadd.trim(),
        "kthreadd",
        "tests run in the initial pid namespace"
    );
    assert_eq!(
        lines(Pid::from_raw(2)),
        vec!["pid 2: process is a kernel thread: kernel threads cannot be dumped"]
    );
}

#[test]
fn a_child_is_part_of_the_tree_not_a_blocker() {
    let _serial = serial();
    become_subreaper();
    let child = Child::spawn(&[], || {
        // SAFETY: fork in a single-threaded child; the grandchild closes the readiness pipe
        // (so the test sees it closed) and sleeps.
        unsafe {
            match libc::fork() {
                0 => {
                    libc::close(refusal_child::SYNC_FD);
                    loop {
                        libc::pause();
                    }
                }
                grandchild => grandchild > 0,
            }
        }
    });
    let pid = child.pid;
    let grandchildren = engine::proc::task::children(pid).unwrap();
    assert_eq!(grandchildren.len(), 1);
    let grandchild = grandchildren[0];
    let found = lines(pid);
    kill(grandchild, Signal::SIGKILL).unwrap();
    drop(child);
    reap(grandchild);
    assert_eq!(found, Vec::<String>::new());
}

#[test]
fn zombies_are_refused() {
    let _serial = serial();
    // SAFETY: the child exits at once with a raw syscall.
    let pid = match unsafe { nix::unistd::fork() }.unwrap() {
        // SAFETY: _exit ends the child at once, running nothing of the harness.
        nix::unistd::ForkResult::Child => unsafe { libc::_exit(0) },
        nix::unistd::ForkResult::Parent { child } => child,
    };
    while engine::proc::stat::stat(pid).unwrap().state != TaskState::Zombie {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let found = lines(pid);
    reap(pid);
    assert_eq!(
        found,
        vec![format!(
            "pid {pid}: process is a zombie: a zombie has nothing left to dump"
        )]
    );
}

#[test]
fn traced_processes_name_their_tracer() {
    let _serial = serial();
    let target = Child::spawn(&[], || true);
    let target_pid = target.pid.as_raw();
    let tracer = Child::spawn(&[], move || {
        // SAFETY: PTRACE_SEIZE takes no memory; the target is a sibling this test made.
        unsafe { libc::ptrace(libc::PTRACE_SEIZE, target_pid, 0, 0) == 0 }
    });
    let (pid, tracer_pid) = (target.pid, tracer.pid);
    let found = lines(pid);
    drop(tracer);
    assert_eq!(
        found,
        vec![format!(
            "pid {pid}: process is traced by pid {tracer_pid}: a traced task cannot be dumped; \
            detach the \
             tracer first"
        )]
    );
}

#[test]
fn seccomp_filters_are_refused() {
    let _serial = serial();
    // One instruction: return SECCOMP_RET_ALLOW.
    let allow = [libc::sock_filter {
        code: 0x06,
        jt: 0,
        jf: 0,
        k: 0x7fff_0000,
    }];
    let program = libc::sock_fprog {
        len: 1,
        filter: allow.as_ptr().cast_mut(),
    };
    let program_addr = &program as *const libc::sock_fprog as usize;
    let child = Child::spawn(&[], move || {
        // SAFETY: `program` lives in the parent's frame, copied into the child by fork and
        // valid while the child runs this; the kernel only reads it.
        unsafe {
            libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0
                && libc::syscall(libc::SYS_seccomp, 1, 0, program_addr) == 0
        }
    });
    let pid = child.pid;
    assert_eq!(
        lines(pid),
        vec![format!(
            "pid {pid}: process has a seccomp filter: seccomp filters are not supported yet"
        )]
    );
}

#[test]
fn foreign_namespaces_are_named() {
    let _serial = serial();
    let child = Child::spawn(&[], || {
        // SAFETY: unshare takes flags only.
        unsafe { libc::unshare(libc::CLONE_NEWUTS) == 0 }
    });
    let pid = child.pid;
    let inode = ns_inode(pid, NsKind::Uts).unwrap();
    let crust_inode = ns_inode(Pid::this(), NsKind::Uts).unwrap();
    assert_eq!(
        lines(pid),
        vec![format!(
            "pid {pid}: uts namespace is not crust's ({inode}, crust's is {crust_inode}): \
            namespaces are \
             not supported yet"
        )]
    );
}

#[test]
fn checking_leaves_the_process_running() {
    let _serial = serial();
    let child = Child::spawn(&[], || true);
    for _ in 0..3 {
        engine::refusal::check_tree(child.pid).unwrap();
        let state = child.state();
        assert!(
            matches!(state, TaskState::Sleeping | TaskState::Running),
            "{state:?}"
        );
        assert_eq!(
            engine::proc::status::status(child.pid)
                .unwrap()
                .tracer_pid
                .as_raw(),
            0
        );
    }
    kill(child.pid, None).unwrap();
}

#[test]
fn a_task_frozen_by_crust_itself_is_not_refused_as_traced() {
    use nix::sys::ptrace;
    let _serial = serial();
    let child = Child::spawn(&[], || true);
    let pid = child.pid;
    ptrace::seize(pid, ptrace::Options::empty()).unwrap();
    ptrace::interrupt(pid).unwrap();
    assert!(matches!(
        nix::sys::wait::waitpid(pid, None).unwrap(),
        nix::sys::wait::WaitStatus::PtraceEvent(..)
    ));
    let found = lines(pid);
    let state = child.state();
    ptrace::detach(pid, None).unwrap();
    assert_eq!(found, Vec::<String>::new());
    assert_eq!(state, TaskState::TracingStop);
}

#[test]
fn a_session_led_from_outside_is_refused() {
    let _serial = serial();
    // SAFETY: the child only waits in pause(2), a raw syscall, until it is killed.
    let pid = match unsafe { nix::unistd::fork() }.unwrap() {
        nix::unistd::ForkResult::Child => loop {
            // SAFETY: pause takes no arguments.
            unsafe { libc::pause() };
        },
        nix::unistd::ForkResult::Parent { child } => child,
    };
    let sid = engine::proc::stat::stat(pid).unwrap().session;
    let found = lines(pid);
    kill(pid, Signal::SIGKILL).unwrap();
    reap(pid);
    let expected = format!(
        "pid {pid}: process is in the session of pid {sid}: it cannot be recreated without its \
         leader; start the process with setsid (--shell-job is not available yet)"
    );
    assert!(found.contains(&expected), "{found:?}");
}

#[test]
fn the_tree_check_lists_the_blockers_of_descendants_too() {
    let _serial = serial();
    become_subreaper();
    let child = Child::spawn(&[], || {
        // SAFETY: fork in a single-threaded child; the grandchild makes an
        // eventfd, closes the readiness pipe (so the test sees it ready) and sleeps.
        unsafe {
            match libc::fork() {
                0 => {
                    libc::eventfd(0, 0);
                    libc::close(refusal_child::SYNC_FD);
                    loop {
                        libc::pause();
                    }
                }
                grandchild => grandchild > 0,
            }
        }
    });
    let pid = child.pid;
    let grandchild = engine::proc::task::children(pid).unwrap()[0];
    let found: Vec<String> = engine::refusal::check_tree(pid)
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    kill(grandchild, Signal::SIGKILL).unwrap();
    drop(child);
    reap(grandchild);
    let eventfd = format!(
        "pid {grandchild}: fd 3 is an eventfd (anon_inode:[eventfd]): eventfds are not supported \
         yet"
    );
    assert_eq!(found, vec![eventfd]);
}
