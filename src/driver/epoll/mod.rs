//! The epoll backend: every operation as readiness plus a nonblocking syscall, behind
//! the same [`Driver`] seam, with the io_uring backend's results, errors and
//! cancellation behaviour.
//!
//! # Operations
//!
//! `submit` only queues an operation, as the io_uring backend only queues an SQE: the
//! next [`turn`](Driver::turn) attempts it, so no operation submitted here completes on
//! its future's first poll, on either backend. (A stream read or write may finish on its
//! first poll without reaching the driver at all: try-first I/O, `try_first.rs`.) An attempt runs the operation's syscall once
//! and reports what io_uring would put in the CQE (the return value or `-errno`).
//! `EAGAIN` parks the operation on its descriptor, in FIFO order per direction, until
//! readiness arrives; a connect answering `EINPROGRESS` parks until writable, then reads
//! `SO_ERROR`. Shutdown, close and NOP never wait.
//!
//! # Readiness
//!
//! A descriptor is registered once, edge-triggered, for both directions
//! (`EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET`), the first time an operation on it
//! has to wait. Each direction remembers whether it is known to be blocked: set when a
//! syscall answers `EAGAIN`, cleared by an event. An operation submitted on a blocked
//! direction (or behind parked ones) parks without a syscall. A close through the
//! driver deregisters the descriptor, closes it, forgets its state, and completes
//! whatever was still parked on it with `ECANCELED`.
//!
//! A descriptor closed behind the driver's back (a failed connect, a socket dropped
//! while no loop ran on this thread, or moved to another thread and closed there) may
//! come back under the same number, and the kernel dropped its registration with the
//! old file. So a registration is trusted only for the socket that made it: operations
//! name their descriptor with its owner's identity (`fd.rs`), and an operation of any
//! other owner registers afresh (`EPOLL_CTL_ADD`, else `MOD`) before it waits.
//!
//! # Cancellation
//!
//! `cancel_op` completes a queued or parked operation with `ECANCELED` at once (its
//! waker is woken by the next turn). `abandon_op` unparks it at once, so nothing touches
//! its memory any more, and frees it at the next turn, as the io_uring backend frees it
//! when the cancel's completion arrives: `stats()` read the same on both backends.
//!
//! # Waiting
//!
//! A bounded wait uses `epoll_pwait2` with a nanosecond timespec where the kernel has it
//! (5.11), else `epoll_wait` with the timeout rounded up to whole milliseconds, so no
//! timer fires early. The loop's eventfd is registered like any descriptor and drained
//! when it fires.
//!
//! # Counters
//!
//! `enters` counts `epoll_wait`/`epoll_pwait2` calls; `sqes_submitted` counts syscalls
//! made to run operations (attempts, including those answering `EAGAIN`).

mod attempt;
mod readiness;

use std::any::Any;
use std::collections::VecDeque;
use std::io;
use std::os::fd::{OwnedFd, RawFd};
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::driver::bufring::BufRing;
use crate::driver::op::{Late, OpCode, OpId};
use crate::driver::sink::Sink;
use crate::driver::slab::{Abandoned, Completion, Delivered, OpSlab};
use crate::driver::{Backend, Driver, DriverConfig, DriverStats, Wait};
use crate::sys::epoll as sys;
use crate::sys::net::{self as sock, own};
use readiness::{Dir, FdState, READ_CLOSED, direction, ready_bits};

/// Events one wait collects at most; more stay queued in the kernel for the next.
const EVENTS: usize = 1024;

/// While tasks stay ready the loop only turns the driver when it asks to; epoll cannot
/// tell without a syscall whether events are waiting, so the driver asks once the loop
/// has run this many tasks and callbacks since its last wait (the loop's iteration
/// budget: I/O readiness then waits no longer behind CPU-bound tasks than on io_uring,
/// whose completions are reaped every iteration), and at least every
/// [`POLL_INTERVAL`] (checked every [`IDLE_CHECK`] skipped turns), for tasks that run
/// long between awaits.
const POLL_AFTER_RUN: usize = 128;
const POLL_INTERVAL: Duration = Duration::from_millis(1);
const IDLE_CHECK: u32 = 32;

/// Milliseconds for `epoll_wait`, rounded up so the wait never ends early.
fn timeout_ms(d: Duration) -> libc::c_int {
    let ms = d.as_nanos().div_ceil(1_000_000);
    ms.min(libc::c_int::MAX as u128) as libc::c_int
}

/// An operation the driver still has to run.
#[derive(Debug)]
struct Request {
    token: OpId,
    code: OpCode,
    /// A connect answered `EINPROGRESS`: the next attempt reads `SO_ERROR`.
    connecting: bool,
    /// Parked on its descriptor (else queued for the next turn, waiting to retry, or
    /// being attempted).
    parked: Option<Dir>,
    /// The index in `RETRY_WAITS` of its next wait, should it answer `EAGAIN` with
    /// nothing to wait for (`retry.rs`).
    retry_step: usize,
}

/// The epoll driver.
pub(crate) struct Epoll {
    ep: OwnedFd,
    wake_fd: RawFd,
    ops: OpSlab,
    /// Operations not completed yet, by slab slot.
    requests: Vec<Option<Request>>,
    /// Descriptor states, by descriptor number.
    fds: Vec<FdState>,
    /// Submitted, to be attempted at the next turn, in order.
    queued: VecDeque<OpId>,
    /// The batch being attempted (kept to reuse its memory).
    batch: VecDeque<OpId>,
    /// Operations waiting to be attempted again (`retry.rs`), and when.
    retrying: Vec<(OpId, Instant)>,
    /// Abandoned operations, unparked, to free at the next turn.
    abandoned: Vec<OpId>,
    /// Wakers of operations completed outside a turn (cancels, closes).
    deferred: Vec<Waker>,
    events: Vec<libc::epoll_event>,
    pwait2: bool,
    last_wait: Instant,
    idle_turns: u32,
    /// Tasks and callbacks the loop ran since the last wait.
    ran_since_wait: usize,
    stats: DriverStats,
    shut_down: bool,
}

impl Epoll {
    pub(crate) fn new(_config: DriverConfig, wake_fd: RawFd) -> io::Result<Epoll> {
        let ep = sys::create()?;
        sys::add(&ep, wake_fd, (libc::EPOLLIN | libc::EPOLLET) as u32)?;
        let mut events = Vec::with_capacity(EVENTS);
        // Probe for epoll_pwait2 once, with a zero wait. Only the eventfd is registered
        // yet; if the probe took its edge, drain it (the loop checks its remote queue
        // every iteration, so no wake-up is lost).
        let pwait2 = match sys::pwait2(&ep, &mut events, Some(Duration::ZERO)) {
            Ok(()) => true,
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)) => false,
            Err(e) => return Err(e),
        };
        if !events.is_empty() {
            sys::eventfd_read(wake_fd);
        }
        Ok(Epoll {
            ep,
            wake_fd,
            ops: OpSlab::new(),
            requests: Vec::new(),
            fds: Vec::new(),
            queued: VecDeque::new(),
            batch: VecDeque::new(),
            retrying: Vec::new(),
            abandoned: Vec::new(),
            deferred: Vec::new(),
            events,
            pwait2,
            last_wait: Instant::now(),
            idle_turns: 0,
            ran_since_wait: 0,
            stats: DriverStats::default(),
            shut_down: false,
        })
    }

    fn slot(token: OpId) -> usize {
        token.slot()
    }

    /// The request of a live operation (matching generation), if it still has one.
    fn request(&mut self, token: OpId) -> Option<&mut Request> {
        self.requests
            .get_mut(Self::slot(token))
            .and_then(Option::as_mut)
            .filter(|r| r.token == token)
    }

    fn fd_state(&mut self, fd: RawFd) -> &mut FdState {
        let i = fd as usize;
        if i >= self.fds.len() {
            self.fds.resize_with(i + 1, FdState::default);
        }
        &mut self.fds[i]
    }

    /// Hands a result to the op slab, as a CQE would be.
    fn finish(&mut self, token: OpId, result: i32, wakers: &mut Vec<Waker>) {
        if let Some(slot) = self.requests.get_mut(Self::slot(token)) {
            if slot.as_ref().is_some_and(|r| r.token == token) {
                *slot = None;
            }
        }
        let completion = Completion { result, flags: 0 };
        match self.ops.complete(token, completion) {
            Delivered::Wake(waker) => wakers.push(waker),
            Delivered::Sink(waker) => wakers.extend(waker),
            Delivered::Quiet => {}
            Delivered::Stray => self.stats.stray_completions += 1,
            // SAFETY: the descriptor an abandoned accept produced: nothing else owns it.
            Delivered::CloseFd(fd) => drop(unsafe { own(fd) }),
        }
    }

    /// Frees abandoned operations, as the io_uring backend does when their cancel
    /// completes.
    fn free_abandoned(&mut self, wakers: &mut Vec<Waker>) {
        while let Some(token) = self.abandoned.pop() {
            self.finish(token, -libc::ECANCELED, wakers);
        }
    }

    /// One `epoll_wait`, then readiness to the parked operations.
    fn wait(&mut self, wait: Wait, wakers: &mut Vec<Waker>) -> io::Result<()> {
        let mut events = std::mem::take(&mut self.events);
        let waited = match wait {
            Wait::Poll => sys::wait(&self.ep, &mut events, 0),
            Wait::Forever => sys::wait(&self.ep, &mut events, -1),
            Wait::Timeout(d) if self.pwait2 => sys::pwait2(&self.ep, &mut events, Some(d)),
            Wait::Timeout(d) => sys::wait(&self.ep, &mut events, timeout_ms(d)),
        };
        self.stats.enters += 1;
        self.last_wait = Instant::now();
        self.idle_turns = 0;
        self.ran_since_wait = 0;
        if let Err(e) = waited {
            self.events = events;
            return Err(e);
        }
        for event in &events {
            let fd = event.u64 as RawFd;
            if fd == self.wake_fd {
                sys::eventfd_read(fd);
                continue;
            }
            let Some(state) = self.fds.get_mut(fd as usize) else {
                continue;
            };
            let ready = ready_bits(event.events);
            state.blocked &= !ready;
            if event.events & READ_CLOSED != 0 {
                state.read_closed = true;
            }
            if ready & Dir::Read.bit() != 0 {
                self.run_parked(fd, Dir::Read, wakers);
            }
            if ready & Dir::Write.bit() != 0 {
                self.run_parked(fd, Dir::Write, wakers);
            }
        }
        self.events = events;
        Ok(())
    }

    /// Queues an operation in its reserved slab slot for the next turn.
    fn enqueue(&mut self, token: OpId, op: OpCode) {
        let slot = Self::slot(token);
        if slot >= self.requests.len() {
            self.requests.resize_with(slot + 1, || None);
        }
        self.requests[slot] = Some(Request {
            token,
            code: op,
            connecting: false,
            parked: None,
            retry_step: 0,
        });
        self.queued.push_back(token);
    }

    fn wait_due(&self) -> bool {
        self.last_wait.elapsed() >= POLL_INTERVAL
    }

    /// Whether a poll for events is due while work is ready: after a budget of work,
    /// or some time.
    fn look_due(&self) -> bool {
        self.ran_since_wait >= POLL_AFTER_RUN || self.wait_due()
    }

    /// Queues the retries that are due.
    fn queue_due_retries(&mut self) {
        if self.retrying.is_empty() {
            return;
        }
        let now = Instant::now();
        let queued = &mut self.queued;
        self.retrying.retain(|&(token, due)| {
            let is_due = due <= now;
            if is_due {
                queued.push_back(token);
            }
            !is_due
        });
    }

    /// Whether a retry is due.
    fn retry_due(&self) -> bool {
        !self.retrying.is_empty() && {
            let now = Instant::now();
            self.retrying.iter().any(|&(_, due)| due <= now)
        }
    }
}

impl Driver for Epoll {
    fn backend(&self) -> Backend {
        Backend::Epoll
    }

    fn turn(&mut self, wait: Wait, wakers: &mut Vec<Waker>) -> io::Result<()> {
        let before = wakers.len();
        wakers.append(&mut self.deferred);
        self.free_abandoned(wakers);
        self.queue_due_retries();
        self.attempt_queued(wakers);
        let next_retry = self.retrying.iter().map(|&(_, due)| due).min();
        let wait = if wakers.len() > before {
            // Something completed: its task runs now, so the wait is a poll.
            Wait::Poll
        } else if let Some(due) = next_retry {
            let until = due.saturating_duration_since(Instant::now());
            match wait {
                Wait::Poll => Wait::Poll,
                Wait::Timeout(d) if d < until => Wait::Timeout(d),
                _ => Wait::Timeout(until),
            }
        } else {
            wait
        };
        if wait == Wait::Poll && !self.look_due() {
            // Work is ready and the driver looked recently: skip the syscall.
            return Ok(());
        }
        self.wait(wait, wakers)
    }

    fn wants_poll(&mut self, ran: usize) -> bool {
        self.ran_since_wait = self.ran_since_wait.saturating_add(ran);
        if self.ran_since_wait >= POLL_AFTER_RUN {
            return true;
        }
        if !self.queued.is_empty() || !self.deferred.is_empty() || !self.abandoned.is_empty() {
            return true;
        }
        if self.retry_due() {
            return true;
        }
        self.idle_turns = self.idle_turns.wrapping_add(1);
        self.idle_turns % IDLE_CHECK == 0 && self.wait_due()
    }

    fn stats(&self) -> DriverStats {
        DriverStats {
            ops_in_flight: self.ops.in_flight(),
            buffers_held: self.ops.abandoned(),
            ..self.stats
        }
    }

    unsafe fn submit(&mut self, op: OpCode) -> io::Result<OpId> {
        let token = self.ops.insert();
        self.enqueue(token, op);
        Ok(token)
    }

    unsafe fn submit_to(&mut self, op: OpCode, sink: &Rc<Sink>, tag: u64) -> io::Result<OpId> {
        let token = self.ops.insert_sink(sink, tag);
        self.enqueue(token, op);
        Ok(token)
    }

    fn buf_ring(&mut self) -> Option<Rc<BufRing>> {
        None
    }

    fn send_zc(&self) -> bool {
        false
    }

    fn files(&self) -> bool {
        // Regular files are always "ready": file I/O runs on the blocking pool.
        false
    }

    fn multishot_accept(&self) -> bool {
        // Readiness-based accepts only.
        false
    }

    fn poll_op(&mut self, id: OpId, cx: &mut Context<'_>) -> Poll<Completion> {
        self.ops.poll(id, cx)
    }

    fn cancel_op(&mut self, id: OpId) {
        if self.unlink(id) {
            let mut deferred = std::mem::take(&mut self.deferred);
            self.finish(id, -libc::ECANCELED, &mut deferred);
            self.deferred = deferred;
        }
    }

    fn abandon_op(&mut self, id: OpId, held: Option<Box<dyn Any>>, late: Late) {
        // A close, shutdown or NOP cannot be cancelled (io_uring runs them as it takes
        // them): it stays queued and runs at the next turn, which then frees it. An
        // operation that may wait is taken out now and freed at the next turn.
        let waits = self
            .request(id)
            .is_some_and(|r| direction(&r.code).is_some());
        let unlinked = waits && self.unlink(id);
        match self.ops.abandon(id, held, late) {
            // Still queued to run: its result frees it.
            Abandoned::InFlight if !waits => {}
            Abandoned::InFlight => {
                debug_assert!(unlinked, "an in-flight operation had no request");
                self.abandoned.push(id);
            }
            Abandoned::Done => {}
            // SAFETY: the descriptor a completed accept produced: nothing else owns it.
            Abandoned::CloseFd(fd) => drop(unsafe { own(fd) }),
        }
    }

    fn shutdown(&mut self) -> bool {
        if !self.shut_down {
            self.shut_down = true;
            let mut wakers = Vec::new();
            // Closes and shutdowns still queued run for real (a close must not leak).
            let queued: Vec<OpId> = self.queued.drain(..).collect();
            for token in queued {
                match self.request(token).map(|r| direction(&r.code)) {
                    Some(None) => self.start(token, &mut wakers),
                    _ => self.queued.push_back(token),
                }
            }
            let live: Vec<OpId> = self.requests.iter().flatten().map(|r| r.token).collect();
            for token in live {
                self.unlink(token);
                self.finish(token, -libc::ECANCELED, &mut wakers);
            }
            self.free_abandoned(&mut wakers);
            self.deferred.clear();
        }
        self.ops.in_flight() == 0
    }

    fn describe(&self) -> String {
        let waits = if self.pwait2 {
            "epoll_pwait2 (nanosecond timeouts)"
        } else {
            "epoll_wait (timeouts rounded up to milliseconds)"
        };
        format!("epoll (edge-triggered, one registration per descriptor; waits with {waits})")
    }
}

impl Drop for Epoll {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl std::fmt::Debug for Epoll {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Epoll")
            .field("pwait2", &self.pwait2)
            .field("ops", &self.ops)
            .field("queued", &self.queued.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millisecond_timeouts_round_up() {
        assert_eq!(timeout_ms(Duration::from_nanos(1)), 1);
        assert_eq!(timeout_ms(Duration::from_millis(2)), 2);
        assert_eq!(timeout_ms(Duration::from_micros(2001)), 3);
        assert_eq!(timeout_ms(Duration::from_secs(u64::MAX)), libc::c_int::MAX);
    }
}
