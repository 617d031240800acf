//! `/proc/PID/smaps`: the maps lines plus, for each vma, its `VmFlags`.
//!
//! Only `VmFlags` is kept: sizes and counters are statistics the dump does not need.

use bitflags::bitflags;

use super::maps::{parse_vma_line, Vma};
use super::BadLine;

bitflags! {
    /// The two-letter flags of smaps' `VmFlags` line (`VM_*` in the kernel).
    ///
    /// The bit values are crust's own; the kernel's `VM_*` values are not stable.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct VmFlags: u64 {
        /// `rd`: readable
        const READ = 1 << 0;
        /// `wr`: writable
        const WRITE = 1 << 1;
        /// `ex`: executable
        const EXEC = 1 << 2;
        /// `sh`: shared
        const SHARED = 1 << 3;
        /// `mr`: may read
        const MAYREAD = 1 << 4;
        /// `mw`: may write
        const MAYWRITE = 1 << 5;
        /// `me`: may execute
        const MAYEXEC = 1 << 6;
        /// `ms`: may share
        const MAYSHARE = 1 << 7;
        /// `gd`: grows down (`MAP_GROWSDOWN`)
        const GROWSDOWN = 1 << 8;
        /// `pf`: pure PFN range
        const PFNMAP = 1 << 9;
        /// `lo`: pages are locked in memory (`mlock`)
        const LOCKED = 1 << 10;
        /// `io`: memory-mapped I/O
        const IO = 1 << 11;
        /// `sr`: sequential read advised
        const SEQ_READ = 1 << 12;
        /// `rr`: random read advised
        const RAND_READ = 1 << 13;
        /// `dc`: not copied on fork (`MADV_DONTFORK`)
        const DONTCOPY = 1 << 14;
        /// `de`: not expandable with mremap
        const DONTEXPAND = 1 << 15;
        /// `ac`: accounted
        const ACCOUNT = 1 << 16;
        /// `nr`: no swap space reserved (`MAP_NORESERVE`)
        const NORESERVE = 1 << 17;
        /// `ht`: hugetlbfs pages
        const HUGETLB = 1 << 18;
        /// `sf`: synchronous page faults (`MAP_SYNC`)
        const SYNC = 1 << 19;
        /// `ar`: architecture-specific flag
        const ARCH_1 = 1 << 20;
        /// `wf`: wiped on fork (`MADV_WIPEONFORK`)
        const WIPEONFORK = 1 << 21;
        /// `dd`: not in core dumps (`MADV_DONTDUMP`)
        const DONTDUMP = 1 << 22;
        /// `mm`: mixed map
        const MIXEDMAP = 1 << 23;
        /// `hg`: huge pages advised (`MADV_HUGEPAGE`)
        const HUGEPAGE = 1 << 24;
        /// `nh`: no huge pages advised (`MADV_NOHUGEPAGE`)
        const NOHUGEPAGE = 1 << 25;
        /// `mg`: mergeable by KSM (`MADV_MERGEABLE`)
        const MERGEABLE = 1 << 26;
        /// `um`: userfaultfd missing-page tracking
        const UFFD_MISSING = 1 << 27;
        /// `uw`: userfaultfd write-protect tracking
        const UFFD_WP = 1 << 28;
        /// `ui`: userfaultfd minor-fault tracking
        const UFFD_MINOR = 1 << 29;
        /// `ss`: shadow stack
        const SHADOW_STACK = 1 << 30;
        /// `sl`: sealed (`mseal`)
        const SEALED = 1 << 31;
        /// `lf`: locked on fault (`MLOCK_ONFAULT`)
        const LOCKONFAULT = 1 << 32;
        /// `bt`: arm64 branch target identification
        const BTI = 1 << 33;
        /// `mt`: arm64 memory tagging
        const MTE = 1 << 34;
        /// `gu`: grows up (not on x86)
        const GROWSUP = 1 << 35;
        /// `dp`: dropped on fork by the kernel (`VM_DROPPABLE`)
        const DROPPABLE = 1 << 36;
        /// A two-letter flag this version of crust does not know.
        const UNKNOWN = 1 << 63;
    }
}

const NAMES: &[(&str, VmFlags)] = &[
    ("rd", VmFlags::READ),
    ("wr", VmFlags::WRITE),
    ("ex", VmFlags::EXEC),
    ("sh", VmFlags::SHARED),
    ("mr", VmFlags::MAYREAD),
    ("mw", VmFlags::MAYWRITE),
    ("me", VmFlags::MAYEXEC),
    ("ms", VmFlags::MAYSHARE),
    ("gd", VmFlags::GROWSDOWN),
    ("pf", VmFlags::PFNMAP),
    ("lo", VmFlags::LOCKED),
    ("io", VmFlags::IO),
    ("sr", VmFlags::SEQ_READ),
    ("rr", VmFlags::RAND_READ),
    ("dc", VmFlags::DONTCOPY),
    ("de", VmFlags::DONTEXPAND),
    ("ac", VmFlags::ACCOUNT),
    ("nr", VmFlags::NORESERVE),
    ("ht", VmFlags::HUGETLB),
    ("sf", VmFlags::SYNC),
    ("ar", VmFlags::ARCH_1),
    ("wf", VmFlags::WIPEONFORK),
    ("dd", VmFlags::DONTDUMP),
    ("mm", VmFlags::MIXEDMAP),
    ("hg", VmFlags::HUGEPAGE),
    ("nh", VmFlags::NOHUGEPAGE),
    ("mg", VmFlags::MERGEABLE),
    ("um", VmFlags::UFFD_MISSING),
    ("uw", VmFlags::UFFD_WP),
    ("ui", VmFlags::UFFD_MINOR),
    ("ss", VmFlags::SHADOW_STACK),
    ("sl", VmFlags::SEALED),
    ("lf", VmFlags::LOCKONFAULT),
    ("bt", VmFlags::BTI),
    ("mt", VmFlags::MTE),
    ("gu", VmFlags::GROWSUP),
    ("dp", VmFlags::DROPPABLE),
];

impl VmFlags {
    /// Parse the words after `VmFlags:`; words this version does not know set [`Self::UNKNOWN`].
    pub fn parse(words: &str) -> Self {
        words.split_whitespace().fold(Self::empty(), |flags, word| {
            let known = NAMES
                .iter()
                .find(|(name, _)| *name == word)
                .map(|(_, flag)| *flag);
            flags | known.unwrap_or(Self::UNKNOWN)
        })
    }
}

/// Parse a whole smaps file into vmas carrying their `VmFlags`.
pub fn parse_smaps(text: &str) -> Result<Vec<Vma>, BadLine> {
    let mut vmas: Vec<Vma> = Vec::new();
    for line in text.lines().filter(|line| !line.is_empty()) {
        let first = line.split_whitespace().next().unwrap_or("");
        if !first.ends_with(':') {
            vmas.push(parse_vma_line(line)?);
            continue;
        }
        if let Some(words) = line.strip_prefix("VmFlags:") {
            let vma = vmas
                .last_mut()
                .ok_or(BadLine::new(line, "VmFlags before any vma"))?;
            vma.flags = VmFlags::parse(words);
        }
    }
    Ok(vmas)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proc::maps::VmaKind;

    const SAMPLE: &str = "\
7fbbf3559000-7fbbf355d000 r--p 00000000 00:00 0                          [vvar]
Size:                 16 kB
KernelPageSize:        4 kB
Rss:                   0 kB
THPeligible:           0
VmFlags: rd mr pf io de dd 
7ffd864e4000-7ffd86505000 rw-p 00000000 00:00 0                          [stack]
Size:                132 kB
Locked:                0 kB
VmFlags: rd wr mr mw me gd ac lo zz 
";

    #[test]
    fn flags_land_on_their_vma() {
        let vmas = parse_smaps(SAMPLE).unwrap();
        assert_eq!(vmas.len(), 2);
        assert_eq!(vmas[0].kind, VmaKind::Vvar);
        let vvar = VmFlags::READ | VmFlags::MAYREAD | VmFlags::PFNMAP | VmFlags::IO;
        assert_eq!(
            vmas[0].flags,
            vvar | VmFlags::DONTEXPAND | VmFlags::DONTDUMP
        );
        assert!(vmas[1]
            .flags
            .contains(VmFlags::GROWSDOWN | VmFlags::LOCKED | VmFlags::UNKNOWN));
    }

    #[test]
    fn flags_without_a_vma_are_an_error() {
        assert_eq!(
            parse_smaps("VmFlags: rd\n").unwrap_err().reason,
            "VmFlags before any vma"
        );
    }
}
