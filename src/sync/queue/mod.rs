//! [`Queue`], [`LifoQueue`] and [`PriorityQueue`]: queues between tasks with
//! backpressure, `join` and `close` (asyncio's `Queue`, `LifoQueue` and
//! `PriorityQueue`, with `shutdown` spelled `close`).
//!
//! The three are one type, [`GenericQueue`], with a different [`QueueOrder`]: the
//! logic below is written once, and an order only stores the items that wait.
//!
//! # How items and slots move
//!
//! - A `put` that finds a getter waiting hands the item straight to the oldest getter
//!   (the entry's notice holds it). So the getter that waited first receives the first
//!   item, whatever order the woken tasks then run in. Until that getter runs, the item
//!   still counts in [`len`](GenericQueue::len). (The order decides among items that
//!   wait in the queue; a getter waiting on an empty queue takes the next item put.)
//! - A `get` that frees a slot in a full bounded queue *reserves* the slot for the
//!   oldest waiting putter and wakes it; the putter's item enters the queue when it
//!   runs. Newcomers see the reserved slot as taken, so putters are admitted in order.
//! - A future dropped after it was notified passes what it got on: an item goes to the
//!   next waiting getter (or back into the queue as its oldest item), a reserved slot
//!   to the next waiting putter. Nothing is lost, and the dropped future's entry is freed.

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;

use super::event::Event;
use super::waiters::{WaiterList, WakeSet};
use super::{TryGetError, TryPutError};

mod futures;
mod order;

pub use futures::{QueueGet, QueueJoin, QueuePut};
pub use order::{FifoOrder, LifoOrder, PriorityOrder, QueueOrder};

/// A first-in, first-out queue shared by the tasks of one loop.
///
/// - [`put`](Queue::put) waits while a bounded queue is full; [`get`](Queue::get)
///   waits while the queue is empty. Both serve their waiters in arrival order.
/// - [`task_done`](Queue::task_done) and [`join`](Queue::join) track whether every
///   item put has been processed, as in asyncio.
/// - [`close`](Queue::close) stops new items: every waiting getter and putter wakes
///   with [`QueueClosed`](super::QueueClosed), while items already queued can still be taken.
///
/// Clones share the same queue (like an `Rc`). A `Queue` belongs to the loop thread
/// that uses it: it is neither `Send` nor `Sync`.
///
/// ```
/// use ringloop::sync::{Queue, QueueClosed};
///
/// ringloop::run(async {
///     let q = Queue::new(2);
///     let consumer = ringloop::spawn({
///         let q = q.clone();
///         async move {
///             let mut got = Vec::new();
///             while let Ok(n) = q.get().await {
///                 got.push(n);
///                 q.task_done();
///             }
///             got
///         }
///     });
///     for n in 0..5 {
///         q.put(n).await.unwrap(); // waits while two items are queued
///     }
///     q.join().await; // every item has been task_done
///     q.close();
///     assert_eq!(q.put(9).await, Err(QueueClosed));
///     assert_eq!(consumer.await.unwrap(), vec![0, 1, 2, 3, 4]);
/// });
/// ```
///
/// Its methods are [`GenericQueue`]'s, shared with [`LifoQueue`] and [`PriorityQueue`].
pub type Queue<T> = GenericQueue<T, FifoOrder<T>>;

/// A last-in, first-out queue (a stack) shared by the tasks of one loop: `get` takes
/// the item put most recently (asyncio's `LifoQueue`).
///
/// Everything else is [`Queue`]'s: the same methods (they are [`GenericQueue`]'s),
/// bounds, `join` and `close`. A getter that waits on an empty queue receives the next
/// item put.
///
/// ```
/// use ringloop::sync::LifoQueue;
///
/// ringloop::run(async {
///     let undo = LifoQueue::new(16);
///     for edit in ["type", "bold", "delete"] {
///         undo.put(edit).await.unwrap();
///     }
///     assert_eq!(undo.get().await, Ok("delete")); // the newest first
///     assert_eq!(undo.get().await, Ok("bold"));
///     undo.task_done();
///     undo.task_done();
///     assert_eq!(undo.len(), 1);
/// });
/// ```
pub type LifoQueue<T> = GenericQueue<T, LifoOrder<T>>;

/// A queue shared by the tasks of one loop whose `get` takes the smallest item
/// (asyncio's `PriorityQueue`).
///
/// Everything else is [`Queue`]'s: the same methods (they are [`GenericQueue`]'s),
/// bounds, `join` and `close`. Items only need [`Ord`]; put `(priority, data)` tuples
/// as in asyncio, or wrap items in [`std::cmp::Reverse`] for largest first. Equal items
/// come out in no particular order (asyncio's `heapq` does the same); add a sequence
/// number, `(priority, seq, data)`, to keep them first in, first out. A getter that
/// waits on an empty queue receives the next item put.
///
/// ```
/// use ringloop::sync::PriorityQueue;
///
/// ringloop::run(async {
///     let jobs = PriorityQueue::unbounded();
///     jobs.put((2, "compress logs")).await.unwrap();
///     jobs.put((0, "page the on-call")).await.unwrap();
///     jobs.put((1, "renew certificate")).await.unwrap();
///     let mut order = Vec::new();
///     while let Ok((_, job)) = jobs.try_get() {
///         order.push(job);
///         jobs.task_done();
///     }
///     assert_eq!(order, ["page the on-call", "renew certificate", "compress logs"]);
///     jobs.join().await;
/// });
/// ```
pub type PriorityQueue<T> = GenericQueue<T, PriorityOrder<T>>;

/// The queue behind [`Queue`], [`LifoQueue`] and [`PriorityQueue`]: its methods are
/// theirs, and `O` is the order that tells them apart. Use it by those names; name it
/// only to write code for any of the three.
///
/// ```
/// use ringloop::sync::{GenericQueue, LifoQueue, PriorityQueue, Queue, QueueOrder};
///
/// /// Puts 3, 1, 2 and takes them back in the queue's order.
/// fn shuffle<O: QueueOrder<u8>>(q: GenericQueue<u8, O>) -> Vec<u8> {
///     for n in [3, 1, 2] {
///         q.try_put(n).unwrap();
///     }
///     std::iter::from_fn(|| q.try_get().ok()).collect()
/// }
///
/// assert_eq!(shuffle(Queue::unbounded()), [3, 1, 2]);
/// assert_eq!(shuffle(LifoQueue::unbounded()), [2, 1, 3]);
/// assert_eq!(shuffle(PriorityQueue::unbounded()), [1, 2, 3]);
/// ```
pub struct GenericQueue<T, O: QueueOrder<T>> {
    shared: Rc<Shared<T, O>>,
}

struct Shared<T, O> {
    state: RefCell<State<T, O>>,
    /// Set exactly when `unfinished == 0`; `join` waits on it.
    finished: Event,
}

/// What a waiting getter is woken with.
enum GetNotice<T> {
    /// The item is this getter's; it counts in `State::handed` until taken.
    Item(T),
    Closed,
}

/// What a waiting putter is woken with.
enum PutNotice {
    /// A slot is reserved for this putter; it counts in `State::reserved` until used.
    Slot,
    Closed,
}

struct State<T, O> {
    /// Queued items nobody has claimed yet, in the queue's order.
    ///
    /// # Invariant
    /// Non-empty implies no getter is queued: a put with a getter waiting hands the
    /// item over instead of pushing it here.
    items: O,
    /// The bound; `usize::MAX` when unbounded.
    maxsize: usize,
    /// Items handed to getters that have not run yet.
    handed: usize,
    /// Slots reserved for putters that have not run yet.
    ///
    /// # Invariant
    /// While the queue is open, a queued putter implies `len() + reserved >= maxsize`:
    /// whenever a slot frees, the oldest putter is given it.
    reserved: usize,
    getters: WaiterList<GetNotice<T>>,
    putters: WaiterList<PutNotice>,
    /// Items put and not yet `task_done`.
    unfinished: usize,
    closed: bool,
}

impl<T, O: QueueOrder<T>> State<T, O> {
    fn len(&self) -> usize {
        self.items.len() + self.handed
    }

    /// True when a put now would succeed without waiting.
    fn has_room(&self) -> bool {
        !self.closed && self.len().saturating_add(self.reserved) < self.maxsize
    }

    /// Adds a new item: hands it to the oldest getter or queues it. Returns true if
    /// this made `unfinished` leave zero (so `finished` must be cleared).
    #[must_use]
    fn enqueue(&mut self, item: T, wakers: &mut WakeSet) -> bool {
        self.unfinished += 1;
        if let Some(item) = self.hand_to_getter(item, wakers) {
            self.items.push(item);
        }
        self.unfinished == 1
    }

    /// Takes back an item a dropped getter had been handed: the next getter gets it,
    /// else it is stored as the oldest item.
    fn give_back(&mut self, item: T, wakers: &mut WakeSet) {
        self.handed -= 1;
        if let Some(item) = self.hand_to_getter(item, wakers) {
            self.items.push_oldest(item);
        }
    }

    /// Gives an item to the oldest queued getter, or returns it if none waits.
    fn hand_to_getter(&mut self, item: T, wakers: &mut WakeSet) -> Option<T> {
        match self.getters.notify_first(GetNotice::Item(item)) {
            Ok(waker) => {
                self.handed += 1;
                wakers.push(waker);
                None
            }
            Err(GetNotice::Item(item)) => Some(item),
            Err(GetNotice::Closed) => unreachable!("a getter is only handed items here"),
        }
    }

    /// Reserves every free slot for the oldest waiting putters.
    fn admit_putters(&mut self, wakers: &mut WakeSet) {
        while self.has_room() {
            match self.putters.notify_first(PutNotice::Slot) {
                Ok(waker) => {
                    self.reserved += 1;
                    wakers.push(waker);
                }
                Err(_) => break,
            }
        }
    }

    /// Takes the next item in the queue's order, letting a putter into the freed slot.
    fn pop(&mut self, wakers: &mut WakeSet) -> Option<T> {
        let item = self.items.pop()?;
        self.admit_putters(wakers);
        Some(item)
    }
}

impl<T, O: QueueOrder<T>> GenericQueue<T, O> {
    /// Creates a queue holding at most `maxsize` items; `put` waits while it is full.
    ///
    /// # Panics
    /// If `maxsize` is 0. (asyncio reads 0 as "no limit"; here that is spelled
    /// [`Queue::unbounded`].)
    ///
    /// ```
    /// use ringloop::sync::Queue;
    ///
    /// let jobs: Queue<String> = Queue::new(100); // producers wait beyond 100 queued jobs
    /// assert_eq!(jobs.maxsize(), 100);
    /// ```
    pub fn new(maxsize: usize) -> Self {
        assert!(
            maxsize > 0,
            "{name}::new(0): a bounded queue needs room for at least one item; \
             use {name}::unbounded() for a queue without a size limit",
            name = O::NAME
        );
        GenericQueue::with_maxsize(maxsize)
    }

    /// Creates a queue without a size limit; `put` never waits.
    ///
    /// ```
    /// use ringloop::sync::Queue;
    ///
    /// let events = Queue::unbounded();
    /// for i in 0..10_000 {
    ///     events.try_put(i).unwrap(); // never full
    /// }
    /// assert_eq!(events.len(), 10_000);
    /// ```
    pub fn unbounded() -> Self {
        GenericQueue::with_maxsize(usize::MAX)
    }

    fn with_maxsize(maxsize: usize) -> Self {
        let finished = Event::new();
        finished.set();
        GenericQueue {
            shared: Rc::new(Shared {
                state: RefCell::new(State {
                    items: O::new(),
                    maxsize,
                    handed: 0,
                    reserved: 0,
                    getters: WaiterList::new(),
                    putters: WaiterList::new(),
                    unfinished: 0,
                    closed: false,
                }),
                finished,
            }),
        }
    }

    /// Puts an item into the queue, waiting while a bounded queue is full.
    ///
    /// Putters blocked on a full queue are admitted in the order they started waiting.
    /// Fails with [`QueueClosed`](super::QueueClosed) if the queue is closed before the item goes in; the
    /// item is then dropped (use [`try_put`](Queue::try_put) to get it back).
    /// Dropping the future before it completes means the item was not put.
    ///
    /// ```
    /// use ringloop::sync::Queue;
    ///
    /// ringloop::run(async {
    ///     let q = Queue::new(1);
    ///     q.put(1).await.unwrap();
    ///     let producer = ringloop::spawn({
    ///         let q = q.clone();
    ///         async move { q.put(2).await } // waits: the queue is full
    ///     });
    ///     ringloop::yield_now().await;
    ///     assert!(!producer.is_done());
    ///     assert_eq!(q.get().await, Ok(1)); // frees the slot
    ///     producer.await.unwrap().unwrap();
    ///     assert_eq!(q.get().await, Ok(2));
    /// });
    /// ```
    pub fn put(&self, item: T) -> QueuePut<T, O> {
        QueuePut {
            shared: Rc::clone(&self.shared),
            item: Some(item),
            id: None,
        }
    }

    /// Removes and returns the next item, waiting while the queue is empty. The next
    /// item is the oldest in a [`Queue`], the newest in a [`LifoQueue`] and the smallest
    /// in a [`PriorityQueue`].
    ///
    /// Getters are served in the order they started waiting: the one that waited
    /// first receives the first item. After [`close`](Queue::close) the remaining items
    /// are still returned, then [`QueueClosed`](super::QueueClosed). Dropping the future before it
    /// completes loses nothing: an item already handed to it goes to the next getter.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ringloop::sync::Queue;
    ///
    /// ringloop::run(async {
    ///     let q = Queue::unbounded();
    ///     let consumer = ringloop::spawn({
    ///         let q = q.clone();
    ///         async move { q.get().await } // waits: the queue is empty
    ///     });
    ///     ringloop::sleep(Duration::from_millis(1)).await;
    ///     q.put("wake up").await.unwrap();
    ///     assert_eq!(consumer.await.unwrap(), Ok("wake up"));
    /// });
    /// ```
    pub fn get(&self) -> QueueGet<T, O> {
        QueueGet {
            shared: Rc::clone(&self.shared),
            id: None,
            done: false,
        }
    }

    /// Puts an item if there is room right now.
    ///
    /// On failure the item comes back inside the error: [`TryPutError::Full`] if the
    /// queue has no free slot (a slot freed for a waiting putter is not free),
    /// [`TryPutError::Closed`] if it is closed.
    ///
    /// ```
    /// use ringloop::sync::{Queue, TryPutError};
    ///
    /// let q = Queue::new(2);
    /// assert!(q.try_put("a").is_ok());
    /// assert!(q.try_put("b").is_ok());
    /// // Full: drop the oldest instead of waiting (a bounded log buffer, say).
    /// if let Err(TryPutError::Full(item)) = q.try_put("c") {
    ///     q.try_get().unwrap();
    ///     q.try_put(item).unwrap();
    /// }
    /// assert_eq!((q.try_get(), q.try_get()), (Ok("b"), Ok("c")));
    /// ```
    pub fn try_put(&self, item: T) -> Result<(), TryPutError<T>> {
        let mut wakers = WakeSet::new();
        let left_zero = {
            let mut state = self.shared.state.borrow_mut();
            if state.closed {
                return Err(TryPutError::Closed(item));
            }
            if !state.has_room() {
                return Err(TryPutError::Full(item));
            }
            state.enqueue(item, &mut wakers)
        };
        if left_zero {
            self.shared.finished.clear();
        }
        wakers.wake_all();
        Ok(())
    }

    /// Removes and returns the next item (as [`get`](GenericQueue::get) would) if one is
    /// available right now.
    ///
    /// Fails with [`TryGetError::Empty`] if there is none (an item already handed to a
    /// waiting getter is not available), or [`TryGetError::Closed`] if the queue is
    /// closed and drained.
    ///
    /// ```
    /// use ringloop::sync::Queue;
    ///
    /// let q = Queue::unbounded();
    /// q.try_put(1).unwrap();
    /// q.try_put(2).unwrap();
    /// // Drain what is there now, without waiting.
    /// let mut batch = Vec::new();
    /// while let Ok(n) = q.try_get() {
    ///     batch.push(n);
    /// }
    /// assert_eq!(batch, [1, 2]);
    /// ```
    pub fn try_get(&self) -> Result<T, TryGetError> {
        let mut wakers = WakeSet::new();
        let result = {
            let mut state = self.shared.state.borrow_mut();
            match state.pop(&mut wakers) {
                Some(item) => Ok(item),
                None if state.closed => Err(TryGetError::Closed),
                None => Err(TryGetError::Empty),
            }
        };
        wakers.wake_all();
        result
    }

    /// Number of items in the queue, including items already handed to a waiting
    /// getter that has not run yet.
    ///
    /// ```
    /// use ringloop::sync::Queue;
    ///
    /// let q = Queue::new(10);
    /// q.try_put('x').unwrap();
    /// q.try_put('y').unwrap();
    /// assert_eq!(q.len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        self.shared.state.borrow().len()
    }

    /// True when [`len`](Queue::len) is 0.
    ///
    /// ```
    /// use ringloop::sync::Queue;
    ///
    /// let q = Queue::unbounded();
    /// assert!(q.is_empty());
    /// q.try_put(()).unwrap();
    /// assert!(!q.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True when a put now would have to wait: every slot is taken or reserved for a
    /// waiting putter. Always false for an unbounded queue.
    ///
    /// ```
    /// use ringloop::sync::Queue;
    ///
    /// let q = Queue::new(1);
    /// assert!(!q.is_full());
    /// q.try_put(1).unwrap();
    /// assert!(q.is_full()); // a put would wait now
    /// assert!(!Queue::<u8>::unbounded().is_full());
    /// ```
    pub fn is_full(&self) -> bool {
        let state = self.shared.state.borrow();
        state.len().saturating_add(state.reserved) >= state.maxsize
    }

    /// The bound given to [`Queue::new`], or `usize::MAX` for an unbounded queue.
    ///
    /// ```
    /// use ringloop::sync::Queue;
    ///
    /// assert_eq!(Queue::<u8>::new(16).maxsize(), 16);
    /// assert_eq!(Queue::<u8>::unbounded().maxsize(), usize::MAX);
    /// ```
    pub fn maxsize(&self) -> usize {
        self.shared.state.borrow().maxsize
    }

    /// Marks one item taken from the queue as processed.
    ///
    /// Every [`put`](Queue::put) adds one unfinished item and every `task_done`
    /// removes one; [`join`](Queue::join) returns when none is left.
    ///
    /// # Panics
    /// If called more times than items were put.
    ///
    /// ```
    /// use ringloop::sync::Queue;
    ///
    /// ringloop::run(async {
    ///     let q = Queue::unbounded();
    ///     q.put("resize image").await.unwrap();
    ///     let job = q.get().await.unwrap();
    ///     // ... process `job` ...
    ///     # let _ = job;
    ///     q.task_done(); // with this, every item put is done
    ///     q.join().await; // returns at once
    /// });
    /// ```
    pub fn task_done(&self) {
        let now_zero = {
            let mut state = self.shared.state.borrow_mut();
            match state.unfinished.checked_sub(1) {
                Some(left) => {
                    state.unfinished = left;
                    Some(left == 0)
                }
                None => None,
            }
        };
        match now_zero {
            Some(true) => self.shared.finished.set(),
            Some(false) => {}
            None => panic!("task_done() called more times than there were items"),
        }
    }

    /// Waits until every item put so far has been marked with
    /// [`task_done`](Queue::task_done). Completes at once if none is unfinished.
    ///
    /// Closing the queue does not end a `join`: items still queued can be taken and
    /// finished after `close`.
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    /// use ringloop::sync::Queue;
    ///
    /// ringloop::run(async {
    ///     let q = Queue::unbounded();
    ///     let done = Rc::new(Cell::new(0));
    ///     let worker = ringloop::spawn({
    ///         let (q, done) = (q.clone(), done.clone());
    ///         async move {
    ///             while let Ok(n) = q.get().await {
    ///                 done.set(done.get() + n);
    ///                 q.task_done();
    ///             }
    ///         }
    ///     });
    ///     for n in 1..=4 {
    ///         q.put(n).await.unwrap();
    ///     }
    ///     q.join().await; // every item processed, not just taken
    ///     assert_eq!(done.get(), 10);
    ///     q.close();
    ///     worker.await.unwrap();
    /// });
    /// ```
    pub fn join(&self) -> QueueJoin {
        QueueJoin {
            wait: self.shared.finished.wait(),
        }
    }

    /// Closes the queue: later puts fail, and every waiting getter and putter wakes
    /// with [`QueueClosed`](super::QueueClosed). Items already queued stay and can still be taken; getters
    /// see `QueueClosed` only once the queue is empty. Closing twice does nothing.
    ///
    /// ```
    /// use ringloop::sync::{Queue, QueueClosed};
    ///
    /// ringloop::run(async {
    ///     let q = Queue::unbounded();
    ///     let worker = ringloop::spawn({
    ///         let q = q.clone();
    ///         async move {
    ///             let mut seen = 0;
    ///             while q.get().await.is_ok() {
    ///                 seen += 1;
    ///             }
    ///             seen // the loop ends once the queue is closed and drained
    ///         }
    ///     });
    ///     q.put(1).await.unwrap();
    ///     q.put(2).await.unwrap();
    ///     q.close();
    ///     assert_eq!(q.put(3).await, Err(QueueClosed));
    ///     assert_eq!(worker.await.unwrap(), 2);
    /// });
    /// ```
    pub fn close(&self) {
        let mut wakers = WakeSet::new();
        {
            let mut state = self.shared.state.borrow_mut();
            if state.closed {
                return;
            }
            state.closed = true;
            state.getters.notify_all(&mut wakers, || GetNotice::Closed);
            state.putters.notify_all(&mut wakers, || PutNotice::Closed);
        }
        wakers.wake_all();
    }

    /// True once [`close`](Queue::close) has been called.
    ///
    /// ```
    /// use ringloop::sync::Queue;
    ///
    /// let q: Queue<u8> = Queue::unbounded();
    /// assert!(!q.is_closed());
    /// q.close();
    /// assert!(q.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.shared.state.borrow().closed
    }
}

impl<T, O: QueueOrder<T>> Clone for GenericQueue<T, O> {
    /// Returns another handle to the same queue.
    fn clone(&self) -> Self {
        GenericQueue {
            shared: Rc::clone(&self.shared),
        }
    }
}

impl<T, O: QueueOrder<T>> Default for GenericQueue<T, O> {
    /// An unbounded queue.
    fn default() -> Self {
        GenericQueue::unbounded()
    }
}

impl<T, O: QueueOrder<T>> fmt::Debug for GenericQueue<T, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.state.borrow();
        let mut d = f.debug_struct(O::NAME);
        d.field("len", &state.len());
        if state.maxsize != usize::MAX {
            d.field("maxsize", &state.maxsize);
        }
        d.field("unfinished", &state.unfinished)
            .field("closed", &state.closed)
            .field("waiting_getters", &state.getters.queued())
            .field("waiting_putters", &state.putters.queued())
            .finish()
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod model;
