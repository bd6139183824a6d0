//! Synchronization between the tasks of one loop, with asyncio's names and semantics
//! made exact:
//!
//! | asyncio | ringloop::sync |
//! |---|---|
//! | `Queue`, `LifoQueue`, `PriorityQueue` | [`Queue`], [`LifoQueue`], [`PriorityQueue`] (one [`GenericQueue`]) |
//! | `Queue.shutdown()`, `QueueShutDown` | [`Queue::close`](GenericQueue::close), [`QueueClosed`] |
//! | `QueueEmpty`, `QueueFull` | [`QueueEmpty`], [`QueueFull`] (in [`TryGetError`], [`TryPutError`]) |
//! | `Event` | [`Event`] |
//! | `Lock` | [`Lock`] |
//! | `Condition` | [`Condition`] |
//! | `Semaphore` | [`Semaphore`] |
//! | `BoundedSemaphore` (its `ValueError`) | [`BoundedSemaphore`] ([`TooManyReleases`]) |
//! | `Barrier`, `BrokenBarrierError` | [`Barrier`], [`BrokenBarrierError`] |
//!
//! [`oneshot`] adds a one-value channel that also crosses threads.
//!
//! These primitives are for tasks on the same loop thread. They are cheap (`Rc` +
//! `RefCell`, no atomics), neither `Send` nor `Sync`, and need nothing from the loop but
//! a [`Waker`](std::task::Waker), so they also work under any single-threaded executor.
//! Cloning one gives another handle to the same primitive.
//!
//! # Ground rules
//!
//! - **First come, first served.** Every waiter list is FIFO. A released lock, a
//!   returned permit or a new queue item is handed directly to the oldest waiter, so a
//!   task arriving later cannot overtake one that is already waiting.
//! - **Cancellation-safe.** Dropping a waiting future (a cancelled task, a lost
//!   `timeout`) removes it from the line. If something had already been handed to
//!   it (an item, the lock, a permit, a free queue slot, a condition's notification),
//!   that passes on to the next waiter: nothing is lost, and nothing leaks however
//!   many waiters are cancelled. A dropped [`Condition::wait`] leaves the lock
//!   released (its guard went into the wait); a dropped [`Barrier::wait`] leaves the
//!   count.
//! - **Errors give values back.** [`Queue::try_put`](GenericQueue::try_put) returns
//!   the item inside [`TryPutError`] when it cannot take it.
//! - **Misuse panics, saying what to do**: [`Condition::notify`] without holding the
//!   condition's lock (asyncio's `RuntimeError`), `Barrier::new(0)`, `Queue::new(0)`,
//!   one `task_done` too many. One [`BoundedSemaphore::release`] too many is an `Err`
//!   ([`TooManyReleases`]) for the caller to handle, as the contract asks.
//!
//! # Example
//!
//! A producer and two workers, with bounded backpressure and `join`:
//!
//! ```
//! use ringloop::sync::Queue;
//!
//! ringloop::run(async {
//!     let jobs = Queue::new(4);
//!     let mut workers = Vec::new();
//!     for _ in 0..2 {
//!         let jobs = jobs.clone();
//!         workers.push(ringloop::spawn(async move {
//!             let mut sum = 0;
//!             while let Ok(n) = jobs.get().await {
//!                 sum += n;
//!                 jobs.task_done();
//!             }
//!             sum
//!         }));
//!     }
//!     for n in 1..=10 {
//!         jobs.put(n).await.unwrap();
//!     }
//!     jobs.join().await; // all ten processed
//!     jobs.close(); // workers see QueueClosed and return
//!     let mut total = 0;
//!     for w in workers {
//!         total += w.await.unwrap();
//!     }
//!     assert_eq!(total, 55);
//! });
//! ```
//!
//! The types hold `Rc`s, so they cannot leave their thread:
//!
//! ```compile_fail,E0277
//! fn assert_send<T: Send>() {}
//! assert_send::<ringloop::sync::Queue<u8>>();
//! ```
//!
//! ```compile_fail,E0277
//! fn assert_sync<T: Sync>() {}
//! assert_sync::<ringloop::sync::Lock>();
//! ```

#![forbid(unsafe_code)]

mod barrier;
mod bounded_semaphore;
mod condition;
mod event;
mod lock;
pub mod oneshot;
mod queue;
mod semaphore;
mod waiters;

use std::fmt;

pub use barrier::{Barrier, BarrierWait, BrokenBarrierError};
pub use bounded_semaphore::{BoundedSemaphore, TooManyReleases};
pub use condition::{Condition, ConditionWait, ConditionWaitFor};
pub use event::{Event, EventWait};
pub use lock::{Lock, LockAcquire, LockGuard};
pub use queue::{
    FifoOrder, GenericQueue, LifoOrder, LifoQueue, PriorityOrder, PriorityQueue, Queue, QueueGet,
    QueueJoin, QueueOrder, QueuePut,
};
pub use semaphore::{Semaphore, SemaphoreAcquire, SemaphorePermit};

/// The queue is closed (and, for a get, empty).
///
/// Returned by [`Queue::get`] once a closed queue has been drained, and by
/// [`Queue::put`] on a closed queue.
///
/// ```
/// use ringloop::sync::{Queue, QueueClosed};
///
/// ringloop::run(async {
///     let q = Queue::new(4);
///     q.put("last job").await.unwrap();
///     q.close();
///     assert_eq!(q.put("too late").await, Err(QueueClosed)); // no new items
///     assert_eq!(q.get().await, Ok("last job")); // queued ones are still taken
///     assert_eq!(q.get().await, Err(QueueClosed)); // then the end
/// });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct QueueClosed;

impl fmt::Display for QueueClosed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("queue is closed")
    }
}

impl std::error::Error for QueueClosed {}

/// The queue has no item to take right now (asyncio's `QueueEmpty`).
///
/// Converts into [`TryGetError::Empty`].
///
/// ```
/// use ringloop::sync::{Queue, QueueEmpty, TryGetError};
///
/// let q: Queue<u32> = Queue::unbounded();
/// let err = q.try_get().unwrap_err();
/// assert_eq!(err, TryGetError::from(QueueEmpty));
/// assert_eq!(QueueEmpty.to_string(), "queue is empty");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct QueueEmpty;

impl fmt::Display for QueueEmpty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("queue is empty")
    }
}

impl std::error::Error for QueueEmpty {}

/// The queue has no free slot right now (asyncio's `QueueFull`).
///
/// [`TryPutError::Full`] carries the rejected item as well;
/// [`TryPutError::into_parts`] splits it into the item and this error.
///
/// ```
/// use ringloop::sync::{Queue, QueueFull};
///
/// let q = Queue::new(1);
/// q.try_put(1).unwrap();
/// let (item, why) = q.try_put(2).unwrap_err().into_parts();
/// assert_eq!((item, why), (2, Ok(QueueFull)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct QueueFull;

impl fmt::Display for QueueFull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("queue is full")
    }
}

impl std::error::Error for QueueFull {}

/// Why [`Queue::try_get`] returned no item.
///
/// ```
/// use ringloop::sync::{Queue, TryGetError};
///
/// let q = Queue::unbounded();
/// q.try_put("job").unwrap();
/// q.close();
/// assert_eq!(q.try_get(), Ok("job"));
/// assert_eq!(q.try_get(), Err(TryGetError::Closed)); // closed and drained
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TryGetError {
    /// No item is available right now ([`QueueEmpty`]).
    Empty,
    /// The queue is closed and drained ([`QueueClosed`]).
    Closed,
}

impl TryGetError {
    /// True for [`TryGetError::Empty`].
    ///
    /// ```
    /// use ringloop::sync::Queue;
    ///
    /// let q: Queue<u8> = Queue::unbounded();
    /// assert!(q.try_get().unwrap_err().is_empty()); // nothing yet: come back later
    /// ```
    pub fn is_empty(&self) -> bool {
        matches!(self, TryGetError::Empty)
    }

    /// True for [`TryGetError::Closed`].
    ///
    /// ```
    /// use ringloop::sync::Queue;
    ///
    /// let q: Queue<u8> = Queue::unbounded();
    /// q.close();
    /// assert!(q.try_get().unwrap_err().is_closed()); // no item will ever come: stop
    /// ```
    pub fn is_closed(&self) -> bool {
        matches!(self, TryGetError::Closed)
    }
}

impl fmt::Display for TryGetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryGetError::Empty => fmt::Display::fmt(&QueueEmpty, f),
            TryGetError::Closed => fmt::Display::fmt(&QueueClosed, f),
        }
    }
}

impl std::error::Error for TryGetError {}

impl From<QueueEmpty> for TryGetError {
    fn from(_: QueueEmpty) -> Self {
        TryGetError::Empty
    }
}

impl From<QueueClosed> for TryGetError {
    fn from(_: QueueClosed) -> Self {
        TryGetError::Closed
    }
}

/// Why [`Queue::try_put`] did not take the item; the item comes back inside.
///
/// ```
/// use ringloop::sync::{Queue, TryPutError};
///
/// let q = Queue::new(1);
/// q.try_put("first").unwrap();
/// match q.try_put("second") {
///     Err(TryPutError::Full(item)) => assert_eq!(item, "second"), // keep it, retry later
///     other => panic!("{other:?}"),
/// }
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum TryPutError<T> {
    /// The queue has no free slot right now ([`QueueFull`]).
    Full(T),
    /// The queue is closed ([`QueueClosed`]).
    Closed(T),
}

impl<T> TryPutError<T> {
    /// Returns the item that was not put.
    ///
    /// ```
    /// use ringloop::sync::Queue;
    ///
    /// let q = Queue::new(1);
    /// q.try_put(String::from("kept")).unwrap();
    /// let err = q.try_put(String::from("rejected")).unwrap_err();
    /// assert_eq!(err.into_inner(), "rejected"); // the item is never lost
    /// ```
    pub fn into_inner(self) -> T {
        match self {
            TryPutError::Full(item) | TryPutError::Closed(item) => item,
        }
    }

    /// Splits into the item and the reason: `Ok(QueueFull)` when the queue was full,
    /// `Err(QueueClosed)` when it was closed (so `?` can forward a close).
    ///
    /// ```
    /// use ringloop::sync::{Queue, QueueClosed, QueueFull};
    ///
    /// /// Tries to enqueue; a full queue hands the job back, a closed one is an error.
    /// fn offer(q: &Queue<u32>, job: u32) -> Result<Option<u32>, QueueClosed> {
    ///     match q.try_put(job) {
    ///         Ok(()) => Ok(None),
    ///         Err(e) => {
    ///             let (job, why) = e.into_parts();
    ///             let QueueFull = why?; // a close goes up with `?`
    ///             Ok(Some(job))
    ///         }
    ///     }
    /// }
    ///
    /// let q = Queue::new(1);
    /// assert_eq!(offer(&q, 1), Ok(None));
    /// assert_eq!(offer(&q, 2), Ok(Some(2)));
    /// q.close();
    /// assert_eq!(offer(&q, 3), Err(QueueClosed));
    /// ```
    pub fn into_parts(self) -> (T, Result<QueueFull, QueueClosed>) {
        match self {
            TryPutError::Full(item) => (item, Ok(QueueFull)),
            TryPutError::Closed(item) => (item, Err(QueueClosed)),
        }
    }

    /// True for [`TryPutError::Full`].
    ///
    /// ```
    /// use ringloop::sync::Queue;
    ///
    /// let q = Queue::new(1);
    /// q.try_put(1).unwrap();
    /// assert!(q.try_put(2).unwrap_err().is_full()); // back-pressure: slow down
    /// ```
    pub fn is_full(&self) -> bool {
        matches!(self, TryPutError::Full(_))
    }

    /// True for [`TryPutError::Closed`].
    ///
    /// ```
    /// use ringloop::sync::Queue;
    ///
    /// let q = Queue::unbounded();
    /// q.close();
    /// assert!(q.try_put(1).unwrap_err().is_closed()); // nobody will take it: stop producing
    /// ```
    pub fn is_closed(&self) -> bool {
        matches!(self, TryPutError::Closed(_))
    }
}

impl<T> fmt::Debug for TryPutError<T> {
    /// Prints the variant without the item, so `T` need not be `Debug`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryPutError::Full(_) => f.write_str("Full(..)"),
            TryPutError::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

impl<T> fmt::Display for TryPutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryPutError::Full(_) => fmt::Display::fmt(&QueueFull, f),
            TryPutError::Closed(_) => fmt::Display::fmt(&QueueClosed, f),
        }
    }
}

impl<T> std::error::Error for TryPutError<T> {}
