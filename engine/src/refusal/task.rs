//! Refusals about the process as a whole: who it is, its threads, user, children, namespaces.

use std::path::Path;

use nix::unistd::Pid;

use super::{vanished, Findings, Reason, RefusalError, Resource, Tree};
use crate::privileges::CrustCredentials;
use crate::proc::ns::{ns_inode, NsKind};
use crate::proc::stat::stat;
use crate::proc::status::{status, thread_status, Ids, SeccompMode, Status, TaskState};
use crate::proc::task::tasks;

/// Refuse crust itself, processes crust may not trace (before anything else of them is
/// read), kernel threads and zombies; false when nothing else can be checked.
pub(super) fn check_identity(pid: Pid, found: &mut Findings) -> Result<bool, RefusalError> {
    if pid == nix::unistd::getpid() || Path::new(&format!("/proc/self/task/{pid}")).exists() {
        found.add(Resource::Task, Reason::IsCrust);
        return Ok(false);
    }
    if !check_owner(pid, found)? {
        return Ok(false);
    }
    let stat = stat(pid).map_err(RefusalError::Task)?;
    if stat.is_kernel_thread() {
        found.add(Resource::Task, Reason::KernelThread);
        return Ok(false);
    }
    if stat.state == TaskState::Zombie {
        found.add(Resource::Task, Reason::Zombie);
        return Ok(false);
    }
    Ok(true)
}

/// Refuse tracers other than crust and seccomp filters, once for the process when its leader
/// has them and once per other thread that differs.
pub(super) fn check_threads(pid: Pid, found: &mut Findings) -> Result<(), RefusalError> {
    let leader = status(pid).map_err(RefusalError::Task)?;
    let leader_tracer = foreign_tracer(&leader);
    if let Some(tracer) = leader_tracer {
        found.add(Resource::Task, Reason::Traced { tracer });
    }
    let leader_filtered = leader.seccomp == SeccompMode::Filter;
    if leader_filtered {
        found.add(
            Resource::Task,
            Reason::SeccompFilter {
                filters: leader.seccomp_filters,
            },
        );
    }

    for tid in tasks(pid).map_err(RefusalError::Threads)? {
        if tid == pid {
            continue;
        }
        let thread = match thread_status(pid, tid) {
            Ok(thread) => thread,
            Err(error) if vanished(&error) => continue,
            Err(error) => return Err(RefusalError::Threads(error)),
        };
        let tracer = foreign_tracer(&thread);
        if let Some(tracer) = tracer.filter(|_| tracer != leader_tracer) {
            found.add(Resource::Thread(tid), Reason::Traced { tracer });
        }
        if thread.seccomp == SeccompMode::Filter && !leader_filtered {
            found.add(
                Resource::Thread(tid),
                Reason::SeccompFilter {
                    filters: thread.seccomp_filters,
                },
            );
        }
    }
    Ok(())
}

/// Refuse a process that traces another: a restore would not attach it again, and its tracee
/// (outside the tree, or refused inside it) would carry on untraced.
pub(super) fn check_tracing(pid: Pid, tree: &Tree, found: &mut Findings) {
    for tracee in tree.tracees_of(pid) {
        found.add(Resource::Task, Reason::Tracer { tracee: *tracee });
    }
}

/// The tracer of a task, unless there is none or it is a thread of crust (the dump's own
/// seize).
fn foreign_tracer(status: &Status) -> Option<Pid> {
    let tracer = status.tracer_pid;
    if tracer.as_raw() == 0 || Path::new(&format!("/proc/self/task/{tracer}")).exists() {
        return None;
    }
    Some(tracer)
}

/// Refuse a process crust may not trace: another user's, one holding capabilities crust
/// lacks, or one made undumpable, unless crust has CAP_SYS_PTRACE. Only its status (ids and
/// capabilities, which anyone may read) and the owner of its status file are read, so nothing
/// else of another user's process is; false when it is refused, and then nothing else of it
/// must be read.
pub(super) fn check_owner(pid: Pid, found: &mut Findings) -> Result<bool, RefusalError> {
    match owner_refusal(pid)? {
        Some(reason) => {
            found.add(Resource::Task, reason);
            Ok(false)
        }
        None => Ok(true),
    }
}

/// Whether crust may trace `pid` (true when that cannot be read: the check of the process
/// itself then says why).
pub(super) fn may_trace(pid: Pid) -> bool {
    owner_refusal(pid).map_or(true, |refusal| refusal.is_none())
}

fn owner_refusal(pid: Pid) -> Result<Option<Reason>, RefusalError> {
    let crust = CrustCredentials::read().map_err(RefusalError::Credentials)?;
    if crust.may_trace_other_users() {
        return Ok(None);
    }
    let status_path = crate::proc::proc_path(pid, "status");
    let status = status(pid).map_err(RefusalError::Task)?;
    let proc_owner = std::fs::metadata(&status_path)
        .map(|meta| std::os::unix::fs::MetadataExt::uid(&meta))
        .map_err(|source| {
            let path = status_path.clone();
            RefusalError::Task(crate::proc::ProcError::Stat { pid, path, source })
        })?;
    // In a user namespace of its own (one crust's user made, as its ids show), its
    // capabilities are that namespace's, which crust's user holds all of: ptrace does not
    // compare them, and the namespace is refused on its own.
    let user_ns = |of| crate::proc::ns::ns_inode(of, crate::proc::ns::NsKind::User).ok();
    let own_user_ns = user_ns(pid).is_some() && user_ns(pid) == user_ns(nix::unistd::getpid());
    let tracer = Tracer {
        uid: crust.uid(),
        gid: crust.gid(),
        permitted: if own_user_ns {
            crust.permitted()
        } else {
            u64::MAX
        },
    };
    Ok(foreign_owner(&status, proc_owner, tracer))
}

/// What ptrace compares of a tracer without CAP_SYS_PTRACE.
#[derive(Debug, Clone, Copy)]
struct Tracer {
    uid: u32,
    gid: u32,
    permitted: u64,
}

/// The refusal for a process with `status`, whose /proc files `proc_owner` owns (root when it
/// is undumpable), seen by a crust without CAP_SYS_PTRACE: ptrace wants its real, effective
/// and saved ids to be crust's, its capabilities a subset of crust's, and it dumpable.
fn foreign_owner(status: &Status, proc_owner: u32, crust: Tracer) -> Option<Reason> {
    let Ids {
        real,
        effective,
        saved,
        ..
    } = status.uid;
    if let Some(uid) = [real, effective, saved]
        .into_iter()
        .find(|&uid| uid != crust.uid)
    {
        let crust_uid = crust.uid;
        return Some(Reason::OtherUser { uid, crust_uid });
    }
    let Ids {
        real,
        effective,
        saved,
        ..
    } = status.gid;
    if let Some(gid) = [real, effective, saved]
        .into_iter()
        .find(|&gid| gid != crust.gid)
    {
        let crust_gid = crust.gid;
        return Some(Reason::OtherGroup { gid, crust_gid });
    }
    let beyond = status.cap_prm & !crust.permitted;
    if beyond != 0 {
        return Some(Reason::MoreCapabilities { caps: beyond });
    }
    if proc_owner != crust.uid {
        return Some(Reason::Undumpable);
    }
    None
}

/// Refuse a session or process group the restore could not recreate, and a controlling
/// terminal. The root of the tree must lead its session and group (their leaders would
/// otherwise be outside the dump); every other process either leads its session or shares
/// its parent's (a restore can only give it a session by inheritance), and its group is led
/// by a process of the tree (a zombie leader's group is recreated before it exits) or has no
/// leader any more and no member outside the tree.
pub(super) fn check_session(
    pid: Pid,
    tree: &Tree,
    allowed: &super::Allowances,
    found: &mut Findings,
) -> Result<(), RefusalError> {
    let stat = crate::proc::stat::stat(pid).map_err(RefusalError::Task)?;
    match tree.parent(pid) {
        // A shell job's session and group are the shell's: restored into crust's.
        None if allowed.shell_job => {}
        None if stat.session != pid => {
            let reason = Reason::ForeignSession { sid: stat.session };
            found.add_with_option(Resource::Task, reason, "--shell-job");
        }
        None if stat.pgrp != pid => {
            let reason = Reason::ForeignGroup { pgid: stat.pgrp };
            found.add_with_option(Resource::Task, reason, "--shell-job");
        }
        None => {}
        Some(parent) => {
            let parent_sid = crate::proc::stat::stat(parent)
                .map_err(RefusalError::Task)?
                .session;
            if stat.session != pid && stat.session != parent_sid {
                let sid = stat.session;
                found.add(Resource::Task, Reason::SessionNotInherited { sid, parent });
            }
            let pgid = stat.pgrp;
            let shells_group = allowed.shell_job && tree.root_group() == Some(pgid);
            if pgid != pid && !tree.contains(pgid) && !shells_group && !orphan_group(pgid, tree) {
                found.add(Resource::Task, Reason::ForeignGroup { pgid });
            }
        }
    }
    Ok(())
}

/// Whether group `pgid` lost its leader (no task has that pid) and every member is in the
/// tree: the restore recreates it with a helper task that leads it while the members join.
fn orphan_group(pgid: Pid, tree: &Tree) -> bool {
    if crate::proc::proc_path(pgid, "stat").exists() {
        return false;
    }
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    let outside_member = entries.flatten().any(|entry| {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
            return false;
        };
        let pid = Pid::from_raw(pid);
        !tree.contains(pid) && matches!(stat(pid), Ok(s) if s.pgrp == pgid)
    });
    !outside_member
}

/// Refuse a process that shares its memory with its parent (clone(2) with CLONE_VM but not
/// CLONE_THREAD: vfork).
pub(super) fn check_sharing(pid: Pid, tree: &Tree, found: &mut Findings) {
    const KCMP_VM: i32 = 1;
    let Some(parent) = tree.parent(pid) else {
        return;
    };
    // A shared fd table (CLONE_FILES) or fs information (CLONE_FS) is restored: the child is
    // forked sharing it again. Shared memory without being a thread (vfork) is not.
    let shared = [(KCMP_VM, "memory")];
    for (kind, what) in shared {
        // SAFETY: kcmp takes plain integers and reads no memory of ours.
        let rc =
            unsafe { libc::syscall(libc::SYS_kcmp, parent.as_raw(), pid.as_raw(), kind, 0, 0) };
        if rc == 0 {
            found.add(Resource::Task, Reason::SharedWithParent { what, parent });
        }
    }
}

/// Refuse a task running 32-bit code: its executable is an ELF32 file.
pub(super) fn check_compat(pid: Pid, found: &mut Findings) -> Result<(), RefusalError> {
    use std::io::Read;
    const ELFCLASS32: u8 = 1;
    let mut ident = [0u8; 5];
    let path = crate::proc::proc_path(pid, "exe");
    let read = std::fs::File::open(&path).and_then(|mut exe| exe.read_exact(&mut ident));
    if read.is_ok() && ident[..4] == *b"\x7fELF" && ident[4] == ELFCLASS32 {
        found.add(Resource::Task, Reason::Compat32);
    }
    Ok(())
}

/// Refuse every namespace that is not crust's own, but the root's IPC namespace: a tree whose
/// members all share their root's is dumped with it.
pub(super) fn check_namespaces(
    pid: Pid,
    tree: &Tree,
    found: &mut Findings,
) -> Result<(), RefusalError> {
    let me = nix::unistd::getpid();
    for kind in NsKind::ALL {
        let inode = ns_inode(pid, kind).map_err(RefusalError::Namespaces)?;
        let crust_inode = ns_inode(me, kind).map_err(RefusalError::Namespaces)?;
        if kind == NsKind::Ipc {
            if let Some(root_inode) = tree.own_ipc() {
                if inode != root_inode {
                    let reason = Reason::NotRootIpcNamespace { inode, root_inode };
                    found.add(Resource::Namespace(kind), reason);
                }
                continue;
            }
        }
        if inode != crust_inode {
            found.add(
                Resource::Namespace(kind),
                Reason::ForeignNamespace { inode, crust_inode },
            );
        }
    }
    Ok(())
}

/// Refuse the root's own IPC namespace when a process outside the tree is in it too: its
/// state in the namespace's objects would be dumped without it.
pub(super) fn check_ipc_sharers(pid: Pid, tree: &Tree, found: &mut Findings) {
    let Some(inode) = tree.own_ipc() else {
        return;
    };
    if pid != tree.root {
        return;
    }
    let outside: Vec<Pid> = crate::proc::ns::processes_in(NsKind::Ipc, inode)
        .into_iter()
        .filter(|&other| !tree.owns(other))
        .collect();
    if let Some(&peer) = outside.first() {
        let reason = Reason::IpcNamespaceShared {
            peer,
            others: outside.len() - 1,
        };
        found.add(Resource::Namespace(NsKind::Ipc), reason);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned_by(uid: [u32; 3], gid: [u32; 3], cap_prm: u64) -> Status {
        let mut status = status(nix::unistd::getpid()).expect("crust's own status");
        let ids = |[real, effective, saved]: [u32; 3]| Ids {
            real,
            effective,
            saved,
            fs: effective,
        };
        status.uid = ids(uid);
        status.gid = ids(gid);
        status.cap_prm = cap_prm;
        status
    }

    const USER: Tracer = Tracer {
        uid: 1000,
        gid: 100,
        permitted: 1 << 40,
    };

    #[test]
    fn a_users_own_process_passes() {
        let status = owned_by([1000; 3], [100; 3], 1 << 40);
        assert_eq!(foreign_owner(&status, 1000, USER), None);
    }

    #[test]
    fn any_other_id_is_named() {
        let other_uid = |uid, crust_uid| Some(Reason::OtherUser { uid, crust_uid });
        let status = owned_by([1000, 1000, 0], [100; 3], 0);
        assert_eq!(foreign_owner(&status, 1000, USER), other_uid(0, 1000));
        let status = owned_by([0; 3], [0; 3], !0);
        assert_eq!(foreign_owner(&status, 0, USER), other_uid(0, 1000));
        let status = owned_by([1000; 3], [100, 5, 100], 0);
        let other_gid = Some(Reason::OtherGroup {
            gid: 5,
            crust_gid: 100,
        });
        assert_eq!(foreign_owner(&status, 1000, USER), other_gid);
    }

    #[test]
    fn capabilities_beyond_crusts_and_undumpable_processes_are_refused() {
        let status = owned_by([1000; 3], [100; 3], 1 << 40 | 1 << 12);
        let caps = Some(Reason::MoreCapabilities { caps: 1 << 12 });
        assert_eq!(foreign_owner(&status, 1000, USER), caps);
        let status = owned_by([1000; 3], [100; 3], 0);
        assert_eq!(foreign_owner(&status, 0, USER), Some(Reason::Undumpable));
    }

    #[test]
    fn crust_is_refused_alone() {
        let mut found = Findings::new(nix::unistd::getpid());
        assert!(!check_identity(nix::unistd::getpid(), &mut found).unwrap());
        assert_eq!(found.refusals.len(), 1);
        assert_eq!(found.refusals[0].reason, Reason::IsCrust);
    }
}
