//! `pagemap-PID.img` (pagemap.proto): a `pagemap_head` naming the pages file,
//! then one `pagemap_entry` per run of pages.

use serde::Serialize;

use super::json;

/// Bits of `pagemap_entry.flags`.
pub mod pagemap_flags {
    /// The pages are in the parent (pre-dump) image, not in this pages file.
    pub const PE_PARENT: u32 = 1 << 0;
    /// The pages are served lazily, not stored in this pages file.
    pub const PE_LAZY: u32 = 1 << 1;
    /// The pages are stored in this pages file, in pagemap order.
    pub const PE_PRESENT: u32 = 1 << 2;
}

/// `pagemap_head`: the first entry, naming `pages-<pages_id>.img`.
#[derive(Clone, PartialEq, prost::Message, Serialize)]
pub struct PagemapHead {
    #[prost(uint32, required, tag = "1")]
    pub pages_id: u32,
}

/// `pagemap_entry`: `nr_pages` pages starting at `vaddr`.
#[derive(Clone, PartialEq, prost::Message, Serialize)]
pub struct PagemapEntry {
    #[prost(uint64, required, tag = "1")]
    #[serde(serialize_with = "json::hex")]
    pub vaddr: u64,
    #[prost(uint32, required, tag = "2")]
    pub nr_pages: u32,
    /// Old images only; `flags` says the same with PE_PARENT.
    #[prost(bool, optional, tag = "3")]
    pub in_parent: Option<bool>,
    /// [`pagemap_flags`] bits.
    #[prost(uint32, optional, tag = "4")]
    #[serde(serialize_with = "json::hex_opt")]
    pub flags: Option<u32>,
}

impl PagemapEntry {
    /// The entry's flags, reading images that predate the `flags` field as
    /// CRIU does: `in_parent` means PE_PARENT, anything else PE_PRESENT.
    pub fn effective_flags(&self) -> u32 {
        match (self.flags, self.in_parent) {
            (Some(flags), _) => flags,
            (None, Some(true)) => pagemap_flags::PE_PARENT,
            (None, _) => pagemap_flags::PE_PRESENT,
        }
    }
}
