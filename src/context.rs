//! The thread's running loop.
//!
//! While a loop runs (`run_until_complete`, `run_forever`), this thread-local points at
//! it, so free functions (`spawn`, `sleep`, `call_soon` through a waker) find their loop
//! and a waker can tell a same-thread wake (fast path) from any other. A thread runs at
//! most one loop at a time.

#![forbid(unsafe_code)]

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use crate::event_loop::Core;
use crate::task::scheduler::Scheduler;

thread_local! {
    static CURRENT: RefCell<Option<Rc<Core>>> = const { RefCell::new(None) };
    /// The running loop's [`Core::id`], 0 when none: what the ownership checks on every
    /// poll of a sleep, task handle or operation compare against. Const-initialized and
    /// without a destructor, so reading it is one load, never an allocation.
    static CURRENT_ID: Cell<usize> = const { Cell::new(0) };
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

/// Whether the loop with [`Core::id`] `id` is the one running on this thread. Cheap
/// enough for every poll: one thread-local load and a comparison.
pub(crate) fn is_running(id: usize) -> bool {
    CURRENT_ID.with(Cell::get) == id
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

/// The running loop, for `what`, a future that looks its loop up when first polled
/// (a sleep).
///
/// # Panics
///
/// With a message naming `what` when no loop runs on this thread: the future is
/// polled by something else (another executor, a hand-made poll).
pub(crate) fn polling_core(what: &str) -> Rc<Core> {
    try_current().unwrap_or_else(|| {
        panic!(
            "{what} was polled outside a running ringloop event loop: await it in code the \
             loop runs (inside ringloop::run(...), EventLoop::run_until_complete(...), or a \
             task spawned on the loop), not from another executor"
        )
    })
}

/// The misuse of a `what` (a `Sleep`, a `Task`, a socket operation) polled where its
/// loop is not the one running: it would never be woken there (or, for a sleep whose
/// loop is gone, fire early), so it panics instead, like asyncio's "attached to a
/// different loop".
#[cold]
#[track_caller]
pub(crate) fn wrong_loop(what: &str) -> ! {
    let here = if CURRENT_ID.with(Cell::get) == 0 {
        "outside any running ringloop loop (from another executor, or after its loop \
         stopped running)"
    } else {
        "on another event loop"
    };
    panic!(
        "ringloop: {what} was polled {here}; a Sleep, Task, or socket operation belongs to \
         the loop it was first polled on (a Task to the loop that spawned it, an operation \
         to the loop it was created in) and only that loop, while it runs, can complete \
         it: await it there, or create a new one on this loop"
    )
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
    CURRENT_ID.with(|id| id.set(core.id()));
    Enter { _private: () }
}

impl Drop for Enter {
    fn drop(&mut self) {
        CURRENT_ID.with(|id| id.set(0));
        let _ = CURRENT.try_with(|current| current.borrow_mut().take());
    }
}

impl std::fmt::Debug for Enter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Enter")
    }
}
