//! The last steps of a restored tree, once every process is built: POSIX locks of children
//! sharing their parent's fd table, process groups, terminals' foregrounds, zombies' ends,
//! the helpers of orphaned groups, and the release of the whole tree, leaves first.

use nix::unistd::Pid;

use super::super::remote::{bytes_of, RemoteThread, Scratch, SCRATCH_SIZE};
use super::super::RestoreError;
use super::{Built, TreeBuilder, ZOMBIE_EXIT_WAIT};
use crate::snapshot::{ProcessSnapshot, ZombieSnapshot};

impl TreeBuilder<'_> {
    /// Each process and zombie joins its process group: the leaders' groups first, then the
    /// others (a group must exist before it is joined). A session leader leads its group.
    pub(super) fn join_groups(&mut self) -> Result<(), RestoreError> {
        for helper in &mut self.helpers {
            let args = [0, 0, 0, 0, 0, 0];
            helper
                .thread
                .call("lead the process group", libc::SYS_setpgid, args)?;
        }
        for leaders_pass in [true, false] {
            for built in &mut self.built {
                let p = built.process;
                let outside = Some(p.pgid) == self.outside_group;
                if p.sid != p.pid && !outside && (p.pgid == p.pid) == leaders_pass {
                    let args = [0, p.pgid as u64, 0, 0, 0, 0];
                    built.threads[0].call("join the process group", libc::SYS_setpgid, args)?;
                }
            }
            for unborn in &mut self.unborn {
                let z = unborn.zombie;
                let outside = Some(z.pgid) == self.outside_group;
                if z.sid != z.pid && !outside && (z.pgid == z.pid) == leaders_pass {
                    let args = [0, z.pgid as u64, 0, 0, 0, 0];
                    unborn
                        .thread
                        .call("join the process group", libc::SYS_setpgid, args)?;
                }
            }
        }
        Ok(())
    }

    /// Takes the locks of each child that shares its parent's fd table (CLONE_FILES), now that
    /// the parent has put the table's fds in place: the child was built before them.
    pub(super) fn take_locks_of_shared_tables(&mut self) -> Result<(), RestoreError> {
        self.in_each_leader(|thread, scratch, process| {
            if !process.shares_files_with_parent || process.file_locks.is_empty() {
                return Ok(());
            }
            super::super::locks::take_locks(thread, scratch, process)
        })
    }

    /// Gives each terminal of the tree the foreground group it had, now that every group
    /// exists.
    pub(super) fn give_foregrounds_back(&mut self) -> Result<(), RestoreError> {
        self.in_each_leader(super::super::tty::give_foreground_back)
    }

    /// Runs `step` in the leader of every built process, with its scratch area.
    fn in_each_leader(
        &mut self,
        step: impl Fn(&mut RemoteThread, &Scratch, &ProcessSnapshot) -> Result<(), RestoreError>,
    ) -> Result<(), RestoreError> {
        let scratch_base = self.scratch_base;
        for built in &mut self.built {
            let scratch = Scratch {
                base: scratch_base,
                pid: Pid::from_raw(built.process.pid),
            };
            step(&mut built.threads[0], &scratch, built.process)?;
        }
        Ok(())
    }

    /// Lets each zombie-to-be end as the zombie ended, waits until it is a zombie, and takes
    /// back the signal its death sent the parent (the parent had had it before the dump).
    pub(super) fn end_zombies(&mut self) -> Result<(), RestoreError> {
        for unborn in std::mem::take(&mut self.unborn) {
            let zombie = unborn.zombie;
            end_as(unborn.thread, zombie, &self.scratch(zombie.pid))?;
            wait_for_zombie(zombie.pid)?;
            let parent = self
                .built
                .iter_mut()
                .find(|b| b.process.pid == zombie.ppid)
                .ok_or(RestoreError::MissingParent { pid: zombie.pid })?;
            take_back_signal(parent, self.scratch_base, zombie.exit_signal)?;
        }
        Ok(())
    }

    /// Lets each group helper exit once its group has its members, and has its parent reap
    /// it (and take back the signal its death sent).
    pub(super) fn end_helpers(&mut self) -> Result<(), RestoreError> {
        /// wait4(2) option: any child, thread or process.
        const WALL: u64 = 0x4000_0000;
        for helper in std::mem::take(&mut self.helpers) {
            let ending = ZombieSnapshot {
                pid: helper.pgid,
                ppid: helper.parent,
                pgid: helper.pgid,
                sid: helper.sid,
                wait_status: 0,
                exit_signal: libc::SIGCHLD,
                comm: String::new(),
            };
            end_as(helper.thread, &ending, &self.scratch(helper.pgid))?;
            wait_for_zombie(helper.pgid)?;
            let parent = self
                .built
                .iter_mut()
                .find(|b| b.process.pid == helper.parent)
                .ok_or(RestoreError::MissingParent { pid: helper.pgid })?;
            let args = [helper.pgid as u64, 0, WALL, 0, 0, 0];
            parent.threads[0].call("reap the group's helper", libc::SYS_wait4, args)?;
            take_back_signal(parent, self.scratch_base, libc::SIGCHLD)?;
        }
        Ok(())
    }

    /// Unmaps each process's scratch area and lets it go, children before parents.
    pub(super) fn release(&mut self) -> Result<(), RestoreError> {
        while let Some(built) = self.built.pop() {
            let mut threads = built.threads;
            let unmap = [self.scratch_base, SCRATCH_SIZE, 0, 0, 0, 0];
            threads[0].call("unmap the scratch area", libc::SYS_munmap, unmap)?;
            if self.built.is_empty() {
                // The root, let go last: a shell job's gets crust's terminal's foreground.
                self.terminals.hand_over_terminal(built.process)?;
            }
            super::super::release(threads, built.process)?;
        }
        self.made.clear();
        Ok(())
    }
}

/// Lets a zombie-to-be go, set to run its last syscall: exit_group with its code, or a
/// kill of itself by the signal that killed it (default action, no core file).
fn end_as(
    mut thread: RemoteThread,
    zombie: &ZombieSnapshot,
    scratch: &Scratch,
) -> Result<(), RestoreError> {
    let tid = thread.tid();
    if !zombie.comm.is_empty() {
        let mut name = [0u8; 16];
        let n = zombie.comm.len().min(15);
        name[..n].copy_from_slice(&zombie.comm.as_bytes()[..n]);
        let addr = scratch.put(128, &name)?;
        const PR_SET_NAME: u64 = 15;
        thread.call(
            "name the zombie",
            libc::SYS_prctl,
            [PR_SET_NAME, addr, 0, 0, 0, 0],
        )?;
    }
    let (nr, args) = match zombie.killed_by() {
        Some(signal) => {
            // SIGKILL and SIGSTOP keep their default action whatever is asked.
            if signal != libc::SIGKILL && signal != libc::SIGSTOP {
                let default = [0u64; 4];
                let action = scratch.put(0, bytes_of(&default))?;
                let args = [signal as u64, action, 0, 8, 0, 0];
                let step = "reset the fatal signal's action";
                thread.call(step, libc::SYS_rt_sigaction, args)?;
            }
            let no_core = scratch.put(64, bytes_of(&[0u64; 2]))?;
            let args = [0, libc::RLIMIT_CORE as u64, no_core, 0, 0, 0];
            thread.call("forbid a core file", libc::SYS_prlimit64, args)?;
            (libc::SYS_kill, [zombie.pid as u64, signal as u64])
        }
        None => {
            let code = zombie.exit_code().unwrap_or(0) as u64;
            (libc::SYS_exit_group, [code, 0])
        }
    };
    let mut regs = thread.tracee.regs().map_err(RestoreError::ptrace(tid))?;
    regs.rip = thread.trampoline;
    regs.rax = nr as u64;
    regs.orig_rax = u64::MAX;
    regs.rdi = args[0];
    regs.rsi = args[1];
    thread
        .tracee
        .set_regs(&regs)
        .map_err(RestoreError::ptrace(tid))?;
    thread
        .tracee
        .set_sigmask(0)
        .map_err(RestoreError::ptrace(tid))?;
    thread.tracee.detach().map_err(RestoreError::ptrace(tid))
}

/// Waits (bounded) until `pid` is a zombie.
fn wait_for_zombie(pid: i32) -> Result<(), RestoreError> {
    let started = std::time::Instant::now();
    loop {
        let stat = crate::proc::stat::stat(Pid::from_raw(pid));
        if matches!(&stat, Ok(s) if s.state == crate::proc::status::TaskState::Zombie) {
            return Ok(());
        }
        if started.elapsed() > ZOMBIE_EXIT_WAIT {
            return Err(RestoreError::ZombieNotDead {
                pid,
                waited: ZOMBIE_EXIT_WAIT,
            });
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

/// Takes back the `signal` a child's death sent to `parent`, unless the parent had it
/// pending at dump (it is one of its saved signals then).
fn take_back_signal(
    parent: &mut Built,
    scratch_base: u64,
    signal: i32,
) -> Result<(), RestoreError> {
    let saved = parent
        .process
        .shared_pending
        .iter()
        .any(|s| s.signo() == signal);
    if saved {
        return Ok(());
    }
    let scratch = Scratch {
        base: scratch_base,
        pid: Pid::from_raw(parent.process.pid),
    };
    take_signal(&mut parent.threads[0], &scratch, signal)
}

/// Takes one pending `signal` off the process (rt_sigtimedwait with a zero timeout).
fn take_signal(
    thread: &mut RemoteThread,
    scratch: &Scratch,
    signal: i32,
) -> Result<(), RestoreError> {
    let set: u64 = 1 << (signal - 1);
    let set_addr = scratch.put(0, &set.to_ne_bytes())?;
    let timeout = scratch.put(64, bytes_of(&[0u64; 2]))?;
    let args = [set_addr, 0, timeout, 8, 0, 0];
    let got = thread.call_raw(
        "take back the child's death signal",
        libc::SYS_rt_sigtimedwait,
        args,
    )?;
    if got != i64::from(signal) && got != -i64::from(libc::EAGAIN) {
        log::warn!(
            "pid {}: rt_sigtimedwait for signal {signal} returned {got}",
            scratch.pid
        );
    }
    Ok(())
}
