//! The listening sockets a protocol server accepts on: [`Listener`], sealed, implemented
//! by [`TcpListener`] and [`UnixListener`], and what the server needs of either.

use std::io;
use std::os::fd::RawFd;

use crate::driver::fd::Fd;
use crate::net::{TcpListener, UnixListener};

/// A listening socket [`serve`](super::serve) and [`create_server`](super::create_server)
/// accept connections on: a [`TcpListener`] or a [`UnixListener`] (asyncio's
/// `create_server` and `create_unix_server`, one function here). Sealed: these two are
/// all.
///
/// ```
/// use ringloop::net::{Listener, Protocol, TcpListener, Transport, UnixListener, create_server};
///
/// struct Hello;
///
/// impl Protocol for Hello {
///     fn connection_made(&mut self, transport: Transport) {
///         transport.write(b"hello\n");
///         transport.close();
///     }
///     fn data_received(&mut self, _: &[u8]) {}
/// }
///
/// /// Serves `Hello` on any kind of listener.
/// fn hello_server(listener: impl Listener) -> ringloop::net::Server {
///     create_server(listener, || Hello)
/// }
///
/// let path = std::env::temp_dir().join(format!("ringloop-doc-{}-listener.sock", std::process::id()));
/// ringloop::run(async {
///     let tcp = hello_server(TcpListener::bind("127.0.0.1:0")?);
///     let unix = hello_server(UnixListener::bind(&path)?);
///     let client = ringloop::net::UnixStream::connect(&path).await?;
///     let (res, buf) = client.read_exact(Vec::with_capacity(6)).await;
///     res?;
///     assert_eq!(buf, b"hello\n");
///     tcp.close();
///     unix.close();
///     Ok::<(), std::io::Error>(())
/// })?;
/// std::fs::remove_file(&path)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub trait Listener: sealed::Sealed + 'static {}

impl Listener for TcpListener {}
impl Listener for UnixListener {}

pub(crate) mod sealed {
    use super::*;

    /// What the server needs of its listening socket. Not API: it seals
    /// [`Listener`](super::Listener).
    #[doc(hidden)]
    pub trait Sealed {
        /// The descriptor, for a multishot accept and for the handle's shutdown.
        fn raw_fd(&self) -> RawFd;
        /// The descriptor with the listener's identity, for single-shot accepts.
        fn handle(&self) -> Fd;
        /// The address it is bound to.
        fn listen_addr(&self) -> io::Result<ListenAddr>;
    }
}

/// Where a server listens. Not API: `pub` only because the sealing trait names it.
#[derive(Clone, Debug)]
#[doc(hidden)]
pub enum ListenAddr {
    /// A TCP listener's address.
    Inet(std::net::SocketAddr),
    /// A Unix listener's address.
    Unix(std::os::unix::net::SocketAddr),
}

impl sealed::Sealed for TcpListener {
    fn raw_fd(&self) -> RawFd {
        TcpListener::raw_fd(self)
    }
    fn handle(&self) -> Fd {
        TcpListener::handle(self)
    }
    fn listen_addr(&self) -> io::Result<ListenAddr> {
        self.local_addr().map(ListenAddr::Inet)
    }
}

impl sealed::Sealed for UnixListener {
    fn raw_fd(&self) -> RawFd {
        UnixListener::raw_fd(self)
    }
    fn handle(&self) -> Fd {
        UnixListener::handle(self)
    }
    fn listen_addr(&self) -> io::Result<ListenAddr> {
        self.local_addr().map(ListenAddr::Unix)
    }
}

/// A listener the server holds, of either kind; dropping it closes it.
pub(super) type AnyListener = Box<dyn sealed::Sealed>;
