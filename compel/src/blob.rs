//! The parasite blob: a static-PIE ELF built by `build.rs`, parsed once
//! with goblin into a flat image that can be laid out and relocated for
//! any address in the victim.
//!
//! Only `R_X86_64_RELATIVE` relocations are supported (write `base +
//! addend` at `base + offset`); the blob's link setup produces nothing
//! else, and anything else is refused by name.

use goblin::elf::dynamic::DT_REL;
use goblin::elf::header::{EM_X86_64, ET_DYN};
use goblin::elf::program_header::PT_LOAD;
use goblin::elf::reloc::R_X86_64_RELATIVE;
use goblin::elf::Elf;

/// Page size the image is rounded to.
pub const PAGE_SIZE: u64 = 4096;

/// Largest image accepted; the real blob is a few pages.
pub const MAX_IMAGE_SIZE: u64 = 16 << 20;

/// The parasite ELF, as built by `build.rs`.
static PARASITE_ELF: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/parasite.elf"));

/// Why a blob could not be parsed or laid out.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// goblin rejected the file.
    #[error("parsing the blob ELF: {0}")]
    Parse(#[from] goblin::error::Error),
    /// Not a 64-bit x86_64 ELF.
    #[error("blob ELF is for machine {machine}, not x86_64")]
    NotX86_64 {
        /// `e_machine`.
        machine: u16,
    },
    /// Not a position-independent (ET_DYN) ELF.
    #[error("blob ELF has type {e_type}, not a static PIE (ET_DYN)")]
    NotPie {
        /// `e_type`.
        e_type: u16,
    },
    /// No PT_LOAD segment.
    #[error("blob ELF has no loadable segment")]
    NoLoadSegment,
    /// A segment's file bytes lie outside the file or exceed its memory size.
    #[error("segment at {vaddr:#x}: file bytes {offset:#x}+{filesz:#x} outside file or memsz")]
    SegmentOutOfFile {
        /// `p_vaddr`.
        vaddr: u64,
        /// `p_offset`.
        offset: u64,
        /// `p_filesz`.
        filesz: u64,
    },
    /// A segment's addresses overflow.
    #[error("segment at {vaddr:#x} of {memsz:#x} bytes overflows the address space")]
    SegmentOverflow {
        /// `p_vaddr`.
        vaddr: u64,
        /// `p_memsz`.
        memsz: u64,
    },
    /// The segments span more than [`MAX_IMAGE_SIZE`].
    #[error("blob image of {size:#x} bytes exceeds the {MAX_IMAGE_SIZE:#x}-byte limit")]
    ImageTooLarge {
        /// Span of the loadable segments.
        size: u64,
    },
    /// The entry point is outside every segment.
    #[error("entry point {entry:#x} is outside the image")]
    EntryOutsideImage {
        /// `e_entry`.
        entry: u64,
    },
    /// REL (addend-less) relocations are present.
    #[error("blob has REL relocations; only RELA R_X86_64_RELATIVE is supported")]
    RelRelocations,
    /// A relocation of a type other than R_X86_64_RELATIVE.
    #[error("relocation at {offset:#x} has type {r_type}; only R_X86_64_RELATIVE is supported")]
    UnsupportedRelocation {
        /// `r_offset`.
        offset: u64,
        /// `r_type`.
        r_type: u32,
    },
    /// A relocation target outside the image.
    #[error("relocation at {offset:#x} is outside the {image_size:#x}-byte image")]
    RelocationOutOfImage {
        /// `r_offset`.
        offset: u64,
        /// Image size.
        image_size: u64,
    },
    /// `base + addend` overflows.
    #[error("relocation at {offset:#x}: base {base:#x} + addend {addend:#x} overflows")]
    RelocationOverflow {
        /// `r_offset`.
        offset: u64,
        /// Remote base.
        base: u64,
        /// `r_addend`.
        addend: i64,
    },
    /// The output buffer is smaller than the image.
    #[error("image needs {need:#x} bytes, buffer has {have:#x}")]
    BufferTooSmall {
        /// Image size.
        need: u64,
        /// Buffer size.
        have: usize,
    },
    /// A symbol to patch does not have 8 bytes inside the image.
    #[error("symbol {name} at {offset:#x} does not fit in the {image_size:#x}-byte image")]
    SymbolOutOfImage {
        /// Symbol name.
        name: String,
        /// Offset of the symbol.
        offset: u64,
        /// Image size.
        image_size: u64,
    },
    /// A symbol the caller needs is not in the blob.
    #[error("blob has no symbol {name}")]
    SymbolMissing {
        /// Symbol name.
        name: String,
    },
}

/// One loadable segment, at an offset from the start of the image.
#[derive(Clone, Debug)]
struct Segment {
    offset: u64,
    data: Vec<u8>,
}

/// A `R_X86_64_RELATIVE` relocation, relative to the start of the image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Relocation {
    /// Where to write, from the start of the image.
    pub offset: u64,
    /// Added to the base address.
    pub addend: i64,
}

/// A parsed blob, ready to be laid out for any base address.
#[derive(Clone, Debug)]
pub struct Blob {
    entry: u64,
    image_size: u64,
    segments: Vec<Segment>,
    relocations: Vec<Relocation>,
    symbols: Vec<(String, u64)>,
}

/// The parasite blob built into compel.
pub fn parasite() -> Result<Blob, BlobError> {
    Blob::parse(PARASITE_ELF)
}

impl Blob {
    /// Parses a static-PIE x86_64 ELF.
    pub fn parse(bytes: &[u8]) -> Result<Blob, BlobError> {
        let elf = Elf::parse(bytes)?;
        check_header(&elf)?;
        let base = lowest_vaddr(&elf)?;
        let image_size = image_size(&elf, base)?;
        let segments = segments(&elf, bytes, base)?;
        let entry = elf.entry.wrapping_sub(base);
        if elf.entry < base || entry >= image_size {
            return Err(BlobError::EntryOutsideImage { entry: elf.entry });
        }
        let relocations = relocations(&elf, base, image_size)?;
        let symbols = symbols(&elf, base);
        Ok(Blob {
            entry,
            image_size,
            segments,
            relocations,
            symbols,
        })
    }

    /// Offset of the entry point from the start of the image.
    pub fn entry(&self) -> u64 {
        self.entry
    }

    /// Size of the flat image: the span of the loadable segments, rounded
    /// up to [`PAGE_SIZE`].
    pub fn image_size(&self) -> u64 {
        self.image_size
    }

    /// The relocations [`Blob::image_for`] applies.
    pub fn relocations(&self) -> &[Relocation] {
        &self.relocations
    }

    /// Offset of symbol `name` from the start of the image.
    pub fn symbol(&self, name: &str) -> Option<u64> {
        self.symbols
            .iter()
            .find(|(n, _)| n == name)
            .map(|&(_, offset)| offset)
    }

    /// [`Blob::symbol`], with a named error when it is missing.
    pub fn require_symbol(&self, name: &str) -> Result<u64, BlobError> {
        self.symbol(name).ok_or_else(|| BlobError::SymbolMissing {
            name: name.to_owned(),
        })
    }

    /// Lays the image out in `out[..image_size]` for the remote address
    /// `remote_base`: segments at their offsets, everything else (bss,
    /// gaps) zero, relocations applied.
    pub fn image_for(&self, remote_base: u64, out: &mut [u8]) -> Result<(), BlobError> {
        let image_size = self.image_size;
        let image = self.image_slice(out)?;
        image.fill(0);
        for segment in &self.segments {
            let outside = || BlobError::SegmentOverflow {
                vaddr: segment.offset,
                memsz: image_size,
            };
            put(image, segment.offset, &segment.data).ok_or_else(outside)?;
        }
        for r in &self.relocations {
            let (offset, addend) = (r.offset, r.addend);
            let overflow = BlobError::RelocationOverflow {
                offset,
                base: remote_base,
                addend,
            };
            let value = remote_base.checked_add_signed(addend).ok_or(overflow)?;
            let outside = BlobError::RelocationOutOfImage { offset, image_size };
            put(image, offset, &value.to_le_bytes()).ok_or(outside)?;
        }
        Ok(())
    }

    /// Writes `value` into the u64 at symbol `name` of a laid-out image.
    pub fn patch_u64(&self, image: &mut [u8], name: &str, value: u64) -> Result<(), BlobError> {
        let offset = self.require_symbol(name)?;
        let image_size = self.image_size;
        let image = self.image_slice(image)?;
        let outside = BlobError::SymbolOutOfImage {
            name: name.to_owned(),
            offset,
            image_size,
        };
        put(image, offset, &value.to_le_bytes()).ok_or(outside)
    }

    fn image_slice<'a>(&self, out: &'a mut [u8]) -> Result<&'a mut [u8], BlobError> {
        let have = out.len();
        let too_small = BlobError::BufferTooSmall {
            need: self.image_size,
            have,
        };
        let need = usize::try_from(self.image_size).map_err(|_| too_small)?;
        out.get_mut(..need).ok_or(BlobError::BufferTooSmall {
            need: self.image_size,
            have,
        })
    }
}

/// Copies `bytes` into `image` at `offset`; `None` if they do not fit.
fn put(image: &mut [u8], offset: u64, bytes: &[u8]) -> Option<()> {
    let start = usize::try_from(offset).ok()?;
    let end = start.checked_add(bytes.len())?;
    image.get_mut(start..end)?.copy_from_slice(bytes);
    Some(())
}

fn check_header(elf: &Elf<'_>) -> Result<(), BlobError> {
    if !elf.is_64 || elf.header.e_machine != EM_X86_64 {
        return Err(BlobError::NotX86_64 {
            machine: elf.header.e_machine,
        });
    }
    if elf.header.e_type != ET_DYN {
        return Err(BlobError::NotPie {
            e_type: elf.header.e_type,
        });
    }
    Ok(())
}

fn loads<'a>(elf: &'a Elf<'_>) -> impl Iterator<Item = &'a goblin::elf::ProgramHeader> {
    elf.program_headers.iter().filter(|ph| ph.p_type == PT_LOAD)
}

fn lowest_vaddr(elf: &Elf<'_>) -> Result<u64, BlobError> {
    loads(elf)
        .map(|ph| ph.p_vaddr)
        .min()
        .ok_or(BlobError::NoLoadSegment)
}

fn image_size(elf: &Elf<'_>, base: u64) -> Result<u64, BlobError> {
    let mut end = 0u64;
    for ph in loads(elf) {
        let overflow = BlobError::SegmentOverflow {
            vaddr: ph.p_vaddr,
            memsz: ph.p_memsz,
        };
        let seg_end = ph.p_vaddr.checked_add(ph.p_memsz).ok_or(overflow)?;
        end = end.max(seg_end - base);
    }
    if end > MAX_IMAGE_SIZE {
        return Err(BlobError::ImageTooLarge { size: end });
    }
    Ok(end.next_multiple_of(PAGE_SIZE))
}

fn segments(elf: &Elf<'_>, bytes: &[u8], base: u64) -> Result<Vec<Segment>, BlobError> {
    let mut segments = Vec::new();
    for ph in loads(elf) {
        let bad = || BlobError::SegmentOutOfFile {
            vaddr: ph.p_vaddr,
            offset: ph.p_offset,
            filesz: ph.p_filesz,
        };
        if ph.p_filesz > ph.p_memsz {
            return Err(bad());
        }
        let start = usize::try_from(ph.p_offset).map_err(|_| bad())?;
        let len = usize::try_from(ph.p_filesz).map_err(|_| bad())?;
        let data = bytes
            .get(start..start.checked_add(len).ok_or_else(bad)?)
            .ok_or_else(bad)?;
        segments.push(Segment {
            offset: ph.p_vaddr - base,
            data: data.to_vec(),
        });
    }
    Ok(segments)
}

fn relocations(elf: &Elf<'_>, base: u64, image_size: u64) -> Result<Vec<Relocation>, BlobError> {
    let has_rel = elf
        .dynamic
        .as_ref()
        .is_some_and(|d| d.dyns.iter().any(|d| d.d_tag == DT_REL));
    if has_rel || !elf.dynrels.is_empty() {
        return Err(BlobError::RelRelocations);
    }
    let mut out = Vec::new();
    for r in elf.dynrelas.iter().chain(elf.pltrelocs.iter()) {
        if r.r_type != R_X86_64_RELATIVE || r.r_sym != 0 {
            return Err(BlobError::UnsupportedRelocation {
                offset: r.r_offset,
                r_type: r.r_type,
            });
        }
        let outside = BlobError::RelocationOutOfImage {
            offset: r.r_offset,
            image_size,
        };
        let offset = r.r_offset.checked_sub(base).ok_or(outside)?;
        let end = offset.checked_add(8).filter(|&end| end <= image_size);
        let outside = BlobError::RelocationOutOfImage {
            offset: r.r_offset,
            image_size,
        };
        end.ok_or(outside)?;
        let addend = r.r_addend.unwrap_or(0).wrapping_sub_unsigned(base);
        out.push(Relocation { offset, addend });
    }
    Ok(out)
}

fn symbols(elf: &Elf<'_>, base: u64) -> Vec<(String, u64)> {
    elf.syms
        .iter()
        .filter(|sym| sym.st_shndx != 0 && sym.st_value >= base)
        .filter_map(|sym| {
            let name = elf.strtab.get_at(sym.st_name)?;
            (!name.is_empty()).then(|| (name.to_owned(), sym.st_value - base))
        })
        .collect()
}

#[cfg(test)]
mod run_tests;
#[cfg(test)]
mod tests;
