//! The loop's state and one iteration of the loop (see the module docs of `event_loop`).

#![forbid(unsafe_code)]

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Waker};
use std::time::{Duration, Instant};

use crate::driver::handle::DriverHandle;
use crate::driver::{Backend, Wait};
use crate::task::blocking::BlockingPool;
use crate::task::callback;
use crate::task::header::NodeRef;
use crate::task::raw::catch;
use crate::task::remote::{RemoteMsg, Shared, log_drop_panic};
use crate::task::scheduler::{Popped, Scheduler};
use crate::task::{ExceptionContext, ExceptionKind, Task, TaskError};
use crate::time::TimerTarget;
use crate::time::timers::Timers;

use super::ITERATION_BUDGET;
use super::drop_chain::DropChain;

/// Consecutive failed turns tolerated for `EINTR`, `EAGAIN` and `EBUSY` (retried at the
/// next iteration, as if nothing happened) before the loop gives up with a panic.
const TURN_RETRIES: u32 = 1000;

/// Consecutive failed turns tolerated for `ENOMEM`, each retried after a back-off of
/// 1 ms doubling to 100 ms (about 1.5 s in all), before the loop gives up with a panic.
const TURN_ENOMEM_RETRIES: u32 = 20;

/// How long a remote spin (`Builder::remote_spin`) polls before it starts yielding the
/// CPU between polls: an answer made on another CPU comes within it, and one that needs
/// this CPU waits no longer than that.
const YIELD_AFTER: Duration = Duration::from_micros(10);

/// How far ahead a burst of work on cold memory (fired timers, ready tasks) prefetches.
pub(crate) const PREFETCH_AHEAD: usize = 4;

/// At most `2^MAX_SPIN_BACKOFF - 1` remote spins are skipped after spins that ran out
/// without an answer (see [`SpinBackoff`]).
const MAX_SPIN_BACKOFF: u32 = 6;

/// Adaptive remote spinning: a spin that runs out without an answer says the answers
/// now take longer than the spin, and spinning for them only burns a CPU (or, on a
/// hyperthread, slows the sibling that makes the answer: a lone 1 MiB file write on the
/// pool took 130–195 µs with the loop spinning against 105–145 µs without, in scratch
/// runs here). After `n` such spins in a row the next `2^n - 1` are skipped (`n` at most
/// [`MAX_SPIN_BACKOFF`], so one spin in 64 probes whether answers are fast again); a
/// spin that gets its answer starts over.
#[derive(Debug, Default)]
pub(super) struct SpinBackoff {
    misses: Cell<u32>,
    skip: Cell<u32>,
}

impl SpinBackoff {
    /// Whether to spin this time (a skipped spin counts down the back-off).
    fn try_spin(&self) -> bool {
        match self.skip.get() {
            0 => true,
            n => {
                self.skip.set(n - 1);
                false
            }
        }
    }

    /// A spin got the answer in time (a `busy_poll` spin too, while remote spins were
    /// being skipped): spin for every wait again.
    fn answered(&self) {
        self.misses.set(0);
        self.skip.set(0);
    }

    /// The spin ran its full length without an answer.
    fn ran_out(&self) {
        let misses = (self.misses.get() + 1).min(MAX_SPIN_BACKOFF);
        self.misses.set(misses);
        self.skip.set((1 << misses) - 1);
    }
}

/// The user's exception handler.
type ExceptionHandler = Box<dyn FnMut(ExceptionContext)>;

/// The loop's state, shared (through `Rc`) with sleeps and callback handles.
pub(crate) struct Core {
    pub(super) sched: Rc<Scheduler>,
    pub(super) timers: Rc<Timers>,
    /// The blocking pool (`spawn_blocking`, name lookup).
    pub(super) blocking: BlockingPool,
    pub(super) io: Rc<DriverHandle>,
    pub(super) backend: Backend,
    /// Scratch space reused every iteration (no allocation in steady state).
    pub(super) woken: RefCell<Vec<Waker>>,
    pub(super) expired: RefCell<Vec<TimerTarget>>,
    pub(super) running: Cell<bool>,
    pub(super) stopping: Cell<bool>,
    pub(super) closed: Cell<bool>,
    pub(super) handler: RefCell<Option<ExceptionHandler>>,
    /// Driver turns that failed in a row.
    pub(super) turn_failures: Cell<u32>,
    /// Tasks and callbacks the last iteration ran (for `Driver::wants_poll`).
    pub(super) ran: Cell<usize>,
    /// Signal handlers and subscriptions, once any was made (`signals.rs`).
    pub(super) signals: RefCell<Option<Rc<super::signals::LoopSignals>>>,
    /// Debug mode (`Builder::slow_callback_duration`, `RINGLOOP_DEBUG`): a task step or
    /// callback that runs longer than this is logged. `None`: off, and free.
    pub(super) slow_callback: Option<Duration>,
    /// `Builder::busy_poll`: how long to poll the driver before blocking in it.
    pub(super) busy_poll: Duration,
    /// `Builder::remote_spin`: how long to poll before blocking when a `RemoteTask`
    /// awaited here is pending.
    pub(super) remote_spin: Duration,
    /// A `RemoteTask` that asked for a spin returned `Pending` here since the loop last
    /// spun for one.
    pub(super) awaiting_remote: Cell<bool>,
    /// Backs remote spins off while they run out without an answer.
    pub(super) spin_backoff: SpinBackoff,
    /// A spawn on the closed loop is dropping tasks (see `spawn`).
    pub(super) sealed_spawning: Cell<bool>,
    /// Callbacks scheduled on the closed loop, dropped in turn (see
    /// [`discard_sealed`](Self::discard_sealed)).
    pub(super) sealed_calls: DropChain<NodeRef>,
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
        if self.shared().is_sealed() {
            // A closed loop runs nothing new: the task resolves as cancelled at once and
            // its future is dropped here, not held until the loop's memory goes. A spawn
            // from that drop (a destructor spawning) only links its task: the outer
            // call's loop below drops it too, without recursing.
            let task = self.sched.spawn(future);
            if self.sealed_spawning.replace(true) {
                return task;
            }
            let mut reports = Vec::new();
            self.sched.shutdown_all(&mut reports);
            self.sched.discard_ready(&mut reports);
            self.sealed_spawning.set(false);
            for report in reports {
                crate::task::error::default_exception_handler(report);
            }
            task
        } else if eager && self.running.get() {
            self.sched.spawn_eager(future)
        } else {
            self.sched.spawn(future)
        }
    }

    /// Drops a callback scheduled on the closed loop (which runs nothing new). A
    /// destructor that schedules another one from that drop (a chain of them) only
    /// queues it: the outermost call drops them all in turn, without recursing.
    pub(crate) fn discard_sealed(&self, node: NodeRef) {
        // `discard` contains the closures' panics; their reports are made once the
        // chain is over.
        let mut reports = Vec::new();
        self.sealed_calls
            .run(node, |node| reports.extend(node.discard()));
        for report in reports {
            crate::task::error::default_exception_handler(report);
        }
    }

    /// A `RemoteTask` awaited on this loop is pending: the loop spins for its answer
    /// before it next blocks (`Builder::remote_spin`).
    pub(crate) fn expect_remote(&self) {
        self.awaiting_remote.set(true);
    }

    /// Whether the loop was built with [`Builder::eager_tasks`]`(true)`.
    pub(crate) fn eager_tasks(&self) -> bool {
        self.sched.eager()
    }

    /// Runs `f` on the blocking pool; a task resolving to its result (see
    /// [`crate::spawn_blocking`]).
    pub(crate) fn spawn_blocking<F, T>(&self, f: F) -> Task<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let (completer, mut result) = super::remote_task::channel::<T>(false);
        // Refused (the pool closed, or no thread could start): the job is dropped unrun,
        // and its completer answers `Cancelled`.
        let alone = self.blocking.execute_alone(move || {
            completer.complete(catch(f).map_err(TaskError::Panicked));
        });
        // The loop spins for a job's answer (`Builder::remote_spin`) only when it is the
        // pool's only job: with others queued or running, the pool's threads may need
        // every CPU, this one included.
        if alone == Some(true) {
            result.spin_once();
        }
        self.spawn(
            async move {
                match result.await {
                    Ok(value) => value,
                    // The job's own panic, as this task's.
                    Err(TaskError::Panicked(payload)) => std::panic::resume_unwind(payload),
                    Err(TaskError::Cancelled) => panic!(
                        "ringloop::spawn_blocking: the job never ran (the loop is closing, or \
                         no blocking thread could be started)"
                    ),
                }
            },
            false,
        )
    }

    /// The loop's driver handle: what operations and sinks hold.
    pub(crate) fn io(&self) -> &Rc<DriverHandle> {
        &self.io
    }

    pub(super) fn shared(&self) -> &Arc<Shared> {
        self.sched.shared()
    }

    /// The loop's timers.
    pub(crate) fn timers(&self) -> &Rc<Timers> {
        &self.timers
    }

    pub(super) fn report(&self, report: ExceptionContext) {
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

    /// `Builder::busy_poll`: before blocking for `wait`, polls the driver (and the
    /// remote queue) for up to the busy-poll time, never past `wait`. Returns the wait
    /// left: `Wait::Poll` once something arrived (it is then reaped by the iteration's
    /// own turn), else what remains of `wait`.
    /// `Builder::remote_spin` spins the same way, once per pending `RemoteTask`,
    /// yielding the CPU between polls after the first [`YIELD_AFTER`].
    fn busy_wait(&self, wait: Wait) -> Wait {
        if wait == Wait::Poll {
            return wait;
        }
        // A remote answer awaited: whatever spin runs (the remote one, or `busy_poll`
        // when this wait's remote spin is skipped) tells the back-off how it went.
        let awaiting = self.awaiting_remote.replace(false);
        let remote = if awaiting && self.spin_backoff.try_spin() {
            self.remote_spin
        } else {
            Duration::ZERO
        };
        let for_remote = remote > self.busy_poll;
        let spin = if for_remote { remote } else { self.busy_poll };
        if spin.is_zero() {
            return wait;
        }
        let limit = match wait {
            Wait::Timeout(d) => d.min(spin),
            _ => spin,
        };
        let start = Instant::now();
        loop {
            let turned = {
                let mut woken = self.woken.borrow_mut();
                let turned = self.io.with_driver(|d| d.turn(Wait::Poll, &mut woken));
                turned.map(|t| t.map(|()| !woken.is_empty()))
            };
            match turned {
                Some(Ok(false)) => {}
                Some(Ok(true)) => {
                    // Only the remote queue's notice is the answer; other I/O says
                    // nothing about how fast answers come.
                    if awaiting && self.shared().is_notified() {
                        self.spin_backoff.answered();
                    }
                    return Wait::Poll;
                }
                // Reported as a failed turn of the iteration's own would be (counted,
                // backed off, and fatal if it persists); what it woke is run next.
                Some(Err(e)) => {
                    self.turn_failed(&e, self.io.backend());
                    return Wait::Poll;
                }
                // The driver is gone: the iteration's own turn says so.
                None => return wait,
            }
            if self.shared().is_notified() || self.stopping.get() {
                if awaiting && self.shared().is_notified() {
                    self.spin_backoff.answered();
                }
                return Wait::Poll;
            }
            let spent = start.elapsed();
            if spent >= limit {
                // Cut short by a timer, the spin says nothing about the answer's speed.
                if for_remote && limit == spin {
                    self.spin_backoff.ran_out();
                }
                return match wait {
                    Wait::Timeout(d) => Wait::Timeout(d.saturating_sub(spent)),
                    other => other,
                };
            }
            if for_remote && spent >= YIELD_AFTER {
                // The answer may have to be made on this very CPU (the other loop's
                // thread is not pinned elsewhere): past a short pure spin, let it run.
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
    }

    /// One iteration. `main` polls `run_until_complete`'s future when its node comes up.
    pub(super) fn run_once(&self, main: &mut dyn FnMut(&mut Context<'_>)) {
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
                        let wake = self.timers.wake_time(deadline);
                        Wait::Timeout(Duration::from_nanos(wake - now))
                    }
                }
            }
        };

        // 1b. Busy polling (opt-in): poll the driver for a while before blocking.
        let wait = self.busy_wait(wait);

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
            let Some(popped) = self.sched.pop() else {
                break;
            };
            match self.slow_callback {
                None => self.run_node(popped, main),
                Some(threshold) => self.run_node_timed(popped, main, threshold),
            }
        }
    }

    /// Runs one popped node: polls the main future or runs a task step or a callback.
    #[inline]
    fn run_node(&self, popped: Popped, main: &mut dyn FnMut(&mut Context<'_>)) {
        match popped {
            Popped::Main => self.sched.run_main(main),
            Popped::Node(node) => {
                if let Some(report) = node.run(&self.sched) {
                    self.report(report);
                }
            }
        }
    }

    /// [`run_node`](Self::run_node) in debug mode: a step that holds the loop longer
    /// than `threshold` is logged with what ran (asyncio's "Executing <Task ...> took
    /// 0.150 seconds").
    #[cold]
    fn run_node_timed(
        &self,
        popped: Popped,
        main: &mut dyn FnMut(&mut Context<'_>),
        threshold: Duration,
    ) {
        // A reference of our own keeps the node alive for the report (the run may free
        // it); its name is read only when the step was slow.
        let node = match &popped {
            Popped::Main => None,
            Popped::Node(node) => Some(node.clone()),
        };
        let start = Instant::now();
        self.run_node(popped, main);
        let took = start.elapsed();
        if took > threshold {
            let what = match &node {
                Some(node) => node.describe(),
                None => self.sched.describe_main(),
            };
            log::warn!(
                "ringloop: executing {what} took {took:?}, longer than the slow callback \
                 duration of {threshold:?}: it held the event loop (blocking work belongs in \
                 spawn_blocking)"
            );
        }
        drop(node);
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
        let mut due = expired.drain(..);
        loop {
            // A burst of timers wakes tasks whose memory is cold: start loading the
            // one a few ahead while this one is woken.
            if let Some(ahead) = due.as_slice().get(PREFETCH_AHEAD) {
                ahead.prefetch();
            }
            let Some(target) = due.next() else { break };
            match target {
                TimerTarget::Wake(waker) => waker.wake(),
                TimerTarget::Call(node) => self.sched.schedule(node),
            }
        }
        drop(due);
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
    pub(super) fn close(&self) {
        if self.closed.replace(true) {
            return;
        }
        // Signals first: the process stops writing to this loop, and a signal whose last
        // listener this was gets its previous disposition back at once.
        super::signals::close(self);
        self.timers.close();
        self.io.start_close();
        self.shared().close();
        let mut reports = Vec::new();
        // Blocking jobs that never started are dropped here, on the loop's thread (their
        // tasks then hear `Cancelled`); running ones finish on their threads.
        for job in self.blocking.close() {
            reports.extend(contained_drop(job));
        }
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

    /// Spins that keep running out are backed off exponentially, up to one in 64; one
    /// answered in time restores spinning at once.
    #[test]
    fn remote_spins_back_off_while_they_run_out() {
        let backoff = SpinBackoff::default();
        let pattern = |runs: usize, answer: bool| -> Vec<bool> {
            let mut spun = Vec::new();
            for _ in 0..runs {
                let spin = backoff.try_spin();
                spun.push(spin);
                if spin {
                    if answer {
                        backoff.answered();
                    } else {
                        backoff.ran_out();
                    }
                }
            }
            spun
        };
        assert!(
            pattern(5, true).iter().all(|&s| s),
            "answered spins never back off"
        );
        // Run out: skip 1, then 3, then 7 ...
        let spun = pattern(1 + 1 + 1 + 3 + 1 + 7 + 1, false);
        let at: Vec<usize> = spun
            .iter()
            .enumerate()
            .filter(|(_, s)| **s)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(at, [0, 2, 6, 14]);
        // The skips stop growing at 63.
        for _ in 0..10 {
            pattern(1 << MAX_SPIN_BACKOFF, false);
        }
        let spun = pattern(64 * 3, false);
        assert_eq!(
            spun.iter().filter(|s| **s).count(),
            3,
            "one spin in 64 probes"
        );
        // A probe that is answered in time: spinning resumes for every wait.
        while !backoff.try_spin() {}
        backoff.answered();
        assert!(pattern(5, true).iter().all(|&s| s));
        // An answer caught while spins are being skipped (by a `busy_poll` spin) ends
        // the skipping too.
        pattern(3, false);
        assert!(!backoff.try_spin());
        backoff.answered();
        assert!(backoff.try_spin());
    }
}
