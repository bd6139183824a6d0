//! Unix-domain stream sockets.

use std::fmt;
use std::io;
use std::net::Shutdown;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::SocketAddr;
use std::path::Path;
use std::rc::Rc;

use super::socket::close_soon;
use super::socket::{self, ReadHalf, Socket, WriteHalf};
use super::tcp::ListenOptions;
use crate::driver::buf::{IoBuf, IoBufMut};
use crate::driver::fd::Fd;
use crate::driver::op::Op;
use crate::driver::ops::recv::Recv;
use crate::driver::ops::send::SendOp;
use crate::sys::net::{self as sys, SockAddr};

/// A Unix-domain socket listening for connections, at a path in the filesystem.
///
/// ```
/// use ringloop::net::{UnixListener, UnixStream};
///
/// let path = std::env::temp_dir().join(format!("ringloop-doc-{}-service.sock", std::process::id()));
/// ringloop::run(async {
///     let listener = UnixListener::bind(&path)?;
///     let client = UnixStream::connect(&path).await?;
///     let conn = listener.accept().await?;
///     conn.write_all(b"ready").await.0?;
///     let (n, buf) = client.read(Vec::with_capacity(16)).await;
///     assert_eq!(&buf[..n?], b"ready");
///     Ok::<(), std::io::Error>(())
/// })?;
/// std::fs::remove_file(&path)?; // the socket file outlives the listener
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct UnixListener {
    io: Option<std::os::unix::net::UnixListener>,
    /// The descriptor as operations name it.
    fd: Fd,
}

impl UnixListener {
    /// Binds to the filesystem path `path` (which must not exist yet; remove it when
    /// done, as closing the listener leaves it).
    ///
    /// ```
    /// use ringloop::net::UnixListener;
    ///
    /// let path = std::env::temp_dir().join(format!("ringloop-doc-{}-bind.sock", std::process::id()));
    /// let listener = UnixListener::bind(&path)?;
    /// assert!(UnixListener::bind(&path).is_err()); // taken
    /// drop(listener);
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixListener> {
        let io = std::os::unix::net::UnixListener::bind(path)?;
        io.set_nonblocking(true)?;
        Ok(UnixListener {
            fd: Fd::new(io.as_raw_fd()),
            io: Some(io),
        })
    }

    /// Binds to the filesystem path `path` with `options`' backlog (`reuse_port` does
    /// not apply to Unix sockets and is ignored).
    ///
    /// ```
    /// use ringloop::net::{ListenOptions, UnixListener};
    ///
    /// let dir = std::env::temp_dir().join(format!("ringloop-doc-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let path = dir.join("small-backlog.sock");
    /// let listener = UnixListener::bind_with(&path, ListenOptions::new().backlog(4)).unwrap();
    /// drop(listener);
    /// std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    pub fn bind_with(path: impl AsRef<Path>, options: ListenOptions) -> io::Result<UnixListener> {
        let addr = SockAddr::from_path(path.as_ref())?;
        let fd = sys::socket(libc::AF_UNIX, libc::SOCK_STREAM)?;
        sys::bind(&fd, &addr)?;
        sys::listen(&fd, options.backlog_value())?;
        let io = std::os::unix::net::UnixListener::from(fd);
        Ok(UnixListener {
            fd: Fd::new(io.as_raw_fd()),
            io: Some(io),
        })
    }

    /// Wraps a std listener (made nonblocking), e.g. one a supervisor passed down.
    ///
    /// ```
    /// use ringloop::net::UnixListener;
    ///
    /// let path = std::env::temp_dir().join(format!("ringloop-doc-{}-from-std.sock", std::process::id()));
    /// let listener = UnixListener::from_std(std::os::unix::net::UnixListener::bind(&path)?)?;
    /// assert_eq!(listener.local_addr()?.as_pathname(), Some(path.as_path()));
    /// drop(listener);
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn from_std(listener: std::os::unix::net::UnixListener) -> io::Result<UnixListener> {
        listener.set_nonblocking(true)?;
        Ok(UnixListener {
            fd: Fd::new(listener.as_raw_fd()),
            io: Some(listener),
        })
    }

    fn get(&self) -> &std::os::unix::net::UnixListener {
        self.io.as_ref().expect("listener used after close")
    }

    pub(crate) fn raw_fd(&self) -> std::os::fd::RawFd {
        self.get().as_raw_fd()
    }

    /// The descriptor with this listener's identity, for operations.
    pub(crate) fn handle(&self) -> Fd {
        debug_assert!(self.io.is_some(), "listener used after close");
        self.fd
    }

    /// Accepts a connection; backs off and retries on descriptor exhaustion, as
    /// [`TcpListener::accept`](super::TcpListener::accept) does.
    ///
    /// ```
    /// use ringloop::net::{UnixListener, UnixStream};
    ///
    /// let path = std::env::temp_dir().join(format!("ringloop-doc-{}-accept.sock", std::process::id()));
    /// let listener = UnixListener::bind(&path)?;
    /// ringloop::run(async {
    ///     let client = UnixStream::connect(&path).await?;
    ///     let conn = listener.accept().await?;
    ///     client.write_all(b"hi").await.0?;
    ///     let (n, buf) = conn.read(Vec::with_capacity(16)).await;
    ///     assert_eq!(&buf[..n?], b"hi");
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub async fn accept(&self) -> io::Result<UnixStream> {
        let (fd, _) = socket::accept(self.handle(), "UnixListener::accept").await?;
        Ok(UnixStream::from_fd(fd))
    }

    /// The address the listener is bound to.
    ///
    /// ```
    /// use ringloop::net::UnixListener;
    ///
    /// let path = std::env::temp_dir().join(format!("ringloop-doc-{}-addr.sock", std::process::id()));
    /// let listener = UnixListener::bind(&path)?;
    /// assert_eq!(listener.local_addr()?.as_pathname(), Some(path.as_path()));
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.get().local_addr()
    }
}

socket::owned_socket_conversions!(UnixListener, std::os::unix::net::UnixListener);

impl Drop for UnixListener {
    fn drop(&mut self) {
        if let Some(io) = self.io.take() {
            close_soon(io.into());
        }
    }
}

impl fmt::Debug for UnixListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixListener")
            .field("local_addr", &self.local_addr().ok())
            .finish()
    }
}

/// A Unix-domain stream connection, read and written with owned buffers (see the
/// [`net`](crate::net) module's "Owned buffers").
///
/// ```
/// use ringloop::net::UnixStream;
///
/// ringloop::run(async {
///     let (parent, child) = UnixStream::pair()?;
///     let worker = ringloop::spawn(async move {
///         let (n, job) = child.read(Vec::with_capacity(64)).await;
///         let n = n?;
///         child.write_all(job[..n].to_ascii_uppercase()).await.0
///     });
///     parent.write_all(b"job").await.0?;
///     let (n, reply) = parent.read(Vec::with_capacity(64)).await;
///     assert_eq!(&reply[..n?], b"JOB");
///     worker.await?
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct UnixStream {
    pub(crate) sock: Rc<Socket<std::os::unix::net::UnixStream>>,
}

impl UnixStream {
    fn from_fd(fd: OwnedFd) -> UnixStream {
        UnixStream {
            sock: Rc::new(Socket::new(std::os::unix::net::UnixStream::from(fd))),
        }
    }

    /// Connects to the socket bound at `path`.
    ///
    /// ```
    /// use ringloop::net::{UnixListener, UnixStream};
    ///
    /// let path = std::env::temp_dir().join(format!("ringloop-doc-{}-connect.sock", std::process::id()));
    /// let listener = UnixListener::bind(&path)?;
    /// ringloop::run(async {
    ///     let stream = UnixStream::connect(&path).await?;
    ///     assert_eq!(stream.peer_addr()?.as_pathname(), Some(path.as_path()));
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # drop(listener);
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub async fn connect(path: impl AsRef<Path>) -> io::Result<UnixStream> {
        let core = crate::event_loop::context::current_io("UnixStream::connect");
        let addr = SockAddr::from_path(path.as_ref())?;
        let fd = sys::socket(libc::AF_UNIX, libc::SOCK_STREAM)?;
        let sock = Socket::new(std::os::unix::net::UnixStream::from(fd));
        let sock = socket::connect(&core, sock, addr).await?;
        Ok(UnixStream {
            sock: Rc::new(sock),
        })
    }

    /// A connected pair of streams (socketpair(2)): two ends of one connection, e.g.
    /// for two tasks or a parent and a child process.
    ///
    /// ```
    /// use ringloop::net::UnixStream;
    ///
    /// let (a, b) = UnixStream::pair()?;
    /// ringloop::run(async move {
    ///     a.write_all(b"over the pair").await.0?;
    ///     let (n, buf) = b.read(Vec::with_capacity(32)).await;
    ///     assert_eq!(&buf[..n?], b"over the pair");
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = std::os::unix::net::UnixStream::pair()?;
        Ok((UnixStream::from_std(a)?, UnixStream::from_std(b)?))
    }

    /// Wraps a connected std stream (made nonblocking).
    ///
    /// ```
    /// use std::io::Write;
    /// use ringloop::net::UnixStream;
    ///
    /// let (mut plain, other) = std::os::unix::net::UnixStream::pair()?;
    /// let stream = UnixStream::from_std(other)?;
    /// plain.write_all(b"from a std socket")?;
    /// let got = ringloop::run(async move {
    ///     let (n, buf) = stream.read(Vec::with_capacity(32)).await;
    ///     n.map(|n| buf[..n].to_vec())
    /// })?;
    /// assert_eq!(got, b"from a std socket");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn from_std(stream: std::os::unix::net::UnixStream) -> io::Result<UnixStream> {
        stream.set_nonblocking(true)?;
        Ok(UnixStream::from_fd(stream.into()))
    }

    socket::stream_methods!(
        "use ringloop::net::UnixStream;

ringloop::run(async {
    let (a, b) = UnixStream::pair()?;"
    );

    /// The peer's address (unnamed for a [`pair`](Self::pair) or a client that did not
    /// bind).
    ///
    /// ```
    /// use ringloop::net::UnixStream;
    ///
    /// let (a, _b) = UnixStream::pair()?;
    /// assert!(a.peer_addr()?.is_unnamed());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.sock.get().peer_addr()
    }

    /// This end's address (unnamed unless it is a listener's accepted end).
    ///
    /// ```
    /// use ringloop::net::UnixStream;
    ///
    /// let (a, _b) = UnixStream::pair()?;
    /// assert!(a.local_addr()?.is_unnamed());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.get().local_addr()
    }

    /// Splits the stream into halves usable from two tasks; see
    /// [`TcpStream::into_split`](super::TcpStream::into_split).
    ///
    /// ```
    /// use ringloop::net::UnixStream;
    ///
    /// ringloop::run(async {
    ///     let (a, b) = UnixStream::pair()?;
    ///     let (reader, writer) = b.into_split();
    ///     let writing = ringloop::spawn(async move { writer.write_all(b"both ways").await.0 });
    ///     a.write_all(b"at once").await.0?;
    ///     let (n, buf) = reader.read(Vec::with_capacity(16)).await;
    ///     assert_eq!(&buf[..n?], b"at once");
    ///     writing.await??;
    ///     let (n, buf) = a.read(Vec::with_capacity(16)).await;
    ///     assert_eq!(&buf[..n?], b"both ways");
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn into_split(
        self,
    ) -> (
        ReadHalf<std::os::unix::net::UnixStream>,
        WriteHalf<std::os::unix::net::UnixStream>,
    ) {
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

socket::stream_conversions!(UnixStream, std::os::unix::net::UnixStream);

impl fmt::Debug for UnixStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixStream")
            .field("local_addr", &self.local_addr().ok())
            .finish()
    }
}
