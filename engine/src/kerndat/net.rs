//! Network features: asking the kernel about sockets.

use nix::errno::Errno;
use nix::sys::socket::{socket, AddressFamily, SockFlag, SockProtocol, SockType};

use super::KerndatError;

const CALL: &str = "socket(AF_NETLINK, SOCK_RAW, NETLINK_SOCK_DIAG)";

pub(super) fn sock_diag() -> Result<(), KerndatError> {
    let result = socket(
        AddressFamily::Netlink,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkSockDiag,
    );
    match result {
        Ok(_socket) => Ok(()),
        Err(errno @ Errno::EPROTONOSUPPORT) => {
            Err(KerndatError::NotImplemented { call: CALL, errno })
        }
        Err(errno) => Err(KerndatError::Syscall { call: CALL, errno }),
    }
}
