//! Unix-domain datagram sockets: [`UdpSocket`](super::UdpSocket)'s operations (the same
//! sendmsg/recvmsg operations, with Unix addresses) on a socket named by a path, by an
//! abstract name, or by nothing.

use std::fmt;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::net::SocketAddr;
use std::path::Path;

use super::socket::close_soon;
use crate::driver::buf::{IoBuf, IoBufMut};
use crate::driver::fd::Fd;
use crate::driver::op::Op;
use crate::driver::ops::msg::{RecvMsg, SendMsg};
use crate::driver::ops::recv::Recv;
use crate::driver::ops::send::SendOp;
use crate::sys::net::SockAddr;

/// A Unix-domain datagram socket: datagrams, whole or not at all, between processes of
/// one machine, sent and received with owned buffers (see the [`net`](crate::net)
/// module's "Owned buffers"). Datagrams are never reordered or lost on a Unix socket: a
/// sender whose peer's queue is full waits.
///
/// ```
/// use ringloop::net::UnixDatagram;
///
/// let dir = std::env::temp_dir().join(format!("ringloop-doc-{}-dgram", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let (server_path, client_path) = (dir.join("server.sock"), dir.join("client.sock"));
/// ringloop::run(async {
///     let server = UnixDatagram::bind(&server_path)?;
///     let client = UnixDatagram::bind(&client_path)?;
///     client.send_to(b"ping", &server_path).await.0?;
///     let (got, buf) = server.recv_from(Vec::with_capacity(64)).await;
///     let (n, from) = got?;
///     assert_eq!(from.as_pathname(), Some(client_path.as_path()));
///     server.send_to_addr(buf[..n].to_ascii_uppercase(), &from).await.0?; // reply
///     let (n, buf) = client.recv(Vec::with_capacity(64)).await;
///     assert_eq!(&buf[..n?], b"PING");
///     Ok::<(), std::io::Error>(())
/// })?;
/// std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct UnixDatagram {
    io: Option<std::os::unix::net::UnixDatagram>,
    /// The descriptor as operations name it.
    fd: Fd,
}

impl UnixDatagram {
    fn wrap(io: std::os::unix::net::UnixDatagram) -> io::Result<UnixDatagram> {
        io.set_nonblocking(true)?;
        Ok(UnixDatagram {
            fd: Fd::new(io.as_raw_fd()),
            io: Some(io),
        })
    }

    /// Binds to the filesystem path `path`, which must not exist yet (remove it when
    /// done: closing the socket leaves it).
    ///
    /// ```
    /// use ringloop::net::UnixDatagram;
    ///
    /// let path = std::env::temp_dir().join(format!("ringloop-doc-{}-dgram-bind.sock", std::process::id()));
    /// let socket = UnixDatagram::bind(&path)?;
    /// assert_eq!(socket.local_addr()?.as_pathname(), Some(path.as_path()));
    /// assert!(UnixDatagram::bind(&path).is_err()); // taken
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixDatagram> {
        UnixDatagram::wrap(std::os::unix::net::UnixDatagram::bind(path)?)
    }

    /// Binds to `addr`: a path, or (Linux) a name in the abstract namespace, which lives
    /// as long as the socket and leaves no file behind.
    ///
    /// ```
    /// use std::os::linux::net::SocketAddrExt;
    /// use std::os::unix::net::SocketAddr;
    /// use ringloop::net::UnixDatagram;
    ///
    /// let name = format!("ringloop-doc-{}-abstract", std::process::id());
    /// let addr = SocketAddr::from_abstract_name(name.as_bytes())?;
    /// ringloop::run(async {
    ///     let server = UnixDatagram::bind_addr(&addr)?;
    ///     let client = UnixDatagram::unbound()?;
    ///     client.send_to_addr(b"no file", &addr).await.0?;
    ///     let (got, buf) = server.recv_from(Vec::with_capacity(16)).await;
    ///     let (n, from) = got?;
    ///     assert_eq!(&buf[..n], b"no file");
    ///     assert!(from.is_unnamed()); // the client is bound to nothing
    ///     assert_eq!(server.local_addr()?.as_abstract_name(), Some(name.as_bytes()));
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn bind_addr(addr: &SocketAddr) -> io::Result<UnixDatagram> {
        UnixDatagram::wrap(std::os::unix::net::UnixDatagram::bind_addr(addr)?)
    }

    /// A socket bound to nothing: it can send (with [`send_to`](Self::send_to), or
    /// [`connect`](Self::connect) then [`send`](Self::send)) but nobody can address a
    /// reply to it.
    ///
    /// ```
    /// use ringloop::net::UnixDatagram;
    ///
    /// let socket = UnixDatagram::unbound()?;
    /// assert!(socket.local_addr()?.is_unnamed());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn unbound() -> io::Result<UnixDatagram> {
        UnixDatagram::wrap(std::os::unix::net::UnixDatagram::unbound()?)
    }

    /// A pair of connected sockets (socketpair(2)), unnamed: each one's datagrams go to
    /// the other.
    ///
    /// ```
    /// use ringloop::net::UnixDatagram;
    ///
    /// ringloop::run(async {
    ///     let (a, b) = UnixDatagram::pair()?;
    ///     a.send(b"one").await.0?;
    ///     a.send(b"two").await.0?;
    ///     let (n, buf) = b.recv(Vec::with_capacity(16)).await;
    ///     assert_eq!(&buf[..n?], b"one"); // datagrams stay whole and in order
    ///     let (n, buf) = b.recv(buf).await;
    ///     assert_eq!(&buf[..n?], b"two");
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        let (a, b) = std::os::unix::net::UnixDatagram::pair()?;
        Ok((UnixDatagram::wrap(a)?, UnixDatagram::wrap(b)?))
    }

    /// Wraps a std socket (made nonblocking).
    ///
    /// ```
    /// use ringloop::net::UnixDatagram;
    ///
    /// let (plain, other) = std::os::unix::net::UnixDatagram::pair()?;
    /// let socket = UnixDatagram::from_std(other)?;
    /// plain.send(b"from std")?;
    /// let got = ringloop::run(async move {
    ///     let (n, buf) = socket.recv(Vec::with_capacity(16)).await;
    ///     n.map(|n| buf[..n].to_vec())
    /// })?;
    /// assert_eq!(got, b"from std");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn from_std(socket: std::os::unix::net::UnixDatagram) -> io::Result<UnixDatagram> {
        UnixDatagram::wrap(socket)
    }

    fn get(&self) -> &std::os::unix::net::UnixDatagram {
        self.io.as_ref().expect("socket used after close")
    }

    /// The descriptor with this socket's identity, for operations.
    fn handle(&self) -> Fd {
        debug_assert!(self.io.is_some(), "socket used after close");
        self.fd
    }

    /// Sets the default peer, the socket bound at `path`: [`send`](Self::send) goes
    /// there and [`recv`](Self::recv) takes only its datagrams. `NotFound` when nothing
    /// is at `path`, `ConnectionRefused` when what is there is not a datagram socket.
    ///
    /// ```
    /// use ringloop::net::UnixDatagram;
    ///
    /// let path = std::env::temp_dir().join(format!("ringloop-doc-{}-dgram-connect.sock", std::process::id()));
    /// let server = UnixDatagram::bind(&path)?;
    /// let client = UnixDatagram::unbound()?;
    /// client.connect(&path)?;
    /// assert_eq!(client.peer_addr()?.as_pathname(), Some(path.as_path()));
    /// std::fs::remove_file(&path)?;
    /// let missing = UnixDatagram::unbound()?.connect(&path).unwrap_err();
    /// assert_eq!(missing.kind(), std::io::ErrorKind::NotFound);
    /// # drop(server);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn connect(&self, path: impl AsRef<Path>) -> io::Result<()> {
        self.get().connect(path)
    }

    /// Sends `buf`'s initialized bytes as one datagram to the socket bound at `path`;
    /// the count sent (all of it) and the buffer. `NotFound` when nothing is at `path`;
    /// `InvalidInput` for a path of 108 bytes or more.
    ///
    /// ```
    /// use ringloop::net::UnixDatagram;
    ///
    /// let path = std::env::temp_dir().join(format!("ringloop-doc-{}-dgram-send-to.sock", std::process::id()));
    /// ringloop::run(async {
    ///     let server = UnixDatagram::bind(&path)?;
    ///     let client = UnixDatagram::unbound()?;
    ///     let (sent, _) = client.send_to("metric:1|c", &path).await;
    ///     assert_eq!(sent?, 10);
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub async fn send_to<B: IoBuf>(
        &self,
        buf: B,
        path: impl AsRef<Path>,
    ) -> (io::Result<usize>, B) {
        match SockAddr::from_path(path.as_ref()) {
            Ok(to) => self.send_to_sock(buf, to, "UnixDatagram::send_to").await,
            Err(e) => (Err(e), buf),
        }
    }

    /// Sends `buf`'s initialized bytes as one datagram to `addr`: a path or an abstract
    /// name, e.g. the sender a [`recv_from`](Self::recv_from) gave. The returned [`Op`]'s
    /// output is `(io::Result<usize>, B)`. An unnamed `addr` addresses nobody
    /// (`ENOTCONN`, or the connected peer's address is used on a connected socket).
    ///
    /// ```
    /// use ringloop::net::UnixDatagram;
    ///
    /// let dir = std::env::temp_dir().join(format!("ringloop-doc-{}-dgram-reply", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// ringloop::run(async {
    ///     let server = UnixDatagram::bind(dir.join("s.sock"))?;
    ///     let client = UnixDatagram::bind(dir.join("c.sock"))?;
    ///     client.send_to(b"2+2", dir.join("s.sock")).await.0?;
    ///     let (got, _) = server.recv_from(Vec::with_capacity(16)).await;
    ///     let (_, from) = got?;
    ///     server.send_to_addr(b"4", &from).await.0?;
    ///     let (n, buf) = client.recv(Vec::with_capacity(16)).await;
    ///     assert_eq!(&buf[..n?], b"4");
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn send_to_addr<B: IoBuf>(&self, buf: B, addr: &SocketAddr) -> Op<'_, SendMsg<B>> {
        let core = crate::event_loop::context::current_io("UnixDatagram::send_to_addr");
        Op::new(
            core,
            SendMsg::new(self.handle(), buf, SockAddr::from_unix(addr)),
        )
    }

    fn send_to_sock<B: IoBuf>(&self, buf: B, to: SockAddr, what: &str) -> Op<'_, SendMsg<B>> {
        let core = crate::event_loop::context::current_io(what);
        Op::new(core, SendMsg::new(self.handle(), buf, to))
    }

    /// Receives one datagram into `buf`, with its sender's address (unnamed for a sender
    /// bound to nothing). A datagram longer than the buffer's capacity is truncated (the
    /// rest is lost). The returned [`Op`]'s output is
    /// `(io::Result<(usize, SocketAddr)>, B)`, the address a
    /// [`std::os::unix::net::SocketAddr`].
    ///
    /// ```
    /// use ringloop::net::UnixDatagram;
    ///
    /// ringloop::run(async {
    ///     let (a, b) = UnixDatagram::pair()?;
    ///     a.send(b"0123456789").await.0?;
    ///     let (got, buf) = b.recv_from(Vec::with_capacity(4)).await;
    ///     let (n, from) = got?;
    ///     assert_eq!(&buf[..n], b"0123"); // truncated
    ///     assert!(from.is_unnamed()); // a pair's ends have no name
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn recv_from<B: IoBufMut>(&self, buf: B) -> Op<'_, RecvMsg<B, SocketAddr>> {
        let core = crate::event_loop::context::current_io("UnixDatagram::recv_from");
        Op::new(core, RecvMsg::new(self.handle(), buf))
    }

    /// Sends one datagram to the connected peer (see [`connect`](Self::connect) and
    /// [`pair`](Self::pair)); the count sent and the buffer.
    ///
    /// ```
    /// use ringloop::net::UnixDatagram;
    ///
    /// ringloop::run(async {
    ///     let (a, b) = UnixDatagram::pair()?;
    ///     let (sent, _) = a.send(b"hello").await;
    ///     assert_eq!(sent?, 5);
    ///     let (n, buf) = b.recv(Vec::with_capacity(16)).await;
    ///     assert_eq!(&buf[..n?], b"hello");
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn send<B: IoBuf>(&self, buf: B) -> Op<'_, SendOp<B>> {
        let core = crate::event_loop::context::current_io("UnixDatagram::send");
        Op::new(core, SendOp::new(self.handle(), buf))
    }

    /// Receives one datagram (truncated to the buffer's capacity); on a connected
    /// socket, only from its peer. A buffer with no capacity is refused with
    /// `InvalidInput`.
    ///
    /// ```
    /// use ringloop::net::UnixDatagram;
    ///
    /// ringloop::run(async {
    ///     let (a, b) = UnixDatagram::pair()?;
    ///     b.send(b"reply").await.0?;
    ///     let (n, buf) = a.recv(Vec::with_capacity(16)).await;
    ///     assert_eq!(&buf[..n?], b"reply");
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn recv<B: IoBufMut>(&self, buf: B) -> Op<'_, Recv<B>> {
        let core = crate::event_loop::context::current_io("UnixDatagram::recv");
        Op::new(core, Recv::new(self.handle(), buf))
    }

    /// This socket's address: a path, an abstract name, or unnamed.
    ///
    /// ```
    /// let (a, _b) = ringloop::net::UnixDatagram::pair()?;
    /// assert!(a.local_addr()?.is_unnamed());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.get().local_addr()
    }

    /// The connected peer's address; an error (`NotConnected`) before
    /// [`connect`](Self::connect).
    ///
    /// ```
    /// use ringloop::net::UnixDatagram;
    ///
    /// let socket = UnixDatagram::unbound()?;
    /// assert_eq!(socket.peer_addr().unwrap_err().kind(), std::io::ErrorKind::NotConnected);
    /// let (a, _b) = UnixDatagram::pair()?;
    /// assert!(a.peer_addr()?.is_unnamed());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.get().peer_addr()
    }
}

super::socket::owned_socket_conversions!(UnixDatagram, std::os::unix::net::UnixDatagram);

impl Drop for UnixDatagram {
    fn drop(&mut self) {
        if let Some(io) = self.io.take() {
            close_soon(io.into());
        }
    }
}

impl fmt::Debug for UnixDatagram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixDatagram")
            .field("local_addr", &self.local_addr().ok())
            .finish()
    }
}
