//! The thread's running loop.
//!
//! While a loop runs (`run_until_complete`, `run_forever`), this thread-local points at
//! it, so free functions (`spawn`, `call_soon`, socket operations) find their loop. The
//! layers below keep their own view of it (`task::current`), set from here. A thread
//! runs at most one loop at a time.

#![forbid(unsafe_code)]

use std::cell::RefCell;
use std::rc::Rc;

use crate::event_loop::Core;

thread_local! {
    static CURRENT: RefCell<Option<Rc<Core>>> = const { RefCell::new(None) };
}

/// The running loop, if any.
pub(crate) fn try_current() -> Option<Rc<Core>> {
    CURRENT.try_with(|c| c.borrow().clone()).ok().flatten()
}

/// The running loop, for `what`, a call that builds something tied to it (a task, a
/// callback, an operation).
///
/// # Panics
///
/// With a message naming `what` when no loop runs on this thread. The usual cause is
/// an argument of `run_until_complete` built before the loop starts
/// (`lp.run_until_complete(stream.read(buf))`): the message says how to build it inside.
/// (Some callers look the loop up when first polled instead; the message covers that
/// case too: polled by another executor.)
pub(crate) fn current_core(what: &str) -> Rc<Core> {
    try_current().unwrap_or_else(|| {
        panic!(
            "{what} needs a running ringloop event loop on this thread, and none is running. \
             If you passed it to run_until_complete directly (as in \
             `lp.run_until_complete(stream.read(buf))`), it was created before the loop \
             started running: create it inside the loop instead, e.g. \
             `lp.run_until_complete(async {{ stream.read(buf).await }})`. Otherwise call it \
             from code the loop runs: inside ringloop::run(...) or \
             EventLoop::run_until_complete(...), not from another executor"
        )
    })
}

/// The running loop's driver handle, for `what`, a call that builds an operation; see
/// [`current_core`].
pub(crate) fn current_io(what: &str) -> Rc<crate::driver::handle::DriverHandle> {
    current_core(what).io().clone()
}

/// Marks `core` as this thread's running loop until the guard drops.
pub(crate) struct Enter {
    _scheduler: crate::task::current::Enter,
    _timers: crate::time::current::Enter,
}

pub(crate) fn enter(core: &Rc<Core>) -> Enter {
    CURRENT.with(|current| {
        let mut current = current.borrow_mut();
        if let Some(running) = current.as_ref() {
            if Rc::ptr_eq(running, core) {
                panic!(
                    "this event loop is already running: await the future (or spawn it) from \
                     inside the loop instead of calling run_until_complete / run_forever again"
                );
            }
            panic!(
                "another ringloop event loop is already running on this thread: a thread runs \
                 one loop at a time (start the second loop on its own thread)"
            );
        }
        *current = Some(core.clone());
    });
    Enter {
        _scheduler: crate::task::current::enter(core.scheduler()),
        _timers: crate::time::current::enter(core.timers()),
    }
}

impl Drop for Enter {
    fn drop(&mut self) {
        let taken = CURRENT.try_with(|current| current.borrow_mut().take());
        drop(taken);
    }
}

impl std::fmt::Debug for Enter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Enter")
    }
}
