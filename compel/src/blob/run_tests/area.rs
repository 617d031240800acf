//! The test area: blob, header, args, data pages, stacks, trampoline and
//! sigframe in one shared mapping, laid out as a host would.

use arch::x86_64::sigframe::{self, FpuState, UcStack};
use arch::x86_64::{cpuid, trampoline, UserRegs, USER_CS, USER_DS};

use super::child::resumed;
use crate::blob::tests::blob;
use crate::blob::Blob;
use crate::infect::protocol::{self, AreaHeader};

pub(super) const PAGE: usize = 4096;
pub(super) const HEADER_PAGES: usize = 2;
pub(super) const DATA_PAGES: usize = 2;
pub(super) const STACK_SIZE: usize = 64 * 1024;
pub(super) const ALTSTACK_SIZE: usize = 64 * 1024;
pub(super) const TRAMPOLINE_PAGE: usize = PAGE;
pub(super) const FRAME_MASK: u64 = (1 << (libc::SIGUSR1 - 1)) | (1 << (libc::SIGUSR2 - 1));
pub(super) const RESUMED_OK: i32 = 42;

/// Offsets of the parts of the test area.
pub(super) struct Layout {
    pub(super) header: usize,
    pub(super) data: usize,
    pub(super) stack_top: usize,
    pub(super) resume_stack_top: usize,
    pub(super) altstack: usize,
    pub(super) trampoline: usize,
    pub(super) sigframe: usize,
    pub(super) size: usize,
}

impl Layout {
    pub(super) fn new(image_size: usize, frame_size: usize) -> Layout {
        let header = image_size;
        let data = header + HEADER_PAGES * PAGE;
        let stack_top = data + DATA_PAGES * PAGE + STACK_SIZE;
        let resume_stack_top = stack_top + STACK_SIZE;
        let altstack = resume_stack_top;
        let trampoline = altstack + ALTSTACK_SIZE;
        let sigframe = trampoline + TRAMPOLINE_PAGE;
        let size = (sigframe + frame_size).next_multiple_of(PAGE);
        Layout {
            header,
            data,
            stack_top,
            resume_stack_top,
            altstack,
            trampoline,
            sigframe,
            size,
        }
    }
}

/// A shared RWX mapping seen by the test and the forked child alike.
pub(super) struct Area {
    base: *mut u8,
    len: usize,
}

impl Area {
    pub(super) fn map(len: usize) -> Area {
        let prot = libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC;
        let flags = libc::MAP_SHARED | libc::MAP_ANONYMOUS;
        // SAFETY: a fresh mapping at an address the kernel picks.
        let base = unsafe { libc::mmap(std::ptr::null_mut(), len, prot, flags, -1, 0) };
        assert_ne!(base, libc::MAP_FAILED);
        Area {
            base: base.cast(),
            len,
        }
    }

    pub(super) fn addr(&self, offset: usize) -> u64 {
        self.base as u64 + offset as u64
    }

    pub(super) fn bytes(&mut self) -> &mut [u8] {
        // SAFETY: the mapping is len bytes, readable and writable, and only
        // this struct hands out views of it.
        unsafe { std::slice::from_raw_parts_mut(self.base, self.len) }
    }

    pub(super) fn write<T: Copy>(&mut self, offset: usize, value: T) {
        assert!(offset + size_of::<T>() <= self.len);
        // SAFETY: in bounds (checked above); unaligned write of plain data.
        unsafe { self.base.add(offset).cast::<T>().write_unaligned(value) };
    }

    pub(super) fn read<T: Copy>(&self, offset: usize) -> T {
        assert!(offset + size_of::<T>() <= self.len);
        // SAFETY: in bounds (checked above); T is a plain protocol struct.
        unsafe { self.base.add(offset).cast::<T>().read_unaligned() }
    }
}

impl Drop for Area {
    fn drop(&mut self) {
        // SAFETY: the mapping is ours and no view of it outlives self.
        unsafe { libc::munmap(self.base.cast(), self.len) };
    }
}

/// The registers the self-cure returns to: `resumed(FRAME_MASK, altstack)`
/// on a stack of its own.
pub(super) fn resume_regs(area: &Area, layout: &Layout) -> UserRegs {
    UserRegs {
        rip: resumed as *const () as u64,
        rsp: area.addr(layout.resume_stack_top) - 8,
        rdi: FRAME_MASK,
        rsi: area.addr(layout.altstack),
        cs: USER_CS,
        ss: USER_DS,
        eflags: 0x202,
        orig_rax: u64::MAX,
        ..UserRegs::default()
    }
}

/// An xsave area in the init state but for valid x87/SSE control words.
pub(super) fn init_xsave() -> (Vec<u8>, u64) {
    let info = cpuid::xstate_info().expect("this machine uses xsave");
    let mut xsave = vec![0u8; info.size as usize];
    xsave[0..2].copy_from_slice(&0x037fu16.to_le_bytes());
    xsave[24..28].copy_from_slice(&0x1f80u32.to_le_bytes());
    xsave[512..520].copy_from_slice(&3u64.to_le_bytes());
    (xsave, info.xfeatures)
}

/// How the test host fills the frame's `uc_stack`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum FrameAltstack {
    /// "Disabled", leaving it to the parasite to copy the real one in.
    LeftToParasite,
    /// The altstack the child will install, as a host that knows it would.
    Known,
}

/// Builds the whole area: blob, header, data pattern, sigframe, trampoline.
pub(super) fn prepare(control_fd: i32, altstack: FrameAltstack) -> (Area, Layout, Blob) {
    let blob = blob();
    let (xsave, xfeatures) = init_xsave();
    let layout = Layout::new(blob.image_size() as usize, sigframe::max_size(xsave.len()));
    let mut area = Area::map(layout.size);
    let base = area.addr(0);

    blob.image_for(base, area.bytes()).expect("layout");
    let frame_addr = area.addr(layout.sigframe).next_multiple_of(64);
    let sigframe = blob.symbol(protocol::SIGFRAME_SYMBOL).expect("slot");
    area.write(sigframe as usize, frame_addr);

    let header = AreaHeader {
        magic: protocol::AREA_MAGIC,
        version: protocol::PROTOCOL_VERSION,
        control_fd,
        args_offset: 64,
        args_size: (HEADER_PAGES * PAGE - 64) as u64,
        sigframe_offset: frame_addr - area.addr(layout.header),
    };
    area.write(layout.header, header);
    area.bytes()[layout.data..layout.data + DATA_PAGES * PAGE].fill(0xa5);

    let regs = resume_regs(&area, &layout);
    let frame_off = (frame_addr - base) as usize;
    let fpu = FpuState {
        xsave: &xsave,
        xfeatures,
    };
    let frame = &mut area.bytes()[frame_off..];
    let built = match altstack {
        FrameAltstack::LeftToParasite => sigframe::build(frame, frame_addr, &regs, fpu, FRAME_MASK),
        FrameAltstack::Known => {
            let stack = UcStack {
                ss_sp: regs.rsi,
                ss_size: ALTSTACK_SIZE as u64,
                ..UcStack::default()
            };
            sigframe::build_with_altstack(frame, frame_addr, &regs, fpu, FRAME_MASK, stack)
        }
    };
    built.expect("frame");

    let selfcure = base + blob.symbol(protocol::SELFCURE_SYMBOL).expect("selfcure");
    let jmp = trampoline::syscall_jmp(area.addr(layout.trampoline), selfcure).expect("reach");
    area.bytes()[layout.trampoline..layout.trampoline + jmp.len()].copy_from_slice(&jmp);
    (area, layout, blob)
}
