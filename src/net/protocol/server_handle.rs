//! [`create_server`] and its [`Server`] handle: the protocol server of [`serve`] run in
//! the background as a task of the loop, shut down through the handle (asyncio's
//! `loop.create_server` and `asyncio.Server`).
//!
//! The handle holds the server's [control block](super::control) only, never the
//! server: it asks, the server carries out at its next turn, and nothing the handle does
//! runs user code.
//!
//! [`serve`]: super::serve

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;

use super::Protocol;
use super::control::Control;
use super::listener::{AnyListener, ListenAddr, Listener};
use super::server::Engine;

/// Serves connections on `listener` in the background, each with a protocol from
/// `factory`, and returns a handle to stop the server with (asyncio's
/// `loop.create_server(protocol_factory)`).
///
/// The server is the one [`serve`](super::serve) runs, as a task of the running loop:
/// the same protocols, transports and panic containment. It serves until
/// [`Server::close`] and the end of its last connection, or until the loop closes (which
/// cancels its task and closes every connection, each protocol seeing
/// `connection_lost(None)`). Dropping the [`Server`] handle does not stop it. An error
/// from accepting (running out of descriptors is not one: accepting backs off and
/// resumes) ends the server and every connection; it is logged (`log::error!`), and
/// [`Server::wait_closed`] resolves.
///
/// ```no_run
/// use std::time::Duration;
/// use ringloop::net::{Protocol, TcpListener, Transport, create_server};
///
/// struct Echo(Option<Transport>);
///
/// impl Protocol for Echo {
///     fn connection_made(&mut self, transport: Transport) {
///         self.0 = Some(transport);
///     }
///     fn data_received(&mut self, data: &[u8]) {
///         if let Some(t) = &self.0 {
///             t.write(data);
///         }
///     }
/// }
///
/// ringloop::run(async {
///     let server = create_server(TcpListener::bind("127.0.0.1:7000")?, || Echo(None));
///     println!("echo on {}", server.local_addr()?);
///     ringloop::sleep(Duration::from_secs(60)).await; // serve for a minute
///     server.close(); // no new connection from here on
///     // Let open connections finish for up to 10 s, then cut the rest.
///     if ringloop::timeout(Duration::from_secs(10), server.wait_closed()).await.is_err() {
///         server.abort_clients();
///         server.wait_closed().await;
///     }
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Panics
///
/// When no loop is running on this thread.
pub fn create_server<L, P, F>(listener: L, factory: F) -> Server
where
    L: Listener,
    P: Protocol,
    F: FnMut() -> P + 'static,
{
    let what = "ringloop::net::create_server";
    let core = crate::event_loop::context::current_core(what);
    let mut engine = Engine::new(Box::new(listener) as AnyListener, factory, what);
    let control = engine.control().clone();
    let serving = async move {
        if let Err(e) = std::future::poll_fn(|cx| engine.poll(cx)).await {
            log::error!("ringloop::net::create_server: accepting failed, the server stopped: {e}");
        }
    };
    // Detached: the server's life is its own, not its handle's.
    drop(core.spawn(serving, core.eager_tasks()));
    Server { control }
}

/// A protocol server serving in the background, made by [`create_server`]: the handle
/// that stops it gracefully (asyncio's `asyncio.Server`).
///
/// Clones are handles on the same server, bound to the loop's thread. Dropping every
/// handle does **not** stop the server: as in asyncio, it serves until
/// [`close`](Self::close) and the end of its last connection, or until its loop closes.
///
/// The graceful shutdown, asyncio's way:
///
/// ```no_run
/// # use ringloop::net::{Protocol, TcpListener, Transport, create_server};
/// # struct Echo;
/// # impl Protocol for Echo {
/// #     fn connection_made(&mut self, _: Transport) {}
/// #     fn data_received(&mut self, _: &[u8]) {}
/// # }
/// use std::time::Duration;
///
/// ringloop::run(async {
///     let server = create_server(TcpListener::bind("127.0.0.1:0")?, || Echo);
///     // ... until it is time to stop:
///     server.close();
///     if ringloop::timeout(Duration::from_secs(5), server.wait_closed()).await.is_err() {
///         server.abort_clients();
///         server.wait_closed().await;
///     }
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct Server {
    control: Rc<Control>,
}

impl Server {
    /// The handle on a server run by its own engine: the streams API's `start_server`
    /// drives the same control block with connections that are tasks.
    pub(in crate::net) fn from_control(control: Rc<Control>) -> Server {
        Server { control }
    }

    /// Stops accepting, at once: the listening socket is shut down in this call, so the
    /// kernel refuses new connections from here on (and resets those waiting in its
    /// backlog, never taken in), and the server closes it at its next turn. Connections
    /// it had taken in run on until they close; [`wait_closed`](Self::wait_closed) waits
    /// for that. Idempotent; nothing once the server ended.
    ///
    /// ```no_run
    /// # use ringloop::net::{Protocol, TcpListener, Transport, create_server};
    /// # struct P;
    /// # impl Protocol for P {
    /// #     fn connection_made(&mut self, _: Transport) {}
    /// #     fn data_received(&mut self, _: &[u8]) {}
    /// # }
    /// ringloop::run(async {
    ///     let server = create_server(TcpListener::bind("127.0.0.1:0")?, || P);
    ///     let addr = server.local_addr()?;
    ///     server.close();
    ///     assert!(!server.is_serving());
    ///     let refused = ringloop::net::TcpStream::connect(addr).await;
    ///     assert!(refused.is_err());
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn close(&self) {
        self.control.close();
    }

    /// Resolves once [`close`](Self::close) was called and the last connection is gone
    /// (its protocol saw `connection_lost`, the kernel gave back its operations, and its
    /// socket was closed: on io_uring the close goes out with the loop's next
    /// submissions): asyncio 3.12's `wait_closed`. Before `close` it waits for `close` too; after it, with no
    /// connection left, it resolves at once.
    ///
    /// It also resolves when the server ended without `close`: an error from accepting
    /// ended it, or its loop cancelled its task, and no connection is left either way.
    /// The future holds a handle of its own: it may outlive `self`.
    ///
    /// ```no_run
    /// # use ringloop::net::{Protocol, TcpListener, Transport, create_server};
    /// # struct P;
    /// # impl Protocol for P {
    /// #     fn connection_made(&mut self, _: Transport) {}
    /// #     fn data_received(&mut self, _: &[u8]) {}
    /// # }
    /// use std::time::Duration;
    ///
    /// ringloop::run(async {
    ///     let server = create_server(TcpListener::bind("127.0.0.1:0")?, || P);
    ///     server.close();
    ///     // Connections get 30 s to finish.
    ///     let drained = ringloop::timeout(Duration::from_secs(30), server.wait_closed()).await;
    ///     println!("drained in time: {}", drained.is_ok());
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn wait_closed(&self) -> impl Future<Output = ()> + 'static {
        self.control.closed().wait()
    }

    /// Aborts every connection the server holds, asyncio 3.13's `abort_clients`: as
    /// [`Transport::abort`](super::Transport::abort) on each, what was not sent is dropped,
    /// the peer sees the connection end (an end-of-file, or a reset when data it sent
    /// was still unread), and each protocol gets `connection_lost(None)`, once. Carried out
    /// at the server's next turn in the loop, before it takes anything else in.
    ///
    /// It does not stop accepting: call [`close`](Self::close) first (a connection taken
    /// in after the server's turn is not aborted).
    ///
    /// ```no_run
    /// # use ringloop::net::{Protocol, TcpListener, Transport, create_server};
    /// # struct P;
    /// # impl Protocol for P {
    /// #     fn connection_made(&mut self, _: Transport) {}
    /// #     fn data_received(&mut self, _: &[u8]) {}
    /// # }
    /// ringloop::run(async {
    ///     let server = create_server(TcpListener::bind("127.0.0.1:0")?, || P);
    ///     server.close();
    ///     server.abort_clients();
    ///     server.wait_closed().await;
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn abort_clients(&self) {
        self.control.abort_clients();
    }

    /// Closes every connection the server holds once its write buffer is flushed,
    /// asyncio 3.13's `close_clients`: as [`Transport::close`](super::Transport::close)
    /// on each, nothing more is read, what was written is still sent, and each protocol
    /// gets `connection_lost(None)` once it was. Carried out at the server's next turn in
    /// the loop. It does not stop accepting: call [`close`](Self::close) first.
    ///
    /// ```no_run
    /// # use ringloop::net::{Protocol, TcpListener, Transport, create_server};
    /// # struct P;
    /// # impl Protocol for P {
    /// #     fn connection_made(&mut self, _: Transport) {}
    /// #     fn data_received(&mut self, _: &[u8]) {}
    /// # }
    /// ringloop::run(async {
    ///     let server = create_server(TcpListener::bind("127.0.0.1:0")?, || P);
    ///     server.close();
    ///     server.close_clients(); // responses already written still go out
    ///     server.wait_closed().await;
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn close_clients(&self) {
        self.control.close_clients();
    }

    /// The address the server listens on (or did, once closed). A server on a
    /// [`UnixListener`](crate::net::UnixListener) has none (`InvalidInput`): see
    /// [`local_unix_addr`](Self::local_unix_addr).
    ///
    /// ```no_run
    /// # use ringloop::net::{Protocol, TcpListener, Transport, create_server};
    /// # struct P;
    /// # impl Protocol for P {
    /// #     fn connection_made(&mut self, _: Transport) {}
    /// #     fn data_received(&mut self, _: &[u8]) {}
    /// # }
    /// ringloop::run(async {
    ///     let server = create_server(TcpListener::bind("127.0.0.1:0")?, || P);
    ///     println!("listening on port {}", server.local_addr()?.port());
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match self.control.local_addr() {
            Some(ListenAddr::Inet(addr)) => Ok(*addr),
            Some(ListenAddr::Unix(_)) => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a Unix-socket server has no IP address: use Server::local_unix_addr",
            )),
            None => Err(unknown_addr()),
        }
    }

    /// The Unix socket address the server listens on (or did, once closed), for a server
    /// on a [`UnixListener`](crate::net::UnixListener); a TCP server has none
    /// (`InvalidInput`: see [`local_addr`](Self::local_addr)).
    ///
    /// ```
    /// # use ringloop::net::{Protocol, Transport, UnixListener, create_server};
    /// # struct P;
    /// # impl Protocol for P {
    /// #     fn connection_made(&mut self, _: Transport) {}
    /// #     fn data_received(&mut self, _: &[u8]) {}
    /// # }
    /// let path = std::env::temp_dir().join(format!("ringloop-doc-{}-server-addr.sock", std::process::id()));
    /// ringloop::run(async {
    ///     let server = create_server(UnixListener::bind(&path)?, || P);
    ///     assert_eq!(server.local_unix_addr()?.as_pathname(), Some(path.as_path()));
    ///     assert!(server.local_addr().is_err()); // no IP address
    ///     server.close();
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn local_unix_addr(&self) -> io::Result<std::os::unix::net::SocketAddr> {
        match self.control.local_addr() {
            Some(ListenAddr::Unix(addr)) => Ok(addr.clone()),
            Some(ListenAddr::Inet(_)) => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a TCP server has no Unix socket address: use Server::local_addr",
            )),
            None => Err(unknown_addr()),
        }
    }

    /// Whether the server accepts connections: `false` once [`close`](Self::close) was
    /// called or the server ended (asyncio's `is_serving`).
    ///
    /// ```no_run
    /// # use ringloop::net::{Protocol, TcpListener, Transport, create_server};
    /// # struct P;
    /// # impl Protocol for P {
    /// #     fn connection_made(&mut self, _: Transport) {}
    /// #     fn data_received(&mut self, _: &[u8]) {}
    /// # }
    /// ringloop::run(async {
    ///     let server = create_server(TcpListener::bind("127.0.0.1:0")?, || P);
    ///     assert!(server.is_serving());
    ///     server.close();
    ///     assert!(!server.is_serving());
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_serving(&self) -> bool {
        self.control.is_serving()
    }
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.control.state();
        f.debug_struct("Server")
            .field("local_addr", &self.control.local_addr())
            .field("flags", &state.flags())
            .field("connections", &state.connections())
            .finish()
    }
}

fn unknown_addr() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        "the listener's address could not be read when the server started",
    )
}
