//! The ready queue: an intrusive FIFO of node headers.
//!
//! Pushing links the node through its own `queue_next` field, so scheduling allocates
//! nothing. The queue owns one reference to every node it holds (see the invariant in
//! `task/header.rs`), and a node is in at most one queue at a time: the `SCHEDULED`
//! state bit, set by whoever pushes, guards that.
//!
//! # Ground rules
//!
//! Only the loop thread touches a `ReadyQueue`; the fields are `Cell`s so the queue can
//! be used through `&self` while tasks run, without a `RefCell` borrow per operation.

use std::cell::Cell;
use std::fmt;
use std::ptr::NonNull;

use crate::task::header::{Header, NodeRef};

/// An intrusive, single-threaded FIFO of nodes.
pub(crate) struct ReadyQueue {
    head: Cell<Option<NonNull<Header>>>,
    tail: Cell<Option<NonNull<Header>>>,
    len: Cell<usize>,
}

impl ReadyQueue {
    pub(crate) const fn new() -> ReadyQueue {
        ReadyQueue {
            head: Cell::new(None),
            tail: Cell::new(None),
            len: Cell::new(0),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len.get()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.head.get().is_none()
    }

    /// Appends a node, taking over the reference `node` holds.
    pub(crate) fn push_back(&self, node: NodeRef) {
        let ptr = node.into_raw();
        // SAFETY: the queue now owns the reference `node` held, so the node stays alive
        // while it is linked; its `queue_next` is ours alone until it is popped.
        let header = unsafe { ptr.as_ref() };
        debug_assert!(header.queue_next.get().is_none());
        header.queue_next.set(None);
        match self.tail.get() {
            // SAFETY: `tail` is a node the queue holds a reference to (alive).
            Some(tail) => unsafe { tail.as_ref() }.queue_next.set(Some(ptr)),
            None => self.head.set(Some(ptr)),
        }
        self.tail.set(Some(ptr));
        self.len.set(self.len.get() + 1);
    }

    /// Removes the first node and hands its reference to the caller.
    pub(crate) fn pop_front(&self) -> Option<NodeRef> {
        let ptr = self.head.get()?;
        // SAFETY: `head` is a node the queue holds a reference to (alive).
        let header = unsafe { ptr.as_ref() };
        let next = header.queue_next.take();
        self.head.set(next);
        if next.is_none() {
            self.tail.set(None);
        }
        self.len.set(self.len.get() - 1);
        // SAFETY: the queue owned one reference to this node and gives it to the caller.
        Some(unsafe { NodeRef::from_raw(ptr) })
    }
}

impl Drop for ReadyQueue {
    fn drop(&mut self) {
        // The loop discards every node before the queue goes away; if something is
        // still linked (a panic during close), release the references rather than leak.
        while let Some(node) = self.pop_front() {
            drop(node);
        }
    }
}

impl fmt::Debug for ReadyQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadyQueue").field("len", &self.len()).finish()
    }
}
