//! `RemoteTask`: the result of work spawned on a loop from another thread
//! ([`Remote::spawn`](super::Remote::spawn)), awaitable anywhere.
//!
//! The work runs as a task on its loop; its result crosses back through a small shared
//! cell (a mutex around the result and the waiting waker, and a condition variable for
//! plain threads). Whatever happens to the work, the cell is completed exactly once: with
//! the result, with `Panicked` if it panicked, or with `Cancelled` if the loop closed
//! (or had closed) before it finished, so an awaiting side never hangs.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use crate::task::TaskError;

/// The shared cell between the loop that runs the work and whoever waits for it.
struct Cell<T> {
    state: Mutex<State<T>>,
    done: Condvar,
}

struct State<T> {
    result: Option<Result<T, TaskError>>,
    /// The result was set (and may have been taken since).
    finished: bool,
    waker: Option<Waker>,
    /// A plain thread waits in `join` (so the condition variable needs a notice).
    joining: bool,
}

impl<T> Cell<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // A panic while the lock is held cannot leave the state half-written (every
        // critical section is a few assignments), so a poisoned lock is still good.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Completes the cell when dropped, with `Cancelled` unless [`complete`] came first:
/// held by the work from the moment it is sent, so a call the loop refused, a call
/// dropped unrun at the loop's close, and a task cancelled at the close all answer.
///
/// [`complete`]: Completer::complete
pub(super) struct Completer<T> {
    cell: Option<Arc<Cell<T>>>,
}

impl<T> Completer<T> {
    /// Completes the cell with `result`.
    pub(super) fn complete(mut self, result: Result<T, TaskError>) {
        if let Some(cell) = self.cell.take() {
            finish(&cell, result);
        }
    }
}

impl<T> Drop for Completer<T> {
    fn drop(&mut self) {
        if let Some(cell) = self.cell.take() {
            finish(&cell, Err(TaskError::Cancelled));
        }
    }
}

fn finish<T>(cell: &Cell<T>, result: Result<T, TaskError>) {
    let (waker, joining) = {
        let mut state = cell.lock();
        state.result = Some(result);
        state.finished = true;
        (state.waker.take(), state.joining)
    };
    // Wake after releasing the lock: the woken task may poll at once. (A notice with no
    // thread in `join` would cost a futex call for nothing.)
    if joining {
        cell.done.notify_all();
    }
    if let Some(waker) = waker {
        waker.wake();
    }
}

/// A new cell: the completer for the work, the task for the waiting side; with `spin`,
/// the loop that first finds the task pending spins for the answer once
/// (`Builder::remote_spin`).
pub(super) fn channel<T>(spin: bool) -> (Completer<T>, RemoteTask<T>) {
    let cell = Arc::new(Cell {
        state: Mutex::new(State {
            result: None,
            finished: false,
            waker: None,
            joining: false,
        }),
        done: Condvar::new(),
    });
    (
        Completer {
            cell: Some(cell.clone()),
        },
        RemoteTask { cell, spin },
    )
}

/// Work spawned on a loop by [`Remote::spawn`](super::Remote::spawn): a `Send` future
/// that resolves to the work's result, awaitable on any loop, any runtime or (with
/// [`join`](RemoteTask::join)) a plain thread.
///
/// It resolves to `Err(TaskError::Panicked)` if the work panicked, and to
/// `Err(TaskError::Cancelled)` if the loop closed before the work finished (at once if
/// it had closed already). Dropping it detaches the work, which runs on.
///
/// ```
/// // A loop on a thread of its own (a pool of one).
/// let pool = ringloop::LoopPool::builder().threads(1).build()?;
/// // From this plain thread (or from any loop), run work there.
/// let task = pool.remote(0).spawn(|| async { 6 * 7 });
/// assert_eq!(task.join().unwrap(), 42);
/// # Ok::<(), std::io::Error>(())
/// ```
#[must_use = "dropping a RemoteTask detaches the work; await it or join it for its result"]
pub struct RemoteTask<T> {
    cell: Arc<Cell<T>>,
    /// The loop that first finds it pending is still to spin for the answer (once).
    spin: bool,
}

impl<T> RemoteTask<T> {
    /// Makes the loop that first finds it pending spin for the answer once.
    pub(super) fn spin_once(&mut self) {
        self.spin = true;
    }

    /// Blocks this thread until the work finishes; its result.
    ///
    /// # Panics
    ///
    /// When called on a thread that is running a ringloop loop: blocking there would
    /// stall that loop (and deadlock if the work runs on it). Await the task instead.
    ///
    /// ```
    /// let pool = ringloop::LoopPool::builder().threads(1).build()?;
    /// let task = pool.remote(0).spawn(|| async {
    ///     ringloop::sleep(std::time::Duration::from_millis(1)).await;
    ///     "from the loop"
    /// });
    /// assert_eq!(task.join().unwrap(), "from the loop"); // this plain thread blocks
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn join(self) -> Result<T, TaskError> {
        if super::context::try_current().is_some() {
            panic!(
                "RemoteTask::join() blocks its thread, and this thread is running a ringloop \
                 event loop: `.await` the RemoteTask there instead"
            );
        }
        let mut state = self.cell.lock();
        loop {
            if let Some(result) = state.result.take() {
                return result;
            }
            assert!(!state.finished, "a RemoteTask's result was taken twice");
            state.joining = true;
            state = self
                .cell
                .done
                .wait(state)
                .unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Whether the work has finished (its result is ready).
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let pool = ringloop::LoopPool::builder().threads(1).build()?;
    /// let task = pool.remote(0).spawn(|| async {
    ///     ringloop::sleep(Duration::from_millis(5)).await;
    ///     42
    /// });
    /// while !task.is_finished() {
    ///     std::thread::sleep(Duration::from_millis(1)); // other work meanwhile
    /// }
    /// assert_eq!(task.join().unwrap(), 42); // at once now
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_finished(&self) -> bool {
        self.cell.lock().finished
    }
}

impl<T> Future for RemoteTask<T> {
    type Output = Result<T, TaskError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let mut state = this.cell.lock();
        if let Some(result) = state.result.take() {
            return Poll::Ready(result);
        }
        assert!(
            !state.finished,
            "a RemoteTask was polled after it returned its result"
        );
        match &mut state.waker {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            slot => *slot = Some(cx.waker().clone()),
        }
        drop(state);
        // The answer usually comes within microseconds: a ringloop loop polling this
        // spins for it once before blocking (`Builder::remote_spin`); an answer that
        // takes longer is waited for without spinning again.
        if this.spin {
            if let Some(core) = super::context::try_current() {
                core.expect_remote();
            }
            this.spin = false;
        }
        Poll::Pending
    }
}

impl<T> fmt::Debug for RemoteTask<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteTask")
            .field("finished", &self.is_finished())
            .finish()
    }
}
