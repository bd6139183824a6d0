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
        if let Some(next) = next {
            // Its step comes after this one's: start loading its node (often cold).
            crate::sys::prefetch(next.as_ptr());
        }
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
        f.debug_struct("ReadyQueue")
            .field("len", &self.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::ReadyQueue;
    use crate::task::callback;
    use crate::task::header::NodeRef;
    use proptest::prelude::*;
    use std::collections::VecDeque;

    fn nodes(n: usize) -> Vec<NodeRef> {
        (0..n).map(|_| callback::allocate(|| {}, 1)).collect()
    }

    #[test]
    fn pops_in_push_order_and_releases_on_drop() {
        let all = nodes(3);
        let q = ReadyQueue::new();
        for node in &all {
            q.push_back(node.clone());
        }
        assert_eq!(q.len(), 3);
        assert_eq!(q.pop_front().map(|n| n.as_ptr()), Some(all[0].as_ptr()));
        drop(q);
        for node in &all {
            assert_eq!(
                node.header().refs.load(std::sync::atomic::Ordering::SeqCst),
                1
            );
        }
    }

    proptest! {
        /// The intrusive queue behaves as a `VecDeque` of node ids.
        #[test]
        fn ready_queue_matches_vecdeque_model(ops in proptest::collection::vec(any::<Option<u8>>(), 0..300)) {
            let all = nodes(16);
            let q = ReadyQueue::new();
            let mut model: VecDeque<usize> = VecDeque::new();
            for op in ops {
                match op {
                    // Push node i unless it is queued already (a node is in one queue once).
                    Some(i) => {
                        let i = i as usize % all.len();
                        if !model.contains(&i) {
                            q.push_back(all[i].clone());
                            model.push_back(i);
                        }
                    }
                    None => {
                        let got = q.pop_front().map(|n| n.as_ptr());
                        let want = model.pop_front().map(|i| all[i].as_ptr());
                        prop_assert_eq!(got, want);
                    }
                }
                prop_assert_eq!(q.len(), model.len());
                prop_assert_eq!(q.is_empty(), model.is_empty());
            }
        }
    }
}
