//! The loop's door for other threads: a lock-free queue plus one eventfd.
//!
//! A thread that is not running the loop never touches the ring (it is set up
//! single-issuer) nor any loop-thread-only state. It pushes a [`RemoteMsg`] and, if no
//! wake-up is pending yet, writes the eventfd once; the loop drains the queue on its
//! own thread.
//!
//! # Protocol
//!
//! Senders push, then `notified.swap(true)`: only the sender that flips it from `false`
//! writes the eventfd. The loop does `notified.swap(false)` before draining, so a message
//! pushed after the drain began either is drained now or flips the flag again and wakes
//! the loop. Both swaps are read-modify-writes, so a sender that sees `true` is ordered
//! before the loop's reset and its message is visible to the drain that follows.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering, fence};

use crossbeam_queue::SegQueue;

use super::ExceptionContext;
use super::header::NodeRef;

/// A message from another thread (or from a context with no running loop).
pub(crate) enum RemoteMsg {
    /// Schedule this task (the message owns one reference to it).
    Wake(NodeRef),
    /// Run this closure as a callback on the loop.
    Call(Box<dyn FnOnce() + Send + 'static>),
    /// Stop `run_forever` after the current iteration.
    Stop,
    /// Report a failure to the exception handler.
    Report(ExceptionContext),
}

// SAFETY: `Wake` carries a reference to a task node; its count is atomic, and the loop
// thread is the only one that reads the node's other fields (when it drains the queue).
// The other variants are `Send` by their types.
unsafe impl Send for RemoteMsg {}

/// State shared between a loop and every `Remote`, `Waker` and `Task` that points at it.
pub(crate) struct Shared {
    queue: SegQueue<RemoteMsg>,
    notified: AtomicBool,
    closed: AtomicBool,
    eventfd: OwnedFd,
}

impl Shared {
    pub(crate) fn new() -> std::io::Result<Shared> {
        Ok(Shared {
            queue: SegQueue::new(),
            notified: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            eventfd: crate::sys::eventfd()?,
        })
    }

    /// The eventfd the driver keeps a read (or readiness watch) armed on.
    pub(crate) fn wake_fd(&self) -> RawFd {
        self.eventfd.as_raw_fd()
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Marks the loop closed: later `push`es are refused. The loop drains the queue
    /// once more after this.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        fence(Ordering::SeqCst);
    }

    /// Queues `msg` for the loop and wakes it. Gives the message back when the loop has
    /// closed.
    ///
    /// A sender that passed the `closed` check as the loop closed may push after the
    /// loop's last drain. Then it sees `closed` after its push (the fences pair with
    /// `close`: either the loop's drain sees the message, or the sender sees `closed`)
    /// and releases what is queued itself, so nothing waits in the queue for the last
    /// `Remote` to go.
    pub(crate) fn push(&self, msg: RemoteMsg) -> Result<(), RemoteMsg> {
        if self.is_closed() {
            return Err(msg);
        }
        self.queue.push(msg);
        fence(Ordering::SeqCst);
        if self.closed.load(Ordering::SeqCst) {
            self.release_queued();
            return Ok(());
        }
        self.notify();
        Ok(())
    }

    /// Drops what is queued once the loop has closed: calls unrun, task references
    /// released; failures go to the default handler, as for a task handle dropped after
    /// its loop closed.
    fn release_queued(&self) {
        while let Some(msg) = self.queue.pop() {
            match msg {
                RemoteMsg::Report(report) => crate::event_loop::default_exception_handler(report),
                other => drop(other),
            }
        }
    }

    /// Wakes the loop if no wake-up is pending already.
    pub(crate) fn notify(&self) {
        if !self.notified.swap(true, Ordering::AcqRel) {
            // An eventfd write can only fail if the descriptor is broken, which would be
            // a bug in the loop's ownership of it; the message stays queued regardless.
            let _ = crate::sys::eventfd_signal(&self.eventfd);
        }
    }

    /// Whether a drain is due. Cheap: one load.
    pub(crate) fn is_notified(&self) -> bool {
        self.notified.load(Ordering::Acquire)
    }

    /// Resets the flag; call before draining (see the protocol above).
    pub(crate) fn take_notified(&self) -> bool {
        self.notified.swap(false, Ordering::AcqRel)
    }

    pub(crate) fn pop(&self) -> Option<RemoteMsg> {
        self.queue.pop()
    }

    /// Messages queued now (other threads may be adding more).
    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }

    /// After a drain that left messages behind (it takes only what was queued when it
    /// began), keeps the next drain due without an eventfd write.
    pub(crate) fn renotify_if_queued(&self) {
        if !self.queue.is_empty() {
            self.notified.store(true, Ordering::Release);
        }
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // Normally empty: `push` releases what it raced into the queue after the close.
        self.release_queued();
    }
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("queued", &self.queue.len())
            .field("notified", &self.notified.load(Ordering::Relaxed))
            .field("closed", &self.is_closed())
            .finish()
    }
}
