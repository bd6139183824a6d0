//! `Task<T>`: the handle `spawn` returns.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::ptr::NonNull;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::error::TaskError;
use super::header::{Header, NodeRef, release};
use super::ident::{Ident, TaskInfo};
use super::raw::{DoneCallback, TaskPrefix, schedule_done_callback, settle_unclaimed};
use super::remote::RemoteMsg;
use super::state::State;

/// A spawned task: asyncio's `create_task` result.
///
/// Awaiting it yields the task's value, or [`TaskError::Cancelled`] /
/// [`TaskError::Panicked`]. Dropping it *detaches*: the task keeps running, and if it
/// later panics the loop's exception handler hears of it ("never retrieved"). Call
/// [`cancel`](Task::cancel) to stop it.
///
/// A `Task` belongs to its loop's thread (it is neither `Send` nor `Sync`), and is
/// awaited on its loop: awaiting an unfinished task on another loop, or from another
/// executor, panics (it could never finish there). A finished task's result can be
/// taken anywhere. It cannot be sent to another thread's loop at all:
///
/// ```compile_fail
/// let lp = ringloop::EventLoop::new().unwrap();
/// let task = lp.spawn(async { 1 });
/// std::thread::spawn(move || drop(task)); // error: `Task` is not `Send`
/// ```
///
/// # Identity
///
/// Every task has an [`id`](Task::id), unique in the process, and a
/// [`name`](Task::name): `Task-<id>` until [`set_name`](Task::set_name) gives it one, as
/// asyncio names its tasks `Task-1`, `Task-2`, ... The running task sees its own through
/// [`current_task`](crate::current_task).
// A handle is one pointer, to its task's node (whose result slot holds the value until
// it is taken), so handles kept by the thousand cost a word each.
pub struct Task<T> {
    /// The task's node, holding one reference (see `header.rs`).
    pub(super) node: NonNull<Header>,
    _marker: PhantomData<(*const (), T)>,
}

// `Task<T>` holds no self-references and never pins `T`: moving the handle moves a
// pointer.
impl<T> Unpin for Task<T> {}

impl<T: 'static> Task<T> {
    /// # Safety
    ///
    /// `ptr` is a live task with result type `T`, and the caller hands over the handle's
    /// reference (the node has `HANDLE` set).
    pub(crate) unsafe fn from_raw(ptr: NonNull<Header>) -> Task<T> {
        Task {
            node: ptr,
            _marker: PhantomData,
        }
    }

    fn prefix(&self) -> &TaskPrefix<T> {
        // SAFETY: the node is a reference the handle owns to a live task with result
        // type `T`.
        unsafe { self.node.cast::<TaskPrefix<T>>().as_ref() }
    }

    fn header(&self) -> &Header {
        &self.prefix().task.header
    }

    /// The task's identity.
    fn ident(&self) -> &Ident {
        &self.prefix().task.ident
    }

    /// The task's id: unique among the tasks of this process, and the number in its
    /// default name `Task-<id>`.
    ///
    /// ```
    /// ringloop::run(async {
    ///     let a = ringloop::spawn(async {});
    ///     let b = ringloop::spawn(async {});
    ///     assert_ne!(a.id(), b.id());
    ///     assert_eq!(a.name(), format!("Task-{}", a.id()));
    /// });
    /// ```
    pub fn id(&self) -> u64 {
        self.ident().id()
    }

    /// The task's name: the one given with [`set_name`](Task::set_name), else
    /// `Task-<id>` (asyncio's `Task.get_name()`).
    ///
    /// ```
    /// ringloop::run(async {
    ///     let task = ringloop::spawn(async {});
    ///     assert!(task.name().starts_with("Task-"));
    ///     task.set_name("fetcher");
    ///     assert_eq!(task.name(), "fetcher");
    /// });
    /// ```
    pub fn name(&self) -> String {
        self.ident().name()
    }

    /// Names the task (asyncio's `Task.set_name()`): what [`name`](Task::name),
    /// [`current_task`](crate::current_task), [`EventLoop::all_tasks`] and debug-mode
    /// reports show. Allowed at any time, also once the task is done.
    ///
    /// ```
    /// ringloop::run(async {
    ///     let task = ringloop::spawn(async {
    ///         ringloop::current_task().expect("inside a task").name
    ///     });
    ///     task.set_name("worker-1");
    ///     assert_eq!(task.await.unwrap(), "worker-1");
    /// });
    /// ```
    ///
    /// [`EventLoop::all_tasks`]: crate::EventLoop::all_tasks
    pub fn set_name(&self, name: &str) {
        self.ident().set_name(name);
    }

    /// A snapshot of the task's id, name and state.
    ///
    /// ```
    /// use ringloop::TaskState;
    ///
    /// ringloop::run(async {
    ///     let task = ringloop::spawn(async {});
    ///     assert_eq!(task.info().state, TaskState::Pending);
    ///     ringloop::yield_now().await;
    ///     assert_eq!(task.info().state, TaskState::Done);
    ///     assert_eq!(task.info().id, task.id());
    /// });
    /// ```
    pub fn info(&self) -> TaskInfo {
        self.prefix().task.info()
    }

    /// Requests cancellation, like asyncio's `Task.cancel()`.
    ///
    /// The task resolves to [`TaskError::Cancelled`] when the loop next gets to it: a task
    /// that never ran never runs its body; a suspended task has its future dropped at the
    /// await point, so its destructors run. Returns `false` if the task had already
    /// finished (nothing to cancel), `true` otherwise.
    ///
    /// ```
    /// ringloop::run(async {
    ///     let task = ringloop::spawn(std::future::pending::<()>());
    ///     assert!(task.cancel());
    ///     assert!(task.await.unwrap_err().is_cancelled());
    ///
    ///     let quick = ringloop::spawn(async { 1 });
    ///     ringloop::yield_now().await; // quick runs to its end
    ///     assert!(!quick.cancel()); // too late: it finished
    /// });
    /// ```
    pub fn cancel(&self) -> bool {
        let header = self.header();
        let state = header.state();
        if state.has(State::COMPLETE) {
            return false;
        }
        if !state.has(State::CANCEL_REQUESTED) {
            header.set(State::CANCEL_REQUESTED);
            header.inc_ref();
            // SAFETY: we just took the reference the wake consumes.
            super::waker::schedule(unsafe { NodeRef::from_raw(NonNull::from(header)) });
        }
        true
    }

    /// Whether the task has finished (with a value, a panic, or cancelled).
    ///
    /// ```
    /// ringloop::run(async {
    ///     let task = ringloop::spawn(async { 1 });
    ///     assert!(!task.is_done()); // queued, not run yet
    ///     ringloop::yield_now().await;
    ///     assert!(task.is_done());
    ///     assert_eq!(task.await.unwrap(), 1);
    /// });
    /// ```
    pub fn is_done(&self) -> bool {
        self.header().state().has(State::COMPLETE)
    }

    /// Whether the task finished by being cancelled.
    ///
    /// ```
    /// ringloop::run(async {
    ///     let task = ringloop::spawn(std::future::pending::<()>());
    ///     task.cancel();
    ///     assert!(!task.is_cancelled()); // requested; the loop has not got to it yet
    ///     ringloop::yield_now().await;
    ///     assert!(task.is_cancelled());
    /// });
    /// ```
    pub fn is_cancelled(&self) -> bool {
        // Set only when the task completes as cancelled.
        self.header().state().has(State::CANCELLED)
    }

    /// Ready once the result can be taken; otherwise registers `cx`'s waker like a poll
    /// of the handle does. Never takes the result.
    pub(crate) fn poll_done(&self, cx: &mut Context<'_>) -> Poll<()> {
        let prefix = self.prefix();
        let task = &prefix.task;
        if task.header.state().has(State::COMPLETE) && task.callbacks_pending.get() == 0 {
            return Poll::Ready(());
        }
        register_awaiter(task, cx);
        Poll::Pending
    }

    /// Whether the task finished by panicking (its result not yet taken).
    pub(crate) fn is_panicked(&self) -> bool {
        let prefix = self.prefix();
        // SAFETY: loop thread (a `Task` never leaves it); no borrow of the slot is live.
        let result = unsafe { &*prefix.out.result.get() };
        matches!(result, Some(Err(TaskError::Panicked(_))))
    }

    /// Adds a callback that receives the task's result once it is done.
    ///
    /// The callback is always *scheduled* (as by `call_soon`), never run inline, even on a
    /// task that has already finished. A callback that sees a failure counts as having
    /// retrieved it: the exception handler is not told about it.
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    ///
    /// let seen = Rc::new(Cell::new(None));
    /// let s = seen.clone();
    /// ringloop::run(async move {
    ///     let task = ringloop::spawn(async { 7 });
    ///     task.add_done_callback(move |result| s.set(result.as_ref().ok().copied()));
    ///     assert_eq!(task.await.unwrap(), 7);
    /// });
    /// assert_eq!(seen.get(), Some(7));
    /// ```
    ///
    /// # Panics
    ///
    /// If the result was already taken by awaiting this handle: keep the handle unawaited
    /// (or use the value you awaited) instead.
    pub fn add_done_callback(&self, f: impl FnOnce(&Result<T, TaskError>) + 'static) {
        let prefix = self.prefix();
        let callback: DoneCallback<T> = Box::new(f);
        if !prefix.task.header.state().has(State::COMPLETE) {
            // SAFETY: loop thread; the list is not borrowed elsewhere.
            unsafe {
                (*prefix.out.done.get())
                    .get_or_insert_default()
                    .push(callback)
            };
            return;
        }
        // SAFETY: as above.
        if unsafe { (*prefix.out.result.get()).is_none() } {
            panic!(
                "Task::add_done_callback: the task's result was already taken by awaiting \
                 the handle; add done callbacks before awaiting it"
            );
        }
        super::current::with_scheduler(|sched| match sched {
            Some(sched) if sched.owns(&prefix.task) => {
                let ptr = NonNull::from(&prefix.task.header);
                // SAFETY: a live, COMPLETE task with result type `T`, loop thread.
                unsafe { schedule_done_callback(ptr, sched, callback) }
            }
            _ => panic!(
                "Task::add_done_callback on a finished task needs its loop to be running \
                 (call it from inside the loop, e.g. in a task or callback)"
            ),
        });
    }
}

impl<T: 'static> Future for Task<T> {
    type Output = Result<T, TaskError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let prefix = self.prefix();
        let task = &prefix.task;
        if task.header.state().has(State::COMPLETE) && task.callbacks_pending.get() == 0 {
            // SAFETY: loop thread; no borrow of the slot is live.
            if let Some(result) = unsafe { (*prefix.out.result.get()).take() } {
                task.header.set(State::RETRIEVED);
                return Poll::Ready(result);
            }
            // COMPLETE but no result: either it was taken already, or the future's
            // destructor is running right now and the result is not stored yet.
            if task.header.state().has(State::RETRIEVED) {
                panic!("Task polled again after it returned its result");
            }
        }
        register_awaiter(task, cx);
        Poll::Pending
    }
}

/// Takes the result of a finished task whose done callbacks have all run, marking it
/// retrieved; `None` when it is not there (yet).
///
/// # Safety
///
/// `ptr` is a live task with result type `T`, and this is the loop thread.
pub(crate) unsafe fn take_result<T>(ptr: NonNull<Header>) -> Option<Result<T, TaskError>> {
    // SAFETY: the caller guarantees a live task with result type `T`.
    let prefix = unsafe { ptr.cast::<TaskPrefix<T>>().as_ref() };
    let task = &prefix.task;
    if !task.header.state().has(State::COMPLETE) || task.callbacks_pending.get() > 0 {
        return None;
    }
    // SAFETY: loop thread; no borrow of the slot is live.
    let result = unsafe { (*prefix.out.result.get()).take() }?;
    task.header.set(State::RETRIEVED);
    Some(result)
}

/// Registers the awaiter of a task that is not done yet.
///
/// # Panics
///
/// When the task's loop is not the one running here: the task only moves while its
/// loop runs, so the awaiter (on another loop, or another executor) would wait forever.
fn register_awaiter(task: &super::raw::TaskHeader, cx: &Context<'_>) {
    if !super::current::is_running(Arc::as_ptr(&task.shared).addr()) {
        super::current::wrong_loop("this Task");
    }
    match task.awaiter.take() {
        Some(waker) if waker.will_wake(cx.waker()) => task.awaiter.set(Some(waker)),
        _ => task.awaiter.set(Some(cx.waker().clone())),
    }
}

impl<T> Drop for Task<T> {
    fn drop(&mut self) {
        let ptr = self.node;
        // SAFETY: the handle owns a reference to a live task with result type `T`.
        let prefix = unsafe { ptr.cast::<TaskPrefix<T>>().as_ref() };
        prefix.task.header.clear(State::HANDLE);
        // SAFETY: a live task with result type `T`, on its loop thread.
        if let Some(report) = unsafe { settle_unclaimed::<T>(ptr) }
            && let Err(RemoteMsg::Report(report)) =
                prefix.task.shared.push(RemoteMsg::Report(report))
        {
            // The loop is gone; nobody else can hear about it.
            super::error::default_exception_handler(report);
        }
        // SAFETY: releasing the handle's reference.
        unsafe { release(ptr, 1) };
    }
}

impl<T> fmt::Debug for Task<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // SAFETY: the handle keeps the node alive.
        let header = unsafe { self.node.as_ref() };
        // SAFETY: the handle keeps its node, a task, alive.
        let task = unsafe { super::raw::TaskHeader::from_header(self.node) };
        f.debug_struct("Task")
            .field("id", &task.ident.id())
            .field("state", &header.state())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::future::poll_fn;
    use std::rc::Rc;
    use std::sync::atomic::Ordering;
    use std::task::{Poll, Waker};

    use crate::EventLoop;

    /// A handle is one word (a `Vec` of a million handles is 8 MB), and `Option` of one
    /// costs nothing more.
    #[test]
    fn a_handle_is_one_pointer() {
        assert_eq!(std::mem::size_of::<super::Task<u64>>(), 8);
        assert_eq!(std::mem::size_of::<super::Task<[u8; 256]>>(), 8);
        assert_eq!(std::mem::size_of::<Option<super::Task<u64>>>(), 8);
    }

    fn refs<T>(task: &super::Task<T>) -> u32 {
        // SAFETY: the handle keeps the node alive.
        unsafe { task.node.as_ref() }.refs.load(Ordering::SeqCst)
    }

    /// Waker clones made during a poll (which may take over the queue's reference) and
    /// self-wakes leave the count exact: handle + stored wakers once the task is done.
    #[test]
    fn waker_clones_during_poll_keep_the_refcount_exact() {
        let lp = EventLoop::new().unwrap();
        let stash: Rc<RefCell<Vec<Waker>>> = Rc::default();
        let s = stash.clone();
        let mut polls = 0;
        let task = lp.spawn(poll_fn(move |cx| {
            polls += 1;
            match polls {
                1 => {
                    s.borrow_mut().push(cx.waker().clone());
                    s.borrow_mut().push(cx.waker().clone());
                    cx.waker().wake_by_ref();
                    Poll::Pending
                }
                2 => {
                    cx.waker().wake_by_ref();
                    s.borrow_mut().push(cx.waker().clone());
                    Poll::Pending
                }
                3 => {
                    drop(cx.waker().clone());
                    s.borrow_mut().push(cx.waker().clone());
                    Poll::Ready(7)
                }
                _ => unreachable!("polled after completion"),
            }
        }));
        let t = &task;
        lp.run_until_complete(poll_fn(|cx| {
            if t.is_done() {
                Poll::Ready(())
            } else {
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        }));
        assert_eq!(refs(&task), 1 + 4);
        stash.borrow_mut().clear();
        assert_eq!(refs(&task), 1);
        assert_eq!(lp.run_until_complete(task).unwrap(), 7);
    }
}
