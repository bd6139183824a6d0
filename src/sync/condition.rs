//! [`Condition`]: a condition variable for tasks (asyncio's `Condition`).
//!
//! # How a wait moves
//!
//! [`Condition::wait`] takes the [`LockGuard`] by value. On its first poll the future
//! joins the condition's FIFO of waiters and drops the guard (the lock is released).
//! A [`notify`](Condition::notify) hands a notice to the oldest waiters; a notified
//! waiter then queues for the lock like any [`Lock::lock`] and returns the new guard.
//!
//! A wait future dropped before it returns (a cancelled task, a lost `timeout`) owns no
//! guard to give back, so the lock is *not* re-acquired for it: the lock stays
//! released, the waiter leaves the line, and a notice it had already received passes
//! on to the next waiter, so no notification is lost to a cancellation.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, ready};

use super::lock::{Lock, LockAcquire, LockGuard};
use super::waiters::{WaiterId, WaiterList, WakeSet};

/// A condition variable with its own [`Lock`]: tasks wait, with the lock, until
/// another task changes some shared state and notifies them.
///
/// The usual shape is asyncio's: take the lock with [`lock`](Condition::lock), check
/// the state, and [`wait`](Condition::wait) (which releases the lock while waiting and
/// takes it back before returning) until the state is right; the task that changes the
/// state holds the lock and calls [`notify`](Condition::notify) or
/// [`notify_all`](Condition::notify_all). [`wait_for`](Condition::wait_for) is the
/// loop written out once.
///
/// Waiters are woken first come, first served. There are no spurious wake-ups, but
/// another task may change the state between the notify and the waiter's return, so
/// check the state again after a wait (or use `wait_for`). Clones share the same
/// condition and lock.
///
/// ```
/// use std::cell::RefCell;
/// use std::rc::Rc;
/// use ringloop::sync::Condition;
///
/// ringloop::run(async {
///     let cond = Condition::new();
///     let jobs = Rc::new(RefCell::new(Vec::new()));
///     let worker = ringloop::spawn({
///         let (cond, jobs) = (cond.clone(), jobs.clone());
///         async move {
///             let guard = cond.lock().await;
///             let _guard = cond.wait_for(guard, || !jobs.borrow().is_empty()).await;
///             jobs.borrow_mut().pop() // the lock is held here
///         }
///     });
///     ringloop::yield_now().await; // the worker waits
///     let _guard = cond.lock().await;
///     jobs.borrow_mut().push("resize");
///     cond.notify(1);
///     drop(_guard); // the worker can take the lock back now
///     assert_eq!(worker.await.unwrap(), Some("resize"));
/// });
/// ```
#[derive(Clone, Default)]
pub struct Condition {
    lock: Lock,
    waiters: Rc<RefCell<WaiterList<()>>>,
}

impl Condition {
    /// Creates a condition with a new lock of its own.
    ///
    /// ```
    /// use ringloop::sync::Condition;
    ///
    /// let cond = Condition::new();
    /// assert!(!cond.is_locked());
    /// ```
    pub fn new() -> Condition {
        Condition::with_lock(Lock::new())
    }

    /// Creates a condition that uses `lock`, so several conditions (or plain
    /// [`Lock::lock`] callers) can share one lock, as asyncio's `Condition(lock)`.
    ///
    /// ```
    /// use ringloop::sync::{Condition, Lock};
    ///
    /// ringloop::run(async {
    ///     let lock = Lock::new();
    ///     let not_empty = Condition::with_lock(lock.clone());
    ///     let not_full = Condition::with_lock(lock.clone());
    ///     let guard = lock.lock().await; // a guard of the shared lock ...
    ///     not_empty.notify_all(); // ... lets either condition notify
    ///     not_full.notify(1);
    ///     assert!(not_empty.is_locked() && not_full.is_locked());
    ///     drop(guard);
    /// });
    /// ```
    pub fn with_lock(lock: Lock) -> Condition {
        Condition {
            lock,
            waiters: Rc::new(RefCell::new(WaiterList::new())),
        }
    }

    /// Waits for the condition's lock (see [`Lock::lock`]); the guard is what
    /// [`wait`](Condition::wait) takes.
    ///
    /// ```
    /// use ringloop::sync::Condition;
    ///
    /// ringloop::run(async {
    ///     let cond = Condition::new();
    ///     let guard = cond.lock().await;
    ///     assert!(cond.is_locked());
    ///     drop(guard);
    ///     assert!(!cond.is_locked());
    /// });
    /// ```
    pub fn lock(&self) -> LockAcquire {
        self.lock.lock()
    }

    /// True while the condition's lock is held (asyncio's `Condition.locked()`).
    ///
    /// ```
    /// use ringloop::sync::Condition;
    ///
    /// ringloop::run(async {
    ///     let cond = Condition::new();
    ///     let _guard = cond.lock().await;
    ///     assert!(cond.is_locked());
    /// });
    /// ```
    pub fn is_locked(&self) -> bool {
        self.lock.is_locked()
    }

    /// Releases the lock, waits until notified, takes the lock back and returns its
    /// new guard.
    ///
    /// The waiter joins the line when the future is first polled, before the lock is
    /// released, so a notify sent once the lock is free cannot be missed. Dropping the
    /// future before it returns (cancellation, `timeout`) releases the lock for good:
    /// there is no guard left to hand back, so it is not re-acquired; take the lock
    /// again with [`lock`](Condition::lock) if you need it. A notice the dropped waiter
    /// had already received goes to the next waiter.
    ///
    /// # Panics
    /// If `guard` belongs to a different lock than this condition's.
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    /// use ringloop::sync::Condition;
    ///
    /// ringloop::run(async {
    ///     let cond = Condition::new();
    ///     let ready = Rc::new(Cell::new(false));
    ///     let waiter = ringloop::spawn({
    ///         let (cond, ready) = (cond.clone(), ready.clone());
    ///         async move {
    ///             let mut guard = cond.lock().await;
    ///             while !ready.get() {
    ///                 guard = cond.wait(guard).await; // the lock is free meanwhile
    ///             }
    ///             drop(guard);
    ///         }
    ///     });
    ///     ringloop::yield_now().await;
    ///     let guard = cond.lock().await; // free: the waiter released it
    ///     ready.set(true);
    ///     cond.notify_all();
    ///     drop(guard);
    ///     waiter.await.unwrap();
    /// });
    /// ```
    pub fn wait(&self, guard: LockGuard) -> ConditionWait {
        self.check_guard(&guard, "wait");
        ConditionWait {
            cond: self.clone(),
            step: Step::Start(guard),
        }
    }

    /// Waits until `predicate()` returns true, checking it with the lock held: at once,
    /// then after each notification. Returns the guard, with the predicate true.
    ///
    /// asyncio's `wait_for` returns the predicate's last value; here it is `true` by
    /// construction, and the guard is returned instead. Dropping the future behaves as
    /// dropping a [`wait`](Condition::wait).
    ///
    /// # Panics
    /// If `guard` belongs to a different lock than this condition's.
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    /// use ringloop::sync::Condition;
    ///
    /// ringloop::run(async {
    ///     let cond = Condition::new();
    ///     let stock = Rc::new(Cell::new(0));
    ///     let buyer = ringloop::spawn({
    ///         let (cond, stock) = (cond.clone(), stock.clone());
    ///         async move {
    ///             let guard = cond.lock().await;
    ///             let guard = cond.wait_for(guard, || stock.get() >= 3).await;
    ///             stock.set(stock.get() - 3);
    ///             drop(guard);
    ///         }
    ///     });
    ///     for _ in 0..3 {
    ///         let _guard = cond.lock().await;
    ///         stock.set(stock.get() + 1);
    ///         cond.notify_all(); // the buyer checks again, and waits until 3
    ///     }
    ///     buyer.await.unwrap();
    ///     assert_eq!(stock.get(), 0);
    /// });
    /// ```
    pub fn wait_for<P: FnMut() -> bool>(
        &self,
        guard: LockGuard,
        predicate: P,
    ) -> ConditionWaitFor<P> {
        self.check_guard(&guard, "wait_for");
        ConditionWaitFor {
            cond: self.clone(),
            predicate,
            guard: Some(guard),
            wait: None,
        }
    }

    /// Wakes up to `n` waiters, oldest first. Each returns from its wait once it has
    /// taken the lock back, so after the notifying task releases it.
    ///
    /// # Panics
    /// If the condition's lock is not held, as asyncio raises `RuntimeError`: notify
    /// while holding a guard from [`lock`](Condition::lock).
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use std::rc::Rc;
    /// use ringloop::sync::Condition;
    ///
    /// ringloop::run(async {
    ///     let cond = Condition::new();
    ///     let woke = Rc::new(RefCell::new(Vec::new()));
    ///     let waiters: Vec<_> = (0..3)
    ///         .map(|i| {
    ///             let (cond, woke) = (cond.clone(), woke.clone());
    ///             ringloop::spawn(async move {
    ///                 let guard = cond.lock().await;
    ///                 drop(cond.wait(guard).await);
    ///                 woke.borrow_mut().push(i);
    ///             })
    ///         })
    ///         .collect();
    ///     ringloop::yield_now().await; // all three wait
    ///     let guard = cond.lock().await;
    ///     cond.notify(2); // the two oldest
    ///     drop(guard);
    ///     for _ in 0..4 {
    ///         ringloop::yield_now().await;
    ///     }
    ///     assert_eq!(*woke.borrow(), [0, 1]);
    ///     let guard = cond.lock().await;
    ///     cond.notify(1);
    ///     drop(guard);
    ///     for w in waiters {
    ///         w.await.unwrap();
    ///     }
    /// });
    /// ```
    pub fn notify(&self, n: usize) {
        self.assert_locked("notify");
        let mut wakers = WakeSet::new();
        {
            let mut waiters = self.waiters.borrow_mut();
            for _ in 0..n {
                match waiters.notify_first(()) {
                    Ok(waker) => wakers.push(waker),
                    Err(()) => break,
                }
            }
        }
        wakers.wake_all();
    }

    /// Wakes every task waiting now.
    ///
    /// # Panics
    /// If the condition's lock is not held (see [`notify`](Condition::notify)).
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    /// use ringloop::sync::Condition;
    ///
    /// ringloop::run(async {
    ///     let cond = Condition::new();
    ///     let open = Rc::new(Cell::new(false));
    ///     let waiters: Vec<_> = (0..3)
    ///         .map(|_| {
    ///             let (cond, open) = (cond.clone(), open.clone());
    ///             ringloop::spawn(async move {
    ///                 let guard = cond.lock().await;
    ///                 drop(cond.wait_for(guard, || open.get()).await);
    ///             })
    ///         })
    ///         .collect();
    ///     ringloop::yield_now().await;
    ///     let guard = cond.lock().await;
    ///     open.set(true);
    ///     cond.notify_all(); // every waiter, whatever their number
    ///     drop(guard);
    ///     for w in waiters {
    ///         w.await.unwrap();
    ///     }
    /// });
    /// ```
    pub fn notify_all(&self) {
        self.assert_locked("notify_all");
        let mut wakers = WakeSet::new();
        self.waiters.borrow_mut().notify_all(&mut wakers, || ());
        wakers.wake_all();
    }

    fn check_guard(&self, guard: &LockGuard, what: &str) {
        assert!(
            guard.holds(&self.lock),
            "Condition::{what}: the guard is for a different Lock than this Condition's; \
             take it with cond.lock().await (or build the Condition with \
             Condition::with_lock(lock) to share a lock)"
        );
    }

    fn assert_locked(&self, what: &str) {
        assert!(
            self.lock.is_locked(),
            "Condition::{what} called without holding the condition's lock: \
             take it first with `let guard = cond.lock().await;` \
             (asyncio raises RuntimeError here)"
        );
    }

    /// Passes one notification on to the oldest waiter, if any: what a waiter that
    /// was notified and then dropped does with its notice. Needs no lock.
    fn pass_on(&self) {
        let waker = self.waiters.borrow_mut().notify_first(()).ok();
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condition")
            .field("locked", &self.lock.is_locked())
            .field("waiters", &self.waiters.borrow().queued())
            .finish()
    }
}

/// Where a [`ConditionWait`] is.
enum Step {
    /// Not polled yet: still holding the caller's guard.
    Start(LockGuard),
    /// In the condition's line, lock released.
    Waiting(WaiterId),
    /// Notified; queued for the lock.
    Relocking(LockAcquire),
    /// Returned the guard (or dropped).
    Done,
}

/// Future returned by [`Condition::wait`]; resolves to the lock's new guard.
///
/// ```
/// use std::time::Duration;
/// use ringloop::sync::Condition;
///
/// ringloop::run(async {
///     let cond = Condition::new();
///     let guard = cond.lock().await;
///     // Nobody notifies: give up after 5 ms. The dropped ConditionWait leaves the
///     // line, and the lock stays released (its guard went into the wait).
///     let waited = ringloop::timeout(Duration::from_millis(5), cond.wait(guard)).await;
///     assert!(waited.is_err());
///     assert!(!cond.is_locked());
/// });
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct ConditionWait {
    cond: Condition,
    step: Step,
}

impl Future for ConditionWait {
    type Output = LockGuard;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<LockGuard> {
        let this = &mut *self;
        loop {
            match &mut this.step {
                Step::Start(_) => {
                    // Join the line first, then release the lock: a notify that the
                    // release lets happen finds us waiting.
                    let id = this.cond.waiters.borrow_mut().push(cx.waker().clone());
                    let Step::Start(guard) = std::mem::replace(&mut this.step, Step::Waiting(id))
                    else {
                        unreachable!("matched Start above")
                    };
                    drop(guard);
                    return Poll::Pending;
                }
                Step::Waiting(id) => {
                    let mut waiters = this.cond.waiters.borrow_mut();
                    if waiters.take_notice(id).is_none() {
                        waiters.update_waker(id, cx.waker());
                        return Poll::Pending;
                    }
                    drop(waiters);
                    this.step = Step::Relocking(this.cond.lock.lock());
                }
                Step::Relocking(acquire) => {
                    let guard = ready!(Pin::new(acquire).poll(cx));
                    this.step = Step::Done;
                    return Poll::Ready(guard);
                }
                Step::Done => panic!("ConditionWait polled after completion"),
            }
        }
    }
}

impl Drop for ConditionWait {
    fn drop(&mut self) {
        match std::mem::replace(&mut self.step, Step::Done) {
            // Never waited: dropping the guard releases the lock.
            Step::Start(guard) => drop(guard),
            Step::Waiting(id) => {
                let notified = self.cond.waiters.borrow_mut().remove(id).is_some();
                if notified {
                    self.cond.pass_on();
                }
            }
            Step::Relocking(acquire) => {
                // Notified but never returned: the lock (if already handed to us) goes
                // to the next lock waiter, the notification to the next waiter.
                drop(acquire);
                self.cond.pass_on();
            }
            Step::Done => {}
        }
    }
}

impl fmt::Debug for ConditionWait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let step = match self.step {
            Step::Start(_) => "start",
            Step::Waiting(_) => "waiting",
            Step::Relocking(_) => "relocking",
            Step::Done => "done",
        };
        f.debug_struct("ConditionWait")
            .field("step", &step)
            .finish()
    }
}

/// Future returned by [`Condition::wait_for`]; resolves to the lock's guard once the
/// predicate holds.
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
/// use std::time::Duration;
/// use ringloop::sync::Condition;
///
/// ringloop::run(async {
///     let cond = Condition::new();
///     let done = Rc::new(Cell::new(false));
///     let guard = cond.lock().await;
///     let check = done.clone();
///     let waited = ringloop::timeout(
///         Duration::from_millis(5),
///         cond.wait_for(guard, move || check.get()),
///     )
///     .await;
///     assert!(waited.is_err()); // nobody set `done`
///     assert!(!cond.is_locked());
/// });
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct ConditionWaitFor<P> {
    cond: Condition,
    predicate: P,
    /// The guard while the predicate is checked.
    guard: Option<LockGuard>,
    /// The wait in progress after a false predicate.
    wait: Option<ConditionWait>,
}

// The predicate is only called, never pinned, so the future may move freely.
impl<P> Unpin for ConditionWaitFor<P> {}

impl<P: FnMut() -> bool> Future for ConditionWaitFor<P> {
    type Output = LockGuard;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<LockGuard> {
        let this = &mut *self;
        loop {
            if let Some(wait) = &mut this.wait {
                let guard = ready!(Pin::new(wait).poll(cx));
                this.wait = None;
                this.guard = Some(guard);
            }
            let guard = this
                .guard
                .take()
                .expect("ConditionWaitFor polled after completion");
            if (this.predicate)() {
                return Poll::Ready(guard);
            }
            this.wait = Some(this.cond.wait(guard));
        }
    }
}

impl<P> fmt::Debug for ConditionWaitFor<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConditionWaitFor")
            .field("wait", &self.wait)
            .field("done", &(self.guard.is_none() && self.wait.is_none()))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::super::waiters::test_util::counting_waker;
    use super::*;
    use std::task::Waker;

    fn poll<F: Future + Unpin>(fut: &mut F, waker: &Waker) -> Poll<F::Output> {
        Pin::new(fut).poll(&mut Context::from_waker(waker))
    }

    fn entries(cond: &Condition) -> usize {
        cond.waiters.borrow().occupied()
    }

    #[test]
    fn condition_unpolled_wait_dropped_releases_lock() {
        let cond = Condition::new();
        let wait = cond.wait(cond.lock.try_lock().unwrap());
        assert!(cond.is_locked());
        drop(wait);
        assert!(!cond.is_locked());
        assert_eq!(entries(&cond), 0);
    }

    #[test]
    fn condition_wait_joins_line_before_releasing_lock() {
        let cond = Condition::new();
        let mut wait = cond.wait(cond.lock.try_lock().unwrap());
        let (waker, woken) = counting_waker();
        assert!(poll(&mut wait, &waker).is_pending());
        assert!(!cond.is_locked());
        let guard = cond.lock.try_lock().unwrap();
        cond.notify(1);
        assert_eq!(woken(), 1);
        assert!(
            poll(&mut wait, &waker).is_pending(),
            "the lock is still held"
        );
        drop(guard); // handed to the waiter
        assert_eq!(woken(), 2);
        let guard = match poll(&mut wait, &waker) {
            Poll::Ready(guard) => guard,
            Poll::Pending => panic!("the lock was handed over"),
        };
        assert!(guard.holds(&cond.lock));
        drop(guard);
        assert_eq!(entries(&cond), 0);
        assert!(!cond.is_locked());
    }

    #[test]
    fn condition_dropped_waits_free_their_entries_in_every_state() {
        let cond = Condition::new();
        let (waker_b, woken_b) = counting_waker();
        let mut a = cond.wait(cond.lock.try_lock().unwrap());
        assert!(poll(&mut a, Waker::noop()).is_pending());
        let mut b = cond.wait(cond.lock.try_lock().unwrap());
        assert!(poll(&mut b, &waker_b).is_pending());
        let mut c = cond.wait(cond.lock.try_lock().unwrap());
        assert!(poll(&mut c, Waker::noop()).is_pending());
        assert_eq!(entries(&cond), 3);

        let guard = cond.lock.try_lock().unwrap();
        cond.notify(1); // to a
        assert!(poll(&mut a, Waker::noop()).is_pending()); // relocking: we hold it
        drop(a); // passes the notice to b
        assert_eq!(woken_b(), 1);
        drop(b); // notified, never polled: passes it to c
        drop(c);
        assert_eq!(entries(&cond), 0, "no entry leaks");
        drop(guard);
        assert!(!cond.is_locked());
    }
}
