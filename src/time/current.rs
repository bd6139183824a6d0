//! The timers of the loop running on this thread, as the time layer sees them: a
//! [`Sleep`](super::Sleep) that is polled for the first time starts its timer there.
//! The loop sets it through [`enter`]; nothing here knows the loop itself.

#![forbid(unsafe_code)]

use std::cell::RefCell;
use std::rc::Rc;

use super::timers::Timers;

thread_local! {
    static TIMERS: RefCell<Option<Rc<Timers>>> = const { RefCell::new(None) };
}

/// The running loop's timers, for `what`, a future polled for the first time.
///
/// # Panics
///
/// With a message naming `what` when no loop runs on this thread: the future is
/// polled by something else (another executor, a hand-made poll).
pub(crate) fn timers(what: &str) -> Rc<Timers> {
    TIMERS
        .try_with(|t| t.borrow().clone())
        .ok()
        .flatten()
        .unwrap_or_else(|| {
            panic!(
                "{what} was polled outside a running ringloop event loop: await it in code \
                 the loop runs (inside ringloop::run(...), EventLoop::run_until_complete(...), \
                 or a task spawned on the loop), not from another executor"
            )
        })
}

/// Marks timers as this thread's running ones until dropped (see [`enter`]).
pub(crate) struct Enter {
    _private: (),
}

/// Marks `timers` as the running loop's. The caller (the loop) has checked that no
/// other loop runs here.
pub(crate) fn enter(timers: &Rc<Timers>) -> Enter {
    TIMERS.with(|t| *t.borrow_mut() = Some(timers.clone()));
    Enter { _private: () }
}

impl Drop for Enter {
    fn drop(&mut self) {
        let taken = TIMERS.try_with(|t| t.borrow_mut().take());
        drop(taken);
    }
}

impl std::fmt::Debug for Enter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("time::current::Enter")
    }
}
