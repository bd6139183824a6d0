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

#![forbid(unsafe_code)]

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::driver::fault::{FaultDriver, FaultPlan};
use crate::driver::handle::DriverHandle;
use crate::driver::{self, Backend, DriverConfig, Wait};
use crate::task::callback::{self, CallbackRef};
use crate::task::raw::catch;
use crate::task::remote::{RemoteMsg, Shared, log_drop_panic};
use crate::task::scheduler::{Popped, Scheduler};
use crate::task::{ExceptionContext, ExceptionKind, Task};
use crate::time::TimerTarget;
use crate::time::queue::TimerKey;
use crate::time::timers::Timers;

mod remote;

pub use remote::{Closed, Remote, TrySendError};

/// The most ready nodes (tasks and callbacks) one iteration runs before the loop checks
/// the driver and timers again. Like tokio's event interval: large enough that the
/// per-iteration work is noise, small enough that I/O completions are never starved.
pub const ITERATION_BUDGET: usize = 128;

/// Consecutive failed turns tolerated for `EINTR`, `EAGAIN` and `EBUSY` (retried at the
/// next iteration, as if nothing happened) before the loop gives up with a panic.
const TURN_RETRIES: u32 = 1000;

/// Consecutive failed turns tolerated for `ENOMEM`, each retried after a back-off of
/// 1 ms doubling to 100 ms (about 1.5 s in all), before the loop gives up with a panic.
const TURN_ENOMEM_RETRIES: u32 = 20;

/// The user's exception handler.
type ExceptionHandler = Box<dyn FnMut(ExceptionContext)>;

/// The loop's state, shared (through `Rc`) with sleeps and callback handles.
pub(crate) struct Core {
    sched: Rc<Scheduler>,
    timers: Rc<Timers>,
    io: Rc<DriverHandle>,
    backend: Backend,
    /// Scratch space reused every iteration (no allocation in steady state).
    woken: RefCell<Vec<Waker>>,
    expired: RefCell<Vec<TimerTarget>>,
    running: Cell<bool>,
    stopping: Cell<bool>,
    closed: Cell<bool>,
    handler: RefCell<Option<ExceptionHandler>>,
    /// Driver turns that failed in a row.
    turn_failures: Cell<u32>,
    /// Tasks and callbacks the last iteration ran (for `Driver::wants_poll`).
    ran: Cell<usize>,
    /// `Builder::eager_tasks`: `spawn` runs a new task's first step at once.
    eager: bool,
}

impl Core {
    pub(crate) fn scheduler(&self) -> &Rc<Scheduler> {
        &self.sched
    }

    /// Spawns `future`: eagerly when `eager` is asked for and the loop is running (on
    /// this thread, since the loop is `!Send`), else queued. See [`EventLoop::spawn_eager`].
    pub(crate) fn spawn<F>(&self, future: F, eager: bool) -> Task<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        if eager && self.running.get() {
            self.sched.spawn_eager(future)
        } else {
            self.sched.spawn(future)
        }
    }

    /// Whether the loop was built with [`Builder::eager_tasks`]`(true)`.
    pub(crate) fn eager_tasks(&self) -> bool {
        self.eager
    }

    /// The loop's driver handle: what operations and sinks hold.
    pub(crate) fn io(&self) -> &Rc<DriverHandle> {
        &self.io
    }

    fn shared(&self) -> &Arc<Shared> {
        self.sched.shared()
    }

    /// The loop's timers.
    pub(crate) fn timers(&self) -> &Rc<Timers> {
        &self.timers
    }

    fn report(&self, report: ExceptionContext) {
        let handler = self.handler.borrow_mut().take();
        match handler {
            Some(mut handler) => {
                if let Err(payload) = catch(|| handler(report)) {
                    eprintln!(
                        "ringloop: the exception handler panicked: {}",
                        crate::task::error::panic_message(&*payload)
                    );
                }
                let replaced = {
                    let mut slot = self.handler.borrow_mut();
                    if slot.is_none() {
                        *slot = Some(handler);
                        None
                    } else {
                        // The handler set a new one while it ran: this one goes.
                        Some(handler)
                    }
                };
                drop_handler(replaced);
            }
            None => crate::task::error::default_exception_handler(report),
        }
    }

    fn drain_remote(&self) {
        if !self.shared().take_notified() {
            return;
        }
        // At most one iteration's budget, and only what was queued when the drain
        // began: threads that send faster than the loop runs must neither hold one
        // iteration forever nor grow the ready queue without bound. The rest waits for
        // the next iteration, which then does not block. (`queued` is one load;
        // `SegQueue::len` retries for as long as senders keep pushing.)
        for _ in 0..self.shared().queued().min(ITERATION_BUDGET) {
            let Some(msg) = self.shared().pop() else {
                break;
            };
            match self.sched.apply_remote(msg) {
                None => {}
                Some(RemoteMsg::Call(f)) => self.sched.schedule(callback::allocate(f, 1)),
                Some(RemoteMsg::Stop) => self.stopping.set(true),
                Some(RemoteMsg::Report(report)) => self.report(report),
                Some(RemoteMsg::Wake(_)) => unreachable!("wakes are applied by the scheduler"),
            }
        }
        self.shared().renotify_if_queued();
    }

    /// One iteration. `main` polls `run_until_complete`'s future when its node comes up.
    fn run_once(&self, main: &mut dyn FnMut(&mut Context<'_>)) {
        self.io.next_iteration();

        // 1. How long may we block?
        let shared = self.shared();
        let wait = if self.sched.has_ready() || self.stopping.get() || shared.is_notified() {
            Wait::Poll
        } else {
            let next = self.timers.next_deadline();
            match next {
                None => Wait::Forever,
                Some(deadline) => {
                    let now = self.timers.now_ns();
                    if deadline <= now {
                        Wait::Poll
                    } else {
                        Wait::Timeout(Duration::from_nanos(deadline - now))
                    }
                }
            }
        };

        // 2. Turn the driver (skipping the syscall when there is nothing to do in it).
        {
            let mut woken = self.woken.borrow_mut();
            let turned = self.io.with_driver(|driver| {
                if wait != Wait::Poll || driver.wants_poll(self.ran.get()) {
                    driver.turn(wait, &mut woken)
                } else {
                    Ok(())
                }
            });
            match turned.expect("the loop's driver is gone: the loop was used after close") {
                Ok(()) => self.turn_failures.set(0),
                Err(e) => self.turn_failed(&e, self.io.backend()),
            }
        }
        // 3. Wake what completed (borrows released first), then remote messages, timers.
        let mut woken = std::mem::take(&mut *self.woken.borrow_mut());
        for waker in woken.drain(..) {
            waker.wake();
        }
        *self.woken.borrow_mut() = woken;
        self.drain_remote();
        self.fire_timers();

        // 4. Run the snapshot.
        let budget = self.sched.ready_len().min(ITERATION_BUDGET);
        self.ran.set(budget);
        for _ in 0..budget {
            match self.sched.pop() {
                Some(Popped::Main) => {
                    let waker = self.sched.main_waker();
                    main(&mut Context::from_waker(&waker));
                }
                Some(Popped::Node(node)) => {
                    if let Some(report) = node.run(&self.sched) {
                        self.report(report);
                    }
                }
                None => break,
            }
        }
    }

    /// A turn failed. `EINTR`, `EAGAIN` and `EBUSY` mean nothing happened: the
    /// iteration goes on (timers, ready work) and the next one turns again. `ENOMEM` is
    /// retried the same way after a back-off. Anything else, or a transient error that
    /// persists, is a broken driver: a panic naming the backend.
    fn turn_failed(&self, e: &io::Error, backend: Backend) {
        let failures = self.turn_failures.get() + 1;
        self.turn_failures.set(failures);
        match e.raw_os_error() {
            Some(libc::EINTR | libc::EAGAIN | libc::EBUSY) if failures < TURN_RETRIES => {}
            Some(libc::ENOMEM) if failures < TURN_ENOMEM_RETRIES => {
                std::thread::sleep(turn_backoff(failures));
            }
            Some(libc::EINTR | libc::EAGAIN | libc::EBUSY | libc::ENOMEM) => panic!(
                "ringloop: the {backend:?} driver failed {failures} times in a row, last with: {e}"
            ),
            _ => panic!("ringloop: the {backend:?} driver failed: {e}"),
        }
    }

    fn fire_timers(&self) {
        let mut expired = std::mem::take(&mut *self.expired.borrow_mut());
        self.timers.take_expired(&mut expired);
        for target in expired.drain(..) {
            match target {
                TimerTarget::Wake(waker) => waker.wake(),
                TimerTarget::Call(node) => self.sched.schedule(node),
            }
        }
        *self.expired.borrow_mut() = expired;
    }

    /// Closes the loop: every task's future is dropped, every queued callback and timer
    /// is released, in-flight operations are cancelled and drained, the ring is closed.
    ///
    /// Other threads are shut out first: from the first line on, `Remote` calls are
    /// refused (`Closed`), so a backlog of remote calls cannot grow while it is dropped.
    /// Every destructor of something the user handed over (futures, closures, wakers,
    /// results, the exception handler) runs contained: its panic is reported to the
    /// exception handler (as `DestructorPanicked`, or as the task's failure) or, once no
    /// handler is left, logged; the close always finishes.
    fn close(&self) {
        if self.closed.replace(true) {
            return;
        }
        self.timers.close();
        self.io.start_close();
        self.shared().close();
        let mut reports = Vec::new();
        // Dropping futures, callbacks and wakers can spawn, schedule, arm timers or drop
        // task handles (whose unobserved failures arrive as remote reports), so release
        // everything in rounds until a round finds nothing left. Bounded, in case
        // destructors keep producing work forever.
        for _ in 0..1000 {
            self.sched.shutdown_all(&mut reports);
            let mut targets = Vec::new();
            self.timers.drain(&mut targets);
            let mut released = !targets.is_empty();
            for target in targets {
                match target {
                    // The closure goes now, even while a `CallbackHandle` keeps the node.
                    TimerTarget::Call(node) => reports.extend(node.discard()),
                    TimerTarget::Wake(waker) => reports.extend(contained_drop(waker)),
                }
            }
            // A snapshot, as in `drain_remote`: wakers still used on other threads must
            // not keep the close going. Calls and stops (queued before the close) are
            // dropped unrun and need no further round; whatever dropping them causes
            // here (a wake) arrives as a message or a scheduled node of its own.
            for _ in 0..self.shared().queued() {
                let Some(msg) = self.shared().pop() else {
                    break;
                };
                match self.sched.apply_remote(msg) {
                    Some(RemoteMsg::Report(report)) => {
                        released = true;
                        reports.push(report);
                    }
                    None => released = true,
                    Some(other) => reports.extend(contained_drop(other)),
                }
            }
            while let Some(popped) = self.sched.pop() {
                released = true;
                if let Popped::Node(node) = popped {
                    reports.extend(node.discard());
                }
            }
            if !released && self.sched.live_tasks() == 0 {
                break;
            }
        }
        // From here on, wakes and reports from anywhere are refused too.
        self.shared().seal();
        while let Some(msg) = self.shared().pop() {
            match self.sched.apply_remote(msg) {
                Some(RemoteMsg::Report(report)) => reports.push(report),
                Some(other) => reports.extend(contained_drop(other)),
                None => {}
            }
        }
        self.sched.discard_ready(&mut reports);
        let driver = self.io.take();
        if let Some(mut driver) = driver {
            match catch(|| driver.shutdown()) {
                Ok(drained) => self.io.set_drained(drained),
                Err(payload) => {
                    // A buffer's destructor panicked mid-drain: the kernel may still own
                    // memory of operations not drained yet, so nothing of the driver is
                    // freed (operations still held leak too; see `Op`).
                    self.io.set_drained(false);
                    log_drop_panic("a buffer held by the closing driver", &*payload);
                    std::mem::forget(driver);
                }
            }
        }
        for report in reports {
            self.report(report);
        }
        let handler = self.handler.borrow_mut().take();
        drop_handler(handler);
    }
}

/// Drops `value`, turning a panic in its destructor into a report.
fn contained_drop<T>(value: T) -> Option<ExceptionContext> {
    catch(move || drop(value))
        .err()
        .map(|payload| ExceptionContext::new(ExceptionKind::DestructorPanicked, payload))
}

/// Drops an exception handler that is going away; a panic in its destructor is logged
/// (there is no handler to tell).
fn drop_handler(handler: Option<ExceptionHandler>) {
    if let Some(handler) = handler
        && let Err(payload) = catch(move || drop(handler))
    {
        log_drop_panic("an exception handler", &*payload);
    }
}

/// How long to wait before turning again after the `failures`-th failed turn in a row:
/// 1 ms, doubling, at most 100 ms.
fn turn_backoff(failures: u32) -> Duration {
    let ms = 1u64 << failures.saturating_sub(1).min(7);
    Duration::from_millis(ms.min(100))
}

/// `RINGLOOP_TRY_FIRST`: `0`, `false`, `off` or `no` turn try-first I/O off; anything
/// else (or nothing) leaves it on.
fn try_first_from_env() -> bool {
    match std::env::var("RINGLOOP_TRY_FIRST") {
        Ok(v) => !matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "0" | "false" | "off" | "no"
        ),
        Err(_) => true,
    }
}

/// Counters describing what a loop has done. See [`EventLoop::stats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Loop iterations run.
    pub iterations: u64,
    /// Tasks spawned.
    pub tasks_spawned: u64,
    /// Task polls (a task's future polled once counts one).
    pub tasks_polled: u64,
    /// Tasks whose future is still alive.
    pub tasks_live: usize,
    /// Timers pending (sleeps, timeouts, `call_later`).
    pub timers_pending: usize,
    /// `io_uring_enter` calls made.
    pub io_uring_enters: u64,
    /// SQEs the kernel accepted, over all enters.
    pub sqes_submitted: u64,
    /// I/O operations submitted and not yet completed, including ones whose future was
    /// dropped (still cancelling) and the closes of dropped sockets, which complete in
    /// the loop's next iteration.
    pub ops_in_flight: usize,
    /// Operations whose future is gone but whose memory is held until the kernel is done.
    pub buffers_held: usize,
    /// Completions whose token was unknown, stale or duplicated (counted and ignored).
    pub stray_completions: u64,
    /// Accepts submitted: accept SQEs, single-shot or multishot (io_uring), or accept(2)
    /// attempts (epoll). A multishot accept counts once however many connections it
    /// delivers.
    pub accepts_submitted: u64,
}

/// Builds an [`EventLoop`] with non-default settings.
#[derive(Clone, Debug)]
pub struct Builder {
    backend: Backend,
    ring_entries: u32,
    force_timeout_sqe: bool,
    fault: Option<(u64, FaultPlan)>,
    eager_tasks: bool,
    try_first_io: Option<bool>,
    recv_buffers: u16,
    recv_buffer_size: u32,
    remote_queue_limit: usize,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            backend: Backend::Auto,
            ring_entries: 256,
            force_timeout_sqe: false,
            fault: None,
            eager_tasks: false,
            try_first_io: None,
            recv_buffers: 256,
            recv_buffer_size: 16 * 1024,
            remote_queue_limit: usize::MAX,
        }
    }
}

impl Builder {
    /// Which I/O backend to use (default [`Backend::Auto`]).
    pub fn backend(&mut self, backend: Backend) -> &mut Self {
        self.backend = backend;
        self
    }

    /// Submission queue entries of the io_uring ring (default 256; the kernel rounds up
    /// to a power of two, and more than 32768, the kernel's most, is taken as 32768). A
    /// full queue is submitted and refilled, never an error.
    pub fn ring_entries(&mut self, entries: u32) -> &mut Self {
        self.ring_entries = entries;
        self
    }

    /// Makes every spawn eager (default off): [`EventLoop::spawn`] and
    /// [`spawn`](crate::spawn) behave like [`EventLoop::spawn_eager`], as with Python
    /// 3.12's `loop.set_task_factory(asyncio.eager_task_factory)`.
    pub fn eager_tasks(&mut self, on: bool) -> &mut Self {
        self.eager_tasks = on;
        self
    }

    /// Whether stream reads and writes try the nonblocking syscall on their first poll,
    /// before submitting to the driver, when the socket was ready lately (default on,
    /// off under fault injection; when not set here, env `RINGLOOP_TRY_FIRST=0` turns it
    /// off, for comparisons).
    ///
    /// A read or write that finds the socket ready completes within that first poll,
    /// with exactly the result a submitted operation would give; one that finds it not
    /// ready is submitted as usual, and the socket's next few operations skip the try
    /// (adaptive, per socket and direction, backing off to one try in 17). At most 16
    /// operations per socket and direction complete this way per loop iteration, so a
    /// task reading a socket that always has data still suspends regularly.
    pub fn try_first_io(&mut self, on: bool) -> &mut Self {
        self.try_first_io = Some(on);
        self
    }

    /// Bounds waits with a timeout SQE instead of `IORING_ENTER_EXT_ARG`, as on kernels
    /// older than 5.11. For tests of that path.
    #[doc(hidden)]
    pub fn force_timeout_sqe(&mut self, on: bool) -> &mut Self {
        self.force_timeout_sqe = on;
        self
    }

    /// Runs the loop on a fault-injecting wrapper around the chosen backend, which
    /// perturbs what the loop sees as `plan` says, with decisions drawn from a PRNG
    /// seeded with `seed`. For tests of the loop's failure paths.
    #[doc(hidden)]
    pub fn fault_injection(&mut self, seed: u64, plan: FaultPlan) -> &mut Self {
        self.fault = Some((seed, plan));
        self
    }

    /// The provided buffers that [`net::serve`](crate::net::serve) receives into on
    /// io_uring (multishot receive): `count` buffers (rounded up to a power of two, at
    /// most 32768) of `size` bytes each (default 256 × 16 KiB, allocated on first use).
    /// A connection that finds them all in use waits until some are returned, which
    /// happens as soon as `data_received` returns; no data is lost.
    ///
    /// All of them together may take at most 1 GiB: [`build`](Builder::build) refuses
    /// more with an `InvalidInput` error. Where the memory cannot be had when the
    /// server first needs it, the server reads on readiness instead.
    pub fn recv_buffers(&mut self, count: u16, size: u32) -> &mut Self {
        self.recv_buffers = count.max(1).checked_next_power_of_two().unwrap_or(32768);
        self.recv_buffer_size = size.max(1);
        self
    }

    /// Bounds the queue through which other threads reach the loop (default: unbounded,
    /// as asyncio's `call_soon_threadsafe`). With a limit of `n` (at least 1; 0 counts as
    /// 1), [`Remote::try_call_soon_threadsafe`] refuses a call with
    /// [`TrySendError::Full`], handing the closure back, while `n` messages are waiting
    /// for the loop to take them. Every message counts toward the depth: calls from
    /// either method, stops, and wakes of the loop's tasks from other threads (at most
    /// one waits per task).
    ///
    /// [`Remote::call_soon_threadsafe`] is not bounded by the limit (it cannot report a
    /// full queue): it always queues. Senders that must not outrun the loop use the
    /// `try_` method and apply back-pressure on `Full`: wait (sleep, or block on a
    /// signal from a callback the loop runs) and send the same closure again, or shed
    /// the work.
    ///
    /// The loop takes at most [`ITERATION_BUDGET`] messages per iteration out of the
    /// queue, so the memory held for other threads stays within about `n` closures plus
    /// one budget of callbacks about to run.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use ringloop::{EventLoop, TrySendError};
    ///
    /// let lp = EventLoop::builder().remote_queue_limit(2).build()?;
    /// let remote = lp.remote();
    /// let ran = Arc::new(AtomicUsize::new(0));
    /// for _ in 0..2 {
    ///     let ran = ran.clone();
    ///     remote.try_call_soon_threadsafe(move || { ran.fetch_add(1, Ordering::SeqCst); })
    ///         .expect("room for two");
    /// }
    /// let third = {
    ///     let ran = ran.clone();
    ///     move || { ran.fetch_add(1, Ordering::SeqCst); }
    /// };
    /// let third = match remote.try_call_soon_threadsafe(third) {
    ///     Err(TrySendError::Full(f)) => f, // the closure comes back: try again later
    ///     other => panic!("expected a full queue, got {other:?}"),
    /// };
    /// lp.run_until_complete(ringloop::yield_now()); // the loop takes both
    /// assert_eq!(ran.load(Ordering::SeqCst), 2);
    /// remote.try_call_soon_threadsafe(third).expect("room again");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn remote_queue_limit(&mut self, n: usize) -> &mut Self {
        self.remote_queue_limit = n.max(1);
        self
    }

    /// Builds the loop.
    ///
    /// # Errors
    ///
    /// When the backend cannot be set up here (io_uring disabled, out of memory, a bad
    /// `RINGLOOP_BACKEND` value), or a setting is out of range ([`recv_buffers`]), as
    /// an [`io::Error`].
    ///
    /// [`recv_buffers`]: Builder::recv_buffers
    pub fn build(&self) -> io::Result<EventLoop> {
        let recv_bytes = u64::from(self.recv_buffers) * u64::from(self.recv_buffer_size);
        if recv_bytes > driver::MAX_RECV_BUFFER_BYTES {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "Builder::recv_buffers({}, {}) asks for {recv_bytes} bytes of receive \
                     buffers; at most {} (1 GiB) are allowed",
                    self.recv_buffers,
                    self.recv_buffer_size,
                    driver::MAX_RECV_BUFFER_BYTES
                ),
            ));
        }
        let shared = Arc::new(Shared::new(self.remote_queue_limit)?);
        let config = DriverConfig {
            ring_entries: self.ring_entries,
            force_timeout_sqe: self.force_timeout_sqe,
            recv_buffers: self.recv_buffers,
            recv_buffer_size: self.recv_buffer_size,
        };
        let mut driver = driver::build(self.backend, config, shared.wake_fd())?;
        if let Some((seed, plan)) = &self.fault {
            driver = Box::new(FaultDriver::wrap(driver, *seed, plan.clone())?);
        }
        let sched = Rc::new(Scheduler::new(shared));
        // Under fault injection every operation goes through the (faulty) driver, unless
        // try-first was asked for explicitly.
        let try_first = self
            .try_first_io
            .unwrap_or_else(|| self.fault.is_none() && try_first_from_env());
        let core = Core {
            timers: Rc::new(Timers::new(sched.id())),
            backend: driver.backend(),
            io: Rc::new(DriverHandle::new(driver, try_first, sched.id())),
            sched,
            woken: RefCell::new(Vec::new()),
            expired: RefCell::new(Vec::new()),
            running: Cell::new(false),
            stopping: Cell::new(false),
            closed: Cell::new(false),
            turn_failures: Cell::new(0),
            ran: Cell::new(0),
            handler: RefCell::new(None),
            eager: self.eager_tasks,
        };
        Ok(EventLoop {
            core: Rc::new(core),
        })
    }
}

/// An event loop: tasks, callbacks, timers and I/O on one thread.
///
/// Dropping it closes it: every task's future is dropped, queued callbacks and timers
/// are released, in-flight operations are cancelled and drained, and the ring is closed.
pub struct EventLoop {
    core: Rc<Core>,
}

/// Resets `running` (and the thread's current loop) even if a task's panic unwinds
/// through `run_until_complete`.
struct Running<'a> {
    core: &'a Core,
    _enter: crate::context::Enter,
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
    /// # Errors
    ///
    /// See [`Builder::build`].
    pub fn new() -> io::Result<EventLoop> {
        Builder::default().build()
    }

    /// A builder for a loop with non-default settings.
    pub fn builder() -> Builder {
        Builder::default()
    }

    fn enter(&self) -> Running<'_> {
        let enter = crate::context::enter(&self.core);
        self.core.running.set(true);
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
    pub fn stop(&self) {
        self.core.stopping.set(true);
    }

    /// Whether the loop is running (inside `run_until_complete` or `run_forever`).
    pub fn is_running(&self) -> bool {
        self.core.running.get()
    }

    /// Spawns `future` as a task (asyncio's `create_task`). It first runs in the next
    /// iteration, after everything already scheduled.
    ///
    /// On a loop built with [`Builder::eager_tasks`]`(true)`, this is
    /// [`spawn_eager`](Self::spawn_eager).
    pub fn spawn<F>(&self, future: F) -> Task<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.core.spawn(future, self.core.eager)
    }

    /// Spawns `future` and runs it at once, up to its first suspension (Python 3.12's
    /// eager task factory). A task that finishes without suspending is never queued:
    /// when this returns it is done, and awaiting the handle is immediately ready. When
    /// it finished with a value and nothing else refers to it, its allocation is freed
    /// at once and the handle holds the value itself (the cheap path: about half the
    /// cost of a plain spawn).
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
    /// [`TaskError::Panicked`]: crate::TaskError::Panicked
    pub fn spawn_eager<F>(&self, future: F) -> Task<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.core.spawn(future, true)
    }

    /// Schedules `f` to run in the next iteration, after everything already scheduled.
    pub fn call_soon(&self, f: impl FnOnce() + 'static) -> CallbackHandle {
        call_soon_on(&self.core, f)
    }

    /// Schedules `f` to run once `delay` has passed.
    pub fn call_later(&self, delay: Duration, f: impl FnOnce() + 'static) -> CallbackHandle {
        let deadline = self.core.timers.deadline_after(delay);
        call_at_ns(&self.core, deadline, f)
    }

    /// Schedules `f` to run at `when` (on the loop's clock, [`time`](Self::time)).
    pub fn call_at(&self, when: Instant, f: impl FnOnce() + 'static) -> CallbackHandle {
        let deadline = self.core.timers.deadline_at(when);
        call_at_ns(&self.core, deadline, f)
    }

    /// The loop's clock: monotonic, the one timers use.
    pub fn time(&self) -> Instant {
        Instant::now()
    }

    /// A handle for other threads.
    pub fn remote(&self) -> Remote {
        Remote::new(self.core.shared().clone())
    }

    /// The backend this loop runs on.
    pub fn backend(&self) -> Backend {
        self.core.backend
    }

    /// A line describing the backend and the kernel features it uses.
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

    /// What the loop has done so far.
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

pub(crate) fn call_soon_on(core: &Rc<Core>, f: impl FnOnce() + 'static) -> CallbackHandle {
    let node = callback::allocate(f, 1);
    let handle = CallbackRef::new(node.clone());
    core.sched.schedule(node);
    CallbackHandle {
        callback: handle,
        timer: None,
    }
}

fn call_at_ns(core: &Rc<Core>, deadline: u64, f: impl FnOnce() + 'static) -> CallbackHandle {
    let node = callback::allocate(f, 1);
    let handle = CallbackRef::new(node.clone());
    let key = core.timers.insert(deadline, TimerTarget::Call(node));
    CallbackHandle {
        callback: handle,
        timer: Some((core.timers.clone(), key)),
    }
}

/// A scheduled callback; [`cancel`](CallbackHandle::cancel) stops it from running.
///
/// Dropping the handle does not cancel the callback.
pub struct CallbackHandle {
    callback: CallbackRef,
    timer: Option<(Rc<Timers>, TimerKey)>,
}

impl CallbackHandle {
    /// Cancels the callback if it has not run yet: its closure is dropped now, and a
    /// timer's entry leaves the timer queue at once. Returns whether this call cancelled
    /// it.
    pub fn cancel(&self) -> bool {
        let cancelled = self.callback.cancel();
        if let Some((timers, key)) = &self.timer {
            timers.remove(*key);
        }
        cancelled
    }

    /// Whether the callback was cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.callback.is_cancelled()
    }
}

impl fmt::Debug for CallbackHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallbackHandle")
            .field("callback", &self.callback)
            .field("timer", &self.timer.as_ref().map(|(_, key)| key))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turn_backoff_doubles_from_one_millisecond_to_a_tenth_of_a_second() {
        let waits: Vec<u64> = (1..=10)
            .map(|n| turn_backoff(n).as_millis() as u64)
            .collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64, 100, 100, 100]);
        let total: Duration = (1..TURN_ENOMEM_RETRIES).map(turn_backoff).sum();
        assert!(total < Duration::from_secs(2), "{total:?}");
    }
}
