use super::*;
use crate::x86_64::xsave::{FP_XSTATE_MAGIC1, SW_RESERVED_OFFSET};
use memoffset::offset_of;
use std::vec;

#[test]
fn sigcontext_layout_matches_the_kernel() {
    assert_eq!(size_of::<SigContext>(), 256);
    assert_eq!(offset_of!(SigContext, rdi), 64);
    assert_eq!(offset_of!(SigContext, rax), 104);
    assert_eq!(offset_of!(SigContext, rsp), 120);
    assert_eq!(offset_of!(SigContext, rip), 128);
    assert_eq!(offset_of!(SigContext, eflags), 136);
    assert_eq!(offset_of!(SigContext, cs), 144);
    assert_eq!(offset_of!(SigContext, ss), 150);
    assert_eq!(offset_of!(SigContext, err), 152);
    assert_eq!(offset_of!(SigContext, cr2), 176);
    assert_eq!(offset_of!(SigContext, fpstate), 184);
    assert_eq!(offset_of!(SigContext, reserved1), 192);
}

#[test]
fn sigcontext_matches_libc_mcontext() {
    // glibc's gregset_t orders the same registers as REG_R8..REG_CR2.
    assert_eq!(offset_of!(SigContext, r8), 8 * libc::REG_R8 as usize);
    assert_eq!(offset_of!(SigContext, rip), 8 * libc::REG_RIP as usize);
    assert_eq!(offset_of!(SigContext, cr2), 8 * libc::REG_CR2 as usize);
}

#[test]
fn ucontext_layout_matches_the_kernel() {
    assert_eq!(size_of::<UcStack>(), 24);
    assert_eq!(offset_of!(UcStack, ss_flags), 8);
    assert_eq!(offset_of!(UcStack, ss_size), 16);
    assert_eq!(size_of::<UcStack>(), size_of::<libc::stack_t>());
    assert_eq!(
        offset_of!(UcStack, ss_size),
        offset_of!(libc::stack_t, ss_size)
    );
    assert_eq!(size_of::<UContext>(), 304);
    assert_eq!(offset_of!(UContext, uc_stack), 16);
    assert_eq!(offset_of!(UContext, uc_mcontext), 40);
    assert_eq!(offset_of!(UContext, uc_sigmask), 296);
}

#[test]
fn rt_sigframe_layout_matches_the_kernel() {
    assert_eq!(size_of::<RtSigframe>(), RtSigframe::SIZE);
    assert_eq!(offset_of!(RtSigframe, uc), 8);
    assert_eq!(offset_of!(RtSigframe, info), 312);
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().unwrap())
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().unwrap())
}

#[test]
fn built_frame_puts_every_field_at_its_kernel_offset() {
    let regs = UserRegs {
        rax: 0xaa,
        rip: 0x40_1000,
        rsp: 0x7ffc_0000,
        r8: 0x88,
        r15: 0xff,
        cs: 0x33,
        ss: 0x2b,
        eflags: 0x246,
        ..UserRegs::default()
    };
    let xsave: vec::Vec<u8> = (0..832u32).map(|i| i as u8).collect();
    let remote = 0x7f00_0000_1010;
    let mut out = vec![0xeeu8; max_size(xsave.len())];
    let fpu = FpuState {
        xsave: &xsave,
        xfeatures: 0x7,
    };
    let size = build(&mut out, remote, &regs, fpu, 0x1234).expect("frame fits");

    let mc = 8 + 40; // rt_sigframe.uc.uc_mcontext
    assert_eq!(
        u64_at(&out, 8),
        UC_FP_XSTATE | UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS
    );
    assert_eq!(u64_at(&out, mc), 0x88);
    assert_eq!(u64_at(&out, mc + 56), 0xff);
    assert_eq!(u64_at(&out, mc + 104), 0xaa);
    assert_eq!(u64_at(&out, mc + 120), 0x7ffc_0000);
    assert_eq!(u64_at(&out, mc + 128), 0x40_1000);
    assert_eq!(u64_at(&out, mc + 136), 0x246);
    assert_eq!(u16::from_le_bytes([out[mc + 144], out[mc + 145]]), 0x33);
    assert_eq!(u16::from_le_bytes([out[mc + 150], out[mc + 151]]), 0x2b);
    assert_eq!(u64_at(&out, 8 + 296), 0x1234);

    let fpstate = u64_at(&out, mc + 184);
    assert_eq!(fpstate % 64, 0);
    let fp = usize::try_from(fpstate - remote).unwrap();
    assert!(fp >= RtSigframe::SIZE);
    assert_eq!(
        &out[fp..fp + SW_RESERVED_OFFSET],
        &xsave[..SW_RESERVED_OFFSET]
    );
    assert_eq!(u32_at(&out, fp + SW_RESERVED_OFFSET), FP_XSTATE_MAGIC1);
    assert_eq!(u32_at(&out, fp + SW_RESERVED_OFFSET + 4), 836);
    assert_eq!(u64_at(&out, fp + SW_RESERVED_OFFSET + 8), 0x7);
    assert_eq!(u32_at(&out, fp + SW_RESERVED_OFFSET + 16), 832);
    assert_eq!(&out[fp + 512..fp + 832], &xsave[512..]);
    assert_eq!(u32_at(&out, fp + 832), FP_XSTATE_MAGIC2);
    assert_eq!(size, fp + 836);
    assert_eq!(out[size], 0xee, "nothing written past the frame");
}

#[test]
fn build_rejects_small_buffers_and_short_areas() {
    let regs = UserRegs::default();
    let xsave = [0u8; 576];
    let fpu = FpuState {
        xsave: &xsave,
        xfeatures: 3,
    };
    let mut small = [0u8; 600];
    assert_eq!(
        build(&mut small, 0x1000, &regs, fpu, 0),
        Err(SigframeError::BufferTooSmall {
            need: 448 + 576 + 4,
            have: 600
        })
    );
    let short = FpuState {
        xsave: &xsave[..500],
        xfeatures: 3,
    };
    let mut out = [0u8; 2048];
    assert_eq!(
        build(&mut out, 0x1000, &regs, short, 0),
        Err(SigframeError::XsaveTooShort { len: 500 })
    );
    assert_eq!(
        build(&mut out, u64::MAX - 100, &regs, fpu, 0),
        Err(SigframeError::AddressOverflow {
            remote: u64::MAX - 100
        })
    );
}
