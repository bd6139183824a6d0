//! Task identity: ids, names, and what [`current_task`](crate::current_task) and
//! [`EventLoop::all_tasks`](crate::EventLoop::all_tasks) report.
//!
//! # Cost
//!
//! A task carries one word of identity, [`Ident`]: its id while it has no name of its
//! own, or a pointer to a boxed `(id, name)` once [`Task::set_name`] gave it one. So a
//! spawn stores an id and allocates nothing for it, and the default name `Task-<id>`
//! (asyncio's) is formatted only when someone asks.
//!
//! Ids come from a process-wide counter, taken in blocks of [`ID_BLOCK`] per thread so
//! that a spawn costs a thread-local increment, not an atomic operation. Ids are unique
//! per process; a thread numbers its tasks 1, 2, 3, ... when it is the only one
//! spawning, as asyncio numbers `Task-1`, `Task-2`, ... per process.
//!
//! [`Task::set_name`]: crate::Task::set_name

use std::cell::Cell;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

/// Ids a thread takes from the process-wide counter at a time.
pub(crate) const ID_BLOCK: u64 = 1024;

/// The first id of the next block any thread takes.
static NEXT_BLOCK: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// This thread's block: the next id to hand out and the end of the block. Const and
    /// without a destructor, so it is usable until the thread is gone.
    static IDS: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
}

/// A new task id, unique in this process, never 0.
pub(crate) fn next_id() -> u64 {
    IDS.with(|ids| {
        let (next, end) = ids.get();
        if next < end {
            ids.set((next + 1, end));
            return next;
        }
        let start = NEXT_BLOCK.fetch_add(ID_BLOCK, Ordering::Relaxed);
        ids.set((start + 1, start + ID_BLOCK));
        start
    })
}

/// A task's id and, once set, its name: one word.
///
/// # Invariant
///
/// `word` is odd (`id << 1 | 1`) while the task has no name of its own, and otherwise
/// the exposed address of a `Box<Named>` this `Ident` owns (boxes are at least 8-byte
/// aligned, so the address is even); the box is freed when the `Ident` drops or is
/// renamed.
pub(crate) struct Ident {
    word: Cell<u64>,
}

struct Named {
    id: u64,
    name: Box<str>,
}

impl Ident {
    /// An identity with id `id` and the default name.
    pub(crate) fn new(id: u64) -> Ident {
        Ident {
            word: Cell::new(id << 1 | 1),
        }
    }

    fn named(&self) -> Option<&Named> {
        let word = self.word.get();
        if word & 1 == 1 {
            return None;
        }
        let ptr = std::ptr::with_exposed_provenance::<Named>(word as usize);
        // An even word is the address of a live box this `Ident` owns; it is freed only
        // through `&mut self` (drop) or after the word is replaced (`set_name`,
        // `set_id`, which take the box out first), so it outlives this `&self` borrow.
        // SAFETY: `ptr` points to that live, owned box (the invariant above).
        Some(unsafe { &*ptr })
    }

    /// The task's id.
    pub(crate) fn id(&self) -> u64 {
        match self.named() {
            Some(named) => named.id,
            None => self.word.get() >> 1,
        }
    }

    /// The task's name: the one set, or `Task-<id>`.
    pub(crate) fn name(&self) -> String {
        match self.named() {
            Some(named) => named.name.to_string(),
            None => format!("Task-{}", self.id()),
        }
    }

    /// Gives the task a name of its own.
    pub(crate) fn set_name(&self, name: &str) {
        let named = Box::new(Named {
            id: self.id(),
            name: name.into(),
        });
        let addr = Box::into_raw(named).expose_provenance() as u64;
        debug_assert_eq!(addr & 1, 0, "a box is at least 2-byte aligned");
        let old = self.word.replace(addr);
        free(old);
    }

    /// Gives the identity a new id and forgets any name (the loop's main node, each
    /// time `run_until_complete` starts a new future).
    pub(crate) fn reset(&self, id: u64) {
        let old = self.word.replace(id << 1 | 1);
        free(old);
    }
}

/// Frees the box behind `word`, if it is one.
fn free(word: u64) {
    if word & 1 == 0 {
        let ptr = std::ptr::with_exposed_provenance_mut::<Named>(word as usize);
        // SAFETY: by the invariant, an even word is a box the `Ident` owned; the caller
        // has just removed it from the `Ident`, so this is its only owner.
        drop(unsafe { Box::from_raw(ptr) });
    }
}

impl Drop for Ident {
    fn drop(&mut self) {
        free(self.word.get());
    }
}

impl fmt::Debug for Ident {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ident")
            .field("id", &self.id())
            .field("name", &self.name())
            .finish()
    }
}

/// Where a task is in its life (the `state` of a [`TaskInfo`]).
///
/// ```
/// use ringloop::TaskState;
///
/// ringloop::run(async {
///     let task = ringloop::spawn(async {
///         // Inside its own step, a task is running.
///         ringloop::current_task().unwrap().state
///     });
///     assert_eq!(task.info().state, TaskState::Pending, "not run yet");
///     assert_eq!(task.await.unwrap(), TaskState::Running);
/// });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TaskState {
    /// Waiting: queued to run, or suspended at an await point.
    Pending,
    /// In the middle of a step: its future is being polled right now.
    Running,
    /// Finished: with a value, a panic, or cancelled.
    Done,
}

/// A snapshot of a task's identity and state, from [`current_task`](crate::current_task),
/// [`EventLoop::all_tasks`](crate::EventLoop::all_tasks) or [`Task::info`](crate::Task::info).
///
/// ```
/// let info = ringloop::run(async {
///     let task = ringloop::spawn(async { ringloop::current_task().expect("inside a task") });
///     task.set_name("worker");
///     task.await.unwrap()
/// });
/// assert_eq!(info.name, "worker");
/// assert_eq!(info.state, ringloop::TaskState::Running);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TaskInfo {
    /// Unique among the tasks of this process (asyncio has no ids; tokio's `task::Id`).
    pub id: u64,
    /// The name given with [`Task::set_name`](crate::Task::set_name), else `Task-<id>`.
    pub name: String,
    /// Where the task is in its life.
    pub state: TaskState,
}

impl TaskInfo {
    pub(crate) fn new(ident: &Ident, state: TaskState) -> TaskInfo {
        TaskInfo {
            id: ident.id(),
            name: ident.name(),
            state,
        }
    }
}

/// The task running now, if this is called from inside one (asyncio's `current_task()`):
/// a spawned task's step, or the future [`run`](crate::run) or
/// [`EventLoop::run_until_complete`](crate::EventLoop::run_until_complete) is running
/// (asyncio runs that as a task too). `None` in a callback, outside any loop, or in a
/// task's destructors once it was cancelled. Its state is [`TaskState::Running`].
///
/// ```
/// ringloop::run(async {
///     let main = ringloop::current_task().expect("run's future is a task");
///     let child = ringloop::spawn(async { ringloop::current_task().unwrap() });
///     let id = child.id();
///     let seen = child.await.unwrap();
///     assert_eq!(seen.id, id);
///     assert_ne!(seen.id, main.id);
/// });
/// assert!(ringloop::current_task().is_none());
/// ```
pub fn current_task() -> Option<TaskInfo> {
    super::scheduler::Scheduler::current_task()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ident_is_one_word_and_names_lazily() {
        assert_eq!(std::mem::size_of::<Ident>(), 8);
        let ident = Ident::new(41);
        assert_eq!((ident.id(), ident.name()), (41, "Task-41".to_string()));
        ident.set_name("first");
        ident.set_name("second");
        assert_eq!((ident.id(), ident.name()), (41, "second".to_string()));
        ident.reset(7);
        assert_eq!((ident.id(), ident.name()), (7, "Task-7".to_string()));
    }

    #[test]
    fn ids_are_unique_across_threads_and_blocks() {
        let here: Vec<u64> = (0..ID_BLOCK + 5).map(|_| next_id()).collect();
        let there = std::thread::spawn(|| (0..10).map(|_| next_id()).collect::<Vec<_>>())
            .join()
            .unwrap();
        let mut all: Vec<u64> = here.iter().chain(&there).copied().collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), here.len() + there.len());
        assert!(!all.contains(&0));
        assert!(
            here.windows(2).all(|w| w[0] < w[1]),
            "a thread's ids increase"
        );
    }
}
