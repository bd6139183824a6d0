//! `TaskGroup<T>`: asyncio's `TaskGroup`, tokio's `JoinSet`.
//!
//! # How a group hears of its tasks
//!
//! Each task a group spawns runs the caller's future wrapped with a small guard (a
//! [`Member`]: the group's shared core and the task's slot). The guard goes when the
//! future goes — finished, panicked or cancelled, always on the loop's thread — and on
//! its way out appends the slot to the core's `done` queue and wakes whoever waits in
//! [`TaskGroup::join_next`]. So the group learns of completions in the order they happen,
//! one push each: no waker, callback or allocation per task beyond the task itself (the
//! slot vectors grow amortized and are reused), and nothing per poll.
//!
//! The guard fires while the task completes, just before its result is stored; the
//! waiter it wakes runs later in the loop, when the result is there. A task whose
//! result waits for done callbacks (added through the `&Task` that
//! [`spawn`](TaskGroup::spawn) returns) is awaited until they have run.

#![forbid(unsafe_code)]

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use super::error::TaskError;
use super::join::Task;

/// A set of tasks awaited together (asyncio's `TaskGroup`, tokio's `JoinSet`).
///
/// [`spawn`](TaskGroup::spawn) adds a task; [`join_next`](TaskGroup::join_next) yields
/// results in the order the tasks finish; [`join_all`](TaskGroup::join_all) waits for
/// all of them and returns their values in the order they were spawned, or the first
/// panic, having cancelled the others. Dropping the group cancels every task still
/// running in it (as leaving an asyncio `TaskGroup` by an exception does), so a task
/// whose future owns a group takes its children with it when it is cancelled.
///
/// ```
/// use std::time::Duration;
/// use ringloop::TaskGroup;
///
/// let (order, all) = ringloop::run(async {
///     let mut group = TaskGroup::new();
///     for ms in [30u64, 10, 20] {
///         group.spawn(async move {
///             ringloop::sleep(Duration::from_millis(ms)).await;
///             ms
///         });
///     }
///     let mut order = Vec::new();
///     while let Some(result) = group.join_next().await {
///         order.push(result.unwrap());
///     }
///     // join_all: results in spawn order.
///     for ms in [3u64, 1, 2] {
///         group.spawn(async move {
///             ringloop::sleep(Duration::from_millis(ms)).await;
///             ms
///         });
///     }
///     (order, group.join_all().await.unwrap())
/// });
/// assert_eq!(order, [10, 20, 30]);
/// assert_eq!(all, [3, 1, 2]);
/// ```
pub struct TaskGroup<T: 'static> {
    /// Tasks by slot; a slot is reused once its task has been joined.
    slots: Vec<Slot<T>>,
    /// Empty slots.
    free: Vec<u32>,
    /// Tasks spawned and not yet joined.
    len: usize,
    /// The spawn order of the next task.
    next_seq: u64,
    core: Rc<GroupCore>,
}

struct Slot<T> {
    /// Spawn order, for `join_all`.
    seq: u64,
    task: Option<Task<T>>,
}

/// What a group shares with the guards in its tasks.
#[derive(Default)]
struct GroupCore {
    /// Slots whose task finished, in the order they did.
    done: RefCell<VecDeque<u32>>,
    /// Who waits in `join_next`.
    waker: Cell<Option<Waker>>,
}

/// Lives in a member task's future; reports the task's slot when the future goes.
struct Member {
    core: Rc<GroupCore>,
    slot: u32,
}

impl Drop for Member {
    fn drop(&mut self) {
        self.core.done.borrow_mut().push_back(self.slot);
        if let Some(waker) = self.core.waker.take() {
            waker.wake();
        }
    }
}

impl<T: 'static> TaskGroup<T> {
    /// An empty group. It needs no loop until its first [`spawn`](TaskGroup::spawn).
    ///
    /// ```
    /// let group = ringloop::TaskGroup::<u32>::new();
    /// assert!(group.is_empty());
    /// ```
    pub fn new() -> TaskGroup<T> {
        TaskGroup {
            slots: Vec::new(),
            free: Vec::new(),
            len: 0,
            next_seq: 0,
            core: Rc::default(),
        }
    }

    /// Spawns `future` as a task of the group on the running loop (as
    /// [`spawn`](crate::spawn) does, eagerly on a loop built with
    /// [`Builder::eager_tasks`](crate::Builder::eager_tasks)), and returns its handle, to
    /// name it or cancel it; the group keeps the handle.
    ///
    /// ```
    /// ringloop::run(async {
    ///     let mut group = ringloop::TaskGroup::new();
    ///     group.spawn(async { ringloop::current_task().unwrap().name }).set_name("child");
    ///     assert_eq!(group.join_next().await.unwrap().unwrap(), "child");
    /// });
    /// ```
    ///
    /// # Panics
    ///
    /// When no loop runs on this thread.
    pub fn spawn<F>(&mut self, future: F) -> &Task<T>
    where
        F: Future<Output = T> + 'static,
    {
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                let slot = u32::try_from(self.slots.len())
                    .expect("more than 4 billion tasks in one TaskGroup");
                self.slots.push(Slot { seq: 0, task: None });
                slot
            }
        };
        let core = &self.core;
        let spawned = super::current::with_scheduler(|sched| {
            let sched = sched?;
            // Made only once a loop is there: a guard that never ran must not report.
            let member = Member {
                core: core.clone(),
                slot,
            };
            Some(sched.spawn_auto(async move {
                let _member = member;
                future.await
            }))
        });
        let Some(task) = spawned else {
            self.free.push(slot);
            panic!(
                "TaskGroup::spawn needs a running ringloop event loop on this thread, and \
                 none is running: spawn from code the loop runs (inside ringloop::run(...) or \
                 EventLoop::run_until_complete(...))"
            );
        };
        let entry = &mut self.slots[slot as usize];
        entry.seq = self.next_seq;
        self.next_seq += 1;
        self.len += 1;
        entry.task.insert(task)
    }

    /// Tasks spawned and not yet returned by [`join_next`](TaskGroup::join_next) or
    /// [`join_all`](TaskGroup::join_all) (finished ones included, as tokio's `JoinSet`).
    ///
    /// ```
    /// ringloop::run(async {
    ///     let mut group = ringloop::TaskGroup::new();
    ///     group.spawn(async { 1 });
    ///     group.spawn(async { 2 });
    ///     assert_eq!(group.len(), 2);
    ///     group.join_next().await;
    ///     assert_eq!(group.len(), 1);
    /// });
    /// ```
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether [`len`](TaskGroup::len) is 0: [`join_next`](TaskGroup::join_next) would
    /// return `None`.
    ///
    /// ```
    /// assert!(ringloop::TaskGroup::<()>::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Waits for the next task to finish and returns its result, in the order the tasks
    /// finish; `None` once the group is empty. A task that panicked yields
    /// `Err(TaskError::Panicked)` (retrieved: the exception handler does not hear of
    /// it), a cancelled one `Err(TaskError::Cancelled)`; neither cancels the others (use
    /// [`join_all`](TaskGroup::join_all) or [`cancel_all`](TaskGroup::cancel_all) for
    /// that).
    ///
    /// Cancel-safe: dropping the future before it is ready loses no result.
    ///
    /// ```
    /// use ringloop::TaskGroup;
    ///
    /// ringloop::run(async {
    ///     let mut group = TaskGroup::new();
    ///     group.spawn(async { ringloop::yield_now().await; "slow" });
    ///     group.spawn(async { "fast" });
    ///     assert_eq!(group.join_next().await.unwrap().unwrap(), "fast");
    ///     assert_eq!(group.join_next().await.unwrap().unwrap(), "slow");
    ///     assert!(group.join_next().await.is_none());
    /// });
    /// ```
    pub async fn join_next(&mut self) -> Option<Result<T, TaskError>> {
        poll_fn(|cx| self.poll_join_next(cx))
            .await
            .map(|(_, result)| result)
    }

    /// Waits for every task and returns their values in the order they were spawned
    /// (asyncio's `gather` of a `TaskGroup`'s tasks; tokio's `JoinSet::join_all`).
    ///
    /// The first task to panic cancels all the others; `join_all` still waits until every
    /// one has finished or been cancelled (their destructors have run), then returns
    /// that panic as `Err(TaskError::Panicked)`. Later panics are retrieved and dropped.
    /// A task cancelled from elsewhere (through its handle, by
    /// [`cancel_all`](TaskGroup::cancel_all), or by its loop closing) makes the result
    /// `Err(TaskError::Cancelled)` without cancelling the others, unless a panic follows.
    /// The group is empty afterwards and can be used again.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ringloop::TaskGroup;
    ///
    /// let (error, cleaned_up) = ringloop::run(async {
    ///     let cleaned_up = std::rc::Rc::new(std::cell::Cell::new(false));
    ///     let mut group = TaskGroup::new();
    ///     let flag = cleaned_up.clone();
    ///     group.spawn(async move {
    ///         struct Cleanup(std::rc::Rc<std::cell::Cell<bool>>);
    ///         impl Drop for Cleanup {
    ///             fn drop(&mut self) { self.0.set(true); }
    ///         }
    ///         let _cleanup = Cleanup(flag);
    ///         ringloop::sleep(Duration::from_secs(60)).await;
    ///     });
    ///     group.spawn(async { panic!("boom") });
    ///     let error = group.join_all().await.unwrap_err();
    ///     (error, cleaned_up.get())
    /// });
    /// assert!(error.is_panic());
    /// assert!(cleaned_up, "the sleeper was cancelled before join_all returned");
    /// ```
    pub async fn join_all(&mut self) -> Result<Vec<T>, TaskError> {
        let mut values: Vec<(u64, T)> = Vec::with_capacity(self.len);
        let mut failure: Option<TaskError> = None;
        while let Some((seq, result)) = poll_fn(|cx| self.poll_join_next(cx)).await {
            match result {
                Ok(value) if failure.is_none() => values.push((seq, value)),
                Ok(_) => {}
                Err(error) => {
                    let first_panic =
                        error.is_panic() && !failure.as_ref().is_some_and(TaskError::is_panic);
                    if first_panic {
                        self.cancel_all();
                        failure = Some(error);
                    } else if failure.is_none() {
                        failure = Some(error);
                    }
                }
            }
        }
        if let Some(error) = failure {
            return Err(error);
        }
        values.sort_unstable_by_key(|&(seq, _)| seq);
        Ok(values.into_iter().map(|(_, value)| value).collect())
    }

    /// Requests cancellation of every task in the group that has not finished (see
    /// [`Task::cancel`]). Their results, `Err(TaskError::Cancelled)`, still come out of
    /// [`join_next`](TaskGroup::join_next).
    ///
    /// ```
    /// ringloop::run(async {
    ///     let mut group = ringloop::TaskGroup::new();
    ///     group.spawn(std::future::pending::<()>());
    ///     group.cancel_all();
    ///     assert!(group.join_next().await.unwrap().unwrap_err().is_cancelled());
    /// });
    /// ```
    pub fn cancel_all(&self) {
        for task in self.slots.iter().filter_map(|slot| slot.task.as_ref()) {
            task.cancel();
        }
    }

    /// The next finished task's spawn order and result.
    fn poll_join_next(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<(u64, Result<T, TaskError>)>> {
        loop {
            if self.len == 0 {
                return Poll::Ready(None);
            }
            let front = self.core.done.borrow().front().copied();
            let Some(slot) = front else {
                match self.core.waker.take() {
                    Some(waker) if waker.will_wake(cx.waker()) => {
                        self.core.waker.set(Some(waker));
                    }
                    _ => self.core.waker.set(Some(cx.waker().clone())),
                }
                return Poll::Pending;
            };
            let entry = &mut self.slots[slot as usize];
            let Some(task) = entry.task.as_mut() else {
                // Nothing to join there (cannot happen: a slot is reported once per task
                // and freed only when joined); skip it rather than stall.
                self.core.done.borrow_mut().pop_front();
                continue;
            };
            // Ready at once, unless done callbacks added through the handle are still to
            // run: then the task wakes us when they have.
            let Poll::Ready(result) = Pin::new(task).poll(cx) else {
                return Poll::Pending;
            };
            self.core.done.borrow_mut().pop_front();
            entry.task = None;
            self.free.push(slot);
            self.len -= 1;
            return Poll::Ready(Some((entry.seq, result)));
        }
    }
}

impl<T: 'static> Default for TaskGroup<T> {
    fn default() -> Self {
        TaskGroup::new()
    }
}

impl<T: 'static> Drop for TaskGroup<T> {
    /// Cancels every task still running; their handles go with the group (a panic nobody
    /// joined reaches the exception handler, as for any dropped handle).
    fn drop(&mut self) {
        self.cancel_all();
    }
}

impl<T: 'static> fmt::Debug for TaskGroup<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskGroup")
            .field("len", &self.len)
            .field("finished_unjoined", &self.core.done.borrow().len())
            .finish()
    }
}
