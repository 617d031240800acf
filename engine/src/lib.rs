//! crust's engine: dump and restore of process trees in CRIU's image format.

mod clone3;
pub mod codec;
pub mod dump;
pub mod external;
pub mod images;
pub mod kerndat;
pub mod privileges;
pub mod proc;
pub mod pty;
pub mod refusal;
pub mod restore;
pub mod snapshot;
pub mod sock_diag;
pub mod sysvipc;
