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
    /// The defaults: a backlog of 1024, no `SO_REUSEPORT`.
    pub fn new() -> ListenOptions {
        ListenOptions::default()
    }

    /// The kernel's queue of connections not yet accepted (capped by `somaxconn`).
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
    pub fn reuse_port(mut self, on: bool) -> ListenOptions {
        self.reuse_port = on;
        self
    }
}

/// A TCP socket listening for connections.
pub struct TcpListener {
    io: Option<std::net::TcpListener>,
    /// The descriptor as operations name it.
    fd: Fd,
}

impl TcpListener {
    /// Binds to `addr` (the first of its addresses that binds) with the default
    /// [`ListenOptions`].
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        TcpListener::bind_with(addr, ListenOptions::default())
    }

    /// Binds to `addr` with `options`.
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

    /// Wraps a std listener (made nonblocking).
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
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (fd, addr) = socket::accept(self.handle(), "TcpListener::accept").await?;
        Ok((TcpStream::from_fd(fd), addr.as_inet()?))
    }

    /// The address the listener is bound to.
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

/// A TCP connection.
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
    /// ```no_run
    /// use ringloop::net::TcpStream;
    ///
    /// ringloop::run(async {
    ///     let stream = TcpStream::connect("localhost:8080").await?;
    ///     let (sent, _) = stream.write_all(b"hello\n".to_vec()).await;
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
    pub fn from_std(stream: std::net::TcpStream) -> io::Result<TcpStream> {
        stream.set_nonblocking(true)?;
        Ok(TcpStream::from_fd(stream.into()))
    }

    socket::stream_methods!();

    /// Sets `TCP_NODELAY` (no Nagle delay for small writes).
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.sock.get().set_nodelay(on)
    }

    /// Whether `TCP_NODELAY` is set.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.sock.get().nodelay()
    }

    /// Sets `SO_KEEPALIVE`: the kernel probes an idle connection and reports a dead peer
    /// as an error (timing from the system's `tcp_keepalive_*` settings).
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// ringloop::run(async {
    ///     let stream = ringloop::net::TcpStream::connect("127.0.0.1:8080").await?;
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
    pub fn keepalive(&self) -> io::Result<bool> {
        sys::int_option(self.sock.get(), libc::SOL_SOCKET, libc::SO_KEEPALIVE).map(|v| v != 0)
    }

    /// Sets `SO_LINGER`: `Some(d)` makes the close wait up to `d` (whole seconds) for
    /// unsent data; `Some(Duration::ZERO)` resets the connection on close instead of
    /// the orderly shutdown; `None` (the default) closes at once and lets the kernel
    /// send what remains.
    pub fn set_linger(&self, linger: Option<std::time::Duration>) -> io::Result<()> {
        sys::set_linger(self.sock.get(), linger)
    }

    /// `SO_LINGER` as set.
    pub fn linger(&self) -> io::Result<Option<std::time::Duration>> {
        sys::linger(self.sock.get())
    }

    /// Sets the IP time-to-live of outgoing packets.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.sock.get().set_ttl(ttl)
    }

    /// The IP time-to-live of outgoing packets.
    pub fn ttl(&self) -> io::Result<u32> {
        self.sock.get().ttl()
    }

    /// Sets `SO_SNDBUF` (the kernel doubles the value for its bookkeeping, and caps it
    /// at `net.core.wmem_max`).
    pub fn set_send_buffer_size(&self, bytes: usize) -> io::Result<()> {
        let bytes = i32::try_from(bytes).unwrap_or(i32::MAX);
        sys::set_int_option(self.sock.get(), libc::SOL_SOCKET, libc::SO_SNDBUF, bytes)
    }

    /// `SO_SNDBUF`, as the kernel reports it.
    pub fn send_buffer_size(&self) -> io::Result<usize> {
        sys::int_option(self.sock.get(), libc::SOL_SOCKET, libc::SO_SNDBUF).map(|v| v as usize)
    }

    /// Sets `SO_RCVBUF` (doubled and capped at `net.core.rmem_max` by the kernel).
    pub fn set_recv_buffer_size(&self, bytes: usize) -> io::Result<()> {
        let bytes = i32::try_from(bytes).unwrap_or(i32::MAX);
        sys::set_int_option(self.sock.get(), libc::SOL_SOCKET, libc::SO_RCVBUF, bytes)
    }

    /// `SO_RCVBUF`, as the kernel reports it.
    pub fn recv_buffer_size(&self) -> io::Result<usize> {
        sys::int_option(self.sock.get(), libc::SOL_SOCKET, libc::SO_RCVBUF).map(|v| v as usize)
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.sock.get().peer_addr()
    }

    /// This end's address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.get().local_addr()
    }

    /// Splits the stream into a read half and a write half, usable from two tasks.
    /// The connection closes when both are dropped; dropping the write half shuts the
    /// write direction down.
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
