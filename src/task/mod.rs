//! Tasks and callbacks: the nodes of the ready queue, their wakers and handles.
//!
//! - [`header`]: the node header every task and callback starts with; references.
//! - [`state`]: the state bits, as a spec.
//! - [`raw`]: a task's single allocation and its run / complete / cancel logic.
//! - [`cache`]: the loop's free lists of task allocations.
//! - [`callback`]: callback nodes (`call_soon`, timers, done callbacks, remote calls).
//! - [`waker`]: the local fast path and the remote path of a wake; the task being polled.
//! - [`remote`]: the queue + eventfd other threads use.
//! - [`join`]: `Task<T>`, the handle.
//! - [`ident`]: task ids and names, `current_task`, `TaskInfo`.
//! - [`group`]: the task group, `TaskGroup<T>`.
//! - [`completion`] and [`as_completed`]: results in completion order.
//! - [`local`]: task-local values, `task_local!`.
//! - [`scheduler`]: ready queue, live-task list, main node.

pub(crate) mod as_completed;
pub(crate) mod blocking;
pub(crate) mod cache;
pub(crate) mod callback;
pub(crate) mod completion;
pub(crate) mod current;
pub(crate) mod error;
pub(crate) mod group;
pub(crate) mod header;
pub(crate) mod ident;
pub(crate) mod join;
pub(crate) mod local;
pub(crate) mod queue;
pub(crate) mod raw;
pub(crate) mod remote;
pub(crate) mod scheduler;
pub(crate) mod state;
pub(crate) mod waker;

pub use as_completed::{AsCompleted, as_completed};
pub use error::{ExceptionContext, ExceptionKind, TaskError};
pub use group::TaskGroup;
pub use ident::{TaskInfo, TaskState, current_task};
pub use join::Task;
pub use local::{TaskLocalError, TaskLocalFuture, TaskLocalKey};
