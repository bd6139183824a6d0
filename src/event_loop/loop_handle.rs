//! [`LoopHandle`]: the running loop, reachable from inside it (asyncio's
//! `get_running_loop()`).

#![forbid(unsafe_code)]

use std::fmt;
use std::future::Future;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::driver::Backend;
use crate::task::{Task, TaskInfo};

use super::core::Core;
use super::handle::{CallbackHandle, call_at_ns, call_soon_on};
use super::remote::Remote;

/// The loop a task runs on, as a cheap `Clone` handle (asyncio's
/// `asyncio.get_running_loop()`): what code inside the loop (a task, a callback, a
/// protocol) uses to schedule work on it without holding the [`EventLoop`].
///
/// Get one with [`get_running_loop`] from code the loop runs, or with
/// [`EventLoop::handle`] before running. It stays on the loop's thread (`!Send`); for
/// other threads there is [`Remote`].
///
/// A handle does not keep the loop open: dropping (or [`close`](crate::EventLoop::close)-ing)
/// the `EventLoop` closes it, and a task's future that holds a handle is dropped with
/// the loop's tasks, so no cycle keeps anything alive. On a closed loop, `spawn` gives a
/// task that is already cancelled and callbacks never run.
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
/// use std::time::Duration;
///
/// let fired = ringloop::run(async {
///     let lp = ringloop::get_running_loop();
///     let fired = Rc::new(Cell::new(false));
///     let f = fired.clone();
///     lp.call_later(Duration::from_millis(1), move || f.set(true));
///     lp.spawn(ringloop::sleep(Duration::from_millis(5))).await.unwrap();
///     fired.get()
/// });
/// assert!(fired);
/// ```
///
/// [`EventLoop`]: crate::EventLoop
/// [`EventLoop::handle`]: crate::EventLoop::handle
#[derive(Clone)]
pub struct LoopHandle {
    core: Rc<Core>,
}

/// The loop running on this thread (asyncio's `get_running_loop()`).
///
/// ```
/// let backend = ringloop::run(async { ringloop::get_running_loop().backend() });
/// assert!(matches!(backend, ringloop::Backend::IoUring | ringloop::Backend::Epoll));
/// ```
///
/// # Panics
///
/// When no loop runs on this thread (asyncio raises `RuntimeError` there too); before
/// running, use [`EventLoop::handle`](crate::EventLoop::handle).
pub fn get_running_loop() -> LoopHandle {
    LoopHandle {
        core: super::context::current_core("ringloop::get_running_loop()"),
    }
}

impl LoopHandle {
    pub(super) fn new(core: Rc<Core>) -> LoopHandle {
        LoopHandle { core }
    }

    /// Spawns `future` as a task on this loop (asyncio's `loop.create_task`); see
    /// [`EventLoop::spawn`](crate::EventLoop::spawn).
    ///
    /// ```
    /// let n = ringloop::run(async {
    ///     ringloop::get_running_loop().spawn(async { 6 * 7 }).await.unwrap()
    /// });
    /// assert_eq!(n, 42);
    /// ```
    pub fn spawn<F>(&self, future: F) -> Task<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.core.spawn(future, self.core.eager_tasks())
    }

    /// Schedules `f` for the loop's next iteration (asyncio's `loop.call_soon`).
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    ///
    /// let ran = Rc::new(Cell::new(false));
    /// let r = ran.clone();
    /// ringloop::run(async move {
    ///     ringloop::get_running_loop().call_soon(move || r.set(true));
    ///     ringloop::yield_now().await;
    /// });
    /// assert!(ran.get());
    /// ```
    pub fn call_soon(&self, f: impl FnOnce() + 'static) -> CallbackHandle {
        call_soon_on(&self.core, f)
    }

    /// Schedules `f` to run once `delay` has passed (asyncio's `loop.call_later`).
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// ringloop::run(async {
    ///     let lp = ringloop::get_running_loop();
    ///     let handle = lp.call_later(Duration::from_secs(60), || unreachable!());
    ///     assert!(handle.cancel()); // a handle cancels it
    /// });
    /// ```
    pub fn call_later(&self, delay: Duration, f: impl FnOnce() + 'static) -> CallbackHandle {
        let deadline = self.core.timers().deadline_after(delay);
        call_at_ns(&self.core, deadline, f)
    }

    /// Schedules `f` to run at `when` on the loop's clock (asyncio's `loop.call_at`).
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let lp = ringloop::EventLoop::new()?;
    /// let handle = lp.handle();
    /// lp.spawn(async move {
    ///     let again = handle.clone();
    ///     handle.call_at(handle.time() + Duration::from_millis(1), move || again.stop());
    /// });
    /// lp.run_forever(); // until the callback stops the loop
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn call_at(&self, when: Instant, f: impl FnOnce() + 'static) -> CallbackHandle {
        let deadline = self.core.timers().deadline_at(when);
        call_at_ns(&self.core, deadline, f)
    }

    /// The loop's clock (asyncio's `loop.time()`): monotonic, the one timers use.
    ///
    /// ```
    /// ringloop::run(async {
    ///     let lp = ringloop::get_running_loop();
    ///     let before = lp.time();
    ///     ringloop::sleep(std::time::Duration::from_millis(1)).await;
    ///     assert!(lp.time() > before);
    /// });
    /// ```
    pub fn time(&self) -> Instant {
        Instant::now()
    }

    /// Asks the loop to stop (asyncio's `loop.stop()`): `run_forever` returns after the
    /// current iteration. See [`EventLoop::stop`](crate::EventLoop::stop).
    ///
    /// ```
    /// let lp = ringloop::EventLoop::new()?;
    /// lp.spawn(async { ringloop::get_running_loop().stop() });
    /// lp.run_forever(); // until the task stops it
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn stop(&self) {
        self.core.stopping.set(true);
    }

    /// Whether the loop is running now (asyncio's `loop.is_running()`).
    ///
    /// ```
    /// let lp = ringloop::EventLoop::new()?;
    /// let handle = lp.handle();
    /// assert!(!handle.is_running());
    /// assert!(lp.run_until_complete(async { ringloop::get_running_loop().is_running() }));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_running(&self) -> bool {
        self.core.running.get()
    }

    /// Whether the loop was closed (asyncio's `loop.is_closed()`).
    ///
    /// ```
    /// let lp = ringloop::EventLoop::new()?;
    /// let handle = lp.handle();
    /// drop(lp); // dropping the loop closes it; the handle only observes
    /// assert!(handle.is_closed());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_closed(&self) -> bool {
        self.core.closed.get()
    }

    /// A handle for other threads; see [`EventLoop::remote`](crate::EventLoop::remote).
    ///
    /// ```
    /// ringloop::run(async {
    ///     let remote = ringloop::get_running_loop().remote();
    ///     let other = std::thread::spawn(move || remote.call_soon_threadsafe(|| ()).is_ok());
    ///     assert!(other.join().unwrap());
    /// });
    /// ```
    pub fn remote(&self) -> Remote {
        Remote::new(self.core.shared().clone())
    }

    /// The backend this loop runs on.
    ///
    /// ```
    /// let lp = ringloop::EventLoop::builder().backend(ringloop::Backend::Epoll).build()?;
    /// assert_eq!(lp.handle().backend(), ringloop::Backend::Epoll);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn backend(&self) -> Backend {
        self.core.backend
    }

    /// The loop's tasks that are not done (asyncio's `all_tasks()`); see
    /// [`EventLoop::all_tasks`](crate::EventLoop::all_tasks).
    ///
    /// ```
    /// ringloop::run(async {
    ///     let lp = ringloop::get_running_loop();
    ///     let _worker = lp.spawn(std::future::pending::<()>());
    ///     assert_eq!(lp.all_tasks().len(), 2); // run's own future, and the worker
    /// });
    /// ```
    pub fn all_tasks(&self) -> Vec<TaskInfo> {
        self.core.sched.all_tasks()
    }
}

impl fmt::Debug for LoopHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoopHandle")
            .field("backend", &self.core.backend)
            .field("running", &self.core.running.get())
            .field("closed", &self.core.closed.get())
            .finish()
    }
}
