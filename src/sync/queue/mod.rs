//! [`Queue`]: a FIFO queue between tasks with backpressure, `join` and `close`
//! (asyncio's `Queue`, with `shutdown` spelled `close`).
//!
//! # How items and slots move
//!
//! - A `put` that finds a getter waiting hands the item straight to the oldest getter
//!   (the entry's notice holds it). So the getter that waited first receives the first
//!   item, whatever order the woken tasks then run in. Until that getter runs, the item
//!   still counts in [`Queue::len`].
//! - A `get` that frees a slot in a full bounded queue *reserves* the slot for the
//!   oldest waiting putter and wakes it; the putter's item enters the queue when it
//!   runs. Newcomers see the reserved slot as taken, so putters are admitted in order.
//! - A future dropped after it was notified passes what it got on: an item goes to the
//!   next waiting getter (or back to the front of the queue), a reserved slot to the
//!   next waiting putter. Nothing is lost, and the dropped future's entry is freed.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use super::event::{Event, EventWait};
use super::waiters::{WaiterId, WaiterList, WakeSet};
use super::{QueueClosed, TryGetError, TryPutError};

/// A first-in, first-out queue shared by the tasks of one loop.
///
/// - [`put`](Queue::put) waits while a bounded queue is full; [`get`](Queue::get)
///   waits while the queue is empty. Both serve their waiters in arrival order.
/// - [`task_done`](Queue::task_done) and [`join`](Queue::join) track whether every
///   item put has been processed, as in asyncio.
/// - [`close`](Queue::close) stops new items: every waiting getter and putter wakes
///   with [`QueueClosed`], while items already queued can still be taken.
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
pub struct Queue<T> {
    shared: Rc<Shared<T>>,
}

struct Shared<T> {
    state: RefCell<State<T>>,
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

struct State<T> {
    /// Queued items nobody has claimed yet.
    ///
    /// # Invariant
    /// Non-empty implies no getter is queued: a put with a getter waiting hands the
    /// item over instead of pushing it here.
    items: VecDeque<T>,
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

impl<T> State<T> {
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
        self.deliver(item, wakers, false);
        self.unfinished == 1
    }

    /// Gives an item to the oldest queued getter, else stores it (at the back for a
    /// new item, at the front for one a dropped getter gave back).
    fn deliver(&mut self, item: T, wakers: &mut WakeSet, front: bool) {
        match self.getters.notify_first(GetNotice::Item(item)) {
            Ok(waker) => {
                self.handed += 1;
                wakers.push(waker);
            }
            Err(GetNotice::Item(item)) if front => self.items.push_front(item),
            Err(GetNotice::Item(item)) => self.items.push_back(item),
            Err(GetNotice::Closed) => unreachable!("deliver only sends items"),
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

    /// Takes the front item if there is one, letting a putter into the freed slot.
    fn pop(&mut self, wakers: &mut WakeSet) -> Option<T> {
        let item = self.items.pop_front()?;
        self.admit_putters(wakers);
        Some(item)
    }
}

impl<T> Queue<T> {
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
    pub fn new(maxsize: usize) -> Queue<T> {
        assert!(
            maxsize > 0,
            "Queue::new(0): a bounded queue needs room for at least one item; \
             use Queue::unbounded() for a queue without a size limit"
        );
        Queue::with_maxsize(maxsize)
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
    pub fn unbounded() -> Queue<T> {
        Queue::with_maxsize(usize::MAX)
    }

    fn with_maxsize(maxsize: usize) -> Queue<T> {
        let finished = Event::new();
        finished.set();
        Queue {
            shared: Rc::new(Shared {
                state: RefCell::new(State {
                    items: VecDeque::new(),
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

    /// Puts an item at the back of the queue, waiting while a bounded queue is full.
    ///
    /// Putters blocked on a full queue are admitted in the order they started waiting.
    /// Fails with [`QueueClosed`] if the queue is closed before the item goes in; the
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
    pub fn put(&self, item: T) -> QueuePut<T> {
        QueuePut {
            shared: Rc::clone(&self.shared),
            item: Some(item),
            id: None,
        }
    }

    /// Removes and returns the item at the front, waiting while the queue is empty.
    ///
    /// Getters are served in the order they started waiting: the one that waited
    /// first receives the first item. After [`close`](Queue::close) the remaining items
    /// are still returned, then [`QueueClosed`]. Dropping the future before it
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
    pub fn get(&self) -> QueueGet<T> {
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

    /// Removes and returns the front item if one is available right now.
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
    /// with [`QueueClosed`]. Items already queued stay and can still be taken; getters
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

impl<T> Clone for Queue<T> {
    /// Returns another handle to the same queue.
    fn clone(&self) -> Self {
        Queue {
            shared: Rc::clone(&self.shared),
        }
    }
}

impl<T> Default for Queue<T> {
    /// An unbounded queue.
    fn default() -> Self {
        Queue::unbounded()
    }
}

impl<T> fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.state.borrow();
        let mut d = f.debug_struct("Queue");
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

/// Future returned by [`Queue::put`].
///
/// ```
/// use std::time::Duration;
/// use ringloop::sync::Queue;
///
/// ringloop::run(async {
///     let q = Queue::new(1);
///     q.put("first").await.unwrap();
///     // A QueuePut is a future: with a deadline, dropping it means the item was not put.
///     let put = ringloop::timeout(Duration::from_millis(5), q.put("second")).await;
///     assert!(put.is_err());
///     assert_eq!(q.len(), 1);
/// });
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct QueuePut<T> {
    shared: Rc<Shared<T>>,
    /// The item until it goes in (or the put fails).
    item: Option<T>,
    /// Our putter entry, once we had to wait.
    id: Option<WaiterId>,
}

// The item is only ever moved, never pinned, so the future may move freely.
impl<T> Unpin for QueuePut<T> {}

impl<T> Future for QueuePut<T> {
    type Output = Result<(), QueueClosed>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let mut wakers = WakeSet::new();
        let item = this.item.take().expect("QueuePut polled after completion");
        let (result, left_zero) = {
            let mut state = this.shared.state.borrow_mut();
            let admitted = match &this.id {
                None if state.closed => false,
                None if state.has_room() => true,
                None => {
                    this.id = Some(state.putters.push(cx.waker().clone()));
                    this.item = Some(item);
                    return Poll::Pending;
                }
                Some(id) => match state.putters.take_notice(id) {
                    None => {
                        state.putters.update_waker(id, cx.waker());
                        this.item = Some(item);
                        return Poll::Pending;
                    }
                    Some(PutNotice::Slot) => {
                        this.id = None;
                        state.reserved -= 1;
                        // Closed after our slot was reserved: the put still fails.
                        !state.closed
                    }
                    Some(PutNotice::Closed) => {
                        this.id = None;
                        false
                    }
                },
            };
            if admitted {
                (Ok(()), state.enqueue(item, &mut wakers))
            } else {
                // Drop the item only after the borrow is released (see below).
                this.item = Some(item);
                (Err(QueueClosed), false)
            }
        };
        drop(this.item.take());
        if left_zero {
            this.shared.finished.clear();
        }
        wakers.wake_all();
        Poll::Ready(result)
    }
}

impl<T> Drop for QueuePut<T> {
    fn drop(&mut self) {
        let Some(id) = self.id.take() else { return };
        let mut wakers = WakeSet::new();
        {
            let mut state = self.shared.state.borrow_mut();
            if let Some(PutNotice::Slot) = state.putters.remove(id) {
                // A slot was reserved for us: give it to the next putter.
                state.reserved -= 1;
                state.admit_putters(&mut wakers);
            }
        }
        wakers.wake_all();
        // `self.item` drops after this, with no borrow held.
    }
}

impl<T> fmt::Debug for QueuePut<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueuePut")
            .field("waiting", &self.id.is_some())
            .field("done", &self.item.is_none())
            .finish()
    }
}

/// Future returned by [`Queue::get`].
///
/// ```
/// use std::time::Duration;
/// use ringloop::sync::Queue;
///
/// ringloop::run(async {
///     let q: Queue<u32> = Queue::unbounded();
///     // Poll for work with a deadline: the dropped QueueGet loses nothing.
///     let got = ringloop::timeout(Duration::from_millis(5), q.get()).await;
///     assert!(got.is_err());
/// });
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct QueueGet<T> {
    shared: Rc<Shared<T>>,
    /// Our getter entry, once we had to wait.
    id: Option<WaiterId>,
    done: bool,
}

impl<T> Future for QueueGet<T> {
    type Output = Result<T, QueueClosed>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        assert!(!this.done, "QueueGet polled after completion");
        let mut wakers = WakeSet::new();
        let result = {
            let mut state = this.shared.state.borrow_mut();
            match &this.id {
                None => match state.pop(&mut wakers) {
                    Some(item) => Ok(item),
                    None if state.closed => Err(QueueClosed),
                    None => {
                        this.id = Some(state.getters.push(cx.waker().clone()));
                        return Poll::Pending;
                    }
                },
                Some(id) => match state.getters.take_notice(id) {
                    None => {
                        state.getters.update_waker(id, cx.waker());
                        return Poll::Pending;
                    }
                    Some(GetNotice::Item(item)) => {
                        this.id = None;
                        state.handed -= 1;
                        state.admit_putters(&mut wakers);
                        Ok(item)
                    }
                    Some(GetNotice::Closed) => {
                        this.id = None;
                        // A dropped getter may have given an item back since.
                        state.pop(&mut wakers).ok_or(QueueClosed)
                    }
                },
            }
        };
        this.done = true;
        wakers.wake_all();
        Poll::Ready(result)
    }
}

impl<T> Drop for QueueGet<T> {
    fn drop(&mut self) {
        let Some(id) = self.id.take() else { return };
        let mut wakers = WakeSet::new();
        {
            let mut state = self.shared.state.borrow_mut();
            if let Some(GetNotice::Item(item)) = state.getters.remove(id) {
                // We were handed an item but never ran: the next getter gets it, or
                // it goes back to the front of the queue.
                state.handed -= 1;
                state.deliver(item, &mut wakers, true);
            }
        }
        wakers.wake_all();
    }
}

impl<T> fmt::Debug for QueueGet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueueGet")
            .field("waiting", &self.id.is_some())
            .field("done", &self.done)
            .finish()
    }
}

/// Future returned by [`Queue::join`].
///
/// ```
/// use std::time::Duration;
/// use ringloop::sync::Queue;
///
/// ringloop::run(async {
///     let q = Queue::unbounded();
///     q.put("never processed").await.unwrap();
///     // Wait for the workers at most 5 ms.
///     let finished = ringloop::timeout(Duration::from_millis(5), q.join()).await;
///     assert!(finished.is_err());
/// });
/// ```
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct QueueJoin {
    wait: EventWait,
}

impl Future for QueueJoin {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.wait).poll(cx)
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod model;
