//! Machine code crust writes into a task to make it run a syscall.

/// Length of the `syscall` instruction; a task stopped after a syscall has
/// `rip` this far past it.
pub const SYSCALL_LEN: usize = 2;

/// `syscall; int3`: run one syscall, then trap back to the tracer. Written
/// over a few bytes of the task's code for remote syscalls.
pub const SYSCALL_INT3: [u8; 3] = [0x0f, 0x05, 0xcc];

/// Length of [`syscall_jmp`]'s output.
pub const SYSCALL_JMP_LEN: usize = 7;

/// `syscall; jmp rel32 target`, to be placed at address `at`.
///
/// Used for the area trampoline: a task left in it when its tracer dies
/// finishes the syscall and jumps to `target` (the parasite's self-cure
/// entry) instead of running into whatever follows. Returns `None` when
/// `target` is out of the ±2 GiB reach of a rel32 jump.
pub fn syscall_jmp(at: u64, target: u64) -> Option<[u8; SYSCALL_JMP_LEN]> {
    let next = at.checked_add(SYSCALL_JMP_LEN as u64)?;
    let rel = i32::try_from(target.wrapping_sub(next) as i64).ok()?;
    let [a, b, c, d] = rel.to_le_bytes();
    Some([0x0f, 0x05, 0xe9, a, b, c, d])
}

/// Length of [`syscall_sigreturn`]'s output.
pub const SYSCALL_SIGRETURN_LEN: usize = 19;

/// `syscall; mov rsp, imm64; mov eax, 15; syscall`: run one syscall, then return with
/// `rt_sigreturn` through the rt_sigframe at `frame` (rsp is set to `frame + 8`, where the
/// kernel looks for the frame, as after a signal handler's `ret` took its return address).
///
/// Used where a task left by its dying tracer must go back to its own saved state by itself:
/// it finishes the syscall and returns. The frame's address is absolute, so the code may sit
/// anywhere. Returns `None` only for a frame at the very top of the address space.
pub fn syscall_sigreturn(frame: u64) -> Option<[u8; SYSCALL_SIGRETURN_LEN]> {
    let [a, b, c, d, e, f, g, h] = frame.checked_add(8)?.to_le_bytes();
    let rt_sigreturn = super::nr::RT_SIGRETURN as u8;
    Some([
        0x0f,
        0x05,
        0x48,
        0xbc,
        a,
        b,
        c,
        d,
        e,
        f,
        g,
        h,
        0xb8,
        rt_sigreturn,
        0,
        0,
        0,
        0x0f,
        0x05,
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use iced_x86::{Decoder, DecoderOptions, Instruction, Mnemonic};
    use std::vec::Vec;

    fn decode(bytes: &[u8], ip: u64) -> Vec<Instruction> {
        Decoder::with_ip(64, bytes, ip, DecoderOptions::NONE)
            .into_iter()
            .collect()
    }

    #[test]
    fn syscall_int3_decodes() {
        let insns = decode(&SYSCALL_INT3, 0);
        let got: Vec<_> = insns.iter().map(|i| (i.mnemonic(), i.len())).collect();
        assert_eq!(got, [(Mnemonic::Syscall, SYSCALL_LEN), (Mnemonic::Int3, 1)]);
    }

    #[test]
    fn syscall_jmp_reaches_its_target_both_ways() {
        for (at, target) in [(0x7f00_0000_1000, 0x7f00_0000_0040), (0x1000, 0x7fff_0000)] {
            let bytes = syscall_jmp(at, target).expect("in reach");
            let insns = decode(&bytes, at);
            assert_eq!(insns.len(), 2);
            assert_eq!(
                (insns[0].mnemonic(), insns[0].len()),
                (Mnemonic::Syscall, 2)
            );
            assert_eq!((insns[1].mnemonic(), insns[1].len()), (Mnemonic::Jmp, 5));
            assert_eq!(insns[1].near_branch_target(), target);
        }
    }

    #[test]
    fn syscall_jmp_refuses_far_targets() {
        assert_eq!(syscall_jmp(0x1000, 0x1_0000_1000), None);
        assert_eq!(syscall_jmp(u64::MAX - 3, 0), None);
    }

    #[test]
    fn syscall_sigreturn_points_rsp_past_the_frames_return_address() {
        use iced_x86::Register;
        for frame in [0x7ffd_0000_8000, 0x1000] {
            let bytes = syscall_sigreturn(frame).expect("a frame");
            let insns = decode(&bytes, 0x7f00_0000_1000);
            let got: Vec<_> = insns.iter().map(|i| i.mnemonic()).collect();
            assert_eq!(
                got,
                [
                    Mnemonic::Syscall,
                    Mnemonic::Mov,
                    Mnemonic::Mov,
                    Mnemonic::Syscall
                ]
            );
            assert_eq!(insns[1].op0_register(), Register::RSP);
            assert_eq!(insns[1].immediate64(), frame + 8);
            assert_eq!(insns[2].op0_register(), Register::EAX);
            assert_eq!(insns[2].immediate32(), 15);
            let len: usize = insns.iter().map(|i| i.len()).sum();
            assert_eq!(len, SYSCALL_SIGRETURN_LEN);
        }
        assert_eq!(syscall_sigreturn(u64::MAX - 3), None);
    }
}
