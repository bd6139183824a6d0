//! Sinks: where the completions of callback-driven operations go.
//!
//! A future-driven operation ([`Op`](super::op::Op)) parks its completion in its slab
//! slot until the future collects it. A *sink* operation instead has each completion
//! appended, with the caller's `tag`, to a [`Sink`] that one consumer drains in bulk
//! (the protocol server of [`crate::net::serve`]): no future and no waker per
//! operation, one wake per batch. A multishot operation delivers several completions to
//! its sink; it ends with the first completion without `IORING_CQE_F_MORE`
//! (see [`is_final`]).
//!
//! # Ground rules
//!
//! - The driver only appends and collects the consumer's waker; it never runs user code.
//! - The consumer owns the memory of its sink operations and keeps it in place until the
//!   final completion, or hands it to the driver with `abandon_op`.

#![forbid(unsafe_code)]

use std::cell::{Cell, RefCell};
use std::fmt;
use std::task::Waker;

use super::slab::Completion;

/// `IORING_CQE_F_MORE`: the operation goes on after this completion.
pub(crate) const F_MORE: u32 = 1 << 1;
/// `IORING_CQE_F_BUFFER`: the completion carries a provided buffer (its id in the top 16
/// bits of the flags).
pub(crate) const F_BUFFER: u32 = 1 << 0;

/// Whether this completion ends its operation (always, for single-shot operations and on
/// the epoll backend).
pub(crate) fn is_final(flags: u32) -> bool {
    flags & F_MORE == 0
}

/// The provided buffer a completion carries, if any.
pub(crate) fn buffer_id(flags: u32) -> Option<u16> {
    (flags & F_BUFFER != 0).then_some((flags >> 16) as u16)
}

/// One completion delivered to a sink.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SinkEvent {
    pub(crate) tag: u64,
    pub(crate) result: i32,
    pub(crate) flags: u32,
}

/// A queue of completions and the waker of its one consumer.
#[derive(Default)]
pub(crate) struct Sink {
    events: RefCell<Vec<SinkEvent>>,
    waker: RefCell<Option<Waker>>,
    /// A wake is pending (handed out and not yet answered by a drain).
    notified: Cell<bool>,
}

impl Sink {
    pub(crate) fn new() -> Sink {
        Sink::default()
    }

    /// Appends a completion; returns the consumer's waker when it needs waking.
    pub(crate) fn push(&self, tag: u64, completion: Completion) -> Option<Waker> {
        self.events.borrow_mut().push(SinkEvent {
            tag,
            result: completion.result,
            flags: completion.flags,
        });
        self.notify()
    }

    /// The consumer's waker, unless a wake is already pending.
    pub(crate) fn notify(&self) -> Option<Waker> {
        if self.notified.get() {
            return None;
        }
        let waker = self.waker.borrow().clone();
        if waker.is_some() {
            self.notified.set(true);
        }
        waker
    }

    /// Moves every queued event into `out` (empty; its capacity is reused by the swap) and
    /// registers `waker` as the consumer's.
    pub(crate) fn drain_into(&self, out: &mut Vec<SinkEvent>, waker: &Waker) {
        debug_assert!(out.is_empty());
        {
            let mut slot = self.waker.borrow_mut();
            match slot.as_ref() {
                Some(w) if w.will_wake(waker) => {}
                _ => *slot = Some(waker.clone()),
            }
        }
        self.notified.set(false);
        std::mem::swap(&mut *self.events.borrow_mut(), out);
    }

    /// Forgets the consumer (it is going away).
    pub(crate) fn detach(&self) {
        self.waker.borrow_mut().take();
        self.notified.set(true);
    }
}

impl fmt::Debug for Sink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sink")
            .field("events", &self.events.borrow().len())
            .field("notified", &self.notified.get())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_decode() {
        assert!(is_final(0));
        assert!(!is_final(F_MORE));
        assert_eq!(buffer_id(F_MORE), None);
        assert_eq!(buffer_id(F_BUFFER | F_MORE | (7 << 16)), Some(7));
    }

    #[test]
    fn one_wake_per_batch() {
        let sink = Sink::new();
        let c = Completion {
            result: 1,
            flags: 0,
        };
        // No consumer yet: nothing to wake.
        assert!(sink.push(1, c).is_none());
        let mut out = Vec::new();
        sink.drain_into(&mut out, Waker::noop());
        assert_eq!(out.len(), 1);
        out.clear();
        assert!(sink.push(2, c).is_some());
        assert!(sink.push(3, c).is_none(), "a wake is already pending");
        sink.drain_into(&mut out, Waker::noop());
        assert_eq!(out.iter().map(|e| e.tag).collect::<Vec<_>>(), vec![2, 3]);
    }
}
