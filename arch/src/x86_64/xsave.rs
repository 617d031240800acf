//! Layout of the FPU/SSE/AVX state as the kernel exchanges it with user
//! space: `PTRACE_GETREGSET NT_X86_XSTATE` and the fpstate of a signal frame,
//! both in the standard (non-compacted) XSAVE format.
//!
//! ```text
//!   0  legacy FXSAVE area, 512 bytes
//! 512  XSAVE header: xstate_bv, xcomp_bv, 48 reserved bytes
//! 576  extended components (YMM_Hi128 first), at offsets given by CPUID 0xD
//! ```

/// ELF note / regset type of the full xsave area (`NT_X86_XSTATE`).
pub const NT_X86_XSTATE: u32 = 0x202;
/// ELF note / regset type of the legacy FXSAVE area (`NT_PRFPREG`).
pub const NT_PRFPREG: u32 = 2;

/// `FP_XSTATE_MAGIC1`, in [`FxSwBytes::magic1`]: the fpstate is an xsave area.
pub const FP_XSTATE_MAGIC1: u32 = 0x4650_5853;
/// `FP_XSTATE_MAGIC2`, in the u32 right after the xsave area of a sigframe.
pub const FP_XSTATE_MAGIC2: u32 = 0x4650_5845;
/// Size of the trailing [`FP_XSTATE_MAGIC2`].
pub const FP_XSTATE_MAGIC2_SIZE: usize = 4;

/// Size of the legacy FXSAVE area.
pub const FXSAVE_SIZE: usize = 512;
/// Offset of the XSAVE header.
pub const XSAVE_HEADER_OFFSET: usize = 512;
/// Size of the XSAVE header.
pub const XSAVE_HEADER_SIZE: usize = 64;
/// Smallest valid xsave area: FXSAVE area plus header.
pub const XSAVE_MIN_SIZE: usize = XSAVE_HEADER_OFFSET + XSAVE_HEADER_SIZE;
/// Alignment XSAVE/XRSTOR demand of the area.
pub const XSAVE_ALIGN: usize = 64;
/// Offset of `xstate_bv` (features present in the area).
pub const XSTATE_BV_OFFSET: usize = 512;
/// Offset of `xcomp_bv` (0 in the standard format).
pub const XCOMP_BV_OFFSET: usize = 520;
/// Offset of `sw_reserved` in the FXSAVE area, holding [`FxSwBytes`].
pub const SW_RESERVED_OFFSET: usize = 464;

/// `XFEATURE_MASK_FP`: x87 state.
pub const XFEATURE_MASK_FP: u64 = 1 << 0;
/// `XFEATURE_MASK_SSE`: XMM registers and MXCSR.
pub const XFEATURE_MASK_SSE: u64 = 1 << 1;
/// `XFEATURE_MASK_YMM`: upper halves of the YMM registers.
pub const XFEATURE_MASK_YMM: u64 = 1 << 2;

/// Mirror of the kernel's `struct user_i387_struct` / `struct fxregs_state`
/// for 64-bit tasks: the legacy FXSAVE area.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FxSave {
    /// x87 control word (`cwd`).
    pub fcw: u16,
    /// x87 status word (`swd`).
    pub fsw: u16,
    /// Abridged x87 tag word (`twd`).
    pub ftw: u16,
    /// Last x87 opcode.
    pub fop: u16,
    /// Last x87 instruction pointer.
    pub rip: u64,
    /// Last x87 data pointer.
    pub rdp: u64,
    /// SSE control and status.
    pub mxcsr: u32,
    /// Writable bits of `mxcsr`.
    pub mxcsr_mask: u32,
    /// ST0..ST7, 16 bytes each (10 used).
    pub st: [[u8; 16]; 8],
    /// XMM0..XMM15.
    pub xmm: [[u8; 16]; 16],
    /// Unused by the hardware.
    pub padding: [u8; 48],
    /// Software area; the kernel keeps [`FxSwBytes`] here.
    pub sw_reserved: [u8; 48],
}

/// Mirror of the kernel's `struct _fpx_sw_bytes`, kept in
/// [`FxSave::sw_reserved`]: tells `rt_sigreturn` (and readers of ptrace's
/// xstate) that an xsave area follows and how big it is.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FxSwBytes {
    /// [`FP_XSTATE_MAGIC1`].
    pub magic1: u32,
    /// `xstate_size` plus [`FP_XSTATE_MAGIC2_SIZE`].
    pub extended_size: u32,
    /// Features present in the area (the XCR0 user mask).
    pub xfeatures: u64,
    /// Size of the xsave area.
    pub xstate_size: u32,
    /// Reserved, zero.
    pub padding: [u32; 7],
}

impl FxSwBytes {
    /// Size of the structure.
    pub const SIZE: usize = 48;

    /// The software bytes describing an xsave area of `xstate_size` bytes
    /// holding `xfeatures`.
    pub fn for_area(xstate_size: u32, xfeatures: u64) -> Self {
        FxSwBytes {
            magic1: FP_XSTATE_MAGIC1,
            extended_size: xstate_size.saturating_add(FP_XSTATE_MAGIC2_SIZE as u32),
            xfeatures,
            xstate_size,
            padding: [0; 7],
        }
    }

    /// Reads the software bytes from an xsave area (as ptrace returns it).
    /// `None` if the area is too short or does not carry [`FP_XSTATE_MAGIC1`].
    pub fn read_from(xsave: &[u8]) -> Option<Self> {
        let at = |off: usize| SW_RESERVED_OFFSET + off;
        let magic1 = read_u32(xsave, at(0))?;
        if magic1 != FP_XSTATE_MAGIC1 {
            return None;
        }
        Some(FxSwBytes {
            magic1,
            extended_size: read_u32(xsave, at(4))?,
            xfeatures: read_u64(xsave, at(8))?,
            xstate_size: read_u32(xsave, at(16))?,
            padding: [0; 7],
        })
    }

    /// Writes the software bytes into `sw_reserved` of an xsave area.
    /// `None` if the area is shorter than the FXSAVE area.
    pub fn write_to(&self, xsave: &mut [u8]) -> Option<()> {
        let sw = xsave.get_mut(SW_RESERVED_OFFSET..FXSAVE_SIZE)?;
        sw.fill(0);
        sw.get_mut(0..4)?
            .copy_from_slice(&self.magic1.to_le_bytes());
        sw.get_mut(4..8)?
            .copy_from_slice(&self.extended_size.to_le_bytes());
        sw.get_mut(8..16)?
            .copy_from_slice(&self.xfeatures.to_le_bytes());
        sw.get_mut(16..20)?
            .copy_from_slice(&self.xstate_size.to_le_bytes());
        Some(())
    }
}

/// `xstate_bv` of an xsave area: the features whose state it holds.
pub fn xstate_bv(xsave: &[u8]) -> Option<u64> {
    read_u64(xsave, XSTATE_BV_OFFSET)
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let raw = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes(raw.try_into().ok()?))
}

fn read_u64(bytes: &[u8], at: usize) -> Option<u64> {
    let raw = bytes.get(at..at.checked_add(8)?)?;
    Some(u64::from_le_bytes(raw.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::size_of;
    use memoffset::offset_of;

    #[test]
    fn fxsave_layout_matches_the_kernel() {
        assert_eq!(size_of::<FxSave>(), FXSAVE_SIZE);
        assert_eq!(offset_of!(FxSave, fop), 6);
        assert_eq!(offset_of!(FxSave, rip), 8);
        assert_eq!(offset_of!(FxSave, rdp), 16);
        assert_eq!(offset_of!(FxSave, mxcsr), 24);
        assert_eq!(offset_of!(FxSave, mxcsr_mask), 28);
        assert_eq!(offset_of!(FxSave, st), 32);
        assert_eq!(offset_of!(FxSave, xmm), 160);
        assert_eq!(offset_of!(FxSave, padding), 416);
        assert_eq!(offset_of!(FxSave, sw_reserved), SW_RESERVED_OFFSET);
    }

    #[test]
    fn fxsave_layout_matches_libc() {
        assert_eq!(size_of::<FxSave>(), size_of::<libc::user_fpregs_struct>());
        assert_eq!(
            offset_of!(FxSave, mxcsr),
            offset_of!(libc::user_fpregs_struct, mxcsr)
        );
        assert_eq!(
            offset_of!(FxSave, st),
            offset_of!(libc::user_fpregs_struct, st_space)
        );
        assert_eq!(
            offset_of!(FxSave, xmm),
            offset_of!(libc::user_fpregs_struct, xmm_space)
        );
    }

    #[test]
    fn fx_sw_bytes_layout_matches_the_kernel() {
        assert_eq!(size_of::<FxSwBytes>(), FxSwBytes::SIZE);
        assert_eq!(offset_of!(FxSwBytes, extended_size), 4);
        assert_eq!(offset_of!(FxSwBytes, xfeatures), 8);
        assert_eq!(offset_of!(FxSwBytes, xstate_size), 16);
        assert_eq!(offset_of!(FxSwBytes, padding), 20);
    }

    #[test]
    fn fx_sw_bytes_round_trip() {
        let mut area = [0u8; XSAVE_MIN_SIZE];
        let sw = FxSwBytes::for_area(832, 0x7);
        assert_eq!(sw.extended_size, 836);
        sw.write_to(&mut area).expect("area holds sw_reserved");
        assert_eq!(FxSwBytes::read_from(&area), Some(sw));
        assert_eq!(FxSwBytes::read_from(&area[..100]), None);
    }
}
