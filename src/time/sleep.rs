//! `sleep` and `sleep_until`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::TimerTarget;
use super::queue::TimerKey;
use crate::event_loop::Core;

/// Suspends the current task for at least `duration`, counted from the first poll.
///
/// `sleep(Duration::ZERO)` still suspends until the next iteration, and
/// `sleep(Duration::MAX)` sleeps forever without overflowing or spinning.
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
pub struct Sleep {
    when: When,
    registered: Option<(Rc<Core>, TimerKey)>,
}

impl Sleep {
    /// Whether the deadline has passed (the future resolved).
    pub fn is_elapsed(&self) -> bool {
        matches!(self.when, When::Fired)
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        if let Some((core, key)) = &this.registered {
            // Its timer is in its first loop's queue: polled anywhere else it would
            // never be woken, or, with that loop gone, look fired at once (early).
            if !crate::task::current::is_running(core.id()) {
                crate::task::current::wrong_loop("this Sleep");
            }
            if core.update_timer_waker(*key, cx.waker()) {
                return Poll::Pending;
            }
            this.registered = None;
            this.when = When::Fired;
            return Poll::Ready(());
        }
        if let When::Fired = this.when {
            return Poll::Ready(());
        }
        let core = crate::context::polling_core("sleep() / timeout()");
        let deadline = match this.when {
            When::After(d) => core.deadline_after(d),
            When::At(t) => core.deadline_at(t),
            When::Fired => return Poll::Ready(()),
        };
        let key = core.insert_timer(deadline, TimerTarget::Wake(cx.waker().clone()));
        this.registered = Some((core, key));
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some((core, key)) = self.registered.take() {
            core.remove_timer(key);
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
