//! Refusals of unix sockets told by their peer, on real children holding one end while the test
//! holds the other.

mod refusal_child;

use std::os::fd::AsRawFd;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram, UnixListener, UnixStream};

use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
use nix::unistd::Pid;

use engine::refusal::{check_tree, Reason, UnixPeer};
use refusal_child::{lines, serial, Child, TempDir};

fn inode_of(fd: &impl AsRawFd) -> u64 {
    nix::sys::stat::fstat(fd.as_raw_fd()).unwrap().st_ino
}

#[test]
fn socketpair_end_names_the_process_holding_the_other() {
    let _serial = serial();
    let (a, b) = socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::empty(),
    )
    .unwrap();
    let inode = inode_of(&a);
    let child = Child::spawn(&[a.as_raw_fd()], || true);
    drop(a);
    let (pid, me) = (child.pid, Pid::this());
    assert_eq!(
        lines(pid),
        vec![format!(
            "pid {pid}: fd 100 is a unix socket (socket:[{inode}]) connected to an unnamed socket \
             held by pid {me}: sockets are not supported yet"
        )]
    );
    drop(b);
    assert_eq!(
        lines(pid),
        vec![format!(
            "pid {pid}: fd 100 is a unix socket (socket:[{inode}]) connected to a socket that was \
             closed or that crust cannot see: sockets are not supported yet"
        )]
    );
}

#[test]
fn connection_to_a_bound_path_names_the_path_and_the_listener() {
    let _serial = serial();
    let dir = TempDir::new("peer-path");
    let path = dir.path("X0");
    let listener = UnixListener::bind(&path).unwrap();
    let client = UnixStream::connect(&path).unwrap();
    let inode = inode_of(&client);
    let child = Child::spawn(&[client.as_raw_fd()], || true);
    drop(client);
    let (pid, me, path) = (child.pid, Pid::this(), path.display());
    assert_eq!(
        lines(pid),
        vec![format!(
            "pid {pid}: fd 100 is a unix socket (socket:[{inode}]) connected to {path} held by \
             pid {me} (not accepted yet): sockets are not supported yet"
        )]
    );
    let (accepted, _) = listener.accept().unwrap();
    assert_eq!(
        lines(pid),
        vec![format!(
            "pid {pid}: fd 100 is a unix socket (socket:[{inode}]) connected to {path} held by \
             pid {me}: sockets are not supported yet"
        )]
    );
    let refusal = &check_tree(pid).unwrap()[0];
    let Reason::UnixPeer(UnixPeer::Socket { holders, .. }) = &refusal.reason else {
        panic!("{refusal:?}");
    };
    assert_eq!(holders.others, vec![me]);
    drop(accepted);
}

#[test]
fn connection_to_an_abstract_name_shows_it_with_an_at() {
    let _serial = serial();
    let name = format!("crust-peer-{}", std::process::id());
    let address = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let listener = UnixListener::bind_addr(&address).unwrap();
    let client = UnixStream::connect_addr(&address).unwrap();
    let (accepted, _) = listener.accept().unwrap();
    let inode = inode_of(&client);
    let child = Child::spawn(&[client.as_raw_fd()], || true);
    drop(client);
    let (pid, me) = (child.pid, Pid::this());
    assert_eq!(
        lines(pid),
        vec![format!(
            "pid {pid}: fd 100 is a unix socket (socket:[{inode}]) connected to @{name} held by \
             pid {me}: sockets are not supported yet"
        )]
    );
    drop((accepted, listener));
}

#[test]
fn unconnected_unix_socket_is_a_plain_socket() {
    let _serial = serial();
    let dir = TempDir::new("peer-unconnected");
    let socket = UnixDatagram::bind(dir.path("bound")).unwrap();
    let inode = inode_of(&socket);
    let child = Child::spawn(&[socket.as_raw_fd()], || true);
    drop(socket);
    let pid = child.pid;
    assert_eq!(
        lines(pid),
        vec![format!(
            "pid {pid}: fd 100 is a socket (AF_UNIX, socket:[{inode}]): sockets are not \
             supported yet"
        )]
    );
}
