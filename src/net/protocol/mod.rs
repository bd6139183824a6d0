//! Protocols and transports: asyncio's `create_server(protocol_factory)`.
//!
//! [`serve`] accepts connections on a listener and gives each a [`Protocol`] made by the
//! factory. The protocol is called back — `connection_made`, `data_received`,
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

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use self::callback::{Callback, guarded};
use super::TcpListener;
use super::socket::{ACCEPT_BACKOFF_MAX, ACCEPT_BACKOFF_MIN, is_resource_exhaustion};
use crate::driver::bufring::BufRing;
use crate::driver::fd::Fd;
use crate::driver::op::{OpCode, OpId};
use crate::driver::ops::close::close_soon;
use crate::driver::sink::{self, Sink, SinkEvent};
use crate::driver::sink_io::{self, Accepted, MultiAccept, SendBuf};
use crate::event_loop::Core;
use crate::sys::net::{SockAddr, recv_slice, send_slice};

mod callback;

/// asyncio's default high-water mark for the write buffer.
const DEFAULT_HIGH: usize = 64 * 1024;
/// The buffer the readiness path reads into (one per server).
const READ_BUF: usize = 64 * 1024;
/// Reads one connection may make per wake on the readiness path before others run.
const READS_PER_WAKE: usize = 16;

/// A connection's callbacks, asyncio's `asyncio.Protocol`.
///
/// All are called on the loop's thread, one at a time; none is re-entered. A panic in
/// one costs this connection only: it is reported to the loop's exception handler, and
/// `connection_lost(Some(error))` follows (see [`serve`]).
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
/// `connection_lost(None)`.
///
/// A panic in `factory`, in a protocol's callbacks or in its destructor costs that one
/// connection, never the server: it reaches the loop's exception handler once
/// ([`ExceptionKind::CallbackPanicked`](crate::ExceptionKind::CallbackPanicked), the
/// message naming the callback), and the protocol gets `connection_lost(Some(error))`
/// and no other callback. A factory that panics costs the connection it was called for;
/// accepting goes on.
///
/// # Panics
///
/// When polled outside a running loop.
pub fn serve<P, F>(listener: TcpListener, factory: F) -> impl Future<Output = io::Result<()>>
where
    P: Protocol,
    F: FnMut() -> P + 'static,
{
    ServeFuture {
        server: None,
        init: Some((listener, factory)),
    }
}

type AcceptFuture = Pin<Box<dyn Future<Output = io::Result<(OwnedFd, SockAddr)>>>>;

/// How the server accepts.
enum Acceptor {
    /// io_uring: one multishot accept, re-armed whenever it ends.
    Multi(MultiAccept),
    /// Single-shot accepts, one at a time: epoll, or a kernel without multishot accept.
    Single(Option<AcceptFuture>),
}

struct ServeFuture<P: Protocol, F: FnMut() -> P> {
    server: Option<Server<P, F>>,
    init: Option<(TcpListener, F)>,
}

impl<P: Protocol, F: FnMut() -> P> Unpin for ServeFuture<P, F> {}

impl<P: Protocol, F: FnMut() -> P + 'static> Future for ServeFuture<P, F> {
    type Output = io::Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some((listener, factory)) = this.init.take() {
            this.server = Some(Server::new(listener, factory));
        }
        match this.server.as_mut() {
            Some(server) => server.poll(cx),
            None => panic!("ringloop::net::serve polled after it completed"),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Shared state: what transports reach
// ---------------------------------------------------------------------------------------

/// What a server shares with its transports.
struct Shared {
    core: Rc<Core>,
    sink: Rc<Sink>,
    /// Connection slots whose transport was used and that the server must look at.
    dirty: RefCell<Vec<u32>>,
    /// The server is running (callbacks included): no need to wake it.
    in_poll: Cell<bool>,
    /// A write with nothing queued tries `send(2)` at once; what it leaves goes out as an
    /// SQE (io_uring) or on writability (epoll). Always on epoll; on io_uring unless
    /// [`Builder::try_first_io`](crate::Builder::try_first_io) turned it off, in which case
    /// writes go out as SQEs batched into the loop's next `io_uring_enter`.
    try_send: bool,
}

impl Shared {
    fn mark(&self, conn: &Conn, st: &mut ConnState) {
        if !st.dirty {
            st.dirty = true;
            self.dirty.borrow_mut().push(conn.slot);
            if !self.in_poll.get()
                && let Some(waker) = self.sink.notify()
            {
                waker.wake();
            }
        }
    }
}

/// One connection, as its transport sees it.
struct Conn {
    shared: Rc<Shared>,
    slot: u32,
    generation: u32,
    fd: RawFd,
    /// `fd` with this connection's identity, for operations.
    handle: Fd,
    st: RefCell<ConnState>,
}

impl Conn {
    fn tag(&self, kind: u64) -> u64 {
        tag(self.slot, self.generation, kind)
    }
}

/// Event kinds, in a tag's low bit.
const READ: u64 = 0;
const SEND: u64 = 1;

fn tag(slot: u32, generation: u32, kind: u64) -> u64 {
    (u64::from(generation) << 32) | (u64::from(slot) << 1) | kind
}

fn untag(tag: u64) -> (u32, u32, u64) {
    (((tag as u32) >> 1), (tag >> 32) as u32, tag & 1)
}

struct ConnState {
    /// The descriptor, until every operation on it completed.
    io: Option<OwnedFd>,
    out: SendBuf,
    /// Writes made while a send is in flight; they leave with the next one.
    pending: Vec<u8>,
    high: usize,
    low: usize,
    writing_paused: bool,
    /// `pause_writing` is owed to the protocol.
    owe_pause: bool,
    /// `resume_writing` is owed (the marks moved).
    owe_resume: bool,
    reading_paused: bool,
    /// The armed receive (multishot) or readiness wait.
    recv: Option<OpId>,
    /// A receive found the buffer ring empty: re-arm once buffers came back.
    starved: bool,
    read_eof: bool,
    /// An end-of-file arrived behind data held while reading was paused: delivered
    /// after that data.
    eof_pending: bool,
    /// `close()`: flush, then close.
    closing: bool,
    aborted: bool,
    error: Option<io::Error>,
    /// `connection_lost` was called (or is being called).
    lost: bool,
    /// In the shared dirty list.
    dirty: bool,
}

impl ConnState {
    fn buffered(&self) -> usize {
        self.out.remaining() + self.pending.len()
    }

    fn wants_read(&self) -> bool {
        !(self.lost
            || self.closing
            || self.aborted
            || self.read_eof
            || self.eof_pending
            || self.reading_paused)
            && self.error.is_none()
    }

    /// Whether `data_received` may be called (held data, an end-of-file behind it).
    fn can_deliver(&self) -> bool {
        !(self.lost || self.closing || self.aborted || self.reading_paused) && self.error.is_none()
    }

    /// Pauses the protocol's writing when the buffer went above the high-water mark.
    fn check_high(&mut self) -> bool {
        if !self.writing_paused && self.buffered() > self.high {
            self.writing_paused = true;
            self.owe_pause = true;
            return true;
        }
        false
    }
}

/// The handle a protocol writes through and controls its connection with: cheap to
/// clone, bound to the loop's thread. Every method is a no-op once the connection is
/// lost.
#[derive(Clone)]
pub struct Transport {
    conn: Rc<Conn>,
}

impl Transport {
    /// Writes `data`: sent at once when nothing is queued, else appended to the write
    /// buffer and sent with the next send. Ignored once [`close`](Self::close) or
    /// [`abort`](Self::abort) was called. An error is reported through
    /// `connection_lost`.
    pub fn write(&self, data: &[u8]) {
        let conn = &*self.conn;
        let mut st = conn.st.borrow_mut();
        if data.is_empty() || st.lost || st.closing || st.aborted || st.error.is_some() {
            return;
        }
        let mut rest = data;
        if !st.out.in_flight() && st.out.remaining() == 0 {
            let sent = if conn.shared.try_send {
                send_slice(conn.fd, data)
            } else {
                Err(io::ErrorKind::WouldBlock.into())
            };
            match sent {
                Ok(n) if n == data.len() => return,
                Ok(n) => rest = &data[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => {
                    st.error = Some(e);
                    conn.shared.mark(conn, &mut st);
                    return;
                }
            }
            st.out
                .buf_mut()
                .expect("no send in flight")
                .extend_from_slice(rest);
            let tag = conn.tag(SEND);
            if let Err(e) = st
                .out
                .submit(&conn.shared.core, conn.handle, &conn.shared.sink, tag)
            {
                st.error = Some(e);
                conn.shared.mark(conn, &mut st);
                return;
            }
        } else {
            st.pending.extend_from_slice(rest);
        }
        if st.check_high() {
            conn.shared.mark(conn, &mut st);
        }
    }

    /// Stops `data_received` calls until [`resume_reading`](Self::resume_reading).
    pub fn pause_reading(&self) {
        let mut st = self.conn.st.borrow_mut();
        if st.lost || st.reading_paused {
            return;
        }
        st.reading_paused = true;
        if let Some(id) = st.recv {
            sink_io::cancel(&self.conn.shared.core, id);
        }
    }

    /// Resumes `data_received` calls (what arrived meanwhile comes first).
    pub fn resume_reading(&self) {
        let conn = &*self.conn;
        let mut st = conn.st.borrow_mut();
        if st.lost || !st.reading_paused {
            return;
        }
        st.reading_paused = false;
        conn.shared.mark(conn, &mut st);
    }

    /// Whether reading is on (not paused, not closed).
    pub fn is_reading(&self) -> bool {
        self.conn.st.borrow().wants_read()
    }

    /// Sets the write buffer's water marks: `pause_writing` above `high` bytes,
    /// `resume_writing` back at `low` (clamped to `high`). asyncio's default is 64 KiB
    /// and a quarter of it.
    pub fn set_write_buffer_limits(&self, high: usize, low: usize) {
        let conn = &*self.conn;
        let mut st = conn.st.borrow_mut();
        st.high = high;
        st.low = low.min(high);
        if st.lost {
            return;
        }
        let size = st.buffered();
        if st.check_high() || (st.writing_paused && size <= st.low) {
            if st.writing_paused && size <= st.low && !st.owe_pause {
                st.owe_resume = true;
            }
            conn.shared.mark(conn, &mut st);
        }
    }

    /// The write buffer's water marks, `(low, high)`.
    pub fn get_write_buffer_limits(&self) -> (usize, usize) {
        let st = self.conn.st.borrow();
        (st.low, st.high)
    }

    /// Bytes written and not yet taken by the kernel.
    pub fn get_write_buffer_size(&self) -> usize {
        self.conn.st.borrow().buffered()
    }

    /// Closes the connection once the write buffer is flushed; no more data is received.
    /// `connection_lost(None)` follows.
    pub fn close(&self) {
        let conn = &*self.conn;
        let mut st = conn.st.borrow_mut();
        if st.lost || st.closing {
            return;
        }
        st.closing = true;
        if let Some(id) = st.recv {
            sink_io::cancel(&conn.shared.core, id);
        }
        conn.shared.mark(conn, &mut st);
    }

    /// Whether the connection is closing or closed.
    pub fn is_closing(&self) -> bool {
        let st = self.conn.st.borrow();
        st.lost || st.closing || st.aborted
    }

    /// Closes the connection at once, dropping what was not sent.
    /// `connection_lost(None)` follows.
    pub fn abort(&self) {
        let conn = &*self.conn;
        let mut st = conn.st.borrow_mut();
        if st.lost || st.aborted {
            return;
        }
        st.aborted = true;
        st.pending.clear();
        st.out.discard();
        st.out.cancel();
        if let Some(id) = st.recv {
            sink_io::cancel(&conn.shared.core, id);
        }
        conn.shared.mark(conn, &mut st);
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<std::net::SocketAddr> {
        let st = self.conn.st.borrow();
        match &st.io {
            Some(fd) => crate::sys::net::peer_addr(fd),
            None => Err(io::Error::from_raw_os_error(libc::ENOTCONN)),
        }
    }
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.conn.st.borrow();
        f.debug_struct("Transport")
            .field("fd", &self.conn.fd)
            .field("buffered", &st.buffered())
            .field("closing", &(st.closing || st.aborted))
            .field("lost", &st.lost)
            .finish()
    }
}

// ---------------------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------------------

struct Entry<P> {
    generation: u32,
    conn: Option<Rc<Conn>>,
    proto: Option<P>,
    /// Data that arrived while reading was paused (multishot receives cancel late).
    stash: Vec<u8>,
}

struct Server<P: Protocol, F: FnMut() -> P> {
    shared: Rc<Shared>,
    /// `None` only once the server is dropped (its destructor runs guarded).
    factory: Option<F>,
    listener: TcpListener,
    acceptor: Acceptor,
    /// Scratch for the multishot accept's drained completions, kept for its memory
    /// (empty between polls).
    accepted: Vec<Accepted>,
    /// Out of descriptors: the multishot accept is re-armed when this sleep ends.
    backoff: Option<Pin<Box<crate::time::Sleep>>>,
    backoff_len: Duration,
    /// The multishot accept delivered a connection at least once (so an `EINVAL` is not
    /// the kernel refusing the multishot flag).
    accepted_any: bool,
    entries: Vec<Entry<P>>,
    free: Vec<u32>,
    live: usize,
    events: Vec<SinkEvent>,
    dirty: Vec<u32>,
    /// Connections to re-arm once buffers came back, or to read again (readiness path).
    retry: Vec<u32>,
    retry_spare: Vec<u32>,
    ring: Option<Rc<BufRing>>,
    read_buf: Vec<u8>,
    failed: bool,
}

impl<P: Protocol, F: FnMut() -> P> Server<P, F> {
    fn new(listener: TcpListener, factory: F) -> Server<P, F> {
        let core = crate::context::current_core("ringloop::net::serve");
        let ring = core.with_driver(|d| d.buf_ring()).flatten();
        let read_buf = if ring.is_some() {
            Vec::new()
        } else {
            vec![0; READ_BUF]
        };
        // epoll has no other way; on io_uring a send at once saves the enter that would
        // carry it (measured: less CPU per round trip, 1 to 100 connections).
        let try_send = ring.is_none() || core.try_first_io();
        let acceptor = if core.with_driver(|d| d.multishot_accept()) == Some(true) {
            Acceptor::Multi(MultiAccept::new(core.clone(), listener.raw_fd()))
        } else {
            Acceptor::Single(None)
        };
        Server {
            shared: Rc::new(Shared {
                core,
                sink: Rc::new(Sink::new()),
                dirty: RefCell::new(Vec::new()),
                in_poll: Cell::new(false),
                try_send,
            }),
            factory: Some(factory),
            listener,
            acceptor,
            accepted: Vec::new(),
            backoff: None,
            backoff_len: ACCEPT_BACKOFF_MIN,
            accepted_any: false,
            entries: Vec::new(),
            free: Vec::new(),
            live: 0,
            events: Vec::new(),
            dirty: Vec::new(),
            retry: Vec::new(),
            retry_spare: Vec::new(),
            ring,
            read_buf,
            failed: false,
        }
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.failed {
            panic!("ringloop::net::serve polled after it completed");
        }
        self.shared.in_poll.set(true);
        let result = self.run(cx);
        if result.is_ready() {
            // Never polled again: nothing would serve the connections.
            self.failed = true;
            self.close_all();
        }
        self.shared.in_poll.set(false);
        result
    }

    fn run(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            let mut progressed = false;
            // New connections.
            match self.accept_connections(cx) {
                Ok(accepted) => progressed |= accepted,
                Err(e) => return Poll::Ready(Err(e)),
            }
            // Completions.
            let mut events = std::mem::take(&mut self.events);
            self.shared.sink.drain_into(&mut events, cx.waker());
            progressed |= !events.is_empty();
            for event in events.drain(..) {
                self.on_event(event);
            }
            self.events = events;
            // Transports used since.
            let mut dirty = std::mem::take(&mut self.dirty);
            std::mem::swap(&mut dirty, &mut *self.shared.dirty.borrow_mut());
            progressed |= !dirty.is_empty();
            for slot in dirty.drain(..) {
                self.on_dirty(slot);
            }
            self.dirty = dirty;
            if !progressed {
                break;
            }
        }
        // Starved receives (every buffer is back now) and readers with more to read,
        // once per poll so that a fast sender cannot keep the server here.
        if !self.retry.is_empty() {
            let mut retry = std::mem::take(&mut self.retry);
            std::mem::swap(&mut self.retry, &mut self.retry_spare);
            for slot in retry.drain(..) {
                self.on_retry(slot);
            }
            self.retry_spare = retry;
            if !self.retry.is_empty() || !self.shared.dirty.borrow().is_empty() {
                cx.waker().wake_by_ref();
            }
        }
        Poll::Pending
    }

    /// Takes in the connections that arrived; whether there were any. An error is the
    /// server's end.
    fn accept_connections(&mut self, cx: &mut Context<'_>) -> io::Result<bool> {
        match &mut self.acceptor {
            Acceptor::Multi(_) => self.accept_multi(cx),
            Acceptor::Single(_) => self.accept_single(cx),
        }
    }

    fn accept_single(&mut self, cx: &mut Context<'_>) -> io::Result<bool> {
        let mut progressed = false;
        loop {
            let Acceptor::Single(pending) = &mut self.acceptor else {
                unreachable!("single-shot accepting");
            };
            let accept = pending.get_or_insert_with(|| {
                Box::pin(super::socket::accept(
                    self.listener.handle(),
                    "ringloop::net::serve",
                ))
            });
            match accept.as_mut().poll(cx) {
                Poll::Ready(Ok((fd, _))) => {
                    *pending = None;
                    self.add(fd);
                    progressed = true;
                }
                Poll::Ready(Err(e)) => {
                    *pending = None;
                    return Err(e);
                }
                Poll::Pending => return Ok(progressed),
            }
        }
    }

    /// The multishot path: connections come in batches through the accept's sink; the
    /// accept is re-armed when it ends, after a back-off when descriptors ran out.
    fn accept_multi(&mut self, cx: &mut Context<'_>) -> io::Result<bool> {
        let Acceptor::Multi(accept) = &mut self.acceptor else {
            unreachable!("multishot accepting");
        };
        let mut accepted = std::mem::take(&mut self.accepted);
        accept.drain_into(&mut accepted, cx.waker());
        let progressed = !accepted.is_empty();
        let mut fatal = None;
        let mut refused = false;
        for result in accepted.drain(..) {
            match result {
                Ok(fd) => {
                    self.accepted_any = true;
                    self.backoff_len = ACCEPT_BACKOFF_MIN;
                    self.add(fd);
                }
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) && !self.accepted_any => {
                    refused = true
                }
                Err(e) if is_resource_exhaustion(&e) => {
                    if self.backoff.is_none() {
                        self.backoff = Some(Box::pin(crate::time::sleep(self.backoff_len)));
                        self.backoff_len = (self.backoff_len * 2).min(ACCEPT_BACKOFF_MAX);
                    }
                }
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::ECONNABORTED | libc::EINTR | libc::EAGAIN | libc::ECANCELED)
                    ) => {}
                Err(e) => {
                    fatal.get_or_insert(e);
                }
            }
        }
        self.accepted = accepted;
        if let Some(e) = fatal {
            return Err(e);
        }
        if refused {
            // This kernel's accept has no multishot flag (before 5.19): accept one at a
            // time from now on.
            log::debug!("ringloop: no multishot accept here; accepting one at a time");
            self.acceptor = Acceptor::Single(None);
            self.backoff = None;
            return Ok(self.accept_single(cx)? || progressed);
        }
        if let Some(sleep) = self.backoff.as_mut() {
            if sleep.as_mut().poll(cx).is_pending() {
                return Ok(progressed);
            }
            self.backoff = None;
        }
        let Acceptor::Multi(accept) = &mut self.acceptor else {
            unreachable!("multishot accepting");
        };
        accept.arm()?;
        Ok(progressed)
    }

    fn add(&mut self, fd: OwnedFd) {
        let Some(factory) = self.factory.as_mut() else {
            unreachable!("the factory is only taken by the server's Drop");
        };
        let Ok(proto) = guarded(&self.shared.core, Callback::Factory, factory) else {
            // Reported: this connection goes, accepting goes on.
            close_soon(fd);
            return;
        };
        // As asyncio does for every TCP transport: no Nagle delay on small writes.
        let _ = crate::sys::net::set_int_option(&fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, 1);
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.entries.push(Entry {
                    generation: 0,
                    conn: None,
                    proto: None,
                    stash: Vec::new(),
                });
                (self.entries.len() - 1) as u32
            }
        };
        let entry = &mut self.entries[slot as usize];
        let conn = Rc::new(Conn {
            shared: self.shared.clone(),
            slot,
            generation: entry.generation,
            fd: fd.as_raw_fd(),
            handle: Fd::new(fd.as_raw_fd()),
            st: RefCell::new(ConnState {
                io: Some(fd),
                out: SendBuf::new(),
                pending: Vec::new(),
                high: DEFAULT_HIGH,
                low: DEFAULT_HIGH / 4,
                writing_paused: false,
                owe_pause: false,
                owe_resume: false,
                reading_paused: false,
                recv: None,
                starved: false,
                read_eof: false,
                eof_pending: false,
                closing: false,
                aborted: false,
                error: None,
                lost: false,
                dirty: false,
            }),
        });
        entry.conn = Some(conn.clone());
        entry.proto = Some(proto);
        self.live += 1;
        let transport = Transport { conn: conn.clone() };
        call(&conn, entry.proto.as_mut(), Callback::ConnectionMade, |p| {
            p.connection_made(transport)
        });
        self.settle(slot);
        self.start_reading(slot);
    }

    /// The live connection in `slot` with this generation.
    fn conn(&self, slot: u32, generation: u32) -> Option<Rc<Conn>> {
        let entry = self.entries.get(slot as usize)?;
        if entry.generation != generation {
            return None;
        }
        entry.conn.clone()
    }

    fn on_event(&mut self, event: SinkEvent) {
        let (slot, generation, kind) = untag(event.tag);
        let Some(conn) = self.conn(slot, generation) else {
            self.recycle(event.flags);
            return;
        };
        if kind == SEND {
            self.on_send(&conn, event.result);
        } else if self.ring.is_some() {
            self.on_recv(&conn, event);
        } else {
            self.on_ready(&conn, event);
        }
        self.settle(slot);
        self.try_free(slot);
    }

    fn recycle(&self, flags: u32) {
        if let (Some(bid), Some(ring)) = (sink::buffer_id(flags), &self.ring) {
            ring.recycle(bid);
        }
    }

    /// A multishot receive's completion.
    fn on_recv(&mut self, conn: &Conn, event: SinkEvent) {
        let slot = conn.slot as usize;
        if sink::is_final(event.flags) {
            conn.st.borrow_mut().recv = None;
        }
        let result = event.result;
        if result > 0 {
            let ring = self.ring.clone().expect("multishot path");
            let lent = sink::buffer_id(event.flags).and_then(|bid| ring.lend(bid, result as usize));
            let Some(data) = lent else {
                let e = io::Error::new(
                    io::ErrorKind::InvalidData,
                    "a receive completed without a valid provided buffer",
                );
                self.fail(conn, e);
                return;
            };
            let (paused, gone) = {
                let st = conn.st.borrow();
                (st.reading_paused, !st.wants_read() && !st.reading_paused)
            };
            let entry = &mut self.entries[slot];
            if gone {
                // Closing or closed: what still arrives is dropped.
            } else if paused || !entry.stash.is_empty() {
                entry.stash.extend_from_slice(&data);
            } else {
                call(conn, entry.proto.as_mut(), Callback::DataReceived, |p| {
                    p.data_received(&data)
                });
            }
            drop(data);
            if sink::is_final(event.flags) {
                self.arm(conn);
            }
            return;
        }
        self.recycle(event.flags);
        match result {
            0 if conn.st.borrow().reading_paused || !self.entries[slot].stash.is_empty() => {
                conn.st.borrow_mut().eof_pending = true;
            }
            0 => self.on_eof(conn),
            r if r == -libc::ENOBUFS => {
                let mut st = conn.st.borrow_mut();
                if !st.starved {
                    st.starved = true;
                    self.retry.push(conn.slot);
                }
            }
            r if r == -libc::ECANCELED => self.arm(conn),
            r if r == -libc::EINTR || r == -libc::EAGAIN => self.arm(conn),
            r => self.fail(conn, io::Error::from_raw_os_error(-r)),
        }
    }

    /// Readiness (or its failure) on the readiness path.
    fn on_ready(&mut self, conn: &Conn, event: SinkEvent) {
        conn.st.borrow_mut().recv = None;
        match event.result {
            r if r >= 0 => self.read_ready(conn),
            r if r == -libc::ECANCELED => {}
            r => self.fail(conn, io::Error::from_raw_os_error(-r)),
        }
    }

    /// Reads what the socket holds (readiness path), then waits for readiness again.
    fn read_ready(&mut self, conn: &Conn) {
        let slot = conn.slot as usize;
        for _ in 0..READS_PER_WAKE {
            if !conn.st.borrow().wants_read() {
                return;
            }
            match recv_slice(conn.fd, &mut self.read_buf) {
                Ok(0) => {
                    self.on_eof(conn);
                    return;
                }
                Ok(n) => {
                    let proto = self.entries[slot].proto.as_mut();
                    call(conn, proto, Callback::DataReceived, |p| {
                        p.data_received(&self.read_buf[..n])
                    });
                    self.settle(conn.slot);
                    if n < self.read_buf.len() {
                        // Drained: any later arrival raises a new readiness edge.
                        self.arm(conn);
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.arm(conn);
                    return;
                }
                Err(e) => {
                    self.fail(conn, e);
                    return;
                }
            }
        }
        // More to read: after the others had their turn.
        self.retry.push(conn.slot);
    }

    fn start_reading(&mut self, slot: u32) {
        let Some(conn) = self.entries[slot as usize].conn.clone() else {
            return;
        };
        if self.ring.is_some() {
            self.arm(&conn);
        } else {
            self.read_ready(&conn);
        }
        self.settle(slot);
        self.try_free(slot);
    }

    /// Arms the receive (or the readiness wait) if the connection wants to read.
    fn arm(&mut self, conn: &Conn) {
        let mut st = conn.st.borrow_mut();
        if st.recv.is_some() || st.starved || !st.wants_read() {
            return;
        }
        let op = match &self.ring {
            Some(ring) => OpCode::RecvMulti {
                fd: conn.fd,
                group: ring.group(),
            },
            None => OpCode::PollIn { fd: conn.handle },
        };
        match sink_io::submit_plain(&self.shared.core, op, &self.shared.sink, conn.tag(READ)) {
            Ok(id) => st.recv = Some(id),
            Err(e) => {
                st.error = Some(e);
                drop(st);
                self.settle(conn.slot);
            }
        }
    }

    fn on_eof(&mut self, conn: &Conn) {
        let slot = conn.slot as usize;
        {
            let mut st = conn.st.borrow_mut();
            if st.read_eof || st.lost {
                return;
            }
            st.read_eof = true;
        }
        let proto = self.entries[slot].proto.as_mut();
        let keep_open = call(conn, proto, Callback::EofReceived, |p| p.eof_received());
        if keep_open != Some(true) {
            let mut st = conn.st.borrow_mut();
            st.closing = true;
        }
    }

    fn fail(&mut self, conn: &Conn, error: io::Error) {
        let mut st = conn.st.borrow_mut();
        if st.error.is_none() && !st.lost {
            st.error = Some(error);
        }
    }

    fn on_send(&mut self, conn: &Conn, result: i32) {
        let slot = conn.slot as usize;
        let mut st = conn.st.borrow_mut();
        let done = st.out.complete(result);
        if st.lost {
            return;
        }
        match done {
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINTR | libc::EAGAIN)) => {}
            Err(e) if e.raw_os_error() == Some(libc::ECANCELED) && st.aborted => return,
            Err(e) => {
                st.error.get_or_insert(e);
                return;
            }
            Ok(_) => {}
        }
        if st.aborted {
            return;
        }
        if st.out.remaining() == 0 && !st.pending.is_empty() {
            let ConnState { out, pending, .. } = &mut *st;
            out.swap_in(pending);
        }
        if st.out.remaining() > 0 {
            let tag = conn.tag(SEND);
            if let Err(e) = st
                .out
                .submit(&self.shared.core, conn.handle, &self.shared.sink, tag)
            {
                st.error = Some(e);
                return;
            }
        }
        if st.writing_paused && st.buffered() <= st.low {
            st.writing_paused = false;
            st.owe_pause = false;
            drop(st);
            let proto = self.entries[slot].proto.as_mut();
            call(conn, proto, Callback::ResumeWriting, |p| p.resume_writing());
        }
    }

    /// A transport was used outside the server's own handling: look at it.
    fn on_dirty(&mut self, slot: u32) {
        let Some(conn) = self.entries[slot as usize].conn.clone() else {
            return;
        };
        conn.st.borrow_mut().dirty = false;
        self.settle(slot);
        // Resumed reading: what arrived meanwhile first, then read again.
        let resume = {
            let st = conn.st.borrow();
            st.wants_read() && st.recv.is_none()
        };
        let entry = &mut self.entries[slot as usize];
        if conn.st.borrow().can_deliver() && !entry.stash.is_empty() {
            let mut stash = std::mem::take(&mut entry.stash);
            call(&conn, entry.proto.as_mut(), Callback::DataReceived, |p| {
                p.data_received(&stash)
            });
            stash.clear();
            let entry = &mut self.entries[slot as usize];
            if entry.stash.is_empty() {
                entry.stash = stash;
            }
            self.settle(slot);
        }
        let eof = {
            let st = conn.st.borrow();
            st.eof_pending && !st.reading_paused && !st.lost
        };
        if eof && self.entries[slot as usize].stash.is_empty() {
            conn.st.borrow_mut().eof_pending = false;
            self.on_eof(&conn);
            self.settle(slot);
        }
        if resume {
            self.start_reading(slot);
        }
        self.try_free(slot);
    }

    /// A starved receive to re-arm, or a reader with more to read.
    fn on_retry(&mut self, slot: u32) {
        let Some(conn) = self.entries[slot as usize].conn.clone() else {
            return;
        };
        conn.st.borrow_mut().starved = false;
        if conn.st.borrow().recv.is_none() {
            self.start_reading(slot);
        }
    }

    /// Pays what the protocol is owed and carries out closes: called after every
    /// callback, so a protocol is never re-entered.
    fn settle(&mut self, slot: u32) {
        let Some(conn) = self.entries[slot as usize].conn.clone() else {
            return;
        };
        loop {
            let mut st = conn.st.borrow_mut();
            if st.lost {
                return;
            }
            // A failed connection (an error, or a callback that panicked) is owed
            // nothing more than `connection_lost`.
            if let Some(e) = st.error.take() {
                drop(st);
                self.lose(&conn, Some(e));
                return;
            }
            if st.owe_pause {
                st.owe_pause = false;
                drop(st);
                let proto = self.entries[slot as usize].proto.as_mut();
                call(&conn, proto, Callback::PauseWriting, |p| p.pause_writing());
                continue;
            }
            if st.owe_resume {
                st.owe_resume = false;
                st.writing_paused = false;
                drop(st);
                let proto = self.entries[slot as usize].proto.as_mut();
                call(&conn, proto, Callback::ResumeWriting, |p| {
                    p.resume_writing()
                });
                continue;
            }
            if st.aborted || (st.closing && st.buffered() == 0 && !st.out.in_flight()) {
                drop(st);
                self.lose(&conn, None);
            }
            return;
        }
    }

    /// The connection is over: stop its operations and tell the protocol, once.
    fn lose(&mut self, conn: &Conn, error: Option<io::Error>) {
        let slot = conn.slot as usize;
        {
            let mut st = conn.st.borrow_mut();
            if st.lost {
                return;
            }
            st.lost = true;
            st.pending.clear();
            st.out.discard();
            st.out.cancel();
            if let Some(id) = st.recv {
                sink_io::cancel(&self.shared.core, id);
            }
        }
        let entry = &mut self.entries[slot];
        entry.stash.clear();
        if let Some(proto) = entry.proto.take() {
            retire(&self.shared.core, proto, error);
        }
    }

    /// Frees a lost connection's slot once the kernel gave back its operations, and
    /// closes its descriptor.
    fn try_free(&mut self, slot: u32) {
        let entry = &mut self.entries[slot as usize];
        let Some(conn) = &entry.conn else {
            return;
        };
        let fd = {
            let mut st = conn.st.borrow_mut();
            if !st.lost || st.recv.is_some() || st.out.in_flight() {
                return;
            }
            st.io.take()
        };
        if let Some(fd) = fd {
            close_soon(fd);
        }
        entry.conn = None;
        entry.generation = entry.generation.wrapping_add(1);
        self.free.push(slot);
        self.live -= 1;
    }

    /// Ends the server (it stopped, or is dropped): stops accepting and closes every
    /// connection. First the kernel's side of all of them — receives cancelled, sends
    /// handed to the driver, descriptors closed — with no user code in between; then each
    /// protocol still owed it hears `connection_lost(None)`, a panic there going no
    /// further. Idempotent.
    fn close_all(&mut self) {
        self.shared.in_poll.set(true);
        self.shared.sink.detach();
        // A multishot accept in flight is abandoned (the driver closes what it still
        // accepts), and connections it delivered and nobody took in are closed.
        self.acceptor = Acceptor::Single(None);
        self.backoff = None;
        for fd in self.accepted.drain(..).flatten() {
            close_soon(fd);
        }
        let core = self.shared.core.clone();
        let mut owed = Vec::new();
        for (slot, entry) in self.entries.iter_mut().enumerate() {
            let Some(conn) = entry.conn.take() else {
                continue;
            };
            let mut st = conn.st.borrow_mut();
            st.lost = true;
            st.pending.clear();
            if let Some(id) = st.recv.take() {
                sink_io::abandon_plain(&core, id);
            }
            // A send in flight: its buffer goes to the driver until the kernel is done.
            drop(std::mem::take(&mut st.out));
            if let Some(fd) = st.io.take() {
                close_soon(fd);
            }
            drop(st);
            entry.stash = Vec::new();
            entry.generation = entry.generation.wrapping_add(1);
            self.free.push(slot as u32);
            owed.extend(entry.proto.take());
        }
        self.live = 0;
        self.retry.clear();
        self.shared.dirty.borrow_mut().clear();
        // What completed meanwhile: dropped, its provided buffers back to the ring.
        let mut events = std::mem::take(&mut self.events);
        self.shared
            .sink
            .drain_into(&mut events, std::task::Waker::noop());
        // The drain registered a waker: forget it again.
        self.shared.sink.detach();
        for event in events.drain(..) {
            self.recycle(event.flags);
        }
        self.events = events;
        for proto in owed {
            retire(&core, proto, None);
        }
    }
}

impl<P: Protocol, F: FnMut() -> P> Drop for Server<P, F> {
    fn drop(&mut self) {
        self.close_all();
        if let Some(factory) = self.factory.take() {
            let _ = guarded(&self.shared.core, Callback::DropFactory, move || {
                drop(factory)
            });
        }
    }
}

/// Calls `f` on a connection's protocol, if it still has one, through [`guarded`]: a
/// panic fails the connection, which the next [`Server::settle`] loses with the panic as
/// its error. `None` when there was no protocol or it panicked.
fn call<P: Protocol, R>(
    conn: &Conn,
    proto: Option<&mut P>,
    callback: Callback,
    f: impl FnOnce(&mut P) -> R,
) -> Option<R> {
    let proto = proto?;
    match guarded(&conn.shared.core, callback, || f(proto)) {
        Ok(value) => Some(value),
        Err(error) => {
            let mut st = conn.st.borrow_mut();
            if !st.lost {
                st.error = Some(error);
            }
            None
        }
    }
}

/// Tells a protocol its connection is gone and lets go of it; a panic in either is
/// reported and goes no further.
fn retire<P: Protocol>(core: &Core, mut proto: P, error: Option<io::Error>) {
    let _ = guarded(core, Callback::ConnectionLost, || {
        proto.connection_lost(error)
    });
    let _ = guarded(core, Callback::DropProtocol, move || drop(proto));
}
