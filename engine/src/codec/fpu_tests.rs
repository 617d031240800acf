use std::path::Path;

use nix::unistd::Pid;

use super::*;

const IMAGE: &str = "core-7.img";

/// A CPU with every component CRIU knows, at their usual standard offsets.
fn full_layout() -> XsaveLayout {
    let offsets = [576, 960, 1024, 1088, 1152, 1664, 2688];
    let components = KINDS
        .iter()
        .zip(offsets)
        .map(|(kind, offset)| Placed {
            kind: *kind,
            offset,
        })
        .collect();
    XsaveLayout {
        size: 2696,
        components,
    }
}

/// The same CPU without MPX and AVX-512.
fn avx_only_layout() -> XsaveLayout {
    let mut layout = full_layout();
    layout.components.retain(|p| matches!(p.kind.index, 2 | 9));
    layout
}

/// An area as the kernel returns it: every stored byte patterned, gaps and
/// header reserved bytes zero.
fn synthetic_area(layout: &XsaveLayout, xstate_bv: u64, seed: u8) -> Vec<u8> {
    let mut area = vec![0u8; layout.size];
    let pattern = |i: usize| seed.wrapping_add((i * 7 % 251) as u8);
    for (i, byte) in area[..FXSAVE_SIZE].iter_mut().enumerate() {
        *byte = pattern(i);
    }
    if layout.has_xsave() {
        put(&mut area, XSTATE_BV_OFFSET, &xstate_bv.to_le_bytes());
    }
    for placed in &layout.components {
        for i in 0..placed.kind.stored {
            area[placed.offset + i] = pattern(placed.offset + i);
        }
    }
    area
}

#[test]
fn every_component_round_trips() {
    let layout = full_layout();
    let area = synthetic_area(&layout, 0x2ff, 3);
    let fpregs = split(7, &area, &layout).unwrap();
    let xsave = fpregs.xsave.as_ref().unwrap();
    assert_eq!(xsave.ymmh_space.len(), 64);
    assert_eq!(xsave.bndcsr_state.len(), 8);
    assert_eq!(xsave.hi16_zmm.len(), 128);
    assert_eq!(xsave.pkru.len(), 2);
    assert_eq!(fpregs.st_space.len(), 32);
    assert_eq!(fpregs.padding.len(), 24);
    assert_eq!(merge(Path::new(IMAGE), &fpregs, &layout).unwrap(), area);
}

#[test]
fn fxsave_only_area_round_trips() {
    let layout = XsaveLayout::legacy();
    let area = synthetic_area(&layout, 0, 9);
    let fpregs = split(7, &area, &layout).unwrap();
    assert!(fpregs.xsave.is_none());
    assert_eq!(merge(Path::new(IMAGE), &fpregs, &layout).unwrap(), area);
}

#[test]
fn legacy_fields_sit_where_the_kernel_puts_them() {
    let mut area = vec![0u8; FXSAVE_SIZE];
    put(&mut area, 0, &0x037fu16.to_le_bytes());
    put(&mut area, 24, &0x1f80u32.to_le_bytes());
    put(&mut area, 160, &0xdead_beefu32.to_le_bytes());
    let fpregs = split(7, &area, &XsaveLayout::legacy()).unwrap();
    assert_eq!(fpregs.cwd, 0x37f);
    assert_eq!(fpregs.mxcsr, 0x1f80);
    assert_eq!(fpregs.xmm_space[0], 0xdead_beef);
}

#[test]
fn state_this_cpu_lacks_is_refused() {
    let fpregs = split(7, &synthetic_area(&full_layout(), 0x2ff, 1), &full_layout()).unwrap();
    let err = merge(Path::new(IMAGE), &fpregs, &avx_only_layout()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "image core-7.img: xsave component 3 (MPX BNDREGS) is in use and this CPU lacks it"
    );
}

#[test]
fn unused_state_this_cpu_lacks_is_dropped() {
    let full = full_layout();
    let fpregs = split(7, &synthetic_area(&full, 0x207, 1), &full).unwrap();
    let area = merge(Path::new(IMAGE), &fpregs, &avx_only_layout()).unwrap();
    assert_eq!(read_u64(&area, XSTATE_BV_OFFSET), Some(0x207));
    assert_eq!(
        area[..FXSAVE_SIZE],
        synthetic_area(&full, 0, 1)[..FXSAVE_SIZE]
    );
}

#[test]
fn compacted_areas_are_refused() {
    let layout = full_layout();
    let mut area = synthetic_area(&layout, 0x7, 1);
    put(
        &mut area,
        XCOMP_BV_OFFSET,
        &(0x7u64 | 1 << 63).to_le_bytes(),
    );
    assert!(matches!(
        split(7, &area, &layout),
        Err(CodecError::XstateLayout { tid: 7, .. })
    ));
}

#[test]
fn state_without_a_criu_member_is_refused() {
    let layout = full_layout();
    let area = synthetic_area(&layout, 0x7 | 1 << 17, 1);
    let err = split(7, &area, &layout).unwrap_err();
    assert!(matches!(
        err,
        CodecError::XstateComponentUnsupported { index: 17, .. }
    ));
}

#[test]
fn members_of_the_wrong_length_are_refused() {
    let layout = full_layout();
    let mut fpregs = split(7, &synthetic_area(&layout, 0x7, 1), &layout).unwrap();
    fpregs.xsave.as_mut().unwrap().ymmh_space.pop();
    assert!(matches!(
        merge(Path::new(IMAGE), &fpregs, &layout),
        Err(CodecError::BadLength {
            found: 252,
            expected: 256,
            ..
        })
    ));
    fpregs.xsave = None;
    fpregs.st_space.push(0);
    assert!(matches!(
        merge(Path::new(IMAGE), &fpregs, &layout),
        Err(CodecError::BadLength { found: 33, .. })
    ));
}

/// The xsave area of a real process on this machine survives the trip.
#[test]
fn a_live_thread_s_area_round_trips() {
    let mut child = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let pid = Pid::from_raw(i32::try_from(child.id()).unwrap());
    let area = compel::ptrace::Tracee::seize(pid)
        .and_then(|tracee| tracee.xstate())
        .unwrap();
    child.kill().unwrap();
    child.wait().unwrap();

    let layout = XsaveLayout::this_cpu();
    assert_eq!(area.len(), layout.size());
    let fpregs = split(pid.as_raw(), &area, &layout).unwrap();
    assert!(fpregs.xsave.is_some());
    assert_eq!(merge(Path::new(IMAGE), &fpregs, &layout).unwrap(), area);
}
