//! [`DatagramTransport`], a datagram protocol's handle on its endpoint, and the
//! [`Endpoint`] state it shares with the endpoint's engine (`datagram.rs`).
//!
//! # Ground rules
//!
//! - A transport never calls user code: a send that fails at once records its error
//!   here, and the engine, woken, hands it to `error_received`.
//! - A send goes out at once (`sendto(2)` on the nonblocking socket) when nothing is
//!   queued; what the socket does not take waits in the queue, in order, and the engine
//!   sends it.
//! - Once the endpoint is lost its descriptor is not used any more (the engine closes
//!   it right after), and every transport call is a no-op.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::rc::Rc;
use std::task::Waker;

use crate::net::UdpSocket;
use crate::sys::net::{SockAddr, send_slice, send_to_slice};

/// What an endpoint's engine shares with its transports.
pub(super) struct Endpoint {
    /// The socket's descriptor; used only while the endpoint is not lost.
    fd: RawFd,
    local_addr: SocketAddr,
    peer_addr: Option<SocketAddr>,
    pub(super) state: RefCell<EndpointState>,
    /// Wakes the engine (registered at each of its turns).
    engine: RefCell<Option<Waker>>,
}

/// An endpoint's state.
#[derive(Default)]
pub(super) struct EndpointState {
    /// `close()`: nothing more is received or queued; lost once the queue is sent.
    pub(super) closing: bool,
    /// `abort()` (or `connection_made` panicked): lost at once, the queue dropped.
    pub(super) aborted: bool,
    /// `connection_lost` was called (or is being): the descriptor is closed or about to be.
    lost: bool,
    /// The error the endpoint is lost with (`connection_made` panicked).
    pub(super) fatal: Option<io::Error>,
    /// Datagrams the socket did not take at once, with their destination (`None`: the
    /// connected peer).
    pub(super) queue: VecDeque<(Vec<u8>, Option<SocketAddr>)>,
    /// Bytes queued or in flight.
    buffered: usize,
    /// Errors of sends made at once, owed to `error_received`.
    errors: VecDeque<io::Error>,
}

impl Endpoint {
    pub(super) fn new(socket: &UdpSocket, peer_addr: Option<SocketAddr>) -> io::Result<Endpoint> {
        Ok(Endpoint {
            fd: socket.as_raw_fd(),
            local_addr: socket.local_addr()?,
            peer_addr,
            state: RefCell::new(EndpointState::default()),
            engine: RefCell::new(None),
        })
    }

    /// The engine is polled: remember how to wake it.
    pub(super) fn register(&self, waker: &Waker) {
        let mut engine = self.engine.borrow_mut();
        match &*engine {
            Some(w) if w.will_wake(waker) => {}
            _ => *engine = Some(waker.clone()),
        }
    }

    fn wake(&self) {
        // The borrow ends before the wake.
        let waker = self.engine.borrow().clone();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Sends `data` to `to` (the connected peer for `None`): at once when nothing is
    /// queued, else after what is.
    fn send(&self, data: &[u8], to: Option<SocketAddr>) {
        let mut state = self.state.borrow_mut();
        if state.closing || state.aborted || state.lost {
            return;
        }
        if state.queue.is_empty() {
            let sent = match to {
                Some(to) => send_to_slice(self.fd, data, &SockAddr::from_inet(to)),
                None => send_slice(self.fd, data),
            };
            match sent {
                Ok(_) => return,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => {
                    state.errors.push_back(e);
                    drop(state);
                    self.wake();
                    return;
                }
            }
        }
        state.buffered += data.len();
        state.queue.push_back((data.to_vec(), to));
        drop(state);
        self.wake();
    }

    /// The next queued datagram for the engine to send.
    pub(super) fn next_send(&self) -> Option<(Vec<u8>, Option<SocketAddr>)> {
        self.state.borrow_mut().queue.pop_front()
    }

    /// The engine's send of `len` bytes completed.
    pub(super) fn sent(&self, len: usize) {
        let mut state = self.state.borrow_mut();
        state.buffered = state.buffered.saturating_sub(len);
    }

    /// An error owed to `error_received`.
    pub(super) fn take_error(&self) -> Option<io::Error> {
        self.state.borrow_mut().errors.pop_front()
    }

    pub(super) fn is_closing(&self) -> bool {
        let state = self.state.borrow();
        state.closing || state.aborted || state.lost
    }

    /// Aborts the endpoint with `error` as what it is lost with.
    pub(super) fn abort_with(&self, error: io::Error) {
        let mut state = self.state.borrow_mut();
        state.aborted = true;
        state.fatal.get_or_insert(error);
        state.queue.clear();
        state.buffered = 0;
        drop(state);
        self.wake();
    }

    /// The endpoint is lost: nothing is sent or owed any more, and the engine is not to
    /// be woken.
    pub(super) fn lost(&self) {
        let mut state = self.state.borrow_mut();
        state.lost = true;
        state.queue.clear();
        state.buffered = 0;
        state.errors.clear();
        drop(state);
        let waker = self.engine.borrow_mut().take();
        drop(waker);
    }
}

/// The handle a [`DatagramProtocol`](super::DatagramProtocol) sends through and closes
/// its endpoint with (asyncio's `DatagramTransport`): cheap to clone, bound to the
/// loop's thread. Every method is a no-op once the endpoint is closing or closed.
///
/// ```
/// use std::net::SocketAddr;
/// use ringloop::net::{DatagramProtocol, DatagramTransport, UdpSocket, create_datagram_endpoint};
///
/// /// Announces itself to a collector when it starts.
/// #[derive(Clone)]
/// struct Announce(SocketAddr);
///
/// impl DatagramProtocol for Announce {
///     fn connection_made(&mut self, transport: DatagramTransport) {
///         transport.send_to(b"up", self.0);
///     }
///     fn datagram_received(&mut self, _: &[u8], _: SocketAddr) {}
/// }
///
/// ringloop::run(async {
///     let collector = UdpSocket::bind("127.0.0.1:0")?;
///     let to = collector.local_addr()?;
///     let local: SocketAddr = "127.0.0.1:0".parse().unwrap();
///     let (transport, _) = create_datagram_endpoint(move || Announce(to), local, None).await?;
///     let (got, buf) = collector.recv_from(Vec::with_capacity(16)).await;
///     let (n, from) = got?;
///     assert_eq!((&buf[..n], from), (&b"up"[..], transport.local_addr()?));
///     transport.close();
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct DatagramTransport {
    pub(super) endpoint: Rc<Endpoint>,
}

impl DatagramTransport {
    /// Sends `data` as one datagram to `addr` (asyncio's `sendto(data, addr)`): at once
    /// when nothing is queued, else after what is (the data is copied). A failure
    /// reaches the protocol's `error_received`.
    ///
    /// # Panics
    ///
    /// On an endpoint created with a `remote_addr`, when `addr` is another address
    /// (asyncio raises `ValueError` there): a connected endpoint sends only to its peer.
    ///
    /// ```
    /// use std::net::SocketAddr;
    /// use ringloop::net::{DatagramProtocol, DatagramTransport, UdpSocket, create_datagram_endpoint};
    ///
    /// #[derive(Clone)]
    /// struct Quiet;
    ///
    /// impl DatagramProtocol for Quiet {
    ///     fn connection_made(&mut self, _: DatagramTransport) {}
    ///     fn datagram_received(&mut self, _: &[u8], _: SocketAddr) {}
    /// }
    ///
    /// ringloop::run(async {
    ///     let peer = UdpSocket::bind("127.0.0.1:0")?;
    ///     let local: SocketAddr = "127.0.0.1:0".parse().unwrap();
    ///     let (transport, _) = create_datagram_endpoint(|| Quiet, local, None).await?;
    ///     transport.send_to(b"one", peer.local_addr()?);
    ///     let (got, buf) = peer.recv_from(Vec::with_capacity(16)).await;
    ///     assert_eq!(&buf[..got?.0], b"one");
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn send_to(&self, data: &[u8], addr: SocketAddr) {
        if let Some(peer) = self.endpoint.peer_addr
            && peer != addr
        {
            panic!(
                "DatagramTransport::send_to({addr}) on an endpoint connected to {peer}: a \
                 connected endpoint sends only to its peer; use send(data), or create the \
                 endpoint without a remote address to send anywhere"
            );
        }
        self.endpoint.send(data, Some(addr));
    }

    /// Sends `data` as one datagram to the connected peer (the endpoint's
    /// `remote_addr`; asyncio's `sendto(data)`). On an endpoint with no remote address
    /// the failure (`EDESTADDRREQ`) reaches `error_received`.
    ///
    /// ```
    /// use std::net::SocketAddr;
    /// use ringloop::net::{DatagramProtocol, DatagramTransport, UdpSocket, create_datagram_endpoint};
    ///
    /// #[derive(Clone)]
    /// struct Quiet;
    ///
    /// impl DatagramProtocol for Quiet {
    ///     fn connection_made(&mut self, _: DatagramTransport) {}
    ///     fn datagram_received(&mut self, _: &[u8], _: SocketAddr) {}
    /// }
    ///
    /// ringloop::run(async {
    ///     let peer = UdpSocket::bind("127.0.0.1:0")?;
    ///     let (transport, _) = create_datagram_endpoint(|| Quiet, None, peer.local_addr()?).await?;
    ///     transport.send(b"to the peer");
    ///     let (got, buf) = peer.recv_from(Vec::with_capacity(16)).await;
    ///     assert_eq!(&buf[..got?.0], b"to the peer");
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn send(&self, data: &[u8]) {
        self.endpoint.send(data, None);
    }

    /// Closes the endpoint once what is queued is sent; nothing more is received.
    /// `connection_lost(None)` follows.
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::net::SocketAddr;
    /// use std::rc::Rc;
    /// use ringloop::net::{DatagramProtocol, DatagramTransport, create_datagram_endpoint};
    ///
    /// #[derive(Clone, Default)]
    /// struct Ends(Rc<Cell<bool>>);
    ///
    /// impl DatagramProtocol for Ends {
    ///     fn connection_made(&mut self, _: DatagramTransport) {}
    ///     fn datagram_received(&mut self, _: &[u8], _: SocketAddr) {}
    ///     fn connection_lost(&mut self, error: Option<std::io::Error>) {
    ///         assert!(error.is_none());
    ///         self.0.set(true);
    ///     }
    /// }
    ///
    /// ringloop::run(async {
    ///     let local: SocketAddr = "127.0.0.1:0".parse().unwrap();
    ///     let (transport, ends) = create_datagram_endpoint(Ends::default, local, None).await?;
    ///     transport.close();
    ///     assert!(transport.is_closing());
    ///     while !ends.0.get() {
    ///         ringloop::sleep(std::time::Duration::from_millis(1)).await;
    ///     }
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn close(&self) {
        let mut state = self.endpoint.state.borrow_mut();
        if state.closing || state.aborted || state.lost {
            return;
        }
        state.closing = true;
        drop(state);
        self.endpoint.wake();
    }

    /// Closes the endpoint at once, dropping what was queued. `connection_lost(None)`
    /// follows.
    ///
    /// ```
    /// use std::net::SocketAddr;
    /// use ringloop::net::{DatagramProtocol, DatagramTransport, create_datagram_endpoint};
    ///
    /// #[derive(Clone)]
    /// struct Quiet;
    ///
    /// impl DatagramProtocol for Quiet {
    ///     fn connection_made(&mut self, _: DatagramTransport) {}
    ///     fn datagram_received(&mut self, _: &[u8], _: SocketAddr) {}
    /// }
    ///
    /// ringloop::run(async {
    ///     let local: SocketAddr = "127.0.0.1:0".parse().unwrap();
    ///     let (transport, _) = create_datagram_endpoint(|| Quiet, local, None).await?;
    ///     transport.abort();
    ///     assert!(transport.is_closing());
    ///     assert_eq!(transport.get_write_buffer_size(), 0);
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn abort(&self) {
        let mut state = self.endpoint.state.borrow_mut();
        if state.aborted || state.lost {
            return;
        }
        state.aborted = true;
        state.queue.clear();
        state.buffered = 0;
        drop(state);
        self.endpoint.wake();
    }

    /// Whether the endpoint is closing or closed.
    ///
    /// ```
    /// use std::net::SocketAddr;
    /// use ringloop::net::{DatagramProtocol, DatagramTransport, create_datagram_endpoint};
    ///
    /// #[derive(Clone)]
    /// struct Quiet;
    ///
    /// impl DatagramProtocol for Quiet {
    ///     fn connection_made(&mut self, _: DatagramTransport) {}
    ///     fn datagram_received(&mut self, _: &[u8], _: SocketAddr) {}
    /// }
    ///
    /// ringloop::run(async {
    ///     let local: SocketAddr = "127.0.0.1:0".parse().unwrap();
    ///     let (transport, _) = create_datagram_endpoint(|| Quiet, local, None).await?;
    ///     assert!(!transport.is_closing());
    ///     transport.close();
    ///     assert!(transport.is_closing());
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_closing(&self) -> bool {
        self.endpoint.is_closing()
    }

    /// Bytes queued and not yet taken by the kernel.
    ///
    /// ```
    /// use std::net::SocketAddr;
    /// use ringloop::net::{DatagramProtocol, DatagramTransport, UdpSocket, create_datagram_endpoint};
    ///
    /// #[derive(Clone)]
    /// struct Quiet;
    ///
    /// impl DatagramProtocol for Quiet {
    ///     fn connection_made(&mut self, _: DatagramTransport) {}
    ///     fn datagram_received(&mut self, _: &[u8], _: SocketAddr) {}
    /// }
    ///
    /// ringloop::run(async {
    ///     let peer = UdpSocket::bind("127.0.0.1:0")?;
    ///     let local: SocketAddr = "127.0.0.1:0".parse().unwrap();
    ///     let (transport, _) = create_datagram_endpoint(|| Quiet, local, None).await?;
    ///     transport.send_to(b"small", peer.local_addr()?);
    ///     assert_eq!(transport.get_write_buffer_size(), 0); // the socket took it at once
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn get_write_buffer_size(&self) -> usize {
        self.endpoint.state.borrow().buffered
    }

    /// The endpoint's local address (asyncio's `get_extra_info("sockname")`), with the
    /// port the system chose for port 0.
    ///
    /// ```
    /// use std::net::SocketAddr;
    /// use ringloop::net::{DatagramProtocol, DatagramTransport, create_datagram_endpoint};
    ///
    /// #[derive(Clone)]
    /// struct Quiet;
    ///
    /// impl DatagramProtocol for Quiet {
    ///     fn connection_made(&mut self, _: DatagramTransport) {}
    ///     fn datagram_received(&mut self, _: &[u8], _: SocketAddr) {}
    /// }
    ///
    /// ringloop::run(async {
    ///     let local: SocketAddr = "127.0.0.1:0".parse().unwrap();
    ///     let (transport, _) = create_datagram_endpoint(|| Quiet, local, None).await?;
    ///     let addr = transport.local_addr()?;
    ///     assert!(addr.ip().is_loopback() && addr.port() != 0);
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.endpoint.local_addr)
    }

    /// The connected peer (asyncio's `get_extra_info("peername")`): the endpoint's
    /// `remote_addr`; `NotConnected` when it has none.
    ///
    /// ```
    /// use std::net::SocketAddr;
    /// use ringloop::net::{DatagramProtocol, DatagramTransport, UdpSocket, create_datagram_endpoint};
    ///
    /// #[derive(Clone)]
    /// struct Quiet;
    ///
    /// impl DatagramProtocol for Quiet {
    ///     fn connection_made(&mut self, _: DatagramTransport) {}
    ///     fn datagram_received(&mut self, _: &[u8], _: SocketAddr) {}
    /// }
    ///
    /// ringloop::run(async {
    ///     let peer = UdpSocket::bind("127.0.0.1:0")?;
    ///     let (transport, _) = create_datagram_endpoint(|| Quiet, None, peer.local_addr()?).await?;
    ///     assert_eq!(transport.peer_addr()?, peer.local_addr()?);
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.endpoint
            .peer_addr
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotConnected))
    }
}

impl fmt::Debug for DatagramTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.endpoint.state.borrow();
        f.debug_struct("DatagramTransport")
            .field("local_addr", &self.endpoint.local_addr)
            .field("peer_addr", &self.endpoint.peer_addr)
            .field("buffered", &state.buffered)
            .field("closing", &(state.closing || state.aborted))
            .field("lost", &state.lost)
            .finish()
    }
}
