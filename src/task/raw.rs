//! A task: one allocation holding header, result slot and future.
//!
//! ```text
//! TaskCell<T, F> (repr(C))
//! ├── TaskHeader         non-generic: Header, the loop's Shared, awaiter, list links,
//! │                      identity (id, name once set)
//! ├── OutputSlot<T>      the result and the done callbacks; a Task<T> reads only up to here
//! └── future: Option<F>  dropped as soon as the task completes or is cancelled
//! ```
//!
//! # References
//!
//! A live task is referenced by: the loop, from spawn until the future is gone (its
//! "ownership" reference, which also keeps it in the scheduler's task list); the ready
//! queue while `SCHEDULED`; its `Task<T>` handle while `HANDLE`; every waker; every
//! pending done-callback runner.
//!
//! # Ground rules
//!
//! The future, the result and the done callbacks are touched only on the loop thread.
//! When the last reference goes on another thread (a waker dropped there), the future
//! and the result are already gone: the future went when the task completed or the loop
//! closed, and the result went with the handle or at completion when there was none.

use std::alloc::Layout;
use std::cell::{Cell, UnsafeCell};
use std::future::Future;
use std::mem::ManuallyDrop;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::ptr::{self, NonNull};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::task::{Context, Poll, Waker};

use super::cache::CellCache;
use super::error::{ExceptionContext, ExceptionKind, TaskError};
use super::header::{Header, NodeRef, Vtable, keep_payload, release};
use super::ident::{Ident, TaskInfo, TaskState};
use super::remote::Shared;
use super::scheduler::Scheduler;
use super::state::State;

/// The non-generic part of every task (and of the loop's main node).
#[repr(C)]
pub(crate) struct TaskHeader {
    pub(crate) header: Header,
    /// The loop this task belongs to; wakes from elsewhere go through it.
    ///
    /// # Invariant
    ///
    /// Owns one strong count, released by the node's `dealloc`.
    pub(crate) shared: ManuallyDrop<Arc<Shared>>,
    /// The waker of whoever awaits the `Task<T>` handle.
    pub(crate) awaiter: Cell<Option<Waker>>,
    /// Done callbacks scheduled but not yet run; the handle waits for them.
    pub(crate) callbacks_pending: Cell<u32>,
    /// A `RemoteMsg::Wake` for this task is queued and not yet drained.
    pub(crate) remote_queued: AtomicBool,
    pub(crate) list_prev: Cell<Option<NonNull<TaskHeader>>>,
    pub(crate) list_next: Cell<Option<NonNull<TaskHeader>>>,
    /// The task's id and name (one word; see `ident.rs`). Loop thread only.
    pub(crate) ident: Ident,
}

impl TaskHeader {
    pub(crate) fn new(
        vtable: &'static Vtable,
        refs: u32,
        state: u32,
        shared: Arc<Shared>,
        ident: Ident,
    ) -> Self {
        TaskHeader {
            header: Header::new(vtable, refs, state),
            shared: ManuallyDrop::new(shared),
            awaiter: Cell::new(None),
            callbacks_pending: Cell::new(0),
            remote_queued: AtomicBool::new(false),
            list_prev: Cell::new(None),
            list_next: Cell::new(None),
            ident,
        }
    }

    /// A snapshot of the task's identity and state.
    pub(crate) fn info(&self) -> TaskInfo {
        let state = self.header.state();
        let state = if state.has(State::COMPLETE) {
            TaskState::Done
        } else if state.has(State::RUNNING) {
            TaskState::Running
        } else {
            TaskState::Pending
        };
        TaskInfo::new(&self.ident, state)
    }

    /// The task header of a node that is a task.
    ///
    /// # Safety
    ///
    /// `ptr` is a live node whose allocation starts with a `TaskHeader` (a task cell or
    /// the main node; wakers are only ever made for those).
    pub(crate) unsafe fn from_header<'a>(ptr: NonNull<Header>) -> &'a TaskHeader {
        // SAFETY: `TaskHeader` is repr(C) with `header` first, so the pointers coincide;
        // the caller guarantees the node is a live task.
        unsafe { ptr.cast::<TaskHeader>().as_ref() }
    }

    /// Wakes whoever awaits the handle. An `as_completed` waiting on the task is told
    /// which task finished (see `completion.rs`).
    pub(crate) fn wake_awaiter(&self) {
        if let Some(waker) = self.awaiter.take() {
            super::completion::wake(waker, self);
        }
    }
}

/// A done callback, boxed.
pub(crate) type DoneCallback<T> = Box<dyn FnOnce(&Result<T, TaskError>) + 'static>;

/// Where a task's result waits for its handle.
#[repr(C)]
pub(crate) struct OutputSlot<T> {
    pub(crate) result: UnsafeCell<Option<Result<T, TaskError>>>,
    /// Allocated on the first `add_done_callback`: most tasks have none. Boxed so that a
    /// task without callbacks pays one pointer, not a `Vec`'s three words.
    #[allow(clippy::box_collection)]
    pub(crate) done: UnsafeCell<Option<Box<Vec<DoneCallback<T>>>>>,
}

/// The prefix of a `TaskCell<T, F>` that does not depend on `F`: what a `Task<T>` sees.
#[repr(C)]
pub(crate) struct TaskPrefix<T> {
    pub(crate) task: TaskHeader,
    pub(crate) out: OutputSlot<T>,
}

#[repr(C)]
struct TaskCell<T, F> {
    prefix: TaskPrefix<T>,
    future: UnsafeCell<Option<F>>,
}

/// Allocates a task for `future`, scheduled, with `refs` = loop + queue + handle.
/// Returns the node pointer; the caller links it into the task list, pushes the queue's
/// reference and wraps the handle's.
pub(crate) fn allocate<F>(future: F, shared: Arc<Shared>, cache: &CellCache) -> NonNull<Header>
where
    F: Future + 'static,
    F::Output: 'static,
{
    allocate_with(future, shared, State::SCHEDULED | State::HANDLE, cache)
}

/// Allocates a task for `future` that is *not* scheduled, with `refs` = loop + run +
/// handle: the caller runs it at once (an eager spawn) with the run's reference, as if
/// it had just been popped from the ready queue.
pub(crate) fn allocate_eager<F>(
    future: F,
    shared: Arc<Shared>,
    cache: &CellCache,
) -> NonNull<Header>
where
    F: Future + 'static,
    F::Output: 'static,
{
    allocate_with(future, shared, State::HANDLE, cache)
}

fn allocate_with<F>(
    future: F,
    shared: Arc<Shared>,
    state: u32,
    cache: &CellCache,
) -> NonNull<Header>
where
    F: Future + 'static,
    F::Output: 'static,
{
    // Built in place, field by field, in memory from the loop's cache (see `cache.rs`):
    // a `Box::new(TaskCell { .. })` assembled the cell on the stack and copied it into
    // the heap with a `memcpy` on every spawn.
    let ptr = cache
        .alloc(TaskCell::<F::Output, F>::LAYOUT)
        .cast::<TaskCell<F::Output, F>>()
        .as_ptr();
    let header = TaskHeader::new(
        TaskCell::<F::Output, F>::VTABLE,
        3,
        state,
        shared,
        Ident::new(super::ident::next_id()),
    );
    // SAFETY: `ptr` is a fresh allocation big and aligned enough for one `TaskCell`
    // (its class layout); each of its three fields is written exactly once here,
    // through raw places (no reference to uninitialised memory is made).
    unsafe {
        (&raw mut (*ptr).prefix.task).write(header);
        (&raw mut (*ptr).prefix.out).write(OutputSlot::<F::Output> {
            result: UnsafeCell::new(None),
            done: UnsafeCell::new(None),
        });
        (&raw mut (*ptr).future).write(UnsafeCell::new(Some(future)));
    }
    // SAFETY: non-null (an allocation); every field was initialised just above.
    unsafe { NonNull::new_unchecked(ptr) }.cast::<Header>()
}

/// Runs `f`, turning a panic into its payload.
pub(crate) fn catch<R>(f: impl FnOnce() -> R) -> Result<R, Box<dyn std::any::Any + Send>> {
    catch_unwind(AssertUnwindSafe(f))
}

impl<T, F> TaskCell<T, F>
where
    F: Future<Output = T> + 'static,
    T: 'static,
{
    const LAYOUT: Layout = Layout::new::<Self>();

    const VTABLE: &'static Vtable = &Vtable {
        run: Self::run,
        discard: Self::discard,
        dealloc: Self::dealloc,
        shutdown: Self::shutdown,
        drop_payload: keep_payload,
        is_task: true,
        type_name: std::any::type_name::<F>,
    };

    /// # Safety
    ///
    /// `ptr` is a live `TaskCell<T, F>`.
    unsafe fn cell<'a>(ptr: NonNull<Header>) -> &'a Self {
        // SAFETY: the vtable that called us belongs to this cell type, and the caller
        // holds a reference that keeps it alive.
        unsafe { ptr.cast::<Self>().as_ref() }
    }

    unsafe fn run(ptr: NonNull<Header>, sched: &Scheduler) -> Option<ExceptionContext> {
        // SAFETY: we hold the queue's reference to this cell.
        let cell = unsafe { Self::cell(ptr) };
        let header = &cell.prefix.task.header;
        let state = header.state();
        header.clear(State::SCHEDULED);
        if state.has(State::COMPLETE) {
            // SAFETY: we release the queue's reference we own.
            unsafe { release(ptr, 1) };
            return None;
        }
        // Whether we still own the queue's reference (a waker clone made during the
        // poll may have taken it over; see `waker.rs`).
        let mut queue_ref = true;
        let outcome = if state.has(State::CANCEL_REQUESTED) {
            Err(TaskError::Cancelled)
        } else {
            sched.polled.set(sched.polled.get() + 1);
            header.set(State::RUNNING);
            // The waker borrows the queue's reference: it is never dropped, only cloned
            // (and the first clone may take that reference over).
            // SAFETY: `ptr` is a live task node, as `WAKER_VTABLE` requires.
            let waker = ManuallyDrop::new(unsafe { super::waker::waker_ref(ptr) });
            let mut cx = Context::from_waker(&waker);
            // SAFETY: the future is only touched on the loop thread, and not re-entrantly:
            // `RUNNING` is set, and nothing else polls or drops it while set.
            let slot = unsafe { &mut *cell.future.get() };
            let Some(future) = slot.as_mut() else {
                panic!("task polled with no future but not COMPLETE: {state:?}");
            };
            // SAFETY: the future lives in a heap cell that never moves, and it is dropped
            // in place, so it stays pinned.
            let future = unsafe { Pin::new_unchecked(future) };
            let prev = super::waker::begin_poll(ptr);
            let polled = catch(|| future.poll(&mut cx));
            queue_ref = super::waker::end_poll(ptr, prev);
            header.clear(State::RUNNING);
            match polled {
                Ok(Poll::Pending) => {
                    if queue_ref {
                        // SAFETY: we release the queue's reference we still own.
                        unsafe { release(ptr, 1) };
                    }
                    return None;
                }
                Ok(Poll::Ready(value)) => Ok(value),
                Err(payload) => Err(TaskError::Panicked(payload)),
            }
        };
        // SAFETY: the cell is alive (queue + loop references) and not completed yet.
        let report = unsafe { Self::complete(ptr, sched, outcome) };
        // SAFETY: we release the loop's ownership reference, and the queue's if it was
        // not lent. The loop's reference kept the cell alive until here even if the
        // queue's was lent.
        unsafe { release(ptr, 1 + u32::from(queue_ref)) };
        report
    }

    /// Drops the future and stores the result. The caller still holds the loop's
    /// ownership reference and releases it afterwards.
    ///
    /// # Safety
    ///
    /// `ptr` is a live `TaskCell<T, F>` that is not yet `COMPLETE`, on the loop thread.
    unsafe fn complete(
        ptr: NonNull<Header>,
        sched: &Scheduler,
        mut outcome: Result<T, TaskError>,
    ) -> Option<ExceptionContext> {
        // SAFETY: the caller guarantees a live cell.
        let cell = unsafe { Self::cell(ptr) };
        let task = &cell.prefix.task;
        let header = &task.header;
        // COMPLETE first: a wake while the future's destructor runs is then ignored.
        header.set(State::COMPLETE);
        // SAFETY: the task belongs to `sched` and is in its list until it completes.
        unsafe { sched.unlink(NonNull::from(task)) };
        // SAFETY: loop thread, not re-entrant (COMPLETE blocks any further poll).
        let dropped = catch(|| unsafe { *cell.future.get() = None });
        if let Err(payload) = dropped
            && !matches!(outcome, Err(TaskError::Panicked(_)))
        {
            outcome = Err(TaskError::Panicked(payload));
        }
        if matches!(outcome, Err(TaskError::Cancelled)) {
            header.set(State::CANCELLED);
        }
        // SAFETY: loop thread; nothing else holds a borrow of the slot.
        unsafe { *cell.prefix.out.result.get() = Some(outcome) };
        // SAFETY: as above.
        let callbacks = unsafe { (*cell.prefix.out.done.get()).take() };
        if let Some(callbacks) = callbacks {
            for callback in *callbacks {
                // SAFETY: `ptr` is a live `TaskPrefix<T>`.
                unsafe { schedule_done_callback::<T>(ptr, sched, callback) };
            }
            // The awaiter is woken by the last callback runner.
            return None;
        }
        task.wake_awaiter();
        // SAFETY: `ptr` is a live `TaskPrefix<T>` on the loop thread.
        unsafe { settle_unclaimed::<T>(ptr) }
    }

    unsafe fn shutdown(ptr: NonNull<Header>, sched: &Scheduler) -> Option<ExceptionContext> {
        // SAFETY: the scheduler holds the loop's ownership reference (the task is in its
        // list), which we consume below.
        let report = unsafe { Self::complete(ptr, sched, Err(TaskError::Cancelled)) };
        // SAFETY: releasing the loop's ownership reference.
        unsafe { release(ptr, 1) };
        report
    }

    unsafe fn discard(ptr: NonNull<Header>) -> Option<ExceptionContext> {
        // A task in the queue at close is already COMPLETE (close shuts every task down
        // first); the queue's reference is all there is to give back.
        // SAFETY: we own the queue's reference.
        let header = unsafe { ptr.as_ref() };
        header.clear(State::SCHEDULED);
        // SAFETY: as above.
        unsafe { release(ptr, 1) };
        None
    }

    unsafe fn dealloc(ptr: NonNull<Header>) {
        let cell = ptr.cast::<Self>().as_ptr();
        // SAFETY: the last reference is gone, so we own the cell; by the invariant on
        // `TaskHeader::shared`, the node owns its count: dropped once, here, after its
        // address is noted.
        let shared = unsafe { &mut (*cell).prefix.task.shared };
        let owner = Arc::as_ptr(shared).addr();
        // SAFETY: as above: taken once, here (the field is not touched again).
        super::cache::release_shared(unsafe { ManuallyDrop::take(shared) }, owner);
        // SAFETY: we own the cell; its memory is released below, with its owner's id.
        unsafe { Self::free_as(ptr, owner) };
    }

    /// Drops the cell's fields (not `shared`, a `ManuallyDrop`) and frees its memory.
    ///
    /// # Safety
    ///
    /// The caller owns the cell (no reference left); `owner` is the cell's scheduler
    /// id.
    unsafe fn free_as(ptr: NonNull<Header>, owner: usize) {
        // SAFETY: the caller owns the cell: its fields are dropped once, here.
        unsafe { ptr::drop_in_place(ptr.cast::<Self>().as_ptr()) };
        // SAFETY: allocated by `allocate_with` for this layout; the
        // fields are gone and nothing refers to the memory.
        unsafe { super::cache::free(ptr.cast(), Self::LAYOUT, owner) };
    }
}

/// Drops the result if nobody can claim it any more (no handle, no pending callbacks),
/// and reports a failure nobody saw.
///
/// # Safety
///
/// `ptr` is a live task whose result type is `T`, on the loop thread.
pub(crate) unsafe fn settle_unclaimed<T>(ptr: NonNull<Header>) -> Option<ExceptionContext> {
    // SAFETY: the caller guarantees a live `TaskPrefix<T>`.
    let prefix = unsafe { ptr.cast::<TaskPrefix<T>>().as_ref() };
    let state = prefix.task.header.state();
    if state.has(State::HANDLE) || prefix.task.callbacks_pending.get() > 0 {
        return None;
    }
    // SAFETY: loop thread; no borrow of the slot is live.
    let result = unsafe { (*prefix.out.result.get()).take() };
    match result {
        Some(Err(TaskError::Panicked(payload))) if !state.has(State::RETRIEVED) => Some(
            ExceptionContext::new(ExceptionKind::TaskNeverRetrieved, payload),
        ),
        Some(other) => match catch(move || drop(other)) {
            Ok(()) => None,
            Err(payload) => Some(ExceptionContext::new(
                ExceptionKind::TaskNeverRetrieved,
                payload,
            )),
        },
        None => None,
    }
}

/// Schedules one done callback as a loop callback (never inline).
///
/// # Safety
///
/// `ptr` is a live, `COMPLETE` task whose result type is `T`, on the loop thread.
pub(crate) unsafe fn schedule_done_callback<T: 'static>(
    ptr: NonNull<Header>,
    sched: &Scheduler,
    callback: DoneCallback<T>,
) {
    // SAFETY: the caller guarantees a live task.
    let prefix = unsafe { ptr.cast::<TaskPrefix<T>>().as_ref() };
    prefix.task.header.set(State::RETRIEVED);
    prefix
        .task
        .callbacks_pending
        .set(prefix.task.callbacks_pending.get() + 1);
    prefix.task.header.inc_ref();
    // SAFETY: we just took a reference for the runner.
    let task = unsafe { NodeRef::from_raw(ptr) };
    let runner = DoneRunner::<T> {
        task,
        callback: Some(callback),
    };
    let node = super::callback::allocate(move || runner.call(), 1);
    sched.schedule(node);
}

/// Runs one done callback; whether it runs or is dropped (loop close), it settles the
/// task's bookkeeping in `Drop`.
struct DoneRunner<T: 'static> {
    task: NodeRef,
    callback: Option<DoneCallback<T>>,
}

impl<T: 'static> DoneRunner<T> {
    fn prefix(&self) -> &TaskPrefix<T> {
        // SAFETY: `task` is a reference to a live task with result type `T`.
        unsafe { self.task.as_ptr().cast::<TaskPrefix<T>>().as_ref() }
    }

    fn call(mut self) {
        let callback = self.callback.take();
        // SAFETY: loop thread; the result stays in place while callbacks are pending (the
        // handle waits for `callbacks_pending` to reach zero before taking it).
        let result = unsafe { &*self.prefix().out.result.get() };
        if let (Some(callback), Some(result)) = (callback, result.as_ref()) {
            callback(result);
        }
    }
}

impl<T: 'static> Drop for DoneRunner<T> {
    fn drop(&mut self) {
        // Drop the closure first (it may be unrun when the loop closes).
        self.callback = None;
        let task = &self.prefix().task;
        let left = task.callbacks_pending.get() - 1;
        task.callbacks_pending.set(left);
        if left == 0 {
            task.wake_awaiter();
            // SAFETY: a live task with result type `T`, on the loop thread.
            let report = unsafe { settle_unclaimed::<T>(self.task.as_ptr()) };
            // Every callback saw the result, so there is nothing unobserved to report;
            // a panic in the result's destructor is the only possibility left.
            if let Some(report) = report {
                let _ = self
                    .prefix()
                    .task
                    .shared
                    .push(super::remote::RemoteMsg::Report(report));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_header_stays_within_ten_words() {
        // Every task pays for these bytes; spawn-heavy loads feel each cache line. The
        // tenth word is the task's identity (its id, or its id and name once named).
        assert!(
            std::mem::size_of::<TaskHeader>() <= 80,
            "{}",
            std::mem::size_of::<TaskHeader>()
        );
        assert_eq!(std::mem::size_of::<Header>(), 24);
    }
}
