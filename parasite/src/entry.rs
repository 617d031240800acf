//! The blob's entry points: `_start` (first byte of the image) and
//! `parasite_selfcure`, plus the panic handler.
//!
//! # Safety
//!
//! The entry points are assembly the host jumps to: `_start` with a stack
//! and `rdi` as described in [`crate::protocol`]; `parasite_selfcure` from
//! any context, using no stack and no register, only [`parasite_sigframe`].
#![allow(unsafe_code)]

use core::arch::global_asm;
use core::sync::atomic::{AtomicU64, Ordering};

use crate::area::Area;

/// Remote address of the rt_sigframe the self-cure returns through. The
/// host patches it in the image before the start; `_start` refreshes it
/// from the header. An atomic so that it lives in writable data and every
/// read goes to memory.
#[no_mangle]
#[allow(non_upper_case_globals)]
pub static parasite_sigframe: AtomicU64 = AtomicU64::new(0);

global_asm!(
    ".pushsection .text.parasite_entry,\"ax\",@progbits",
    ".globl _start",
    ".type _start,@function",
    "_start:",
    "    and rsp, -16",
    "    call {main}",
    "    int3",
    "    ud2",
    ".size _start, . - _start",
    "",
    ".globl parasite_selfcure",
    ".type parasite_selfcure,@function",
    "parasite_selfcure:",
    "    mov rax, qword ptr [rip + {sigframe}]",
    "    lea rsp, [rax + {rsp_offset}]",
    "    mov eax, {rt_sigreturn}",
    "    syscall",
    "    int3",
    "    ud2",
    ".size parasite_selfcure, . - parasite_selfcure",
    ".popsection",
    main = sym parasite_main,
    sigframe = sym parasite_sigframe,
    rsp_offset = const arch::x86_64::sigframe::SIGRETURN_RSP_OFFSET,
    rt_sigreturn = const arch::x86_64::nr::RT_SIGRETURN,
);

extern "C" {
    fn parasite_selfcure() -> !;
}

/// Called by `_start` with the header address from the host.
extern "C" fn parasite_main(header: usize) -> ! {
    // SAFETY: the host passes the remote address of the AreaHeader it laid
    // out in the shared area, which stays mapped while the parasite runs.
    let Some(area) = (unsafe { Area::from_header(header) }) else {
        trap();
    };
    parasite_sigframe.store(area.sigframe() as u64, Ordering::Relaxed);
    area.keep_altstack_in_sigframe();
    crate::serve::run(area)
}

/// Returns the thread to its saved state through the sigframe.
pub fn selfcure() -> ! {
    // SAFETY: parasite_sigframe holds the remote address of the frame the
    // host wrote in the area (set at start from the header).
    unsafe { parasite_selfcure() }
}

/// Stops with SIGTRAP for the host; if resumed without a cure (the host
/// died between the trap and the cure), cures itself.
pub fn trap() -> ! {
    // SAFETY: int3 only raises SIGTRAP; it touches no memory.
    unsafe { core::arch::asm!("int3", options(nomem, nostack)) };
    selfcure()
}

/// Touches address 0, for the protocol's Fault command.
pub fn fault() -> ! {
    // SAFETY: deliberately faults; the write at address 0 never completes
    // because the kernel delivers SIGSEGV first.
    unsafe {
        core::arch::asm!(
            "xor eax, eax",
            "mov byte ptr [rax], al",
            "ud2",
            options(noreturn)
        );
    }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    trap()
}
