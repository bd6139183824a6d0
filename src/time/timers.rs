//! A loop's timers: its timer queue and its clock, shared (through `Rc`) by the loop,
//! which fires them, and the sleeps and callback handles that start and cancel them.
//!
//! # Ground rules
//!
//! - Used only on the loop's thread (`Rc`, `RefCell`).
//! - No borrow of the queue is held while user code runs or a waker is dropped: removed
//!   and expired targets leave the borrow before they are dropped or woken.
//! - Deadlines are nanoseconds since the loop was built, on the monotonic clock, and a
//!   timer never fires before its deadline.

use std::cell::{Cell, RefCell};
use std::task::Waker;
use std::time::{Duration, Instant};

use super::queue::{TimerKey, TimerQueue};
use super::{TimerTarget, duration_to_ns};

/// See the module docs.
pub(crate) struct Timers {
    queue: RefCell<TimerQueue<TimerTarget>>,
    base: Instant,
    /// The id of the loop these timers belong to (`task::current::is_running`).
    loop_id: usize,
    /// The wake-up grid's step in nanoseconds (`Builder::timer_slack`); 0: none.
    slack: u64,
    /// How many times expired timers were taken, and the clock reading of the last
    /// time: a timer started before that take with a deadline at or before that reading
    /// has fired (see [`has_fired`](Self::has_fired)).
    takes: Cell<u64>,
    taken_through: Cell<u64>,
    closed: Cell<bool>,
}

impl Timers {
    /// Timers for the loop with id `loop_id`, their clock starting now, woken for on a
    /// grid of step `slack`.
    pub(crate) fn new(loop_id: usize, slack: Duration) -> Timers {
        Timers {
            queue: RefCell::new(TimerQueue::new()),
            base: Instant::now(),
            loop_id,
            slack: duration_to_ns(slack),
            takes: Cell::new(0),
            taken_through: Cell::new(0),
            closed: Cell::new(false),
        }
    }

    /// When to wake for the earliest timer, due at `deadline`: the deadline rounded up
    /// to the slack grid, so the timers due within one step share one wake-up. Never
    /// before `deadline`.
    pub(crate) fn wake_time(&self, deadline: u64) -> u64 {
        match self.slack {
            0 => deadline,
            step => deadline.div_ceil(step).saturating_mul(step),
        }
    }

    /// The id of the loop these timers belong to.
    pub(crate) fn loop_id(&self) -> usize {
        self.loop_id
    }

    /// Nanoseconds since the clock started.
    pub(crate) fn now_ns(&self) -> u64 {
        duration_to_ns(self.base.elapsed())
    }

    /// The deadline `d` from now.
    pub(crate) fn deadline_after(&self, d: Duration) -> u64 {
        self.now_ns().saturating_add(duration_to_ns(d))
    }

    /// The deadline at `t` (now, if `t` has passed).
    pub(crate) fn deadline_at(&self, t: Instant) -> u64 {
        duration_to_ns(t.saturating_duration_since(self.base))
    }

    /// The number of takes so far, to note when a timer is started (see
    /// [`has_fired`](Self::has_fired)).
    pub(crate) fn takes(&self) -> u64 {
        self.takes.get()
    }

    /// Whether the timer due at `deadline`, started when [`takes`](Self::takes) was
    /// `takes_then`, has fired: a take happened since, and it took every timer due by
    /// then. Answers without touching the timer's entry (whose memory is cold by the
    /// time a fired sleep is polled); `false` means "maybe not", and the caller asks the
    /// queue.
    pub(crate) fn has_fired(&self, deadline: u64, takes_then: u64) -> bool {
        takes_then < self.takes.get() && deadline <= self.taken_through.get()
    }

    /// Starts a timer.
    ///
    /// # Panics
    ///
    /// Once the loop has closed: such a timer would never fire.
    pub(crate) fn insert(&self, deadline: u64, target: TimerTarget) -> TimerKey {
        if self.closed.get() {
            panic!("a timer was started on an event loop that has closed");
        }
        self.queue.borrow_mut().insert(deadline, target)
    }

    /// Refreshes a pending timer's waker; returns false when the timer already fired.
    pub(crate) fn update_waker(&self, key: TimerKey, waker: &Waker) -> bool {
        let mut queue = self.queue.borrow_mut();
        match queue.get_mut(key) {
            Some(TimerTarget::Wake(w)) => {
                if !w.will_wake(waker) {
                    *w = waker.clone();
                }
                true
            }
            Some(TimerTarget::Call(_)) => true,
            None => false,
        }
    }

    /// Cancels a timer (nothing if it already fired).
    pub(crate) fn remove(&self, key: TimerKey) {
        let removed = self.queue.borrow_mut().remove(key);
        // Dropped after the borrow ends: a waker's drop may free a task, whose drop may
        // touch timers again.
        drop(removed);
    }

    /// The earliest deadline pending.
    pub(crate) fn next_deadline(&self) -> Option<u64> {
        self.queue.borrow().next_deadline()
    }

    /// Timers pending.
    pub(crate) fn len(&self) -> usize {
        self.queue.borrow().len()
    }

    /// Moves every timer due now into `expired`, in firing order.
    pub(crate) fn take_expired(&self, expired: &mut Vec<TimerTarget>) {
        let mut queue = self.queue.borrow_mut();
        if queue.is_empty() {
            return;
        }
        let now = self.now_ns();
        while let Some(target) = queue.pop_expired(now) {
            expired.push(target);
        }
        self.takes.set(self.takes.get() + 1);
        self.taken_through.set(now);
    }

    /// Whether the loop is closing or closed (new timers are refused).
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.get()
    }

    /// Refuses new timers from now on (the loop is closing).
    pub(crate) fn close(&self) {
        self.closed.set(true);
    }

    /// Moves every pending timer into `out` (the loop is closing).
    pub(crate) fn drain(&self, out: &mut Vec<TimerTarget>) {
        self.queue.borrow_mut().drain(|t| out.push(t));
    }
}

impl std::fmt::Debug for Timers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Timers")
            .field("pending", &self.len())
            .field("closed", &self.closed.get())
            .finish()
    }
}
