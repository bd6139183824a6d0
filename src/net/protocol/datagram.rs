//! Datagram protocols on UDP: [`DatagramProtocol`] and [`create_datagram_endpoint`]
//! (asyncio's `asyncio.DatagramProtocol` and `loop.create_datagram_endpoint`), served by
//! an endpoint engine of their own; the transport is in `datagram_transport.rs`.
//!
//! # Ground rules
//!
//! - The engine is a task of the loop that owns the socket and the protocol; every call
//!   into the protocol goes through [`guarded`], and the transport never calls it: what
//!   a transport call owes the protocol (an `error_received` for a failed send) waits in
//!   the [`Endpoint`] for the engine's next turn.
//! - The socket is closed only by the engine, after the endpoint is marked lost, so a
//!   transport never uses a descriptor that may have been reused.

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::rc::Rc;
use std::task::Poll;

use super::callback::{Callback, guarded};
use super::datagram_transport::{DatagramTransport, Endpoint};
use crate::event_loop::Core;
use crate::net::UdpSocket;

/// The largest datagram UDP carries (IPv4: 65,507 bytes of payload): every datagram is
/// received whole.
const RECV_BUF: usize = 64 * 1024;
/// Datagrams delivered per turn of the engine before the loop's other work runs.
const RECVS_PER_TURN: usize = 64;

/// An endpoint's callbacks, asyncio's `asyncio.DatagramProtocol`.
///
/// All are called on the loop's thread, one at a time; none is re-entered.
///
/// # Panics in callbacks
///
/// A panic in `datagram_received` or `error_received` is caught and reported once to the
/// loop's exception handler
/// ([`ExceptionKind::CallbackPanicked`](crate::ExceptionKind::CallbackPanicked), the
/// message naming the callback), that datagram is dropped, and **the endpoint goes on**:
/// as in asyncio, where an exception in `datagram_received` reaches the exception
/// handler and the transport keeps reading. One bad datagram does not take a UDP server
/// down. A panic in `connection_made` ends the endpoint (it is aborted, and
/// `connection_lost(Some(error))` follows); one in `connection_lost` or in the
/// protocol's destructor is only reported.
///
/// ```
/// use std::net::SocketAddr;
/// use ringloop::net::{DatagramProtocol, DatagramTransport, UdpSocket, create_datagram_endpoint};
///
/// /// Answers every datagram with its upper-case.
/// #[derive(Clone, Default)]
/// struct Shout(Option<DatagramTransport>);
///
/// impl DatagramProtocol for Shout {
///     fn connection_made(&mut self, transport: DatagramTransport) {
///         self.0 = Some(transport);
///     }
///     fn datagram_received(&mut self, data: &[u8], from: SocketAddr) {
///         self.0.as_ref().unwrap().send_to(&data.to_ascii_uppercase(), from);
///     }
/// }
///
/// ringloop::run(async {
///     let local: SocketAddr = "127.0.0.1:0".parse().unwrap();
///     let (server, _) = create_datagram_endpoint(Shout::default, local, None).await?;
///     let client = UdpSocket::bind("127.0.0.1:0")?;
///     client.send_to(b"hello", server.local_addr()?).await.0?;
///     let (got, buf) = client.recv_from(Vec::with_capacity(64)).await;
///     assert_eq!(&buf[..got?.0], b"HELLO");
///     server.close();
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub trait DatagramProtocol: 'static {
    /// The endpoint is up; `transport` sends and closes it (keep a clone).
    fn connection_made(&mut self, transport: DatagramTransport);

    /// A datagram arrived from `addr`. The slice is only valid during the call.
    fn datagram_received(&mut self, data: &[u8], addr: SocketAddr);

    /// A send or a receive failed; the endpoint goes on. On a connected endpoint this is
    /// how an ICMP "port unreachable" shows: `ErrorKind::ConnectionRefused`.
    fn error_received(&mut self, error: io::Error) {
        let _ = error;
    }

    /// The endpoint is closed: `None` after [`DatagramTransport::close`] or
    /// [`DatagramTransport::abort`] (or the loop closing), `Some(error)` when
    /// `connection_made` panicked. Called exactly once.
    fn connection_lost(&mut self, error: Option<io::Error>) {
        let _ = error;
    }
}

/// A protocol shared with its creator, as for [`Protocol`](super::Protocol): the loop
/// calls it through the cell, the caller keeps a clone (what
/// [`create_datagram_endpoint`] returns).
impl<P: DatagramProtocol> DatagramProtocol for Rc<RefCell<P>> {
    fn connection_made(&mut self, transport: DatagramTransport) {
        self.borrow_mut().connection_made(transport);
    }

    fn datagram_received(&mut self, data: &[u8], addr: SocketAddr) {
        self.borrow_mut().datagram_received(data, addr);
    }

    fn error_received(&mut self, error: io::Error) {
        self.borrow_mut().error_received(error);
    }

    fn connection_lost(&mut self, error: Option<io::Error>) {
        self.borrow_mut().connection_lost(error);
    }
}

/// Opens a UDP endpoint and runs a protocol from `factory` on it (asyncio's
/// `loop.create_datagram_endpoint(protocol_factory, local_addr, remote_addr)`): the
/// endpoint's [`DatagramTransport`], and the caller's handle on the protocol.
///
/// The socket is bound to `local_addr` when given (port 0 for any free port), and
/// connected to `remote_addr` when given: then [`DatagramTransport::send`] goes there,
/// only its datagrams are received, and an ICMP "port unreachable" comes back as
/// `error_received(ConnectionRefused)`. With only `remote_addr`, the system picks the
/// local address. Each argument is a [`SocketAddr`], `Some(addr)` or `None`; resolve a
/// name with [`lookup_host`](crate::net::lookup_host) first.
///
/// `connection_made` runs before this returns; then every datagram reaches
/// `datagram_received` until the transport is closed or aborted, or the loop closes
/// (`connection_lost(None)` each time). Dropping the transport does not close the
/// endpoint, as in asyncio. `P` is [`Clone`] for the same reason as
/// [`create_connection`](super::create_connection)'s (an `Rc<RefCell<P>>` will do).
/// For panics in the callbacks, see [`DatagramProtocol`].
///
/// # Errors
///
/// `InvalidInput` when neither address is given; the bind's or the connect's error; a
/// panicking `factory`, reported to the loop's exception handler and returned as an
/// error naming it.
///
/// ```
/// use std::cell::RefCell;
/// use std::net::SocketAddr;
/// use std::rc::Rc;
/// use ringloop::net::{DatagramProtocol, DatagramTransport, UdpSocket, create_datagram_endpoint};
///
/// /// A client: remembers the replies.
/// #[derive(Default)]
/// struct Client(Vec<Vec<u8>>);
///
/// impl DatagramProtocol for Client {
///     fn connection_made(&mut self, _: DatagramTransport) {}
///     fn datagram_received(&mut self, data: &[u8], _: SocketAddr) {
///         self.0.push(data.to_vec());
///     }
/// }
///
/// ringloop::run(async {
///     let server = UdpSocket::bind("127.0.0.1:0")?;
///     let factory = || Rc::new(RefCell::new(Client::default()));
///     let (transport, client) =
///         create_datagram_endpoint(factory, None, server.local_addr()?).await?;
///     transport.send(b"time?");
///     let (got, _) = server.recv_from(Vec::with_capacity(64)).await;
///     server.send_to(b"noon", got?.1).await.0?;
///     while client.borrow().0.is_empty() {
///         ringloop::sleep(std::time::Duration::from_millis(1)).await;
///     }
///     assert_eq!(client.borrow().0, [b"noon".to_vec()]);
///     transport.close();
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Panics
///
/// When polled outside a running loop.
pub async fn create_datagram_endpoint<P, F>(
    factory: F,
    local_addr: impl Into<Option<SocketAddr>>,
    remote_addr: impl Into<Option<SocketAddr>>,
) -> io::Result<(DatagramTransport, P)>
where
    P: DatagramProtocol + Clone,
    F: FnOnce() -> P,
{
    let what = "ringloop::net::create_datagram_endpoint";
    let core = crate::event_loop::context::current_core(what);
    let (local, remote) = (local_addr.into(), remote_addr.into());
    let socket = match (local, remote) {
        (Some(local), _) => UdpSocket::bind(local)?,
        (None, Some(remote)) => {
            let any = match remote.ip() {
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            };
            UdpSocket::bind(SocketAddr::new(any, 0))?
        }
        (None, None) => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "create_datagram_endpoint needs a local or a remote address",
            ));
        }
    };
    if let Some(remote) = remote {
        socket.connect(remote)?;
    }
    let (proto, handle) = guarded(&core, what, Callback::Factory, || {
        let proto = factory();
        let handle = proto.clone();
        (proto, handle)
    })?;
    let endpoint = Rc::new(Endpoint::new(&socket, remote)?);
    let transport = DatagramTransport {
        endpoint: endpoint.clone(),
    };
    let mut engine = EndpointEngine {
        core: core.clone(),
        what,
        endpoint,
        proto: Some(proto),
        socket,
    };
    engine.made(transport.clone());
    // Detached: the endpoint's life is its own, not its transport's.
    drop(core.spawn(engine.run(), core.eager_tasks()));
    Ok((transport, handle))
}

/// The send the engine has in flight.
type SendFuture<'a> = Pin<Box<dyn Future<Output = (io::Result<usize>, Vec<u8>)> + 'a>>;

/// The endpoint's engine: owns the socket and the protocol, receives, sends what the
/// transport queued, and tells the protocol.
struct EndpointEngine<P: DatagramProtocol> {
    core: Rc<Core>,
    what: &'static str,
    endpoint: Rc<Endpoint>,
    /// `None` once the endpoint is lost (the protocol was retired).
    proto: Option<P>,
    socket: UdpSocket,
}

impl<P: DatagramProtocol> EndpointEngine<P> {
    /// `connection_made`; a panic aborts the endpoint with it.
    fn made(&mut self, transport: DatagramTransport) {
        if let Err(error) = self.call(Callback::DatagramMade, |p| p.connection_made(transport)) {
            self.endpoint.abort_with(error);
        }
    }

    /// Calls the protocol, guarded: a panic is reported and comes back as the error.
    fn call(&mut self, callback: Callback, f: impl FnOnce(&mut P)) -> io::Result<()> {
        match self.proto.as_mut() {
            Some(proto) => guarded(&self.core, self.what, callback, || f(proto)),
            None => Ok(()),
        }
    }

    /// Serves until the endpoint is closed or aborted; then loses it.
    async fn run(mut self) {
        let error = {
            let EndpointEngine {
                core,
                what,
                endpoint,
                proto,
                socket,
            } = &mut self;
            let socket: &UdpSocket = socket;
            let mut recv = Some(socket.recv_from(Vec::with_capacity(RECV_BUF)));
            let mut send: Option<SendFuture<'_>> = None;
            let (core, what): (&Core, &'static str) = (core, what);
            // A panic is reported and the endpoint goes on (see DatagramProtocol).
            let call = |proto: &mut Option<P>, callback, f: &mut dyn FnMut(&mut P)| {
                if let Some(p) = proto.as_mut() {
                    let _ = guarded(core, what, callback, || f(p));
                }
            };
            std::future::poll_fn(|cx| {
                endpoint.register(cx.waker());
                let mut budget = RECVS_PER_TURN;
                loop {
                    let mut progressed = false;
                    // What the transport owes the protocol.
                    while let Some(e) = endpoint.take_error() {
                        let mut e = Some(e);
                        call(proto, Callback::ErrorReceived, &mut |p| {
                            p.error_received(e.take().expect("called once"))
                        });
                        progressed = true;
                    }
                    if let Some(error) = endpoint.ended(send.is_none()) {
                        return Poll::Ready(error);
                    }
                    // Sends, in order.
                    loop {
                        if send.is_none() {
                            send = endpoint.next_send().map(|(data, to)| -> SendFuture<'_> {
                                match to {
                                    Some(to) => Box::pin(socket.send_to(data, to)),
                                    None => Box::pin(socket.send(data)),
                                }
                            });
                        }
                        let Some(op) = send.as_mut() else { break };
                        let Poll::Ready((res, data)) = op.as_mut().poll(cx) else {
                            break;
                        };
                        send = None;
                        progressed = true;
                        endpoint.sent(data.len());
                        if let Err(e) = res {
                            let mut e = Some(e);
                            call(proto, Callback::ErrorReceived, &mut |p| {
                                p.error_received(e.take().expect("called once"))
                            });
                        }
                    }
                    // Receives, unless closing.
                    if endpoint.is_closing() {
                        recv = None;
                    } else if let Some(op) = recv.as_mut()
                        && let Poll::Ready((res, mut buf)) = Pin::new(op).poll(cx)
                    {
                        progressed = true;
                        match res {
                            Ok((n, from)) => call(proto, Callback::DatagramReceived, &mut |p| {
                                p.datagram_received(&buf[..n], from)
                            }),
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                            Err(e) => {
                                let mut e = Some(e);
                                call(proto, Callback::ErrorReceived, &mut |p| {
                                    p.error_received(e.take().expect("called once"))
                                });
                            }
                        }
                        buf.clear();
                        recv = Some(socket.recv_from(buf));
                        budget -= 1;
                        if budget == 0 {
                            // More may be waiting: after the loop's other work.
                            cx.waker().wake_by_ref();
                            return Poll::Pending;
                        }
                    }
                    if !progressed {
                        return Poll::Pending;
                    }
                }
            })
            .await
        };
        self.lose(error);
    }

    /// The endpoint is over: nothing more is sent, and the protocol hears it, once. The
    /// socket closes when the engine is dropped, right after.
    fn lose(&mut self, error: Option<io::Error>) {
        self.endpoint.lost();
        if let Some(mut proto) = self.proto.take() {
            let (core, what) = (&self.core, self.what);
            let _ = guarded(core, what, Callback::DatagramLost, || {
                proto.connection_lost(error)
            });
            let _ = guarded(core, what, Callback::DropDatagramProtocol, move || {
                drop(proto)
            });
        }
    }
}

impl<P: DatagramProtocol> Drop for EndpointEngine<P> {
    fn drop(&mut self) {
        // Its task cancelled (the loop closing): the protocol is still owed its end.
        self.lose(None);
    }
}

impl Endpoint {
    /// Whether the engine is done, and with what error: aborted, or closing with nothing
    /// left to send (`send_idle`: no send in flight).
    fn ended(&self, send_idle: bool) -> Option<Option<io::Error>> {
        let mut state = self.state.borrow_mut();
        if state.aborted {
            return Some(state.fatal.take());
        }
        if state.closing && send_idle && state.queue.is_empty() {
            return Some(None);
        }
        None
    }
}
