//! asyncio's streams: [`open_connection`] and [`start_server`] (and their Unix-domain
//! twins) give a connection as a [`StreamReader`] and a [`StreamWriter`].
//!
//! | ringloop | asyncio |
//! |---|---|
//! | [`open_connection`]`(addr).await` | `asyncio.open_connection(host, port)` |
//! | [`open_unix_connection`]`(path).await` | `asyncio.open_unix_connection(path)` |
//! | [`start_server`]`(addr, handler).await` | `asyncio.start_server(client_connected_cb, host, port)` |
//! | [`start_unix_server`]`(path, handler).await` | `asyncio.start_unix_server(client_connected_cb, path)` |
//! | [`into_streams`]`(stream)` | `open_connection(sock=sock)` |
//! | [`StreamReader`]: `read(n)`, [`read_to_end`](StreamReader::read_to_end), `readline`, `readuntil`, `readexactly`, `at_eof` | `StreamReader`: `read(n)`, `read(-1)`, `readline`, `readuntil`, `readexactly`, `at_eof` |
//! | [`StreamWriter`]: `write`, `writelines`, `drain`, `write_eof`, `close`, `is_closing`, `wait_closed` | `StreamWriter`: the same |
//! | [`IncompleteReadError`], [`LimitOverrunError`] (inside an `io::Error`) | `asyncio.IncompleteReadError`, `asyncio.LimitOverrunError` |
//! | [`Server`](crate::net::Server) | `asyncio.Server` |
//!
//! ```
//! use ringloop::net::{open_connection, start_server};
//!
//! ringloop::run(async {
//!     // Each connection runs the handler in a task of its own.
//!     let server = start_server("127.0.0.1:0", |mut reader, writer| async move {
//!         while let Ok(line) = reader.readline().await {
//!             if line.is_empty() {
//!                 break; // the client closed
//!             }
//!             writer.write(&line);
//!             if writer.drain().await.is_err() {
//!                 break;
//!             }
//!         }
//!     })
//!     .await?;
//!
//!     let (mut reader, writer) = open_connection(server.local_addr()?).await?;
//!     writer.write(b"echo?\n");
//!     assert_eq!(reader.readline().await?, b"echo?\n");
//!     writer.close();
//!     writer.wait_closed().await?;
//!
//!     server.close();
//!     server.wait_closed().await; // every connection is gone
//!     Ok::<(), std::io::Error>(())
//! })?;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # Reading
//!
//! A [`StreamReader`] owns the read side of the socket and one buffer, which it reuses:
//! each method takes what it returns out of the buffer and reads from the socket only
//! when the buffer does not hold enough. `readuntil` and `readline` search at most the
//! reader's [limit](StreamReader::limit) (64 KiB unless [set](StreamReader::set_limit)).
//!
//! **No call loses bytes.** A call that fails, or whose future is dropped (a
//! [`timeout`](crate::timeout) around it fired, its task was cancelled), leaves in the
//! reader every byte that had arrived, for the next call; that includes what a read in
//! flight at the time delivers, since the read belongs to the reader, not to the call.
//! The failures that concern data say so: the peer closing before `readexactly(n)` or
//! `readuntil` was satisfied is `UnexpectedEof` carrying an [`IncompleteReadError`] with
//! the bytes that did arrive; a separator not found within the limit is `InvalidData`
//! carrying a [`LimitOverrunError`], the bytes staying in the reader (only `readline`
//! drops the over-long line, as asyncio's does).
//!
//! # Writing
//!
//! [`StreamWriter::write`] never waits: it sends at once what the socket takes and
//! buffers the rest, which a background task sends. [`drain`](StreamWriter::drain) is the
//! back-pressure: it waits while more than the high-water mark (64 KiB) is buffered,
//! until the buffer is down to the low one (16 KiB). Dropping the writer, like
//! [`write_eof`](StreamWriter::write_eof), sends what is buffered and then shuts the
//! writing side down; [`close`](StreamWriter::close) shuts both sides down, and
//! [`wait_closed`](StreamWriter::wait_closed) waits for that. The socket's descriptor
//! closes once the reader and the writer are both gone.
//!
//! # Servers
//!
//! [`start_server`] returns the same [`Server`](crate::net::Server) handle as
//! [`create_server`](crate::net::create_server), with the same graceful shutdown:
//! [`close`](crate::net::Server::close) stops accepting,
//! [`wait_closed`](crate::net::Server::wait_closed) waits until every connection's
//! descriptor is closed (its reader and writer dropped, usually when its handler
//! returns), [`close_clients`](crate::net::Server::close_clients) closes every writer
//! once flushed, and [`abort_clients`](crate::net::Server::abort_clients) drops what they
//! buffered and shuts their sockets down: their handlers see end-of-file and failing
//! writes. A handler that panics costs its own connection only: the panic is reported to
//! the loop's [exception handler](crate::EventLoop::set_exception_handler) as any
//! detached task's is, and the connection closes as its reader and writer are dropped.
//!
//! # Differences from asyncio
//!
//! - The handler returns a future of `()`; it runs as its own task (asyncio's
//!   `client_connected_cb` may also be a plain function).
//! - After `abort_clients`, a connection counts until its handler lets go of its reader
//!   and writer (asyncio forgets it at once): `wait_closed` means every descriptor is
//!   closed.
//! - `peer_addr` and `local_addr` stand for `get_extra_info("peername"/"sockname")`; a
//!   Unix stream's addresses come from `unix_peer_addr` and `unix_local_addr`, and a Unix
//!   server's [`Server::local_addr`](crate::net::Server::local_addr) is an error (its
//!   path is the one you gave).

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
/// The [`Server`] handle stops it gracefully (see the [module docs](self#servers));
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
#[derive(Debug)]
pub enum Parts {
    Tcp(TcpStream),
    Unix(UnixStream),
}

mod sealed {
    /// Seals [`StreamSocket`](super::StreamSocket).
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
