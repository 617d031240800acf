//! `filelocks.img` (file_lock.proto): every file lock of the dumped tree, one entry each, the
//! owning task named by `pid` and the lock found through that task's fd `fd`.

use serde::Serialize;

/// `flag` of a POSIX (`fcntl(F_SETLK)`, `lockf`) lock.
pub const FL_POSIX: u32 = 1;
/// `flag` of a BSD (`flock(2)`) lock.
pub const FL_FLOCK: u32 = 2;
/// `flag` of an open file description lock (`fcntl(F_OFD_SETLK)`).
pub const FL_OFD: u32 = 4;
/// `flag` of a lease (`F_SETLEASE`); crust never writes it.
pub const FL_LEASE: u32 = 8;

/// `type` of a shared lock (`F_RDLCK`; `LOCK_SH` for flock).
pub const F_RDLCK: u32 = 0;
/// `type` of an exclusive lock (`F_WRLCK`; `LOCK_EX` for flock).
pub const F_WRLCK: u32 = 1;

/// `file_lock_entry`: one lock. `len` 0 runs to the end of the file, as in `struct flock`.
#[derive(Clone, PartialEq, prost::Message, Serialize)]
pub struct FileLockEntry {
    #[prost(uint32, required, tag = "1")]
    pub flag: u32,
    #[prost(uint32, required, tag = "2")]
    pub r#type: u32,
    #[prost(int32, required, tag = "3")]
    pub pid: i32,
    #[prost(int32, required, tag = "4")]
    pub fd: i32,
    #[prost(int64, required, tag = "5")]
    pub start: i64,
    #[prost(int64, required, tag = "6")]
    pub len: i64,
}
