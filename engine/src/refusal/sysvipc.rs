//! Refusals about SysV message queues and semaphore sets of crust's IPC namespace that the
//! process used. Attached shared memory is found through maps instead (see `memory`).
//!
//! The kernel shows only some uses: a queue names its last sender and receiver, a semaphore the
//! last process that operated on it. A semaphore's undo entries (`SEM_UNDO`) are seen by no
//! one but their owner, so a process that operated on a set with undo and was followed by
//! another process is not found.

use std::fmt;

use nix::unistd::Pid;

use super::{Findings, Reason, RefusalError, Resource};
use crate::proc::sysvipc::{last_operators, msg_queues, sem_sets, MsgQueue};

/// A kind of SysV IPC object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SysvObject {
    /// A message queue (`msgget`).
    MessageQueue,
    /// A semaphore set (`semget`).
    SemaphoreSet,
}

impl fmt::Display for SysvObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::MessageQueue => "SysV message queue",
            Self::SemaphoreSet => "SysV semaphore set",
        })
    }
}

/// Check the message queues and semaphore sets `pid` is seen to use.
pub(super) fn check_sysv_ipc(pid: Pid, found: &mut Findings) -> Result<(), RefusalError> {
    for queue in msg_queues().map_err(RefusalError::Ipc)? {
        if queue_used_by(&queue, pid) {
            found.add(
                sysv(SysvObject::MessageQueue, queue.key, queue.msqid),
                Reason::SysvIpc,
            );
        }
    }
    for set in sem_sets().map_err(RefusalError::Ipc)? {
        let Some(operators) = last_operators(&set).map_err(RefusalError::Ipc)? else {
            continue;
        };
        if operators.contains(&pid.as_raw()) {
            found.add(
                sysv(SysvObject::SemaphoreSet, set.key, set.semid),
                Reason::SysvIpc,
            );
        }
    }
    Ok(())
}

fn sysv(object: SysvObject, key: i32, id: i32) -> Resource {
    Resource::SysvIpc { object, key, id }
}

/// Whether `pid` was the last to send to or receive from `queue`.
fn queue_used_by(queue: &MsgQueue, pid: Pid) -> bool {
    queue.lspid == pid.as_raw() || queue.lrpid == pid.as_raw()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_use_is_its_last_sender_or_receiver() {
        let queue = MsgQueue {
            key: 0x1234,
            msqid: 3,
            qnum: 1,
            lspid: 40,
            lrpid: 0,
        };
        assert!(queue_used_by(&queue, Pid::from_raw(40)));
        assert!(!queue_used_by(&queue, Pid::from_raw(41)));
    }

    #[test]
    fn line() {
        let refusal = super::super::Refusal {
            pid: Pid::from_raw(7),
            resource: sysv(SysvObject::MessageQueue, 0x1234, 3),
            reason: Reason::SysvIpc,
            option: None,
        };
        assert_eq!(
            refusal.to_string(),
            "pid 7: SysV message queue (key 0x00001234, id 3): crust does not dump the SysV \
             objects of its own IPC namespace; a tree running in an IPC namespace of its own \
             (started with `unshare --ipc`) is dumped with its objects"
        );
    }
}
