//! ia32: 32-bit tasks on a 64-bit kernel (compat mode).
//!
//! A task is in compat mode when its `cs` is
//! [`USER32_CS`](crate::x86_64::USER32_CS) (see
//! [`is_compat`](crate::x86_64::is_compat)); ptrace still shows it the
//! x86_64 [`UserRegs`](crate::x86_64::UserRegs), with the upper halves zero.
//! Its syscalls go through `int 0x80` with the i386 numbers, arguments in
//! ebx, ecx, edx, esi, edi, ebp.

pub mod nr;

pub use crate::x86_64::{is_compat, USER32_CS};

/// Length of the `int 0x80` instruction.
pub const INT80_LEN: usize = 2;

/// `int 0x80; int3`: run one i386 syscall, then trap back to the tracer.
pub const INT80_INT3: [u8; 3] = [0xcd, 0x80, 0xcc];

#[cfg(test)]
mod tests {
    use super::*;
    use iced_x86::{Decoder, DecoderOptions, Mnemonic};
    use std::vec::Vec;

    #[test]
    fn int80_int3_decodes_in_32_bit_mode() {
        let decoder = Decoder::with_ip(32, &INT80_INT3, 0, DecoderOptions::NONE);
        let got: Vec<_> = decoder
            .into_iter()
            .map(|i| (i.mnemonic(), i.len()))
            .collect();
        assert_eq!(got, [(Mnemonic::Int, INT80_LEN), (Mnemonic::Int3, 1)]);
    }
}
