//! Flattening chains of drops: a value whose destructor hands the closed loop another
//! value to drop (a closure that schedules a closure, and so on) would otherwise recurse
//! once per link and overflow the stack on a long chain.

#![forbid(unsafe_code)]

use std::cell::RefCell;
use std::collections::VecDeque;

/// A queue that turns nested consumption into a loop: see [`run`](Self::run).
pub(super) struct DropChain<T> {
    /// `Some` while a `run` is under way: what nested calls handed over, in order.
    pending: RefCell<Option<VecDeque<T>>>,
}

impl<T> DropChain<T> {
    pub(super) const fn new() -> DropChain<T> {
        DropChain {
            pending: RefCell::new(None),
        }
    }

    /// Consumes `first` with `each`, then, in order, whatever nested calls queued
    /// meanwhile. A call made while a `run` is under way (from inside `each`: a
    /// destructor handing over the next link) only queues its item for the outer call,
    /// whose `each` consumes it. No borrow is held while `each` runs; `each` must not
    /// unwind (it contains panics), so the chain is always reset.
    pub(super) fn run(&self, first: T, mut each: impl FnMut(T)) {
        if let Some(pending) = self.pending.borrow_mut().as_mut() {
            pending.push_back(first);
            return;
        }
        *self.pending.borrow_mut() = Some(VecDeque::new());
        let mut next = Some(first);
        while let Some(item) = next {
            each(item);
            next = self
                .pending
                .borrow_mut()
                .as_mut()
                .and_then(VecDeque::pop_front);
        }
        *self.pending.borrow_mut() = None;
    }
}

#[cfg(test)]
mod tests {
    use super::DropChain;
    use std::cell::RefCell;

    /// Items handed over from inside `each` are consumed by the outer call, in the
    /// order they were handed over, and the chain is ready for a new run after.
    #[test]
    fn nested_items_are_consumed_in_order_by_the_outer_call() {
        let chain = DropChain::new();
        let seen = RefCell::new(Vec::new());
        let each = |n: u32| {
            seen.borrow_mut().push(n);
            if n == 0 {
                chain.run(1, |_| unreachable!("the outer call consumes it"));
                chain.run(2, |_| unreachable!("the outer call consumes it"));
            }
        };
        chain.run(0, each);
        assert_eq!(*seen.borrow(), [0, 1, 2]);
        chain.run(7, |n| seen.borrow_mut().push(n));
        assert_eq!(*seen.borrow(), [0, 1, 2, 7]);
    }
}
