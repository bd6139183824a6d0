//! ringloop: an asyncio-style event loop for Rust on Linux io_uring.
//!
//! One loop per thread runs tasks, callbacks, timers and I/O. Its vocabulary is
//! asyncio's — [`run`], [`EventLoop::run_until_complete`], [`EventLoop::run_forever`],
//! [`EventLoop::stop`], [`EventLoop::call_soon`], [`EventLoop::call_later`], [`spawn`]
//! (`create_task`), [`gather`], [`wait`], [`as_completed`], [`timeout`] (`wait_for`),
//! [`timeout_at`], [`shield`], [`TaskGroup`], [`current_task`], [`task_local!`]
//! (`contextvars`) and [`sync::Queue`] — with asyncio's semantics made exact:
//!
//! - an iteration runs only what was ready when it began; `call_soon` is FIFO, and tasks
//!   and callbacks share one FIFO;
//! - equal deadlines fire in scheduling order, and no timer fires early;
//! - done callbacks are scheduled, never run inline;
//! - cancelling a task that never ran means its body never runs; cancelling a suspended
//!   task drops its future at the await point;
//! - a panic in a task or callback never stops the loop; an unobserved failure reaches
//!   the exception handler once.
//!
//! [`EventLoop::spawn_eager`] (or a loop built with [`Builder::eager_tasks`]) runs a new
//! task's first step before the spawn returns, as Python 3.12's eager task factory does;
//! its documentation lists exactly where that order differs.
//!
//! # Architecture
//!
//! The loop owns a ready queue (an intrusive FIFO of task and callback headers: no
//! allocation to schedule), a timer queue keyed by (deadline, sequence), a remote queue
//! for other threads (lock-free queue + one eventfd write) and a driver. Each iteration
//! computes the wait, lets the driver submit and wait in one `io_uring_enter`, wakes what
//! completed, moves expired timers to the ready queue, and runs the snapshot of what is
//! ready, up to [`ITERATION_BUDGET`] nodes.
//!
//! Socket operations ([`net`]) take owned buffers and live in the driver's op slab
//! until the kernel's completion arrives, so dropping a future mid-operation is always
//! safe: the operation is cancelled and its memory is freed only after the kernel let go.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//!
//! let total = ringloop::run(async {
//!     let tasks: Vec<_> = (1..=3u64)
//!         .map(|i| ringloop::spawn(async move {
//!             ringloop::sleep(Duration::from_millis(i)).await;
//!             i * 10
//!         }))
//!         .collect();
//!     let mut total = 0;
//!     for task in tasks {
//!         total += task.await.expect("task finished");
//!     }
//!     total
//! });
//! assert_eq!(total, 60);
//! ```

#![deny(missing_docs)]
#![warn(missing_debug_implementations)]
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

mod driver;
mod event_loop;
mod facade;
mod pool;
mod sys;
mod task;
mod time;

pub mod compat;
pub mod fs;
pub mod net;
pub mod process;
pub mod signal;
pub mod sync;

/// Fuzzing support, not API: thin wrappers over internals the targets under `fuzz/`
/// drive. Compiled only with `--cfg fuzzing` (which `cargo fuzz` passes) or
/// `--cfg ringloop_fuzzing`.
#[cfg(any(fuzzing, ringloop_fuzzing))]
#[doc(hidden)]
#[path = "fuzz_hooks.rs"]
pub mod __fuzz;

/// The README's examples, compiled and run as doc tests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

pub use driver::Backend;
pub use event_loop::{
    Builder, CallbackHandle, Closed, EventLoop, ITERATION_BUDGET, LoopHandle, Remote, RemoteTask,
    Stats, TrySendError, get_running_loop,
};
#[doc(hidden)]
pub use facade::{__join2, Join2};
pub use facade::{
    ReturnWhen, YieldNow, all_tasks, call_at, call_later, call_soon, gather, run, shield, spawn,
    spawn_blocking, spawn_eager, wait, yield_now,
};
pub use pool::{LoopPool, LoopPoolBuilder};
pub use task::{
    AsCompleted, ExceptionContext, ExceptionKind, Task, TaskError, TaskGroup, TaskInfo,
    TaskLocalError, TaskLocalFuture, TaskLocalKey, TaskState, as_completed, current_task,
};
pub use time::{Elapsed, Sleep, sleep, sleep_until, timeout, timeout_at};

#[cfg(feature = "fault-injection")]
pub use driver::fault::FaultPlan;
