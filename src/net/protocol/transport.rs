//! The transport: a protocol's handle on its connection, the write path and its
//! back-pressure, and what a connection shares with its server.
//!
//! # Ground rules
//!
//! - A [`Transport`] never calls user code: what a call owes the protocol is recorded in
//!   the connection's [state](super::state) and paid by the server, which a transport
//!   wakes through [`Conn::notify`] (the connection's slot on the shared dirty list).
//! - A transport call carries out its transition's [`Effect`] through [`Conn::apply`],
//!   the one place that cancels a receive or drops what was not sent on a transport's
//!   behalf.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io;
use std::os::fd::{OwnedFd, RawFd};
use std::rc::Rc;

use super::state::{ConnState, Effect, Flags};
use crate::driver::fd::Fd;
use crate::driver::handle::DriverHandle;
use crate::driver::op::OpId;
use crate::driver::sink::Sink;
use crate::driver::sink_io::{self, SendBuf};
use crate::event_loop::Core;
use crate::sys::net::send_slice;

/// What a server shares with its transports.
pub(super) struct Shared {
    pub(super) core: Rc<Core>,
    /// The loop's driver handle, which the server's operations go to.
    pub(super) io: Rc<DriverHandle>,
    pub(super) sink: Rc<Sink>,
    /// Connection slots whose transport was used and that the server must look at.
    pub(super) dirty: RefCell<Vec<u32>>,
    /// The server is running (callbacks included): no need to wake it.
    pub(super) in_poll: Cell<bool>,
    /// A write with nothing queued tries `send(2)` at once; what it leaves goes out as an
    /// SQE (io_uring) or on writability (epoll). Always on epoll; on io_uring unless
    /// [`Builder::try_first_io`](crate::Builder::try_first_io) turned it off, in which case
    /// writes go out as SQEs batched into the loop's next `io_uring_enter`.
    pub(super) try_send: bool,
}

/// One connection, as its transport sees it.
pub(super) struct Conn {
    pub(super) shared: Rc<Shared>,
    pub(super) slot: u32,
    pub(super) generation: u32,
    pub(super) fd: RawFd,
    /// `fd` with this connection's identity, for operations.
    pub(super) handle: Fd,
    pub(super) io: RefCell<ConnIo>,
}

/// Event kinds, in a tag's low bit.
pub(super) const READ: u64 = 0;
pub(super) const SEND: u64 = 1;

/// The tag of a connection's operation: generation, slot and kind.
fn tag(slot: u32, generation: u32, kind: u64) -> u64 {
    (u64::from(generation) << 32) | (u64::from(slot) << 1) | kind
}

/// A tag's slot, generation and kind.
pub(super) fn untag(tag: u64) -> (u32, u32, u64) {
    (((tag as u32) >> 1), (tag >> 32) as u32, tag & 1)
}

impl Conn {
    /// The tag of this connection's operation of `kind`.
    pub(super) fn tag(&self, kind: u64) -> u64 {
        tag(self.slot, self.generation, kind)
    }

    /// Wakes the server to look at this connection (once until it did).
    pub(super) fn notify(&self, io: &mut ConnIo) {
        if io.state.mark() {
            self.shared.dirty.borrow_mut().push(self.slot);
            if !self.shared.in_poll.get()
                && let Some(waker) = self.shared.sink.notify()
            {
                waker.wake();
            }
        }
    }

    /// Carries out what a transport call's transition left to do.
    fn apply(&self, io: &mut ConnIo, effect: Effect) {
        let driver = &self.shared.io;
        match effect {
            Effect::None => {}
            Effect::Notify => self.notify(io),
            Effect::CancelRecv => io.cancel_recv(driver),
            Effect::Close => {
                io.cancel_recv(driver);
                self.notify(io);
            }
            Effect::Abort => {
                io.drop_io(driver);
                self.notify(io);
            }
        }
    }
}

/// A connection's state and what it holds of the kernel's: the descriptor, the write
/// buffers, the armed receive.
pub(super) struct ConnIo {
    pub(super) state: ConnState,
    /// The descriptor, until every operation on it completed.
    pub(super) fd: Option<OwnedFd>,
    /// The bytes being sent (or about to be), while a send is in flight the driver's.
    pub(super) out: SendBuf,
    /// Writes made while a send is in flight; they leave with the next one.
    pub(super) pending: Vec<u8>,
    /// The armed receive (multishot) or readiness wait.
    pub(super) recv: Option<OpId>,
}

impl ConnIo {
    /// A connection just accepted on `fd`.
    pub(super) fn new(fd: OwnedFd) -> ConnIo {
        ConnIo {
            state: ConnState::new(),
            fd: Some(fd),
            out: SendBuf::new(),
            pending: Vec::new(),
            recv: None,
        }
    }

    /// Bytes written and not yet taken by the kernel.
    pub(super) fn buffered(&self) -> usize {
        self.out.remaining() + self.pending.len()
    }

    /// Nothing is buffered and no send is in flight.
    pub(super) fn flushed(&self) -> bool {
        self.buffered() == 0 && !self.out.in_flight()
    }

    /// Cancels the armed receive, if any (its completion still arrives).
    fn cancel_recv(&self, driver: &DriverHandle) {
        if let Some(id) = self.recv {
            sink_io::cancel(driver, id);
        }
    }

    /// An abort's rule, and a loss's: what was not sent is dropped, the send in flight
    /// and the armed receive are cancelled (their completions still arrive).
    pub(super) fn drop_io(&mut self, driver: &DriverHandle) {
        self.pending.clear();
        self.out.discard();
        self.out.cancel();
        self.cancel_recv(driver);
    }
}

/// The handle a protocol writes through and controls its connection with: cheap to
/// clone, bound to the loop's thread. Every method is a no-op once the connection is
/// lost.
#[derive(Clone)]
pub struct Transport {
    pub(super) conn: Rc<Conn>,
}

impl Transport {
    /// Writes `data`: sent at once when nothing is queued, else appended to the write
    /// buffer and sent with the next send. Ignored once [`close`](Self::close) or
    /// [`abort`](Self::abort) was called. An error is reported through
    /// `connection_lost`.
    pub fn write(&self, data: &[u8]) {
        let conn = &*self.conn;
        let mut io = conn.io.borrow_mut();
        if data.is_empty() || !io.state.accepts_writes() {
            return;
        }
        let mut rest = data;
        if !io.out.in_flight() && io.out.remaining() == 0 {
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
                    let effect = io.state.write_failed(e);
                    conn.apply(&mut io, effect);
                    return;
                }
            }
            io.out
                .buf_mut()
                .expect("no send in flight")
                .extend_from_slice(rest);
            let tag = conn.tag(SEND);
            if let Err(e) = io
                .out
                .submit(&conn.shared.io, conn.handle, &conn.shared.sink, tag)
            {
                let effect = io.state.write_failed(e);
                conn.apply(&mut io, effect);
                return;
            }
        } else {
            io.pending.extend_from_slice(rest);
        }
        let buffered = io.buffered();
        let effect = io.state.wrote(buffered);
        conn.apply(&mut io, effect);
    }

    /// Stops `data_received` calls until [`resume_reading`](Self::resume_reading).
    pub fn pause_reading(&self) {
        let mut io = self.conn.io.borrow_mut();
        let effect = io.state.pause_reading();
        self.conn.apply(&mut io, effect);
    }

    /// Resumes `data_received` calls (what arrived meanwhile comes first).
    pub fn resume_reading(&self) {
        let mut io = self.conn.io.borrow_mut();
        let effect = io.state.resume_reading();
        self.conn.apply(&mut io, effect);
    }

    /// Whether reading is on (not paused, not closed).
    pub fn is_reading(&self) -> bool {
        self.conn.io.borrow().state.wants_read()
    }

    /// Sets the write buffer's water marks: `pause_writing` above `high` bytes,
    /// `resume_writing` back at `low` (clamped to `high`). asyncio's default is 64 KiB
    /// and a quarter of it.
    pub fn set_write_buffer_limits(&self, high: usize, low: usize) {
        let mut io = self.conn.io.borrow_mut();
        let buffered = io.buffered();
        let effect = io.state.set_limits(high, low, buffered);
        self.conn.apply(&mut io, effect);
    }

    /// The write buffer's water marks, `(low, high)`.
    pub fn get_write_buffer_limits(&self) -> (usize, usize) {
        self.conn.io.borrow().state.limits()
    }

    /// Bytes written and not yet taken by the kernel.
    pub fn get_write_buffer_size(&self) -> usize {
        self.conn.io.borrow().buffered()
    }

    /// Closes the connection once the write buffer is flushed; no more data is received.
    /// `connection_lost(None)` follows.
    pub fn close(&self) {
        let mut io = self.conn.io.borrow_mut();
        let effect = io.state.close();
        self.conn.apply(&mut io, effect);
    }

    /// Whether the connection is closing or closed.
    pub fn is_closing(&self) -> bool {
        self.conn.io.borrow().state.is_closing()
    }

    /// Closes the connection at once, dropping what was not sent.
    /// `connection_lost(None)` follows.
    pub fn abort(&self) {
        let mut io = self.conn.io.borrow_mut();
        let effect = io.state.abort();
        self.conn.apply(&mut io, effect);
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<std::net::SocketAddr> {
        let io = self.conn.io.borrow();
        match &io.fd {
            Some(fd) => crate::sys::net::peer_addr(fd),
            None => Err(io::Error::from_raw_os_error(libc::ENOTCONN)),
        }
    }
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let io = self.conn.io.borrow();
        f.debug_struct("Transport")
            .field("fd", &self.conn.fd)
            .field("buffered", &io.buffered())
            .field(
                "closing",
                &io.state.flags().has(Flags::CLOSING | Flags::ABORTED),
            )
            .field("lost", &io.state.is_lost())
            .finish()
    }
}
