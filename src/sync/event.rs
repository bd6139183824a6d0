//! [`Event`]: a flag that tasks can wait on (asyncio's `Event`).

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use super::waiters::{WaiterId, WaiterList, WakeSet};

/// A flag that starts cleared; [`wait`](Event::wait) suspends until it is set.
///
/// [`set`](Event::set) wakes every task waiting at that moment, and a waiter woken by
/// `set` returns even if [`clear`](Event::clear) is called before it runs, as in
/// asyncio. Clones share the same flag.
///
/// ```
/// use ringloop::sync::Event;
///
/// ringloop::run(async {
///     let ready = Event::new();
///     let waiter = ringloop::spawn({
///         let ready = ready.clone();
///         async move { ready.wait().await; "saw it" }
///     });
///     ready.set();
///     assert_eq!(waiter.await.unwrap(), "saw it");
/// });
/// ```
#[derive(Clone, Default)]
pub struct Event {
    inner: Rc<RefCell<State>>,
}

#[derive(Default)]
struct State {
    set: bool,
    waiters: WaiterList<()>,
}

impl Event {
    /// Creates a cleared event.
    ///
    /// ```
    /// let ready = ringloop::sync::Event::new();
    /// assert!(!ready.is_set());
    /// ```
    pub fn new() -> Event {
        Event::default()
    }

    /// Sets the flag and wakes every waiting task. Does nothing if already set.
    ///
    /// ```
    /// use ringloop::sync::Event;
    ///
    /// ringloop::run(async {
    ///     let started = Event::new();
    ///     let waiters: Vec<_> = (0..3)
    ///         .map(|i| {
    ///             let started = started.clone();
    ///             ringloop::spawn(async move {
    ///                 started.wait().await;
    ///                 i
    ///             })
    ///         })
    ///         .collect();
    ///     started.set(); // wakes all three
    ///     for (i, w) in waiters.into_iter().enumerate() {
    ///         assert_eq!(w.await.unwrap(), i);
    ///     }
    /// });
    /// ```
    pub fn set(&self) {
        let mut wakers = WakeSet::new();
        {
            let mut state = self.inner.borrow_mut();
            if state.set {
                return;
            }
            state.set = true;
            state.waiters.notify_all(&mut wakers, || ());
        }
        wakers.wake_all();
    }

    /// Clears the flag; later calls to [`wait`](Event::wait) suspend again.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ringloop::sync::Event;
    ///
    /// ringloop::run(async {
    ///     let open = Event::new();
    ///     open.set();
    ///     open.wait().await; // set: returns at once
    ///     open.clear(); // closed again: the next wait suspends
    ///     let waited = ringloop::timeout(Duration::from_millis(5), open.wait()).await;
    ///     assert!(waited.is_err());
    /// });
    /// ```
    pub fn clear(&self) {
        self.inner.borrow_mut().set = false;
    }

    /// Returns true if the flag is set.
    ///
    /// ```
    /// let shutdown = ringloop::sync::Event::new();
    /// assert!(!shutdown.is_set());
    /// shutdown.set();
    /// assert!(shutdown.is_set()); // a loop can poll the flag between jobs
    /// ```
    pub fn is_set(&self) -> bool {
        self.inner.borrow().set
    }

    /// Waits until the flag is set; completes at once if it already is.
    ///
    /// Dropping the future before it completes removes it from the waiters.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ringloop::sync::Event;
    ///
    /// ringloop::run(async {
    ///     let config_loaded = Event::new();
    ///     let loader = ringloop::spawn({
    ///         let config_loaded = config_loaded.clone();
    ///         async move {
    ///             ringloop::sleep(Duration::from_millis(1)).await;
    ///             config_loaded.set();
    ///         }
    ///     });
    ///     config_loaded.wait().await; // suspends until the loader sets it
    ///     assert!(config_loaded.is_set());
    ///     loader.await.unwrap();
    /// });
    /// ```
    pub fn wait(&self) -> EventWait {
        EventWait {
            inner: Rc::clone(&self.inner),
            id: None,
            done: false,
        }
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.inner.borrow();
        f.debug_struct("Event")
            .field("set", &state.set)
            .field("waiters", &state.waiters.queued())
            .finish()
    }
}

/// Future returned by [`Event::wait`].
///
/// ```
/// use std::time::Duration;
/// use ringloop::sync::Event;
///
/// ringloop::run(async {
///     let never = Event::new();
///     // An EventWait is a future: with a deadline, dropping it leaves the waiters.
///     let waited = ringloop::timeout(Duration::from_millis(5), never.wait()).await;
///     assert!(waited.is_err());
/// });
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct EventWait {
    inner: Rc<RefCell<State>>,
    /// Our waiter entry, once we had to wait.
    id: Option<WaiterId>,
    done: bool,
}

impl Future for EventWait {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        assert!(!this.done, "EventWait polled after completion");
        let mut state = this.inner.borrow_mut();
        match &this.id {
            None if state.set => {}
            None => {
                this.id = Some(state.waiters.push(cx.waker().clone()));
                return Poll::Pending;
            }
            Some(id) => {
                if state.waiters.take_notice(id).is_none() {
                    state.waiters.update_waker(id, cx.waker());
                    return Poll::Pending;
                }
                this.id = None;
            }
        }
        this.done = true;
        Poll::Ready(())
    }
}

impl Drop for EventWait {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            // Every waiter is woken by `set`, so a notice needs no passing on.
            self.inner.borrow_mut().waiters.remove(id);
        }
    }
}

impl fmt::Debug for EventWait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventWait")
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

    fn poll(fut: &mut EventWait, waker: &Waker) -> Poll<()> {
        Pin::new(fut).poll(&mut Context::from_waker(waker))
    }

    #[test]
    fn event_wait_ready_when_already_set() {
        let event = Event::new();
        event.set();
        assert_eq!(poll(&mut event.wait(), Waker::noop()), Poll::Ready(()));
    }

    #[test]
    fn event_set_wakes_every_waiter() {
        let event = Event::new();
        let (waker, count) = counting_waker();
        let mut waits: Vec<_> = (0..3).map(|_| event.wait()).collect();
        for w in &mut waits {
            assert_eq!(poll(w, &waker), Poll::Pending);
        }
        event.set();
        assert_eq!(count(), 3);
        event.clear();
        for w in &mut waits {
            assert_eq!(
                poll(w, &waker),
                Poll::Ready(()),
                "woken waiters return after clear"
            );
        }
        assert_eq!(event.inner.borrow().waiters.occupied(), 0);
    }

    #[test]
    fn event_wait_after_clear_suspends() {
        let event = Event::new();
        event.set();
        event.clear();
        assert!(!event.is_set());
        let mut w = event.wait();
        assert_eq!(poll(&mut w, Waker::noop()), Poll::Pending);
    }

    #[test]
    fn event_dropped_waiter_leaves_no_entry() {
        let event = Event::new();
        for _ in 0..1000 {
            let mut w = event.wait();
            assert_eq!(poll(&mut w, Waker::noop()), Poll::Pending);
        }
        assert_eq!(event.inner.borrow().waiters.occupied(), 0);
        event.set();
    }
}
