//! Sockets on the loop: TCP, UDP and Unix streams, read and written with owned buffers.
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
//! `Ok(0)` would look like end of file. ([`UdpSocket::recv_from`] is the exception: a
//! datagram received into no room is truncated to nothing, `Ok((0, from))`.)
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
//! Dropping a socket closes it; the peer sees end-of-file. Files
//! ([`File::read_at`](crate::fs::File::read_at)) and a child's pipes
//! ([`process`](crate::process)) take and give back buffers the same way.

#![forbid(unsafe_code)]

mod addr;
mod protocol;
#[cfg(poll_io)]
mod ready;
pub(crate) mod socket;
mod streams;
mod tcp;
mod udp;
mod unix;

pub use crate::driver::buf::{IoBuf, IoBufMut, Slice};
pub use crate::driver::op::Op;
pub use addr::{ToSocketAddrs, lookup_host};
pub use protocol::{Protocol, Server, Transport, create_server, serve};
pub use socket::{ReadHalf, WriteHalf};
pub use streams::{
    IncompleteReadError, LimitOverrunError, StreamReader, StreamSocket, StreamWriter, into_streams,
    open_connection, open_unix_connection, start_server, start_unix_server,
};
pub use tcp::{ListenOptions, TcpListener, TcpStream};
pub use udp::UdpSocket;
pub use unix::{UnixListener, UnixStream};

/// The operations behind [`Op`], named so that an `Op` can be stored or returned.
///
/// Awaiting an `Op<'_, T>` gives the output of its operation `T`:
///
/// | operation | made by | output |
/// |---|---|---|
/// | [`Recv<B>`](ops::Recv) | `read` of the streams and halves, [`UdpSocket::recv`] | `(io::Result<usize>, B)` |
/// | [`SendOp<B>`](ops::SendOp) | `write` of the streams and halves, [`UdpSocket::send`] | `(io::Result<usize>, B)` |
/// | [`RecvMsg<B>`](ops::RecvMsg) | [`UdpSocket::recv_from`] | `(io::Result<(usize, SocketAddr)>, B)` |
/// | [`SendMsg<B>`](ops::SendMsg) | [`UdpSocket::send_to`] | `(io::Result<usize>, B)` |
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
