//! A one-shot channel that crosses threads: one value, sent once from anywhere, awaited
//! by one task (asyncio's `Future` with `set_result`, completed from another thread
//! through `call_soon_threadsafe`; tokio's `oneshot`).
//!
//! The other `sync` types are the loop's own (`!Send`, no locks); this one is `Send`:
//! a plain thread, another loop or another runtime can complete what a task awaits.
//!
//! ```
//! let (tx, rx) = ringloop::sync::oneshot::channel();
//! let worker = std::thread::spawn(move || {
//!     // Blocking work on a plain thread, then the answer to the waiting task.
//!     tx.send(6 * 7).unwrap();
//! });
//! let answer = ringloop::run(async { rx.await });
//! assert_eq!(answer, Ok(42));
//! worker.join().unwrap();
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

/// A new channel: the sending half for whoever produces the value, the receiving half
/// (a future) for the task that waits for it.
///
/// ```
/// use ringloop::sync::oneshot;
///
/// let (tx, rx) = oneshot::channel();
/// ringloop::run(async move {
///     // The loop waits; a blocking-pool job (or any thread) answers.
///     ringloop::spawn_blocking(move || tx.send("computed").unwrap());
///     assert_eq!(rx.await, Ok("computed"));
/// });
/// ```
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let inner = Arc::new(Inner {
        state: Mutex::new(State {
            value: None,
            sender_gone: false,
            receiver_gone: false,
            waker: None,
        }),
    });
    (
        Sender {
            inner: Some(inner.clone()),
        },
        Receiver { inner },
    )
}

struct Inner<T> {
    state: Mutex<State<T>>,
}

struct State<T> {
    value: Option<T>,
    sender_gone: bool,
    receiver_gone: bool,
    waker: Option<Waker>,
}

impl<T> Inner<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // Critical sections only move values and wakers: a poisoned lock is consistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The sending half of a [`channel`]: `Send`, used once.
///
/// ```
/// use ringloop::sync::oneshot;
///
/// let (tx, rx) = oneshot::channel::<u64>();
/// // The Sender is `Send`: it can go to another thread.
/// std::thread::spawn(move || tx.send(7).unwrap()).join().unwrap();
/// assert_eq!(ringloop::run(rx), Ok(7));
/// ```
pub struct Sender<T> {
    inner: Option<Arc<Inner<T>>>,
}

impl<T> Sender<T> {
    /// Sends `value` and wakes the receiver. `Err(value)` (the value back) when the
    /// receiver is gone.
    ///
    /// ```
    /// use ringloop::sync::oneshot;
    ///
    /// let (tx, rx) = oneshot::channel();
    /// assert_eq!(tx.send("delivered"), Ok(()));
    /// assert_eq!(ringloop::run(rx), Ok("delivered"));
    ///
    /// let (tx, rx) = oneshot::channel();
    /// drop(rx); // nobody waits any more
    /// assert_eq!(tx.send("returned"), Err("returned"));
    /// ```
    pub fn send(mut self, value: T) -> Result<(), T> {
        let inner = self.inner.take().expect("a Sender sends once");
        let waker = {
            let mut state = inner.lock();
            if state.receiver_gone {
                return Err(value);
            }
            state.value = Some(value);
            state.sender_gone = true;
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(())
    }

    /// Whether the receiver is gone (a send would fail).
    ///
    /// ```
    /// use ringloop::sync::oneshot;
    ///
    /// let (tx, rx) = oneshot::channel::<Vec<u8>>();
    /// assert!(!tx.is_closed());
    /// drop(rx); // the waiting task was cancelled, say
    /// assert!(tx.is_closed()); // skip the expensive work: nobody wants the result
    /// ```
    pub fn is_closed(&self) -> bool {
        self.inner
            .as_ref()
            .is_none_or(|inner| inner.lock().receiver_gone)
    }
}

impl<T> Drop for Sender<T> {
    /// A sender dropped without sending: the receiver resolves to [`RecvError`].
    fn drop(&mut self) {
        if let Some(inner) = self.inner.take() {
            let waker = {
                let mut state = inner.lock();
                state.sender_gone = true;
                state.waker.take()
            };
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    }
}

/// The receiving half of a [`channel`]: a future of the value, or [`RecvError`] when
/// the sender was dropped without sending.
///
/// ```
/// use std::time::Duration;
/// use ringloop::sync::oneshot::{self, RecvError};
///
/// ringloop::run(async {
///     let (tx, rx) = oneshot::channel::<u32>();
///     std::thread::spawn(move || {
///         std::thread::sleep(Duration::from_millis(1));
///         drop(tx); // gave up without sending
///     });
///     assert_eq!(rx.await, Err(RecvError));
/// });
/// ```
pub struct Receiver<T> {
    inner: Arc<Inner<T>>,
}

impl<T> Receiver<T> {
    /// The value if it has arrived; `Ok(None)` if not yet; `Err` if it never will.
    ///
    /// ```
    /// use ringloop::sync::oneshot;
    ///
    /// let (tx, mut rx) = oneshot::channel();
    /// assert_eq!(rx.try_recv(), Ok(None)); // not yet
    /// tx.send(5).unwrap();
    /// assert_eq!(rx.try_recv(), Ok(Some(5)));
    /// assert!(rx.try_recv().is_err()); // taken, and the sender is gone
    /// ```
    pub fn try_recv(&mut self) -> Result<Option<T>, RecvError> {
        let mut state = self.inner.lock();
        match state.value.take() {
            Some(value) => Ok(Some(value)),
            None if state.sender_gone => Err(RecvError),
            None => Ok(None),
        }
    }
}

impl<T> Future for Receiver<T> {
    type Output = Result<T, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.inner.lock();
        if let Some(value) = state.value.take() {
            return Poll::Ready(Ok(value));
        }
        if state.sender_gone {
            return Poll::Ready(Err(RecvError));
        }
        match &mut state.waker {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            slot => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let mut state = self.inner.lock();
        state.receiver_gone = true;
        // A value sent but never taken is dropped with the channel, not under the lock.
        let value = state.value.take();
        drop(state);
        drop(value);
    }
}

/// The sender was dropped without sending.
///
/// ```
/// use ringloop::sync::oneshot::{self, RecvError};
///
/// let (tx, rx) = oneshot::channel::<()>();
/// drop(tx);
/// let err = ringloop::run(rx).unwrap_err();
/// assert_eq!(err, RecvError);
/// let as_io = std::io::Error::other(err); // an `Error`: `?` converts it
/// assert_eq!(as_io.to_string(), "the oneshot sender was dropped without sending");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecvError;

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the oneshot sender was dropped without sending")
    }
}

impl std::error::Error for RecvError {}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("oneshot::Sender").finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("oneshot::Receiver").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Wake;

    struct Count(std::sync::atomic::AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    fn poll<T>(rx: &mut Receiver<T>, waker: &Waker) -> Poll<Result<T, RecvError>> {
        Pin::new(rx).poll(&mut Context::from_waker(waker))
    }

    #[test]
    fn a_value_sent_from_another_thread_wakes_the_receiver_once() {
        let count = Arc::new(Count(0.into()));
        let waker = Waker::from(count.clone());
        let (tx, mut rx) = channel();
        assert!(poll(&mut rx, &waker).is_pending());
        std::thread::spawn(move || tx.send("hello").unwrap())
            .join()
            .unwrap();
        assert_eq!(count.0.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert_eq!(poll(&mut rx, &waker), Poll::Ready(Ok("hello")));
    }

    #[test]
    fn a_dropped_sender_resolves_the_receiver_to_an_error() {
        let waker = Waker::from(Arc::new(Count(0.into())));
        let (tx, mut rx) = channel::<u32>();
        assert!(poll(&mut rx, &waker).is_pending());
        drop(tx);
        assert_eq!(poll(&mut rx, &waker), Poll::Ready(Err(RecvError)));
    }

    #[test]
    fn sending_to_a_dropped_receiver_gives_the_value_back() {
        let (tx, rx) = channel();
        assert!(!tx.is_closed());
        drop(rx);
        assert!(tx.is_closed());
        assert_eq!(tx.send(String::from("back")), Err(String::from("back")));
    }

    #[test]
    fn try_recv_reports_empty_then_the_value() {
        let (tx, mut rx) = channel();
        assert_eq!(rx.try_recv(), Ok(None));
        tx.send(5).unwrap();
        assert_eq!(rx.try_recv(), Ok(Some(5)));
    }
}
