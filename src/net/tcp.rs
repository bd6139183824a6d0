//! TCP: listeners and streams.

use std::fmt;
use std::io;
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::os::fd::{AsRawFd, OwnedFd};
use std::rc::Rc;

use super::socket::close_soon;
use super::socket::{self, ReadHalf, Socket, WriteHalf};
use crate::driver::buf::{IoBuf, IoBufMut};
use crate::driver::fd::Fd;
use crate::driver::op::Op;
use crate::driver::ops::recv::Recv;
use crate::driver::ops::send::SendOp;
use crate::sys::net::{self as sys, SockAddr};

/// How a [`TcpListener`] is set up. `SO_REUSEADDR` is always on.
///
/// ```
/// use ringloop::net::{ListenOptions, TcpListener};
///
/// let options = ListenOptions::new().backlog(128).reuse_port(true);
/// let listener = TcpListener::bind_with("127.0.0.1:0", options)?;
/// assert!(listener.local_addr()?.port() != 0);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct ListenOptions {
    backlog: i32,
    reuse_port: bool,
}

impl Default for ListenOptions {
    fn default() -> Self {
        ListenOptions {
            backlog: 1024,
            reuse_port: false,
        }
    }
}

impl ListenOptions {
    /// The defaults: a backlog of 1024, no `SO_REUSEPORT` (what
    /// [`TcpListener::bind`] uses).
    ///
    /// ```
    /// use ringloop::net::{ListenOptions, TcpListener};
    ///
    /// let listener = TcpListener::bind_with("127.0.0.1:0", ListenOptions::new())?;
    /// # drop(listener);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new() -> ListenOptions {
        ListenOptions::default()
    }

    /// The kernel's queue of connections not yet accepted (capped by `somaxconn`).
    ///
    /// ```
    /// use ringloop::net::{ListenOptions, TcpListener};
    ///
    /// // A burst of up to 4096 connections waits in the kernel for `accept`.
    /// let listener = TcpListener::bind_with("127.0.0.1:0", ListenOptions::new().backlog(4096))?;
    /// # drop(listener);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn backlog(mut self, backlog: u32) -> ListenOptions {
        self.backlog = i32::try_from(backlog).unwrap_or(i32::MAX);
        self
    }

    /// The backlog as listen(2) takes it.
    pub(crate) fn backlog_value(&self) -> i32 {
        self.backlog
    }

    /// `SO_REUSEPORT`: several listeners (one loop per core) bound to one port, the
    /// kernel spreading connections among them.
    ///
    /// ```
    /// use ringloop::net::{ListenOptions, TcpListener};
    ///
    /// let shared = ListenOptions::new().reuse_port(true);
    /// let first = TcpListener::bind_with("127.0.0.1:0", shared)?;
    /// // A second listener on the same port, as another loop would bind it.
    /// let second = TcpListener::bind_with(first.local_addr()?, shared)?;
    /// assert_eq!(first.local_addr()?, second.local_addr()?);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn reuse_port(mut self, on: bool) -> ListenOptions {
        self.reuse_port = on;
        self
    }
}

/// A TCP socket listening for connections.
///
/// ```
/// use ringloop::net::{TcpListener, TcpStream};
///
/// ringloop::run(async {
///     let listener = TcpListener::bind("127.0.0.1:0")?;
///     let addr = listener.local_addr()?;
///     let server = ringloop::spawn(async move {
///         let (conn, _peer) = listener.accept().await?;
///         conn.write_all(b"hello from the server").await.0
///     });
///     let client = TcpStream::connect(addr).await?;
///     let (res, buf) = client.read_exact(Vec::with_capacity(21)).await;
///     res?;
///     assert_eq!(buf, b"hello from the server");
///     server.await?
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct TcpListener {
    io: Option<std::net::TcpListener>,
    /// The descriptor as operations name it.
    fd: Fd,
}

impl TcpListener {
    /// Binds to `addr` (the first of its addresses that binds) with the default
    /// [`ListenOptions`]. Port 0 asks the system for a free port.
    ///
    /// ```
    /// use ringloop::net::TcpListener;
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// println!("listening on {}", listener.local_addr()?);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        TcpListener::bind_with(addr, ListenOptions::default())
    }

    /// Binds to `addr` with `options`.
    ///
    /// ```
    /// use ringloop::net::{ListenOptions, TcpListener};
    ///
    /// let listener = TcpListener::bind_with("127.0.0.1:0", ListenOptions::new().backlog(64))?;
    /// # drop(listener);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn bind_with(addr: impl ToSocketAddrs, options: ListenOptions) -> io::Result<TcpListener> {
        each_addr(addr, |addr| {
            let fd = sys::socket(sys::inet_domain(&addr), libc::SOCK_STREAM)?;
            sys::set_int_option(&fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
            if options.reuse_port {
                sys::set_int_option(&fd, libc::SOL_SOCKET, libc::SO_REUSEPORT, 1)?;
            }
            sys::bind(&fd, &SockAddr::from_inet(addr))?;
            sys::listen(&fd, options.backlog)?;
            Ok(TcpListener::wrap(std::net::TcpListener::from(fd)))
        })
    }

    /// Wraps a std listener (made nonblocking), e.g. one inherited from a supervisor.
    ///
    /// ```
    /// use ringloop::net::{TcpListener, TcpStream};
    ///
    /// let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let listener = TcpListener::from_std(std_listener)?;
    /// ringloop::run(async {
    ///     let client = TcpStream::connect(listener.local_addr()?).await?;
    ///     let (_conn, peer) = listener.accept().await?;
    ///     assert_eq!(peer, client.local_addr()?);
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn from_std(listener: std::net::TcpListener) -> io::Result<TcpListener> {
        listener.set_nonblocking(true)?;
        Ok(TcpListener::wrap(listener))
    }

    fn wrap(listener: std::net::TcpListener) -> TcpListener {
        TcpListener {
            fd: Fd::new(listener.as_raw_fd()),
            io: Some(listener),
        }
    }

    pub(crate) fn raw_fd(&self) -> std::os::fd::RawFd {
        self.get().as_raw_fd()
    }

    /// The descriptor with this listener's identity, for operations.
    pub(crate) fn handle(&self) -> Fd {
        debug_assert!(self.io.is_some(), "listener used after close");
        self.fd
    }

    fn get(&self) -> &std::net::TcpListener {
        self.io.as_ref().expect("listener used after close")
    }

    /// Accepts a connection.
    ///
    /// When the process or system runs out of descriptors (`EMFILE`, `ENFILE`) or
    /// memory, accepting backs off (1 ms, doubling to 100 ms) and tries again instead of
    /// returning the error: the loop keeps running other tasks and timers meanwhile, and
    /// accepting resumes once descriptors free up. A connection reset before it was
    /// accepted is skipped.
    ///
    /// ```
    /// use ringloop::net::{TcpListener, TcpStream};
    ///
    /// ringloop::run(async {
    ///     let listener = TcpListener::bind("127.0.0.1:0")?;
    ///     let client = TcpStream::connect(listener.local_addr()?).await?;
    ///     let (conn, peer) = listener.accept().await?;
    ///     assert_eq!(peer, client.local_addr()?);
    ///     assert_eq!(conn.peer_addr()?, peer);
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (fd, addr) = socket::accept(self.handle(), "TcpListener::accept").await?;
        Ok((TcpStream::from_fd(fd), addr.as_inet()?))
    }

    /// The address the listener is bound to (with the port the system chose for port 0).
    ///
    /// ```
    /// use ringloop::net::TcpListener;
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let addr = listener.local_addr()?;
    /// assert!(addr.ip().is_loopback() && addr.port() != 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.get().local_addr()
    }
}

socket::owned_socket_conversions!(TcpListener, std::net::TcpListener);

impl Drop for TcpListener {
    fn drop(&mut self) {
        if let Some(io) = self.io.take() {
            close_soon(io.into());
        }
    }
}

impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpListener")
            .field("local_addr", &self.local_addr().ok())
            .finish()
    }
}

/// A TCP connection, read and written with owned buffers (see the [`net`](crate::net)
/// module's "Owned buffers").
///
/// ```
/// use ringloop::net::{TcpListener, TcpStream};
///
/// ringloop::run(async {
///     let listener = TcpListener::bind("127.0.0.1:0")?;
///     let client = TcpStream::connect(listener.local_addr()?).await?;
///     let (server, _) = listener.accept().await?;
///     client.write_all(b"2+2").await.0?;
///     let (n, question) = server.read(Vec::with_capacity(64)).await;
///     assert_eq!(&question[..n?], b"2+2");
///     server.write_all(b"4").await.0?;
///     let (n, answer) = client.read(question).await; // the buffer, reused
///     assert_eq!(&answer[..n?], b"4");
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct TcpStream {
    pub(crate) sock: Rc<Socket<std::net::TcpStream>>,
}

impl TcpStream {
    fn from_fd(fd: OwnedFd) -> TcpStream {
        TcpStream {
            sock: Rc::new(Socket::new(std::net::TcpStream::from(fd))),
        }
    }

    /// Connects to `addr`, each of its addresses in turn until one connects. A host
    /// name (`"example.com:80"`, `("localhost", 8080)`) is resolved on the loop's
    /// blocking pool ([`lookup_host`](super::lookup_host)): the loop never blocks on DNS.
    ///
    /// ```
    /// use ringloop::net::{TcpListener, TcpStream};
    ///
    /// ringloop::run(async {
    ///     let listener = TcpListener::bind("127.0.0.1:0")?;
    ///     let port = listener.local_addr()?.port();
    ///     // A name, resolved off the loop's thread; each address is tried in turn.
    ///     let stream = TcpStream::connect(("localhost", port)).await?;
    ///     let (sent, _) = stream.write_all(b"hello\n").await;
    ///     sent
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// The lookup's error, or the last address's connect error.
    pub async fn connect(addr: impl super::ToSocketAddrs) -> io::Result<TcpStream> {
        let lookup = addr.to_lookup();
        let addrs = super::addr::resolve(lookup, "TcpStream::connect").await?;
        let core = crate::event_loop::context::current_io("TcpStream::connect");
        let mut last = None;
        for addr in addrs {
            let fd = sys::socket(sys::inet_domain(&addr), libc::SOCK_STREAM)?;
            let sock = Socket::new(std::net::TcpStream::from(fd));
            match socket::connect(&core, sock, SockAddr::from_inet(addr)).await {
                Ok(sock) => {
                    return Ok(TcpStream {
                        sock: Rc::new(sock),
                    });
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "no address to connect to")
        }))
    }

    /// Wraps a connected std stream (made nonblocking).
    ///
    /// ```
    /// use ringloop::net::TcpStream;
    ///
    /// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let stream = TcpStream::from_std(std::net::TcpStream::connect(listener.local_addr()?)?)?;
    /// let (mut peer, _) = listener.accept()?;
    /// ringloop::run(async { stream.write_all(b"from the loop").await.0 })?;
    /// let mut got = String::new();
    /// drop(stream);
    /// std::io::Read::read_to_string(&mut peer, &mut got)?;
    /// assert_eq!(got, "from the loop");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn from_std(stream: std::net::TcpStream) -> io::Result<TcpStream> {
        stream.set_nonblocking(true)?;
        Ok(TcpStream::from_fd(stream.into()))
    }

    socket::stream_methods!(
        "use ringloop::net::{TcpListener, TcpStream};

ringloop::run(async {
    let listener = TcpListener::bind(\"127.0.0.1:0\")?;
    let a = TcpStream::connect(listener.local_addr()?).await?;
    let (b, _) = listener.accept().await?;"
    );

    /// Sets `TCP_NODELAY` (no Nagle delay for small writes).
    ///
    /// ```
    /// # let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// # let stream = std::net::TcpStream::connect(listener.local_addr()?)?;
    /// # let stream = ringloop::net::TcpStream::from_std(stream)?;
    /// // Small writes (a request, a keystroke) leave at once instead of waiting to coalesce.
    /// stream.set_nodelay(true)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.sock.get().set_nodelay(on)
    }

    /// Whether `TCP_NODELAY` is set.
    ///
    /// ```
    /// # let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// # let stream = std::net::TcpStream::connect(listener.local_addr()?)?;
    /// # let stream = ringloop::net::TcpStream::from_std(stream)?;
    /// assert!(!stream.nodelay()?); // off by default
    /// stream.set_nodelay(true)?;
    /// assert!(stream.nodelay()?);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn nodelay(&self) -> io::Result<bool> {
        self.sock.get().nodelay()
    }

    /// Sets `SO_KEEPALIVE`: the kernel probes an idle connection and reports a dead peer
    /// as an error (timing from the system's `tcp_keepalive_*` settings).
    ///
    /// ```
    /// # use std::time::Duration;
    /// ringloop::run(async {
    ///     # let listener = ringloop::net::TcpListener::bind("127.0.0.1:0")?;
    ///     # let addr = listener.local_addr()?;
    ///     let stream = ringloop::net::TcpStream::connect(addr).await?;
    ///     stream.set_keepalive(true)?;
    ///     stream.set_linger(Some(Duration::from_secs(5)))?;
    ///     stream.set_send_buffer_size(256 * 1024)?;
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_keepalive(&self, on: bool) -> io::Result<()> {
        sys::set_int_option(
            self.sock.get(),
            libc::SOL_SOCKET,
            libc::SO_KEEPALIVE,
            i32::from(on),
        )
    }

    /// Whether `SO_KEEPALIVE` is set.
    ///
    /// ```
    /// # let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// # let stream = std::net::TcpStream::connect(listener.local_addr()?)?;
    /// # let stream = ringloop::net::TcpStream::from_std(stream)?;
    /// stream.set_keepalive(true)?;
    /// assert!(stream.keepalive()?);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn keepalive(&self) -> io::Result<bool> {
        sys::int_option(self.sock.get(), libc::SOL_SOCKET, libc::SO_KEEPALIVE).map(|v| v != 0)
    }

    /// Sets `SO_LINGER`: `Some(d)` makes the close wait up to `d` (whole seconds) for
    /// unsent data; `Some(Duration::ZERO)` resets the connection on close instead of
    /// the orderly shutdown; `None` (the default) closes at once and lets the kernel
    /// send what remains.
    ///
    /// ```
    /// # let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// # let stream = std::net::TcpStream::connect(listener.local_addr()?)?;
    /// # let stream = ringloop::net::TcpStream::from_std(stream)?;
    /// // Close with a reset (RST) rather than an orderly FIN, dropping unsent data.
    /// stream.set_linger(Some(std::time::Duration::ZERO))?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_linger(&self, linger: Option<std::time::Duration>) -> io::Result<()> {
        sys::set_linger(self.sock.get(), linger)
    }

    /// `SO_LINGER` as set.
    ///
    /// ```
    /// # let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// # let stream = std::net::TcpStream::connect(listener.local_addr()?)?;
    /// # let stream = ringloop::net::TcpStream::from_std(stream)?;
    /// assert_eq!(stream.linger()?, None); // the default
    /// stream.set_linger(Some(std::time::Duration::from_secs(5)))?;
    /// assert_eq!(stream.linger()?, Some(std::time::Duration::from_secs(5)));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn linger(&self) -> io::Result<Option<std::time::Duration>> {
        sys::linger(self.sock.get())
    }

    /// Sets the IP time-to-live of outgoing packets.
    ///
    /// ```
    /// # let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// # let stream = std::net::TcpStream::connect(listener.local_addr()?)?;
    /// # let stream = ringloop::net::TcpStream::from_std(stream)?;
    /// stream.set_ttl(16)?; // at most 16 hops
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.sock.get().set_ttl(ttl)
    }

    /// The IP time-to-live of outgoing packets.
    ///
    /// ```
    /// # let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// # let stream = std::net::TcpStream::connect(listener.local_addr()?)?;
    /// # let stream = ringloop::net::TcpStream::from_std(stream)?;
    /// stream.set_ttl(16)?;
    /// assert_eq!(stream.ttl()?, 16);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn ttl(&self) -> io::Result<u32> {
        self.sock.get().ttl()
    }

    /// Sets `SO_SNDBUF` (the kernel doubles the value for its bookkeeping, and caps it
    /// at `net.core.wmem_max`).
    ///
    /// ```
    /// # let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// # let stream = std::net::TcpStream::connect(listener.local_addr()?)?;
    /// # let stream = ringloop::net::TcpStream::from_std(stream)?;
    /// // Room in the kernel for a large response to leave while the task does other work.
    /// stream.set_send_buffer_size(128 * 1024)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_send_buffer_size(&self, bytes: usize) -> io::Result<()> {
        let bytes = i32::try_from(bytes).unwrap_or(i32::MAX);
        sys::set_int_option(self.sock.get(), libc::SOL_SOCKET, libc::SO_SNDBUF, bytes)
    }

    /// `SO_SNDBUF`, as the kernel reports it.
    ///
    /// ```
    /// # let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// # let stream = std::net::TcpStream::connect(listener.local_addr()?)?;
    /// # let stream = ringloop::net::TcpStream::from_std(stream)?;
    /// stream.set_send_buffer_size(32 * 1024)?;
    /// assert!(stream.send_buffer_size()? >= 32 * 1024); // doubled by the kernel
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn send_buffer_size(&self) -> io::Result<usize> {
        sys::int_option(self.sock.get(), libc::SOL_SOCKET, libc::SO_SNDBUF).map(|v| v as usize)
    }

    /// Sets `SO_RCVBUF` (doubled and capped at `net.core.rmem_max` by the kernel).
    ///
    /// ```
    /// # let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// # let stream = std::net::TcpStream::connect(listener.local_addr()?)?;
    /// # let stream = ringloop::net::TcpStream::from_std(stream)?;
    /// // A small receive window for a client that reads slowly.
    /// stream.set_recv_buffer_size(16 * 1024)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_recv_buffer_size(&self, bytes: usize) -> io::Result<()> {
        let bytes = i32::try_from(bytes).unwrap_or(i32::MAX);
        sys::set_int_option(self.sock.get(), libc::SOL_SOCKET, libc::SO_RCVBUF, bytes)
    }

    /// `SO_RCVBUF`, as the kernel reports it.
    ///
    /// ```
    /// # let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// # let stream = std::net::TcpStream::connect(listener.local_addr()?)?;
    /// # let stream = ringloop::net::TcpStream::from_std(stream)?;
    /// stream.set_recv_buffer_size(32 * 1024)?;
    /// assert!(stream.recv_buffer_size()? >= 32 * 1024); // doubled by the kernel
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn recv_buffer_size(&self) -> io::Result<usize> {
        sys::int_option(self.sock.get(), libc::SOL_SOCKET, libc::SO_RCVBUF).map(|v| v as usize)
    }

    /// The peer's address.
    ///
    /// ```
    /// # let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// # let stream = std::net::TcpStream::connect(listener.local_addr()?)?;
    /// # let stream = ringloop::net::TcpStream::from_std(stream)?;
    /// assert_eq!(stream.peer_addr()?, listener.local_addr()?);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.sock.get().peer_addr()
    }

    /// This end's address.
    ///
    /// ```
    /// # let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// # let stream = std::net::TcpStream::connect(listener.local_addr()?)?;
    /// # let stream = ringloop::net::TcpStream::from_std(stream)?;
    /// let (_, peer) = listener.accept()?;
    /// assert_eq!(stream.local_addr()?, peer);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.get().local_addr()
    }

    /// Splits the stream into a read half and a write half, usable from two tasks.
    /// The connection closes when both are dropped; dropping the write half shuts the
    /// write direction down.
    ///
    /// ```
    /// use ringloop::net::{TcpListener, TcpStream};
    ///
    /// ringloop::run(async {
    ///     let listener = TcpListener::bind("127.0.0.1:0")?;
    ///     let client = TcpStream::connect(listener.local_addr()?).await?;
    ///     let (server, _) = listener.accept().await?;
    ///     // An echo: one task copies what the read half gets to the write half.
    ///     let (reader, writer) = server.into_split();
    ///     let echo = ringloop::spawn(async move {
    ///         let mut buf = Vec::with_capacity(1024);
    ///         loop {
    ///             let (n, b) = reader.read(buf).await;
    ///             if n? == 0 {
    ///                 return Ok::<(), std::io::Error>(()); // end-of-file
    ///             }
    ///             let (res, b) = writer.write_all(b).await;
    ///             res?;
    ///             buf = b;
    ///             buf.clear();
    ///         }
    ///     });
    ///     client.write_all(b"echo me").await.0?;
    ///     let (n, buf) = client.read(Vec::with_capacity(64)).await;
    ///     assert_eq!(&buf[..n?], b"echo me");
    ///     client.shutdown(std::net::Shutdown::Write).await?;
    ///     echo.await?
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn into_split(self) -> (ReadHalf, WriteHalf) {
        let read = ReadHalf {
            sock: self.sock.clone(),
        };
        let write = WriteHalf {
            sock: self.sock,
            shutdown: |s| {
                let _ = s.shutdown(Shutdown::Write);
            },
        };
        (read, write)
    }
}

socket::stream_conversions!(TcpStream, std::net::TcpStream);

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpStream")
            .field("local_addr", &self.local_addr().ok())
            .field("peer_addr", &self.peer_addr().ok())
            .finish()
    }
}

/// Tries `f` on each address of `addr`, returning the first success or the last error.
pub(crate) fn each_addr<T>(
    addr: impl ToSocketAddrs,
    mut f: impl FnMut(SocketAddr) -> io::Result<T>,
) -> io::Result<T> {
    let mut last = None;
    for addr in addr.to_socket_addrs()? {
        match f(addr) {
            Ok(t) => return Ok(t),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address given")))
}
