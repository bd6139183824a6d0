//! Tasks and callbacks: the nodes of the ready queue, their wakers and handles.
//!
//! - [`header`]: the node header every task and callback starts with; references.
//! - [`state`]: the state bits, as a spec.
//! - [`raw`]: a task's single allocation and its run / complete / cancel logic.
//! - [`callback`]: callback nodes (`call_soon`, timers, done callbacks, remote calls).
//! - [`waker`]: the local fast path and the remote path of a wake.
//! - [`remote`]: the queue + eventfd other threads use.
//! - [`join`]: `Task<T>`, the handle.
//! - [`scheduler`]: ready queue, live-task list, main node.

pub(crate) mod blocking;
pub(crate) mod callback;
pub(crate) mod current;
pub(crate) mod error;
pub(crate) mod header;
pub(crate) mod join;
pub(crate) mod queue;
pub(crate) mod raw;
pub(crate) mod remote;
pub(crate) mod scheduler;
pub(crate) mod state;
pub(crate) mod waker;

pub use error::{ExceptionContext, ExceptionKind, TaskError};
pub use join::Task;
