//! [`Semaphore`]: a fair counting semaphore for tasks (asyncio's `Semaphore`).

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use super::waiters::{WaiterId, WaiterList, WakeSet};

/// A pool of permits; [`acquire`](Semaphore::acquire) waits for one, and dropping the
/// [`SemaphorePermit`] gives it back.
///
/// Fair: waiters receive permits in the order they started waiting, and a returned
/// permit goes straight to the oldest waiter, so a later `acquire` cannot take it
/// first. Clones share the same pool.
///
/// ```
/// use ringloop::sync::Semaphore;
///
/// ringloop::run(async {
///     let sem = Semaphore::new(2);
///     let a = sem.acquire().await;
///     let _b = sem.acquire().await;
///     assert_eq!(sem.available_permits(), 0);
///     assert!(sem.try_acquire().is_none());
///     drop(a);
///     assert_eq!(sem.available_permits(), 1);
/// });
/// ```
#[derive(Clone)]
pub struct Semaphore {
    inner: Rc<RefCell<State>>,
}

struct State {
    /// Permits nobody holds.
    ///
    /// # Invariant
    /// A queued waiter implies `permits == 0`: a returned permit is handed to the
    /// oldest waiter instead of being counted here.
    permits: usize,
    waiters: WaiterList<()>,
}

impl State {
    /// Returns `n` permits: hands them to waiters first (oldest first), then counts the
    /// rest as available.
    fn add(&mut self, mut n: usize, wakers: &mut WakeSet) {
        while n > 0 {
            match self.waiters.notify_first(()) {
                Ok(waker) => {
                    wakers.push(waker);
                    n -= 1;
                }
                Err(()) => break,
            }
        }
        self.permits = self
            .permits
            .checked_add(n)
            .expect("Semaphore permit count overflowed usize");
    }
}

impl Semaphore {
    /// Creates a semaphore with `permits` permits available.
    ///
    /// ```
    /// use ringloop::sync::Semaphore;
    ///
    /// // At most 8 requests to the database at a time.
    /// let db_slots = Semaphore::new(8);
    /// assert_eq!(db_slots.available_permits(), 8);
    /// ```
    pub fn new(permits: usize) -> Semaphore {
        Semaphore {
            inner: Rc::new(RefCell::new(State {
                permits,
                waiters: WaiterList::new(),
            })),
        }
    }

    /// Waits for a permit. Waiters are served first come, first served.
    ///
    /// Dropping the future before it completes gives up its place; if a permit had
    /// already been handed to it, the permit passes on to the next waiter.
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    /// use std::time::Duration;
    /// use ringloop::sync::Semaphore;
    ///
    /// ringloop::run(async {
    ///     let slots = Semaphore::new(2);
    ///     let (running, most) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
    ///     let jobs: Vec<_> = (0..6)
    ///         .map(|_| {
    ///             let (slots, running, most) = (slots.clone(), running.clone(), most.clone());
    ///             ringloop::spawn(async move {
    ///                 let _permit = slots.acquire().await;
    ///                 running.set(running.get() + 1);
    ///                 most.set(most.get().max(running.get()));
    ///                 ringloop::sleep(Duration::from_millis(1)).await;
    ///                 running.set(running.get() - 1);
    ///             })
    ///         })
    ///         .collect();
    ///     for job in jobs {
    ///         job.await.unwrap();
    ///     }
    ///     assert_eq!(most.get(), 2); // never more than two at once
    /// });
    /// ```
    pub fn acquire(&self) -> SemaphoreAcquire {
        SemaphoreAcquire {
            inner: Rc::clone(&self.inner),
            id: None,
            done: false,
        }
    }

    /// Takes a permit if one is available right now.
    ///
    /// ```
    /// use ringloop::sync::Semaphore;
    ///
    /// let slots = Semaphore::new(1);
    /// let permit = slots.try_acquire().expect("one free");
    /// // Full: shed the request instead of queueing it.
    /// assert!(slots.try_acquire().is_none());
    /// drop(permit);
    /// assert!(slots.try_acquire().is_some());
    /// ```
    pub fn try_acquire(&self) -> Option<SemaphorePermit> {
        let mut state = self.inner.borrow_mut();
        if state.permits == 0 {
            return None;
        }
        state.permits -= 1;
        Some(SemaphorePermit {
            inner: Rc::clone(&self.inner),
            forgotten: false,
        })
    }

    /// Number of permits available right now.
    ///
    /// ```
    /// use ringloop::sync::Semaphore;
    ///
    /// let slots = Semaphore::new(3);
    /// let _a = slots.try_acquire().unwrap();
    /// assert_eq!(slots.available_permits(), 2);
    /// ```
    pub fn available_permits(&self) -> usize {
        self.inner.borrow().permits
    }

    /// Adds `n` permits, waking up to `n` waiters.
    ///
    /// # Panics
    /// If the number of available permits would overflow `usize`.
    ///
    /// ```
    /// use ringloop::sync::Semaphore;
    ///
    /// ringloop::run(async {
    ///     let slots = Semaphore::new(0); // closed until the warm-up is done
    ///     let waiter = ringloop::spawn({
    ///         let slots = slots.clone();
    ///         async move { slots.acquire().await.forget() }
    ///     });
    ///     slots.add_permits(4); // open: the waiter gets one
    ///     waiter.await.unwrap();
    ///     assert_eq!(slots.available_permits(), 3);
    /// });
    /// ```
    pub fn add_permits(&self, n: usize) {
        let mut wakers = WakeSet::new();
        self.inner.borrow_mut().add(n, &mut wakers);
        wakers.wake_all();
    }

    /// Adds one permit, like asyncio's `Semaphore.release()`.
    ///
    /// Usually you drop a [`SemaphorePermit`] instead; use this together with
    /// [`SemaphorePermit::forget`] when acquire and release happen in different places.
    ///
    /// ```
    /// use ringloop::sync::Semaphore;
    ///
    /// let slots = Semaphore::new(1);
    /// slots.try_acquire().unwrap().forget(); // taken here...
    /// assert_eq!(slots.available_permits(), 0);
    /// slots.release(); // ...given back elsewhere, as asyncio's release()
    /// assert_eq!(slots.available_permits(), 1);
    /// ```
    pub fn release(&self) {
        self.add_permits(1);
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.inner.borrow();
        f.debug_struct("Semaphore")
            .field("permits", &state.permits)
            .field("waiters", &state.waiters.queued())
            .finish()
    }
}

/// One permit of a [`Semaphore`]; dropping it returns the permit.
///
/// ```
/// use ringloop::sync::Semaphore;
///
/// ringloop::run(async {
///     let slots = Semaphore::new(1);
///     {
///         let _permit = slots.acquire().await;
///         assert_eq!(slots.available_permits(), 0);
///     } // returned here
///     assert_eq!(slots.available_permits(), 1);
/// });
/// ```
#[must_use = "the permit is returned as soon as it is dropped"]
pub struct SemaphorePermit {
    inner: Rc<RefCell<State>>,
    /// Set by [`forget`](SemaphorePermit::forget): drop returns nothing.
    forgotten: bool,
}

impl SemaphorePermit {
    /// Consumes the permit without returning it, so the semaphore has one permit
    /// fewer. [`Semaphore::release`] adds it back.
    ///
    /// ```
    /// use ringloop::sync::Semaphore;
    ///
    /// let slots = Semaphore::new(2);
    /// // Retire one slot for good (a worker that went away).
    /// slots.try_acquire().unwrap().forget();
    /// assert_eq!(slots.available_permits(), 1);
    /// ```
    pub fn forget(mut self) {
        self.forgotten = true;
    }
}

impl Drop for SemaphorePermit {
    fn drop(&mut self) {
        if self.forgotten {
            return;
        }
        let mut wakers = WakeSet::new();
        self.inner.borrow_mut().add(1, &mut wakers);
        wakers.wake_all();
    }
}

impl fmt::Debug for SemaphorePermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermit").finish_non_exhaustive()
    }
}

/// Future returned by [`Semaphore::acquire`].
///
/// ```
/// use std::time::Duration;
/// use ringloop::sync::Semaphore;
///
/// ringloop::run(async {
///     let slots = Semaphore::new(1);
///     let _busy = slots.acquire().await;
///     // Give up after 5 ms: the dropped SemaphoreAcquire leaves the line.
///     let waited = ringloop::timeout(Duration::from_millis(5), slots.acquire()).await;
///     assert!(waited.is_err());
/// });
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct SemaphoreAcquire {
    inner: Rc<RefCell<State>>,
    id: Option<WaiterId>,
    done: bool,
}

impl Future for SemaphoreAcquire {
    type Output = SemaphorePermit;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<SemaphorePermit> {
        let this = &mut *self;
        assert!(!this.done, "SemaphoreAcquire polled after completion");
        let mut state = this.inner.borrow_mut();
        match &this.id {
            None if state.permits > 0 => state.permits -= 1,
            None => {
                this.id = Some(state.waiters.push(cx.waker().clone()));
                return Poll::Pending;
            }
            Some(id) => {
                if state.waiters.take_notice(id).is_none() {
                    state.waiters.update_waker(id, cx.waker());
                    return Poll::Pending;
                }
                // A permit was handed to us; it never went through `permits`.
                this.id = None;
            }
        }
        drop(state);
        this.done = true;
        Poll::Ready(SemaphorePermit {
            inner: Rc::clone(&this.inner),
            forgotten: false,
        })
    }
}

impl Drop for SemaphoreAcquire {
    fn drop(&mut self) {
        let Some(id) = self.id.take() else { return };
        let mut wakers = WakeSet::new();
        {
            let mut state = self.inner.borrow_mut();
            if let Some(()) = state.waiters.remove(id) {
                // We were handed a permit but never ran: pass it on.
                state.add(1, &mut wakers);
            }
        }
        wakers.wake_all();
    }
}

impl fmt::Debug for SemaphoreAcquire {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphoreAcquire")
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

    fn poll(fut: &mut SemaphoreAcquire, waker: &Waker) -> Poll<SemaphorePermit> {
        Pin::new(fut).poll(&mut Context::from_waker(waker))
    }

    fn ready(p: Poll<SemaphorePermit>) -> SemaphorePermit {
        match p {
            Poll::Ready(permit) => permit,
            Poll::Pending => panic!("expected a permit"),
        }
    }

    #[test]
    fn semaphore_permits_counted_and_returned() {
        let sem = Semaphore::new(2);
        let a = ready(poll(&mut sem.acquire(), Waker::noop()));
        let b = sem.try_acquire().expect("second permit");
        assert_eq!(sem.available_permits(), 0);
        assert!(sem.try_acquire().is_none());
        assert!(poll(&mut sem.acquire(), Waker::noop()).is_pending());
        drop(a);
        drop(b);
        assert_eq!(sem.available_permits(), 2);
    }

    #[test]
    fn semaphore_waiters_served_in_order() {
        let sem = Semaphore::new(0);
        let mut a = sem.acquire();
        let mut b = sem.acquire();
        assert!(poll(&mut a, Waker::noop()).is_pending());
        assert!(poll(&mut b, Waker::noop()).is_pending());
        sem.release();
        // The permit went to `a`, not to a newcomer, and not to `b`.
        assert_eq!(sem.available_permits(), 0);
        assert!(sem.try_acquire().is_none());
        assert!(poll(&mut b, Waker::noop()).is_pending());
        let pa = ready(poll(&mut a, Waker::noop()));
        drop(pa);
        let pb = ready(poll(&mut b, Waker::noop()));
        drop(pb);
        assert_eq!(sem.available_permits(), 1);
    }

    #[test]
    fn semaphore_add_permits_wakes_that_many() {
        let sem = Semaphore::new(0);
        let (waker, count) = counting_waker();
        let mut waits: Vec<_> = (0..3).map(|_| sem.acquire()).collect();
        for w in &mut waits {
            assert!(poll(w, &waker).is_pending());
        }
        sem.add_permits(5);
        assert_eq!(count(), 3);
        assert_eq!(sem.available_permits(), 2);
        let permits: Vec<_> = waits.iter_mut().map(|w| ready(poll(w, &waker))).collect();
        drop(permits);
        assert_eq!(sem.available_permits(), 5);
    }

    #[test]
    fn semaphore_dropped_waiter_passes_permit_on() {
        let sem = Semaphore::new(0);
        let (waker_b, woken_b) = counting_waker();
        let mut a = sem.acquire();
        let mut b = sem.acquire();
        assert!(poll(&mut a, Waker::noop()).is_pending());
        assert!(poll(&mut b, &waker_b).is_pending());
        sem.release(); // handed to a
        drop(a);
        assert_eq!(woken_b(), 1);
        let pb = ready(poll(&mut b, &waker_b));
        drop(pb);
        assert_eq!(sem.available_permits(), 1);
        assert_eq!(sem.inner.borrow().waiters.occupied(), 0);
    }

    #[test]
    fn semaphore_forget_keeps_permit_out() {
        let sem = Semaphore::new(1);
        sem.try_acquire().unwrap().forget();
        assert_eq!(sem.available_permits(), 0);
        sem.release();
        assert_eq!(sem.available_permits(), 1);
    }
}
