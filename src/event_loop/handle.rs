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
    core.sched.schedule(node);
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
