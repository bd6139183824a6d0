//! Protocols and transports: asyncio's `create_server(protocol_factory)` and
//! `create_connection(protocol_factory, host, port)`.
//!
//! [`serve`] accepts connections on a listener and gives each a [`Protocol`] made by the
//! factory, as a future that serves until it is dropped; [`create_server`] runs the same
//! server in the background and returns a [`Server`] handle to shut it down gracefully
//! with. Either takes a [`TcpListener`](super::TcpListener) or a
//! [`UnixListener`](super::UnixListener) (any [`Listener`]: asyncio's
//! `create_unix_server` is the same call). [`create_connection`] (TCP) and
//! [`create_unix_connection`] connect, and drive a protocol on the connection with the
//! same machinery: the client side of the same callbacks. For UDP,
//! [`create_datagram_endpoint`] runs a [`DatagramProtocol`] (`datagram_received`,
//! `error_received`) on a bound or connected socket, sending through its
//! [`DatagramTransport`]. The protocol is called back — `connection_made`, `data_received`,
//! `eof_received`, `connection_lost`, `pause_writing`, `resume_writing` — straight from
//! the loop's I/O, with no future, no task and no buffer per connection or per read, and
//! writes through its [`Transport`].
//!
//! # How connections arrive
//!
//! On io_uring the server keeps one multishot accept armed on the listener: every
//! connection the kernel accepts arrives as a completion in the accept's own sink, and
//! a burst of them costs one SQE. When the multishot ends (an error, or a completion the
//! kernel could not post) it is re-armed; after `EMFILE`, `ENFILE`, `ENOBUFS` or
//! `ENOMEM` only once a back-off (1 ms, doubling to 100 ms) has passed, so running out of
//! descriptors never spins. A kernel that refuses the multishot flag (`EINVAL` on the
//! first arm, before Linux 5.19) gets single-shot accepts instead, as does epoll, which
//! accepts on readiness. Dropping the server abandons the multishot accept to the
//! driver, which closes whatever it still accepts, and closes the connections that
//! arrived but were not yet taken in.
//!
//! # How reads arrive
//!
//! On io_uring each connection has one multishot receive armed, picking buffers from the
//! loop's provided-buffer ring (see [`Builder::recv_buffers`](crate::Builder::recv_buffers)):
//! `data_received` gets a slice of the kernel-filled buffer, which goes back to the ring
//! as soon as the call returns. A receive that ends (no `IORING_CQE_F_MORE`) is re-armed;
//! one that found the ring empty (`ENOBUFS`) is re-armed once buffers came back, and the
//! data waits in the socket meanwhile. On epoll (or a kernel without buffer rings) a
//! connection waits for readiness, then reads into one buffer the server reuses.
//!
//! # How writes leave
//!
//! [`Transport::write`] issues a send at once when nothing is queued: a nonblocking
//! `send(2)` runs on the spot, and only what the socket does not take is copied to the
//! connection's buffer and sent by the driver (one send SQE on io_uring, reaching the
//! kernel with the loop's next `io_uring_enter`; on writability on epoll). Measured on
//! loopback echo with io_uring, the send on the spot took less server CPU per round trip
//! than an SQE per write at 1 and 100 connections (1 KiB: 2.58 vs 2.79 µs and 1.72 vs
//! 1.80 µs; 16 KiB: 3.50 vs 3.90 µs and 3.64 vs 4.91 µs), since the SQE costs a second
//! enter per wake-up; [`Builder::try_first_io`](crate::Builder::try_first_io)`(false)`
//! restores the SQE path on io_uring. Writes made while a send is in flight are appended
//! to a second buffer and leave together, in one send, when it completes.
//! Above the high-water mark the protocol's `pause_writing` is called, and
//! `resume_writing` once the buffer drained to the low-water mark.
//!
//! # Differences from asyncio
//!
//! A protocol is never re-entered: `pause_writing` owed by a `write` made inside a
//! callback is called right after that callback returns. `connection_lost` is called
//! exactly once per connection, also when the server future is dropped (with `None`).
//!
//! # Panics in user code
//!
//! A panic in the factory, in a protocol callback or in a protocol's destructor costs
//! that one connection, as an exception in asyncio's callbacks closes only the
//! offending transport: the panic is caught, and reported once to the loop's
//! [exception handler](crate::EventLoop::set_exception_handler) as
//! [`ExceptionKind::CallbackPanicked`](crate::ExceptionKind::CallbackPanicked), whose
//! message (a `String` payload) names the callback and carries the panic's own message.
//! The connection is then aborted (what was not sent is dropped) and its protocol gets
//! `connection_lost(Some(error))`, an error saying which callback panicked, and no other
//! callback. A panic in `connection_lost` or a destructor is only reported, and a
//! factory that panics costs the connection it was called for: it is closed, and
//! accepting goes on. Other connections, and the server, never notice.
//!
//! # Graceful shutdown
//!
//! [`Server::close`] stops accepting at once: the listening socket is shut down in the
//! call (the kernel refuses new connections from then on and resets those waiting in its
//! backlog), and closed at the server's next turn. Connections the server had taken in
//! run on until they close; [`Server::wait_closed`] resolves once the last one is gone,
//! and [`Server::close_clients`] or [`Server::abort_clients`] hurry them (asyncio 3.13's
//! names and semantics).
//!
//! # Where things live
//!
//! - this file: the [`Protocol`] trait and [`serve`]; `listener.rs`: the [`Listener`]
//!   kinds a server accepts on;
//! - `server_handle.rs`: [`create_server`] and its [`Server`] handle;
//!   `client.rs`: [`create_connection`] and [`create_unix_connection`], a connection
//!   served by an engine of its own;
//! - `datagram.rs`: [`DatagramProtocol`], [`create_datagram_endpoint`] and the
//!   endpoint's engine; `datagram_transport.rs`: [`DatagramTransport`]; `control.rs`: the
//!   server's lifecycle as a spec (flags and transitions) and the control block the
//!   handle and the running server share;
//! - `server.rs`: the server's engine — the connection table, its poll, completions,
//!   settling what protocols are owed, stopping, teardown; `accept.rs`: how it accepts;
//!   `read.rs`: how it reads;
//! - `transport.rs`: [`Transport`], the write path and back-pressure;
//! - `state.rs`: a connection's state as a spec (flags and transitions);
//! - `callback.rs`: the one place a panic in user code is caught.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

pub use self::client::{create_connection, create_unix_connection};
pub use self::datagram::{DatagramProtocol, create_datagram_endpoint};
pub use self::datagram_transport::DatagramTransport;
use self::listener::AnyListener;
pub use self::listener::Listener;
use self::server::Engine;
pub use self::server_handle::{Server, create_server};
pub use self::transport::{Transport, WriteBufferLimits};

mod accept;
mod callback;
mod client;
pub(super) mod control;
mod datagram;
mod datagram_transport;
pub(crate) mod listener;
mod read;
mod server;
mod server_handle;
mod state;
mod transport;

/// A connection's callbacks, asyncio's `asyncio.Protocol`.
///
/// All are called on the loop's thread, one at a time; none is re-entered. A panic in
/// one costs this connection only: it is reported to the loop's exception handler, and
/// `connection_lost(Some(error))` follows (see [`serve`]).
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
/// use ringloop::net::{Protocol, TcpListener, TcpStream, Transport, create_server};
///
/// /// Echoes lines, and counts the connections that ended.
/// struct LineEcho {
///     transport: Option<Transport>,
///     line: Vec<u8>,
///     ended: Rc<Cell<u32>>,
/// }
///
/// impl Protocol for LineEcho {
///     fn connection_made(&mut self, transport: Transport) {
///         self.transport = Some(transport);
///     }
///     fn data_received(&mut self, data: &[u8]) {
///         for &byte in data {
///             self.line.push(byte);
///             if byte == b'\n' {
///                 self.transport.as_ref().unwrap().write(&self.line);
///                 self.line.clear();
///             }
///         }
///     }
///     fn connection_lost(&mut self, _error: Option<std::io::Error>) {
///         self.ended.set(self.ended.get() + 1);
///     }
/// }
///
/// ringloop::run(async {
///     let ended = Rc::new(Cell::new(0));
///     let factory = {
///         let ended = ended.clone();
///         move || LineEcho { transport: None, line: Vec::new(), ended: ended.clone() }
///     };
///     let server = create_server(TcpListener::bind("127.0.0.1:0")?, factory);
///     let client = TcpStream::connect(server.local_addr()?).await?;
///     client.write_all(b"one\ntw").await.0?;
///     let (res, buf) = client.read_exact(Vec::with_capacity(4)).await;
///     res?;
///     assert_eq!(buf, b"one\n"); // "tw" waits for its newline
///     drop(client); // end-of-file: the transport closes, connection_lost follows
///     server.close();
///     server.wait_closed().await;
///     assert_eq!(ended.get(), 1);
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub trait Protocol: 'static {
    /// The connection is up; `transport` writes to it and controls it (keep a clone).
    fn connection_made(&mut self, transport: Transport);

    /// Bytes arrived. The slice is only valid during the call.
    fn data_received(&mut self, data: &[u8]);

    /// The peer closed its sending side. Return `true` to keep the transport open for
    /// writing (close it later with [`Transport::close`]); `false` (the default) closes
    /// it once the write buffer is flushed.
    fn eof_received(&mut self) -> bool {
        false
    }

    /// The connection is gone: `None` after a normal close (ours, or an end-of-file we
    /// did not keep open), `Some(error)` when it failed (a reset, a broken pipe). Called
    /// exactly once.
    fn connection_lost(&mut self, error: Option<io::Error>) {
        let _ = error;
    }

    /// The write buffer went above the high-water mark: stop producing.
    fn pause_writing(&mut self) {}

    /// The write buffer drained to the low-water mark: produce again.
    fn resume_writing(&mut self) {}
}

/// Accepts connections on `listener` forever, each served by a protocol from `factory`
/// (asyncio's `loop.create_server(protocol_factory)`).
///
/// The future completes only with an error from accepting (running out of descriptors
/// is not one: accepting backs off and resumes). Then, or when it is dropped (its task
/// cancelled), it stops accepting and closes every connection, each protocol seeing
/// `connection_lost(None)`. To stop accepting but let established connections finish,
/// use [`create_server`] and its [`Server`] handle instead.
///
/// A panic in `factory`, in a protocol's callbacks or in its destructor costs that one
/// connection, never the server: it reaches the loop's exception handler once
/// ([`ExceptionKind::CallbackPanicked`](crate::ExceptionKind::CallbackPanicked), the
/// message naming the callback), and the protocol gets `connection_lost(Some(error))`
/// and no other callback. A factory that panics costs the connection it was called for;
/// accepting goes on.
///
/// ```
/// use ringloop::net::{Protocol, TcpListener, TcpStream, Transport, serve};
///
/// struct Upper(Option<Transport>);
///
/// impl Protocol for Upper {
///     fn connection_made(&mut self, transport: Transport) {
///         self.0 = Some(transport);
///     }
///     fn data_received(&mut self, data: &[u8]) {
///         self.0.as_ref().unwrap().write(&data.to_ascii_uppercase());
///     }
/// }
///
/// ringloop::run(async {
///     let listener = TcpListener::bind("127.0.0.1:0")?;
///     let addr = listener.local_addr()?;
///     // The server is a future: run it as a task, and cancel the task to stop it.
///     let server = ringloop::spawn(serve(listener, || Upper(None)));
///     let client = TcpStream::connect(addr).await?;
///     client.write_all(b"shout").await.0?;
///     let (res, buf) = client.read_exact(Vec::with_capacity(5)).await;
///     res?;
///     assert_eq!(buf, b"SHOUT");
///     server.cancel(); // closes every connection
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Panics
///
/// When polled outside a running loop.
pub fn serve<L, P, F>(listener: L, factory: F) -> impl Future<Output = io::Result<()>>
where
    L: Listener,
    P: Protocol,
    F: FnMut() -> P + 'static,
{
    ServeFuture {
        server: None,
        init: Some((Box::new(listener) as AnyListener, factory)),
    }
}

/// The future [`serve`] returns: builds the server on its first poll (inside the loop).
/// Its control block has no handle: nothing closes it, it serves until dropped.
struct ServeFuture<P: Protocol, F: FnMut() -> P> {
    server: Option<Engine<P, F>>,
    init: Option<(AnyListener, F)>,
}

impl<P: Protocol, F: FnMut() -> P> Unpin for ServeFuture<P, F> {}

impl<P: Protocol, F: FnMut() -> P + 'static> Future for ServeFuture<P, F> {
    type Output = io::Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some((listener, factory)) = this.init.take() {
            this.server = Some(Engine::new(listener, factory, "ringloop::net::serve"));
        }
        match this.server.as_mut() {
            Some(server) => server.poll(cx),
            None => panic!("ringloop::net::serve polled after it completed"),
        }
    }
}
