//! A thread's FPU state: the standard-format xsave area that
//! `PTRACE_GETREGSET(NT_X86_XSTATE)` returns, split into CRIU's
//! `user_x86_fpregs_entry` (the FXSAVE fields, then one member per extended
//! component) and rebuilt from it for this CPU.
//!
//! Every component sits at the offset CPUID leaf 0xD sub-leaf i gives
//! (EBX = offset, EAX = size); CRIU stores the bytes of each component the
//! CPU has, whether or not its XSTATE_BV bit is set.

use std::path::Path;

use arch::x86_64::cpuid::xstate_info;
use arch::x86_64::xsave::{
    FXSAVE_SIZE, XCOMP_BV_OFFSET, XFEATURE_MASK_FP, XFEATURE_MASK_SSE, XSAVE_MIN_SIZE,
    XSTATE_BV_OFFSET,
};

use super::error::{narrow, CodecError};
use crate::images::core_x86::{UserX86FpregsEntry, UserX86XsaveEntry};

/// The FXSAVE area's own state: x87 and SSE.
const LEGACY_FEATURES: u64 = XFEATURE_MASK_FP | XFEATURE_MASK_SSE;

/// Which member of `user_x86_xsave_entry` holds a component.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Member {
    YmmhSpace,
    BndregState,
    BndcsrState,
    OpmaskReg,
    ZmmUpper,
    Hi16Zmm,
    Pkru,
}

/// An xsave component CRIU's images have a member for.
#[derive(Clone, Copy, Debug)]
struct ComponentKind {
    index: u32,
    name: &'static str,
    member: Member,
    /// Bytes CRIU keeps of it: the size of compel's struct for it.
    stored: usize,
}

const KINDS: [ComponentKind; 7] = [
    kind(2, "AVX YMM_Hi128", Member::YmmhSpace, 256),
    kind(3, "MPX BNDREGS", Member::BndregState, 64),
    kind(4, "MPX BNDCSR", Member::BndcsrState, 64),
    kind(5, "AVX-512 opmask", Member::OpmaskReg, 64),
    kind(6, "AVX-512 ZMM_Hi256", Member::ZmmUpper, 512),
    kind(7, "AVX-512 Hi16_ZMM", Member::Hi16Zmm, 1024),
    kind(9, "PKRU", Member::Pkru, 8),
];

const fn kind(index: u32, name: &'static str, member: Member, stored: usize) -> ComponentKind {
    ComponentKind {
        index,
        name,
        member,
        stored,
    }
}

/// Name of a user xsave component by index, for errors.
fn component_name(index: u32) -> &'static str {
    match index {
        0 => "x87",
        1 => "SSE",
        8 => "Processor Trace",
        10 => "PASID",
        11 | 12 => "CET",
        17 => "AMX TILECFG",
        18 => "AMX TILEDATA",
        19 => "APX",
        _ => KINDS
            .iter()
            .find(|k| k.index == index)
            .map_or("unknown", |k| k.name),
    }
}

/// Where a CPU puts a component in the standard-format area.
#[derive(Clone, Copy, Debug)]
struct Placed {
    kind: ComponentKind,
    offset: usize,
}

/// The xsave area of a CPU: its size and where each component CRIU knows
/// sits, for the components the OS enabled (XCR0).
#[derive(Clone, Debug)]
pub(crate) struct XsaveLayout {
    size: usize,
    components: Vec<Placed>,
}

impl XsaveLayout {
    /// This CPU's layout, from XCR0 and CPUID leaf 0xD; the bare FXSAVE area
    /// when the OS does not use XSAVE.
    pub(crate) fn this_cpu() -> XsaveLayout {
        let Some(info) = xstate_info() else {
            return XsaveLayout::legacy();
        };
        let size = usize::try_from(info.size).unwrap_or(XSAVE_MIN_SIZE);
        let components = KINDS
            .iter()
            .filter(|k| info.xfeatures & (1 << k.index) != 0)
            .filter_map(|k| {
                let leaf = core::arch::x86_64::__cpuid_count(0xd, k.index);
                let offset = usize::try_from(leaf.ebx).ok()?;
                let fits = usize::try_from(leaf.eax).ok()? >= k.stored
                    && offset.checked_add(k.stored)? <= size;
                fits.then_some(Placed { kind: *k, offset })
            })
            .collect();
        XsaveLayout {
            size: size.max(XSAVE_MIN_SIZE),
            components,
        }
    }

    /// A CPU without XSAVE: only the 512-byte FXSAVE area.
    fn legacy() -> XsaveLayout {
        XsaveLayout {
            size: FXSAVE_SIZE,
            components: Vec::new(),
        }
    }

    fn has_xsave(&self) -> bool {
        self.size > FXSAVE_SIZE
    }

    fn placed(&self, index: u32) -> Option<&Placed> {
        self.components.iter().find(|p| p.kind.index == index)
    }

    /// Size of the area this CPU's kernel exchanges.
    #[cfg(test)]
    pub(crate) fn size(&self) -> usize {
        self.size
    }
}

/// Splits a thread's xsave area into CRIU's fpregs entry.
pub(crate) fn split(
    tid: i32,
    xstate: &[u8],
    layout: &XsaveLayout,
) -> Result<UserX86FpregsEntry, CodecError> {
    let bad = |why| CodecError::XstateLayout { tid, why };
    let legacy = xstate
        .get(..FXSAVE_SIZE)
        .ok_or(bad("it is shorter than the FXSAVE area"))?;
    let mut entry = split_legacy(legacy);
    if xstate.len() == FXSAVE_SIZE {
        return Ok(entry);
    }
    let xstate_bv = read_u64(xstate, XSTATE_BV_OFFSET).ok_or(bad("its header is cut short"))?;
    if read_u64(xstate, XCOMP_BV_OFFSET) != Some(0) {
        return Err(bad("it is in the compacted format"));
    }
    let mut xsave = UserX86XsaveEntry {
        xstate_bv,
        ..Default::default()
    };
    for placed in &layout.components {
        let end = placed.offset + placed.kind.stored;
        let bytes = xstate
            .get(placed.offset..end)
            .ok_or(bad("it is shorter than this CPU's layout"))?;
        store(&mut xsave, placed.kind.member, bytes);
    }
    for index in set_bits(xstate_bv & !LEGACY_FEATURES) {
        if layout.placed(index).is_none() {
            let name = component_name(index);
            return Err(CodecError::XstateComponentUnsupported { tid, index, name });
        }
    }
    entry.xsave = Some(xsave);
    Ok(entry)
}

/// Rebuilds an xsave area of this CPU's size from CRIU's fpregs entry.
pub(crate) fn merge(
    path: &Path,
    fpregs: &UserX86FpregsEntry,
    layout: &XsaveLayout,
) -> Result<Vec<u8>, CodecError> {
    let mut area = vec![0u8; layout.size];
    merge_legacy(path, fpregs, &mut area)?;
    if !layout.has_xsave() {
        return match &fpregs.xsave {
            Some(x) if x.xstate_bv & !LEGACY_FEATURES != 0 => {
                let index = set_bits(x.xstate_bv & !LEGACY_FEATURES).next().unwrap_or(0);
                Err(missing(path, index))
            }
            _ => Ok(area),
        };
    }
    let Some(xsave) = &fpregs.xsave else {
        put(&mut area, XSTATE_BV_OFFSET, &LEGACY_FEATURES.to_le_bytes());
        return Ok(area);
    };
    for index in set_bits(xsave.xstate_bv & !LEGACY_FEATURES) {
        if layout.placed(index).is_none() {
            return Err(missing(path, index));
        }
    }
    put(&mut area, XSTATE_BV_OFFSET, &xsave.xstate_bv.to_le_bytes());
    for placed in &layout.components {
        let bytes = stored(xsave, placed.kind.member);
        if bytes.is_empty() {
            if xsave.xstate_bv & (1 << placed.kind.index) != 0 {
                return Err(CodecError::MissingField {
                    path: path.into(),
                    what: placed.kind.name,
                });
            }
            continue;
        }
        if bytes.len() != placed.kind.stored {
            return Err(CodecError::BadLength {
                path: path.into(),
                what: placed.kind.name,
                found: bytes.len(),
                expected: placed.kind.stored,
            });
        }
        put(&mut area, placed.offset, &bytes);
    }
    Ok(area)
}

fn missing(path: &Path, index: u32) -> CodecError {
    CodecError::XstateComponentMissing {
        path: path.into(),
        index,
        name: component_name(index),
    }
}

/// The FXSAVE fields, as `struct user_fpregs_struct` lays them out.
fn split_legacy(area: &[u8]) -> UserX86FpregsEntry {
    let u16_at = |at| u32::from(read_u16(area, at).unwrap_or(0));
    UserX86FpregsEntry {
        cwd: u16_at(0),
        swd: u16_at(2),
        twd: u16_at(4),
        fop: u16_at(6),
        rip: read_u64(area, 8).unwrap_or(0),
        rdp: read_u64(area, 16).unwrap_or(0),
        mxcsr: read_u32(area, 24).unwrap_or(0),
        mxcsr_mask: read_u32(area, 28).unwrap_or(0),
        st_space: u32_words(area.get(32..160).unwrap_or_default()),
        xmm_space: u32_words(area.get(160..416).unwrap_or_default()),
        padding: u32_words(area.get(416..FXSAVE_SIZE).unwrap_or_default()),
        xsave: None,
    }
}

fn merge_legacy(
    path: &Path,
    fpregs: &UserX86FpregsEntry,
    area: &mut [u8],
) -> Result<(), CodecError> {
    let word = |what, value| narrow::<u16, u32>(path, what, value).map(u16::to_le_bytes);
    put(area, 0, &word("fpregs.cwd", fpregs.cwd)?);
    put(area, 2, &word("fpregs.swd", fpregs.swd)?);
    put(area, 4, &word("fpregs.twd", fpregs.twd)?);
    put(area, 6, &word("fpregs.fop", fpregs.fop)?);
    put(area, 8, &fpregs.rip.to_le_bytes());
    put(area, 16, &fpregs.rdp.to_le_bytes());
    put(area, 24, &fpregs.mxcsr.to_le_bytes());
    put(area, 28, &fpregs.mxcsr_mask.to_le_bytes());
    let arrays = [
        ("fpregs.st_space", &fpregs.st_space, 32, 32),
        ("fpregs.xmm_space", &fpregs.xmm_space, 160, 64),
        ("fpregs.padding", &fpregs.padding, 416, 24),
    ];
    for (what, words, offset, expected) in arrays {
        if words.len() != expected {
            return Err(CodecError::BadLength {
                path: path.into(),
                what,
                found: words.len(),
                expected,
            });
        }
        let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        put(area, offset, &bytes);
    }
    Ok(())
}

/// Puts a component's bytes into its member, as 32- or 64-bit words.
fn store(xsave: &mut UserX86XsaveEntry, member: Member, bytes: &[u8]) {
    match member {
        Member::YmmhSpace => xsave.ymmh_space = u32_words(bytes),
        Member::Pkru => xsave.pkru = u32_words(bytes),
        Member::BndregState => xsave.bndreg_state = u64_words(bytes),
        Member::BndcsrState => xsave.bndcsr_state = u64_words(bytes),
        Member::OpmaskReg => xsave.opmask_reg = u64_words(bytes),
        Member::ZmmUpper => xsave.zmm_upper = u64_words(bytes),
        Member::Hi16Zmm => xsave.hi16_zmm = u64_words(bytes),
    }
}

/// A member's words back as bytes.
fn stored(xsave: &UserX86XsaveEntry, member: Member) -> Vec<u8> {
    let from32 = |w: &[u32]| w.iter().flat_map(|w| w.to_le_bytes()).collect();
    let from64 = |w: &[u64]| w.iter().flat_map(|w| w.to_le_bytes()).collect();
    match member {
        Member::YmmhSpace => from32(&xsave.ymmh_space),
        Member::Pkru => from32(&xsave.pkru),
        Member::BndregState => from64(&xsave.bndreg_state),
        Member::BndcsrState => from64(&xsave.bndcsr_state),
        Member::OpmaskReg => from64(&xsave.opmask_reg),
        Member::ZmmUpper => from64(&xsave.zmm_upper),
        Member::Hi16Zmm => from64(&xsave.hi16_zmm),
    }
}

fn set_bits(mask: u64) -> impl Iterator<Item = u32> {
    (0..64).filter(move |bit| mask & (1 << bit) != 0)
}

fn u32_words(bytes: &[u8]) -> Vec<u32> {
    bytes
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn u64_words(bytes: &[u8]) -> Vec<u64> {
    bytes
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
        .collect()
}

fn read_u16(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn read_u64(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

/// Copies `bytes` into `area` at `at`; callers place them inside the area.
fn put(area: &mut [u8], at: usize, bytes: &[u8]) {
    if let Some(dst) = area.get_mut(at..at + bytes.len()) {
        dst.copy_from_slice(bytes);
    }
}

#[cfg(test)]
#[path = "fpu_tests.rs"]
mod tests;
