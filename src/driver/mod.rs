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

pub(crate) mod slab;
pub(crate) mod token;
pub(crate) mod uring;

use std::io;
use std::task::Waker;
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
