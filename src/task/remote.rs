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
//!
//! # Closing, in two steps
//!
//! 1. [`Shared::close`], the first thing the loop's close does: calls and stops are
//!    refused from then on (`Remote::is_closed` is true), so a backlog cannot grow while
//!    the close drops it. Wakes and reports still arrive: dropping futures on the loop
//!    thread produces them, and the close drains them.
//! 2. [`Shared::seal`], once the close has released everything: every message is
//!    refused. A sender that passed a check just before (a call before step 1, a wake
//!    before step 2) may push after the loop's last drain; it then sees `sealed` after
//!    its push (the fences pair with `seal`) and releases what is queued itself.
//!
//! # Depth
//!
//! `queued` counts messages pushed and not yet popped: incremented before the push,
//! decremented after the pop, so it never reads less than the queue holds. It is the
//! drain's snapshot bound (no `SegQueue::len`, which retries while senders push) and
//! the bound of `Remote::try_call_soon_threadsafe` (`limit`).

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering, fence};

use crossbeam_queue::SegQueue;

use super::ExceptionContext;
use super::header::NodeRef;
use super::raw::catch;

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

/// Why a call was not queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The loop has closed (or is closing).
    Closed,
    /// `limit` messages are queued already.
    Full,
}

/// State shared between a loop and every `Remote`, `Waker` and `Task` that points at it.
pub(crate) struct Shared {
    queue: SegQueue<RemoteMsg>,
    /// Messages pushed and not yet popped (see "Depth" above).
    queued: AtomicUsize,
    /// The most messages a bounded call (`try_call_soon_threadsafe`) may find queued.
    limit: usize,
    notified: AtomicBool,
    /// Step 1 of the close: calls and stops are refused.
    closed: AtomicBool,
    /// Step 2 of the close: everything is refused.
    sealed: AtomicBool,
    eventfd: OwnedFd,
}

impl Shared {
    /// The door of a new loop; bounded calls find room for `limit` messages
    /// (`usize::MAX`: unbounded).
    pub(crate) fn new(limit: usize) -> std::io::Result<Shared> {
        Ok(Shared {
            queue: SegQueue::new(),
            queued: AtomicUsize::new(0),
            limit,
            notified: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            sealed: AtomicBool::new(false),
            eventfd: crate::sys::eventfd()?,
        })
    }

    /// The eventfd the driver keeps a read (or readiness watch) armed on.
    pub(crate) fn wake_fd(&self) -> RawFd {
        self.eventfd.as_raw_fd()
    }

    /// Whether calls are refused: the loop has closed or is closing.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    pub(crate) fn is_sealed(&self) -> bool {
        self.sealed.load(Ordering::Acquire)
    }

    /// Step 1 of the close: refuses calls and stops from now on.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
    }

    /// Step 2 of the close: refuses every message from now on. The loop drains the
    /// queue once more after this.
    pub(crate) fn seal(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.sealed.store(true, Ordering::SeqCst);
        fence(Ordering::SeqCst);
    }

    /// Queues a call for the loop and wakes it. With `bounded`, refuses it when `limit`
    /// messages are queued already. The closure comes back when the call is refused
    /// (nothing is boxed then), so the caller can give it back or drop it.
    pub(crate) fn push_call<F: FnOnce() + Send + 'static>(
        &self,
        f: F,
        bounded: bool,
    ) -> Result<(), (Refused, F)> {
        if self.is_closed() {
            return Err((Refused::Closed, f));
        }
        if bounded {
            let limit = self.limit;
            let reserved = self
                .queued
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                    (n < limit).then_some(n + 1)
                });
            if reserved.is_err() {
                return Err((Refused::Full, f));
            }
        } else {
            self.queued.fetch_add(1, Ordering::Relaxed);
        }
        self.push_counted(RemoteMsg::Call(Box::new(f)));
        Ok(())
    }

    /// Queues a stop for the loop and wakes it; does nothing once the loop is closing.
    pub(crate) fn push_stop(&self) {
        if !self.is_closed() {
            self.queued.fetch_add(1, Ordering::Relaxed);
            self.push_counted(RemoteMsg::Stop);
        }
    }

    /// Queues `msg` (a wake or a report) for the loop and wakes it. Gives the message
    /// back once the loop's close has sealed the queue.
    pub(crate) fn push(&self, msg: RemoteMsg) -> Result<(), RemoteMsg> {
        if self.is_sealed() {
            return Err(msg);
        }
        self.queued.fetch_add(1, Ordering::Relaxed);
        self.push_counted(msg);
        Ok(())
    }

    /// Pushes a message already counted in `queued`, then wakes the loop, or releases
    /// the queue when the close sealed it meanwhile (see "Closing, in two steps").
    fn push_counted(&self, msg: RemoteMsg) {
        self.queue.push(msg);
        fence(Ordering::SeqCst);
        if self.sealed.load(Ordering::SeqCst) {
            self.release_queued();
            return;
        }
        self.notify();
    }

    /// Drops what is queued once the loop has closed: calls unrun, task references
    /// released; failures go to the default handler, as for a task handle dropped after
    /// its loop closed. Runs on whichever thread gets here: a panicking destructor is
    /// logged, never unwound into that thread's caller.
    fn release_queued(&self) {
        while let Some(msg) = self.pop() {
            match msg {
                RemoteMsg::Report(report) => super::error::default_exception_handler(report),
                other => {
                    if let Err(payload) = catch(move || drop(other)) {
                        log_drop_panic("a call queued for a closed event loop", &*payload);
                    }
                }
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
        let msg = self.queue.pop()?;
        self.queued.fetch_sub(1, Ordering::Relaxed);
        Some(msg)
    }

    /// An upper bound of the messages queued now (other threads may be adding more).
    /// One load.
    pub(crate) fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// After a drain that left messages behind (it takes at most one budget), keeps the
    /// next drain due without an eventfd write.
    pub(crate) fn renotify_if_queued(&self) {
        if self.queued() > 0 {
            self.notified.store(true, Ordering::Release);
        }
    }
}

/// Logs a panic from a destructor the loop ran where nobody can be told: no exception
/// handler is left to hear it, or the thread is not the loop's.
pub(crate) fn log_drop_panic(what: &str, payload: &(dyn std::any::Any + Send)) {
    log::error!(
        "ringloop: the destructor of {what} panicked (the panic was contained): {}",
        super::error::panic_message(payload)
    );
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
            .field("queued", &self.queued())
            .field("limit", &self.limit)
            .field("notified", &self.notified.load(Ordering::Relaxed))
            .field("closed", &self.is_closed())
            .field("sealed", &self.is_sealed())
            .finish()
    }
}
