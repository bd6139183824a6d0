//! `EventLoop`, its `Builder`, and one iteration of the loop.
//!
//! # The iteration
//!
//! 1. Compute the wait: zero if anything is ready (or a stop or remote message is
//!    pending), else until the next timer, else forever.
//! 2. Turn the driver: submit every queued SQE and wait, in one `io_uring_enter`. When
//!    work is ready and the ring has nothing to submit or reap, skip the syscall.
//! 3. Wake what completed, drain messages from other threads, move expired timers to
//!    the ready queue.
//! 4. Run exactly the nodes that were ready at this point (asyncio's snapshot rule), at
//!    most [`ITERATION_BUDGET`] of them, so I/O is reaped even while tasks stay ready.
//!    Whatever they schedule waits for the next iteration.
//!
//! # Where things live
//!
//! - `mod.rs`: [`EventLoop`], the public face;
//! - `core.rs`: the loop's state and the iteration above, the close, exception reports;
//! - `builder.rs`: [`Builder`]; `stats.rs`: [`Stats`];
//! - `handle.rs`: `call_soon` / `call_later` callbacks and their [`CallbackHandle`];
//! - `loop_handle.rs`: [`LoopHandle`], the loop as code inside it reaches it;
//! - `remote.rs`: [`Remote`], how other threads reach the loop;
//! - `context.rs`: the thread's running loop, which also sets the lower layers' own
//!   views of it (`task::current`, `time::current`).
//!
//! The layers below (`driver`, `task`, `time`) never name this module: the loop hands
//! each of them a handle of its own (the driver handle, the scheduler, the timers).

#![forbid(unsafe_code)]

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::driver::Backend;
use crate::task::raw::catch;
use crate::task::{ExceptionContext, ExceptionKind, Task, TaskInfo};

mod builder;
pub(crate) mod context;
mod core;
mod drop_chain;
mod handle;
mod loop_handle;
mod remote;
mod remote_task;
pub(crate) mod signals;
mod stats;

pub use builder::Builder;
pub(crate) use core::Core;
pub use handle::CallbackHandle;
pub(crate) use handle::{call_at_ns, call_soon_on};
pub use loop_handle::{LoopHandle, get_running_loop};
pub use stats::Stats;

pub use remote::{Closed, Remote, TrySendError};
pub use remote_task::RemoteTask;

/// The most ready nodes (tasks and callbacks) one iteration runs before the loop checks
/// the driver and timers again. Like tokio's event interval: large enough that the
/// per-iteration work is noise, small enough that I/O completions are never starved.
pub const ITERATION_BUDGET: usize = 128;

/// An event loop: tasks, callbacks, timers and I/O on one thread.
///
/// Dropping it closes it: every task's future is dropped, queued callbacks and timers
/// are released, in-flight operations are cancelled and drained, and the ring is closed.
///
/// ```
/// use ringloop::EventLoop;
///
/// let lp = EventLoop::new()?;
/// let task = lp.spawn(async { "spawned before running" });
/// let out = lp.run_until_complete(async { task.await.unwrap() });
/// assert_eq!(out, "spawned before running");
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct EventLoop {
    core: Rc<Core>,
}

/// Ends `run_until_complete`'s main task, also when its future panics.
struct MainTask<'a>(&'a Core);

impl Drop for MainTask<'_> {
    fn drop(&mut self) {
        self.0.sched.main_end();
    }
}

/// Resets `running` (and the thread's current loop) even if a task's panic unwinds
/// through `run_until_complete`.
struct Running<'a> {
    core: &'a Core,
    _enter: crate::event_loop::context::Enter,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.core.running.set(false);
        self.core.stopping.set(false);
    }
}

impl EventLoop {
    /// A loop on [`Backend::Auto`].
    ///
    /// ```
    /// let lp = ringloop::EventLoop::new()?;
    /// assert_eq!(lp.run_until_complete(async { 1 + 1 }), 2);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// See [`Builder::build`].
    pub fn new() -> io::Result<EventLoop> {
        Builder::default().build()
    }

    /// A builder for a loop with non-default settings.
    ///
    /// ```
    /// let lp = ringloop::EventLoop::builder().eager_tasks(true).build()?;
    /// let task = lp.run_until_complete(async { ringloop::spawn(async { 5 }) });
    /// assert!(task.is_done()); // eager: it ran to its end inside spawn
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn builder() -> Builder {
        Builder::default()
    }

    fn enter(&self) -> Running<'_> {
        if self.core.closed.get() {
            panic!(
                "this event loop is closed (EventLoop::close was called): a closed loop cannot \
                 run again; build a new one with EventLoop::new()"
            );
        }
        let enter = crate::event_loop::context::enter(&self.core);
        self.core.running.set(true);
        // A spin asked for by the last run's final poll is not this run's.
        self.core.awaiting_remote.set(false);
        Running {
            core: &self.core,
            _enter: enter,
        }
    }

    /// Runs the loop until `future` completes and returns its output; other tasks stay
    /// where they are (pending tasks are not cancelled).
    ///
    /// The future is polled in the loop's first iteration, in FIFO order with whatever
    /// was already scheduled. When it completes, the current iteration finishes and the
    /// call returns.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let lp = ringloop::EventLoop::new()?;
    /// let n = lp.run_until_complete(async {
    ///     ringloop::sleep(Duration::from_millis(1)).await;
    ///     7
    /// });
    /// assert_eq!(n, 7);
    /// // The loop can run again.
    /// assert_eq!(lp.run_until_complete(async { 8 }), 8);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Panics
    ///
    /// If the loop is already running (await the future instead), if another loop runs
    /// on this thread, if [`stop`](Self::stop) is called before the future completes, or
    /// if the future itself panics (the panic propagates).
    pub fn run_until_complete<F: Future>(&self, future: F) -> F::Output {
        let running = self.enter();
        let mut future = pin!(future);
        let output = Cell::new(None);
        let done = Cell::new(false);
        // The future is the loop's main task meanwhile (asyncio wraps it in a task).
        self.core.sched.main_begin();
        let _main = MainTask(&self.core);
        self.core.sched.schedule_main();
        let mut poll_main = |cx: &mut Context<'_>| {
            if !done.get()
                && let Poll::Ready(value) = future.as_mut().poll(cx)
            {
                output.set(Some(value));
                done.set(true);
            }
        };
        loop {
            self.core.run_once(&mut poll_main);
            if let Some(value) = output.take() {
                drop(running);
                return value;
            }
            if self.core.stopping.get() {
                panic!(
                    "the event loop was stopped before the future given to \
                     run_until_complete completed; use run_forever() with stop(), or let \
                     the future finish"
                );
            }
        }
    }

    /// Runs the loop until [`stop`](Self::stop) is called (from a task, a callback, or a
    /// [`Remote`] on another thread). If `stop` was called before, runs exactly one
    /// iteration.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let lp = ringloop::EventLoop::new()?;
    /// let task = lp.spawn(async { 21 * 2 });
    /// let remote = lp.remote();
    /// lp.call_later(Duration::from_millis(1), move || remote.stop());
    /// lp.run_forever(); // returns once stop is called
    /// assert!(task.is_done());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Panics
    ///
    /// If the loop is already running, or another loop runs on this thread.
    pub fn run_forever(&self) {
        let _running = self.enter();
        loop {
            self.core.run_once(&mut |_| {});
            if self.core.stopping.get() {
                return;
            }
        }
    }

    /// Asks `run_forever` to return: the current iteration finishes first.
    ///
    /// ```
    /// let lp = ringloop::EventLoop::new()?;
    /// let task = lp.spawn(async { "ran" });
    /// lp.stop();
    /// lp.run_forever(); // stopped before it began: runs exactly one iteration
    /// assert!(task.is_done());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn stop(&self) {
        self.core.stopping.set(true);
    }

    /// Whether the loop is running (inside `run_until_complete` or `run_forever`).
    ///
    /// ```
    /// let lp = ringloop::EventLoop::new()?;
    /// assert!(!lp.is_running());
    /// assert!(lp.run_until_complete(async { lp.is_running() }));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_running(&self) -> bool {
        self.core.running.get()
    }

    /// Spawns `future` as a task (asyncio's `create_task`). It first runs in the next
    /// iteration, after everything already scheduled.
    ///
    /// On a loop built with [`Builder::eager_tasks`]`(true)`, this is
    /// [`spawn_eager`](Self::spawn_eager).
    ///
    /// ```
    /// let lp = ringloop::EventLoop::new()?;
    /// let task = lp.spawn(async { 6 * 7 });
    /// assert!(!task.is_done()); // queued: it first runs once the loop runs
    /// assert_eq!(lp.run_until_complete(task).unwrap(), 42);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn spawn<F>(&self, future: F) -> Task<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.core.spawn(future, self.core.eager_tasks())
    }

    /// Spawns `future` and runs it at once, up to its first suspension (Python 3.12's
    /// eager task factory). A task that finishes without suspending is never queued:
    /// when this returns it is done, and awaiting the handle is immediately ready (its
    /// node, holding the value, goes when the handle is awaited or dropped).
    ///
    /// Everything else is as for [`spawn`](Self::spawn): the same results, the same
    /// [`Task`] handle, the same order among whatever the task awaits and wakes. Where it
    /// differs:
    ///
    /// - **The first step runs before `spawn_eager` returns**: before the caller's next
    ///   statement, and before every task and callback already in the ready queue. Side
    ///   effects of that step (prints, `call_soon`, sends, spawns) happen first.
    /// - **Wakes during the first step** queue the task at the back of the ready queue,
    ///   as in any poll: a task that yields (`yield_now`) in its first step resumes in
    ///   the loop's next iteration, after the tasks already ready.
    /// - **Reentrancy**: called from inside a task's poll (or a callback), the new task's
    ///   first step runs nested inside the caller's; an eager task may spawn eagerly in
    ///   turn. Past 32 nested eager steps a spawn is queued instead, so recursion cannot
    ///   overflow the stack.
    /// - **Panics** in the first step resolve the task as [`TaskError::Panicked`]
    ///   (awaiting the handle yields it); they never unwind into the caller.
    /// - **Cancellation**: a task that finished eagerly is done (`cancel()` returns
    ///   `false`); one that suspended is cancelled at its await point like any other.
    /// - **Done callbacks** are still scheduled (as by `call_soon`), never run inline,
    ///   even for a task that finished before `spawn_eager` returned.
    /// - **No running loop**: when the loop is not running (spawning before
    ///   `run_until_complete`), there is no "at once": the task is queued exactly like
    ///   [`spawn`](Self::spawn) and first runs in the loop's first iteration.
    ///
    /// ```
    /// let lp = ringloop::EventLoop::new()?;
    /// let finished_at_once = lp.run_until_complete(async {
    ///     let task = lp.spawn_eager(async { 5 });
    ///     task.is_done() // it ran to its end before spawn_eager returned
    /// });
    /// assert!(finished_at_once);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// [`TaskError::Panicked`]: crate::TaskError::Panicked
    pub fn spawn_eager<F>(&self, future: F) -> Task<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.core.spawn(future, true)
    }

    /// Schedules `f` to run in the next iteration, after everything already scheduled.
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    ///
    /// let lp = ringloop::EventLoop::new()?;
    /// let hits = Rc::new(Cell::new(0));
    /// let h = hits.clone();
    /// lp.call_soon(move || h.set(h.get() + 1));
    /// lp.run_until_complete(ringloop::yield_now());
    /// assert_eq!(hits.get(), 1);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn call_soon(&self, f: impl FnOnce() + 'static) -> CallbackHandle {
        call_soon_on(&self.core, f)
    }

    /// Schedules `f` to run once `delay` has passed.
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    /// use std::time::Duration;
    ///
    /// let lp = ringloop::EventLoop::new()?;
    /// let fired = Rc::new(Cell::new(false));
    /// let f = fired.clone();
    /// lp.call_later(Duration::from_millis(1), move || f.set(true));
    /// lp.run_until_complete(ringloop::sleep(Duration::from_millis(5)));
    /// assert!(fired.get());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn call_later(&self, delay: Duration, f: impl FnOnce() + 'static) -> CallbackHandle {
        let deadline = self.core.timers.deadline_after(delay);
        call_at_ns(&self.core, deadline, f)
    }

    /// Schedules `f` to run at `when` (on the loop's clock, [`time`](Self::time)).
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let lp = ringloop::EventLoop::new()?;
    /// let remote = lp.remote();
    /// lp.call_at(lp.time() + Duration::from_millis(1), move || remote.stop());
    /// lp.run_forever(); // until the timer stops it
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn call_at(&self, when: Instant, f: impl FnOnce() + 'static) -> CallbackHandle {
        let deadline = self.core.timers.deadline_at(when);
        call_at_ns(&self.core, deadline, f)
    }

    /// The loop's clock: monotonic, the one timers use.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let lp = ringloop::EventLoop::new()?;
    /// let start = lp.time();
    /// lp.run_until_complete(ringloop::sleep(Duration::from_millis(2)));
    /// assert!(lp.time() >= start + Duration::from_millis(2)); // no timer fires early
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn time(&self) -> Instant {
        Instant::now()
    }

    /// A handle to this loop for the code it will run (the one [`get_running_loop`]
    /// returns inside it): for a protocol factory or a callback built before running.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let lp = ringloop::EventLoop::new()?;
    /// let handle = lp.handle();
    /// lp.call_soon(move || {
    ///     let stopper = handle.clone();
    ///     handle.call_later(Duration::from_millis(1), move || stopper.stop());
    /// });
    /// lp.run_forever();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn handle(&self) -> LoopHandle {
        LoopHandle::new(self.core.clone())
    }

    /// A handle for other threads.
    ///
    /// ```
    /// let lp = ringloop::EventLoop::new()?;
    /// let remote = lp.remote();
    /// let worker = std::thread::spawn(move || {
    ///     remote.call_soon_threadsafe(|| println!("on the loop's thread")).unwrap();
    ///     remote.stop();
    /// });
    /// lp.run_forever(); // until the other thread stops it
    /// worker.join().unwrap();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn remote(&self) -> Remote {
        Remote::new(self.core.shared().clone())
    }

    /// The backend this loop runs on.
    ///
    /// ```
    /// use ringloop::{Backend, EventLoop};
    ///
    /// let lp = EventLoop::new()?; // Backend::Auto picks one
    /// assert!(matches!(lp.backend(), Backend::IoUring | Backend::Epoll));
    ///
    /// let lp = EventLoop::builder().backend(Backend::Epoll).build()?;
    /// assert_eq!(lp.backend(), Backend::Epoll);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn backend(&self) -> Backend {
        self.core.backend
    }

    /// A line describing the backend and the kernel features it uses.
    ///
    /// ```
    /// let lp = ringloop::EventLoop::new()?;
    /// let line = lp.backend_description();
    /// assert!(!line.is_empty());
    /// println!("running on {line}");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn backend_description(&self) -> String {
        match self.core.io.with_driver(|d| d.describe()) {
            Some(description) => description,
            None => "closed".to_string(),
        }
    }

    /// Sets the function that hears about failures nobody else sees: panics in callbacks,
    /// and task panics whose result was never retrieved. Each is reported once. The
    /// default prints one line to stderr.
    ///
    /// A replaced handler is dropped; should its destructor panic, the new handler hears
    /// of it ([`ExceptionKind::DestructorPanicked`]). A handler still set when the loop
    /// closes is dropped last, after every report of the close; should its destructor
    /// panic, that is logged (through the `log` crate) and the close still finishes.
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use std::rc::Rc;
    /// use ringloop::ExceptionKind;
    ///
    /// let lp = ringloop::EventLoop::new()?;
    /// let reports = Rc::new(RefCell::new(Vec::new()));
    /// let seen = reports.clone();
    /// lp.set_exception_handler(move |r| {
    ///     seen.borrow_mut().push((r.kind(), r.message().to_string()));
    /// });
    /// lp.call_soon(|| panic!("boom"));
    /// lp.run_until_complete(ringloop::yield_now()); // the loop survives the panic
    /// let expected = [(ExceptionKind::CallbackPanicked, "boom".to_string())];
    /// assert_eq!(*reports.borrow(), expected);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_exception_handler(&self, handler: impl FnMut(ExceptionContext) + 'static) {
        let old = self.core.handler.borrow_mut().replace(Box::new(handler));
        if let Some(old) = old
            && let Err(payload) = catch(move || drop(old))
        {
            self.core.report(ExceptionContext::new(
                ExceptionKind::DestructorPanicked,
                payload,
            ));
        }
    }

    /// Runs `f` as a callback on this loop each time the signal `signum` arrives from
    /// now on (asyncio's `add_signal_handler`).
    ///
    /// `f` never runs inside the signal handler: the process-wide handler only notes the
    /// signal and wakes the loop, which then schedules `f` like [`call_soon`](Self::call_soon)
    /// would, so `f` may allocate, lock, print, spawn or stop the loop. A signal that
    /// arrives while the loop is not running is handled once it runs again. Arrivals of
    /// one signal that come faster than the loop looks are coalesced (the kernel does
    /// the same with a pending signal): `f` then runs once for them.
    ///
    /// One handler per signal per loop: a second call for the same signal replaces the
    /// first. A handler removed or replaced after its signal arrived but before its
    /// callback came up does not run for it. Several loops (on several threads) may
    /// each have a handler for the same signal: each one runs.
    ///
    /// While any loop has a handler for a signal (or a [`Signals`](crate::signal::Signals)
    /// listens for it), the signal's default action (ending the process, for most) does
    /// not happen. When the last one goes, the disposition the signal had before is put
    /// back.
    ///
    /// A panic in `f` is reported to the [exception handler](Self::set_exception_handler)
    /// as any callback's, and `f` stays installed.
    ///
    /// # Errors
    ///
    /// [`io::ErrorKind::InvalidInput`], with a message naming the signal, for a number
    /// that is not a signal (0, negative, above `SIGRTMAX`), for `SIGKILL` and `SIGSTOP`
    /// (which cannot be caught), for `SIGSEGV`, `SIGBUS`, `SIGFPE` and `SIGILL` (they
    /// report a fault of the thread that receives them, which a handler running later
    /// cannot deal with) and for the real-time signals the C library reserves. Also an
    /// error if the loop has closed, if no eventfd can be created, or if 64 loops
    /// already listen for the signal.
    ///
    /// # Example
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    /// use ringloop::EventLoop;
    ///
    /// let lp = EventLoop::new()?;
    /// let seen = Rc::new(Cell::new(0));
    /// let s = seen.clone();
    /// lp.add_signal_handler(libc::SIGUSR1, move || s.set(s.get() + 1))?;
    /// lp.run_until_complete(async {
    ///     // SAFETY: `raise` has no preconditions; SIGUSR1 has a handler.
    ///     unsafe { libc::raise(libc::SIGUSR1) };
    ///     while seen.get() == 0 {
    ///         ringloop::sleep(std::time::Duration::from_millis(1)).await;
    ///     }
    /// });
    /// assert_eq!(seen.get(), 1);
    /// assert!(lp.remove_signal_handler(libc::SIGUSR1));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn add_signal_handler(
        &self,
        signum: libc::c_int,
        f: impl FnMut() + 'static,
    ) -> io::Result<()> {
        signals::add_handler(&self.core, signum, Box::new(f))
    }

    /// Removes the handler [`add_signal_handler`](Self::add_signal_handler) installed
    /// for `signum`; whether there was one. A signal seen before the removal whose
    /// callback has not run yet does not run it. When no loop (and no
    /// [`Signals`](crate::signal::Signals)) listens for the signal any more, its previous
    /// disposition is back.
    ///
    /// ```
    /// let lp = ringloop::EventLoop::new()?;
    /// assert!(!lp.remove_signal_handler(libc::SIGHUP));
    /// lp.add_signal_handler(libc::SIGHUP, || println!("reloading"))?;
    /// assert!(lp.remove_signal_handler(libc::SIGHUP));
    /// assert!(!lp.remove_signal_handler(libc::SIGHUP));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn remove_signal_handler(&self, signum: libc::c_int) -> bool {
        signals::remove_handler(&self.core, signum)
    }

    /// The tasks of this loop that are not done (asyncio's `all_tasks()`), oldest first:
    /// every live task, pending or in the middle of a step, and while
    /// [`run_until_complete`](Self::run_until_complete) runs, the future it was given
    /// (asyncio runs that as a task too). [`ringloop::all_tasks`](crate::all_tasks) is the
    /// same for the running loop.
    ///
    /// ```
    /// use ringloop::{EventLoop, TaskState};
    ///
    /// let lp = EventLoop::new()?;
    /// let worker = lp.spawn(std::future::pending::<()>());
    /// worker.set_name("worker");
    /// let names: Vec<String> = lp.all_tasks().into_iter().map(|t| t.name).collect();
    /// assert_eq!(names, ["worker"]);
    ///
    /// let states = lp.run_until_complete(async {
    ///     lp.all_tasks().into_iter().map(|t| t.state).collect::<Vec<_>>()
    /// });
    /// // The worker waits; the main future is the one running.
    /// assert_eq!(states, [TaskState::Pending, TaskState::Running]);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn all_tasks(&self) -> Vec<TaskInfo> {
        self.core.sched.all_tasks()
    }

    /// Closes the loop (asyncio's `loop.close()`): every task's future is dropped (the
    /// tasks resolve as cancelled), queued callbacks and timers are released, in-flight
    /// operations are cancelled and drained, and the ring is closed. Idempotent: closing
    /// a closed loop does nothing. Dropping the loop closes it too.
    ///
    /// Unlike [`run`](crate::run), `close` does not give tasks a last iteration to see
    /// their cancellation: cancel and run them first if their done callbacks must run.
    /// A task spawned on a closed loop is cancelled at once (its future dropped unrun);
    /// a callback scheduled on it (`call_soon`, `call_later`, `call_at`) is dropped at
    /// once, unrun.
    ///
    /// ```
    /// let lp = ringloop::EventLoop::new()?;
    /// let task = lp.spawn(std::future::pending::<()>());
    /// lp.close();
    /// lp.close(); // idempotent
    /// assert!(task.is_cancelled());
    /// assert!(lp.is_closed());
    /// assert!(lp.spawn(async {}).is_cancelled()); // nothing new runs
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Panics
    ///
    /// When called while the loop is running (from inside it): stop it first. Running a
    /// closed loop panics too.
    pub fn close(&self) {
        if self.core.running.get() {
            panic!(
                "EventLoop::close was called while the loop is running: stop it first (stop(), \
                 or let run_until_complete return), then close it"
            );
        }
        self.core.close();
    }

    /// Whether [`close`](Self::close) was called (or the loop was dropped).
    ///
    /// ```
    /// let lp = ringloop::EventLoop::new()?;
    /// assert!(!lp.is_closed());
    /// lp.close();
    /// assert!(lp.is_closed());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_closed(&self) -> bool {
        self.core.closed.get()
    }

    /// What the loop has done so far.
    ///
    /// ```
    /// let lp = ringloop::EventLoop::new()?;
    /// lp.run_until_complete(async {
    ///     ringloop::spawn(async {}).await.unwrap();
    /// });
    /// let stats = lp.stats();
    /// assert_eq!(stats.tasks_spawned, 1);
    /// assert_eq!(stats.tasks_live, 0);
    /// assert!(stats.iterations > 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn stats(&self) -> Stats {
        let driver = self.core.io.with_driver(|d| d.stats()).unwrap_or_default();
        Stats {
            iterations: self.core.io.iteration(),
            tasks_spawned: self.core.sched.spawned.get(),
            tasks_polled: self.core.sched.polled.get(),
            tasks_live: self.core.sched.live_tasks(),
            timers_pending: self.core.timers.len(),
            io_uring_enters: driver.enters,
            sqes_submitted: driver.sqes_submitted,
            ops_in_flight: driver.ops_in_flight,
            buffers_held: driver.buffers_held,
            stray_completions: driver.stray_completions,
            accepts_submitted: driver.accepts_submitted,
            fixed_files: driver.fixed_files,
            blocking_jobs: self.core.blocking.jobs_started(),
            blocking_threads: self.core.blocking.threads(),
        }
    }

    /// Cancels every live task and runs the loop until they are gone (what `run` does
    /// before it closes the loop). Tasks spawned while cancelling are cancelled too.
    pub(crate) fn cancel_all_tasks(&self) {
        let _running = self.enter();
        // Bounded, in case task destructors keep spawning forever.
        // Keep going while callbacks are ready too: the done callbacks of the cancelled
        // tasks are scheduled as callbacks and must run before the loop closes.
        for _ in 0..1000 {
            if self.core.sched.live_tasks() == 0 && !self.core.sched.has_ready() {
                break;
            }
            self.core.sched.cancel_all();
            self.core.run_once(&mut |_| {});
        }
    }
}

impl Drop for EventLoop {
    fn drop(&mut self) {
        self.core.close();
    }
}

impl fmt::Debug for EventLoop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventLoop")
            .field("backend", &self.core.backend)
            .field("running", &self.core.running.get())
            .field("scheduler", &self.core.sched)
            .finish()
    }
}
