//! crust's engine: dump and restore of process trees in CRIU's image format.

pub mod images;
pub mod proc;
pub mod dump;
pub mod restore;
