//! Safe handles for sink operations (see `sink.rs`), for the protocol server.
//!
//! [`submit_plain`] submits operations that hold no memory (multishot receive, poll).
//! [`MultiAccept`] owns a multishot accept and the sink its connections arrive in: every
//! descriptor it produced is owned at once, or closed, never leaked.
//! [`SendBuf`] owns a send buffer and its one send in flight: the buffer cannot be
//! touched while the kernel may read it, and dropping it mid-send hands the buffer to the
//! driver until the completion arrives.

use std::any::Any;
use std::fmt;
use std::io;
use std::os::fd::{OwnedFd, RawFd};
use std::rc::Rc;
use std::task::Waker;

use super::fd::Fd;
use super::handle::DriverHandle;
use super::op::{Late, OpCode, OpId, loop_closed};
use super::sink::{self, Sink, SinkEvent};
use crate::driver::ops::close::close_on;
use crate::sys::net::own;

/// Submits a memory-free operation whose completions go to `sink` with `tag`.
///
/// # Panics
///
/// If `op` holds pointers (only `RecvMulti`, `PollIn` and `AcceptMulti` are accepted).
/// An `AcceptMulti` belongs in a [`MultiAccept`], which owns the descriptors it yields.
pub(crate) fn submit_plain(
    io: &DriverHandle,
    op: OpCode,
    sink: &Rc<Sink>,
    tag: u64,
) -> io::Result<OpId> {
    assert!(
        matches!(
            op,
            OpCode::RecvMulti { .. } | OpCode::PollIn { .. } | OpCode::AcceptMulti { .. }
        ),
        "submit_plain takes operations without memory, not {op:?}"
    );
    // SAFETY: the operation holds no pointers (checked above).
    io.with_driver(|d| unsafe { d.submit_to(op, sink, tag) })
        .unwrap_or_else(|| Err(loop_closed()))
}

/// Asks the kernel to cancel a sink operation; its final completion still arrives.
pub(crate) fn cancel(io: &DriverHandle, id: OpId) {
    io.with_driver(|d| d.cancel_op(id));
}

/// Gives a memory-free sink operation up: the driver cancels it and drops its
/// completions (returning any provided buffers they carry).
pub(crate) fn abandon_plain(io: &DriverHandle, id: OpId) {
    io.with_driver(|d| {
        // Cancelled first, explicitly: a driver leaves an abandoned operation that holds
        // nothing to finish on its own, which a multishot receive never does.
        d.cancel_op(id);
        d.abandon_op(id, None, Late::Ignore);
    });
}

/// What one completion of a [`MultiAccept`] brought: the new connection, or the
/// accept's error (which ends the multishot).
pub(crate) type Accepted = io::Result<OwnedFd>;

/// A multishot accept(2) on a listening socket, with a sink of its own: every completion
/// in that sink comes from this handle's operations, so each non-negative result is a
/// new descriptor that nothing else owns.
///
/// Dropping it abandons the operation in flight with `Late::CloseFd` (the driver closes
/// whatever it still accepts) and closes the connections already in the sink.
pub(crate) struct MultiAccept {
    io: Rc<DriverHandle>,
    listener: RawFd,
    sink: Rc<Sink>,
    /// The armed operation, until its final completion was drained.
    armed: Option<OpId>,
    events: Vec<SinkEvent>,
}

impl MultiAccept {
    /// A handle for `listener` (which must outlive it); nothing is armed yet.
    pub(crate) fn new(io: Rc<DriverHandle>, listener: RawFd) -> MultiAccept {
        MultiAccept {
            io,
            listener,
            sink: Rc::new(Sink::new()),
            armed: None,
            events: Vec::new(),
        }
    }

    /// Arms the multishot accept (nothing if one is in flight). It ends with an error or
    /// when the kernel cannot post a completion; re-arm it then.
    pub(crate) fn arm(&mut self) -> io::Result<()> {
        if self.armed.is_none() {
            let op = OpCode::AcceptMulti { fd: self.listener };
            self.armed = Some(submit_plain(&self.io, op, &self.sink, 0)?);
        }
        Ok(())
    }

    /// Moves what arrived into `out` and registers `waker` for what comes next.
    pub(crate) fn drain_into(&mut self, out: &mut Vec<Accepted>, waker: &Waker) {
        self.sink.drain_into(&mut self.events, waker);
        for event in self.events.drain(..) {
            if sink::is_final(event.flags) {
                self.armed = None;
            }
            let result = crate::sys::result(event.result).map(|fd| {
                // SAFETY: this sink only receives completions of this handle's
                // `AcceptMulti` operations, and a successful one is a descriptor the
                // kernel just created for us; it is taken out of the sink here, once.
                unsafe { own(fd as RawFd) }
            });
            out.push(result);
        }
    }
}

impl Drop for MultiAccept {
    fn drop(&mut self) {
        self.sink.detach();
        if let Some(id) = self.armed.take() {
            // The kernel may go on accepting until the cancel lands: the driver closes
            // every descriptor it still produces.
            self.io
                .with_driver(|d| d.abandon_op(id, None, Late::CloseFd));
        }
        // Connections accepted before the abandon (or while the loop drained at close).
        let mut out = Vec::new();
        self.drain_into(&mut out, Waker::noop());
        self.sink.detach();
        for fd in out.into_iter().flatten() {
            close_on(&self.io, fd);
        }
    }
}

impl fmt::Debug for MultiAccept {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MultiAccept")
            .field("listener", &self.listener)
            .field("armed", &self.armed.is_some())
            .finish()
    }
}

/// A send buffer with at most one send(2) in flight, whose completion goes to a sink.
///
/// # Invariant
///
/// While `flight` is `Some`, `buf`'s heap memory is read by the kernel: `buf` is neither
/// written, grown nor dropped until [`complete`](SendBuf::complete) clears it, or
/// [`Drop`] hands it to the driver.
#[derive(Default)]
pub(crate) struct SendBuf {
    buf: Vec<u8>,
    /// Bytes of `buf` already sent.
    sent: usize,
    flight: Option<(Rc<DriverHandle>, OpId)>,
}

impl SendBuf {
    pub(crate) fn new() -> SendBuf {
        SendBuf::default()
    }

    /// Whether a send is in flight.
    pub(crate) fn in_flight(&self) -> bool {
        self.flight.is_some()
    }

    /// Bytes not yet sent.
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.sent
    }

    /// The buffer to append to; `None` while a send is in flight.
    pub(crate) fn buf_mut(&mut self) -> Option<&mut Vec<u8>> {
        if self.flight.is_some() {
            return None;
        }
        if self.sent == self.buf.len() {
            self.buf.clear();
            self.sent = 0;
        }
        Some(&mut self.buf)
    }

    /// Swaps the (fully sent) buffer with `other`, keeping both capacities.
    pub(crate) fn swap_in(&mut self, other: &mut Vec<u8>) {
        assert!(
            self.flight.is_none() && self.remaining() == 0,
            "swapping a send buffer with bytes or a send outstanding"
        );
        self.buf.clear();
        self.sent = 0;
        std::mem::swap(&mut self.buf, other);
    }

    /// Drops what was not sent (nothing may be in flight).
    pub(crate) fn discard(&mut self) {
        if self.flight.is_none() {
            self.buf.clear();
            self.sent = 0;
        }
    }

    /// Submits one send of the unsent bytes to `sink` with `tag`.
    pub(crate) fn submit(
        &mut self,
        io: &Rc<DriverHandle>,
        fd: Fd,
        sink: &Rc<Sink>,
        tag: u64,
    ) -> io::Result<()> {
        assert!(self.flight.is_none(), "one send in flight at a time");
        let rest = &self.buf[self.sent..];
        let op = OpCode::Send {
            fd,
            buf: rest.as_ptr(),
            len: u32::try_from(rest.len()).unwrap_or(u32::MAX),
            zc: false,
        };
        // SAFETY: the pointer is into `buf`'s heap memory, which the invariant keeps in
        // place and unwritten until the completion, or hands to the driver on drop.
        let submitted = io.with_driver(|d| unsafe { d.submit_to(op, sink, tag) });
        match submitted {
            Some(Ok(id)) => {
                self.flight = Some((io.clone(), id));
                Ok(())
            }
            Some(Err(e)) => Err(e),
            None => Err(loop_closed()),
        }
    }

    /// The send's final completion arrived: how many bytes went, or the error.
    pub(crate) fn complete(&mut self, result: i32) -> io::Result<usize> {
        self.flight = None;
        let n = (crate::sys::result(result)? as usize).min(self.remaining());
        self.sent += n;
        Ok(n)
    }

    /// Asks the kernel to cancel the send in flight, if any.
    pub(crate) fn cancel(&self) {
        if let Some((io, id)) = &self.flight {
            cancel(io, *id);
        }
    }
}

impl Drop for SendBuf {
    fn drop(&mut self) {
        if let Some((io, id)) = self.flight.take() {
            let held: Box<dyn Any> = Box::new(std::mem::take(&mut self.buf));
            let mut held = Some(held);
            io.with_driver(|d| d.abandon_op(id, held.take(), Late::Ignore));
            if let Some(held) = held {
                // No driver: the loop closed, and drained the kernel's work unless it
                // says otherwise, in which case the memory is leaked, never freed.
                if !io.io_drained() {
                    std::mem::forget(held);
                }
            }
        }
    }
}

impl fmt::Debug for SendBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendBuf")
            .field("len", &self.buf.len())
            .field("sent", &self.sent)
            .field("in_flight", &self.flight.is_some())
            .finish()
    }
}
