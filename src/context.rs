//! The thread's running loop.
//!
//! While a loop runs (`run_until_complete`, `run_forever`), this thread-local points at
//! it, so free functions (`spawn`, `sleep`, `call_soon` through a waker) find their loop
//! and a waker can tell a same-thread wake (fast path) from any other. A thread runs at
//! most one loop at a time.

#![forbid(unsafe_code)]

use std::cell::RefCell;
use std::rc::Rc;

use crate::event_loop::Core;
use crate::task::scheduler::Scheduler;

thread_local! {
    static CURRENT: RefCell<Option<Rc<Core>>> = const { RefCell::new(None) };
}

/// Calls `f` with the running loop's scheduler, or `None` when no loop runs here.
pub(crate) fn with_scheduler<R>(f: impl FnOnce(Option<&Scheduler>) -> R) -> R {
    let mut f = Some(f);
    let ran = CURRENT.try_with(|current| {
        let current = current.borrow();
        let f = f.take().expect("called once");
        f(current.as_deref().map(Core::scheduler))
    });
    match ran {
        Ok(r) => r,
        // The thread is exiting and its locals are gone: no loop runs here.
        Err(_) => (f.take().expect("not called yet"))(None),
    }
}

/// The running loop, if any.
pub(crate) fn try_current() -> Option<Rc<Core>> {
    CURRENT.try_with(|c| c.borrow().clone()).ok().flatten()
}

/// The running loop.
///
/// # Panics
///
/// With a message naming `what` when no loop runs on this thread.
pub(crate) fn current_core(what: &str) -> Rc<Core> {
    try_current().unwrap_or_else(|| {
        panic!(
            "{what} needs a running ringloop event loop on this thread: call it from inside \
             ringloop::run(...) or EventLoop::run_until_complete(...)"
        )
    })
}

/// Marks `core` as this thread's running loop until the guard drops.
pub(crate) struct Enter {
    _private: (),
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
    Enter { _private: () }
}

impl Drop for Enter {
    fn drop(&mut self) {
        let _ = CURRENT.try_with(|current| current.borrow_mut().take());
    }
}

impl std::fmt::Debug for Enter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Enter")
    }
}
