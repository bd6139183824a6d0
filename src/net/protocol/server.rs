//! The server behind [`serve`](super::serve) and [`create_server`](super::create_server),
//! its engine: the connection table, its poll, completions, settling what protocols are
//! owed, stopping and teardown. How it accepts is in `accept.rs`, how it reads in
//! `read.rs`, how its handles reach it in `control.rs`.
//!
//! # Ground rules
//!
//! - Every call into user code goes through [`call`] (a protocol's callbacks) or
//!   [`guarded`] (the factory, `connection_lost`, destructors), with no borrow of the
//!   connection held: the protocol may use its transport.
//! - After every callback and every completion the server [settles](Engine::settle) the
//!   connection: it pays what the protocol is owed and carries out closes, so a protocol
//!   is never re-entered.
//! - A slot is freed, and its descriptor closed, only once the connection is lost and
//!   the kernel gave back its operations ([`Engine::try_free`]); a stale completion finds
//!   a newer generation in the slot and is dropped.
//! - Each turn starts with what the [control block](Control) says the engine owes
//!   (stop accepting, abort or close every connection), before anything is accepted. A
//!   connection is taken in only while the control block says the server is serving,
//!   and counted there until its slot is freed.

use std::cell::{Cell, RefCell};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use super::Protocol;
use super::accept::Acceptor;
use super::callback::{Callback, guarded};
use super::control::{Control, Owed};
use super::listener::AnyListener;
use super::read::READ_BUF;
use super::state::{Sent, Settle};
use super::transport::{Conn, ConnIo, SEND, Shared, Transport, untag};
use crate::driver::bufring::BufRing;
use crate::driver::fd::Fd;
use crate::driver::sink::{self, Sink, SinkEvent};
use crate::driver::sink_io::{self, Accepted, MultiAccept};
use crate::event_loop::Core;
use crate::net::socket::ACCEPT_BACKOFF_MIN;
use crate::net::socket::{close_registered, close_soon, register_fixed_on};

/// A slot of the connection table.
pub(super) struct Entry<P> {
    /// Bumped whenever the slot is freed, so a late completion cannot reach its next
    /// connection.
    pub(super) generation: u32,
    pub(super) conn: Option<Rc<Conn>>,
    /// `None` once the connection is lost (the protocol was retired).
    pub(super) proto: Option<P>,
    /// Data that arrived while reading was paused (multishot receives cancel late).
    pub(super) stash: Vec<u8>,
}

/// The protocol server's engine: accepts, and serves each connection through its
/// protocol.
pub(super) struct Engine<P: Protocol, F: FnMut() -> P> {
    pub(super) shared: Rc<Shared>,
    /// What the engine shares with its handles: its lifecycle, its connection count.
    control: Rc<Control>,
    /// `None` once the server is dropped (its destructor runs guarded), and for the
    /// engine of a single connection, which has no factory.
    factory: Option<F>,
    /// `None` once the server stopped accepting, and for a single connection's engine.
    pub(super) listener: Option<AnyListener>,
    pub(super) acceptor: Acceptor,
    /// Scratch for the multishot accept's drained completions, kept for its memory
    /// (empty between polls).
    pub(super) accepted: Vec<Accepted>,
    /// Out of descriptors: the multishot accept is re-armed when this sleep ends.
    pub(super) backoff: Option<Pin<Box<crate::time::Sleep>>>,
    pub(super) backoff_len: Duration,
    /// The multishot accept delivered a connection at least once (so an `EINVAL` is not
    /// the kernel refusing the multishot flag).
    pub(super) accepted_any: bool,
    pub(super) entries: Vec<Entry<P>>,
    free: Vec<u32>,
    events: Vec<SinkEvent>,
    dirty: Vec<u32>,
    /// Connections to re-arm once buffers came back, or to read again (readiness path).
    pub(super) retry: Vec<u32>,
    retry_spare: Vec<u32>,
    /// The loop's provided-buffer ring: multishot receives. `None`: the readiness path.
    pub(super) ring: Option<Rc<BufRing>>,
    /// The readiness path's one read buffer (empty on the multishot path).
    pub(super) read_buf: Vec<u8>,
    /// The engine's poll returned `Ready`: it is never polled again.
    ended: bool,
}

impl<P: Protocol, F: FnMut() -> P> Engine<P, F> {
    /// A server accepting on `listener`, each connection served by a protocol from
    /// `factory`; `what` names the API in panics and reports.
    pub(super) fn new(listener: AnyListener, factory: F, what: &'static str) -> Engine<P, F> {
        let core = crate::event_loop::context::current_core(what);
        let acceptor = if core.io().with_driver(|d| d.multishot_accept()) == Some(true) {
            Acceptor::Multi(MultiAccept::new(core.io().clone(), listener.raw_fd()))
        } else {
            Acceptor::Single(None)
        };
        let control = Control::new(Some(listener.raw_fd()), listener.listen_addr().ok());
        Engine::build(core, control, Some(listener), acceptor, Some(factory), what)
    }

    /// The engine itself, of a server or of one connection.
    pub(super) fn build(
        core: Rc<Core>,
        control: Control,
        listener: Option<AnyListener>,
        acceptor: Acceptor,
        factory: Option<F>,
        what: &'static str,
    ) -> Engine<P, F> {
        let ring = core.io().with_driver(|d| d.buf_ring()).flatten();
        let read_buf = if ring.is_some() {
            Vec::new()
        } else {
            vec![0; READ_BUF]
        };
        // epoll has no other way; on io_uring a send at once saves the enter that would
        // carry it (measured: less CPU per round trip, 1 to 100 connections).
        let try_send = ring.is_none() || core.io().try_first_io();
        Engine {
            shared: Rc::new(Shared {
                io: core.io().clone(),
                core,
                sink: Rc::new(Sink::new()),
                dirty: RefCell::new(Vec::new()),
                in_poll: Cell::new(false),
                try_send,
                what,
            }),
            control: Rc::new(control),
            factory,
            listener,
            acceptor,
            accepted: Vec::new(),
            backoff: None,
            backoff_len: ACCEPT_BACKOFF_MIN,
            accepted_any: false,
            entries: Vec::new(),
            free: Vec::new(),
            events: Vec::new(),
            dirty: Vec::new(),
            retry: Vec::new(),
            retry_spare: Vec::new(),
            ring,
            read_buf,
            ended: false,
        }
    }

    /// The control block its handles share.
    pub(super) fn control(&self) -> &Rc<Control> {
        &self.control
    }

    /// Serves: `Ready` with an error from accepting, or with `Ok` once the server was
    /// closed and its last connection is gone; then it has closed everything.
    pub(super) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.ended {
            panic!("ringloop::net::serve polled after it completed");
        }
        self.shared.in_poll.set(true);
        self.control.register(cx.waker());
        let mut result = self.run(cx);
        if result.is_pending() && self.control.state().finished() {
            result = Poll::Ready(Ok(()));
        }
        if result.is_ready() {
            // Never polled again: nothing would serve the connections.
            self.ended = true;
            self.close_all();
        }
        self.shared.in_poll.set(false);
        result
    }

    fn run(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            let mut progressed = false;
            // What the handles asked for, before anything new is taken in.
            let owed = self.control.take_owed();
            if owed.any() {
                self.pay(owed);
                progressed = true;
            }
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

    /// Carries out what the handles asked for.
    fn pay(&mut self, owed: Owed) {
        if owed.stop_accepting {
            self.stop_accepting();
        }
        if owed.abort_clients || owed.close_clients {
            for slot in 0..self.entries.len() {
                let Some(conn) = self.entries[slot].conn.clone() else {
                    continue;
                };
                // The transport's own rules (a lost connection ignores them); the
                // connection lands on the dirty list, which this turn goes through next.
                let transport = Transport { conn };
                if owed.abort_clients {
                    transport.abort();
                } else {
                    transport.close();
                }
            }
        }
    }

    /// Stops accepting: the accept in flight is abandoned (the driver closes whatever it
    /// still accepts), connections it delivered and nobody took in are closed, and the
    /// listener is closed. Idempotent.
    fn stop_accepting(&mut self) {
        self.acceptor = Acceptor::Stopped;
        self.backoff = None;
        for fd in self.accepted.drain(..).flatten() {
            close_soon(fd);
        }
        if let Some(listener) = self.listener.take() {
            self.control.listener_dropped();
            drop(listener);
        }
    }

    /// Takes in an accepted connection: a protocol from the factory, then
    /// [`adopt`](Self::adopt). Once the server is closing it is closed instead.
    pub(super) fn add(&mut self, fd: OwnedFd) {
        if !self.control.is_serving() {
            // Closed from a callback of this very turn: from then on nothing is taken in.
            close_soon(fd);
            return;
        }
        let Some(factory) = self.factory.as_mut() else {
            unreachable!(
                "a server has its factory until its Drop; a connection's engine accepts nothing"
            );
        };
        let Ok(proto) = guarded(
            &self.shared.core,
            self.shared.what,
            Callback::Factory,
            factory,
        ) else {
            // Reported: this connection goes, accepting goes on.
            close_soon(fd);
            return;
        };
        drop(self.adopt(fd, proto));
    }

    /// Serves the connected socket `fd` with `proto`: a slot in the table,
    /// `connection_made`, then reading. The connection's transport.
    pub(super) fn adopt(&mut self, fd: OwnedFd, proto: P) -> Transport {
        // As asyncio does for every TCP transport: no Nagle delay on small writes (a Unix
        // socket refuses the option, which is fine).
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
            handle: register_fixed_on(&self.shared.io, Fd::new(fd.as_raw_fd())),
            io: RefCell::new(ConnIo::new(fd)),
        });
        entry.conn = Some(conn.clone());
        entry.proto = Some(proto);
        self.control.opened();
        let transport = Transport { conn: conn.clone() };
        let handed = transport.clone();
        call(&conn, entry.proto.as_mut(), Callback::ConnectionMade, |p| {
            p.connection_made(handed)
        });
        self.settle(slot);
        self.start_reading(slot);
        transport
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

    /// Gives a completion's provided buffer, if it carries one, back to the ring.
    pub(super) fn recycle(&self, flags: u32) {
        if let (Some(bid), Some(ring)) = (sink::buffer_id(flags), &self.ring) {
            ring.recycle(bid);
        }
    }

    /// A send completed: what was written meanwhile leaves next, and writing resumes once
    /// the buffer drained to the low-water mark.
    fn on_send(&mut self, conn: &Conn, result: i32) {
        let slot = conn.slot as usize;
        let mut io = conn.io.borrow_mut();
        let done = io.out.complete(result);
        match io.state.sent(done) {
            Sent::Stop => return,
            Sent::Refill => {}
        }
        if io.out.remaining() == 0 && !io.pending.is_empty() {
            let ConnIo { out, pending, .. } = &mut *io;
            out.swap_in(pending);
        }
        if io.out.remaining() > 0 {
            let tag = conn.tag(SEND);
            if let Err(e) = io
                .out
                .submit(&self.shared.io, conn.handle, &self.shared.sink, tag)
            {
                io.state.fail(e);
                return;
            }
        }
        let buffered = io.buffered();
        if io.state.drained(buffered) {
            drop(io);
            let proto = self.entries[slot].proto.as_mut();
            call(conn, proto, Callback::ResumeWriting, |p| p.resume_writing());
        }
    }

    /// A transport was used outside the server's own handling: look at it.
    fn on_dirty(&mut self, slot: u32) {
        let Some(conn) = self.entries[slot as usize].conn.clone() else {
            return;
        };
        conn.io.borrow_mut().state.unmark();
        self.settle(slot);
        // Resumed reading: what arrived meanwhile first, then read again.
        let resume = {
            let io = conn.io.borrow();
            io.state.wants_read() && io.recv.is_none()
        };
        let entry = &mut self.entries[slot as usize];
        if conn.io.borrow().state.can_deliver() && !entry.stash.is_empty() {
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
        let holding = !self.entries[slot as usize].stash.is_empty();
        if conn.io.borrow_mut().state.take_held_eof(holding) {
            self.on_eof(&conn);
            self.settle(slot);
        }
        if resume {
            self.start_reading(slot);
        }
        self.try_free(slot);
    }

    /// Pays what the protocol is owed and carries out closes: called after every
    /// callback, so a protocol is never re-entered.
    pub(super) fn settle(&mut self, slot: u32) {
        let Some(conn) = self.entries[slot as usize].conn.clone() else {
            return;
        };
        loop {
            let mut io = conn.io.borrow_mut();
            let flushed = io.flushed();
            let owed = io.state.settle(flushed);
            // Whatever is owed, the borrow ends before user code runs.
            match owed {
                Settle::Done => return,
                Settle::PauseWriting => {
                    drop(io);
                    let proto = self.entries[slot as usize].proto.as_mut();
                    call(&conn, proto, Callback::PauseWriting, |p| p.pause_writing());
                }
                Settle::ResumeWriting => {
                    drop(io);
                    let proto = self.entries[slot as usize].proto.as_mut();
                    call(&conn, proto, Callback::ResumeWriting, |p| {
                        p.resume_writing()
                    });
                }
                Settle::Lost(error) => {
                    io.drop_io(&self.shared.io);
                    drop(io);
                    self.lose(slot, error);
                    return;
                }
            }
        }
    }

    /// The connection in `slot` is lost and its operations stopped: drop what it held
    /// and tell the protocol (once: only [`settle`](Self::settle) calls this, when the
    /// state turned lost).
    fn lose(&mut self, slot: u32, error: Option<io::Error>) {
        let entry = &mut self.entries[slot as usize];
        entry.stash.clear();
        if let Some(proto) = entry.proto.take() {
            retire(&self.shared, proto, error);
        }
    }

    /// Frees a lost connection's slot once the kernel gave back its operations, and
    /// closes its descriptor.
    pub(super) fn try_free(&mut self, slot: u32) {
        let entry = &mut self.entries[slot as usize];
        let Some(conn) = &entry.conn else {
            return;
        };
        let fd = {
            let mut io = conn.io.borrow_mut();
            if !io.state.is_lost() || io.recv.is_some() || io.out.in_flight() {
                return;
            }
            io.fd.take()
        };
        if let Some(fd) = fd {
            close_registered(&self.shared.io, conn.handle, fd);
        }
        entry.conn = None;
        entry.generation = entry.generation.wrapping_add(1);
        self.free.push(slot);
        self.control.freed();
    }

    /// Ends the server (it stopped, or is dropped): stops accepting and closes every
    /// connection. First the kernel's side of all of them — receives cancelled, sends
    /// handed to the driver, descriptors closed — with no user code in between; then each
    /// protocol still owed it hears `connection_lost(None)`, a panic there going no
    /// further; then the `wait_closed` waiters are woken. Idempotent.
    fn close_all(&mut self) {
        self.shared.in_poll.set(true);
        self.shared.sink.detach();
        // A handle used from the callbacks below must not wake a task that is ending.
        self.control.detach();
        self.stop_accepting();
        let core = self.shared.core.clone();
        let shared = self.shared.clone();
        let mut owed = Vec::new();
        for (slot, entry) in self.entries.iter_mut().enumerate() {
            let Some(conn) = entry.conn.take() else {
                continue;
            };
            let mut io = conn.io.borrow_mut();
            io.state.tear_down();
            io.pending.clear();
            if let Some(id) = io.recv.take() {
                sink_io::abandon_plain(core.io(), id);
            }
            // A send in flight: its buffer goes to the driver until the kernel is done.
            drop(std::mem::take(&mut io.out));
            if let Some(fd) = io.fd.take() {
                close_registered(core.io(), conn.handle, fd);
            }
            drop(io);
            entry.stash = Vec::new();
            entry.generation = entry.generation.wrapping_add(1);
            self.free.push(slot as u32);
            owed.extend(entry.proto.take());
        }
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
            retire(&shared, proto, None);
        }
        self.control.end();
    }
}

impl<P: Protocol, F: FnMut() -> P> Drop for Engine<P, F> {
    fn drop(&mut self) {
        self.close_all();
        if let Some(factory) = self.factory.take() {
            let shared = &self.shared;
            let _ = guarded(
                &shared.core,
                shared.what,
                Callback::DropFactory,
                move || drop(factory),
            );
        }
    }
}

/// Calls `f` on a connection's protocol, if it still has one, through [`guarded`]: a
/// panic fails the connection, which the next [`Engine::settle`] loses with the panic as
/// its error. `None` when there was no protocol or it panicked.
pub(super) fn call<P: Protocol, R>(
    conn: &Conn,
    proto: Option<&mut P>,
    callback: Callback,
    f: impl FnOnce(&mut P) -> R,
) -> Option<R> {
    let proto = proto?;
    match guarded(&conn.shared.core, conn.shared.what, callback, || f(proto)) {
        Ok(value) => Some(value),
        Err(error) => {
            conn.io.borrow_mut().state.panicked(error);
            None
        }
    }
}

/// Tells a protocol its connection is gone and lets go of it; a panic in either is
/// reported and goes no further.
fn retire<P: Protocol>(shared: &Shared, mut proto: P, error: Option<io::Error>) {
    let (core, what) = (&shared.core, shared.what);
    let _ = guarded(core, what, Callback::ConnectionLost, || {
        proto.connection_lost(error)
    });
    let _ = guarded(core, what, Callback::DropProtocol, move || drop(proto));
}
