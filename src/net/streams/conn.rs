//! A connection of the streams API: the socket its reader and writer share, the writer's
//! outgoing state, and, for a connection a stream server took in, its place in the
//! server's registry.
//!
//! # Ground rules
//!
//! - The reader, the writer and the writer's flusher task each hold an `Rc<Conn>`; the
//!   socket closes when the last of them lets go.
//! - A server's [`Registration`] is the last field, so it is dropped after the socket:
//!   the server counts the connection gone only once its descriptor is closed.

use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::os::unix::net::SocketAddr as UnixSocketAddr;

use super::server::Registration;
use super::writer::Outgoing;
use crate::driver::fd::Fd;
use crate::net::socket::Socket;

/// The connected socket, TCP or Unix.
pub(super) enum Sock {
    Tcp(Socket<std::net::TcpStream>),
    Unix(Socket<std::os::unix::net::UnixStream>),
}

impl Sock {
    /// The descriptor with the socket's identity, for operations.
    pub(super) fn handle(&self) -> Fd {
        match self {
            Sock::Tcp(s) => s.handle(),
            Sock::Unix(s) => s.handle(),
        }
    }

    pub(super) fn raw_fd(&self) -> RawFd {
        match self {
            Sock::Tcp(s) => s.fd(),
            Sock::Unix(s) => s.fd(),
        }
    }

    /// Sends all of `buf`.
    pub(super) async fn write_all(&self, buf: Vec<u8>) -> (io::Result<()>, Vec<u8>) {
        match self {
            Sock::Tcp(s) => s.write_all(buf).await,
            Sock::Unix(s) => s.write_all(buf).await,
        }
    }

    pub(super) fn peer_addr(&self) -> io::Result<SocketAddr> {
        match self {
            Sock::Tcp(s) => s.get().peer_addr(),
            Sock::Unix(_) => Err(not_inet("peer_addr", "unix_peer_addr")),
        }
    }

    pub(super) fn local_addr(&self) -> io::Result<SocketAddr> {
        match self {
            Sock::Tcp(s) => s.get().local_addr(),
            Sock::Unix(_) => Err(not_inet("local_addr", "unix_local_addr")),
        }
    }

    pub(super) fn unix_peer_addr(&self) -> io::Result<UnixSocketAddr> {
        match self {
            Sock::Unix(s) => s.get().peer_addr(),
            Sock::Tcp(_) => Err(not_unix("unix_peer_addr", "peer_addr")),
        }
    }

    pub(super) fn unix_local_addr(&self) -> io::Result<UnixSocketAddr> {
        match self {
            Sock::Unix(s) => s.get().local_addr(),
            Sock::Tcp(_) => Err(not_unix("unix_local_addr", "local_addr")),
        }
    }
}

fn not_inet(what: &str, instead: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{what}: a Unix-domain stream has no IP address; call {instead} instead"),
    )
}

fn not_unix(what: &str, instead: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{what}: a TCP stream has no Unix-domain address; call {instead} instead"),
    )
}

/// What a connection's reader, writer and flusher share.
pub(super) struct Conn {
    pub(super) sock: Sock,
    pub(super) out: RefCell<Outgoing>,
    /// Declared last: dropped after the socket (see the module docs).
    _registration: Option<Registration>,
}

impl Conn {
    pub(super) fn new(sock: Sock, registration: Option<Registration>) -> Conn {
        if let Sock::Tcp(s) = &sock {
            // As asyncio does for every TCP transport: no Nagle delay on small writes.
            let _ = s.get().set_nodelay(true);
        }
        // Writes try the socket at once when the loop tries I/O first
        // (`Builder::try_first_io`); else every write goes through the flusher.
        let try_send =
            crate::event_loop::context::current_io("ringloop::net streams").try_first_io();
        Conn {
            sock,
            out: RefCell::new(Outgoing::new(try_send)),
            _registration: registration,
        }
    }
}
