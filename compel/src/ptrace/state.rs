//! A stopped thread's state: general registers, xsave area, signal mask and memory words.

use nix::errno::Errno;
use nix::sys::ptrace;

use super::{PtraceError, Tracee};

pub use arch::x86_64::UserRegs;

/// `NT_X86_XSTATE`: the regset of the whole xsave area.
const NT_X86_XSTATE: libc::c_int = 0x202;

/// Size of the buffer for the xsave area: what CPUID leaf 0xD says the
/// enabled features need, at least one page; the kernel says how much it wrote.
fn xstate_buffer_size() -> usize {
    arch::x86_64::cpuid::xstate_info()
        .and_then(|info| usize::try_from(info.size).ok())
        .unwrap_or(0)
        .max(4096)
}

impl Tracee {
    /// Reads the general registers (`PTRACE_GETREGS`).
    pub fn regs(&self) -> Result<UserRegs, PtraceError> {
        let mut regs = UserRegs::default();
        // SAFETY: `regs` mirrors the kernel's user_regs_struct (arch proves the
        // layout), so the kernel writes exactly its size into it.
        let rc =
            unsafe { libc::ptrace(libc::PTRACE_GETREGS, self.tid.as_raw(), 0usize, &mut regs) };
        Errno::result(rc).map_err(PtraceError::request(self.tid, "PTRACE_GETREGS"))?;
        Ok(regs)
    }

    /// Writes the general registers (`PTRACE_SETREGS`).
    pub fn set_regs(&mut self, regs: &UserRegs) -> Result<(), PtraceError> {
        // SAFETY: `regs` mirrors the kernel's user_regs_struct (arch proves the
        // layout); the kernel only reads its size from it.
        let rc = unsafe { libc::ptrace(libc::PTRACE_SETREGS, self.tid.as_raw(), 0usize, regs) };
        Errno::result(rc)
            .map(drop)
            .map_err(PtraceError::request(self.tid, "PTRACE_SETREGS"))
    }

    /// Reads the xsave area (`PTRACE_GETREGSET`, `NT_X86_XSTATE`), truncated to
    /// the size the kernel wrote.
    pub fn xstate(&self) -> Result<Vec<u8>, PtraceError> {
        let mut buffer = vec![0u8; xstate_buffer_size()];
        let mut iov = libc::iovec {
            iov_base: buffer.as_mut_ptr().cast(),
            iov_len: buffer.len(),
        };
        // SAFETY: `iov` describes `buffer`, which lives across the call; the
        // kernel writes at most `iov_len` bytes and stores the written size back.
        let rc = unsafe {
            libc::ptrace(
                libc::PTRACE_GETREGSET,
                self.tid.as_raw(),
                NT_X86_XSTATE,
                &mut iov,
            )
        };
        Errno::result(rc).map_err(PtraceError::request(self.tid, "PTRACE_GETREGSET"))?;
        let written = iov.iov_len.min(buffer.len());
        buffer.truncate(written);
        Ok(buffer)
    }

    /// Writes the xsave area back (`PTRACE_SETREGSET`, `NT_X86_XSTATE`).
    pub fn set_xstate(&mut self, xstate: &[u8]) -> Result<(), PtraceError> {
        let mut iov = libc::iovec {
            iov_base: xstate.as_ptr() as *mut _,
            iov_len: xstate.len(),
        };
        // SAFETY: `iov` describes `xstate`, borrowed across the call; for SETREGSET
        // the kernel only reads from the buffer.
        let rc = unsafe {
            libc::ptrace(
                libc::PTRACE_SETREGSET,
                self.tid.as_raw(),
                NT_X86_XSTATE,
                &mut iov,
            )
        };
        Errno::result(rc)
            .map(drop)
            .map_err(PtraceError::request(self.tid, "PTRACE_SETREGSET"))
    }

    /// Reads the blocked-signal mask (`PTRACE_GETSIGMASK`), bit `n - 1` for signal `n`.
    pub fn sigmask(&self) -> Result<u64, PtraceError> {
        let mut mask = 0u64;
        // SAFETY: addr is the size of the kernel sigset (8 bytes) and data points
        // to a u64 that lives across the call; the kernel writes exactly 8 bytes.
        let rc = unsafe {
            libc::ptrace(
                libc::PTRACE_GETSIGMASK,
                self.tid.as_raw(),
                8usize,
                &mut mask,
            )
        };
        Errno::result(rc).map_err(PtraceError::request(self.tid, "PTRACE_GETSIGMASK"))?;
        Ok(mask)
    }

    /// Sets the blocked-signal mask (`PTRACE_SETSIGMASK`); the kernel never
    /// blocks SIGKILL and SIGSTOP whatever the mask says.
    pub fn set_sigmask(&mut self, mask: u64) -> Result<(), PtraceError> {
        // SAFETY: addr is the size of the kernel sigset (8 bytes) and data points
        // to a u64 that lives across the call; the kernel reads exactly 8 bytes.
        let rc = unsafe { libc::ptrace(libc::PTRACE_SETSIGMASK, self.tid.as_raw(), 8usize, &mask) };
        Errno::result(rc)
            .map(drop)
            .map_err(PtraceError::request(self.tid, "PTRACE_SETSIGMASK"))
    }

    /// Reads one word of the thread's memory (`PTRACE_PEEKDATA`).
    pub fn peek(&self, addr: u64) -> Result<u64, PtraceError> {
        let word = ptrace::read(self.tid, addr as ptrace::AddressType).map_err(|errno| {
            PtraceError::Memory {
                tid: self.tid,
                request: "PTRACE_PEEKDATA",
                addr,
                errno,
            }
        })?;
        Ok(word as u64)
    }

    /// Writes one word of the thread's memory (`PTRACE_POKEDATA`), even over
    /// read-only code.
    pub fn poke(&mut self, addr: u64, word: u64) -> Result<(), PtraceError> {
        ptrace::write(self.tid, addr as ptrace::AddressType, word as libc::c_long).map_err(
            |errno| PtraceError::Memory {
                tid: self.tid,
                request: "PTRACE_POKEDATA",
                addr,
                errno,
            },
        )
    }

    /// Writes `bytes` at `addr` word by word, keeping the bytes around them;
    /// returns what was there before.
    pub fn replace_bytes(&mut self, addr: u64, bytes: &[u8]) -> Result<Vec<u8>, PtraceError> {
        let mut old = Vec::with_capacity(bytes.len());
        let start = addr & !7;
        let end = addr
            .checked_add(bytes.len() as u64)
            .ok_or(PtraceError::Memory {
                tid: self.tid,
                request: "PTRACE_POKEDATA",
                addr,
                errno: Errno::EFAULT,
            })?;
        let mut word_addr = start;
        while word_addr < end {
            let mut word = self.peek(word_addr)?.to_le_bytes();
            for (i, byte) in word.iter_mut().enumerate() {
                let at = word_addr + i as u64;
                if (addr..end).contains(&at) {
                    old.push(*byte);
                    *byte = bytes[(at - addr) as usize];
                }
            }
            self.poke(word_addr, u64::from_le_bytes(word))?;
            word_addr += 8;
        }
        Ok(old)
    }
}
