//! The shared area as the parasite sees it: the header, the args region and
//! the sigframe, all at addresses the host chose.
//!
//! # Safety
//!
//! The area is a mapping the host made for the parasite and keeps mapped
//! until the parasite is done; the host does not touch the args region
//! while a command runs. [`Area::from_header`] checks the header and the
//! arithmetic once; later accesses stay within the bounds it computed.
#![allow(unsafe_code)]

use core::mem::{align_of, offset_of, size_of};

use arch::x86_64::sigframe::{RtSigframe, UContext, UcStack};
use syscalls::Errno;

use crate::protocol::{AreaHeader, AREA_MAGIC, PROTOCOL_VERSION};

/// The checked addresses of the area's parts.
pub struct Area {
    control_fd: i32,
    args: usize,
    args_size: usize,
    sigframe: usize,
}

impl Area {
    /// Reads and checks the header at `header`. `None` when the magic or
    /// version is wrong or an offset overflows the address space.
    ///
    /// # Safety
    ///
    /// `header` must be the address of a readable [`AreaHeader`] in the
    /// host's area, which must stay mapped.
    pub unsafe fn from_header(header: usize) -> Option<Area> {
        if !header.is_multiple_of(align_of::<AreaHeader>()) {
            return None;
        }
        // SAFETY: the caller vouches for the address; alignment checked.
        let h = unsafe { (header as *const AreaHeader).read_volatile() };
        if h.magic != AREA_MAGIC || h.version != PROTOCOL_VERSION {
            return None;
        }
        let args = header.checked_add(usize::try_from(h.args_offset).ok()?)?;
        let args_size = usize::try_from(h.args_size).ok()?;
        args.checked_add(args_size)?;
        let sigframe = header.checked_add(usize::try_from(h.sigframe_offset).ok()?)?;
        sigframe.checked_add(RtSigframe::SIZE)?;
        Some(Area {
            control_fd: h.control_fd,
            args,
            args_size,
            sigframe,
        })
    }

    /// The victim's end of the control socket.
    pub fn control_fd(&self) -> i32 {
        self.control_fd
    }

    /// Remote (= own) address of the rt_sigframe.
    pub fn sigframe(&self) -> usize {
        self.sigframe
    }

    /// The first `count` items of type `T` in the args region.
    /// `EINVAL` if they do not fit or the region is misaligned for `T`.
    ///
    /// `T` must be a plain integer type or struct of integers (every bit
    /// pattern valid): only the protocol's arg types are used.
    pub fn args<T: Copy>(&self, count: usize) -> Result<&[T], Errno> {
        let bytes = count.checked_mul(size_of::<T>()).ok_or(Errno::EINVAL)?;
        if bytes > self.args_size || !self.args.is_multiple_of(align_of::<T>()) {
            return Err(Errno::EINVAL);
        }
        // SAFETY: the region is mapped for args_size bytes (module Safety),
        // `bytes` fit in it, the address is aligned for T, every bit pattern
        // is a valid T, and the host leaves the region alone meanwhile.
        Ok(unsafe { core::slice::from_raw_parts(self.args as *const T, count) })
    }

    /// Writes `value` at the start of the args region (`EINVAL` if the
    /// region is too small).
    pub fn write_args<T: Copy>(&self, value: T) -> Result<(), Errno> {
        if size_of::<T>() > self.args_size {
            return Err(Errno::EINVAL);
        }
        // SAFETY: the region is mapped and writable for args_size bytes and
        // T fits; unaligned write, so alignment does not matter.
        unsafe { (self.args as *mut T).write_unaligned(value) };
        Ok(())
    }

    /// Copies the thread's current sigaltstack into the sigframe's
    /// `uc_stack`, which `rt_sigreturn` installs. Left alone on failure.
    pub fn keep_altstack_in_sigframe(&self) {
        let mut stack = UcStack::default();
        if syscalls::signal::sigaltstack_get(&mut stack).is_err() {
            return;
        }
        let at = self.sigframe + offset_of!(RtSigframe, uc) + offset_of!(UContext, uc_stack);
        // SAFETY: from_header checked that the frame's fixed head lies in
        // the address space; the host wrote it in the area, mapped writable.
        unsafe { (at as *mut UcStack).write_unaligned(stack) };
    }
}
