//! Sockets on the loop: TCP, UDP, Unix streams and Unix datagrams, read and written with
//! owned buffers.
//!
//! ```
//! use ringloop::net::{TcpListener, TcpStream};
//!
//! ringloop::run(async {
//!     let listener = TcpListener::bind("127.0.0.1:0")?;
//!     let client = TcpStream::connect(listener.local_addr()?).await?;
//!     let (server, _) = listener.accept().await?;
//!
//!     let (res, _) = client.write_all(b"ping").await;
//!     res?;
//!     let (res, buf) = server.read(Vec::with_capacity(4096)).await;
//!     assert_eq!(&buf[..res?], b"ping");
//!     Ok::<(), std::io::Error>(())
//! })?;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # Owned buffers
//!
//! **A read or a write takes its buffer by value and gives it back with the result.**
//! The kernel fills or sends the buffer while your task is suspended, so for that time
//! the buffer belongs to the operation: `stream.read(buf)` moves `buf` in, and awaiting
//! it gives `(io::Result<usize>, buf)`, the buffer coming back on success and on error
//! alike. Keep it and pass it to the next call: nothing is copied. Reads take an
//! [`IoBufMut`] (`Vec<u8>`, `Box<[u8]>`, or a [`Slice`] of either); writes take an
//! [`IoBuf`], which is also implemented for `&'static [u8]`, `b"..."` literals and
//! `&'static str`, so constants are written as they are.
//!
//! **A read fills the buffer's capacity, not its length.** The usual read buffer is
//! `Vec::with_capacity(n)`: empty, with room for `n` bytes. The bytes that arrive are
//! written at the start of the buffer, over what it held, and a `Vec`'s length grows to
//! cover them, so after reading into an empty `Vec` its length is the count. A `Vec`
//! that already held more keeps its length (the rest are the old bytes): look at
//! `&buf[..n]`, or [`clear`](Vec::clear) the buffer before reusing it. A read into a
//! buffer with no capacity (`Vec::new()`) fails with `InvalidInput` at once, as its
//! `Ok(0)` would look like end of file. ([`UdpSocket::recv_from`] and
//! [`UnixDatagram::recv_from`] are the exception: a datagram received into no room is
//! truncated to nothing, `Ok((0, from))`.)
//!
//! ```
//! use ringloop::net::UnixStream;
//!
//! ringloop::run(async {
//!     let (a, b) = UnixStream::pair()?;
//!     a.write_all("hello").await.0?;
//!     let (n, buf) = b.read(Vec::with_capacity(64)).await;
//!     assert_eq!((n?, buf.len(), buf.capacity()), (5, 5, 64));
//!
//!     // Reused as it is, the buffer is overwritten from its start; its length stays.
//!     a.write_all(b"HI").await.0?;
//!     let (n, buf) = b.read(buf).await;
//!     assert_eq!((&buf[..n?], &buf[..]), (&b"HI"[..], &b"HIllo"[..]));
//!
//!     // No room at all is refused rather than read as end of file.
//!     let (res, _) = b.read(Vec::new()).await;
//!     assert_eq!(res.unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
//!     Ok::<(), std::io::Error>(())
//! })?;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! **To append, read into the spare capacity.** [`IoBuf::slice`]`(len..)` is a view of
//! the buffer from `len` to its capacity; a read into it lands after the bytes already
//! there and grows the `Vec`'s length by the count, and [`Slice::into_inner`] gives the
//! whole buffer back:
//!
//! ```
//! use ringloop::net::{IoBuf, UnixStream};
//!
//! ringloop::run(async {
//!     let (a, b) = UnixStream::pair()?;
//!     a.write_all(b"world").await.0?;
//!     let mut buf = b"hello ".to_vec();
//!     buf.reserve(64); // room to read into
//!     let len = buf.len();
//!     let (n, slice) = b.read(buf.slice(len..)).await;
//!     let buf = slice.into_inner();
//!     assert_eq!((n?, &buf[..]), (5, &b"hello world"[..]));
//!     Ok::<(), std::io::Error>(())
//! })?;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! **A write sends the buffer's initialized bytes** (a `Vec`'s `len`, not its capacity).
//! `write` may send fewer and returns how many it sent; `write_all` loops until every
//! byte is sent (or an error), and returns `(io::Result<()>, buf)`.
//!
//! **A dropped read loses what it read.** Dropping the future of a read in flight (its
//! task cancelled, a [`timeout`](crate::timeout) expired) is safe: the kernel's
//! operation is cancelled, the loop keeps the buffer until the kernel has let go of it,
//! then frees it, and the socket stays usable. But the read may have taken bytes from
//! the socket just before the cancel took effect, and those go with the buffer. To
//! keep them, don't drop the future: give the timeout `&mut op` (an [`Op`] is `Unpin`),
//! and when time is up call [`Op::cancel`] and await the `Op`. It then completes with
//! what the operation really did, with the buffer: `Ok(n)` and the bytes if data came
//! first, else an error (`ECANCELED`).
//!
//! ```
//! use std::time::Duration;
//! use ringloop::net::UnixStream;
//!
//! ringloop::run(async {
//!     let (_a, b) = UnixStream::pair()?;
//!     let mut read = b.read(Vec::with_capacity(64));
//!     // Give it 10 ms (by reference: the read stays in flight when the time is up).
//!     let (res, buf) = match ringloop::timeout(Duration::from_millis(10), &mut read).await {
//!         Ok(done) => done,
//!         Err(_elapsed) => {
//!             read.cancel();
//!             read.await // the real outcome, and the buffer back
//!         }
//!     };
//!     assert!(res.is_err()); // nothing came: cancelled
//!     assert_eq!(buf.capacity(), 64);
//!     Ok::<(), std::io::Error>(())
//! })?;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! **The future is an [`Op<'_, T>`](Op)**, and its output is `T::Output`: `read` returns
//! `Op<'_, `[`Recv<B>`](ops::Recv)`>`, whose output is `(io::Result<usize>, B)`; `write`
//! returns `Op<'_, `[`SendOp<B>`](ops::SendOp)`>`, the same; [`UdpSocket::recv_from`]'s
//! [`RecvMsg<B>`](ops::RecvMsg) gives `(io::Result<(usize, SocketAddr)>, B)` and
//! [`UdpSocket::send_to`]'s [`SendMsg<B>`](ops::SendMsg) `(io::Result<usize>, B)`. The
//! operation types live in [`ops`], so an `Op` can be stored or returned by name; the
//! trait they implement, `Operation`, is sealed. `read_exact` and `write_all` are
//! `async fn`s built on them. The `'_` borrows the socket, which stays open while an
//! `Op` on it exists.
//!
//! # Reading into the loop's buffers
//!
//! **[`read_buffered`](TcpStream::read_buffered) reads without a buffer of yours.** It
//! returns a [`RecvBuf`]: the bytes that arrived, in a buffer that belongs to the loop
//! and goes back to it when the `RecvBuf` is dropped; an empty one is end-of-file. On
//! io_uring the first call arms one multishot receive into the loop's provided-buffer
//! ring ([`Builder::recv_buffers`](crate::Builder::recv_buffers), shared with
//! [`serve`]): the kernel picks a buffer for each arrival, with no request per read, and
//! each call takes the next one. On epoll each call reads on readiness into a spare
//! buffer of the loop's. A reader that holds every buffer of the ring still reads (each
//! such call without the ring). Once a stream was read this way, read it only this way:
//! a plain `read` of it panics. Dropping a `read_buffered` future loses nothing. A
//! `RecvBuf` is an [`IoBuf`]: `write_all(buf)` sends straight from the loop's buffer,
//! which comes back with the result (an echo copies nothing). asyncio
//! has no counterpart (its `StreamReader.read(n)` copies into new `bytes`).
//!
//! ```
//! use ringloop::net::UnixStream;
//!
//! ringloop::run(async {
//!     let (a, b) = UnixStream::pair()?;
//!     a.write_all(b"no copy").await.0?;
//!     let buf = b.read_buffered().await?; // the loop's buffer, lent
//!     assert_eq!(&buf[..], b"no copy");
//!     drop(buf); // and given back
//!     Ok::<(), std::io::Error>(())
//! })?;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! Dropping a socket closes it; the peer sees end-of-file. Files
//! ([`File::read_at`](crate::fs::File::read_at)) and a child's pipes
//! ([`process`](crate::process)) take and give back buffers the same way.
//!
//! # Streams
//!
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
//! | [`Server`] | `asyncio.Server` |
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
//! ## Reading
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
//! ## Writing
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
//! ## Servers
//!
//! [`start_server`] returns the same [`Server`] handle as
//! [`create_server`], with the same graceful shutdown:
//! [`close`](Server::close) stops accepting,
//! [`wait_closed`](Server::wait_closed) waits until every connection's
//! descriptor is closed (its reader and writer dropped, usually when its handler
//! returns), [`close_clients`](Server::close_clients) closes every writer
//! once flushed, and [`abort_clients`](Server::abort_clients) drops what they
//! buffered and shuts their sockets down: their handlers see end-of-file and failing
//! writes. A handler that panics costs its own connection only: the panic is reported to
//! the loop's [exception handler](crate::EventLoop::set_exception_handler) as any
//! detached task's is, and the connection closes as its reader and writer are dropped.
//!
//! ## Differences from asyncio
//!
//! - The handler returns a future of `()`; it runs as its own task (asyncio's
//!   `client_connected_cb` may also be a plain function).
//! - After `abort_clients`, a connection counts until its handler lets go of its reader
//!   and writer (asyncio forgets it at once): `wait_closed` means every descriptor is
//!   closed.
//! - `peer_addr` and `local_addr` stand for `get_extra_info("peername"/"sockname")`; a
//!   Unix stream's addresses come from `unix_peer_addr` and `unix_local_addr`, and a Unix
//!   server's [`Server::local_addr`] is an error (its
//!   path is the one you gave).
//! - [`at_eof`](StreamReader::at_eof) peeks at the socket (reading nothing) when the
//!   buffer is empty, so that it turns true once the end-of-file arrived, as asyncio's
//!   (told by its transport) does.
//! - A Unix server removes its socket file at its next turn after `close`, once it has
//!   dropped the listener, not within `close` itself.

#![forbid(unsafe_code)]

mod addr;
mod protocol;
#[cfg(poll_io)]
pub(crate) mod ready;
mod recv_buf;
pub(crate) mod socket;
mod streams;
mod tcp;
mod udp;
mod unix;
mod unix_datagram;

pub use crate::driver::buf::{IoBuf, IoBufMut, Slice};
pub use crate::driver::op::Op;
pub use crate::driver::recv_buf::RecvBuf;
pub use addr::{ToSocketAddrs, lookup_host};
pub use protocol::{
    DatagramProtocol, DatagramTransport, Listener, Protocol, Server, Transport, WriteBufferLimits,
    create_connection, create_datagram_endpoint, create_server, create_unix_connection, serve,
};
pub use socket::{ReadHalf, WriteHalf};
pub use streams::{
    IncompleteReadError, LimitOverrunError, StreamReader, StreamSocket, StreamWriter, into_streams,
    open_connection, open_unix_connection, start_server, start_unix_server,
};
pub use tcp::{ListenOptions, TcpListener, TcpStream};
pub use udp::UdpSocket;
pub use unix::{UnixListener, UnixStream};
pub use unix_datagram::UnixDatagram;

/// The operations behind [`Op`], named so that an `Op` can be stored or returned.
///
/// Awaiting an `Op<'_, T>` gives the output of its operation `T`:
///
/// | operation | made by | output |
/// |---|---|---|
/// | [`Recv<B>`](ops::Recv) | `read` of the streams and halves, [`UdpSocket::recv`] | `(io::Result<usize>, B)` |
/// | [`SendOp<B>`](ops::SendOp) | `write` of the streams and halves, [`UdpSocket::send`] | `(io::Result<usize>, B)` |
/// | [`RecvMsg<B>`](ops::RecvMsg) | [`UdpSocket::recv_from`] | `(io::Result<(usize, SocketAddr)>, B)` |
/// | [`RecvMsg<B, unix::net::SocketAddr>`](ops::RecvMsg) | [`UnixDatagram::recv_from`] | `(io::Result<(usize, std::os::unix::net::SocketAddr)>, B)` |
/// | [`SendMsg<B>`](ops::SendMsg) | [`UdpSocket::send_to`], [`UnixDatagram::send_to_addr`] | `(io::Result<usize>, B)` |
///
/// [`Accept`](ops::Accept), [`Connect`](ops::Connect) and
/// [`ShutdownOp`](ops::ShutdownOp) run inside `accept`, `connect` and `shutdown`, which
/// are `async fn`s: no method hands out an `Op` of them.
///
/// ```
/// use ringloop::net::{Op, UnixStream, ops::Recv};
///
/// /// Starts reading a request; the caller decides when to await (or cancel) it.
/// fn start_request(conn: &UnixStream) -> Op<'_, Recv<Vec<u8>>> {
///     conn.read(Vec::with_capacity(1024))
/// }
///
/// ringloop::run(async {
///     let (client, server) = UnixStream::pair()?;
///     client.write_all(b"GET /").await.0?;
///     let (n, buf) = start_request(&server).await;
///     assert_eq!(&buf[..n?], b"GET /");
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub mod ops {
    pub use crate::driver::ops::accept::Accept;
    pub use crate::driver::ops::connect::Connect;
    pub use crate::driver::ops::msg::{RecvMsg, SendMsg};
    pub use crate::driver::ops::recv::Recv;
    pub use crate::driver::ops::send::SendOp;
    pub use crate::driver::ops::shutdown::ShutdownOp;
}
