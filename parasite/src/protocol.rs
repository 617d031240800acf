//! The parasite protocol: what the host (compel) and the parasite blob
//! agree on. Both sides compile this very file (compel through
//! `#[path = "../../parasite/src/protocol.rs"] mod protocol;`), so the two
//! can never disagree. Only `#[repr(C)]` types and constants, `core` only.
//!
//! # The shared area
//!
//! One `MAP_SHARED | MAP_ANONYMOUS` mapping in the victim, also mapped by
//! the host, laid out by the host:
//!
//! ```text
//! [ relocated blob image | AreaHeader | args region | stack ... | sigframe ]
//! ```
//!
//! The parasite starts at the blob entry with `rdi` = remote address of the
//! [`AreaHeader`] and `rsp` = top of its stack; it realigns `rsp` itself.
//! Offsets in the header are from the header's own address.
//!
//! # Commands
//!
//! Over the control socket (`AF_UNIX`, `SOCK_SEQPACKET`, fd
//! [`AreaHeader::control_fd`] in the victim) the host sends one [`Command`]
//! per message and the parasite answers each with one [`Reply`] per message
//! (`status` 0 or `-errno`). See [`CommandKind`] for each command.
//!
//! A message whose size is not that of a `Command` gets `-EPROTO`; an
//! unknown kind gets `-ENOSYS`. File descriptors arriving with any command
//! but [`CommandKind::ReceivePipe`] are closed.
//!
//! # Self-cure
//!
//! When `recvmsg` on the control socket returns 0 (EOF) or fails, the host
//! is gone: the parasite closes its pipe and control fds and returns the
//! thread to where it was with `rt_sigreturn` on the sigframe the host
//! wrote. The blob mapping itself is leaked.
//!
//! The sigframe address lives in the blob's own data, in the `u64` at
//! symbol [`SIGFRAME_SYMBOL`], so that [`SELFCURE_SYMBOL`] needs no register
//! and no stack: the area trampoline (`syscall; jmp parasite_selfcure`)
//! jumps there from any context. The host writes the sigframe's remote
//! address into that `u64` of the image before copying it into the area;
//! when the parasite starts it overwrites it with `header +
//! sigframe_offset`, so after the start the header is the source of truth.
//!
//! At start the parasite also copies the thread's sigaltstack
//! (`sigaltstack(NULL, &old)`) into the sigframe's `uc_stack`, because
//! `rt_sigreturn` installs `uc_stack` as the thread's alternate stack.
//!
//! The host should keep every signal blocked in the victim while the
//! parasite runs (the sigframe restores the real mask). The parasite sends
//! with `MSG_NOSIGNAL`; if a `vmsplice` met `EPIPE` (the host's end of the
//! pipe died), the parasite drops the SIGPIPE that queued for the thread
//! before it cures itself.

/// [`AreaHeader::magic`]: "crustPAR" in little-endian bytes.
pub const AREA_MAGIC: u64 = u64::from_le_bytes(*b"crustPAR");
/// [`AreaHeader::version`] of this file.
pub const PROTOCOL_VERSION: u32 = 1;

/// Exported symbol of the self-cure entry (no stack or register needed).
pub const SELFCURE_SYMBOL: &str = "parasite_selfcure";
/// Exported symbol of the `u64` holding the sigframe's remote address.
pub const SIGFRAME_SYMBOL: &str = "parasite_sigframe";

/// Most file descriptors sent in one `SCM_RIGHTS` message.
pub const MAX_FDS_PER_MESSAGE: usize = 16;

/// At the start of the area after the blob; the parasite gets its address
/// in `rdi`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AreaHeader {
    /// [`AREA_MAGIC`]; the parasite exits through `int3` if it differs.
    pub magic: u64,
    /// [`PROTOCOL_VERSION`]; checked like `magic`.
    pub version: u32,
    /// The victim's end of the control socket.
    pub control_fd: i32,
    /// Offset of the args region from the header.
    pub args_offset: u64,
    /// Size of the args region.
    pub args_size: u64,
    /// Offset of the rt_sigframe from the header.
    pub sigframe_offset: u64,
}

/// What a [`Command`] asks for.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommandKind {
    /// Fill a [`TaskInfo`] at the start of the args region; reply 0.
    Info = 1,
    /// The message carries one fd with `SCM_RIGHTS`, a pipe's write end.
    /// The parasite keeps it, closing any earlier one; reply 0. `-EINVAL`
    /// if no fd came, `-EPROTO` if control data was cut short.
    ReceivePipe = 2,
    /// The args region holds `count` [`PageRange`]s. The parasite
    /// `vmsplice`s them in order into the pipe (without `SPLICE_F_GIFT`,
    /// looping on partial transfers) and replies `value` = total bytes. On
    /// failure `status` is `-errno` and `value` the bytes moved before it.
    /// `-EBADF` without a pipe, `-EINVAL` if the ranges overflow the args
    /// region.
    DrainPages = 3,
    /// The args region holds `count` `i32` fd numbers. The parasite sends
    /// them back in order, at most [`MAX_FDS_PER_MESSAGE`] per message, each
    /// message's data being the [`Reply`] for its batch (`value` = fds in the
    /// batch). A failing batch (a bad fd gives `-EBADF`) is answered by a
    /// reply with `-errno` and no fds, and ends the command. `count` 0 gets
    /// one reply with `value` 0.
    SendFds = 4,
    /// Reply 0, close the pipe, then `int3`: the host sees the SIGTRAP stop
    /// and cures. The control fd stays open for the host to close.
    Finish = 5,
    /// Touch address 0 (tests that a crashing parasite is cured cleanly).
    Fault = 6,
}

impl CommandKind {
    /// The kind for a raw [`Command::kind`].
    pub fn from_raw(raw: u32) -> Option<Self> {
        Some(match raw {
            1 => Self::Info,
            2 => Self::ReceivePipe,
            3 => Self::DrainPages,
            4 => Self::SendFds,
            5 => Self::Finish,
            6 => Self::Fault,
            _ => return None,
        })
    }
}

/// One command, one message.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Command {
    /// A [`CommandKind`] as `u32`.
    pub kind: u32,
    /// Number of items in the args region, where the kind uses it.
    pub count: u32,
    /// Kind-specific argument (unused so far, zero).
    pub arg: u64,
}

/// One reply, one message.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reply {
    /// 0 or `-errno`.
    pub status: i64,
    /// Kind-specific result.
    pub value: u64,
}

/// A `struct timeval`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TimeVal {
    /// Seconds.
    pub sec: i64,
    /// Microseconds.
    pub usec: i64,
}

/// A `struct itimerval`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Itimer {
    /// Reload value.
    pub interval: TimeVal,
    /// Time to the next expiry; zero when disarmed.
    pub value: TimeVal,
}

/// A `stack_t`, as `sigaltstack(NULL, &old)` returns it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AltStack {
    /// Base of the alternate stack.
    pub sp: u64,
    /// `SS_ONSTACK`, `SS_DISABLE`, `SS_AUTODISARM`.
    pub flags: i32,
    /// Padding, zero.
    pub _pad: u32,
    /// Size of the alternate stack.
    pub size: u64,
}

/// What [`CommandKind::Info`] reports: state only the task can read.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TaskInfo {
    /// `getpid()` (in the task's pid namespace).
    pub pid: i32,
    /// `gettid()` (in the task's pid namespace).
    pub tid: i32,
    /// The thread's alternate signal stack.
    pub altstack: AltStack,
    /// `getitimer` of `ITIMER_REAL`, `ITIMER_VIRTUAL`, `ITIMER_PROF`.
    pub itimers: [Itimer; 3],
}

/// A page-aligned range of the victim's memory, for
/// [`CommandKind::DrainPages`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PageRange {
    /// Start address.
    pub start: u64,
    /// Length in bytes.
    pub len: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::{offset_of, size_of};

    #[test]
    fn area_header_layout() {
        assert_eq!(size_of::<AreaHeader>(), 40);
        assert_eq!(offset_of!(AreaHeader, version), 8);
        assert_eq!(offset_of!(AreaHeader, control_fd), 12);
        assert_eq!(offset_of!(AreaHeader, args_offset), 16);
        assert_eq!(offset_of!(AreaHeader, args_size), 24);
        assert_eq!(offset_of!(AreaHeader, sigframe_offset), 32);
    }

    #[test]
    fn message_layouts() {
        assert_eq!(size_of::<Command>(), 16);
        assert_eq!(offset_of!(Command, count), 4);
        assert_eq!(offset_of!(Command, arg), 8);
        assert_eq!(size_of::<Reply>(), 16);
        assert_eq!(offset_of!(Reply, value), 8);
        assert_eq!(size_of::<PageRange>(), 16);
    }

    #[test]
    fn task_info_layout() {
        assert_eq!(size_of::<AltStack>(), 24);
        assert_eq!(offset_of!(AltStack, flags), 8);
        assert_eq!(offset_of!(AltStack, size), 16);
        assert_eq!(size_of::<Itimer>(), 32);
        assert_eq!(offset_of!(Itimer, value), 16);
        assert_eq!(offset_of!(TaskInfo, tid), 4);
        assert_eq!(offset_of!(TaskInfo, altstack), 8);
        assert_eq!(offset_of!(TaskInfo, itimers), 32);
        assert_eq!(size_of::<TaskInfo>(), 128);
    }

    #[test]
    fn command_kinds_round_trip() {
        for raw in 1..=6 {
            let kind = CommandKind::from_raw(raw).expect("known kind");
            assert_eq!(kind as u32, raw);
        }
        assert_eq!(CommandKind::from_raw(0), None);
        assert_eq!(CommandKind::from_raw(7), None);
    }
}
