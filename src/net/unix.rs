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

/// A Unix-domain socket listening for connections.
pub struct UnixListener {
    io: Option<std::os::unix::net::UnixListener>,
    /// The descriptor as operations name it.
    fd: Fd,
}

impl UnixListener {
    /// Binds to the filesystem path `path` (which must not exist yet).
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

    /// Wraps a std listener (made nonblocking).
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

    /// Accepts a connection; backs off and retries on descriptor exhaustion, as
    /// [`TcpListener::accept`](super::TcpListener::accept) does.
    pub async fn accept(&self) -> io::Result<UnixStream> {
        let (fd, _) = socket::accept(self.fd, "UnixListener::accept").await?;
        Ok(UnixStream::from_fd(fd))
    }

    /// The address the listener is bound to.
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

/// A Unix-domain stream connection.
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

    /// A connected pair of streams.
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = std::os::unix::net::UnixStream::pair()?;
        Ok((UnixStream::from_std(a)?, UnixStream::from_std(b)?))
    }

    /// Wraps a connected std stream (made nonblocking).
    pub fn from_std(stream: std::os::unix::net::UnixStream) -> io::Result<UnixStream> {
        stream.set_nonblocking(true)?;
        Ok(UnixStream::from_fd(stream.into()))
    }

    socket::stream_methods!();

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.sock.get().peer_addr()
    }

    /// This end's address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.get().local_addr()
    }

    /// Splits the stream into halves usable from two tasks; see
    /// [`TcpStream::into_split`](super::TcpStream::into_split).
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
