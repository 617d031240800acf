//! Making an object as the user who made it first. The kernel records the caller's effective
//! uid and gid as an object's creator (`cuid`, `cgid`), and `IPC_SET` cannot change them, so
//! the thread making the object takes those ids for the one call and crust's back after it.
//!
//! Only the calling thread changes: the raw `setresuid`/`setresgid` system calls act on the
//! caller alone (glibc's wrappers would change every thread of crust). The thread is one of
//! [`super::in_namespace_of`]'s, which ends with its work.

use nix::errno::Errno;

use crate::snapshot::IpcPerm;

/// Runs `make` (a `*get` call) with the calling thread's effective uid and gid set to the
/// creator `perm` names, and returns what it returned; crust's own ids are back before this
/// returns. With the creator already crust's, `make` runs as it is.
pub(super) fn as_creator(
    perm: &IpcPerm,
    make: impl FnOnce() -> libc::c_int,
) -> Result<libc::c_int, Errno> {
    // SAFETY: geteuid and getegid take no arguments and cannot fail.
    let (euid, egid) = unsafe { (libc::geteuid(), libc::getegid()) };
    if (euid, egid) == (perm.cuid, perm.cgid) {
        return Errno::result(make());
    }
    // SAFETY: PR_GET_DUMPABLE takes no pointer and returns the flag.
    let dumpable = Errno::result(unsafe { libc::prctl(libc::PR_GET_DUMPABLE) })?;
    let made = as_ids(perm.cuid, perm.cgid, (euid, egid), make);
    // A change of effective id resets the dumpable flag of all of crust (its mm's): put it back.
    // SAFETY: PR_SET_DUMPABLE takes the flag as a plain integer.
    Errno::result(unsafe { libc::prctl(libc::PR_SET_DUMPABLE, dumpable) })?;
    made
}

/// Runs `make` as effective `uid` and `gid`, then goes back to `own` (uid, gid).
fn as_ids(
    uid: u32,
    gid: u32,
    own: (u32, u32),
    make: impl FnOnce() -> libc::c_int,
) -> Result<libc::c_int, Errno> {
    set_effective(libc::SYS_setresgid, gid)?;
    if let Err(errno) = set_effective(libc::SYS_setresuid, uid) {
        set_effective(libc::SYS_setresgid, own.1)?;
        return Err(errno);
    }
    let made = Errno::result(make());
    // The uid first: only with root's capabilities back may the gid change again.
    set_effective(libc::SYS_setresuid, own.0)?;
    set_effective(libc::SYS_setresgid, own.1)?;
    made
}

/// Sets the calling thread's effective id alone with `setresuid` or `setresgid` (`call`),
/// leaving its real and saved ids as they are.
fn set_effective(call: libc::c_long, id: u32) -> Result<(), Errno> {
    const UNCHANGED: libc::c_long = -1;
    // SAFETY: setresuid and setresgid take three integers and touch no memory of ours; made
    // raw, they change the calling thread's credentials only.
    let rc = unsafe { libc::syscall(call, UNCHANGED, libc::c_long::from(id), UNCHANGED) };
    Errno::result(rc).map(drop)
}
