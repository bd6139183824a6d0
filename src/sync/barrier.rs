//! [`Barrier`]: tasks wait until a set number of them have arrived (asyncio's
//! `Barrier`, Python 3.11).

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use super::waiters::{WaiterId, WaiterList, WakeSet};

/// A meeting point for `parties` tasks: each [`wait`](Barrier::wait) blocks until
/// `parties` tasks are waiting, then all of them pass together.
///
/// The barrier is reusable: once a group has passed, the next `parties` arrivals form
/// the next group. [`abort`](Barrier::abort) breaks it (every waiter, now and later,
/// gets [`BrokenBarrierError`]) until [`reset`](Barrier::reset).
///
/// Differences from asyncio, all from handing the release straight to the waiters:
/// the group that passes is released at once, so the next group can start filling
/// before the released tasks have run (asyncio makes it wait for them to "drain"),
/// and a released task keeps its release even if the barrier is reset or aborted
/// before it runs. `abort` and `reset` are plain methods, not coroutines.
///
/// ```
/// use ringloop::sync::Barrier;
///
/// ringloop::run(async {
///     let barrier = Barrier::new(3);
///     let tasks: Vec<_> = (0..3)
///         .map(|_| {
///             let barrier = barrier.clone();
///             ringloop::spawn(async move {
///                 // ... phase one ...
///                 let index = barrier.wait().await.unwrap(); // everyone finished phase one
///                 // ... phase two ...
///                 index
///             })
///         })
///         .collect();
///     let mut indices = Vec::new();
///     for t in tasks {
///         indices.push(t.await.unwrap());
///     }
///     indices.sort();
///     assert_eq!(indices, [0, 1, 2]); // one arrival index each
/// });
/// ```
#[derive(Clone)]
pub struct Barrier {
    inner: Rc<RefCell<State>>,
}

struct State {
    parties: usize,
    /// Set by `abort`, cleared by `reset`.
    ///
    /// # Invariant
    /// While broken, no waiter is queued: `abort` notifies them all, and a `wait` on a
    /// broken barrier fails without queueing.
    broken: bool,
    /// The tasks of the group now filling, in arrival order (fewer than `parties`).
    waiters: WaiterList<Notice>,
}

/// What a waiter is woken with.
enum Notice {
    /// Its group is complete; its arrival index in the group.
    Passed(usize),
    /// Aborted, or reset while it waited.
    Broken,
}

impl Barrier {
    /// Creates a barrier for groups of `parties` tasks.
    ///
    /// # Panics
    /// If `parties` is 0 (asyncio raises `ValueError`).
    ///
    /// ```
    /// use ringloop::sync::Barrier;
    ///
    /// let barrier = Barrier::new(4); // four workers meet here
    /// assert_eq!(barrier.parties(), 4);
    /// assert_eq!(barrier.n_waiting(), 0);
    /// ```
    pub fn new(parties: usize) -> Barrier {
        assert!(
            parties > 0,
            "Barrier::new(0): a barrier needs at least one party (the number of tasks \
             that must call wait() before they all pass)"
        );
        Barrier {
            inner: Rc::new(RefCell::new(State {
                parties,
                broken: false,
                waiters: WaiterList::new(),
            })),
        }
    }

    /// Waits until `parties` tasks are waiting, then passes with them, returning this
    /// task's arrival index in its group: `0` for the first to arrive, `parties - 1`
    /// for the last (which does not wait at all). Exactly one task of each group gets
    /// each index, so `index == 0` elects one task of the group.
    ///
    /// Fails with [`BrokenBarrierError`] if the barrier is broken, or becomes broken or
    /// reset while waiting. Dropping the future before its group is complete takes
    /// this task out of the count, as cancelling a waiting task does in asyncio.
    ///
    /// ```
    /// use ringloop::sync::Barrier;
    ///
    /// ringloop::run(async {
    ///     let barrier = Barrier::new(2);
    ///     let other = ringloop::spawn({
    ///         let barrier = barrier.clone();
    ///         async move { barrier.wait().await }
    ///     });
    ///     ringloop::yield_now().await; // `other` arrives first and waits
    ///     assert_eq!(barrier.n_waiting(), 1);
    ///     assert_eq!(barrier.wait().await, Ok(1)); // we complete the group
    ///     assert_eq!(other.await.unwrap(), Ok(0));
    /// });
    /// ```
    pub fn wait(&self) -> BarrierWait {
        BarrierWait {
            inner: Rc::clone(&self.inner),
            id: None,
            done: false,
        }
    }

    /// Breaks the barrier: every waiting task and every later [`wait`](Barrier::wait)
    /// fails with [`BrokenBarrierError`], until [`reset`](Barrier::reset). Use it when a
    /// party cannot come, so the others do not wait forever.
    ///
    /// ```
    /// use ringloop::sync::{Barrier, BrokenBarrierError};
    ///
    /// ringloop::run(async {
    ///     let barrier = Barrier::new(2);
    ///     let waiter = ringloop::spawn({
    ///         let barrier = barrier.clone();
    ///         async move { barrier.wait().await }
    ///     });
    ///     ringloop::yield_now().await;
    ///     barrier.abort(); // the second party failed
    ///     assert_eq!(waiter.await.unwrap(), Err(BrokenBarrierError));
    ///     assert!(barrier.broken());
    ///     assert_eq!(barrier.wait().await, Err(BrokenBarrierError));
    /// });
    /// ```
    pub fn abort(&self) {
        self.break_waiters(true);
    }

    /// Returns the barrier to its empty, unbroken state. Tasks waiting now fail with
    /// [`BrokenBarrierError`] (as in asyncio); later arrivals form a new group.
    ///
    /// ```
    /// use ringloop::sync::{Barrier, BrokenBarrierError};
    ///
    /// ringloop::run(async {
    ///     let barrier = Barrier::new(2);
    ///     barrier.abort();
    ///     assert_eq!(barrier.wait().await, Err(BrokenBarrierError));
    ///     barrier.reset(); // usable again
    ///     assert!(!barrier.broken());
    ///     let other = ringloop::spawn({
    ///         let barrier = barrier.clone();
    ///         async move { barrier.wait().await }
    ///     });
    ///     assert!(barrier.wait().await.is_ok());
    ///     assert!(other.await.unwrap().is_ok());
    /// });
    /// ```
    pub fn reset(&self) {
        self.break_waiters(false);
    }

    /// Fails every waiting task with [`BrokenBarrierError`] and sets `broken`.
    fn break_waiters(&self, broken: bool) {
        let mut wakers = WakeSet::new();
        {
            let mut state = self.inner.borrow_mut();
            state.broken = broken;
            state.waiters.notify_all(&mut wakers, || Notice::Broken);
        }
        wakers.wake_all();
    }

    /// The number of tasks each group needs.
    ///
    /// ```
    /// use ringloop::sync::Barrier;
    ///
    /// assert_eq!(Barrier::new(5).parties(), 5);
    /// ```
    pub fn parties(&self) -> usize {
        self.inner.borrow().parties
    }

    /// The number of tasks waiting in the group now filling.
    ///
    /// ```
    /// use ringloop::sync::Barrier;
    ///
    /// ringloop::run(async {
    ///     let barrier = Barrier::new(3);
    ///     let early = ringloop::spawn({
    ///         let barrier = barrier.clone();
    ///         async move { barrier.wait().await }
    ///     });
    ///     ringloop::yield_now().await;
    ///     assert_eq!(barrier.n_waiting(), 1); // two more to come
    ///     early.cancel(); // a cancelled waiter leaves the count
    ///     assert!(early.await.is_err());
    ///     assert_eq!(barrier.n_waiting(), 0);
    /// });
    /// ```
    pub fn n_waiting(&self) -> usize {
        self.inner.borrow().waiters.queued()
    }

    /// True once [`abort`](Barrier::abort) has broken the barrier (until
    /// [`reset`](Barrier::reset)).
    ///
    /// ```
    /// use ringloop::sync::Barrier;
    ///
    /// let barrier = Barrier::new(2);
    /// assert!(!barrier.broken());
    /// barrier.abort();
    /// assert!(barrier.broken());
    /// barrier.reset();
    /// assert!(!barrier.broken());
    /// ```
    pub fn broken(&self) -> bool {
        self.inner.borrow().broken
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.inner.borrow();
        f.debug_struct("Barrier")
            .field("parties", &state.parties)
            .field("n_waiting", &state.waiters.queued())
            .field("broken", &state.broken)
            .finish()
    }
}

/// Future returned by [`Barrier::wait`]; resolves to the task's arrival index.
///
/// ```
/// use std::time::Duration;
/// use ringloop::sync::Barrier;
///
/// ringloop::run(async {
///     let barrier = Barrier::new(2);
///     // The other party never comes: give up after 5 ms and leave the count.
///     let waited = ringloop::timeout(Duration::from_millis(5), barrier.wait()).await;
///     assert!(waited.is_err());
///     assert_eq!(barrier.n_waiting(), 0);
/// });
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct BarrierWait {
    inner: Rc<RefCell<State>>,
    /// Our entry, once we wait.
    id: Option<WaiterId>,
    done: bool,
}

impl Future for BarrierWait {
    type Output = Result<usize, BrokenBarrierError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        assert!(!this.done, "BarrierWait polled after completion");
        let mut wakers = WakeSet::new();
        let result = {
            let mut state = this.inner.borrow_mut();
            match &this.id {
                None if state.broken => Err(BrokenBarrierError),
                None if state.waiters.queued() + 1 < state.parties => {
                    this.id = Some(state.waiters.push(cx.waker().clone()));
                    return Poll::Pending;
                }
                None => {
                    // The last party: release the group, indices in arrival order.
                    let mut next = 0;
                    state.waiters.notify_all(&mut wakers, || {
                        next += 1;
                        Notice::Passed(next - 1)
                    });
                    Ok(state.parties - 1)
                }
                Some(id) => match state.waiters.take_notice(id) {
                    None => {
                        state.waiters.update_waker(id, cx.waker());
                        return Poll::Pending;
                    }
                    Some(notice) => {
                        this.id = None;
                        match notice {
                            Notice::Passed(index) => Ok(index),
                            Notice::Broken => Err(BrokenBarrierError),
                        }
                    }
                },
            }
        };
        this.done = true;
        wakers.wake_all();
        Poll::Ready(result)
    }
}

impl Drop for BarrierWait {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            // Still queued: we leave the count. Already released or broken: the notice
            // was ours alone, nothing passes on.
            self.inner.borrow_mut().waiters.remove(id);
        }
    }
}

impl fmt::Debug for BarrierWait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BarrierWait")
            .field("waiting", &self.id.is_some())
            .field("done", &self.done)
            .finish()
    }
}

/// The barrier was aborted, or reset while this task waited (asyncio's
/// `BrokenBarrierError`).
///
/// ```
/// use ringloop::sync::{Barrier, BrokenBarrierError};
///
/// ringloop::run(async {
///     let barrier = Barrier::new(3);
///     barrier.abort();
///     let err = barrier.wait().await.unwrap_err();
///     assert_eq!(err, BrokenBarrierError);
///     assert_eq!(err.to_string(), "barrier is broken (aborted, or reset while waiting)");
/// });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BrokenBarrierError;

impl fmt::Display for BrokenBarrierError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("barrier is broken (aborted, or reset while waiting)")
    }
}

impl std::error::Error for BrokenBarrierError {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Waker;

    fn poll(fut: &mut BarrierWait) -> Poll<Result<usize, BrokenBarrierError>> {
        Pin::new(fut).poll(&mut Context::from_waker(Waker::noop()))
    }

    #[test]
    fn barrier_dropped_waiters_free_their_entries() {
        let barrier = Barrier::new(3);
        let mut a = barrier.wait();
        let mut b = barrier.wait();
        assert!(poll(&mut a).is_pending());
        assert!(poll(&mut b).is_pending());
        drop(a); // queued: leaves the count
        assert_eq!(barrier.n_waiting(), 1);
        let mut c = barrier.wait();
        assert!(poll(&mut c).is_pending());
        assert_eq!(poll(&mut barrier.wait()), Poll::Ready(Ok(2)));
        drop(b); // released, never polled again
        assert_eq!(poll(&mut c), Poll::Ready(Ok(1)));
        assert_eq!(barrier.inner.borrow().waiters.occupied(), 0);
    }

    #[test]
    fn barrier_abort_while_waiting_then_reset_leaves_no_entry() {
        let barrier = Barrier::new(2);
        let mut a = barrier.wait();
        assert!(poll(&mut a).is_pending());
        barrier.abort();
        assert_eq!(poll(&mut a), Poll::Ready(Err(BrokenBarrierError)));
        barrier.reset();
        let mut b = barrier.wait();
        assert!(poll(&mut b).is_pending());
        barrier.reset();
        drop(b); // broken by the reset, never polled: nothing to pass on
        assert_eq!(barrier.inner.borrow().waiters.occupied(), 0);
        assert!(!barrier.broken());
    }
}
