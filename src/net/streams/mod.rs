//! asyncio's streams: [`open_connection`], [`start_server`], their Unix-domain twins,
//! [`StreamReader`] and [`StreamWriter`]. What they are for, and how they map to asyncio,
//! is told once, in the [`net`](crate::net#streams) module's "Streams".
//!
//! # Where things live
//!
//! - this file: the functions that open connections and start servers;
//! - `reader.rs`: [`StreamReader`], its one buffer, and the read it keeps in flight so
//!   that no call loses bytes;
//! - `writer.rs`: [`StreamWriter`], its buffer and the flusher task that sends it;
//! - `conn.rs`: what a connection's reader and writer share (the socket, the writer's
//!   state, the server registration);
//! - `server.rs`: the stream server's task and its registry of connections, behind the
//!   same [`Server`] handle as the protocol server;
//! - `error.rs`: [`IncompleteReadError`] and [`LimitOverrunError`].

use std::future::Future;
use std::io;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;
use std::rc::Rc;

use self::conn::{Conn, Sock};
pub use self::error::{IncompleteReadError, LimitOverrunError};
pub use self::reader::StreamReader;
use self::server::{Listener, unwrap_socket};
pub use self::writer::StreamWriter;
use super::protocol::Server;
use super::{TcpListener, TcpStream, UnixListener, UnixStream};

mod conn;
mod error;
mod reader;
mod server;
mod writer;

/// Connects to `addr` over TCP and returns the connection's reader and writer
/// (asyncio's `open_connection`). A host name is resolved off the loop's thread, each of
/// its addresses tried in turn, as [`TcpStream::connect`] does.
///
/// ```
/// use ringloop::net::{TcpListener, open_connection};
///
/// ringloop::run(async {
///     let listener = TcpListener::bind("127.0.0.1:0")?;
///     let port = listener.local_addr()?.port();
///     let (mut reader, writer) = open_connection(("localhost", port)).await?;
///     let (peer, _) = listener.accept().await?;
///     peer.write_all(b"220 ready\r\n").await.0?;
///     assert_eq!(reader.readline().await?, b"220 ready\r\n");
///     writer.write(b"QUIT\r\n");
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Errors
///
/// The lookup's error, or the last address's connect error (`ConnectionRefused` when
/// nothing listens).
pub async fn open_connection(
    addr: impl super::ToSocketAddrs,
) -> io::Result<(StreamReader, StreamWriter)> {
    Ok(into_streams(TcpStream::connect(addr).await?))
}

/// Connects to the Unix-domain socket at `path` and returns the connection's reader and
/// writer (asyncio's `open_unix_connection`).
///
/// ```
/// use ringloop::net::{UnixListener, open_unix_connection};
///
/// let path = std::env::temp_dir().join(format!("ringloop-doc-{}-open-unix.sock", std::process::id()));
/// ringloop::run(async {
///     let listener = UnixListener::bind(&path)?;
///     let (_reader, writer) = open_unix_connection(&path).await?;
///     writer.write(b"hello");
///     drop(writer); // sent, then end-of-file
///     let conn = listener.accept().await?;
///     let (res, buf) = conn.read_exact(Vec::with_capacity(5)).await;
///     res?;
///     assert_eq!(buf, b"hello");
///     Ok::<(), std::io::Error>(())
/// })?;
/// std::fs::remove_file(&path)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub async fn open_unix_connection(
    path: impl AsRef<Path>,
) -> io::Result<(StreamReader, StreamWriter)> {
    Ok(into_streams(UnixStream::connect(path).await?))
}

/// Serves TCP connections on `addr`, each handled by a task running
/// `handler(reader, writer)`; returns once listening (asyncio's `start_server`).
///
/// The [`Server`] handle stops it gracefully (see [`net`](crate::net#servers));
/// dropping the handle does not. A host name is resolved off the loop's thread, and the
/// first of its addresses that binds is used; port 0 asks the system for a free port,
/// which [`Server::local_addr`] tells.
///
/// ```
/// use ringloop::net::{open_connection, start_server};
///
/// ringloop::run(async {
///     let server = start_server("127.0.0.1:0", |mut reader, writer| async move {
///         // A one-request protocol: a length line, then that many bytes, summed.
///         let Ok(len) = reader.readline().await else { return };
///         let len: usize = String::from_utf8_lossy(&len).trim().parse().unwrap_or(0);
///         if let Ok(body) = reader.readexactly(len).await {
///             let sum: u32 = body.iter().map(|&b| u32::from(b)).sum();
///             writer.write(format!("{sum}\n").as_bytes());
///         }
///     })
///     .await?;
///     let (mut reader, writer) = open_connection(server.local_addr()?).await?;
///     writer.write(b"3\n");
///     writer.write(&[1, 2, 3]);
///     assert_eq!(reader.readline().await?, b"6\n");
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Errors
///
/// The lookup's error, or the bind error (`AddrInUse`, `AddrNotAvailable`, ...).
///
/// # Panics
///
/// When no loop is running on this thread.
pub async fn start_server<H, Fut>(addr: impl super::ToSocketAddrs, handler: H) -> io::Result<Server>
where
    H: FnMut(StreamReader, StreamWriter) -> Fut + 'static,
    Fut: Future<Output = ()> + 'static,
{
    const WHAT: &str = "ringloop::net::start_server";
    let addrs = super::addr::resolve(addr.to_lookup(), WHAT).await?;
    let listener = TcpListener::bind(&addrs[..])?;
    Ok(server::serve(
        Listener::Tcp(Rc::new(listener)),
        handler,
        WHAT,
    ))
}

/// Serves Unix-domain connections on the socket file `path`, each handled by a task
/// running `handler(reader, writer)`; returns once listening (asyncio's
/// `start_unix_server`).
///
/// A socket file already at `path` (left by a server that did not clean up) is removed
/// first, as asyncio does; any other kind of file there is an `AddrInUse` error. When the
/// server stops accepting it removes its socket file, if it is still the one it bound.
///
/// ```
/// use ringloop::net::{open_unix_connection, start_unix_server};
///
/// let path = std::env::temp_dir().join(format!("ringloop-doc-{}-unix-server.sock", std::process::id()));
/// ringloop::run(async {
///     let server = start_unix_server(&path, |mut reader, writer| async move {
///         if let Ok(name) = reader.readline().await {
///             writer.write(b"hello, ");
///             writer.write(&name);
///         }
///     })
///     .await?;
///     let (mut reader, writer) = open_unix_connection(&path).await?;
///     writer.write(b"unix\n");
///     assert_eq!(reader.readline().await?, b"hello, unix\n");
///     server.close(); // stops accepting, removes the socket file
///     server.wait_closed().await;
///     Ok::<(), std::io::Error>(())
/// })?;
/// assert!(!path.exists());
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Panics
///
/// When no loop is running on this thread.
pub async fn start_unix_server<H, Fut>(path: impl AsRef<Path>, handler: H) -> io::Result<Server>
where
    H: FnMut(StreamReader, StreamWriter) -> Fut + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let path = path.as_ref();
    if let Ok(meta) = std::fs::symlink_metadata(path)
        && meta.file_type().is_socket()
    {
        std::fs::remove_file(path)?;
    }
    let listener = UnixListener::bind(path)?;
    Ok(server::serve(
        Listener::unix(listener, path.to_path_buf()),
        handler,
        "ringloop::net::start_unix_server",
    ))
}

/// Gives a connected stream as a reader and a writer (asyncio's `open_connection(sock=)`),
/// e.g. one end of a [`UnixStream::pair`] or a connection a [`TcpListener`] accepted.
///
/// ```
/// use ringloop::net::{UnixStream, into_streams};
///
/// ringloop::run(async {
///     let (parent, child) = UnixStream::pair()?;
///     let (mut reader, _w) = into_streams(parent);
///     let (_r, writer) = into_streams(child);
///     writer.write(b"status: ok\n");
///     assert_eq!(reader.readline().await?, b"status: ok\n");
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Panics
///
/// When no loop is running on this thread.
pub fn into_streams(stream: impl StreamSocket) -> (StreamReader, StreamWriter) {
    let sock = match stream.into_parts() {
        Parts::Tcp(s) => Sock::Tcp(unwrap_socket(s.sock)),
        Parts::Unix(s) => Sock::Unix(unwrap_socket(s.sock)),
    };
    let conn = Rc::new(Conn::new(sock, None));
    (StreamReader::new(conn.clone()), StreamWriter::new(conn))
}

/// A connected stream [`into_streams`] takes: [`TcpStream`] or [`UnixStream`]. Sealed.
///
/// ```
/// use ringloop::net::{StreamSocket, StreamReader, StreamWriter, UnixStream};
///
/// fn streams_of(stream: impl StreamSocket) -> (StreamReader, StreamWriter) {
///     ringloop::net::into_streams(stream)
/// }
///
/// ringloop::run(async {
///     let (a, _b) = UnixStream::pair()?;
///     let (reader, _writer) = streams_of(a);
///     assert!(!reader.at_eof());
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub trait StreamSocket: sealed::Sealed {}

impl StreamSocket for TcpStream {}
impl StreamSocket for UnixStream {}

/// A stream, by kind (not API: named only by the sealing trait).
#[doc(hidden)]
#[derive(Debug)]
pub enum Parts {
    Tcp(TcpStream),
    Unix(UnixStream),
}

mod sealed {
    /// Seals [`StreamSocket`](super::StreamSocket).
    #[doc(hidden)]
    pub trait Sealed {
        /// The stream, by kind.
        fn into_parts(self) -> super::Parts;
    }

    impl Sealed for super::TcpStream {
        fn into_parts(self) -> super::Parts {
            super::Parts::Tcp(self)
        }
    }

    impl Sealed for super::UnixStream {
        fn into_parts(self) -> super::Parts {
            super::Parts::Unix(self)
        }
    }
}
