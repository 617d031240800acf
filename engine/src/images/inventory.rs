//! `inventory.img` (inventory.proto): the first image of a dump, saying which
//! image format version and layout the rest follows.

use serde::Serialize;

use super::core::TaskKobjIdsEntry;
use super::json;

/// The `img_version` CRIU 3.x writes and accepts (CRTOOLS_IMAGES_V1_1).
pub const IMAGES_V1_1: u32 = 2;

/// Which Linux security module the dumped tree ran under.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration, Serialize,
)]
#[repr(i32)]
pub enum Lsmtype {
    #[serde(rename = "NO_LSM")]
    NoLsm = 0,
    #[serde(rename = "SELINUX")]
    Selinux = 1,
    #[serde(rename = "APPARMOR")]
    Apparmor = 2,
}

/// `inventory_entry`. CRIU refuses images without `fdinfo_per_id` and
/// `ns_per_id` set: it no longer reads the older layouts.
#[derive(Clone, PartialEq, prost::Message, Serialize)]
pub struct InventoryEntry {
    #[prost(uint32, required, tag = "1")]
    pub img_version: u32,
    #[prost(bool, optional, tag = "2")]
    pub fdinfo_per_id: Option<bool>,
    #[prost(message, optional, tag = "3")]
    pub root_ids: Option<TaskKobjIdsEntry>,
    #[prost(bool, optional, tag = "4")]
    pub ns_per_id: Option<bool>,
    #[prost(uint32, optional, tag = "5")]
    pub root_cg_set: Option<u32>,
    #[prost(enumeration = "Lsmtype", optional, tag = "6")]
    #[serde(serialize_with = "json::enum_name_opt::<Lsmtype, _>")]
    pub lsmtype: Option<i32>,
    #[prost(uint64, optional, tag = "8")]
    pub dump_uptime: Option<u64>,
    #[prost(uint32, optional, tag = "9")]
    pub pre_dump_mode: Option<u32>,
    #[prost(bool, optional, tag = "10")]
    pub tcp_close: Option<bool>,
    #[prost(uint32, optional, tag = "11")]
    pub network_lock_method: Option<u32>,
}

impl InventoryEntry {
    /// The inventory of a dump in the layout CRIU 3.x reads: image version
    /// 1.1, fdinfo images per files id, namespace ids per task.
    pub fn new(root_ids: TaskKobjIdsEntry) -> InventoryEntry {
        InventoryEntry {
            img_version: IMAGES_V1_1,
            fdinfo_per_id: Some(true),
            root_ids: Some(root_ids),
            ns_per_id: Some(true),
            lsmtype: Some(Lsmtype::NoLsm as i32),
            ..Default::default()
        }
    }

    /// Why crust cannot restore images with this inventory, if it cannot:
    /// another format version, or one of the older layouts.
    pub fn unsupported(&self) -> Option<&'static str> {
        if self.img_version != IMAGES_V1_1 {
            Some("the image version is not 1.1 (CRIU 2.x and later)")
        } else if self.fdinfo_per_id != Some(true) {
            Some("fd tables are not stored per files id (pre-1.1 layout)")
        } else if self.ns_per_id != Some(true) {
            Some("namespaces are not stored per id (pre-1.1 layout)")
        } else if self.root_ids.is_none() {
            Some("the root task's ids are missing")
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_inventory_is_supported_and_old_layouts_are_not() {
        let inventory = InventoryEntry::new(TaskKobjIdsEntry::default());
        assert_eq!(inventory.unsupported(), None);
        let old = InventoryEntry {
            fdinfo_per_id: None,
            ..inventory.clone()
        };
        assert!(old.unsupported().is_some());
        let v1 = InventoryEntry {
            img_version: 1,
            ..inventory
        };
        assert!(v1.unsupported().is_some());
    }
}
