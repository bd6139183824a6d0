//! `Remote`: the loop's handle for other threads, and the errors of its calls.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use super::drop_chain::DropChain;
use super::remote_task::{self, RemoteTask};

use crate::task::raw::catch;
use crate::task::remote::{Refused, Shared, log_drop_panic};

/// The loop has closed; the call was not scheduled.
///
/// ```
/// use ringloop::{Closed, EventLoop};
///
/// let lp = EventLoop::new()?;
/// let remote = lp.remote();
/// drop(lp); // the loop closes
/// assert_eq!(remote.call_soon_threadsafe(|| {}), Err(Closed));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed;

impl fmt::Display for Closed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the event loop has closed")
    }
}

impl std::error::Error for Closed {}

/// Why [`Remote::try_call_soon_threadsafe`] did not queue a call. Either way the closure
/// comes back, unrun, so the caller can send it again later, run it elsewhere, or drop
/// it.
///
/// ```
/// use ringloop::{EventLoop, TrySendError};
///
/// let lp = EventLoop::builder().remote_queue_limit(1).build()?;
/// let remote = lp.remote();
/// remote.try_call_soon_threadsafe(|| {}).unwrap();
/// let err = remote.try_call_soon_threadsafe(|| {}).unwrap_err();
/// assert!(err.is_full());
/// drop(lp);
/// let err = remote.try_call_soon_threadsafe(|| {}).unwrap_err();
/// assert!(err.is_closed());
/// let _f = err.into_inner(); // the closure, never run
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum TrySendError<F> {
    /// The loop's queue holds as many messages as [`Builder::remote_queue_limit`]
    /// allows: apply back-pressure (wait, then send the closure again) or shed the work.
    ///
    /// [`Builder::remote_queue_limit`]: crate::Builder::remote_queue_limit
    Full(F),
    /// The loop has closed (or is closing); it will never run the closure.
    Closed(F),
}

impl<F> TrySendError<F> {
    /// The closure that was not queued.
    ///
    /// ```
    /// use std::sync::mpsc;
    /// use ringloop::EventLoop;
    ///
    /// let lp = EventLoop::new()?;
    /// let remote = lp.remote();
    /// drop(lp);
    /// let (tx, rx) = mpsc::channel();
    /// let err = remote.try_call_soon_threadsafe(move || tx.send(7).unwrap()).unwrap_err();
    /// let f = err.into_inner();
    /// f(); // run it here instead
    /// assert_eq!(rx.recv().unwrap(), 7);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn into_inner(self) -> F {
        match self {
            TrySendError::Full(f) | TrySendError::Closed(f) => f,
        }
    }

    /// Whether the queue was full (the loop is alive: try again later).
    ///
    /// ```
    /// use ringloop::EventLoop;
    ///
    /// let lp = EventLoop::builder().remote_queue_limit(1).build()?;
    /// let remote = lp.remote();
    /// remote.try_call_soon_threadsafe(|| {}).unwrap();
    /// assert!(remote.try_call_soon_threadsafe(|| {}).unwrap_err().is_full());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_full(&self) -> bool {
        matches!(self, TrySendError::Full(_))
    }

    /// Whether the loop has closed (sending again is pointless).
    ///
    /// ```
    /// use ringloop::EventLoop;
    ///
    /// let lp = EventLoop::new()?;
    /// let remote = lp.remote();
    /// drop(lp);
    /// assert!(remote.try_call_soon_threadsafe(|| {}).unwrap_err().is_closed());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_closed(&self) -> bool {
        matches!(self, TrySendError::Closed(_))
    }
}

impl<F> fmt::Debug for TrySendError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("Full(..)"),
            TrySendError::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

impl<F> fmt::Display for TrySendError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("the event loop's remote queue is full"),
            TrySendError::Closed(_) => f.write_str("the event loop has closed"),
        }
    }
}

impl<F> std::error::Error for TrySendError<F> {}

/// A handle to a loop for other threads: `Send + Sync + Clone`.
///
/// ```
/// use std::time::Duration;
/// use ringloop::EventLoop;
///
/// let lp = EventLoop::new()?;
/// let remote = lp.remote(); // Send + Sync + Clone: give it to other threads
/// let worker = std::thread::spawn(move || {
///     remote.call_soon_threadsafe(|| println!("runs on the loop's thread")).unwrap();
///     std::thread::sleep(Duration::from_millis(5));
///     remote.stop();
/// });
/// lp.run_forever(); // until the worker stops it
/// worker.join().unwrap();
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct Remote {
    shared: Arc<Shared>,
}

impl Remote {
    pub(super) fn new(shared: Arc<Shared>) -> Remote {
        Remote { shared }
    }

    /// Runs `f()`'s future as a task on the loop, from any thread: `f` is sent there (it
    /// must be `Send`), called on the loop's thread, and its future (which need not be
    /// `Send`: it may hold the loop's sockets and `Rc`s) is spawned there. The returned
    /// [`RemoteTask`] is `Send`: await it on another loop or any runtime, or
    /// [`join`](RemoteTask::join) it from a plain thread. Dropping it detaches the work.
    ///
    /// If the loop has closed, the task resolves to `Err(TaskError::Cancelled)` at once;
    /// if it closes before the work finishes, the work is cancelled (its future dropped
    /// on the loop's thread) and the task resolves the same way. A panic in `f` or its
    /// future resolves it to `Err(TaskError::Panicked)`.
    ///
    /// ```
    /// // Two loops on two threads: this one asks the pool's for work.
    /// let pool = ringloop::LoopPool::builder().threads(1).build()?;
    /// let remote = pool.remote(0);
    /// let answer = ringloop::run(async move {
    ///     let task = remote.spawn(|| async {
    ///         ringloop::sleep(std::time::Duration::from_millis(1)).await;
    ///         "from the worker loop"
    ///     });
    ///     task.await.unwrap()
    /// });
    /// assert_eq!(answer, "from the worker loop");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// [`TaskError::Cancelled`]: crate::TaskError::Cancelled
    pub fn spawn<F, Fut>(&self, f: F) -> RemoteTask<Fut::Output>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future + 'static,
        Fut::Output: Send + 'static,
    {
        let (completer, task) = remote_task::channel(true);
        let call = move || {
            let core = super::context::current_core("Remote::spawn");
            // The work runs as a task of its own, so a panic in `f` or its future is
            // caught as that task's failure and handed over like any result.
            let work = core.spawn(async move { f().await }, false);
            core.spawn(
                async move {
                    completer.complete(work.await);
                },
                false,
            );
        };
        // Refused (the loop has closed): the call is dropped unrun, and with it the
        // completer, which answers `Cancelled`.
        let _ = self.call_soon_threadsafe(call);
        task
    }

    /// Schedules `f` to run on the loop's thread, waking the loop if it is blocked in the
    /// kernel. Callbacks from one thread run in the order they were sent.
    ///
    /// Unbounded, as asyncio's: this always queues, whatever
    /// [`Builder::remote_queue_limit`] says. To keep senders from outrunning the loop,
    /// use [`try_call_soon_threadsafe`](Self::try_call_soon_threadsafe) on a loop built
    /// with a limit.
    ///
    /// A call accepted here runs exactly once, or, if the loop closes first, is dropped
    /// unrun on the loop's thread.
    ///
    /// # Errors
    ///
    /// [`Closed`] once the loop has closed or started closing (the closure is dropped
    /// here, unrun; should its destructor panic, that is logged, not unwound into the
    /// caller).
    ///
    /// [`Builder::remote_queue_limit`]: crate::Builder::remote_queue_limit
    ///
    /// ```
    /// use ringloop::EventLoop;
    /// use ringloop::sync::oneshot;
    ///
    /// let lp = EventLoop::new()?;
    /// let remote = lp.remote();
    /// let loop_thread = std::thread::current().id();
    /// let (tx, rx) = oneshot::channel();
    /// let sender = std::thread::spawn(move || {
    ///     remote
    ///         .call_soon_threadsafe(move || tx.send(std::thread::current().id()).unwrap())
    ///         .unwrap();
    /// });
    /// let ran_on = lp.run_until_complete(rx).unwrap();
    /// assert_eq!(ran_on, loop_thread);
    /// sender.join().unwrap();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn call_soon_threadsafe(&self, f: impl FnOnce() + Send + 'static) -> Result<(), Closed> {
        match self.shared.push_call(f, false) {
            Ok(()) => Ok(()),
            Err((_, f)) => {
                drop_refused(f);
                Err(Closed)
            }
        }
    }

    /// Schedules `f` to run on the loop's thread, as
    /// [`call_soon_threadsafe`](Self::call_soon_threadsafe) does, unless the loop's queue
    /// is full ([`Builder::remote_queue_limit`]) or the loop has closed: then `f` comes
    /// back in the error, unrun. Costs one atomic operation more than the unbounded
    /// call; a refused call allocates nothing.
    ///
    /// # Back-pressure
    ///
    /// On [`TrySendError::Full`] the sender waits and sends the same closure again, so
    /// the queue never holds more than the limit; how it waits is its choice: sleep and
    /// retry, or block until a callback the loop runs signals room (a callback that
    /// notifies a `Condvar` or a channel), or shed the work.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ringloop::{EventLoop, TrySendError};
    ///
    /// let lp = EventLoop::builder().remote_queue_limit(64).build()?;
    /// let remote = lp.remote();
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// let sender = std::thread::spawn(move || {
    ///     for i in 0..1000 {
    ///         let tx = tx.clone();
    ///         let mut call = move || tx.send(i).unwrap();
    ///         loop {
    ///             match remote.try_call_soon_threadsafe(call) {
    ///                 Ok(()) => break,
    ///                 Err(TrySendError::Full(f)) => {
    ///                     call = f; // back-pressure: wait, then send it again
    ///                     std::thread::sleep(Duration::from_micros(50));
    ///                 }
    ///                 Err(TrySendError::Closed(_)) => return,
    ///             }
    ///         }
    ///     }
    /// });
    /// lp.run_until_complete(async {
    ///     let mut got = 0;
    ///     while got < 1000 {
    ///         while rx.try_recv().is_ok() {
    ///             got += 1;
    ///         }
    ///         ringloop::sleep(Duration::from_millis(1)).await;
    ///     }
    /// });
    /// sender.join().unwrap();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`TrySendError::Full`] while the queue holds the limit's worth of messages;
    /// [`TrySendError::Closed`] once the loop has closed or started closing.
    ///
    /// [`Builder::remote_queue_limit`]: crate::Builder::remote_queue_limit
    pub fn try_call_soon_threadsafe<F>(&self, f: F) -> Result<(), TrySendError<F>>
    where
        F: FnOnce() + Send + 'static,
    {
        self.shared
            .push_call(f, true)
            .map_err(|(why, f)| match why {
                Refused::Full => TrySendError::Full(f),
                Refused::Closed => TrySendError::Closed(f),
            })
    }

    /// Stops the loop's `run_forever` after its current iteration, waking it if it is
    /// blocked in the kernel. Does nothing once the loop has closed.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ringloop::EventLoop;
    ///
    /// let lp = EventLoop::new()?;
    /// let remote = lp.remote();
    /// let stopper = std::thread::spawn(move || {
    ///     std::thread::sleep(Duration::from_millis(5));
    ///     remote.stop(); // wakes the loop, blocked waiting for work
    /// });
    /// lp.run_forever();
    /// stopper.join().unwrap();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn stop(&self) {
        self.shared.push_stop();
    }

    /// Whether the loop has closed (or started closing): calls are refused from then on.
    ///
    /// ```
    /// let lp = ringloop::EventLoop::new()?;
    /// let remote = lp.remote();
    /// assert!(!remote.is_closed());
    /// drop(lp);
    /// assert!(remote.is_closed()); // stop sending work there
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_closed(&self) -> bool {
        self.shared.is_closed()
    }
}

impl fmt::Debug for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Remote")
            .field("shared", &self.shared)
            .finish()
    }
}

/// Drops a call a closed loop refused, on this thread. A destructor that calls
/// `call_soon_threadsafe` on a closed loop again (a chain of them) only queues its
/// closure: the outermost call drops them all in turn, in order, without recursing.
/// Panics are contained and logged once the queue is reset.
fn drop_refused<F: Send + 'static>(f: F) {
    thread_local! {
        static DROPPING: DropChain<Box<dyn Send>> = const { DropChain::new() };
    }
    let mut panics = Vec::new();
    let each = |f: Box<dyn Send>| {
        if let Err(payload) = catch(move || drop(f)) {
            panics.push(payload);
        }
    };
    // `try_with` fails only while this thread's locals are being destroyed: then `f`
    // goes with the closure it was moved into.
    let _ = DROPPING.try_with(|chain| chain.run(Box::new(f), each));
    for payload in panics {
        log_drop_panic("a call refused by a closed event loop", &*payload);
    }
}
