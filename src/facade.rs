//! The asyncio-style free functions: `run`, `spawn`, `spawn_eager`, `spawn_blocking`,
//! `yield_now`, `gather`, `wait`, `shield`, `call_soon`, `all_tasks`.

#![forbid(unsafe_code)]

use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::event_loop::{CallbackHandle, EventLoop, call_at_ns, call_soon_on};
use crate::task::{Task, TaskError, TaskInfo};

/// Runs `future` on a new event loop and returns its output (asyncio's `run`).
///
/// When the future completes, tasks still alive are cancelled (their futures dropped at
/// their await points, in the loop, so done callbacks run), in-flight operations are
/// drained and the loop is closed before `run` returns.
///
/// ```
/// let answer = ringloop::run(async { 6 * 7 });
/// assert_eq!(answer, 42);
/// ```
///
/// # Panics
///
/// If an event loop cannot be created here (the message says why), if called from inside
/// a running loop, or if `future` panics.
pub fn run<F: Future>(future: F) -> F::Output {
    let lp = match EventLoop::new() {
        Ok(lp) => lp,
        Err(e) => panic!("ringloop::run could not create an event loop: {e}"),
    };
    let output = lp.run_until_complete(future);
    lp.cancel_all_tasks();
    drop(lp);
    output
}

/// Spawns `future` on the running loop (asyncio's `create_task`).
///
/// ```
/// let n = ringloop::run(async {
///     let task = ringloop::spawn(async { 1 + 2 });
///     task.await.unwrap()
/// });
/// assert_eq!(n, 3);
/// ```
///
/// # Panics
///
/// When no loop runs on this thread; use [`EventLoop::spawn`] to spawn before running.
pub fn spawn<F>(future: F) -> Task<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let core = crate::event_loop::context::current_core("ringloop::spawn()");
    core.spawn(future, core.eager_tasks())
}

/// Spawns `future` on the running loop and runs it at once, up to its first suspension
/// (Python 3.12's eager task factory); see [`EventLoop::spawn_eager`] for exactly where
/// that differs from [`spawn`].
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
///
/// ringloop::run(async {
///     let started = Rc::new(Cell::new(false));
///     let s = started.clone();
///     let task = ringloop::spawn_eager(async move { s.set(true) });
///     // The body already ran up to its end, before spawn_eager returned.
///     assert!(started.get());
///     task.await.unwrap();
/// });
/// ```
///
/// # Panics
///
/// When no loop runs on this thread; use [`EventLoop::spawn_eager`] to spawn before
/// running (the task is then queued, as no loop runs to poll it now).
pub fn spawn_eager<F>(future: F) -> Task<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let core = crate::event_loop::context::current_core("ringloop::spawn_eager()");
    core.spawn(future, true)
}

/// Runs `f` on the running loop's blocking pool, off the loop's thread, and returns a
/// task for its result (asyncio's `to_thread` and `run_in_executor`; tokio's
/// `spawn_blocking`). For work that blocks or computes for long: a synchronous library
/// call, a blocking file or DNS API, a hash of a large file.
///
/// The task resolves to `f`'s result, or to `Err(TaskError::Panicked)` if `f` panicked.
/// Cancelling the task (or dropping the loop) cannot stop `f` once it runs: it runs to
/// its end on its thread, and its result is dropped. Threads start on demand, up to
/// [`Builder::blocking_threads`](crate::Builder::blocking_threads) (default 512).
///
/// ```
/// use std::time::Duration;
///
/// let (ticks, sum) = ringloop::run(async {
///     // The loop keeps running other tasks while the blocking call runs.
///     let job = ringloop::spawn_blocking(|| {
///         std::thread::sleep(Duration::from_millis(20));
///         (1..=100u64).sum::<u64>()
///     });
///     let mut ticks = 0;
///     while !job.is_done() {
///         ringloop::sleep(Duration::from_millis(1)).await;
///         ticks += 1;
///     }
///     (ticks, job.await.unwrap())
/// });
/// assert_eq!(sum, 5050);
/// assert!(ticks > 0);
/// ```
///
/// # Panics
///
/// When no loop runs on this thread.
pub fn spawn_blocking<F, T>(f: F) -> Task<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let core = crate::event_loop::context::current_core("ringloop::spawn_blocking()");
    core.spawn_blocking(f)
}

/// Schedules `f` on the running loop for its next iteration (asyncio's `call_soon`).
///
/// ```
/// use std::cell::RefCell;
/// use std::rc::Rc;
///
/// let log = ringloop::run(async {
///     let log = Rc::new(RefCell::new(Vec::new()));
///     for i in 0..3 {
///         let log = log.clone();
///         ringloop::call_soon(move || log.borrow_mut().push(i));
///     }
///     ringloop::yield_now().await;
///     log.take()
/// });
/// assert_eq!(log, [0, 1, 2]); // FIFO
/// ```
///
/// # Panics
///
/// When no loop runs on this thread; use [`EventLoop::call_soon`] before running.
pub fn call_soon(f: impl FnOnce() + 'static) -> CallbackHandle {
    let core = crate::event_loop::context::current_core("ringloop::call_soon()");
    call_soon_on(&core, f)
}

/// The running loop's tasks that are not done (asyncio's `all_tasks()`), oldest first;
/// see [`EventLoop::all_tasks`].
///
/// ```
/// ringloop::run(async {
///     let worker = ringloop::spawn(std::future::pending::<()>());
///     worker.set_name("worker");
///     let names: Vec<String> = ringloop::all_tasks().into_iter().map(|t| t.name).collect();
///     // run's own future is a task too, and the oldest.
///     assert_eq!(names.len(), 2);
///     assert_eq!(names[1], "worker");
/// });
/// ```
///
/// # Panics
///
/// When no loop runs on this thread; use [`EventLoop::all_tasks`] outside it.
pub fn all_tasks() -> Vec<TaskInfo> {
    crate::event_loop::context::current_core("ringloop::all_tasks()")
        .scheduler()
        .all_tasks()
}

/// Schedules `f` on the running loop after `delay` (asyncio's `loop.call_later`, without
/// holding the loop).
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
/// use std::time::Duration;
///
/// let fired = ringloop::run(async {
///     let fired = Rc::new(Cell::new(false));
///     let f = fired.clone();
///     ringloop::call_later(Duration::from_millis(1), move || f.set(true));
///     ringloop::sleep(Duration::from_millis(5)).await;
///     fired.get()
/// });
/// assert!(fired);
/// ```
///
/// # Panics
///
/// When no loop runs on this thread; use [`EventLoop::call_later`] before running.
pub fn call_later(delay: std::time::Duration, f: impl FnOnce() + 'static) -> CallbackHandle {
    let core = crate::event_loop::context::current_core("ringloop::call_later()");
    let deadline = core.timers().deadline_after(delay);
    call_at_ns(&core, deadline, f)
}

/// Schedules `f` on the running loop at `when` (asyncio's `loop.call_at`).
///
/// ```
/// use std::time::{Duration, Instant};
///
/// ringloop::run(async {
///     let handle = ringloop::call_at(Instant::now() + Duration::from_secs(60), || {
///         unreachable!("cancelled first")
///     });
///     assert!(handle.cancel());
/// });
/// ```
///
/// # Panics
///
/// When no loop runs on this thread; use [`EventLoop::call_at`] before running.
pub fn call_at(when: std::time::Instant, f: impl FnOnce() + 'static) -> CallbackHandle {
    let core = crate::event_loop::context::current_core("ringloop::call_at()");
    let deadline = core.timers().deadline_at(when);
    call_at_ns(&core, deadline, f)
}

/// Awaits several futures of any types at once, on the current task, and returns their
/// outputs as a tuple in argument order (asyncio's `gather(a(), b())` over different
/// coroutines; [`gather`] takes futures of one type). Up to six futures. Use it inside
/// an async block or function: it awaits.
///
/// ```
/// use std::time::Duration;
///
/// let (n, s) = ringloop::run(async {
///     ringloop::join!(
///         async {
///             ringloop::sleep(Duration::from_millis(2)).await;
///             42
///         },
///         async { "fetched".to_string() },
///     )
/// });
/// assert_eq!((n, s.as_str()), (42, "fetched"));
/// ```
#[macro_export]
macro_rules! join {
    ($a:expr $(,)?) => {
        ($a.await,)
    };
    ($a:expr, $b:expr $(,)?) => {
        $crate::__join2($a, $b).await
    };
    ($a:expr, $b:expr, $c:expr $(,)?) => {{
        let (a, (b, c)) = $crate::__join2($a, $crate::__join2($b, $c)).await;
        (a, b, c)
    }};
    ($a:expr, $b:expr, $c:expr, $d:expr $(,)?) => {{
        let ((a, b), (c, d)) =
            $crate::__join2($crate::__join2($a, $b), $crate::__join2($c, $d)).await;
        (a, b, c, d)
    }};
    ($a:expr, $b:expr, $c:expr, $d:expr, $e:expr $(,)?) => {{
        let ((a, b), (c, (d, e))) = $crate::__join2(
            $crate::__join2($a, $b),
            $crate::__join2($c, $crate::__join2($d, $e)),
        )
        .await;
        (a, b, c, d, e)
    }};
    ($a:expr, $b:expr, $c:expr, $d:expr, $e:expr, $f:expr $(,)?) => {{
        let ((a, (b, c)), (d, (e, f))) = $crate::__join2(
            $crate::__join2($a, $crate::__join2($b, $c)),
            $crate::__join2($d, $crate::__join2($e, $f)),
        )
        .await;
        (a, b, c, d, e, f)
    }};
}

/// Two futures polled together until both finish (the building block of [`join!`]).
#[doc(hidden)]
pub fn __join2<A: Future, B: Future>(a: A, b: B) -> Join2<A, B> {
    Join2 {
        a: Slot::Running(Box::pin(a)),
        b: Slot::Running(Box::pin(b)),
    }
}

/// The future of [`join!`] over two futures.
#[doc(hidden)]
#[must_use = "futures do nothing unless awaited"]
pub struct Join2<A: Future, B: Future> {
    a: Slot<A>,
    b: Slot<B>,
}

enum Slot<F: Future> {
    Running(Pin<Box<F>>),
    Done(Option<F::Output>),
}

impl<F: Future> Slot<F> {
    /// Polls the future if it still runs; whether it has finished.
    fn poll(&mut self, cx: &mut Context<'_>) -> bool {
        if let Slot::Running(f) = self {
            match f.as_mut().poll(cx) {
                Poll::Ready(out) => *self = Slot::Done(Some(out)),
                Poll::Pending => return false,
            }
        }
        true
    }

    fn take(&mut self) -> F::Output {
        match self {
            Slot::Done(out) => out.take().expect("a join! output taken twice"),
            Slot::Running(_) => unreachable!("taken before it finished"),
        }
    }
}

// The futures are boxed and pinned there; the outputs are never pinned.
impl<A: Future, B: Future> Unpin for Join2<A, B> {}

impl<A: Future, B: Future> Future for Join2<A, B> {
    type Output = (A::Output, B::Output);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let a = this.a.poll(cx);
        let b = this.b.poll(cx);
        if a && b {
            Poll::Ready((this.a.take(), this.b.take()))
        } else {
            Poll::Pending
        }
    }
}

impl<A: Future, B: Future> fmt::Debug for Join2<A, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Join2")
    }
}

/// Lets every other ready task run once before this one continues (asyncio's
/// `sleep(0)`): two tasks yielding in turn interleave a1 b1 a2 b2.
///
/// ```
/// use std::cell::RefCell;
/// use std::rc::Rc;
///
/// let log = Rc::new(RefCell::new(Vec::new()));
/// let worker = |name: &'static str, log: Rc<RefCell<Vec<String>>>| async move {
///     for i in 1..=2 {
///         log.borrow_mut().push(format!("{name}{i}"));
///         ringloop::yield_now().await;
///     }
/// };
/// ringloop::run(async {
///     let a = ringloop::spawn(worker("a", log.clone()));
///     let b = ringloop::spawn(worker("b", log.clone()));
///     let _ = (a.await, b.await);
/// });
/// assert_eq!(*log.borrow(), ["a1", "b1", "a2", "b2"]);
/// ```
pub fn yield_now() -> YieldNow {
    YieldNow { yielded: false }
}

/// The future of [`yield_now`].
///
/// ```
/// ringloop::run(async {
///     let y: ringloop::YieldNow = ringloop::yield_now();
///     y.await; // resumes on the loop's next iteration
/// });
/// ```
#[derive(Debug)]
#[must_use = "yield_now does nothing unless awaited"]
pub struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// Runs every future concurrently in the current task and returns their outputs in
/// argument order (asyncio's `gather`).
///
/// A panic in any of them propagates to the awaiting task; dropping the returned future
/// drops (cancels) the ones still running. Each poll polls the futures that have not
/// finished, so it suits tens to thousands of futures; for more, spawn tasks and await
/// their handles.
///
/// ```
/// use std::time::Duration;
///
/// let out = ringloop::run(ringloop::gather((1..=3u64).map(|i| async move {
///     ringloop::sleep(Duration::from_millis(4 - i)).await;
///     i * 10
/// })));
/// // In argument order, whichever finished first.
/// assert_eq!(out, [10, 20, 30]);
/// ```
pub async fn gather<I>(futures: I) -> Vec<<I::Item as Future>::Output>
where
    I: IntoIterator,
    I::Item: Future,
{
    let mut slots: Vec<Slot<I::Item>> = futures
        .into_iter()
        .map(|f| Slot::Running(Box::pin(f)))
        .collect();
    poll_fn(move |cx| {
        let mut all_done = true;
        for slot in slots.iter_mut() {
            if let Slot::Running(future) = slot {
                match future.as_mut().poll(cx) {
                    Poll::Ready(value) => *slot = Slot::Done(Some(value)),
                    Poll::Pending => all_done = false,
                }
            }
        }
        if !all_done {
            return Poll::Pending;
        }
        Poll::Ready(
            slots
                .iter_mut()
                .map(|slot| match slot {
                    Slot::Done(value) => value.take().expect("gather output taken once"),
                    Slot::Running(_) => unreachable!("all_done means no slot is running"),
                })
                .collect(),
        )
    })
    .await
}

/// When [`wait`] returns.
///
/// ```
/// use ringloop::ReturnWhen;
///
/// ringloop::run(async {
///     let tasks = vec![ringloop::spawn(async { 1 }), ringloop::spawn(async { 2 })];
///     let (done, pending) = ringloop::wait(tasks, ReturnWhen::AllCompleted).await;
///     assert_eq!((done.len(), pending.len()), (2, 0));
/// });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReturnWhen {
    /// As soon as any task finishes (or is cancelled).
    FirstCompleted,
    /// As soon as any task finishes by panicking; when none does, once all finish.
    FirstException,
    /// Once every task has finished.
    AllCompleted,
}

/// Waits for tasks as `when` says and returns `(done, pending)` (asyncio's `wait`).
///
/// Nothing is cancelled: the pending tasks keep running. Results stay in the tasks;
/// await a done task to take its result at once. An empty list returns at once.
///
/// ```
/// use ringloop::ReturnWhen;
///
/// ringloop::run(async {
///     let quick = ringloop::spawn(async { "quick" });
///     let slow = ringloop::spawn(std::future::pending::<&str>());
///     let (done, pending) = ringloop::wait(vec![quick, slow], ReturnWhen::FirstCompleted).await;
///     assert_eq!(pending.len(), 1); // still running, not cancelled
///     for task in done {
///         assert_eq!(task.await.unwrap(), "quick");
///     }
///     pending[0].cancel();
/// });
/// ```
pub async fn wait<T: 'static>(
    tasks: Vec<Task<T>>,
    when: ReturnWhen,
) -> (Vec<Task<T>>, Vec<Task<T>>) {
    let mut tasks = Some(tasks);
    poll_fn(move |cx| {
        let list = tasks.as_ref().expect("wait polled after it returned");
        let mut done = 0;
        let mut failed = false;
        for task in list {
            if task.poll_done(cx).is_ready() {
                done += 1;
                failed |= task.is_panicked();
            }
        }
        let ready = match when {
            ReturnWhen::FirstCompleted => done > 0 || list.is_empty(),
            ReturnWhen::FirstException => failed || done == list.len(),
            ReturnWhen::AllCompleted => done == list.len(),
        };
        if !ready {
            return Poll::Pending;
        }
        let (done, pending) = tasks
            .take()
            .expect("checked above")
            .into_iter()
            .partition(|t| t.is_done());
        Poll::Ready((done, pending))
    })
    .await
}

/// Protects `future` from cancellation of whoever awaits it (asyncio's `shield`).
///
/// The future runs as its own task; the returned task awaits it. Cancelling (or
/// dropping) the returned task leaves the inner work running to completion. A panic in
/// the inner work resolves the returned task as panicked.
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
/// use std::time::Duration;
///
/// let saved = ringloop::run(async {
///     let saved = Rc::new(Cell::new(false));
///     let s = saved.clone();
///     let outer = ringloop::shield(async move {
///         ringloop::sleep(Duration::from_millis(2)).await;
///         s.set(true);
///     });
///     outer.cancel(); // cancels the waiter, not the work
///     assert!(outer.await.unwrap_err().is_cancelled());
///     ringloop::sleep(Duration::from_millis(10)).await;
///     saved.get()
/// });
/// assert!(saved);
/// ```
///
/// # Panics
///
/// When no loop runs on this thread.
pub fn shield<F>(future: F) -> Task<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let core = crate::event_loop::context::current_core("ringloop::shield()");
    let eager = core.eager_tasks();
    let inner = core.spawn(future, eager);
    core.spawn(
        async move {
            match inner.await {
                Ok(value) => value,
                Err(TaskError::Panicked(payload)) => std::panic::resume_unwind(payload),
                Err(TaskError::Cancelled) => {
                    panic!("a shielded task was cancelled: its loop is closing")
                }
            }
        },
        eager,
    )
}

impl<F: Future> fmt::Debug for Slot<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Slot::Running(_) => f.write_str("Running"),
            Slot::Done(_) => f.write_str("Done"),
        }
    }
}
