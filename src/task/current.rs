//! The scheduler of the loop running on this thread, as the task layer sees it.
//!
//! While a loop runs (`run_until_complete`, `run_forever`), this thread-local holds its
//! scheduler, so a waker can tell a same-thread wake (the fast path) from any other,
//! and a task handle can tell whether its own loop is the one polling it. The loop sets
//! it through [`enter`]; nothing here knows the loop itself. A thread runs at most one
//! loop at a time.
//!
//! The running scheduler's [`Scheduler::id`] is kept apart as a plain integer: the
//! ownership checks on every poll of a task handle, a sleep or a socket operation
//! compare against it, one load each.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use super::scheduler::Scheduler;

thread_local! {
    static SCHEDULER: RefCell<Option<Rc<Scheduler>>> = const { RefCell::new(None) };
    /// The scheduler `SCHEDULER` holds, as a plain pointer (null when none): what every
    /// wake reads, one load, no borrow flag. Set and cleared with `SCHEDULER`'s `Rc`,
    /// which keeps it alive meanwhile. Const-initialized, without a destructor.
    static SCHEDULER_PTR: Cell<*const Scheduler> = const { Cell::new(std::ptr::null()) };
    /// The running scheduler's id, 0 when none. Const-initialized and without a
    /// destructor, so reading it is one load, never an allocation.
    static RUNNING_ID: Cell<usize> = const { Cell::new(0) };
}

/// Calls `f` with the running loop's scheduler, or `None` when no loop runs here.
pub(crate) fn with_scheduler<R>(f: impl FnOnce(Option<&Scheduler>) -> R) -> R {
    let ptr = SCHEDULER_PTR.with(Cell::get);
    // SAFETY: non-null only between `enter` and its guard's drop, while `SCHEDULER`'s
    // `Rc` keeps the scheduler alive (the guard nulls the pointer before it lets the
    // `Rc` go); the reference does not outlive this call.
    f(unsafe { ptr.as_ref() })
}

/// Whether the loop whose scheduler has id `id` is the one running on this thread.
/// Cheap enough for every poll: one thread-local load and a comparison.
pub(crate) fn is_running(id: usize) -> bool {
    RUNNING_ID.with(Cell::get) == id
}

/// The misuse of a `what` (a `Sleep`, a `Task`, a socket operation) polled where its
/// loop is not the one running: it would never be woken there (or, for a sleep whose
/// loop is gone, fire early), so it panics instead, like asyncio's "attached to a
/// different loop".
#[cold]
#[track_caller]
pub(crate) fn wrong_loop(what: &str) -> ! {
    let here = if RUNNING_ID.with(Cell::get) == 0 {
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

/// Marks a scheduler as this thread's running one until dropped (see [`enter`]).
pub(crate) struct Enter {
    _private: (),
}

/// Marks `sched` as the scheduler of the loop running on this thread. The caller (the
/// loop) has checked that no other loop runs here.
pub(crate) fn enter(sched: &Rc<Scheduler>) -> Enter {
    SCHEDULER.with(|current| *current.borrow_mut() = Some(sched.clone()));
    SCHEDULER_PTR.with(|p| p.set(Rc::as_ptr(sched)));
    RUNNING_ID.with(|id| id.set(sched.id()));
    sched.cache.enter();
    Enter { _private: () }
}

impl Drop for Enter {
    fn drop(&mut self) {
        RUNNING_ID.with(|id| id.set(0));
        SCHEDULER_PTR.with(|p| p.set(std::ptr::null()));
        super::cache::CellCache::exit();
        // Taken out before it drops: the scheduler's drop must not find itself here.
        let taken = SCHEDULER.try_with(|current| current.borrow_mut().take());
        drop(taken);
    }
}

impl std::fmt::Debug for Enter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("task::current::Enter")
    }
}
