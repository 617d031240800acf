//! The general purpose registers as ptrace shows them.

/// Mirror of the kernel's x86_64 `struct user_regs_struct`
/// (`arch/x86/include/asm/user_64.h`), read and written by
/// `PTRACE_GETREGS`/`PTRACE_SETREGS` and `NT_PRSTATUS`. 27 fields, 216 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct UserRegs {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub rbp: u64,
    pub rbx: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rax: u64,
    pub rcx: u64,
    pub rdx: u64,
    pub rsi: u64,
    pub rdi: u64,
    /// Syscall number at syscall entry, -1 (all ones) outside a syscall.
    pub orig_rax: u64,
    pub rip: u64,
    pub cs: u64,
    pub eflags: u64,
    pub rsp: u64,
    pub ss: u64,
    pub fs_base: u64,
    pub gs_base: u64,
    pub ds: u64,
    pub es: u64,
    pub fs: u64,
    pub gs: u64,
}

impl UserRegs {
    /// Size of the structure as the kernel copies it.
    pub const SIZE: usize = 27 * 8;

    /// Whether the task these registers belong to runs in ia32 compat mode.
    pub fn is_compat(&self) -> bool {
        super::is_compat(self.cs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::size_of;
    use memoffset::offset_of;

    #[test]
    fn layout_matches_the_kernel() {
        assert_eq!(size_of::<UserRegs>(), UserRegs::SIZE);
        assert_eq!(offset_of!(UserRegs, r15), 0);
        assert_eq!(offset_of!(UserRegs, rbp), 32);
        assert_eq!(offset_of!(UserRegs, rax), 80);
        assert_eq!(offset_of!(UserRegs, orig_rax), 120);
        assert_eq!(offset_of!(UserRegs, rip), 128);
        assert_eq!(offset_of!(UserRegs, cs), 136);
        assert_eq!(offset_of!(UserRegs, rsp), 152);
        assert_eq!(offset_of!(UserRegs, fs_base), 168);
        assert_eq!(offset_of!(UserRegs, gs), 208);
    }

    /// libc's `user_regs_struct` is a second, independent witness.
    #[test]
    fn layout_matches_libc() {
        use libc::user_regs_struct as L;
        assert_eq!(size_of::<UserRegs>(), size_of::<L>());
        macro_rules! same {
            ($($f:ident),*) => { $( assert_eq!(offset_of!(UserRegs, $f), offset_of!(L, $f)); )* };
        }
        same!(r15, r14, r13, r12, rbp, rbx, r11, r10, r9, r8, rax, rcx, rdx, rsi, rdi);
        same!(orig_rax, rip, cs, eflags, rsp, ss, fs_base, gs_base, ds, es, fs, gs);
    }
}
