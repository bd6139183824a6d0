//! UDP sockets.

use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::AsRawFd;

use super::socket::close_soon;
use super::tcp::each_addr;
use crate::driver::buf::{IoBuf, IoBufMut};
use crate::driver::fd::Fd;
use crate::driver::op::Op;
use crate::driver::ops::msg::{RecvMsg, SendMsg};
use crate::driver::ops::recv::Recv;
use crate::driver::ops::send::SendOp;

/// A UDP socket.
pub struct UdpSocket {
    io: Option<std::net::UdpSocket>,
    /// The descriptor as operations name it.
    fd: Fd,
}

impl UdpSocket {
    /// Binds to `addr` (the first of its addresses that binds).
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<UdpSocket> {
        each_addr(addr, |addr| {
            let io = std::net::UdpSocket::bind(addr)?;
            io.set_nonblocking(true)?;
            Ok(UdpSocket {
                fd: Fd::new(io.as_raw_fd()),
                io: Some(io),
            })
        })
    }

    /// Wraps a std socket (made nonblocking).
    pub fn from_std(socket: std::net::UdpSocket) -> io::Result<UdpSocket> {
        socket.set_nonblocking(true)?;
        Ok(UdpSocket {
            fd: Fd::new(socket.as_raw_fd()),
            io: Some(socket),
        })
    }

    /// Sets `SO_BROADCAST`: datagrams may go to a broadcast address.
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.get().set_broadcast(on)
    }

    /// Whether `SO_BROADCAST` is set.
    pub fn broadcast(&self) -> io::Result<bool> {
        self.get().broadcast()
    }

    /// Sets the IP time-to-live of outgoing datagrams.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.get().set_ttl(ttl)
    }

    /// The IP time-to-live of outgoing datagrams.
    pub fn ttl(&self) -> io::Result<u32> {
        self.get().ttl()
    }

    fn get(&self) -> &std::net::UdpSocket {
        self.io.as_ref().expect("socket used after close")
    }

    /// The descriptor with this socket's identity, for operations.
    fn handle(&self) -> Fd {
        debug_assert!(self.io.is_some(), "socket used after close");
        self.fd
    }

    /// Sets the default peer: `send` goes there and `recv` takes only its datagrams.
    pub fn connect(&self, addr: impl ToSocketAddrs) -> io::Result<()> {
        self.get().connect(addr)
    }

    /// Sends `buf`'s initialized bytes as one datagram to `addr`.
    pub fn send_to<B: IoBuf>(&self, buf: B, addr: SocketAddr) -> Op<'_, SendMsg<B>> {
        let core = crate::event_loop::context::current_io("UdpSocket::send_to");
        Op::new(core, SendMsg::new(self.handle(), buf, addr))
    }

    /// Receives one datagram into `buf`, with its sender's address. A datagram longer
    /// than the buffer's capacity is truncated.
    pub fn recv_from<B: IoBufMut>(&self, buf: B) -> Op<'_, RecvMsg<B>> {
        let core = crate::event_loop::context::current_io("UdpSocket::recv_from");
        Op::new(core, RecvMsg::new(self.handle(), buf))
    }

    /// Sends one datagram to the connected peer.
    pub fn send<B: IoBuf>(&self, buf: B) -> Op<'_, SendOp<B>> {
        let core = crate::event_loop::context::current_io("UdpSocket::send");
        Op::new(core, SendOp::new(self.handle(), buf))
    }

    /// Receives one datagram from the connected peer.
    pub fn recv<B: IoBufMut>(&self, buf: B) -> Op<'_, Recv<B>> {
        let core = crate::event_loop::context::current_io("UdpSocket::recv");
        Op::new(core, Recv::new(self.handle(), buf))
    }

    /// This socket's address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.get().local_addr()
    }

    /// The connected peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.get().peer_addr()
    }
}

super::socket::owned_socket_conversions!(UdpSocket, std::net::UdpSocket);

impl Drop for UdpSocket {
    fn drop(&mut self) {
        if let Some(io) = self.io.take() {
            close_soon(io.into());
        }
    }
}

impl fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UdpSocket")
            .field("local_addr", &self.local_addr().ok())
            .finish()
    }
}
