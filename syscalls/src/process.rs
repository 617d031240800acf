//! The calling process and thread: ids, prctl, exit.
//!
//! # Safety
//!
//! Only `prctl` can make the kernel follow an address; it is an `unsafe fn`.
#![allow(unsafe_code)]

use arch::x86_64::nr;

use crate::raw::{syscall0, syscall1, syscall5};
use crate::Errno;

/// `pid_t getpid(void)`: the thread group id. Cannot fail.
pub fn getpid() -> i32 {
    // SAFETY: getpid touches no memory.
    unsafe { syscall0(nr::GETPID) as i32 }
}

/// `pid_t gettid(void)`: the calling thread's id. Cannot fail.
pub fn gettid() -> i32 {
    // SAFETY: gettid touches no memory.
    unsafe { syscall0(nr::GETTID) as i32 }
}

/// `void exit_group(int status)`: ends every thread of the process.
pub fn exit_group(status: i32) -> ! {
    loop {
        // SAFETY: exit_group touches no memory and does not return.
        unsafe { syscall1(nr::EXIT_GROUP, status as usize) };
    }
}

/// `int prctl(int option, unsigned long arg2, ..., arg5)`.
///
/// # Safety
///
/// Options that take addresses must be given addresses of live memory of
/// the right size; some options change the process in ways Rust code
/// relies on (e.g. `PR_SET_MM`).
pub unsafe fn prctl(
    option: i32,
    a2: usize,
    a3: usize,
    a4: usize,
    a5: usize,
) -> Result<usize, Errno> {
    // SAFETY: the caller vouches for the arguments.
    Errno::result(unsafe { syscall5(nr::PRCTL, option as usize, a2, a3, a4, a5) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_match_std() {
        assert_eq!(getpid() as u32, std::process::id());
        // SAFETY: gettid has no preconditions.
        assert_eq!(gettid(), unsafe { libc::gettid() });
    }

    #[test]
    fn prctl_reads_the_dumpable_flag() {
        const PR_GET_DUMPABLE: i32 = 3;
        // SAFETY: PR_GET_DUMPABLE takes no address.
        let dumpable = unsafe { prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) };
        assert!(matches!(dumpable, Ok(0..=2)), "{dumpable:?}");
        // SAFETY: an unknown option is rejected before any argument is read.
        assert_eq!(unsafe { prctl(-1, 0, 0, 0, 0) }, Err(Errno::EINVAL));
    }
}
