//! Completion queues: how [`as_completed`](crate::as_completed) learns which of its
//! tasks finished, in the order they finished, without a waker or a callback allocated
//! per task.
//!
//! A task wakes one awaiter when it finishes (`TaskHeader::wake_awaiter`). A queue's
//! waker, put in that awaiter slot, is recognised there by its vtable: instead of being
//! woken blindly it receives the finishing task's node, appends it to the queue and
//! wakes the queue's consumer. One waker serves every task of the queue, so the cost is
//! one push per completion.
//!
//! # Invariant
//!
//! A queue's waker does not own a reference to the queue: the queue outlives every copy.
//! Its owner keeps the queue in a `Box` (a stable address) and, before dropping it, takes
//! its waker back out of the awaiter slot of every task it put it in that has not
//! finished ([`CompletionQueue::reclaim`]). Those copies live only in awaiter slots,
//! which are read only on the loop's thread, so the queue is never reached from
//! another thread.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::ptr::NonNull;
use std::task::{RawWaker, RawWakerVTable, Waker};

use super::header::Header;
use super::raw::TaskHeader;

static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake_blind, wake_blind, drop_waker);

/// Tasks that finished, in the order they did, and who waits for them.
pub(crate) struct CompletionQueue {
    /// Finished tasks' nodes; the owner holds a reference to each (its handles).
    done: RefCell<VecDeque<NonNull<Header>>>,
    consumer: Cell<Option<Waker>>,
}

impl CompletionQueue {
    pub(crate) fn new() -> Box<CompletionQueue> {
        Box::new(CompletionQueue {
            done: RefCell::new(VecDeque::new()),
            consumer: Cell::new(None),
        })
    }

    /// The waker to put in the awaiter slot of each task this queue watches.
    ///
    /// # Safety
    ///
    /// The queue outlives every copy of the returned waker (see the module's invariant).
    pub(crate) unsafe fn waker(&self) -> Waker {
        let data = std::ptr::from_ref(self).cast::<()>();
        // SAFETY: the vtable's functions only read the queue, which the caller keeps
        // alive for as long as any copy of the waker exists.
        unsafe { Waker::from_raw(RawWaker::new(data, &VTABLE)) }
    }

    fn is_ours(&self, waker: &Waker) -> bool {
        std::ptr::eq(waker.vtable(), &VTABLE) && waker.data() == std::ptr::from_ref(self).cast()
    }

    /// Remembers who to wake when a task finishes.
    pub(crate) fn set_consumer(&self, waker: &Waker) {
        match self.consumer.take() {
            Some(old) if old.will_wake(waker) => self.consumer.set(Some(old)),
            _ => self.consumer.set(Some(waker.clone())),
        }
    }

    /// The next finished task's node, in completion order.
    pub(crate) fn pop(&self) -> Option<NonNull<Header>> {
        self.done.borrow_mut().pop_front()
    }

    /// Takes this queue's waker back out of `task`'s awaiter slot, if it is there.
    pub(crate) fn reclaim(&self, task: &TaskHeader) {
        if let Some(waker) = task.awaiter.take()
            && !self.is_ours(&waker)
        {
            task.awaiter.set(Some(waker));
        }
    }

    fn push(&self, task: &TaskHeader) {
        self.done
            .borrow_mut()
            .push_back(NonNull::from(&task.header));
        self.wake_consumer();
    }

    fn wake_consumer(&self) {
        if let Some(waker) = self.consumer.take() {
            waker.wake();
        }
    }
}

impl fmt::Debug for CompletionQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompletionQueue")
            .field("done", &self.done.borrow().len())
            .finish()
    }
}

/// Wakes a finished task's awaiter: a completion queue's waker is handed the task, any
/// other waker is simply woken.
pub(crate) fn wake(waker: Waker, task: &TaskHeader) {
    if std::ptr::eq(waker.vtable(), &VTABLE) {
        // SAFETY: a waker with our vtable carries a live queue (the module's invariant).
        let queue = unsafe { &*waker.data().cast::<CompletionQueue>() };
        queue.push(task);
        // Dropping the waker releases nothing (it owns no reference).
    } else {
        waker.wake();
    }
}

unsafe fn clone(data: *const ()) -> RawWaker {
    RawWaker::new(data, &VTABLE)
}

/// Woken other than by a finishing task (nothing does this): wake the consumer, which
/// finds the queue as it was.
unsafe fn wake_blind(data: *const ()) {
    // SAFETY: the queue outlives its wakers (the module's invariant).
    unsafe { &*data.cast::<CompletionQueue>() }.wake_consumer();
}

unsafe fn drop_waker(_: *const ()) {}
