//! `struct clone_args` of clone3(2), shared by the restore (which forks with
//! chosen pids) and the kernel probes (which check that set_tid exists).

/// `struct clone_args` as of Linux 5.7 (CLONE_ARGS_SIZE_VER2, 88 bytes).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct CloneArgs {
    /// CLONE_* flags.
    pub flags: u64,
    /// Where to store a pidfd (CLONE_PIDFD).
    pub pidfd: u64,
    /// Where to store the child's tid in the child (CLONE_CHILD_SETTID).
    pub child_tid: u64,
    /// Where to store the child's tid in the parent (CLONE_PARENT_SETTID).
    pub parent_tid: u64,
    /// Signal sent to the parent when the child exits.
    pub exit_signal: u64,
    /// Lowest address of the child's stack.
    pub stack: u64,
    /// Size of the child's stack.
    pub stack_size: u64,
    /// New TLS (CLONE_SETTLS).
    pub tls: u64,
    /// Address of an array of pids the child gets, innermost namespace first.
    pub set_tid: u64,
    /// Length of that array.
    pub set_tid_size: u64,
    /// cgroup fd (CLONE_INTO_CGROUP).
    pub cgroup: u64,
}

impl CloneArgs {
    /// The size clone3 is told.
    pub const SIZE: usize = std::mem::size_of::<CloneArgs>();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_the_kernels() {
        assert_eq!(CloneArgs::SIZE, 88);
        assert_eq!(memoffset::offset_of!(CloneArgs, exit_signal), 32);
        assert_eq!(memoffset::offset_of!(CloneArgs, set_tid), 64);
        assert_eq!(memoffset::offset_of!(CloneArgs, cgroup), 80);
    }
}
