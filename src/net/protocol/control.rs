//! A server's lifecycle, shared by the running server and its [`Server`] handles: the
//! state as a spec (flags, the connection count, the transitions), and the control
//! block that carries the transitions' effects out.
//!
//! # Ground rules
//!
//! - The control block sits in an `Rc` shared by the server (the engine in `server.rs`)
//!   and its handles, and is only read or changed on the loop's thread.
//! - A handle *asks*; what needs the connection table (dropping the listener, aborting
//!   or closing every connection) is *owed* to the server, which takes what it owes at
//!   the start of its next turn ([`ServerState::take_owed`]). Two things happen at once,
//!   in the handle's call: [`close`](Control::close) shuts the listening socket down, so
//!   the kernel refuses new connections from that moment, and, when no connection is
//!   left, it resolves `wait_closed`.
//! - Every change is a transition below; what it leaves its caller to do (shut the
//!   listener down, wake the server, wake the `wait_closed` waiters) comes back as a
//!   `#[must_use]` value, so each rule is coded once, here.
//! - The server counts its connections here ([`opened`](ServerState::opened) when one is
//!   taken in, [`freed`](ServerState::freed) when its slot is freed, its descriptor
//!   closed), so a handle knows, without the server, whether any is left.
//! - The listening socket's descriptor is recorded here only while the server holds it
//!   open: a handle never shuts down a descriptor number that may have been reused.
//!
//! # The way to `wait_closed`
//!
//! ```text
//! serving ── close() ──▶ CLOSING ── no connection left ──────────────────▶ CLOSED
//!   └── the server ends (an accept error; its task cancelled or dropped) ──▶ ENDED | CLOSED
//! ```
//!
//! `CLOSED` is set once, and the `wait_closed` waiters are woken then: by `close()`
//! itself when no connection is left, else when the server frees the last one, or when
//! the server ends (which closes every connection it still had).
//!
//! [`Server`]: super::Server

use std::cell::{Cell, RefCell};
use std::fmt;
use std::os::fd::RawFd;
use std::task::Waker;

use super::listener::ListenAddr;
use super::state::debug_flags;
use crate::sync::Event;

/// A snapshot of a server's flags.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct ServerFlags(u8);

impl ServerFlags {
    /// `close()` was called: no connection is taken in any more (new ones are refused by
    /// the kernel, the listener being shut down), established ones run on.
    pub(super) const CLOSING: u8 = 1 << 0;
    /// The server owes dropping its listener and its accept (set with `CLOSING`).
    pub(super) const STOP_OWED: u8 = 1 << 1;
    /// The server owes aborting every connection (`abort_clients()`).
    pub(super) const ABORT_OWED: u8 = 1 << 2;
    /// The server owes closing every connection once flushed (`close_clients()`).
    pub(super) const CLOSE_OWED: u8 = 1 << 3;
    /// The server is gone (an accept error ended it, or its task was cancelled or
    /// dropped): no connection is left and nothing is owed any more.
    pub(super) const ENDED: u8 = 1 << 4;
    /// `wait_closed` resolves: `CLOSING` with no connection left, or `ENDED`. Set once.
    pub(super) const CLOSED: u8 = 1 << 5;

    const NAMES: [(u8, &'static str); 6] = [
        (ServerFlags::CLOSING, "CLOSING"),
        (ServerFlags::STOP_OWED, "STOP_OWED"),
        (ServerFlags::ABORT_OWED, "ABORT_OWED"),
        (ServerFlags::CLOSE_OWED, "CLOSE_OWED"),
        (ServerFlags::ENDED, "ENDED"),
        (ServerFlags::CLOSED, "CLOSED"),
    ];

    /// Whether any of `bits` is set.
    pub(super) fn has(self, bits: u8) -> bool {
        self.0 & bits != 0
    }

    fn set(&mut self, bits: u8) {
        self.0 |= bits;
    }

    fn clear(&mut self, bits: u8) {
        self.0 &= !bits;
    }
}

impl fmt::Debug for ServerFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set = ServerFlags::NAMES.iter().filter(|(bit, _)| self.has(*bit));
        debug_flags(f, "ServerFlags", set.map(|(_, name)| *name))
    }
}

/// What a `close()` leaves its caller to do.
#[must_use = "a close must shut the listener down and wake the server"]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Close {
    /// Nothing: the server was already closing, or is gone.
    Nothing,
    /// Shut the listening socket down and wake the server (it owes dropping its
    /// listener); when `closed`, no connection is left: wake the `wait_closed` waiters.
    StopAccepting {
        /// `CLOSED` is now set.
        closed: bool,
    },
}

/// What the server owes, taken at the start of its turn.
#[must_use = "what the server owes must be carried out"]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(in crate::net) struct Owed {
    /// Drop the listener and the accept in flight; close connections accepted by the
    /// kernel and not taken in yet.
    pub(in crate::net) stop_accepting: bool,
    /// Abort every connection ([`Transport::abort`](super::Transport::abort)).
    pub(in crate::net) abort_clients: bool,
    /// Close every connection once flushed ([`Transport::close`](super::Transport::close)).
    pub(in crate::net) close_clients: bool,
}

impl Owed {
    /// Whether anything is owed.
    pub(super) fn any(self) -> bool {
        self.stop_accepting || self.abort_clients || self.close_clients
    }
}

/// A server's state: its flags and how many connections it holds (taken in and not yet
/// freed).
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub(in crate::net) struct ServerState {
    flags: ServerFlags,
    connections: usize,
}

impl ServerState {
    /// A server just built: serving, no connection.
    pub(super) fn new() -> ServerState {
        ServerState::default()
    }

    // Queries.

    /// A snapshot of the flags.
    pub(super) fn flags(&self) -> ServerFlags {
        self.flags
    }

    /// Connections taken in and not yet freed.
    pub(super) fn connections(&self) -> usize {
        self.connections
    }

    /// Accepting: neither closing nor gone (asyncio's `is_serving()`).
    pub(super) fn is_serving(&self) -> bool {
        !self.flags.has(ServerFlags::CLOSING | ServerFlags::ENDED)
    }

    /// Its work is done: closing, and no connection is left. The server may end.
    pub(in crate::net) fn finished(&self) -> bool {
        self.flags.has(ServerFlags::CLOSING) && self.connections == 0
    }

    // The handle's transitions.

    /// `close()`: stop accepting; `CLOSED` at once when no connection is left. Once only,
    /// and nothing once the server is gone.
    pub(super) fn close(&mut self) -> Close {
        if self.flags.has(ServerFlags::CLOSING | ServerFlags::ENDED) {
            return Close::Nothing;
        }
        self.flags
            .set(ServerFlags::CLOSING | ServerFlags::STOP_OWED);
        Close::StopAccepting {
            closed: self.close_if_done(),
        }
    }

    /// `abort_clients()`: `true` when the server must be woken to abort its connections
    /// (it has some, and is not gone).
    #[must_use = "the server must be woken to abort its connections"]
    pub(super) fn abort_clients(&mut self) -> bool {
        self.owe(ServerFlags::ABORT_OWED)
    }

    /// `close_clients()`: `true` when the server must be woken to close its connections
    /// (it has some, and is not gone).
    #[must_use = "the server must be woken to close its connections"]
    pub(super) fn close_clients(&mut self) -> bool {
        self.owe(ServerFlags::CLOSE_OWED)
    }

    fn owe(&mut self, bit: u8) -> bool {
        if self.flags.has(ServerFlags::ENDED) || self.connections == 0 {
            return false;
        }
        let newly = !self.flags.has(bit);
        self.flags.set(bit);
        newly
    }

    // The server's transitions.

    /// Takes what the server owes (clearing it).
    pub(super) fn take_owed(&mut self) -> Owed {
        let owed = Owed {
            stop_accepting: self.flags.has(ServerFlags::STOP_OWED),
            abort_clients: self.flags.has(ServerFlags::ABORT_OWED),
            close_clients: self.flags.has(ServerFlags::CLOSE_OWED),
        };
        self.flags
            .clear(ServerFlags::STOP_OWED | ServerFlags::ABORT_OWED | ServerFlags::CLOSE_OWED);
        owed
    }

    /// A connection was taken in.
    ///
    /// # Panics
    ///
    /// When the server is not serving: it must check [`is_serving`](Self::is_serving)
    /// before it takes one in.
    pub(super) fn opened(&mut self) {
        assert!(
            self.is_serving(),
            "a connection taken in by a server that stopped accepting: {self:?}"
        );
        self.connections += 1;
    }

    /// A connection's slot was freed (its descriptor closed): `true` when it was the last
    /// one of a closing server, `CLOSED` is now set and the waiters must be woken.
    ///
    /// # Panics
    ///
    /// When no connection was counted.
    #[must_use = "the wait_closed waiters must be woken"]
    pub(super) fn freed(&mut self) -> bool {
        assert!(
            self.connections > 0,
            "a connection freed that was never counted: {self:?}"
        );
        self.connections -= 1;
        self.close_if_done()
    }

    /// The server ends, every connection gone: `true` when the waiters must be woken
    /// (`CLOSED` was not set yet).
    #[must_use = "the wait_closed waiters must be woken"]
    pub(super) fn end(&mut self) -> bool {
        self.connections = 0;
        self.flags
            .clear(ServerFlags::STOP_OWED | ServerFlags::ABORT_OWED | ServerFlags::CLOSE_OWED);
        self.flags.set(ServerFlags::ENDED);
        if self.flags.has(ServerFlags::CLOSED) {
            return false;
        }
        self.flags.set(ServerFlags::CLOSED);
        true
    }

    /// Sets `CLOSED` when the server is finished and it was not set yet: `true` then.
    fn close_if_done(&mut self) -> bool {
        if self.finished() && !self.flags.has(ServerFlags::CLOSED) {
            self.flags.set(ServerFlags::CLOSED);
            return true;
        }
        false
    }
}

impl fmt::Debug for ServerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerState")
            .field("flags", &self.flags)
            .field("connections", &self.connections)
            .finish()
    }
}

/// The control block a server shares with its handles: its state, what a handle needs
/// to act at once (the listening socket, the server's waker), and the `wait_closed`
/// event.
pub(in crate::net) struct Control {
    state: Cell<ServerState>,
    /// The listening socket, while the server holds it open.
    listener: Cell<Option<RawFd>>,
    /// The address the server was bound to when it started (`None` when it could not be
    /// read, or for a connection's engine, which has no listener).
    local_addr: Option<ListenAddr>,
    /// Wakes the server's task (registered at each of its turns).
    server: RefCell<Option<Waker>>,
    /// Set once `CLOSED` is: what `wait_closed` waits on.
    closed: Event,
}

impl Control {
    /// The control block of a server starting on the listening socket `listener` (none
    /// for the engine of a single connection, `create_connection`'s).
    pub(in crate::net) fn new(listener: Option<RawFd>, local_addr: Option<ListenAddr>) -> Control {
        Control {
            state: Cell::new(ServerState::new()),
            listener: Cell::new(listener),
            local_addr,
            server: RefCell::new(None),
            closed: Event::new(),
        }
    }

    /// Runs a transition on the state.
    fn update<R>(&self, transition: impl FnOnce(&mut ServerState) -> R) -> R {
        let mut state = self.state.get();
        let result = transition(&mut state);
        self.state.set(state);
        result
    }

    /// A snapshot of the state.
    pub(in crate::net) fn state(&self) -> ServerState {
        self.state.get()
    }

    /// The address the server was bound to.
    pub(super) fn local_addr(&self) -> Option<&ListenAddr> {
        self.local_addr.as_ref()
    }

    /// What `wait_closed` waits on.
    pub(super) fn closed(&self) -> &Event {
        &self.closed
    }

    // For the handles.

    /// Stops accepting: the listening socket is shut down at once (the kernel refuses
    /// new connections and resets those waiting in its backlog), and the server drops it
    /// at its next turn.
    pub(super) fn close(&self) {
        match self.update(ServerState::close) {
            Close::Nothing => {}
            Close::StopAccepting { closed } => {
                if let Some(fd) = self.listener.get() {
                    // A listening socket shut down for reading leaves the listen state:
                    // SYNs to it are answered with a reset, and an accept waiting on it
                    // (a multishot one on io_uring included) ends with an error, which
                    // the server, closing, ignores.
                    let _ = crate::sys::net::shutdown(fd, libc::SHUT_RDWR);
                }
                self.wake_server();
                if closed {
                    self.closed.set();
                }
            }
        }
    }

    /// Asks the server to abort every connection at its next turn.
    pub(super) fn abort_clients(&self) {
        if self.update(ServerState::abort_clients) {
            self.wake_server();
        }
    }

    /// Asks the server to close every connection once flushed, at its next turn.
    pub(super) fn close_clients(&self) {
        if self.update(ServerState::close_clients) {
            self.wake_server();
        }
    }

    fn wake_server(&self) {
        // The borrow ends before the wake.
        let waker = self.server.borrow().clone();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    // For the server.

    /// The server is polled: remember how to wake it.
    pub(in crate::net) fn register(&self, waker: &Waker) {
        let mut server = self.server.borrow_mut();
        match &*server {
            Some(w) if w.will_wake(waker) => {}
            _ => *server = Some(waker.clone()),
        }
    }

    /// What the server owes, taken (at the start of each pass of its turn).
    pub(in crate::net) fn take_owed(&self) -> Owed {
        self.update(ServerState::take_owed)
    }

    /// Whether the server takes a connection in.
    pub(in crate::net) fn is_serving(&self) -> bool {
        self.state.get().is_serving()
    }

    /// The server took a connection in.
    pub(in crate::net) fn opened(&self) {
        self.update(ServerState::opened);
    }

    /// The server freed a connection's slot.
    pub(in crate::net) fn freed(&self) {
        if self.update(ServerState::freed) {
            self.closed.set();
        }
    }

    /// The server dropped its listener: the descriptor may be reused from now on.
    pub(in crate::net) fn listener_dropped(&self) {
        self.listener.set(None);
    }

    /// The server is ending: its task is not to be woken any more (a waker of a task
    /// that is gone is of no use, and would keep its cell alive).
    pub(super) fn detach(&self) {
        let waker = self.server.borrow_mut().take();
        drop(waker);
    }

    /// The server ended; every connection is gone.
    pub(in crate::net) fn end(&self) {
        self.listener.set(None);
        self.detach();
        if self.update(ServerState::end) {
            self.closed.set();
        }
    }
}

impl fmt::Debug for Control {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Control")
            .field("state", &self.state.get())
            .field("listener", &self.listener.get())
            .field("local_addr", &self.local_addr)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_closed(s: &ServerState) -> bool {
        s.flags().has(ServerFlags::CLOSED)
    }

    fn closed(close: Close) -> Option<bool> {
        match close {
            Close::Nothing => None,
            Close::StopAccepting { closed } => Some(closed),
        }
    }

    #[test]
    fn debug_decodes_the_flags() {
        let f = ServerFlags(ServerFlags::CLOSING | ServerFlags::CLOSED);
        assert_eq!(format!("{f:?}"), "ServerFlags(CLOSING | CLOSED)");
        let all = ServerFlags::NAMES
            .iter()
            .fold(0, |bits, (bit, _)| bits | bit);
        assert_eq!(
            all.count_ones() as usize,
            ServerFlags::NAMES.len(),
            "one bit per flag"
        );
        assert_eq!(
            format!("{:?}", ServerState::new()),
            "ServerState { flags: ServerFlags(), connections: 0 }"
        );
    }

    #[test]
    fn a_new_server_serves_and_owes_nothing() {
        let mut s = ServerState::new();
        assert!(s.is_serving() && !s.finished() && !is_closed(&s));
        assert_eq!(s.take_owed(), Owed::default());
        assert!(!s.take_owed().any());
    }

    #[test]
    fn close_with_no_connection_is_closed_at_once() {
        let mut s = ServerState::new();
        assert_eq!(closed(s.close()), Some(true));
        assert!(!s.is_serving() && s.finished() && is_closed(&s));
        assert_eq!(closed(s.close()), None, "closed once");
        let owed = s.take_owed();
        assert!(owed.stop_accepting && !owed.abort_clients && !owed.close_clients);
        assert!(!s.take_owed().any(), "taken once");
    }

    #[test]
    fn close_waits_for_the_last_connection() {
        let mut s = ServerState::new();
        s.opened();
        s.opened();
        assert_eq!(closed(s.close()), Some(false));
        assert!(!s.is_serving() && !s.finished() && !is_closed(&s));
        assert!(!s.freed());
        assert!(s.freed(), "the last one closes");
        assert!(is_closed(&s) && s.finished());
        assert!(!s.end(), "CLOSED was already set");
        assert!(s.flags().has(ServerFlags::ENDED));
    }

    #[test]
    fn connections_come_and_go_while_serving() {
        let mut s = ServerState::new();
        s.opened();
        assert!(!s.freed(), "not closing: nothing resolves");
        assert_eq!(s.connections(), 0);
        assert!(!is_closed(&s));
    }

    #[test]
    #[should_panic(expected = "stopped accepting")]
    fn a_closing_server_takes_no_connection_in() {
        let mut s = ServerState::new();
        let _ = s.close();
        s.opened();
    }

    #[test]
    #[should_panic(expected = "never counted")]
    fn freeing_more_than_was_taken_in_fails_loudly() {
        let mut s = ServerState::new();
        let _ = s.freed();
    }

    #[test]
    fn aborting_or_closing_clients_is_owed_once_and_only_with_connections() {
        let mut s = ServerState::new();
        assert!(!s.abort_clients(), "no connection: nothing to do");
        assert!(!s.close_clients());
        s.opened();
        assert!(s.abort_clients());
        assert!(!s.abort_clients(), "owed once");
        assert!(s.close_clients());
        let owed = s.take_owed();
        assert!(owed.abort_clients && owed.close_clients && !owed.stop_accepting);
        assert!(s.abort_clients(), "owed again after it was taken");
        assert!(s.is_serving(), "aborting clients does not stop accepting");
    }

    #[test]
    fn ending_closes_and_drops_what_was_owed() {
        let mut s = ServerState::new();
        s.opened();
        assert!(s.abort_clients());
        assert!(s.end());
        assert!(is_closed(&s) && !s.is_serving() && s.connections() == 0);
        assert!(!s.take_owed().any());
        assert_eq!(
            closed(s.close()),
            None,
            "a server that is gone closes nothing"
        );
        assert!(!s.abort_clients() && !s.close_clients());
        assert!(!s.end(), "ends once");
    }
}
