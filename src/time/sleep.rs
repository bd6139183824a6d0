//! `sleep` and `sleep_until`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::TimerTarget;
use super::queue::TimerKey;
use super::timers::Timers;

/// Suspends the current task for at least `duration`, counted from the first poll.
///
/// `sleep(Duration::ZERO)` still suspends until the next iteration, and
/// `sleep(Duration::MAX)` sleeps forever without overflowing or spinning.
///
/// ```
/// use std::time::{Duration, Instant};
///
/// ringloop::run(async {
///     let start = Instant::now();
///     ringloop::sleep(Duration::from_millis(2)).await;
///     assert!(start.elapsed() >= Duration::from_millis(2)); // never early
/// });
/// ```
///
/// # Panics
///
/// When polled outside a running ringloop loop, or on a loop other than the one it
/// was first polled on.
pub fn sleep(duration: Duration) -> Sleep {
    Sleep {
        when: When::After(duration),
        registered: None,
    }
}

/// Suspends the current task until `deadline` (at once, in the next iteration, if it
/// has passed).
///
/// ```
/// use std::time::{Duration, Instant};
///
/// ringloop::run(async {
///     let deadline = Instant::now() + Duration::from_millis(2);
///     ringloop::sleep_until(deadline).await;
///     assert!(Instant::now() >= deadline);
/// });
/// ```
///
/// # Panics
///
/// When polled outside a running ringloop loop, or on a loop other than the one it
/// was first polled on.
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        when: When::At(deadline),
        registered: None,
    }
}

#[derive(Clone, Copy, Debug)]
enum When {
    After(Duration),
    At(Instant),
    Fired,
}

/// The future returned by [`sleep`] and [`sleep_until`].
///
/// A `Sleep` belongs to the loop it is first polled on (where its timer starts); polling
/// it on another loop, or outside any, panics (it would never fire there).
///
/// ```
/// use std::time::Duration;
/// use ringloop::Sleep;
///
/// ringloop::run(async {
///     // A Sleep is a plain future: store it, pass it on, race it.
///     let nap: Sleep = ringloop::sleep(Duration::from_secs(60));
///     assert!(ringloop::timeout(Duration::from_millis(1), nap).await.is_err());
/// });
/// ```
pub struct Sleep {
    when: When,
    registered: Option<Registered>,
}

/// A started timer: its queue, its key, its deadline and the queue's take count when it
/// started (`Timers::has_fired`).
struct Registered {
    timers: Rc<Timers>,
    key: TimerKey,
    deadline: u64,
    takes: u64,
}

impl Sleep {
    /// Whether the deadline has passed (the future resolved).
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// ringloop::run(async {
    ///     let mut nap = std::pin::pin!(ringloop::sleep(Duration::from_millis(1)));
    ///     assert!(!nap.is_elapsed());
    ///     nap.as_mut().await;
    ///     assert!(nap.is_elapsed());
    /// });
    /// ```
    pub fn is_elapsed(&self) -> bool {
        matches!(self.when, When::Fired)
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        if let Some(reg) = &this.registered {
            // Its timer is in its first loop's queue: polled anywhere else it would
            // never be woken, or, with that loop gone, look fired at once (early).
            if !crate::task::current::is_running(reg.timers.loop_id()) {
                crate::task::current::wrong_loop("this Sleep");
            }
            let fired = reg.timers.has_fired(reg.deadline, reg.takes)
                || !reg.timers.update_waker(reg.key, cx.waker());
            if !fired {
                return Poll::Pending;
            }
            this.registered = None;
            this.when = When::Fired;
            return Poll::Ready(());
        }
        if let When::Fired = this.when {
            return Poll::Ready(());
        }
        let timers = super::current::timers("sleep() / timeout()");
        let deadline = match this.when {
            When::After(d) => timers.deadline_after(d),
            When::At(t) => timers.deadline_at(t),
            When::Fired => return Poll::Ready(()),
        };
        let takes = timers.takes();
        let key = timers.insert(deadline, TimerTarget::Wake(cx.waker().clone()));
        this.registered = Some(Registered {
            timers,
            key,
            deadline,
            takes,
        });
        Poll::Pending
    }
}

impl Drop for Sleep {
    #[inline]
    fn drop(&mut self) {
        if let Some(reg) = self.registered.take() {
            reg.timers.remove(reg.key);
        }
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep")
            .field("when", &self.when)
            .field("registered", &self.registered.is_some())
            .finish()
    }
}
