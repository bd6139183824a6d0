//! The client side: [`create_connection`] and [`create_unix_connection`] connect, then
//! serve the one connection with the engine a server uses for an accepted connection
//! (asyncio's `loop.create_connection` and `loop.create_unix_connection`).
//!
//! The engine of a connection is a server with no listener and a table of one: built
//! closed, so it ends once its connection is gone. It runs as a task of the loop, as
//! [`create_server`](super::create_server)'s server does; the caller keeps the
//! [`Transport`] and its own handle on the protocol.

use std::cell::RefCell;
use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::rc::Rc;

use super::accept::Acceptor;
use super::callback::{Callback, guarded};
use super::control::Control;
use super::server::Engine;
use super::{Protocol, Transport};
use crate::net::socket::close_soon;
use crate::net::{TcpStream, ToSocketAddrs, UnixStream};

/// Connects to `addr` over TCP and runs a protocol from `factory` on the connection
/// (asyncio's `loop.create_connection(protocol_factory, host, port)`): the connection's
/// [`Transport`], and the caller's handle on the protocol.
///
/// `addr` is anything [`TcpStream::connect`] takes, a `"host:port"` name included
/// (resolved off the loop's thread, each address tried in turn). Once connected, the
/// protocol is served exactly as a server's: `connection_made` (before this returns),
/// then `data_received`, `eof_received`, `pause_writing`/`resume_writing` and, once,
/// `connection_lost`, from the loop's I/O, with `TCP_NODELAY` set. The connection lives
/// until it is closed (by either side, or [`Transport::close`]/[`Transport::abort`]), or
/// until the loop closes (then `connection_lost(None)`); dropping the transport does not
/// close it, as in asyncio.
///
/// # The protocol handle
///
/// asyncio returns `(transport, protocol)`, the very object its callbacks run on. Here
/// the loop owns the protocol it calls, so `P` must be [`Clone`]: the loop keeps one and
/// the caller gets the other, and a protocol meant to be talked to is a handle on state
/// it shares. The simplest is [`Rc`]`<`[`RefCell`]`<P>>`, which is a [`Protocol`]
/// whenever `P` is: its callbacks borrow the cell. (Do not hold a borrow across an
/// `.await`: a callback arriving meanwhile would find the cell borrowed and panic.)
///
/// # Errors
///
/// The name lookup's error, or the last address's connect error (a refused connection
/// is `ErrorKind::ConnectionRefused`). A panicking `factory` is reported to the loop's
/// exception handler and comes back as an error naming it (the socket is closed).
///
/// # Panics in callbacks
///
/// As for a server (see [`serve`](super::serve)): a panic in a callback is reported, the
/// connection is aborted and the protocol gets `connection_lost(Some(error))`. One in
/// `connection_made` leaves this function's result `Ok`, with a transport already
/// closing.
///
/// ```
/// use std::cell::RefCell;
/// use std::rc::Rc;
/// use ringloop::net::{Protocol, TcpListener, Transport, create_connection, create_server};
///
/// struct Echo(Option<Transport>);
///
/// impl Protocol for Echo {
///     fn connection_made(&mut self, transport: Transport) {
///         self.0 = Some(transport);
///     }
///     fn data_received(&mut self, data: &[u8]) {
///         self.0.as_ref().unwrap().write(data);
///     }
/// }
///
/// /// Collects what the server sends.
/// #[derive(Default)]
/// struct Collect {
///     got: Vec<u8>,
///     done: bool,
/// }
///
/// impl Protocol for Collect {
///     fn connection_made(&mut self, _: Transport) {}
///     fn data_received(&mut self, data: &[u8]) {
///         self.got.extend_from_slice(data);
///     }
///     fn connection_lost(&mut self, _: Option<std::io::Error>) {
///         self.done = true;
///     }
/// }
///
/// ringloop::run(async {
///     let server = create_server(TcpListener::bind("127.0.0.1:0")?, || Echo(None));
///     let port = server.local_addr()?.port();
///     let factory = || Rc::new(RefCell::new(Collect::default()));
///     let (transport, client) = create_connection(factory, ("localhost", port)).await?;
///     transport.write(b"round trip");
///     while client.borrow().got.len() < 10 {
///         ringloop::sleep(std::time::Duration::from_millis(1)).await;
///     }
///     assert_eq!(client.borrow().got, b"round trip");
///     transport.close();
///     while !client.borrow().done {
///         ringloop::sleep(std::time::Duration::from_millis(1)).await;
///     }
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Panics
///
/// When polled outside a running loop.
pub async fn create_connection<P, F>(
    factory: F,
    addr: impl ToSocketAddrs,
) -> io::Result<(Transport, P)>
where
    P: Protocol + Clone,
    F: FnOnce() -> P,
{
    let stream = TcpStream::connect(addr).await?;
    connected(
        stream.into_std().into(),
        factory,
        "ringloop::net::create_connection",
    )
}

/// Connects to the Unix socket at `path` and runs a protocol from `factory` on the
/// connection (asyncio's `loop.create_unix_connection(protocol_factory, path)`): as
/// [`create_connection`], over a Unix stream socket.
///
/// # Errors
///
/// The connect's error (`NotFound` when nothing is at `path`, `ConnectionRefused` when
/// nothing listens there); a panicking `factory`, as for [`create_connection`].
///
/// ```
/// use std::cell::RefCell;
/// use std::rc::Rc;
/// use ringloop::net::{Protocol, Transport, UnixListener, create_server, create_unix_connection};
///
/// /// Sends its name when connected, then hangs up.
/// struct Hello;
///
/// impl Protocol for Hello {
///     fn connection_made(&mut self, transport: Transport) {
///         transport.write(b"hello from the server");
///         transport.close();
///     }
///     fn data_received(&mut self, _: &[u8]) {}
/// }
///
/// /// Records the data and the end-of-file.
/// #[derive(Default)]
/// struct Record(Vec<u8>, bool);
///
/// impl Protocol for Record {
///     fn connection_made(&mut self, _: Transport) {}
///     fn data_received(&mut self, data: &[u8]) {
///         self.0.extend_from_slice(data);
///     }
///     fn eof_received(&mut self) -> bool {
///         self.1 = true;
///         false // close our side too
///     }
/// }
///
/// let path = std::env::temp_dir().join(format!("ringloop-doc-{}-unix-conn.sock", std::process::id()));
/// ringloop::run(async {
///     let server = create_server(UnixListener::bind(&path)?, || Hello);
///     let factory = || Rc::new(RefCell::new(Record::default()));
///     let (transport, record) = create_unix_connection(factory, &path).await?;
///     while !record.borrow().1 {
///         ringloop::sleep(std::time::Duration::from_millis(1)).await;
///     }
///     assert_eq!(record.borrow().0, b"hello from the server");
///     assert!(transport.is_closing());
///     server.close();
///     server.wait_closed().await;
///     Ok::<(), std::io::Error>(())
/// })?;
/// std::fs::remove_file(&path)?;
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Panics
///
/// When polled outside a running loop.
pub async fn create_unix_connection<P, F>(
    factory: F,
    path: impl AsRef<Path>,
) -> io::Result<(Transport, P)>
where
    P: Protocol + Clone,
    F: FnOnce() -> P,
{
    let stream = UnixStream::connect(path).await?;
    connected(
        stream.into_std().into(),
        factory,
        "ringloop::net::create_unix_connection",
    )
}

/// Serves the connected socket `fd` with a protocol from `factory`, in a task of the
/// loop; the transport and the caller's clone of the protocol.
fn connected<P, F>(fd: OwnedFd, factory: F, what: &'static str) -> io::Result<(Transport, P)>
where
    P: Protocol + Clone,
    F: FnOnce() -> P,
{
    let core = crate::event_loop::context::current_core(what);
    let made = guarded(&core, what, Callback::Factory, || {
        let proto = factory();
        let handle = proto.clone();
        (proto, handle)
    });
    let (proto, handle) = match made {
        Ok(made) => made,
        Err(error) => {
            close_soon(fd);
            return Err(error);
        }
    };
    let mut engine: Engine<P, fn() -> P> = Engine::build(
        core.clone(),
        Control::new(None, None),
        None,
        Acceptor::Stopped,
        None,
        what,
    );
    let transport = engine.adopt(fd, proto);
    // Closed from the start: it takes nothing else in, and ends with its connection.
    engine.control().close();
    let serving = async move {
        // An engine with no listener has no accept to fail: it only ends.
        let _ = std::future::poll_fn(|cx| engine.poll(cx)).await;
    };
    // Detached: the connection's life is its own, not its transport's.
    drop(core.spawn(serving, core.eager_tasks()));
    Ok((transport, handle))
}

/// A protocol shared with its creator: the loop calls it through the cell, the caller
/// keeps a clone to talk to it (what [`create_connection`] returns). Each callback
/// borrows the cell for its call; a borrow held elsewhere meanwhile makes the callback
/// panic, which costs the connection (see [`serve`](super::serve)).
impl<P: Protocol> Protocol for Rc<RefCell<P>> {
    fn connection_made(&mut self, transport: Transport) {
        self.borrow_mut().connection_made(transport);
    }

    fn data_received(&mut self, data: &[u8]) {
        self.borrow_mut().data_received(data);
    }

    fn eof_received(&mut self) -> bool {
        self.borrow_mut().eof_received()
    }

    fn connection_lost(&mut self, error: Option<io::Error>) {
        self.borrow_mut().connection_lost(error);
    }

    fn pause_writing(&mut self) {
        self.borrow_mut().pause_writing();
    }

    fn resume_writing(&mut self) {
        self.borrow_mut().resume_writing();
    }
}
