//! The error half of a raw syscall result.

/// A Linux errno value (positive), as a syscall returns it negated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Errno(pub i32);

impl Errno {
    /// Operation not permitted.
    pub const EPERM: Errno = Errno(1);
    /// No such file or directory.
    pub const ENOENT: Errno = Errno(2);
    /// Interrupted system call.
    pub const EINTR: Errno = Errno(4);
    /// Bad file descriptor.
    pub const EBADF: Errno = Errno(9);
    /// Try again.
    pub const EAGAIN: Errno = Errno(11);
    /// Out of memory.
    pub const ENOMEM: Errno = Errno(12);
    /// Bad address.
    pub const EFAULT: Errno = Errno(14);
    /// Invalid argument.
    pub const EINVAL: Errno = Errno(22);
    /// Broken pipe.
    pub const EPIPE: Errno = Errno(32);
    /// Function not implemented.
    pub const ENOSYS: Errno = Errno(38);
    /// Protocol error.
    pub const EPROTO: Errno = Errno(71);
    /// Message too long.
    pub const EMSGSIZE: Errno = Errno(90);

    /// Largest errno the kernel returns; results in `-4095..=-1` are errors.
    pub const MAX: i32 = 4095;

    /// Splits a raw syscall return value into a value or an errno.
    pub fn result(ret: isize) -> Result<usize, Errno> {
        if (-(Self::MAX as isize)..0).contains(&ret) {
            Err(Errno(-(ret as i32)))
        } else {
            Ok(ret as usize)
        }
    }

    /// The value negated, as the kernel returns it and the parasite
    /// protocol carries it.
    pub fn negated(self) -> i64 {
        -i64::from(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_negatives_are_errors_other_values_are_not() {
        assert_eq!(Errno::result(-9), Err(Errno::EBADF));
        assert_eq!(Errno::result(-4095), Err(Errno(4095)));
        assert_eq!(Errno::result(0), Ok(0));
        assert_eq!(Errno::result(-4096), Ok((-4096isize) as usize));
        assert_eq!(Errno::EBADF.negated(), -9);
    }
}
