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
use crate::sys::net::SockAddr;

/// A UDP socket: datagrams sent and received with owned buffers.
///
/// ```
/// use ringloop::net::UdpSocket;
///
/// ringloop::run(async {
///     let server = UdpSocket::bind("127.0.0.1:0")?;
///     let client = UdpSocket::bind("127.0.0.1:0")?;
///     client.send_to(b"ping", server.local_addr()?).await.0?;
///     let (got, buf) = server.recv_from(Vec::with_capacity(1500)).await;
///     let (n, from) = got?;
///     server.send_to(buf[..n].to_vec(), from).await.0?; // echo it back
///     let (got, buf) = client.recv_from(Vec::with_capacity(1500)).await;
///     assert_eq!(&buf[..got?.0], b"ping");
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct UdpSocket {
    io: Option<std::net::UdpSocket>,
    /// The descriptor as operations name it.
    fd: Fd,
}

impl UdpSocket {
    /// Binds to `addr` (the first of its addresses that binds). Port 0 asks the system
    /// for a free port.
    ///
    /// ```
    /// use ringloop::net::UdpSocket;
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0")?;
    /// assert!(socket.local_addr()?.port() != 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
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
    ///
    /// ```
    /// use ringloop::net::UdpSocket;
    ///
    /// let std_socket = std::net::UdpSocket::bind("127.0.0.1:0")?;
    /// let addr = std_socket.local_addr()?;
    /// let socket = UdpSocket::from_std(std_socket)?;
    /// assert_eq!(socket.local_addr()?, addr);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn from_std(socket: std::net::UdpSocket) -> io::Result<UdpSocket> {
        socket.set_nonblocking(true)?;
        Ok(UdpSocket {
            fd: Fd::new(socket.as_raw_fd()),
            io: Some(socket),
        })
    }

    /// Sets `SO_BROADCAST`: datagrams may go to a broadcast address.
    ///
    /// ```
    /// let socket = ringloop::net::UdpSocket::bind("0.0.0.0:0")?;
    /// socket.set_broadcast(true)?; // now send_to(.., "255.255.255.255:9".parse()?) is allowed
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.get().set_broadcast(on)
    }

    /// Whether `SO_BROADCAST` is set.
    ///
    /// ```
    /// let socket = ringloop::net::UdpSocket::bind("127.0.0.1:0")?;
    /// assert!(!socket.broadcast()?); // off by default
    /// socket.set_broadcast(true)?;
    /// assert!(socket.broadcast()?);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn broadcast(&self) -> io::Result<bool> {
        self.get().broadcast()
    }

    /// Sets the IP time-to-live of outgoing datagrams.
    ///
    /// ```
    /// let socket = ringloop::net::UdpSocket::bind("127.0.0.1:0")?;
    /// socket.set_ttl(1)?; // datagrams stay on the local network
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.get().set_ttl(ttl)
    }

    /// The IP time-to-live of outgoing datagrams.
    ///
    /// ```
    /// let socket = ringloop::net::UdpSocket::bind("127.0.0.1:0")?;
    /// socket.set_ttl(8)?;
    /// assert_eq!(socket.ttl()?, 8);
    /// # Ok::<(), std::io::Error>(())
    /// ```
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
    ///
    /// ```
    /// use ringloop::net::UdpSocket;
    ///
    /// let a = UdpSocket::bind("127.0.0.1:0")?;
    /// let b = UdpSocket::bind("127.0.0.1:0")?;
    /// a.connect(b.local_addr()?)?;
    /// assert_eq!(a.peer_addr()?, b.local_addr()?);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn connect(&self, addr: impl ToSocketAddrs) -> io::Result<()> {
        self.get().connect(addr)
    }

    /// Sends `buf`'s initialized bytes as one datagram to `addr`. The returned [`Op`]'s
    /// output is `(io::Result<usize>, B)`: the count sent and the buffer.
    ///
    /// ```
    /// use ringloop::net::UdpSocket;
    ///
    /// ringloop::run(async {
    ///     let a = UdpSocket::bind("127.0.0.1:0")?;
    ///     let b = UdpSocket::bind("127.0.0.1:0")?;
    ///     let (sent, _) = a.send_to("metric:1|c", b.local_addr()?).await;
    ///     assert_eq!(sent?, 10);
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn send_to<B: IoBuf>(&self, buf: B, addr: SocketAddr) -> Op<'_, SendMsg<B>> {
        let core = crate::event_loop::context::current_io("UdpSocket::send_to");
        Op::new(
            core,
            SendMsg::new(self.handle(), buf, SockAddr::from_inet(addr)),
        )
    }

    /// Receives one datagram into `buf`, with its sender's address. A datagram longer
    /// than the buffer's capacity is truncated (the rest is lost). The returned [`Op`]'s
    /// output is `(io::Result<(usize, SocketAddr)>, B)`.
    ///
    /// ```
    /// use ringloop::net::UdpSocket;
    ///
    /// ringloop::run(async {
    ///     let a = UdpSocket::bind("127.0.0.1:0")?;
    ///     let b = UdpSocket::bind("127.0.0.1:0")?;
    ///     a.send_to(b"0123456789", b.local_addr()?).await.0?;
    ///     let (got, buf) = b.recv_from(Vec::with_capacity(4)).await;
    ///     let (n, from) = got?;
    ///     assert_eq!((&buf[..n], from), (&b"0123"[..], a.local_addr()?)); // truncated
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn recv_from<B: IoBufMut>(&self, buf: B) -> Op<'_, RecvMsg<B>> {
        let core = crate::event_loop::context::current_io("UdpSocket::recv_from");
        Op::new(core, RecvMsg::new(self.handle(), buf))
    }

    /// Sends one datagram to the connected peer (see [`connect`](Self::connect)).
    ///
    /// ```
    /// use ringloop::net::UdpSocket;
    ///
    /// ringloop::run(async {
    ///     let a = UdpSocket::bind("127.0.0.1:0")?;
    ///     let b = UdpSocket::bind("127.0.0.1:0")?;
    ///     a.connect(b.local_addr()?)?;
    ///     let (sent, _) = a.send(b"hello").await;
    ///     assert_eq!(sent?, 5);
    ///     let (got, buf) = b.recv_from(Vec::with_capacity(16)).await;
    ///     assert_eq!(&buf[..got?.0], b"hello");
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn send<B: IoBuf>(&self, buf: B) -> Op<'_, SendOp<B>> {
        let core = crate::event_loop::context::current_io("UdpSocket::send");
        Op::new(core, SendOp::new(self.handle(), buf))
    }

    /// Receives one datagram from the connected peer (see [`connect`](Self::connect));
    /// datagrams from other senders are not taken. A buffer with no capacity is refused
    /// with `InvalidInput`.
    ///
    /// ```
    /// use ringloop::net::UdpSocket;
    ///
    /// ringloop::run(async {
    ///     let a = UdpSocket::bind("127.0.0.1:0")?;
    ///     let b = UdpSocket::bind("127.0.0.1:0")?;
    ///     b.connect(a.local_addr()?)?;
    ///     a.send_to(b"reply", b.local_addr()?).await.0?;
    ///     let (n, buf) = b.recv(Vec::with_capacity(16)).await;
    ///     assert_eq!(&buf[..n?], b"reply");
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn recv<B: IoBufMut>(&self, buf: B) -> Op<'_, Recv<B>> {
        let core = crate::event_loop::context::current_io("UdpSocket::recv");
        Op::new(core, Recv::new(self.handle(), buf))
    }

    /// This socket's address (with the port the system chose for port 0).
    ///
    /// ```
    /// let socket = ringloop::net::UdpSocket::bind("127.0.0.1:0")?;
    /// let addr = socket.local_addr()?;
    /// assert!(addr.ip().is_loopback() && addr.port() != 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.get().local_addr()
    }

    /// The connected peer's address; an error (`NotConnected`) before
    /// [`connect`](Self::connect).
    ///
    /// ```
    /// use ringloop::net::UdpSocket;
    ///
    /// let a = UdpSocket::bind("127.0.0.1:0")?;
    /// assert_eq!(a.peer_addr().unwrap_err().kind(), std::io::ErrorKind::NotConnected);
    /// let b = UdpSocket::bind("127.0.0.1:0")?;
    /// a.connect(b.local_addr()?)?;
    /// assert_eq!(a.peer_addr()?, b.local_addr()?);
    /// # Ok::<(), std::io::Error>(())
    /// ```
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
