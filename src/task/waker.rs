//! Wakers: a local fast path and a remote path.
//!
//! A waker's data pointer is the task's node. Waking it on the thread that is running
//! the task's loop pushes the node onto the ready queue: no allocation, no lock, no
//! syscall. Anywhere else (another thread, or this thread while the loop is not
//! running) the wake goes through the loop's [`Shared`](super::remote::Shared) queue and
//! at most one eventfd write. A task woken twice before it runs is queued once: locally
//! the `SCHEDULED` bit guards the ready queue; remotely `remote_queued` guards the
//! shared queue.
//!
//! # Lending the queue's reference
//!
//! While a task is polled, the run holds the ready queue's reference to it. The first
//! waker clone (or self-wake) made during that poll, on the polling thread, takes that
//! reference over instead of adding one, and the run then does not release it: a task
//! that registers its waker and returns `Pending` (or yields) costs no atomic
//! read-modify-write at all. The thread-local [`POLLING`] names the task being polled
//! and whether its queue reference is still available (an untagged pointer) or was lent
//! (the pointer tagged with bit 0); only the polling thread can see it (another thread's
//! slot never holds this task), and it is lent at most once per poll.
//!
//! The same slot answers [`current_task`](crate::current_task) at no extra cost: it holds
//! the innermost task being polled (an eager spawn nests one poll in another), and the
//! loop's main node (tagged, as it has no queue reference to lend) while
//! `run_until_complete`'s future is polled.

use std::cell::Cell;
use std::ptr::NonNull;
use std::sync::atomic::Ordering;
use std::task::{RawWaker, RawWakerVTable, Waker};

use super::header::{Header, NodeRef, release};
use super::raw::TaskHeader;
use super::remote::RemoteMsg;
use super::state::State;

static WAKER_VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake_by_ref, drop_waker);

thread_local! {
    /// The node this thread is polling (null when none): untagged while the run's queue
    /// reference can still be lent, tagged with bit 0 once it was lent (or when there is
    /// none to lend: the main node). See "Lending the queue's reference" above.
    static POLLING: Cell<*const Header> = const { Cell::new(std::ptr::null()) };
}

/// `ptr` marked as having no queue reference left to lend.
fn lent(ptr: *const Header) -> *const Header {
    ptr.map_addr(|a| a | 1)
}

/// Marks `ptr` as the node being polled, its queue reference lendable, for the poll about
/// to start. Returns the previous mark, for [`end_poll`].
pub(crate) fn begin_poll(ptr: NonNull<Header>) -> *const Header {
    POLLING.with(|l| l.replace(ptr.as_ptr()))
}

/// Marks `ptr` as the node being polled with nothing to lend (the main node). Returns
/// the previous mark, for [`end_poll`].
pub(crate) fn begin_poll_unlendable(ptr: NonNull<Header>) -> *const Header {
    POLLING.with(|l| l.replace(lent(ptr.as_ptr())))
}

/// Ends the poll of `ptr`: restores `prev` and returns whether the queue's reference is
/// still the run's own (true) or was lent to a waker clone or a self-wake (false).
#[must_use]
pub(crate) fn end_poll(ptr: NonNull<Header>, prev: *const Header) -> bool {
    POLLING.with(|l| l.replace(prev)) == ptr.as_ptr().cast_const()
}

/// The node this thread is polling right now, if any: the innermost task step, or the
/// main node while `run_until_complete`'s future is polled.
pub(crate) fn polling() -> Option<NonNull<Header>> {
    let ptr = POLLING.try_with(Cell::get).unwrap_or(std::ptr::null());
    NonNull::new(ptr.map_addr(|a| a & !1).cast_mut())
}

/// Takes the lendable queue reference of `ptr` if this thread is polling it and it is
/// still available. The caller then owns that reference.
fn take_lent(ptr: NonNull<Header>) -> bool {
    POLLING
        .try_with(|l| {
            if l.get() == ptr.as_ptr().cast_const() {
                l.set(lent(ptr.as_ptr()));
                true
            } else {
                false
            }
        })
        .unwrap_or(false)
}

/// Takes a new reference to `ptr` for a waker or the queue: the lent queue reference
/// when available, else a fresh count.
///
/// # Safety
///
/// `ptr` is a live node, kept alive by a reference the caller holds (a waker).
unsafe fn acquire_ref(ptr: NonNull<Header>) {
    if !take_lent(ptr) {
        // SAFETY: the caller's reference keeps the node alive.
        unsafe { ptr.as_ref() }.inc_ref();
    }
}

/// A waker for `ptr` that does not own a reference. Wrap it in `ManuallyDrop`.
///
/// # Safety
///
/// `ptr` is a live task node (a `TaskHeader` first) that outlives the returned waker.
pub(crate) unsafe fn waker_ref(ptr: NonNull<Header>) -> Waker {
    // SAFETY: the vtable's functions uphold the `RawWaker` contract for task nodes.
    unsafe {
        Waker::from_raw(RawWaker::new(
            ptr.as_ptr().cast_const().cast(),
            &WAKER_VTABLE,
        ))
    }
}

fn node(data: *const ()) -> NonNull<Header> {
    // Wakers are only made from non-null node pointers.
    NonNull::new(data.cast_mut().cast::<Header>()).expect("waker with a null task")
}

unsafe fn clone(data: *const ()) -> RawWaker {
    // SAFETY: the waker being cloned keeps the node alive.
    unsafe { acquire_ref(node(data)) };
    RawWaker::new(data, &WAKER_VTABLE)
}

unsafe fn wake(data: *const ()) {
    // SAFETY: a waker owns one reference, which we hand on.
    let task = unsafe { NodeRef::from_raw(node(data)) };
    schedule(task);
}

unsafe fn wake_by_ref(data: *const ()) {
    let ptr = node(data);
    // SAFETY: the waker keeps the node alive; wakers are made only for task nodes.
    let task = unsafe { TaskHeader::from_header(ptr) };
    let local = super::current::with_scheduler(|sched| match sched {
        Some(sched) if sched.owns(task) => {
            if needs_queueing(&task.header) {
                // SAFETY: the waker keeps the node alive.
                unsafe { acquire_ref(ptr) };
                // SAFETY: we just took the reference the queue will own.
                sched.schedule(unsafe { NodeRef::from_raw(ptr) });
            }
            true
        }
        _ => false,
    });
    if !local {
        // SAFETY: the waker keeps the node alive.
        unsafe { acquire_ref(ptr) };
        // SAFETY: we just took a reference for the message.
        schedule_remote(task, unsafe { NodeRef::from_raw(ptr) });
    }
}

unsafe fn drop_waker(data: *const ()) {
    // SAFETY: a waker owns one reference.
    unsafe { release(node(data), 1) }
}

fn needs_queueing(header: &Header) -> bool {
    !header.state().has(State::SCHEDULED | State::COMPLETE)
}

/// Schedules a task, consuming the reference `task` holds.
pub(crate) fn schedule(task: NodeRef) {
    // SAFETY: `task` keeps the node alive, and only task nodes reach here.
    let header = unsafe { TaskHeader::from_header(task.as_ptr()) };
    let remote = super::current::with_scheduler(move |sched| match sched {
        Some(sched) if sched.owns(header) => {
            if needs_queueing(&header.header) {
                sched.schedule(task);
            }
            None
        }
        _ => Some(task),
    });
    if let Some(task) = remote {
        schedule_remote(header, task);
    }
}

fn schedule_remote(header: &TaskHeader, task: NodeRef) {
    if header.remote_queued.swap(true, Ordering::AcqRel) {
        // Already queued for the loop: this wake is folded into that one.
        return;
    }
    if let Err(msg) = header.shared.push(RemoteMsg::Wake(task)) {
        // The loop has closed; waking a task of a closed loop is a harmless no-op.
        header.remote_queued.store(false, Ordering::Release);
        drop(msg);
    }
}
