//! The scheduler: the ready queue, the list of live tasks, and the loop's main node.
//!
//! # Ground rules
//!
//! A `Scheduler` lives inside its loop and is only used on the loop's thread. It owns:
//! one reference to every live task (from spawn until its future is gone), kept in an
//! intrusive list so the loop can cancel them all when it closes; the ready queue's
//! references; one reference to the main node, through which `run_until_complete`'s
//! future is woken like any task.

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Waker};

use super::cache::CellCache;
use super::error::ExceptionContext;
use super::header::{Header, NodeRef, Vtable, keep_payload, not_a_task, release};
use super::ident::{Ident, TaskInfo, TaskState};
use super::join::Task;
use super::queue::ReadyQueue;
use super::raw::{self, TaskHeader};
use super::remote::{RemoteMsg, Shared};
use super::state::State;

/// What the loop does with a node it popped.
#[derive(Debug)]
pub(crate) enum Popped {
    /// The main future's turn: poll it.
    Main,
    /// A task or callback to run.
    Node(NodeRef),
}

/// The loop's ready queue, task list and main node.
pub(crate) struct Scheduler {
    ready: ReadyQueue,
    shared: Arc<Shared>,
    main: NonNull<Header>,
    tasks_head: Cell<Option<NonNull<TaskHeader>>>,
    live: Cell<usize>,
    pub(crate) spawned: Cell<u64>,
    pub(crate) polled: Cell<u64>,
    /// Eager polls in progress on this loop (an eager task spawning eagerly nests).
    eager_depth: Cell<u32>,
    /// `Builder::eager_tasks`: whether [`spawn_auto`](Self::spawn_auto) spawns eagerly.
    eager: Cell<bool>,
    /// Whether `run_until_complete` is running a future (the main node is a task then).
    main_active: Cell<bool>,
    /// Finished tasks' cells, for the next spawns (`cache.rs`).
    pub(crate) cache: CellCache,
}

/// How deep eager spawns may nest (an eager task whose first step spawns eagerly, and so
/// on) before a spawn falls back to queueing, so a recursive spawner cannot overflow the
/// stack.
pub(crate) const EAGER_MAX_DEPTH: u32 = 32;

impl Scheduler {
    pub(crate) fn new(shared: Arc<Shared>) -> Scheduler {
        let main = Box::new(TaskHeader::new(
            MAIN_VTABLE,
            1,
            0,
            shared.clone(),
            Ident::new(0),
        ));
        Scheduler {
            cache: CellCache::new(&shared),
            ready: ReadyQueue::new(),
            shared,
            main: NonNull::from(Box::leak(main)).cast::<Header>(),
            tasks_head: Cell::new(None),
            live: Cell::new(0),
            spawned: Cell::new(0),
            polled: Cell::new(0),
            eager_depth: Cell::new(0),
            eager: Cell::new(false),
            main_active: Cell::new(false),
        }
    }

    /// Makes [`spawn_auto`](Self::spawn_auto) eager (`Builder::eager_tasks`).
    pub(crate) fn set_eager(&self, on: bool) {
        self.eager.set(on);
    }

    /// Whether [`spawn_auto`](Self::spawn_auto) is eager.
    pub(crate) fn eager(&self) -> bool {
        self.eager.get()
    }

    /// Spawns `future` the way this loop spawns by default: eagerly when it was built
    /// with `eager_tasks(true)` and it is running on this thread, else queued.
    pub(crate) fn spawn_auto<F>(&self, future: F) -> Task<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        if self.eager.get() && super::current::is_running(self.id()) {
            self.spawn_eager(future)
        } else {
            self.spawn(future)
        }
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// The loop's identity, as the thread records its running loop (see
    /// `current::is_running`): the address of its `Shared`, which stays allocated as long
    /// as anything that can ask (a task node, a sleep, an operation) is alive, so no
    /// other loop can have the same id meanwhile.
    pub(crate) fn id(&self) -> usize {
        Arc::as_ptr(&self.shared).addr()
    }

    /// Whether `task` belongs to this scheduler's loop.
    pub(crate) fn owns(&self, task: &TaskHeader) -> bool {
        Arc::ptr_eq(&task.shared, &self.shared)
    }

    pub(crate) fn ready_len(&self) -> usize {
        self.ready.len()
    }

    pub(crate) fn has_ready(&self) -> bool {
        !self.ready.is_empty()
    }

    /// Tasks whose future is still alive.
    pub(crate) fn live_tasks(&self) -> usize {
        self.live.get()
    }

    /// Spawns `future` as a task, scheduled to run in FIFO order.
    pub(crate) fn spawn<F>(&self, future: F) -> Task<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let ptr = raw::allocate(future, self.cache.take_shared(&self.shared), &self.cache);
        // SAFETY: a fresh task cell starts with a TaskHeader.
        let task = unsafe { TaskHeader::from_header(ptr) };
        self.link(task);
        self.spawned.set(self.spawned.get() + 1);
        // SAFETY: `allocate` made three references (loop, queue, handle) and set
        // SCHEDULED | HANDLE: the loop's stays with the task list, the queue takes one
        // here, the handle takes the last.
        unsafe {
            self.ready.push_back(NodeRef::from_raw(ptr));
            Task::from_raw(ptr)
        }
    }

    /// Spawns `future` as a task and polls it at once, up to its first suspension
    /// (Python 3.12's eager task factory). A task that finishes in that poll is never
    /// queued: its result is stored and the handle is ready when this returns. A task
    /// that suspends continues exactly like a spawned one (woken by whatever it awaits).
    ///
    /// The caller guarantees that this scheduler's loop is the one running on this thread
    /// (so wakes made during the poll take the local path). Past [`EAGER_MAX_DEPTH`]
    /// nested eager polls, the task is queued like [`spawn`](Self::spawn) instead.
    ///
    /// A panic in the first step resolves the task as `Panicked`; it never unwinds into
    /// the caller.
    pub(crate) fn spawn_eager<F>(&self, future: F) -> Task<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let depth = self.eager_depth.get();
        if depth >= EAGER_MAX_DEPTH {
            return self.spawn(future);
        }
        let ptr = raw::allocate_eager(future, self.cache.take_shared(&self.shared), &self.cache);
        // SAFETY: a fresh task cell starts with a TaskHeader.
        let task = unsafe { TaskHeader::from_header(ptr) };
        self.link(task);
        self.spawned.set(self.spawned.get() + 1);
        // `allocate_eager` made three references (loop, run, handle) and set HANDLE
        // only: the loop's stays with the task list, the run consumes its own, and the
        // handle's is ours below.
        self.eager_depth.set(depth + 1);
        // The run takes the reference a queue pop would have handed it, so the poll, its
        // waker lending, panics and completion are exactly those of a queued run.
        // SAFETY: we own the run's reference, which `run` consumes; the task is live.
        let report = unsafe { NodeRef::from_raw(ptr) }.run(self);
        self.eager_depth.set(depth);
        if let Some(report) = report {
            // Not reachable while the handle is alive (nothing is unclaimed), but never
            // lose a report: the loop hands it to the exception handler.
            drop(self.shared.push(RemoteMsg::Report(report)));
        }
        // SAFETY: the handle's reference, still ours.
        unsafe { Task::from_raw(ptr) }
    }

    /// Pushes a node that is not yet `SCHEDULED` (the caller checked) onto the queue.
    pub(crate) fn schedule(&self, node: NodeRef) {
        node.header().set(State::SCHEDULED);
        self.ready.push_back(node);
    }

    /// Schedules a task from a remote wake, if it still needs it.
    fn wake_local(&self, task: NodeRef) {
        if !task
            .header()
            .state()
            .has(State::SCHEDULED | State::COMPLETE)
        {
            self.schedule(task);
        }
    }

    /// Schedules the main node (the start of `run_until_complete`).
    pub(crate) fn schedule_main(&self) {
        // SAFETY: the scheduler owns a reference to the main node.
        let header = unsafe { self.main.as_ref() };
        if !header.state().has(State::SCHEDULED) {
            header.inc_ref();
            // SAFETY: we just took the queue's reference.
            self.schedule(unsafe { NodeRef::from_raw(self.main) });
        }
    }

    /// A waker for the main node, borrowed from the scheduler's own reference.
    pub(crate) fn main_waker(&self) -> ManuallyDrop<Waker> {
        // SAFETY: the main node is a TaskHeader and lives as long as the scheduler; the
        // `ManuallyDrop` keeps the borrowed waker from releasing a reference it never had.
        ManuallyDrop::new(unsafe { super::waker::waker_ref(self.main) })
    }

    /// `run_until_complete` starts running a future: the main node becomes a task with a
    /// new id (asyncio wraps each such future in a new task).
    pub(crate) fn main_begin(&self) {
        // SAFETY: the scheduler owns a reference to the main node, a TaskHeader.
        let main = unsafe { TaskHeader::from_header(self.main) };
        main.ident.reset(super::ident::next_id());
        self.main_active.set(true);
    }

    /// `run_until_complete` is done with its future.
    pub(crate) fn main_end(&self) {
        self.main_active.set(false);
    }

    /// What a debug-mode report says of the main node.
    pub(crate) fn describe_main(&self) -> String {
        // SAFETY: the scheduler owns a reference to the main node, a TaskHeader.
        let main = unsafe { TaskHeader::from_header(self.main) };
        format!(
            "task {:?} (id {}, the future given to run_until_complete)",
            main.ident.name(),
            main.ident.id()
        )
    }

    /// Polls the main future through `poll`, with the main node's waker, as the current
    /// task.
    pub(crate) fn run_main(&self, poll: impl FnOnce(&mut Context<'_>)) {
        let waker = self.main_waker();
        // SAFETY: the scheduler owns a reference to the main node.
        let header = unsafe { self.main.as_ref() };
        header.set(State::RUNNING);
        let prev = super::waker::begin_poll_unlendable(self.main);
        /// Restores the marks even if the main future panics (the panic propagates out
        /// of `run_until_complete`).
        struct Restore<'a>(&'a Header, NonNull<Header>, *const Header);
        impl Drop for Restore<'_> {
            fn drop(&mut self) {
                let _ = super::waker::end_poll(self.1, self.2);
                self.0.clear(State::RUNNING);
            }
        }
        let _restore = Restore(header, self.main, prev);
        poll(&mut Context::from_waker(&waker));
    }

    /// The tasks that are not done (asyncio's `all_tasks()`), oldest first: every live
    /// task, and the future `run_until_complete` is running, if any.
    pub(crate) fn all_tasks(&self) -> Vec<TaskInfo> {
        let mut all = Vec::with_capacity(self.live.get() + 1);
        if self.main_active.get() {
            // SAFETY: the scheduler owns a reference to the main node, a TaskHeader.
            all.push(unsafe { TaskHeader::from_header(self.main) }.info());
        }
        let mut cursor = self.tasks_head.get();
        while let Some(ptr) = cursor {
            // SAFETY: list members are alive (the list owns a reference to each).
            let task = unsafe { ptr.as_ref() };
            all.push(task.info());
            cursor = task.list_next.get();
        }
        all.sort_unstable_by_key(|info| info.id);
        all
    }

    /// The task being polled on this thread right now, if any.
    pub(crate) fn current_task() -> Option<TaskInfo> {
        let ptr = super::waker::polling()?;
        // SAFETY: the node being polled is a task or the main node (both start with a
        // TaskHeader), kept alive by the run (or the scheduler) for the poll's duration.
        let task = unsafe { TaskHeader::from_header(ptr) };
        Some(TaskInfo::new(&task.ident, TaskState::Running))
    }

    /// Pops the next node.
    pub(crate) fn pop(&self) -> Option<Popped> {
        let node = self.ready.pop_front()?;
        if node.as_ptr() == self.main {
            node.header().clear(State::SCHEDULED);
            return Some(Popped::Main);
        }
        Some(Popped::Node(node))
    }

    /// Applies one message from another thread. Returns the message when it is not a
    /// wake (the loop handles calls, stops and reports).
    pub(crate) fn apply_remote(&self, msg: RemoteMsg) -> Option<RemoteMsg> {
        match msg {
            RemoteMsg::Wake(task) => {
                // SAFETY: only task nodes are sent as wakes.
                let header = unsafe { TaskHeader::from_header(task.as_ptr()) };
                header.remote_queued.store(false, Ordering::Release);
                self.wake_local(task);
                None
            }
            other => Some(other),
        }
    }

    fn link(&self, task: &TaskHeader) {
        let ptr = NonNull::from(task);
        task.list_prev.set(None);
        task.list_next.set(self.tasks_head.get());
        if let Some(head) = self.tasks_head.get() {
            // SAFETY: tasks in the list are alive (the list owns a reference to each).
            unsafe { head.as_ref() }.list_prev.set(Some(ptr));
        }
        self.tasks_head.set(Some(ptr));
        self.live.set(self.live.get() + 1);
    }

    /// Removes a completing task from the live list.
    ///
    /// # Safety
    ///
    /// `task` is in this scheduler's list.
    pub(crate) unsafe fn unlink(&self, task: NonNull<TaskHeader>) {
        // SAFETY: the caller guarantees membership; members are alive.
        let t = unsafe { task.as_ref() };
        let (prev, next) = (t.list_prev.take(), t.list_next.take());
        match prev {
            // SAFETY: list members are alive.
            Some(prev) => unsafe { prev.as_ref() }.list_next.set(next),
            None => self.tasks_head.set(next),
        }
        if let Some(next) = next {
            // SAFETY: list members are alive.
            unsafe { next.as_ref() }.list_prev.set(prev);
        }
        self.live.set(self.live.get() - 1);
    }

    /// Requests cancellation of every live task (asyncio.run's leftover cleanup).
    pub(crate) fn cancel_all(&self) {
        let mut cursor = self.tasks_head.get();
        while let Some(ptr) = cursor {
            // SAFETY: list members are alive; requesting a cancel does not unlink.
            let task = unsafe { ptr.as_ref() };
            cursor = task.list_next.get();
            let header = &task.header;
            if !header
                .state()
                .has(State::CANCEL_REQUESTED | State::COMPLETE)
            {
                header.set(State::CANCEL_REQUESTED);
                if !header.state().has(State::SCHEDULED) {
                    header.inc_ref();
                    // SAFETY: we just took the queue's reference.
                    self.schedule(unsafe { NodeRef::from_raw(ptr.cast()) });
                }
            }
        }
    }

    /// Drops every live task's future now, resolving them as cancelled (loop close).
    /// Returns the failures nobody will otherwise hear about.
    pub(crate) fn shutdown_all(&self, reports: &mut Vec<ExceptionContext>) {
        while let Some(ptr) = self.tasks_head.get() {
            // SAFETY: list members are alive and are tasks.
            let header = unsafe { ptr.cast::<Header>().as_ref() };
            // SAFETY: `shutdown` unlinks the task and consumes the list's reference.
            let report = unsafe { (header.vtable.shutdown)(ptr.cast(), self) };
            reports.extend(report);
        }
    }

    /// Drops every queued node without running it (loop close). Panicking destructors
    /// are contained and added to `reports`.
    pub(crate) fn discard_ready(&self, reports: &mut Vec<ExceptionContext>) {
        while let Some(popped) = self.pop() {
            if let Popped::Node(node) = popped {
                reports.extend(node.discard());
            }
        }
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        let mut reports = Vec::new();
        self.shutdown_all(&mut reports);
        self.discard_ready(&mut reports);
        for report in reports {
            super::error::default_exception_handler(report);
        }
        // SAFETY: the scheduler's own reference to the main node.
        unsafe { release(self.main, 1) };
    }
}

impl fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scheduler")
            .field("ready", &self.ready.len())
            .field("live_tasks", &self.live.get())
            .finish()
    }
}

const MAIN_VTABLE: &Vtable = &Vtable {
    run: main_run,
    discard: main_discard,
    dealloc: main_dealloc,
    shutdown: not_a_task,
    drop_payload: keep_payload,
    is_task: true,
    type_name: main_type_name,
};

fn main_type_name() -> &'static str {
    "the future given to run_until_complete"
}

unsafe fn main_run(ptr: NonNull<Header>, _: &Scheduler) -> Option<ExceptionContext> {
    // The loop polls the main future itself when `pop` returns `Popped::Main`; the main
    // node of *another* loop never reaches this queue (its wakes go to its own loop).
    // SAFETY: releasing the queue's reference.
    unsafe { release(ptr, 1) };
    None
}

unsafe fn main_discard(ptr: NonNull<Header>) -> Option<ExceptionContext> {
    // SAFETY: we own the queue's reference.
    unsafe { ptr.as_ref() }.clear(State::SCHEDULED);
    // SAFETY: releasing the queue's reference.
    unsafe { release(ptr, 1) };
    None
}

unsafe fn main_dealloc(ptr: NonNull<Header>) {
    // SAFETY: last reference: we own the `Box<TaskHeader>` made in `Scheduler::new`.
    let mut main = unsafe { Box::from_raw(ptr.cast::<TaskHeader>().as_ptr()) };
    // SAFETY: the main node owns its count; dropped once, here.
    unsafe { ManuallyDrop::drop(&mut main.shared) };
    drop(main);
}

#[cfg(test)]
mod tests {
    use std::future::{pending, poll_fn};
    use std::sync::Arc;
    use std::task::Poll;

    use super::Scheduler;
    use crate::task::remote::Shared;

    /// Every eager outcome leaves the loop's `Arc<Shared>` count exact: a task's node
    /// holds one count while it lives, finished in its first step or not, and gives it
    /// back when it goes.
    #[test]
    fn eager_outcomes_keep_the_shared_count_exact() {
        let shared = Arc::new(Shared::new(usize::MAX).unwrap());
        let sched = Scheduler::new(shared.clone());
        let base = Arc::strong_count(&shared);

        let done = sched.spawn_eager(async { 1 });
        assert!(done.is_done(), "finished in its first step");
        assert_eq!(Arc::strong_count(&shared), base + 1);

        let suspended = sched.spawn_eager(pending::<()>());
        assert_eq!(Arc::strong_count(&shared), base + 2);

        let panicked = sched.spawn_eager(async {
            if true {
                panic!("eager test panic");
            }
        });
        assert!(panicked.is_done() && panicked.is_panicked());
        assert_eq!(Arc::strong_count(&shared), base + 3);
        drop(panicked);
        assert_eq!(Arc::strong_count(&shared), base + 2);

        let stash = std::rc::Rc::new(std::cell::RefCell::new(None));
        let s = stash.clone();
        let kept = sched.spawn_eager(poll_fn(move |cx| {
            *s.borrow_mut() = Some(cx.waker().clone());
            Poll::Ready(2)
        }));
        assert_eq!(Arc::strong_count(&shared), base + 3);
        drop(kept);
        assert_eq!(
            Arc::strong_count(&shared),
            base + 3,
            "a waker clone keeps the node"
        );
        drop(stash);
        assert_eq!(Arc::strong_count(&shared), base + 2);

        drop(done);
        assert_eq!(Arc::strong_count(&shared), base + 1);
        drop(suspended);
        drop(sched);
        assert_eq!(Arc::strong_count(&shared), 1);
    }
}
