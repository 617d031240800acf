//! Driving a restored task with remote syscalls.
//!
//! The task is a fresh fork of crust, seized with compel. All its work is
//! done by syscalls crust makes it run through a `syscall` instruction in a
//! scratch area: a page range chosen outside every area of the process being
//! restored, holding the trampoline and the structures syscalls take by
//! pointer. The scratch area is the last thing unmapped.

use std::io::IoSlice;

use compel::ptrace::Tracee;
use nix::sys::uio::{process_vm_writev, RemoteIoVec};
use nix::unistd::Pid;

use super::RestoreError;

/// Size of the scratch area.
pub const SCRATCH_SIZE: u64 = 64 * 1024;
/// Where in the scratch area syscall arguments are placed.
const DATA_OFFSET: u64 = 4096;

/// One thread of the task being restored, with a way to run syscalls in it.
#[derive(Debug)]
pub struct RemoteThread {
    /// The seized thread.
    pub tracee: Tracee,
    /// Address of the `syscall` instruction to run through.
    pub trampoline: u64,
}

impl RemoteThread {
    /// The thread id.
    pub fn tid(&self) -> Pid {
        self.tracee.tid()
    }

    /// Runs `nr(args)` and returns its raw result, for syscalls whose result
    /// is no errno (setfsuid returns the previous id). A termination signal
    /// sent to crust stops the restore here.
    pub fn call_raw(
        &mut self,
        step: &'static str,
        nr: i64,
        args: [u64; 6],
    ) -> Result<i64, RestoreError> {
        compel::signals::check()?;
        let tid = self.tid().as_raw();
        let remote = |source| RestoreError::Remote {
            tid,
            step,
            source: Box::new(source),
        };
        self.tracee
            .syscall(self.trampoline, nr, args)
            .map_err(remote)
    }

    /// Runs `nr(args)`; a negative result is an error naming `step`.
    pub fn call(
        &mut self,
        step: &'static str,
        nr: i64,
        args: [u64; 6],
    ) -> Result<u64, RestoreError> {
        let result = self.call_raw(step, nr, args)?;
        let tid = self.tid();
        compel::remote::check_result(tid, nr, result).map_err(|source| RestoreError::Remote {
            tid: tid.as_raw(),
            step,
            source: Box::new(source),
        })
    }
}

/// The scratch area of a task being restored.
#[derive(Debug, Clone, Copy)]
pub struct Scratch {
    /// First address.
    pub base: u64,
    /// The task (any of its threads: they share the memory).
    pub pid: Pid,
}

impl Scratch {
    /// The trampoline's address (the first bytes of the area).
    pub fn trampoline(&self) -> u64 {
        self.base
    }

    /// Copies `bytes` into the argument space at `offset` and returns their
    /// remote address.
    pub fn put(&self, offset: u64, bytes: &[u8]) -> Result<u64, RestoreError> {
        let end = offset.checked_add(bytes.len() as u64);
        if end.is_none_or(|end| end > SCRATCH_SIZE - DATA_OFFSET) {
            return Err(RestoreError::ScratchTooSmall {
                pid: self.pid.as_raw(),
                need: end,
            });
        }
        let addr = self.base + DATA_OFFSET + offset;
        write_memory(self.pid, addr, bytes)?;
        Ok(addr)
    }
}

/// Writes `bytes` at `addr` in `pid`'s memory.
pub fn write_memory(pid: Pid, addr: u64, bytes: &[u8]) -> Result<(), RestoreError> {
    let remote = [RemoteIoVec {
        base: addr as usize,
        len: bytes.len(),
    }];
    let written = process_vm_writev(pid, &[IoSlice::new(bytes)], &remote).map_err(|errno| {
        RestoreError::AccessMemory {
            pid: pid.as_raw(),
            addr,
            errno,
        }
    })?;
    if written != bytes.len() {
        let errno = nix::errno::Errno::EFAULT;
        return Err(RestoreError::AccessMemory {
            pid: pid.as_raw(),
            addr,
            errno,
        });
    }
    Ok(())
}

/// Reads `out.len()` bytes at `addr` in `pid`'s memory.
pub fn read_memory(pid: Pid, addr: u64, out: &mut [u8]) -> Result<(), RestoreError> {
    let remote = [RemoteIoVec {
        base: addr as usize,
        len: out.len(),
    }];
    let want = out.len();
    let read = nix::sys::uio::process_vm_readv(pid, &mut [std::io::IoSliceMut::new(out)], &remote)
        .map_err(|errno| RestoreError::AccessMemory {
            pid: pid.as_raw(),
            addr,
            errno,
        })?;
    if read != want {
        let errno = nix::errno::Errno::EFAULT;
        return Err(RestoreError::AccessMemory {
            pid: pid.as_raw(),
            addr,
            errno,
        });
    }
    Ok(())
}

/// Views a plain-old-data value as its bytes, to pass it by pointer.
pub fn bytes_of<T: Copy>(value: &T) -> &[u8] {
    // SAFETY: `value` is a live, initialised `T`; the slice covers exactly its
    // size and borrows it, so it cannot outlive it. Callers pass #[repr(C)]
    // kernel structures without padding or u64 arrays.
    unsafe {
        std::slice::from_raw_parts((value as *const T).cast::<u8>(), std::mem::size_of::<T>())
    }
}
