//! Callback nodes: a closure scheduled on the ready queue like a task.
//!
//! `call_soon`, `call_later`, done callbacks and remote calls all become one of these,
//! so callbacks and task steps share one FIFO and run in exactly the order they were
//! scheduled, as in asyncio's single `_ready` deque.

use std::cell::UnsafeCell;
use std::fmt;
use std::ptr::NonNull;

use super::error::{ExceptionContext, ExceptionKind};
use super::header::{Header, NodeRef, Vtable, not_a_task, release};
use super::raw::catch;
use super::scheduler::Scheduler;
use super::state::State;

#[repr(C)]
struct CallbackCell<F> {
    header: Header,
    f: UnsafeCell<Option<F>>,
}

/// Allocates an unscheduled callback node with `refs` references, all owned by the
/// caller: one as the returned `NodeRef`, the rest to wrap with `NodeRef::from_raw`.
pub(crate) fn allocate<F: FnOnce() + 'static>(f: F, refs: u32) -> NodeRef {
    let cell = Box::new(CallbackCell {
        header: Header::new(CallbackCell::<F>::VTABLE, refs, 0),
        f: UnsafeCell::new(Some(f)),
    });
    let ptr = NonNull::from(Box::leak(cell)).cast::<Header>();
    // SAFETY: the node is new and its first reference is handed to the caller.
    unsafe { NodeRef::from_raw(ptr) }
}

impl<F: FnOnce() + 'static> CallbackCell<F> {
    const VTABLE: &'static Vtable = &Vtable {
        run: Self::run,
        discard: Self::discard,
        dealloc: Self::dealloc,
        shutdown: not_a_task,
        drop_payload: Self::drop_payload,
        is_task: false,
        type_name: std::any::type_name::<F>,
    };

    unsafe fn drop_payload(ptr: NonNull<Header>) {
        // SAFETY: the caller holds a reference to this live cell, on the loop thread.
        drop(unsafe { Self::take(ptr) });
    }

    /// Takes the closure out, if it is still there.
    ///
    /// # Safety
    ///
    /// `ptr` is a live `CallbackCell<F>`, on its loop's thread.
    unsafe fn take(ptr: NonNull<Header>) -> Option<F> {
        // SAFETY: the caller guarantees the cell type and liveness; callback nodes never
        // leave the loop thread, and the closure is never borrowed across this call.
        unsafe { (*ptr.cast::<Self>().as_ref().f.get()).take() }
    }

    unsafe fn run(ptr: NonNull<Header>, _sched: &Scheduler) -> Option<ExceptionContext> {
        // SAFETY: we own the queue's reference.
        let header = unsafe { ptr.as_ref() };
        header.clear(State::SCHEDULED);
        let mut report = None;
        if !header.state().has(State::CANCELLED | State::CALLED) {
            header.set(State::CALLED);
            // SAFETY: live cell of this type, loop thread.
            if let Some(f) = unsafe { Self::take(ptr) }
                && let Err(payload) = catch(f)
            {
                report = Some(ExceptionContext::new(
                    ExceptionKind::CallbackPanicked,
                    payload,
                ));
            }
        }
        // SAFETY: releasing the queue's reference.
        unsafe { release(ptr, 1) };
        report
    }

    unsafe fn discard(ptr: NonNull<Header>) -> Option<ExceptionContext> {
        // SAFETY: we own the queue's reference.
        let header = unsafe { ptr.as_ref() };
        header.clear(State::SCHEDULED);
        header.set(State::CALLED);
        // SAFETY: live cell of this type, loop thread.
        let f = unsafe { Self::take(ptr) };
        // The loop is closing: a panicking destructor must not stop the close; it is
        // reported instead.
        let report = catch(move || drop(f))
            .err()
            .map(|payload| ExceptionContext::new(ExceptionKind::DestructorPanicked, payload));
        // SAFETY: releasing the queue's reference.
        unsafe { release(ptr, 1) };
        report
    }

    unsafe fn dealloc(ptr: NonNull<Header>) {
        // SAFETY: last reference: we own the `Box<CallbackCell<F>>` made by `allocate`.
        drop(unsafe { Box::from_raw(ptr.cast::<Self>().as_ptr()) });
    }
}

/// A reference to a callback node that can cancel it (what `CallbackHandle` wraps).
pub(crate) struct CallbackRef(NodeRef);

impl CallbackRef {
    pub(crate) fn new(node: NodeRef) -> CallbackRef {
        CallbackRef(node)
    }

    /// Cancels the callback if it has not run, dropping its closure now. Returns whether
    /// this call cancelled it.
    pub(crate) fn cancel(&self) -> bool {
        let header = self.0.header();
        if header.state().has(State::CANCELLED | State::CALLED) {
            return false;
        }
        header.set(State::CANCELLED);
        // Free the closure now; the node itself stays queued (or in the timer queue)
        // until its turn comes and `run` skips it, or the timer entry is removed.
        // SAFETY: our reference keeps the node alive; callback refs stay on the loop thread.
        unsafe { (header.vtable.drop_payload)(self.0.as_ptr()) };
        true
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.0.header().state().has(State::CANCELLED)
    }
}

impl fmt::Debug for CallbackRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CallbackRef")
            .field(&self.0.header().state())
            .finish()
    }
}
