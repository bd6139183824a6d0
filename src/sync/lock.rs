//! [`Lock`]: a fair mutual-exclusion lock for tasks (asyncio's `Lock`).

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use super::waiters::{WaiterId, WaiterList};

/// A lock that tasks take with [`lock`](Lock::lock) and release by dropping the
/// [`LockGuard`].
///
/// Like asyncio's `Lock` it guards no data of its own: it orders critical sections.
/// (Keep the data in a `RefCell` next to it, and never hold a `RefCell` borrow across
/// an `.await`.)
///
/// The lock is fair: waiters get it in the order they started waiting. Releasing
/// hands the lock straight to the oldest waiter, so a task that calls `lock()` later
/// cannot barge in ahead of it. Clones share the same lock.
///
/// ```
/// use ringloop::sync::Lock;
///
/// ringloop::run(async {
///     let lock = Lock::new();
///     let guard = lock.lock().await;
///     assert!(lock.is_locked());
///     assert!(lock.try_lock().is_none());
///     drop(guard);
///     assert!(!lock.is_locked());
/// });
/// ```
#[derive(Clone, Default)]
pub struct Lock {
    inner: Rc<RefCell<State>>,
}

#[derive(Default)]
struct State {
    /// True while a guard exists or the lock has been handed to a waiter.
    ///
    /// # Invariant
    /// A queued waiter implies `locked`: an unlock with waiters hands over instead.
    locked: bool,
    waiters: WaiterList<()>,
}

impl State {
    /// Passes the lock to the oldest waiter, or unlocks if there is none.
    #[must_use = "the returned waker must be woken after the borrow is released"]
    fn release(&mut self) -> Option<std::task::Waker> {
        debug_assert!(self.locked, "releasing a lock that is not held");
        match self.waiters.notify_first(()) {
            Ok(waker) => Some(waker),
            Err(()) => {
                self.locked = false;
                None
            }
        }
    }
}

impl Lock {
    /// Creates an unlocked lock.
    ///
    /// ```
    /// let lock = ringloop::sync::Lock::new();
    /// assert!(!lock.is_locked());
    /// ```
    pub fn new() -> Lock {
        Lock::default()
    }

    /// Waits for the lock and returns a guard that releases it on drop.
    ///
    /// Waiters are served first come, first served. Dropping the future before it
    /// completes gives up its place; if the lock had already been handed to it, the
    /// lock passes on to the next waiter.
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use std::rc::Rc;
    /// use std::time::Duration;
    /// use ringloop::sync::Lock;
    ///
    /// ringloop::run(async {
    ///     let lock = Lock::new();
    ///     let log = Rc::new(RefCell::new(Vec::new()));
    ///     let writers: Vec<_> = (0..3)
    ///         .map(|i| {
    ///             let (lock, log) = (lock.clone(), log.clone());
    ///             ringloop::spawn(async move {
    ///                 let _guard = lock.lock().await; // one writer at a time
    ///                 log.borrow_mut().push(format!("{i} begin"));
    ///                 ringloop::sleep(Duration::from_millis(1)).await;
    ///                 log.borrow_mut().push(format!("{i} end"));
    ///             })
    ///         })
    ///         .collect();
    ///     for w in writers {
    ///         w.await.unwrap();
    ///     }
    ///     // The sections never interleave, and they ran in arrival order.
    ///     assert_eq!(*log.borrow(), ["0 begin", "0 end", "1 begin", "1 end", "2 begin", "2 end"]);
    /// });
    /// ```
    pub fn lock(&self) -> LockAcquire {
        LockAcquire {
            inner: Rc::clone(&self.inner),
            id: None,
            done: false,
        }
    }

    /// Takes the lock if it is free right now.
    ///
    /// ```
    /// use ringloop::sync::Lock;
    ///
    /// let lock = Lock::new();
    /// let guard = lock.try_lock().expect("free");
    /// assert!(lock.try_lock().is_none()); // held: do something else instead of waiting
    /// drop(guard);
    /// assert!(lock.try_lock().is_some());
    /// ```
    pub fn try_lock(&self) -> Option<LockGuard> {
        let mut state = self.inner.borrow_mut();
        if state.locked {
            return None;
        }
        state.locked = true;
        Some(LockGuard {
            inner: Rc::clone(&self.inner),
        })
    }

    /// Returns true if the lock is held (or has been handed to a waiter that has not
    /// run yet).
    ///
    /// ```
    /// use ringloop::sync::Lock;
    ///
    /// let lock = Lock::new();
    /// let guard = lock.try_lock().unwrap();
    /// assert!(lock.is_locked());
    /// drop(guard);
    /// assert!(!lock.is_locked());
    /// ```
    pub fn is_locked(&self) -> bool {
        self.inner.borrow().locked
    }
}

impl fmt::Debug for Lock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.inner.borrow();
        f.debug_struct("Lock")
            .field("locked", &state.locked)
            .field("waiters", &state.waiters.queued())
            .finish()
    }
}

/// Holds a [`Lock`]; dropping it releases the lock to the next waiter.
///
/// ```
/// use ringloop::sync::Lock;
///
/// ringloop::run(async {
///     let lock = Lock::new();
///     {
///         let _guard = lock.lock().await;
///         assert!(lock.is_locked());
///     } // released here
///     assert!(!lock.is_locked());
/// });
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LockGuard {
    inner: Rc<RefCell<State>>,
}

impl LockGuard {
    /// True if this guard holds `lock` (and not some other lock).
    pub(crate) fn holds(&self, lock: &Lock) -> bool {
        Rc::ptr_eq(&self.inner, &lock.inner)
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        let waker = self.inner.borrow_mut().release();
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl fmt::Debug for LockGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockGuard").finish_non_exhaustive()
    }
}

/// Future returned by [`Lock::lock`].
///
/// ```
/// use std::time::Duration;
/// use ringloop::sync::Lock;
///
/// ringloop::run(async {
///     let lock = Lock::new();
///     let held = lock.lock().await;
///     // Waiting with a deadline: the dropped LockAcquire leaves the line.
///     let waited = ringloop::timeout(Duration::from_millis(5), lock.lock()).await;
///     assert!(waited.is_err());
///     drop(held);
///     assert!(lock.try_lock().is_some());
/// });
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct LockAcquire {
    inner: Rc<RefCell<State>>,
    id: Option<WaiterId>,
    done: bool,
}

impl Future for LockAcquire {
    type Output = LockGuard;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<LockGuard> {
        let this = &mut *self;
        assert!(!this.done, "LockAcquire polled after completion");
        let mut state = this.inner.borrow_mut();
        match &this.id {
            None if !state.locked => state.locked = true,
            None => {
                this.id = Some(state.waiters.push(cx.waker().clone()));
                return Poll::Pending;
            }
            Some(id) => {
                if state.waiters.take_notice(id).is_none() {
                    state.waiters.update_waker(id, cx.waker());
                    return Poll::Pending;
                }
                // Handed to us: `locked` stayed true through the handoff.
                this.id = None;
            }
        }
        drop(state);
        this.done = true;
        Poll::Ready(LockGuard {
            inner: Rc::clone(&this.inner),
        })
    }
}

impl Drop for LockAcquire {
    fn drop(&mut self) {
        let Some(id) = self.id.take() else { return };
        let waker = {
            let mut state = self.inner.borrow_mut();
            match state.waiters.remove(id) {
                // We owned the lock without knowing it: pass it on.
                Some(()) => state.release(),
                None => None,
            }
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl fmt::Debug for LockAcquire {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockAcquire")
            .field("waiting", &self.id.is_some())
            .field("done", &self.done)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::super::waiters::test_util::counting_waker;
    use super::*;
    use std::task::Waker;

    fn poll(fut: &mut LockAcquire, waker: &Waker) -> Poll<LockGuard> {
        Pin::new(fut).poll(&mut Context::from_waker(waker))
    }

    fn ready(p: Poll<LockGuard>) -> LockGuard {
        match p {
            Poll::Ready(g) => g,
            Poll::Pending => panic!("expected the lock"),
        }
    }

    #[test]
    fn lock_free_lock_taken_at_once() {
        let lock = Lock::new();
        let guard = ready(poll(&mut lock.lock(), Waker::noop()));
        assert!(lock.is_locked());
        drop(guard);
        assert!(!lock.is_locked());
    }

    #[test]
    fn lock_handed_to_waiters_in_order() {
        let lock = Lock::new();
        let first = lock.try_lock().unwrap();
        let mut a = lock.lock();
        let mut b = lock.lock();
        assert!(poll(&mut a, Waker::noop()).is_pending());
        assert!(poll(&mut b, Waker::noop()).is_pending());
        drop(first);
        // Handed to `a`: a newcomer cannot barge in, and `b` still waits.
        assert!(lock.is_locked());
        assert!(lock.try_lock().is_none());
        assert!(poll(&mut b, Waker::noop()).is_pending());
        let ga = ready(poll(&mut a, Waker::noop()));
        drop(ga);
        let gb = ready(poll(&mut b, Waker::noop()));
        drop(gb);
        assert!(!lock.is_locked());
    }

    #[test]
    fn lock_dropped_waiter_passes_lock_on() {
        let lock = Lock::new();
        let first = lock.try_lock().unwrap();
        let (waker_b, woken_b) = counting_waker();
        let mut a = lock.lock();
        let mut b = lock.lock();
        assert!(poll(&mut a, Waker::noop()).is_pending());
        assert!(poll(&mut b, &waker_b).is_pending());
        drop(first); // handed to a
        assert_eq!(woken_b(), 0);
        drop(a); // a never ran: b gets it
        assert_eq!(woken_b(), 1);
        drop(ready(poll(&mut b, &waker_b)));
        assert!(!lock.is_locked());
    }

    #[test]
    fn lock_dropped_queued_waiter_is_skipped() {
        let lock = Lock::new();
        let first = lock.try_lock().unwrap();
        let mut a = lock.lock();
        let mut b = lock.lock();
        assert!(poll(&mut a, Waker::noop()).is_pending());
        assert!(poll(&mut b, Waker::noop()).is_pending());
        drop(a);
        drop(first);
        drop(ready(poll(&mut b, Waker::noop())));
        assert!(!lock.is_locked());
        assert_eq!(lock.inner.borrow().waiters.occupied(), 0);
    }
}
