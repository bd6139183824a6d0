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
    /// The API serving the connections (`ringloop::net::serve`,
    /// `ringloop::net::create_connection`, ...), named in panics' reports.
    pub(super) what: &'static str,
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

    /// Bytes written and not yet taken by the kernel (0 once aborted: an abort drops
    /// them).
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
///
/// ```
/// use ringloop::net::{Protocol, TcpListener, TcpStream, Transport, create_server};
///
/// /// Greets each client, then hangs up.
/// struct Greeter;
///
/// impl Protocol for Greeter {
///     fn connection_made(&mut self, transport: Transport) {
///         transport.write(b"hello\n");
///         transport.close(); // once "hello" is sent
///     }
///     fn data_received(&mut self, _: &[u8]) {}
/// }
///
/// ringloop::run(async {
///     let server = create_server(TcpListener::bind("127.0.0.1:0")?, || Greeter);
///     let client = TcpStream::connect(server.local_addr()?).await?;
///     let (res, buf) = client.read_exact(Vec::with_capacity(6)).await;
///     res?;
///     assert_eq!(buf, b"hello\n");
///     assert_eq!(client.read(buf).await.0?, 0); // closed
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct Transport {
    pub(super) conn: Rc<Conn>,
}

impl Transport {
    /// Writes `data`: sent at once when nothing is queued, else appended to the write
    /// buffer and sent with the next send. Ignored once [`close`](Self::close) or
    /// [`abort`](Self::abort) was called. An error is reported through
    /// `connection_lost`.
    ///
    /// ```
    /// use ringloop::net::{Protocol, TcpListener, TcpStream, Transport, create_server};
    ///
    /// struct Echo(Option<Transport>);
    ///
    /// impl Protocol for Echo {
    ///     fn connection_made(&mut self, transport: Transport) {
    ///         self.0 = Some(transport);
    ///     }
    ///     fn data_received(&mut self, data: &[u8]) {
    ///         self.0.as_ref().unwrap().write(data); // copied out before this returns
    ///     }
    /// }
    ///
    /// ringloop::run(async {
    ///     let server = create_server(TcpListener::bind("127.0.0.1:0")?, || Echo(None));
    ///     let client = TcpStream::connect(server.local_addr()?).await?;
    ///     client.write_all(b"marco").await.0?;
    ///     let (res, buf) = client.read_exact(Vec::with_capacity(5)).await;
    ///     res?;
    ///     assert_eq!(buf, b"marco");
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
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

    /// Stops `data_received` calls until [`resume_reading`](Self::resume_reading): the
    /// data waits in the socket, and a client that keeps sending is slowed down by TCP.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ringloop::net::{Protocol, TcpListener, TcpStream, Transport, create_server};
    ///
    /// /// Serves one request at a time: no more reads while a reply is being worked out.
    /// struct OneAtATime(Option<Transport>);
    ///
    /// impl Protocol for OneAtATime {
    ///     fn connection_made(&mut self, transport: Transport) {
    ///         self.0 = Some(transport);
    ///     }
    ///     fn data_received(&mut self, request: &[u8]) {
    ///         let transport = self.0.clone().unwrap();
    ///         transport.pause_reading();
    ///         let reply = request.to_ascii_uppercase();
    ///         ringloop::spawn(async move {
    ///             ringloop::sleep(Duration::from_millis(1)).await; // the work
    ///             transport.write(&reply);
    ///             transport.resume_reading();
    ///         });
    ///     }
    /// }
    ///
    /// ringloop::run(async {
    ///     let server = create_server(TcpListener::bind("127.0.0.1:0")?, || OneAtATime(None));
    ///     let client = TcpStream::connect(server.local_addr()?).await?;
    ///     client.write_all(b"slow").await.0?;
    ///     let (res, buf) = client.read_exact(Vec::with_capacity(4)).await;
    ///     res?;
    ///     assert_eq!(buf, b"SLOW");
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn pause_reading(&self) {
        let mut io = self.conn.io.borrow_mut();
        let effect = io.state.pause_reading();
        self.conn.apply(&mut io, effect);
    }

    /// Resumes `data_received` calls (what arrived meanwhile comes first).
    ///
    /// ```
    /// use std::time::Duration;
    /// use ringloop::net::{Protocol, TcpListener, TcpStream, Transport, create_server};
    ///
    /// /// Reads nothing for the first 5 ms of a connection (say, while a cache warms up).
    /// struct Warming(Vec<u8>, Option<Transport>);
    ///
    /// impl Protocol for Warming {
    ///     fn connection_made(&mut self, transport: Transport) {
    ///         transport.pause_reading();
    ///         let later = transport.clone();
    ///         ringloop::call_later(Duration::from_millis(5), move || later.resume_reading());
    ///         self.1 = Some(transport);
    ///     }
    ///     fn data_received(&mut self, data: &[u8]) {
    ///         self.0.extend_from_slice(data);
    ///         if self.0.ends_with(b"\n") {
    ///             self.1.as_ref().unwrap().write(&self.0);
    ///         }
    ///     }
    /// }
    ///
    /// ringloop::run(async {
    ///     let server = create_server(TcpListener::bind("127.0.0.1:0")?, || Warming(Vec::new(), None));
    ///     let client = TcpStream::connect(server.local_addr()?).await?;
    ///     client.write_all(b"sent early\n").await.0?; // waits in the socket, not lost
    ///     let (res, buf) = client.read_exact(Vec::with_capacity(11)).await;
    ///     res?;
    ///     assert_eq!(buf, b"sent early\n");
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn resume_reading(&self) {
        let mut io = self.conn.io.borrow_mut();
        let effect = io.state.resume_reading();
        self.conn.apply(&mut io, effect);
    }

    /// Whether reading is on (not paused, not closed).
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use std::rc::Rc;
    /// use ringloop::net::{Protocol, TcpListener, TcpStream, Transport, create_server};
    ///
    /// struct Watch(Rc<RefCell<Vec<bool>>>);
    ///
    /// impl Protocol for Watch {
    ///     fn connection_made(&mut self, transport: Transport) {
    ///         let mut seen = self.0.borrow_mut();
    ///         seen.push(transport.is_reading());
    ///         transport.pause_reading();
    ///         seen.push(transport.is_reading());
    ///         transport.close();
    ///         seen.push(transport.is_reading());
    ///     }
    ///     fn data_received(&mut self, _: &[u8]) {}
    /// }
    ///
    /// ringloop::run(async {
    ///     let seen = Rc::new(RefCell::new(Vec::new()));
    ///     let factory = { let seen = seen.clone(); move || Watch(seen.clone()) };
    ///     let server = create_server(TcpListener::bind("127.0.0.1:0")?, factory);
    ///     let client = TcpStream::connect(server.local_addr()?).await?;
    ///     assert_eq!(client.read(Vec::with_capacity(8)).await.0?, 0); // closed by the server
    ///     assert_eq!(*seen.borrow(), [true, false, false]);
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_reading(&self) -> bool {
        self.conn.io.borrow().state.wants_read()
    }

    /// Sets the write buffer's water marks: `pause_writing` above `high` bytes,
    /// `resume_writing` back at `low` (clamped to `high`). asyncio's default is 64 KiB
    /// and a quarter of it. The arguments come in asyncio's order, high first;
    /// [`get_write_buffer_limits`](Self::get_write_buffer_limits) answers with named
    /// fields (asyncio's tuple is `(low, high)`, the other way round).
    ///
    /// ```
    /// use ringloop::net::{Protocol, TcpListener, TcpStream, Transport, create_server};
    ///
    /// struct Bulk;
    ///
    /// impl Protocol for Bulk {
    ///     fn connection_made(&mut self, transport: Transport) {
    ///         // Big replies to fast clients: pause producing only above 1 MiB unsent.
    ///         transport.set_write_buffer_limits(1 << 20, 256 << 10);
    ///         let limits = transport.get_write_buffer_limits();
    ///         assert_eq!((limits.high, limits.low), (1 << 20, 256 << 10));
    ///         transport.close();
    ///     }
    ///     fn data_received(&mut self, _: &[u8]) {}
    /// }
    ///
    /// ringloop::run(async {
    ///     let server = create_server(TcpListener::bind("127.0.0.1:0")?, || Bulk);
    ///     let client = TcpStream::connect(server.local_addr()?).await?;
    ///     assert_eq!(client.read(Vec::with_capacity(8)).await.0?, 0);
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_write_buffer_limits(&self, high: usize, low: usize) {
        let mut io = self.conn.io.borrow_mut();
        let buffered = io.buffered();
        let effect = io.state.set_limits(high, low, buffered);
        self.conn.apply(&mut io, effect);
    }

    /// The write buffer's water marks (asyncio's `get_write_buffer_limits()`, with the
    /// two named instead of a `(low, high)` tuple).
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    /// use ringloop::net::{Protocol, TcpListener, TcpStream, Transport, create_server};
    ///
    /// use ringloop::net::WriteBufferLimits;
    ///
    /// struct Limits(Rc<Cell<Option<WriteBufferLimits>>>);
    ///
    /// impl Protocol for Limits {
    ///     fn connection_made(&mut self, transport: Transport) {
    ///         self.0.set(Some(transport.get_write_buffer_limits()));
    ///         transport.close();
    ///     }
    ///     fn data_received(&mut self, _: &[u8]) {}
    /// }
    ///
    /// ringloop::run(async {
    ///     let limits = Rc::new(Cell::new(None));
    ///     let factory = { let limits = limits.clone(); move || Limits(limits.clone()) };
    ///     let server = create_server(TcpListener::bind("127.0.0.1:0")?, factory);
    ///     let client = TcpStream::connect(server.local_addr()?).await?;
    ///     assert_eq!(client.read(Vec::with_capacity(8)).await.0?, 0);
    ///     let limits = limits.get().unwrap();
    ///     assert_eq!((limits.high, limits.low), (64 * 1024, 16 * 1024)); // asyncio's defaults
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn get_write_buffer_limits(&self) -> WriteBufferLimits {
        let (low, high) = self.conn.io.borrow().state.limits();
        WriteBufferLimits { high, low }
    }

    /// Bytes written and not yet taken by the kernel (0 once aborted: an abort drops
    /// them).
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    /// use ringloop::net::{Protocol, TcpListener, TcpStream, Transport, create_server};
    ///
    /// /// Sends a large blob to a client that does not read, and notes what waits to be sent.
    /// struct Blob(Rc<Cell<usize>>);
    ///
    /// impl Protocol for Blob {
    ///     fn connection_made(&mut self, transport: Transport) {
    ///         transport.write(&vec![b'x'; 16 << 20]); // 16 MiB: more than the socket takes
    ///         self.0.set(transport.get_write_buffer_size());
    ///     }
    ///     fn data_received(&mut self, _: &[u8]) {}
    /// }
    ///
    /// ringloop::run(async {
    ///     let waiting = Rc::new(Cell::new(0));
    ///     let factory = { let waiting = waiting.clone(); move || Blob(waiting.clone()) };
    ///     let server = create_server(TcpListener::bind("127.0.0.1:0")?, factory);
    ///     let _client = TcpStream::connect(server.local_addr()?).await?;
    ///     while waiting.get() == 0 {
    ///         ringloop::sleep(std::time::Duration::from_millis(1)).await;
    ///     }
    ///     assert!(waiting.get() < 16 << 20); // some was sent at once, the rest waits
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn get_write_buffer_size(&self) -> usize {
        let io = self.conn.io.borrow();
        // Aborted, or gone: nothing is waiting to be written any more (as asyncio's
        // abort drops the buffer), even while a send's completion is still due.
        if io
            .state
            .flags()
            .has(super::state::Flags::ABORTED | super::state::Flags::LOST)
        {
            return 0;
        }
        io.buffered()
    }

    /// Closes the connection once the write buffer is flushed; no more data is received.
    /// `connection_lost(None)` follows.
    ///
    /// ```
    /// use ringloop::net::{Protocol, TcpListener, TcpStream, Transport, create_server};
    ///
    /// /// Answers one line, then closes: what was written is still sent.
    /// struct OneShot(Option<Transport>);
    ///
    /// impl Protocol for OneShot {
    ///     fn connection_made(&mut self, transport: Transport) {
    ///         self.0 = Some(transport);
    ///     }
    ///     fn data_received(&mut self, _: &[u8]) {
    ///         let transport = self.0.as_ref().unwrap();
    ///         transport.write(b"bye\n");
    ///         transport.close();
    ///     }
    /// }
    ///
    /// ringloop::run(async {
    ///     let server = create_server(TcpListener::bind("127.0.0.1:0")?, || OneShot(None));
    ///     let client = TcpStream::connect(server.local_addr()?).await?;
    ///     client.write_all(b"quit\n").await.0?;
    ///     let (res, buf) = client.read_exact(Vec::with_capacity(4)).await;
    ///     res?;
    ///     assert_eq!(buf, b"bye\n");
    ///     assert_eq!(client.read(buf).await.0?, 0); // then end-of-file
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn close(&self) {
        let mut io = self.conn.io.borrow_mut();
        let effect = io.state.close();
        self.conn.apply(&mut io, effect);
    }

    /// Whether the connection is closing or closed.
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use std::rc::Rc;
    /// use ringloop::net::{Protocol, TcpListener, TcpStream, Transport, create_server};
    ///
    /// struct Closer(Rc<RefCell<Vec<bool>>>);
    ///
    /// impl Protocol for Closer {
    ///     fn connection_made(&mut self, transport: Transport) {
    ///         self.0.borrow_mut().push(transport.is_closing());
    ///         transport.close();
    ///         self.0.borrow_mut().push(transport.is_closing());
    ///         transport.write(b"ignored"); // too late: writes after close are dropped
    ///     }
    ///     fn data_received(&mut self, _: &[u8]) {}
    /// }
    ///
    /// ringloop::run(async {
    ///     let seen = Rc::new(RefCell::new(Vec::new()));
    ///     let factory = { let seen = seen.clone(); move || Closer(seen.clone()) };
    ///     let server = create_server(TcpListener::bind("127.0.0.1:0")?, factory);
    ///     let client = TcpStream::connect(server.local_addr()?).await?;
    ///     assert_eq!(client.read(Vec::with_capacity(16)).await.0?, 0);
    ///     assert_eq!(*seen.borrow(), [false, true]);
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_closing(&self) -> bool {
        self.conn.io.borrow().state.is_closing()
    }

    /// Closes the connection at once, dropping what was not sent.
    /// `connection_lost(None)` follows.
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    /// use ringloop::net::{Protocol, TcpListener, TcpStream, Transport, create_server};
    ///
    /// /// Drops a client that sends something it should not, without flushing anything.
    /// struct Strict(Option<Transport>, Rc<Cell<bool>>);
    ///
    /// impl Protocol for Strict {
    ///     fn connection_made(&mut self, transport: Transport) {
    ///         self.0 = Some(transport);
    ///     }
    ///     fn data_received(&mut self, data: &[u8]) {
    ///         if data.starts_with(b"EVIL") {
    ///             self.0.as_ref().unwrap().abort();
    ///         }
    ///     }
    ///     fn connection_lost(&mut self, error: Option<std::io::Error>) {
    ///         self.1.set(error.is_none());
    ///     }
    /// }
    ///
    /// ringloop::run(async {
    ///     let lost_cleanly = Rc::new(Cell::new(false));
    ///     let factory = { let l = lost_cleanly.clone(); move || Strict(None, l.clone()) };
    ///     let server = create_server(TcpListener::bind("127.0.0.1:0")?, factory);
    ///     let client = TcpStream::connect(server.local_addr()?).await?;
    ///     client.write_all(b"EVIL").await.0?;
    ///     // The connection is gone: end-of-file or a reset, never data.
    ///     let (res, _) = client.read(Vec::with_capacity(16)).await;
    ///     assert!(matches!(res, Ok(0) | Err(_)));
    ///     while !lost_cleanly.get() {
    ///         ringloop::sleep(std::time::Duration::from_millis(1)).await;
    ///     }
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn abort(&self) {
        let mut io = self.conn.io.borrow_mut();
        let effect = io.state.abort();
        self.conn.apply(&mut io, effect);
    }

    /// The peer's address (`NotConnected` once the connection is gone).
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::net::SocketAddr;
    /// use std::rc::Rc;
    /// use ringloop::net::{Protocol, TcpListener, TcpStream, Transport, create_server};
    ///
    /// /// Logs who connected.
    /// struct Log(Rc<Cell<Option<SocketAddr>>>);
    ///
    /// impl Protocol for Log {
    ///     fn connection_made(&mut self, transport: Transport) {
    ///         self.0.set(transport.peer_addr().ok());
    ///         transport.close();
    ///     }
    ///     fn data_received(&mut self, _: &[u8]) {}
    /// }
    ///
    /// ringloop::run(async {
    ///     let peer = Rc::new(Cell::new(None));
    ///     let factory = { let peer = peer.clone(); move || Log(peer.clone()) };
    ///     let server = create_server(TcpListener::bind("127.0.0.1:0")?, factory);
    ///     let client = TcpStream::connect(server.local_addr()?).await?;
    ///     assert_eq!(client.read(Vec::with_capacity(8)).await.0?, 0);
    ///     assert_eq!(peer.get(), Some(client.local_addr()?));
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
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

/// A transport's write-buffer water marks, from
/// [`Transport::get_write_buffer_limits`]: writing pauses above `high` buffered bytes
/// and resumes at `low`.
///
/// ```
/// let limits = ringloop::net::WriteBufferLimits { high: 64 * 1024, low: 16 * 1024 };
/// assert!(limits.low <= limits.high);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteBufferLimits {
    /// Above this many buffered bytes the protocol's `pause_writing` is called.
    pub high: usize,
    /// At or below this many, after a pause, `resume_writing` is called.
    pub low: usize,
}
