use super::*;
use iced_x86::{Decoder, DecoderOptions, Mnemonic};

use crate::infect::protocol;

pub(super) fn blob() -> Blob {
    parasite().expect("the built-in parasite parses")
}

#[test]
fn entry_is_the_first_byte_of_the_image() {
    let blob = blob();
    assert_eq!(blob.entry(), 0);
    assert_eq!(blob.symbol("_start"), Some(0));
    assert_eq!(blob.image_size() % PAGE_SIZE, 0);
    assert!(blob.image_size() > 0);
}

#[test]
fn entry_decodes_as_code() {
    let blob = blob();
    let mut image = vec![0u8; blob.image_size() as usize];
    blob.image_for(0x7f00_0000_0000, &mut image)
        .expect("layout");
    let start = blob.entry() as usize;
    let code = &image[start..start + 16];
    let mut decoder = Decoder::with_ip(64, code, 0, DecoderOptions::NONE);
    let first: Vec<Mnemonic> = (0..3).map(|_| decoder.decode().mnemonic()).collect();
    assert_eq!(first, [Mnemonic::And, Mnemonic::Call, Mnemonic::Int3]);
}

#[test]
fn selfcure_entry_is_exported_and_ends_in_rt_sigreturn() {
    let blob = blob();
    let selfcure = blob
        .symbol(protocol::SELFCURE_SYMBOL)
        .expect("selfcure symbol");
    let mut image = vec![0u8; blob.image_size() as usize];
    blob.image_for(0x1000_0000, &mut image).expect("layout");
    let code = &image[selfcure as usize..];
    let decoder = Decoder::with_ip(64, code, selfcure, DecoderOptions::NONE);
    let mnemonics: Vec<Mnemonic> = decoder.into_iter().take(4).map(|i| i.mnemonic()).collect();
    assert_eq!(
        mnemonics,
        [
            Mnemonic::Mov,
            Mnemonic::Lea,
            Mnemonic::Mov,
            Mnemonic::Syscall
        ]
    );
}

#[test]
fn sigframe_slot_is_patchable() {
    let blob = blob();
    let slot = blob
        .require_symbol(protocol::SIGFRAME_SYMBOL)
        .expect("sigframe slot");
    let mut image = vec![0u8; blob.image_size() as usize];
    blob.image_for(0x1000_0000, &mut image).expect("layout");
    blob.patch_u64(&mut image, protocol::SIGFRAME_SYMBOL, 0x1234_5678)
        .expect("patch");
    let at = slot as usize;
    assert_eq!(
        u64::from_le_bytes(image[at..at + 8].try_into().unwrap()),
        0x1234_5678
    );
    assert!(matches!(
        blob.require_symbol("no_such"),
        Err(BlobError::SymbolMissing { .. })
    ));
}

#[test]
fn only_relative_relocations_and_they_shift_with_the_base() {
    let blob = blob();
    assert!(
        !blob.relocations().is_empty(),
        "the blob has pointer tables"
    );
    let size = blob.image_size() as usize;
    let (a, b) = (0x7f12_3456_0000u64, 0x5555_0000_0000u64);
    let (mut image_a, mut image_b) = (vec![0u8; size], vec![0u8; size]);
    blob.image_for(a, &mut image_a).expect("layout at a");
    blob.image_for(b, &mut image_b).expect("layout at b");
    for r in blob.relocations() {
        let at = r.offset as usize;
        let va = u64::from_le_bytes(image_a[at..at + 8].try_into().unwrap());
        let vb = u64::from_le_bytes(image_b[at..at + 8].try_into().unwrap());
        assert_eq!(va - vb, a - b, "relocation at {:#x}", r.offset);
        assert_eq!(va, a.checked_add_signed(r.addend).unwrap());
    }
    let mut differing = image_a
        .iter()
        .zip(&image_b)
        .enumerate()
        .filter(|(_, (x, y))| x != y);
    let inside_reloc = |i: usize| {
        blob.relocations()
            .iter()
            .any(|r| (r.offset as usize..r.offset as usize + 8).contains(&i))
    };
    assert!(
        differing.all(|(i, _)| inside_reloc(i)),
        "only relocated bytes differ"
    );
}

#[test]
fn small_buffers_are_refused() {
    let blob = blob();
    let mut small = vec![0u8; 16];
    assert!(matches!(
        blob.image_for(0, &mut small),
        Err(BlobError::BufferTooSmall { have: 16, .. })
    ));
}

#[test]
fn relocation_overflow_names_the_offset() {
    let blob = blob();
    let mut image = vec![0u8; blob.image_size() as usize];
    let err = blob
        .image_for(u64::MAX - 16, &mut image)
        .expect_err("overflow");
    assert!(err.to_string().contains("0x"), "{err}");
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    let real = PARASITE_ELF.to_vec();
    for cut in [0, 16, 64, 200, real.len() / 2] {
        let _ = Blob::parse(&real[..cut]);
    }
    let mut flipped = real.clone();
    for i in (0..flipped.len()).step_by(97) {
        flipped[i] ^= 0xff;
        let _ = Blob::parse(&flipped);
    }
    assert!(matches!(
        Blob::parse(b"not an elf"),
        Err(BlobError::Parse(_))
    ));
}

use proptest::collection::vec as edits_of;
use proptest::num::u8::ANY as ANY_BYTE;

proptest::proptest! {
    /// Hostile bytes: any few overwritten bytes of the real blob give an
    /// error or a blob that lays out within its own bounds, never a panic.
    #[test]
    fn corrupted_blobs_never_panic(
        edits in edits_of((0usize..PARASITE_ELF.len(), ANY_BYTE), 1..8),
    ) {
        let mut bytes = PARASITE_ELF.to_vec();
        for (at, value) in edits {
            bytes[at] = value;
        }
        if let Ok(blob) = Blob::parse(&bytes) {
            proptest::prop_assert!(blob.image_size() <= MAX_IMAGE_SIZE);
            let mut image = vec![0u8; blob.image_size() as usize];
            let _ = blob.image_for(0x7f00_0000_0000, &mut image);
        }
    }
}
