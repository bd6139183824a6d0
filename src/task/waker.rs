//! Wakers: a local fast path and a remote path.
//!
//! A waker's data pointer is the task's node. Waking it on the thread that is running
//! the task's loop pushes the node onto the ready queue: no allocation, no lock, no
//! syscall. Anywhere else (another thread, or this thread while the loop is not
//! running) the wake goes through the loop's [`Shared`](super::remote::Shared) queue and
//! at most one eventfd write. A task woken twice before it runs is queued once: locally
//! the `SCHEDULED` bit guards the ready queue; remotely `remote_queued` guards the
//! shared queue.

use std::ptr::NonNull;
use std::sync::atomic::Ordering;
use std::task::{RawWaker, RawWakerVTable, Waker};

use super::header::{Header, NodeRef, release};
use super::raw::TaskHeader;
use super::remote::RemoteMsg;
use super::state::State;

static WAKER_VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake_by_ref, drop_waker);

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
    unsafe { node(data).as_ref() }.inc_ref();
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
    let local = crate::context::with_scheduler(|sched| match sched {
        Some(sched) if sched.owns(task) => {
            if needs_queueing(&task.header) {
                task.header.inc_ref();
                // SAFETY: we just took the reference the queue will own.
                sched.schedule(unsafe { NodeRef::from_raw(ptr) });
            }
            true
        }
        _ => false,
    });
    if !local {
        task.header.inc_ref();
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
    let remote = crate::context::with_scheduler(move |sched| match sched {
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
