//! The stream server behind [`start_server`](super::start_server) and
//! [`start_unix_server`](super::start_unix_server): a task that accepts connections and
//! spawns a handler task for each, and the registry of the connections it took in.
//!
//! It is shut down through the same [`Server`] handle as a protocol server: both share
//! the protocol server's control block (`protocol/control.rs`), which holds the
//! lifecycle (serving, closing, closed) and the connection count, and tells the server
//! what it owes at its next turn. What differs is the registry: here a connection is a
//! [`Conn`] owned by its reader and writer (so by the handler task), and the server
//! holds only a weak reference to it, to abort or close it when asked.
//!
//! # Ground rules
//!
//! - A connection counts from the moment it is taken in until its descriptor is closed:
//!   its [`Registration`] is dropped after its socket (see `conn.rs`). Its handler may
//!   have ended long before (it may have handed the reader and writer to another task).
//! - Each turn of the server starts with what its handles asked for (stop accepting,
//!   abort or close every connection), before anything new is taken in.
//! - The server ends once it was closed and its last connection is gone, or when an
//!   accept fails, or when its task is dropped (its loop closed); in the last two cases
//!   every connection it still has is aborted.
//! - The handler is user code: a panic in the call that makes its future is caught and
//!   re-raised in a task of its own, so it is reported as any task's panic is, and costs
//!   that connection only.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::path::PathBuf;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, Waker};

use super::conn::{Conn, Sock};
use super::reader::StreamReader;
use super::writer::{self, StreamWriter};
use crate::net::protocol::Server;
use crate::net::protocol::control::Control;
use crate::net::protocol::listener::ListenAddr;
use crate::net::socket::Socket;
use crate::net::{TcpListener, UnixListener};

/// The connections a stream server took in, by slot.
pub(super) struct Registry {
    control: Rc<Control>,
    conns: RefCell<Vec<Option<Weak<Conn>>>>,
    free: RefCell<Vec<usize>>,
    /// The server's task, woken when a connection goes (the last one ends a closing
    /// server).
    server: RefCell<Option<Waker>>,
    /// The server ended: the control block no longer counts connections.
    ended: Cell<bool>,
}

impl Registry {
    fn new(control: Rc<Control>) -> Rc<Registry> {
        Rc::new(Registry {
            control,
            conns: RefCell::new(Vec::new()),
            free: RefCell::new(Vec::new()),
            server: RefCell::new(None),
            ended: Cell::new(false),
        })
    }

    /// A slot for a connection being taken in.
    fn reserve(self: &Rc<Registry>) -> Registration {
        let slot = match self.free.borrow_mut().pop() {
            Some(slot) => slot,
            None => {
                let mut conns = self.conns.borrow_mut();
                conns.push(None);
                conns.len() - 1
            }
        };
        self.control.opened();
        Registration {
            registry: self.clone(),
            slot,
        }
    }

    fn fill(&self, registration_slot: usize, conn: &Rc<Conn>) {
        self.conns.borrow_mut()[registration_slot] = Some(Rc::downgrade(conn));
    }

    /// A connection's descriptor was closed.
    fn free(&self, slot: usize) {
        self.conns.borrow_mut()[slot] = None;
        self.free.borrow_mut().push(slot);
        if self.ended.get() {
            return;
        }
        self.control.freed();
        let waker = self.server.borrow().clone();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// The connections still open.
    fn live(&self) -> Vec<Rc<Conn>> {
        self.conns
            .borrow()
            .iter()
            .filter_map(|c| c.as_ref().and_then(Weak::upgrade))
            .collect()
    }

    fn register(&self, waker: &Waker) {
        let mut server = self.server.borrow_mut();
        match &*server {
            Some(w) if w.will_wake(waker) => {}
            _ => *server = Some(waker.clone()),
        }
    }
}

/// A connection's place in its server's registry; dropped (after the socket) when the
/// connection is gone.
pub(super) struct Registration {
    registry: Rc<Registry>,
    slot: usize,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.registry.free(self.slot);
    }
}

/// What the server listens on.
pub(super) enum Listener {
    Tcp(Rc<TcpListener>),
    /// The listener, and the socket file to remove when it closes (if it is still the
    /// one bound: same device and inode).
    Unix(Rc<UnixListener>, Option<(PathBuf, (u64, u64))>),
}

impl Listener {
    /// A Unix listener bound at `path`, remembering the socket file to remove.
    pub(super) fn unix(listener: UnixListener, path: PathBuf) -> Listener {
        let id = std::fs::metadata(&path).ok().map(|m| (m.dev(), m.ino()));
        Listener::Unix(Rc::new(listener), id.map(|id| (path, id)))
    }

    fn accept(&self) -> AcceptFuture {
        match self {
            Listener::Tcp(l) => {
                let l = l.clone();
                Box::pin(async move {
                    let (stream, _) = l.accept().await?;
                    Ok(Sock::Tcp(unwrap_socket(stream.sock)))
                })
            }
            Listener::Unix(l, _) => {
                let l = l.clone();
                Box::pin(async move {
                    let stream = l.accept().await?;
                    Ok(Sock::Unix(unwrap_socket(stream.sock)))
                })
            }
        }
    }
}

/// The socket of a stream just made (it is its only owner).
pub(super) fn unwrap_socket<S: AsRawFd + Into<std::os::fd::OwnedFd>>(
    sock: Rc<Socket<S>>,
) -> Socket<S> {
    Rc::try_unwrap(sock).unwrap_or_else(|_| unreachable!("a new stream owns its socket alone"))
}

type AcceptFuture = Pin<Box<dyn Future<Output = io::Result<Sock>>>>;

/// Starts serving `listener` in a task of the running loop, each connection handled by
/// a task running `handler(reader, writer)`.
pub(super) fn serve<H, Fut>(listener: Listener, handler: H, what: &'static str) -> Server
where
    H: FnMut(StreamReader, StreamWriter) -> Fut + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let core = crate::event_loop::context::current_core(what);
    let (fd, local_addr) = match &listener {
        Listener::Tcp(l) => (l.as_raw_fd(), l.local_addr().ok().map(ListenAddr::Inet)),
        Listener::Unix(l, _) => (l.as_raw_fd(), l.local_addr().ok().map(ListenAddr::Unix)),
    };
    let control = Rc::new(Control::new(Some(fd), local_addr));
    let serving = Serving {
        accept: Some(listener.accept()),
        listener: Some(listener),
        handler,
        registry: Registry::new(control.clone()),
        what,
        ended: false,
    };
    // Detached: the server's life is its own, not its handle's.
    drop(core.spawn(serving, false));
    Server::from_control(control)
}

/// The server's task.
struct Serving<H> {
    /// Declared before the listener: dropped first.
    accept: Option<AcceptFuture>,
    listener: Option<Listener>,
    handler: H,
    registry: Rc<Registry>,
    what: &'static str,
    ended: bool,
}

// The handler is never pinned: it is only called.
impl<H> Unpin for Serving<H> {}

impl<H, Fut> Future for Serving<H>
where
    H: FnMut(StreamReader, StreamWriter) -> Fut + 'static,
    Fut: Future<Output = ()> + 'static,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let control = this.registry.control.clone();
        control.register(cx.waker());
        this.registry.register(cx.waker());
        loop {
            let owed = control.take_owed();
            if owed.stop_accepting {
                this.stop_accepting();
            }
            if owed.abort_clients {
                for conn in this.registry.live() {
                    writer::abort(&conn);
                }
            } else if owed.close_clients {
                for conn in this.registry.live() {
                    writer::close(&conn);
                }
            }
            if control.state().finished() {
                this.end();
                return Poll::Ready(());
            }
            let Some(accept) = this.accept.as_mut() else {
                return Poll::Pending;
            };
            match accept.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(sock)) => {
                    this.accept = this.listener.as_ref().map(Listener::accept);
                    this.take_in(sock);
                }
                Poll::Ready(Err(_)) if !control.is_serving() => {
                    // Closed meanwhile: its listener was shut down under the accept.
                    this.stop_accepting();
                }
                Poll::Ready(Err(e)) => {
                    log::error!("{}: accepting failed, the server stopped: {e}", this.what);
                    this.end();
                    return Poll::Ready(());
                }
            }
        }
    }
}

impl<H, Fut> Serving<H>
where
    H: FnMut(StreamReader, StreamWriter) -> Fut + 'static,
    Fut: Future<Output = ()> + 'static,
{
    /// Takes a connection in: registered, then handed to a new handler task.
    fn take_in(&mut self, sock: Sock) {
        if !self.registry.control.is_serving() {
            // Closed from a handler of this very turn: nothing is taken in any more.
            return;
        }
        let registration = self.registry.reserve();
        let slot = registration.slot;
        let conn = Rc::new(Conn::new(sock, Some(registration)));
        self.registry.fill(slot, &conn);
        let reader = StreamReader::new(conn.clone());
        let writer = StreamWriter::new(conn);
        let core = crate::event_loop::context::current_core(self.what);
        match catch_unwind(AssertUnwindSafe(|| (self.handler)(reader, writer))) {
            Ok(handling) => drop(core.spawn(handling, core.eager_tasks())),
            // Re-raised in a task of its own: reported as any task's panic.
            Err(panic) => drop(core.spawn(async move { resume_unwind(panic) }, false)),
        }
    }
}

impl<H> Serving<H> {
    /// Stops accepting: the accept in flight and the listener are dropped, and a Unix
    /// server's socket file is removed. Idempotent.
    fn stop_accepting(&mut self) {
        self.accept = None;
        let Some(listener) = self.listener.take() else {
            return;
        };
        self.registry.control.listener_dropped();
        if let Listener::Unix(l, Some((path, id))) = listener {
            drop(l);
            let same = std::fs::metadata(&path).is_ok_and(|m| (m.dev(), m.ino()) == id);
            if same {
                let _ = std::fs::remove_file(&path);
            }
        }
    }

    /// Ends the server: stops accepting, aborts the connections left (none once it was
    /// closed and drained), and tells the control block. Idempotent.
    fn end(&mut self) {
        if self.ended {
            return;
        }
        self.ended = true;
        self.stop_accepting();
        let left = self.registry.live();
        self.registry.ended.set(true);
        for conn in left {
            writer::abort(&conn);
        }
        self.registry.server.borrow_mut().take();
        self.registry.control.end();
    }
}

impl<H> Drop for Serving<H> {
    fn drop(&mut self) {
        self.end();
    }
}
