//! The order a queue hands its waiting items out in: [`FifoOrder`] ([`Queue`]),
//! [`LifoOrder`] ([`LifoQueue`]) and [`PriorityOrder`] ([`PriorityQueue`]).
//!
//! The queue's logic (waiters, hand-off, bounds, `join`, `close`) is written once in
//! [`GenericQueue`]; an order only stores the items that wait in the queue. It is a
//! sealed trait: the three orders here are the ones there are.
//!
//! [`Queue`]: super::Queue
//! [`LifoQueue`]: super::LifoQueue
//! [`PriorityQueue`]: super::PriorityQueue
//! [`GenericQueue`]: super::GenericQueue

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::fmt;

pub(crate) mod sealed {
    /// Storage for the items waiting in a queue. Only the queue calls these.
    #[doc(hidden)]
    pub trait Store<T> {
        /// The queue's name, for `Debug` and panic messages.
        const NAME: &'static str;
        /// Empty storage.
        fn new() -> Self;
        /// Number of items stored.
        fn len(&self) -> usize;
        /// True when no item is stored.
        fn is_empty(&self) -> bool {
            self.len() == 0
        }
        /// Stores a newly put item.
        fn push(&mut self, item: T);
        /// Stores an item given back by a getter that was handed it and then dropped:
        /// it is older than every stored item.
        fn push_oldest(&mut self, item: T);
        /// Takes the item a get returns next.
        fn pop(&mut self) -> Option<T>;
    }
}

use sealed::Store;

/// The order a [`GenericQueue`](super::GenericQueue) gives its items out in:
/// [`FifoOrder`], [`LifoOrder`] or [`PriorityOrder`]. Sealed: it cannot be implemented
/// outside ringloop.
///
/// You meet it in the queue's type; use the names [`Queue`](super::Queue),
/// [`LifoQueue`](super::LifoQueue) and [`PriorityQueue`](super::PriorityQueue).
///
/// ```
/// use ringloop::sync::{GenericQueue, QueueOrder};
///
/// /// Works with any of the three queues.
/// fn backlog<T, O: QueueOrder<T>>(q: &GenericQueue<T, O>) -> usize {
///     q.len()
/// }
///
/// let fifo = ringloop::sync::Queue::unbounded();
/// fifo.try_put(1).unwrap();
/// let stack = ringloop::sync::LifoQueue::unbounded();
/// stack.try_put("a").unwrap();
/// assert_eq!((backlog(&fifo), backlog(&stack)), (1, 1));
/// ```
pub trait QueueOrder<T>: Store<T> {}

/// First in, first out: the order of [`Queue`](super::Queue).
///
/// ```
/// use ringloop::sync::{FifoOrder, GenericQueue, Queue};
///
/// let q: GenericQueue<u8, FifoOrder<u8>> = Queue::unbounded(); // the same type
/// q.try_put(1).unwrap();
/// q.try_put(2).unwrap();
/// assert_eq!(q.try_get(), Ok(1));
/// ```
pub struct FifoOrder<T>(VecDeque<T>);

impl<T> Store<T> for FifoOrder<T> {
    const NAME: &'static str = "Queue";
    fn new() -> Self {
        FifoOrder(VecDeque::new())
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn push(&mut self, item: T) {
        self.0.push_back(item);
    }
    fn push_oldest(&mut self, item: T) {
        self.0.push_front(item);
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop_front()
    }
}

impl<T> QueueOrder<T> for FifoOrder<T> {}

/// Last in, first out (a stack): the order of [`LifoQueue`](super::LifoQueue).
///
/// ```
/// use ringloop::sync::{GenericQueue, LifoOrder, LifoQueue};
///
/// let q: GenericQueue<u8, LifoOrder<u8>> = LifoQueue::unbounded(); // the same type
/// q.try_put(1).unwrap();
/// q.try_put(2).unwrap();
/// assert_eq!(q.try_get(), Ok(2));
/// ```
pub struct LifoOrder<T>(Vec<T>);

impl<T> Store<T> for LifoOrder<T> {
    const NAME: &'static str = "LifoQueue";
    fn new() -> Self {
        LifoOrder(Vec::new())
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn push(&mut self, item: T) {
        self.0.push(item);
    }
    fn push_oldest(&mut self, item: T) {
        // The bottom of the stack. Rare (a getter dropped after an item was handed
        // to it), so the shift is affordable.
        self.0.insert(0, item);
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop()
    }
}

impl<T> QueueOrder<T> for LifoOrder<T> {}

/// Smallest first (a binary min-heap): the order of
/// [`PriorityQueue`](super::PriorityQueue). Equal items come out in no particular
/// order, as with asyncio's `heapq`.
///
/// ```
/// use std::cmp::Reverse;
/// use ringloop::sync::{GenericQueue, PriorityOrder, PriorityQueue};
///
/// let q: GenericQueue<u8, PriorityOrder<u8>> = PriorityQueue::unbounded(); // the same type
/// q.try_put(3).unwrap();
/// q.try_put(1).unwrap();
/// assert_eq!(q.try_get(), Ok(1));
/// // Largest first: wrap the items in `Reverse`.
/// let max_first = PriorityQueue::unbounded();
/// max_first.try_put(Reverse(1)).unwrap();
/// max_first.try_put(Reverse(3)).unwrap();
/// assert_eq!(max_first.try_get(), Ok(Reverse(3)));
/// ```
pub struct PriorityOrder<T>(BinaryHeap<Reverse<T>>);

impl<T: Ord> Store<T> for PriorityOrder<T> {
    const NAME: &'static str = "PriorityQueue";
    fn new() -> Self {
        PriorityOrder(BinaryHeap::new())
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn push(&mut self, item: T) {
        self.0.push(Reverse(item));
    }
    fn push_oldest(&mut self, item: T) {
        // Age does not matter here, only the item's place in the order.
        self.0.push(Reverse(item));
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop().map(|Reverse(item)| item)
    }
}

impl<T: Ord> QueueOrder<T> for PriorityOrder<T> {}

/// Prints the number of items stored, so `T` need not be `Debug`.
macro_rules! debug_len {
    ($($order:ident),*) => {$(
        impl<T> fmt::Debug for $order<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($order)).field("len", &self.0.len()).finish()
            }
        }
    )*};
}

debug_len!(FifoOrder, LifoOrder, PriorityOrder);
