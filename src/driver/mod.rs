//! The driver seam: what the loop asks of an I/O backend.
//!
//! The loop never names io_uring. It asks its driver to [`turn`](Driver::turn): submit
//! whatever is queued, wait as long as the loop allows, and report which wakers the
//! completions woke. The io_uring backend lives in [`uring`]; an epoll backend and a
//! fault-injecting test backend sit behind the same trait.
//!
//! # Ground rules
//!
//! - A driver is owned by one loop and used only on its thread.
//! - `turn` never runs user code: it only collects wakers, which the loop wakes after
//!   releasing its borrow of the driver (so a woken task may submit at once).
//! - Memory handed to the kernel stays owned by the driver until its completion arrives,
//!   including across the driver's own drop, which cancels and drains what is in flight.

// The operation types are public (so an `Op<'_, Recv<Vec<u8>>>` can be named), but the
// `Operation` trait they implement is sealed: its methods speak the driver's private
// types, which is what this allows.
#![allow(private_interfaces)]

pub(crate) mod accept;
pub(crate) mod buf;
mod cancel;
pub(crate) mod close;
pub(crate) mod connect;
pub(crate) mod msg;
pub(crate) mod op;
pub(crate) mod recv;
pub(crate) mod send;
pub(crate) mod shutdown;
pub(crate) mod slab;
pub(crate) mod token;
pub(crate) mod uring;

use std::any::Any;
use std::io;
use std::task::{Context, Poll, Waker};

use op::{Late, OpCode, OpId};
use slab::Completion;
use std::time::Duration;

/// Which I/O backend a loop runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Backend {
    /// io_uring when it works on this machine, else epoll. Overridden by the
    /// `RINGLOOP_BACKEND` environment variable (`io_uring`, `epoll` or `auto`).
    #[default]
    Auto,
    /// Linux io_uring.
    IoUring,
    /// Linux epoll (readiness and nonblocking syscalls).
    Epoll,
}

/// How long a turn may block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wait {
    /// Not at all: submit and reap what is there.
    Poll,
    /// At most this long.
    Timeout(Duration),
    /// Until a completion arrives.
    Forever,
}

/// Counters a driver keeps for `EventLoop::stats`.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct DriverStats {
    pub(crate) enters: u64,
    pub(crate) sqes_submitted: u64,
    pub(crate) ops_in_flight: usize,
    pub(crate) buffers_held: usize,
    pub(crate) stray_completions: u64,
}

/// An I/O backend.
pub(crate) trait Driver {
    /// The backend this driver implements.
    fn backend(&self) -> Backend;

    /// Submits what is queued and reaps completions, blocking as `wait` allows. Wakers of
    /// completed operations are appended to `wakers`.
    fn turn(&mut self, wait: Wait, wakers: &mut Vec<Waker>) -> io::Result<()>;

    /// Whether a `Wait::Poll` turn has anything to do: entries to submit, completions
    /// or deferred kernel work pending. When false the loop skips the turn (and its
    /// syscall) while it has tasks ready.
    fn wants_poll(&mut self) -> bool;

    /// Current counters.
    fn stats(&self) -> DriverStats;

    /// Queues an operation; it reaches the kernel with the next turn (or sooner, when
    /// the submission queue is full).
    ///
    /// # Safety
    ///
    /// Every pointer in `op` stays valid, and is not otherwise accessed, until the
    /// operation's completion has been collected with `poll_op`, or until the driver
    /// frees what was handed to `abandon_op`.
    unsafe fn submit(&mut self, op: OpCode) -> io::Result<OpId>;

    /// The operation's completion, once it arrived; registers the waker until then.
    fn poll_op(&mut self, id: OpId, cx: &mut Context<'_>) -> Poll<Completion>;

    /// Asks the kernel to cancel the operation. Its completion still arrives (with
    /// `ECANCELED`, or with what it did before the cancel took effect).
    fn cancel_op(&mut self, id: OpId);

    /// The operation's future is gone: keep `held` (the memory the kernel may touch)
    /// until the completion arrives, cancelling the operation meanwhile; `late` says what
    /// to do with its result.
    fn abandon_op(&mut self, id: OpId, held: Option<Box<dyn Any>>, late: Late);

    /// Cancels and drains everything in flight before the loop closes. Returns `false`
    /// when the kernel did not give everything back (what it held is then leaked, never
    /// freed).
    fn shutdown(&mut self) -> bool;

    /// One line on what the backend uses (kernel features, setup flags).
    fn describe(&self) -> String;
}

/// Options for building a driver.
#[derive(Clone, Copy, Debug)]
pub(crate) struct DriverConfig {
    pub(crate) ring_entries: u32,
    /// Bound waits with a timeout SQE even where `IORING_FEAT_EXT_ARG` exists (tests
    /// exercise the fallback path with it).
    pub(crate) force_timeout_sqe: bool,
}

/// Builds the driver for `backend`, waking through `wake_fd`.
pub(crate) fn build(
    backend: Backend,
    config: DriverConfig,
    wake_fd: std::os::fd::RawFd,
) -> io::Result<Box<dyn Driver>> {
    let backend = match backend {
        Backend::Auto => match std::env::var("RINGLOOP_BACKEND").as_deref() {
            Ok("io_uring") => Backend::IoUring,
            Ok("epoll") => Backend::Epoll,
            Ok("auto") | Ok("") | Err(_) => Backend::Auto,
            Ok(other) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("RINGLOOP_BACKEND={other:?}: expected io_uring, epoll or auto"),
                ));
            }
        },
        explicit => explicit,
    };
    match backend {
        Backend::Auto | Backend::IoUring => {
            Ok(Box::new(uring::Uring::new(config, wake_fd)?) as Box<dyn Driver>)
        }
        Backend::Epoll => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "the epoll backend is not available in this version of ringloop; \
             use Backend::IoUring or Backend::Auto",
        )),
    }
}
