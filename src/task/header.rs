//! The header every queue node starts with, and the owned reference to one.
//!
//! A node is one heap allocation: a [`Header`] followed by the node's own fields (a
//! task's future and result, or a callback's closure). The header carries the state
//! bits, an atomic reference count, the node's vtable and the intrusive link of the
//! ready queue, so scheduling a node allocates nothing.
//!
//! # Invariant
//!
//! A `NonNull<Header>` held by a [`NodeRef`], by the ready queue, by a waker or by a
//! `Task<T>` handle accounts for exactly one unit of `refs`; the allocation is freed by
//! `vtable.dealloc` when `refs` drops to zero, and never before.

use std::cell::Cell;
use std::fmt;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};

use super::error::ExceptionContext;
use super::scheduler::Scheduler;
use super::state::State;

/// Per-node-type operations.
pub(crate) struct Vtable {
    /// Runs the node (polls a task, calls a callback). Consumes the queue's reference.
    pub(crate) run: unsafe fn(NonNull<Header>, &Scheduler) -> Option<ExceptionContext>,
    /// Releases what the node owns without running it (the loop is closing). Consumes the
    /// queue's reference. A panicking destructor is contained and returned as a report.
    pub(crate) discard: unsafe fn(NonNull<Header>) -> Option<ExceptionContext>,
    /// Frees the allocation. Called once, when `refs` reaches zero.
    pub(crate) dealloc: unsafe fn(NonNull<Header>),
    /// Tasks only: drops the future now and resolves the task as cancelled (the loop is
    /// closing). Consumes the loop's ownership reference.
    pub(crate) shutdown: unsafe fn(NonNull<Header>, &Scheduler) -> Option<ExceptionContext>,
    /// Callbacks only: drops the closure now (cancellation), leaving references alone.
    pub(crate) drop_payload: unsafe fn(NonNull<Header>),
    /// Whether the node starts with a `TaskHeader` (a task or the main node).
    pub(crate) is_task: bool,
    /// The type of the future or closure, for debug-mode reports.
    pub(crate) type_name: fn() -> &'static str,
}

/// The `drop_payload` of nodes whose payload is not dropped early (tasks, the main node).
pub(crate) unsafe fn keep_payload(_: NonNull<Header>) {}

/// The `shutdown` of nodes that are not tasks, which never sit in the task list.
pub(crate) unsafe fn not_a_task(ptr: NonNull<Header>, _: &Scheduler) -> Option<ExceptionContext> {
    panic!("shutdown called on node {ptr:?}, which is not a task");
}

/// The start of every node.
#[repr(C)]
pub(crate) struct Header {
    pub(crate) state: Cell<u32>,
    pub(crate) refs: AtomicU32,
    pub(crate) vtable: &'static Vtable,
    /// The next node in the ready queue; only `queue.rs` reads or writes it.
    pub(crate) queue_next: Cell<Option<NonNull<Header>>>,
}

// SAFETY: the only fields another thread touches are `refs` (atomic) and `vtable`
// (immutable); `state` and `queue_next` are loop-thread-only by the ground rules of
// `state.rs`, and wakers that cross threads never read them.
unsafe impl Sync for Header {}

impl Header {
    pub(crate) fn new(vtable: &'static Vtable, refs: u32, state: u32) -> Header {
        Header {
            state: Cell::new(state),
            refs: AtomicU32::new(refs),
            vtable,
            queue_next: Cell::new(None),
        }
    }

    pub(crate) fn state(&self) -> State {
        State(self.state.get())
    }

    pub(crate) fn set(&self, bits: u32) {
        self.state.set(self.state.get() | bits);
    }

    pub(crate) fn clear(&self, bits: u32) {
        self.state.set(self.state.get() & !bits);
    }

    pub(crate) fn inc_ref(&self) {
        // Relaxed is enough to take a new reference from an existing one (as `Arc` does).
        let old = self.refs.fetch_add(1, Ordering::Relaxed);
        // Two billion live wakers of one task is a leak, not a workload: stop before the
        // count could wrap (as `Arc` does).
        if old > u32::MAX / 2 {
            std::process::abort();
        }
    }
}

/// Drops `n` references to the node at `ptr`, freeing it when none are left.
///
/// # Safety
///
/// The caller owns `n` references to a live node.
pub(crate) unsafe fn release(ptr: NonNull<Header>, n: u32) {
    // SAFETY: the caller owns `n` references, so the node is alive here.
    let header = unsafe { ptr.as_ref() };
    // Fast path: when the count is exactly what we own, nobody else holds a reference,
    // so nobody can add or drop one concurrently and no read-modify-write is needed
    // (`Arc::get_mut`'s reasoning). Acquire pairs with the Release decrements of
    // references dropped earlier on other threads.
    if header.refs.load(Ordering::Acquire) == n {
        // SAFETY: we hold every reference; nothing else can reach the node.
        unsafe { (header.vtable.dealloc)(ptr) };
        return;
    }
    if header.refs.fetch_sub(n, Ordering::Release) == n {
        std::sync::atomic::fence(Ordering::Acquire);
        // SAFETY: that was the last reference; nothing else can reach the node.
        unsafe { (header.vtable.dealloc)(ptr) }
    }
}

/// An owned reference to a node: one unit of its `refs`.
pub(crate) struct NodeRef(NonNull<Header>);

impl NodeRef {
    /// # Safety
    ///
    /// `ptr` is a live node and the caller hands over one reference it owns.
    pub(crate) unsafe fn from_raw(ptr: NonNull<Header>) -> NodeRef {
        NodeRef(ptr)
    }

    /// Gives up the reference without releasing it.
    pub(crate) fn into_raw(self) -> NonNull<Header> {
        let ptr = self.0;
        std::mem::forget(self);
        ptr
    }

    pub(crate) fn as_ptr(&self) -> NonNull<Header> {
        self.0
    }

    pub(crate) fn header(&self) -> &Header {
        // SAFETY: by the invariant above, our reference keeps the node alive.
        unsafe { self.0.as_ref() }
    }

    /// Runs the node, consuming this (the queue's) reference.
    pub(crate) fn run(self, sched: &Scheduler) -> Option<ExceptionContext> {
        let ptr = self.into_raw();
        // SAFETY: we own one reference, which `run` consumes; the node is alive.
        unsafe { (ptr.as_ref().vtable.run)(ptr, sched) }
    }

    /// What the node is, for a debug-mode report: a task's name and id, or a callback's
    /// closure type.
    pub(crate) fn describe(&self) -> String {
        let vtable = self.header().vtable;
        if vtable.is_task {
            // SAFETY: a node whose vtable says task starts with a `TaskHeader`; our
            // reference keeps it alive.
            let task = unsafe { super::raw::TaskHeader::from_header(self.0) };
            format!(
                "task {:?} (id {}, {})",
                task.ident.name(),
                task.ident.id(),
                (vtable.type_name)()
            )
        } else {
            format!("callback {}", (vtable.type_name)())
        }
    }

    /// Releases what the node owns without running it, consuming this reference. A
    /// panicking destructor (a callback's closure) comes back as a report.
    #[must_use = "a destructor's panic must reach the exception handler"]
    pub(crate) fn discard(self) -> Option<ExceptionContext> {
        let ptr = self.into_raw();
        // SAFETY: we own one reference, which `discard` consumes; the node is alive.
        unsafe { (ptr.as_ref().vtable.discard)(ptr) }
    }
}

impl Clone for NodeRef {
    fn clone(&self) -> NodeRef {
        self.header().inc_ref();
        NodeRef(self.0)
    }
}

impl Drop for NodeRef {
    fn drop(&mut self) {
        // SAFETY: we own exactly one reference to a live node.
        unsafe { release(self.0, 1) }
    }
}

impl fmt::Debug for NodeRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeRef")
            .field("ptr", &self.0)
            .field("state", &self.header().state())
            .finish()
    }
}
