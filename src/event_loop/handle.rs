//! Callbacks scheduled with `call_soon`, `call_later` and `call_at`, and the handle that
//! cancels them.

#![forbid(unsafe_code)]

use std::fmt;
use std::rc::Rc;

use crate::task::callback::{self, CallbackRef};
use crate::time::TimerTarget;
use crate::time::queue::TimerKey;
use crate::time::timers::Timers;

use super::core::Core;

pub(crate) fn call_soon_on(core: &Rc<Core>, f: impl FnOnce() + 'static) -> CallbackHandle {
    let node = callback::allocate(f, 1);
    let handle = CallbackRef::new(node.clone());
    if core.shared().is_sealed() {
        // A closed loop runs nothing new: the closure is dropped now, not held.
        core.discard_sealed(node);
    } else {
        core.sched.schedule(node);
    }
    CallbackHandle {
        callback: handle,
        timer: None,
    }
}

pub(crate) fn call_at_ns(
    core: &Rc<Core>,
    deadline: u64,
    f: impl FnOnce() + 'static,
) -> CallbackHandle {
    let node = callback::allocate(f, 1);
    let handle = CallbackRef::new(node.clone());
    if core.timers.is_closed() {
        // A closed (or closing) loop fires no timer: the closure is dropped now.
        core.discard_sealed(node);
        return CallbackHandle {
            callback: handle,
            timer: None,
        };
    }
    let key = core.timers.insert(deadline, TimerTarget::Call(node));
    CallbackHandle {
        callback: handle,
        timer: Some((core.timers.clone(), key)),
    }
}

/// A scheduled callback; [`cancel`](CallbackHandle::cancel) stops it from running.
///
/// Dropping the handle does not cancel the callback.
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
///
/// let ran = Rc::new(Cell::new(false));
/// let r = ran.clone();
/// ringloop::run(async move {
///     drop(ringloop::call_soon(move || r.set(true))); // still scheduled
///     let handle = ringloop::call_soon(|| unreachable!("cancelled before it ran"));
///     assert!(handle.cancel());
///     ringloop::yield_now().await;
/// });
/// assert!(ran.get());
/// ```
pub struct CallbackHandle {
    callback: CallbackRef,
    timer: Option<(Rc<Timers>, TimerKey)>,
}

impl CallbackHandle {
    /// Cancels the callback if it has not run yet: its closure is dropped now, and a
    /// timer's entry leaves the timer queue at once. Returns whether this call cancelled
    /// it.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// ringloop::run(async {
    ///     let handle = ringloop::call_later(Duration::from_secs(60), || unreachable!());
    ///     assert!(handle.cancel()); // this call cancelled it
    ///     assert!(!handle.cancel()); // nothing left to cancel
    /// });
    /// ```
    pub fn cancel(&self) -> bool {
        let cancelled = self.callback.cancel();
        if let Some((timers, key)) = &self.timer {
            timers.remove(*key);
        }
        cancelled
    }

    /// Whether the callback was cancelled.
    ///
    /// ```
    /// ringloop::run(async {
    ///     let handle = ringloop::call_soon(|| {});
    ///     assert!(!handle.is_cancelled());
    ///     handle.cancel();
    ///     assert!(handle.is_cancelled());
    /// });
    /// ```
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
