//! `as_completed`: tasks' results in the order the tasks finish.

use std::collections::VecDeque;
use std::fmt;
use std::future::poll_fn;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::completion::CompletionQueue;
use super::error::TaskError;
use super::join::{Task, take_result};
use super::raw::TaskHeader;
use super::state::State;

/// Yields the results of `tasks` in the order the tasks finish (asyncio's
/// `as_completed`): tasks already finished first, in list order, then each as it
/// finishes. Await [`AsCompleted::next`] until it returns `None`.
///
/// Nothing is cancelled: dropping the [`AsCompleted`] detaches the tasks it has not
/// yielded yet (they keep running, as when their handles are dropped). For a deadline,
/// wrap each `next()` in [`timeout`](crate::timeout).
///
/// ```
/// use std::time::Duration;
///
/// let order = ringloop::run(async {
///     let tasks = [30u64, 10, 20]
///         .map(|ms| ringloop::spawn(async move {
///             ringloop::sleep(Duration::from_millis(ms)).await;
///             ms
///         }))
///         .into();
///     let mut results = ringloop::as_completed(tasks);
///     let mut order = Vec::new();
///     while let Some(result) = results.next().await {
///         order.push(result.unwrap());
///     }
///     order
/// });
/// assert_eq!(order, [10, 20, 30]);
/// ```
pub fn as_completed<T: 'static>(tasks: Vec<Task<T>>) -> AsCompleted<T> {
    AsCompleted {
        remaining: tasks.len(),
        tasks,
        queue: CompletionQueue::new(),
        started: false,
        finished_first: VecDeque::new(),
    }
}

/// The results of a list of tasks, in completion order: see [`as_completed`].
///
/// ```
/// ringloop::run(async {
///     let tasks = (0..3).map(|n| ringloop::spawn(async move { n })).collect();
///     let mut results: ringloop::AsCompleted<i32> = ringloop::as_completed(tasks);
///     let mut sum = 0;
///     while let Some(result) = results.next().await {
///         sum += result.unwrap();
///     }
///     assert_eq!(sum, 3);
/// });
/// ```
pub struct AsCompleted<T: 'static> {
    /// The handles, kept until this is dropped; the results are taken out of them.
    tasks: Vec<Task<T>>,
    /// Tasks that finished after the first poll, in order.
    queue: Box<CompletionQueue>,
    /// Whether the first poll has looked at the tasks.
    started: bool,
    /// Indices of the tasks already finished at the first poll, in list order.
    finished_first: VecDeque<usize>,
    /// Results not yet yielded.
    remaining: usize,
}

impl<T: 'static> AsCompleted<T> {
    /// The next result in completion order, `None` once every task's has been yielded.
    /// A task that panicked yields `Err(TaskError::Panicked)` (retrieved: the exception
    /// handler does not hear of it), a cancelled one `Err(TaskError::Cancelled)`.
    ///
    /// Cancel-safe: dropping the future before it is ready loses no result.
    ///
    /// ```
    /// ringloop::run(async {
    ///     let slow = ringloop::spawn(async { ringloop::yield_now().await; 1 });
    ///     let fast = ringloop::spawn(async { 2 });
    ///     let mut results = ringloop::as_completed(vec![slow, fast]);
    ///     assert_eq!(results.next().await.unwrap().unwrap(), 2);
    ///     assert_eq!(results.next().await.unwrap().unwrap(), 1);
    ///     assert!(results.next().await.is_none());
    /// });
    /// ```
    ///
    /// # Panics
    ///
    /// When a task not yet finished belongs to a loop other than the one running here.
    pub async fn next(&mut self) -> Option<Result<T, TaskError>> {
        poll_fn(|cx| self.poll_next(cx)).await
    }

    /// Results not yielded yet.
    ///
    /// ```
    /// ringloop::run(async {
    ///     let mut results = ringloop::as_completed(vec![ringloop::spawn(async {})]);
    ///     assert_eq!(results.len(), 1);
    ///     results.next().await;
    ///     assert!(results.is_empty());
    /// });
    /// ```
    pub fn len(&self) -> usize {
        self.remaining
    }

    /// Whether every result has been yielded.
    ///
    /// ```
    /// assert!(ringloop::as_completed(Vec::<ringloop::Task<()>>::new()).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.remaining == 0
    }

    /// Sorts the tasks into finished ones and ones the queue watches.
    fn start(&mut self) {
        self.started = true;
        for (index, task) in self.tasks.iter().enumerate() {
            // SAFETY: the handle keeps its node, a task, alive.
            let header = unsafe { TaskHeader::from_header(task.node) };
            if header.header.state().has(State::COMPLETE) && header.callbacks_pending.get() == 0 {
                self.finished_first.push_back(index);
                continue;
            }
            if !super::current::is_running(Arc::as_ptr(&header.shared).addr()) {
                super::current::wrong_loop("a Task given to as_completed");
            }
            // SAFETY: the queue is boxed and outlives its waker: `Drop` takes it back out
            // of every task it was put in (the completion module's invariant).
            header.awaiter.set(Some(unsafe { self.queue.waker() }));
        }
    }

    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<T, TaskError>>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        if !self.started {
            self.start();
        }
        if let Some(index) = self.finished_first.pop_front() {
            let Poll::Ready(result) = Pin::new(&mut self.tasks[index]).poll(cx) else {
                unreachable!("a task found finished at the first poll is ready")
            };
            self.remaining -= 1;
            return Poll::Ready(Some(result));
        }
        if let Some(ptr) = self.queue.pop() {
            // SAFETY: the queue only holds nodes of our tasks (result type `T`), which
            // our handles keep alive; loop thread.
            let result = unsafe { take_result::<T>(ptr) }
                .expect("a task reported finished by its completion holds its result");
            self.remaining -= 1;
            return Poll::Ready(Some(result));
        }
        self.queue.set_consumer(cx.waker());
        Poll::Pending
    }
}

impl<T: 'static> Drop for AsCompleted<T> {
    fn drop(&mut self) {
        // The queue's waker must not outlive it: take it back from every task still
        // holding it (tasks that finished already gave it up).
        for task in &self.tasks {
            // SAFETY: the handle keeps its node, a task, alive.
            self.queue
                .reclaim(unsafe { TaskHeader::from_header(task.node) });
        }
    }
}

impl<T: 'static> fmt::Debug for AsCompleted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsCompleted")
            .field("remaining", &self.remaining)
            .finish()
    }
}
