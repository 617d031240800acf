//! What a tree's own IPC namespace needs: reading messages without taking them, and choosing
//! the id of the next object made.

use std::fs::OpenOptions;

use nix::errno::Errno;

use super::{file_error, last_syscall_error, KerndatError};

const SHM_NEXT_ID: &str = "/proc/sys/kernel/shm_next_id";

/// `msgrcv` with `MSG_COPY` (CONFIG_CHECKPOINT_RESTORE): asked of queue -1, a kernel that has
/// it looks the queue up and says EINVAL; one without says ENOSYS before that.
pub(super) fn msg_copy() -> Result<(), KerndatError> {
    let mut buffer = [0u8; std::mem::size_of::<libc::c_long>()];
    let flags = libc::MSG_COPY | libc::IPC_NOWAIT;
    // SAFETY: msgrcv may write a type (a long) and no body (size 0) into `buffer`, which is
    // that long and lives across the call.
    let ret = unsafe { libc::msgrcv(-1, buffer.as_mut_ptr().cast(), 0, 0, flags) };
    match (ret, Errno::last()) {
        (-1, Errno::EINVAL) => Ok(()),
        _ => Err(last_syscall_error("msgrcv(MSG_COPY)")),
    }
}

/// The `*_next_id` sysctls, opened for writing (nothing is written: opening sets no id).
pub(super) fn next_id() -> Result<(), KerndatError> {
    OpenOptions::new()
        .write(true)
        .open(SHM_NEXT_ID)
        .map(drop)
        .map_err(file_error(SHM_NEXT_ID))
}
