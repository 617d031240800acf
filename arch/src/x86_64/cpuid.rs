//! What this CPU and kernel use for the xsave area, from CPUID leaf 0xD.
//!
//! # Safety
//!
//! `xgetbv` is only executed after CPUID reports OSXSAVE, which is the
//! architectural condition for it not to fault.
#![allow(unsafe_code)]

use core::arch::x86_64::{__cpuid, __cpuid_count};

/// The xsave area the kernel exchanges with this process's tasks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XstateInfo {
    /// Features enabled by the OS in XCR0 (the `xfeatures` of sigframes).
    pub xfeatures: u64,
    /// Size of a standard-format xsave area holding every enabled feature
    /// (CPUID.(EAX=0xD,ECX=0):EBX).
    pub size: u32,
}

const OSXSAVE: u32 = 1 << 27;

/// The enabled xsave features and the matching area size, or `None` if the
/// CPU or the OS does not use XSAVE (then only the FXSAVE area exists).
pub fn xstate_info() -> Option<XstateInfo> {
    let leaf1 = cpuid(1, 0);
    if leaf1.ecx & OSXSAVE == 0 || max_leaf() < 0xd {
        return None;
    }
    let leaf_d = cpuid(0xd, 0);
    Some(XstateInfo {
        xfeatures: xcr0(),
        size: leaf_d.ebx,
    })
}

fn max_leaf() -> u32 {
    #[allow(unused_unsafe)]
    // SAFETY: CPUID exists on every x86_64 CPU and only reads identification.
    let r = unsafe { __cpuid(0) };
    r.eax
}

fn cpuid(leaf: u32, sub_leaf: u32) -> core::arch::x86_64::CpuidResult {
    #[allow(unused_unsafe)]
    // SAFETY: CPUID exists on every x86_64 CPU and only reads identification.
    unsafe {
        __cpuid_count(leaf, sub_leaf)
    }
}

fn xcr0() -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: callers checked CPUID.1:ECX.OSXSAVE, so XGETBV with ecx = 0
    // reads XCR0 without faulting; it touches no memory.
    unsafe {
        core::arch::asm!("xgetbv", in("ecx") 0u32, out("eax") lo, out("edx") hi,
            options(nomem, nostack, preserves_flags));
    }
    (u64::from(hi) << 32) | u64::from(lo)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::x86_64::xsave::{XFEATURE_MASK_FP, XFEATURE_MASK_SSE, XSAVE_MIN_SIZE};

    /// This machine has AVX2, so XSAVE with x87, SSE and YMM is enabled.
    #[test]
    fn this_machine_uses_xsave_with_avx() {
        let info = xstate_info().expect("xsave enabled");
        assert_eq!(
            info.xfeatures & 0b111,
            XFEATURE_MASK_FP | XFEATURE_MASK_SSE | 0b100
        );
        assert!(info.size as usize >= XSAVE_MIN_SIZE + 256, "{info:?}");
    }
}
