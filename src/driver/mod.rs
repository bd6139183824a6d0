//! The driver seam: what the loop asks of an I/O backend.
//!
//! The loop never names io_uring. It asks its driver to [`turn`](Driver::turn): submit
//! whatever is queued, wait as long as the loop allows, and report which wakers the
//! completions woke. The io_uring backend lives in [`uring`], the epoll backend in
//! [`epoll`]; [`build`] picks one.
//!
//! # Ground rules
//!
//! - A driver is owned by one loop and used only on its thread.
//! - `turn` never runs user code: it only collects wakers, which the loop wakes after
//!   releasing its borrow of the driver (so a woken task may submit at once).
//! - Memory handed to the kernel stays owned by the driver until its completion arrives,
//!   including across the driver's own drop, which cancels and drains what is in flight.

//! # Visibility
//!
//! The operation types are public (so an `Op<'_, Recv<Vec<u8>>>` can be named), and the
//! `Operation` trait they implement is sealed: it lives in this crate-private module, and
//! so do the types its methods speak (`OpCode`, `Completion`, `Late`, `Fd`). Those are
//! declared `pub` all the same: reachable by no one outside the crate, but no more
//! private than the public trait that names them, so no lint needs silencing.

pub(crate) mod buf;
pub(crate) mod bufring;
pub(crate) mod epoll;
#[cfg(feature = "fault-injection")]
pub(crate) mod fault;
pub(crate) mod fd;
pub(crate) mod handle;
pub(crate) mod op;
pub(crate) mod ops;
pub(crate) mod recv_buf;
pub(crate) mod retry;
pub(crate) mod sink;
pub(crate) mod sink_io;
pub(crate) mod slab;
pub(crate) mod token;
pub(crate) mod try_first;
pub(crate) mod uring;

use std::any::Any;
use std::io;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use bufring::BufRing;
use fd::Fd;
use op::{Late, OpCode, OpId};
use sink::Sink;
use slab::Completion;
use std::time::Duration;

/// Which I/O backend a loop runs on.
///
/// ```
/// use ringloop::{Backend, EventLoop};
///
/// let lp = EventLoop::builder().backend(Backend::Epoll).build()?;
/// assert_eq!(lp.backend(), Backend::Epoll);
/// // Auto (the default) resolves to the backend actually used.
/// assert_ne!(EventLoop::new()?.backend(), Backend::Auto);
/// # Ok::<(), std::io::Error>(())
/// ```
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
    pub(crate) accepts_submitted: u64,
    pub(crate) fixed_files: usize,
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
    /// syscall) while it has tasks ready. `ran` is how many tasks and callbacks the loop
    /// ran since it last asked, for a backend that can only tell by a syscall whether
    /// events wait, and so looks after a budget of work.
    fn wants_poll(&mut self, ran: usize) -> bool;

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

    /// Queues an operation whose completions go to `sink` with `tag` instead of waiting
    /// in the slab for a future (see `sink.rs`). A multishot operation delivers until a
    /// completion without `F_MORE`. `cancel_op` and `abandon_op` work as for `submit`.
    ///
    /// # Safety
    ///
    /// As for [`submit`](Driver::submit): every pointer in `op` stays valid until the
    /// operation's final completion has been delivered to the sink, or until the driver
    /// frees what was handed to `abandon_op`.
    unsafe fn submit_to(&mut self, op: OpCode, sink: &Rc<Sink>, tag: u64) -> io::Result<OpId>;

    /// The loop's provided-buffer ring for multishot receives, set up on first use;
    /// `None` where the backend or kernel has none (then read on readiness).
    fn buf_ring(&mut self) -> Option<Rc<BufRing>>;

    /// Whether file operations (`OpCode::OpenAt`, `ReadAt`, `WriteAt`, `Fsync`, `Statx`) may be
    /// submitted here. Where not (epoll, or a kernel without them), `fs` runs its work
    /// on the blocking pool instead.
    fn files(&self) -> bool;

    /// Whether a zero-copy send (`OpCode::Send` with `zc`) may be submitted here.
    fn send_zc(&self) -> bool;

    /// Whether `OpCode::AcceptMulti` may be submitted to a sink here. A kernel may still
    /// refuse it on first arm (`EINVAL`); callers then fall back to single-shot accepts.
    fn multishot_accept(&self) -> bool;

    /// Registers the stream socket `fd` in the ring's file table (`Builder::fixed_files`,
    /// see `uring/fixed.rs`): its slot, which its operations then name. `None` where
    /// there is no table (epoll, or fixed files off), it is full, or the kernel refused.
    fn register_fixed(&mut self, fd: Fd) -> Option<u32> {
        let _ = fd;
        None
    }

    /// Gives `fd`'s slot back (before the socket closes or leaves the loop). Nothing if
    /// the table does not hold `fd` there.
    fn unregister_fixed(&mut self, fd: Fd) {
        let _ = fd;
    }

    /// The operation's completion, once it arrived; registers the waker until then.
    fn poll_op(&mut self, id: OpId, cx: &mut Context<'_>) -> Poll<Completion>;

    /// Asks the kernel to cancel the operation. Its completion still arrives (with
    /// `ECANCELED`, or with what it did before the cancel took effect).
    fn cancel_op(&mut self, id: OpId);

    /// The operation's future is gone: keep `held` (the memory the kernel may touch)
    /// until the completion arrives, cancelling the operation meanwhile; `late` says what
    /// to do with its result. An op with nothing held and `Late::Ignore` (a close that
    /// nobody awaits) may be left to finish instead of cancelled; one with
    /// `Late::Finish` (a file write) always is.
    fn abandon_op(&mut self, id: OpId, held: Option<Box<dyn Any>>, late: Late);

    /// Cancels and drains everything in flight before the loop closes. Returns `false`
    /// when the kernel did not give everything back (what it held is then leaked, never
    /// freed).
    fn shutdown(&mut self) -> bool;

    /// One line on what the backend uses (kernel features, setup flags).
    fn describe(&self) -> String;
}

/// The most submission queue entries a ring may have (the kernel's `IORING_MAX_ENTRIES`);
/// larger requests are clamped to it.
pub(crate) const MAX_RING_ENTRIES: u32 = 32768;

/// The most memory the provided receive buffers of one loop may take together.
pub(crate) const MAX_RECV_BUFFER_BYTES: u64 = 1 << 30;

/// Options for building a driver.
#[derive(Clone, Copy, Debug)]
pub(crate) struct DriverConfig {
    pub(crate) ring_entries: u32,
    /// Bound waits with a timeout SQE even where `IORING_FEAT_EXT_ARG` exists (tests
    /// exercise the fallback path with it).
    pub(crate) force_timeout_sqe: bool,
    /// Provided buffers for multishot receives: how many (a power of two) and how big.
    pub(crate) recv_buffers: u16,
    pub(crate) recv_buffer_size: u32,
    /// `IORING_SETUP_SQPOLL` with this idle time before the kernel's polling thread
    /// sleeps (`Builder::sqpoll`); `None`: no polling thread.
    pub(crate) sqpoll_idle: Option<std::time::Duration>,
    /// Slots of the ring's registered-file table for stream sockets
    /// (`Builder::fixed_files`); 0: none.
    pub(crate) fixed_files: u32,
}

/// Which backend `RINGLOOP_BACKEND` asks for, if it is set (`auto` and empty mean
/// [`Backend::Auto`]).
pub(crate) fn backend_from_env(value: Option<&str>) -> io::Result<Backend> {
    match value {
        Some("io_uring") => Ok(Backend::IoUring),
        Some("epoll") => Ok(Backend::Epoll),
        Some("auto") | Some("") | None => Ok(Backend::Auto),
        Some(other) => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("RINGLOOP_BACKEND={other:?}: expected io_uring, epoll or auto"),
        )),
    }
}

/// Whether an io_uring setup failure means "not here" (select epoll) rather than a
/// real error: the syscall is missing (`ENOSYS`), forbidden (`EPERM`, `EACCES`: seccomp,
/// `kernel.io_uring_disabled`), refused (`EINVAL`: too old a kernel for the setup) or
/// starved (`ENOMEM`: locked-memory limits), or an opcode ringloop needs is missing.
fn io_uring_unavailable(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOSYS | libc::EPERM | libc::EACCES | libc::EINVAL | libc::ENOMEM)
    ) || e.kind() == io::ErrorKind::Unsupported
}

/// Builds the driver for `backend`, waking through `wake_fd`.
///
/// `Auto` (unless `RINGLOOP_BACKEND` overrides it) sets up io_uring, probes the opcodes
/// ringloop uses and round-trips a NOP; where that fails because io_uring is unavailable
/// here, it selects epoll and logs why once per process. An explicit `IoUring` that cannot work is an error.
pub(crate) fn build(
    backend: Backend,
    config: DriverConfig,
    wake_fd: std::os::fd::RawFd,
) -> io::Result<Box<dyn Driver>> {
    let backend = match backend {
        Backend::Auto => {
            let value = std::env::var("RINGLOOP_BACKEND").ok();
            backend_from_env(value.as_deref())?
        }
        explicit => explicit,
    };
    match backend {
        Backend::IoUring => match uring::Uring::new(config, wake_fd) {
            Ok(ring) => Ok(Box::new(ring)),
            Err(e) => Err(io::Error::new(
                e.kind(),
                format!("io_uring cannot be used here (Backend::IoUring was asked for): {e}"),
            )),
        },
        Backend::Epoll => Ok(Box::new(epoll::Epoll::new(config, wake_fd)?)),
        Backend::Auto => match uring::Uring::new(config, wake_fd) {
            Ok(ring) => Ok(Box::new(ring)),
            Err(e) if io_uring_unavailable(&e) => {
                report_fallback(&e);
                Ok(Box::new(epoll::Epoll::new(config, wake_fd)?))
            }
            Err(e) => Err(e),
        },
    }
}

/// Says once per process, through the `log` facade, that io_uring was unavailable.
fn report_fallback(e: &io::Error) {
    static REPORTED: std::sync::Once = std::sync::Once::new();
    REPORTED.call_once(|| {
        log::warn!("ringloop: io_uring is unavailable here ({e}); using the epoll backend");
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_env_values() {
        assert_eq!(backend_from_env(None).unwrap(), Backend::Auto);
        assert_eq!(backend_from_env(Some("")).unwrap(), Backend::Auto);
        assert_eq!(backend_from_env(Some("auto")).unwrap(), Backend::Auto);
        assert_eq!(backend_from_env(Some("epoll")).unwrap(), Backend::Epoll);
        assert_eq!(
            backend_from_env(Some("io_uring")).unwrap(),
            Backend::IoUring
        );
        let e = backend_from_env(Some("uring")).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert!(e.to_string().contains("RINGLOOP_BACKEND"), "{e}");
    }

    #[test]
    fn only_unavailability_selects_epoll() {
        for errno in [
            libc::ENOSYS,
            libc::EPERM,
            libc::EACCES,
            libc::EINVAL,
            libc::ENOMEM,
        ] {
            assert!(io_uring_unavailable(&io::Error::from_raw_os_error(errno)));
        }
        assert!(io_uring_unavailable(&io::Error::new(
            io::ErrorKind::Unsupported,
            "missing opcode"
        )));
        assert!(!io_uring_unavailable(&io::Error::from_raw_os_error(
            libc::EMFILE
        )));
    }
}
