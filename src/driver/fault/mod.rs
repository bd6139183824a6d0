//! A fault-injecting driver (feature `fault-injection`): it wraps a real driver (io_uring
//! or epoll) and perturbs what the loop sees, from a seeded PRNG and a [`FaultPlan`], so
//! the loop's failure paths and a service's own can be tested on the real kernel.
//!
//! The loop, its timers and the op lifecycle run on it unchanged: it implements the
//! same [`Driver`] seam, keeps its own op slab (the real [`OpSlab`]) under its own
//! tokens, and forwards each operation to the wrapped driver, whose completions it
//! collects, then perturbs, then delivers to its slab.
//!
//! # Sink operations
//!
//! Sink operations (`submit_to`: the protocol server's receives, readiness waits, sends
//! and multishot accepts, see `sink.rs`) go the same way. The fault slab's slot is bound
//! to the caller's sink and tag; the wrapped driver gets the operation with the fault
//! driver's own sink and the slot's token as its tag. Each turn drains that sink and
//! delivers every completion, flags included (`F_MORE`, the provided buffer), to the
//! slab, which hands it to the caller's sink. [`buf_ring`](Driver::buf_ring) and
//! [`multishot_accept`](Driver::multishot_accept) are the wrapped driver's, so on
//! io_uring the server receives into the provided-buffer ring under faults too.
//!
//! An abandoned sink operation is never abandoned in the wrapped driver: it is cancelled
//! there, its completions still come back through the fault driver's sink, and the slab
//! frees what it held at the final one, closes every descriptor an abandoned multishot
//! accept still produced (`Late::CloseFd`), and gives provided buffers nobody will read
//! back to the ring.
//!
//! # Faults
//!
//! - **turn errors**: `turn` fails with `EINTR`, `EAGAIN`, `EBUSY`, `ENOMEM` (or any
//!   errno the plan lists) before doing anything at all;
//! - **partial submits**: a turn forwards only a prefix of the queued operations, the
//!   rest wait for a later turn. Never a readiness wait: epoll arms one for the next
//!   edge before the turn's wait, and held over a wait it would miss an edge (see
//!   `forward_readiness_waits`);
//! - **delays**: a completion is held for a few turns, never past a later completion of
//!   the same operation (`pending.rs`);
//! - **reordering**: the completions delivered in one turn are shuffled, each
//!   operation's among themselves kept in order;
//! - **duplicates**: a completion of a single-shot operation is delivered twice under
//!   the same token (the slab drops the second). Never one of a multishot operation: the
//!   kernel never repeats one, and a repeat would lend a provided buffer twice or hand
//!   out a descriptor twice;
//! - **strays**: completions under unknown tokens, sentinels, or stale tokens of
//!   operations already delivered;
//! - **short results**: a stream recv or send (a sink send too) is forwarded with a
//!   shorter length, so the kernel really moves fewer bytes (a short recv is a true
//!   prefix; nothing is lost);
//! - **operation errors**: an operation completes with `EINTR`, `EAGAIN`, `ENOBUFS`,
//!   `ENOMEM`, … without ever reaching the kernel (so no data is lost with it). For a
//!   sink operation that is its one, final completion. A readiness wait never reports
//!   `EINTR` or `EAGAIN` (the kernel retries those itself), so it is not given them;
//! - **setup failures**: building the loop fails with an errno.
//!
//! Everything it injects is honest about memory: an operation's completion reaches the
//! slab (which may free the operation's buffers) only after the wrapped driver gave the
//! real completion back, or when the operation never reached the wrapped driver; a sink
//! operation's memory is freed only at its final completion.
//!
//! The decisions come from one PRNG seeded by the caller, in the order the loop calls
//! the driver; the real kernel's timing still varies, so a run is reproducible in the
//! faults it chooses, not in every interleaving.

use std::any::Any;
use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::io;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use crate::driver::bufring::BufRing;
use crate::driver::op::{Late, OpCode, OpId};
use crate::driver::sink::{self, Sink, SinkEvent};
use crate::driver::slab::{Abandoned, Completion, Delivered, OpSlab};
use crate::driver::token::{self, MAX_SLOTS};
use crate::driver::{Backend, Driver, DriverStats, Wait};

mod entry;
mod pending;
mod plan;
#[cfg(test)]
mod tests;
use entry::{Entry, Notify, Route, close_fd, is_multishot, may_fail, poll_inner};
use pending::{Backlog, Pending, shuffle_per_token};
pub use plan::FaultPlan;
use plan::Rng;

/// How many of each fault were injected (shown by `describe`).
#[derive(Clone, Copy, Debug, Default)]
struct Injected {
    turn_errors: u64,
    held_back: u64,
    delayed: u64,
    reordered: u64,
    duplicated: u64,
    strays: u64,
    short: u64,
    op_errors: u64,
}

/// Delivered tokens remembered for stale-token injection.
const RECENT: usize = 64;

/// A driver that wraps a real one and injects the faults of a [`FaultPlan`].
pub(crate) struct FaultDriver {
    inner: Box<dyn Driver>,
    seed: u64,
    plan: FaultPlan,
    rng: Rng,
    /// The operations as the loop sees them, under this driver's tokens.
    ops: OpSlab,
    entries: BTreeMap<u64, Entry>,
    /// Submitted by the loop, not yet forwarded (in order).
    queued: VecDeque<u64>,
    pending: Backlog,
    ready: Arc<Mutex<Vec<u64>>>,
    /// Where the wrapped driver delivers the completions of forwarded sink operations,
    /// tagged with this driver's tokens.
    sink: Rc<Sink>,
    /// Scratch for draining `sink` (empty between drains).
    sink_events: Vec<SinkEvent>,
    /// The wrapped driver's provided-buffer ring, once handed out: buffers that
    /// completions carry to nobody go back to it.
    buf_ring: Option<Rc<BufRing>>,
    recent: VecDeque<u64>,
    scratch: Vec<Waker>,
    strays: u64,
    injected: Injected,
    shut_down: bool,
}

impl FaultDriver {
    /// Wraps `inner`, or fails as the plan's `setup_error` says.
    pub(crate) fn wrap(
        inner: Box<dyn Driver>,
        seed: u64,
        plan: FaultPlan,
    ) -> io::Result<FaultDriver> {
        if let Some(errno) = plan.setup_error {
            let backend = inner.backend();
            drop(inner);
            let cause = io::Error::from_raw_os_error(errno);
            return Err(io::Error::new(
                cause.kind(),
                format!(
                    "fault injection (seed {seed:#x}): setting up the {backend:?} backend failed: {cause}"
                ),
            ));
        }
        Ok(FaultDriver {
            inner,
            seed,
            plan,
            rng: Rng(seed),
            ops: OpSlab::new(),
            entries: BTreeMap::new(),
            queued: VecDeque::new(),
            pending: Backlog::default(),
            ready: Arc::new(Mutex::new(Vec::new())),
            sink: Rc::new(Sink::new()),
            sink_events: Vec::new(),
            buf_ring: None,
            recent: VecDeque::new(),
            scratch: Vec::new(),
            strays: 0,
            injected: Injected::default(),
            shut_down: false,
        })
    }

    /// Queues `token`'s completion for the next delivery, without the wrapped driver.
    fn complete_here(&mut self, token: u64, errno: i32) {
        let completion = Completion {
            result: -errno,
            flags: 0,
        };
        self.pending.push(token, completion, 0);
    }

    /// Whether `code` fails before reaching the kernel, and with which errno.
    fn op_error(&mut self, code: &OpCode) -> Option<i32> {
        if !may_fail(code) || !self.rng.chance(self.plan.op_error) {
            return None;
        }
        let errno = self.rng.pick(&self.plan.op_errnos)?;
        if matches!(code, OpCode::PollIn { .. }) && matches!(errno, libc::EINTR | libc::EAGAIN) {
            // The kernel retries an interrupted readiness wait itself.
            return None;
        }
        self.injected.op_errors += 1;
        Some(errno)
    }

    /// Perhaps shortens a stream recv or send (the kernel then really moves fewer bytes).
    fn maybe_shorten(&mut self, code: OpCode) -> OpCode {
        let (fd, len) = match code {
            OpCode::Recv { fd, len, .. } | OpCode::Send { fd, len, .. } => (fd, len),
            _ => return code,
        };
        // A datagram read short would lose its tail: only stream sockets.
        if len < 2 || !self.rng.chance(self.plan.short_io) || !crate::sys::net::is_stream(fd.raw) {
            return code;
        }
        self.injected.short += 1;
        let short = 1 + self.rng.below(u64::from(len) - 1) as u32;
        match code {
            OpCode::Recv { fd, buf, .. } => OpCode::Recv {
                fd,
                buf,
                len: short,
            },
            OpCode::Send { fd, buf, zc, .. } => OpCode::Send {
                fd,
                buf,
                len: short,
                zc,
            },
            other => other,
        }
    }

    /// Hands a queued operation to the wrapped driver.
    fn forward(&mut self, token: u64) {
        let Some(entry) = self.entries.get_mut(&token) else {
            return;
        };
        // The pointers in `code` stay valid until this driver's slab hands the (final)
        // completion back or frees what was abandoned, which happens only after the
        // wrapped driver gave that completion back. A sink operation is never abandoned
        // in the wrapped driver, so the wrapped driver never frees or keeps any of it.
        let submitted = match entry.route {
            Route::Future(_) => {
                // SAFETY: `submit`'s contract holds through this driver (see above).
                unsafe { self.inner.submit(entry.code) }
            }
            Route::Sink => {
                // SAFETY: `submit_to`'s contract holds through this driver (see above).
                unsafe { self.inner.submit_to(entry.code, &self.sink, token) }
            }
        };
        let done = match submitted {
            Ok(id) => {
                entry.forwarded = true;
                entry.inner = Some(id);
                poll_inner(&mut *self.inner, entry).map(Ok)
            }
            Err(e) => Some(Err(e)),
        };
        match done {
            None => {}
            Some(Ok(c)) => self.collected(token, c, true),
            Some(Err(e)) => {
                self.entries.remove(&token);
                self.complete_here(token, e.raw_os_error().unwrap_or(libc::EIO));
            }
        }
    }

    /// The wrapped driver completed `token` (a single-shot operation, or one completion
    /// of a multishot one): queue it, perhaps delayed (never past a later completion of
    /// the same operation), perhaps twice when `may_repeat`.
    fn collected(&mut self, token: u64, completion: Completion, may_repeat: bool) {
        let max = u64::from(self.plan.max_delay_turns.max(1));
        let turns = if self.rng.chance(self.plan.delay) {
            self.injected.delayed += 1;
            1 + self.rng.below(max) as u32
        } else {
            0
        };
        let turns = self.pending.push(token, completion, turns);
        if may_repeat && self.rng.chance(self.plan.duplicate) {
            self.injected.duplicated += 1;
            let extra = self.rng.below(max + 1) as u32;
            self.pending.push(token, completion, turns + extra);
        }
    }

    /// Collects the completions the wrapped driver's wakes announced, and those it
    /// delivered to this driver's sink.
    fn collect(&mut self) {
        let tokens = std::mem::take(&mut *self.ready.lock().unwrap_or_else(|e| e.into_inner()));
        for token in tokens {
            let done = self
                .entries
                .get_mut(&token)
                .and_then(|entry| poll_inner(&mut *self.inner, entry));
            if let Some(c) = done {
                self.collected(token, c, true);
            }
        }
        self.collect_sink();
    }

    /// Collects what the wrapped driver delivered to this driver's sink (sink
    /// operations), in the order it arrived.
    fn collect_sink(&mut self) {
        let mut events = std::mem::take(&mut self.sink_events);
        self.sink.drain_into(&mut events, Waker::noop());
        for event in events.drain(..) {
            let token = event.tag;
            let completion = Completion {
                result: event.result,
                flags: event.flags,
            };
            // A multishot operation's completion is never repeated; a single-shot one's
            // repeat is dropped by the slab as stray, and carries no buffer.
            let may_repeat = match self.entries.get_mut(&token) {
                Some(entry) => {
                    if sink::is_final(event.flags) {
                        // The wrapped driver is done with it.
                        entry.inner = None;
                    }
                    !is_multishot(&entry.code) && sink::buffer_id(event.flags).is_none()
                }
                None => false,
            };
            self.collected(token, completion, may_repeat);
        }
        self.sink_events = events;
    }

    /// Gives the provided buffer a completion carries, if any, back to the ring: nobody
    /// will read it.
    fn recycle(&self, flags: u32) {
        if let (Some(bid), Some(ring)) = (sink::buffer_id(flags), &self.buf_ring) {
            ring.recycle(bid);
        }
    }

    /// A token nobody holds: a reserved value, or a recently delivered (stale) token.
    fn stray_token(&mut self) -> u64 {
        match self.rng.below(3) {
            0 if !self.recent.is_empty() => {
                let i = self.rng.below(self.recent.len() as u64) as usize;
                self.recent[i]
            }
            1 => [token::WAKE, token::TIMEOUT, token::CANCEL][self.rng.below(3) as usize],
            _ => {
                let slot = MAX_SLOTS | (self.rng.next() as u32);
                (self.rng.next() << 32) | u64::from(slot)
            }
        }
    }

    /// Delivers what is due (everything when `all`) to the slab.
    fn deliver(&mut self, wakers: &mut Vec<Waker>, all: bool) {
        let mut due = self.pending.take_due(all);
        if !all {
            if due.len() > 1 && self.rng.chance(self.plan.reorder) {
                self.injected.reordered += 1;
                shuffle_per_token(&mut due, &mut self.rng);
            }
            if self.rng.chance(self.plan.stray) {
                self.injected.strays += 1;
                let token = self.stray_token();
                let result = if self.rng.below(2) == 0 {
                    self.rng.below(4096) as i32
                } else {
                    -libc::ECANCELED
                };
                let at = self.rng.below(due.len() as u64 + 1) as usize;
                due.insert(
                    at,
                    Pending {
                        token,
                        completion: Completion { result, flags: 0 },
                        turns: 0,
                    },
                );
            }
        }
        for p in due {
            let flags = p.completion.flags;
            // A multishot operation goes on until a completion without `F_MORE`.
            let last = sink::is_final(flags);
            match self
                .ops
                .complete(OpId::from_user_data(p.token), p.completion)
            {
                Delivered::Wake(waker) => {
                    wakers.push(waker);
                    self.finished(p.token);
                }
                Delivered::Sink(waker) => {
                    wakers.extend(waker);
                    if last {
                        self.finished(p.token);
                    }
                }
                // An abandoned operation's completion: its buffer is nobody's.
                Delivered::Quiet => {
                    self.recycle(flags);
                    if last {
                        self.finished(p.token);
                    }
                }
                Delivered::Stray => {
                    self.strays += 1;
                    self.recycle(flags);
                }
                Delivered::CloseFd(fd) => {
                    if last {
                        self.finished(p.token);
                    }
                    close_fd(fd);
                }
            }
        }
    }

    fn finished(&mut self, token: u64) {
        self.entries.remove(&token);
        self.recent.push_back(token);
        if self.recent.len() > RECENT {
            self.recent.pop_front();
        }
    }

    /// Forwards the readiness waits still queued: one is never held back. Epoll arms a
    /// readiness wait, in the turn it was submitted in and before that turn waits, for
    /// the *next* edge (its submitter just drained the socket); held back over a wait,
    /// it would miss an edge the kernel already delivered, and wait for data that came,
    /// a fault no kernel makes. (io_uring's poll looks at the socket as it arms; there,
    /// holding one back would be harmless.)
    fn forward_readiness_waits(&mut self) {
        let is_wait =
            |entry: Option<&Entry>| entry.is_some_and(|e| matches!(e.code, OpCode::PollIn { .. }));
        if !self.queued.iter().any(|t| is_wait(self.entries.get(t))) {
            return;
        }
        let queued = std::mem::take(&mut self.queued);
        let (waits, rest): (VecDeque<u64>, VecDeque<u64>) = queued
            .into_iter()
            .partition(|t| is_wait(self.entries.get(t)));
        self.queued = rest;
        for token in waits {
            self.forward(token);
        }
    }

    /// Takes a not-yet-forwarded operation out of the queue.
    fn unqueue(&mut self, token: u64) {
        self.queued.retain(|&t| t != token);
        self.entries.remove(&token);
    }
}

impl Driver for FaultDriver {
    fn backend(&self) -> Backend {
        self.inner.backend()
    }

    fn turn(&mut self, wait: Wait, wakers: &mut Vec<Waker>) -> io::Result<()> {
        if self.rng.chance(self.plan.turn_error)
            && let Some(errno) = self.rng.pick(&self.plan.turn_errnos)
        {
            // Nothing happened.
            self.injected.turn_errors += 1;
            return Err(io::Error::from_raw_os_error(errno));
        }
        let queued = self.queued.len();
        let forward = if queued > 0 && self.rng.chance(self.plan.partial_submit) {
            self.rng.below(queued as u64) as usize
        } else {
            queued
        };
        for _ in 0..forward {
            if let Some(token) = self.queued.pop_front() {
                self.forward(token);
            }
        }
        self.forward_readiness_waits();
        self.injected.held_back += self.queued.len() as u64;
        // Delivered to this driver's sink since the last turn (an epoll cancel completes
        // at once).
        self.collect_sink();
        // Whatever this driver still holds must come out soon: never block on it.
        let holding = !self.queued.is_empty() || !self.pending.is_empty();
        let inner_wait = if holding { Wait::Poll } else { wait };
        let mut inner_wakers = std::mem::take(&mut self.scratch);
        let turned = self.inner.turn(inner_wait, &mut inner_wakers);
        for waker in inner_wakers.drain(..) {
            waker.wake();
        }
        self.scratch = inner_wakers;
        turned?;
        self.collect();
        self.deliver(wakers, false);
        Ok(())
    }

    fn wants_poll(&mut self, ran: usize) -> bool {
        self.collect_sink();
        !self.queued.is_empty() || !self.pending.is_empty() || self.inner.wants_poll(ran)
    }

    fn stats(&self) -> DriverStats {
        let inner = self.inner.stats();
        DriverStats {
            enters: inner.enters,
            sqes_submitted: inner.sqes_submitted,
            ops_in_flight: self.ops.in_flight(),
            buffers_held: self.ops.abandoned(),
            stray_completions: inner.stray_completions + self.strays,
            accepts_submitted: inner.accepts_submitted,
            fixed_files: inner.fixed_files,
        }
    }

    unsafe fn submit_to(&mut self, op: OpCode, sink: &Rc<Sink>, tag: u64) -> io::Result<OpId> {
        // The slab hands every completion to the caller's sink with its tag; the wrapped
        // driver sees this driver's sink and token instead (see `forward`).
        let token = self.ops.insert_sink(sink, tag).user_data();
        if let Some(errno) = self.op_error(&op) {
            self.complete_here(token, errno);
            return Ok(OpId::from_user_data(token));
        }
        let code = self.maybe_shorten(op);
        self.entries.insert(
            token,
            Entry {
                code,
                forwarded: false,
                inner: None,
                route: Route::Sink,
                detached: false,
            },
        );
        self.queued.push_back(token);
        Ok(OpId::from_user_data(token))
    }

    fn buf_ring(&mut self) -> Option<Rc<BufRing>> {
        let ring = self.inner.buf_ring();
        if self.buf_ring.is_none() {
            self.buf_ring.clone_from(&ring);
        }
        ring
    }

    fn files(&self) -> bool {
        self.inner.files()
    }

    fn send_zc(&self) -> bool {
        self.inner.send_zc()
    }

    fn multishot_accept(&self) -> bool {
        self.inner.multishot_accept()
    }

    fn register_fixed(&mut self, fd: crate::driver::fd::Fd) -> Option<u32> {
        self.inner.register_fixed(fd)
    }

    fn unregister_fixed(&mut self, fd: crate::driver::fd::Fd) {
        self.inner.unregister_fixed(fd)
    }

    unsafe fn submit(&mut self, op: OpCode) -> io::Result<OpId> {
        let token = self.ops.insert().user_data();
        if let Some(errno) = self.op_error(&op) {
            self.complete_here(token, errno);
            return Ok(OpId::from_user_data(token));
        }
        let code = self.maybe_shorten(op);
        let ready = self.ready.clone();
        self.entries.insert(
            token,
            Entry {
                code,
                forwarded: false,
                inner: None,
                route: Route::Future(Waker::from(Arc::new(Notify { token, ready }))),
                detached: false,
            },
        );
        self.queued.push_back(token);
        Ok(OpId::from_user_data(token))
    }

    fn poll_op(&mut self, id: OpId, cx: &mut Context<'_>) -> Poll<Completion> {
        self.ops.poll(id, cx)
    }

    fn cancel_op(&mut self, id: OpId) {
        if !self.ops.is_pending(id) {
            return;
        }
        match self.entries.get(&id.user_data()) {
            // Never reached the kernel: the cancel wins.
            Some(entry) if !entry.forwarded => {
                self.unqueue(id.user_data());
                self.complete_here(id.user_data(), libc::ECANCELED);
            }
            Some(entry) => {
                if let Some(inner) = entry.inner {
                    self.inner.cancel_op(inner);
                }
            }
            // Its made-up completion is on the way.
            None => {}
        }
    }

    fn abandon_op(&mut self, id: OpId, held: Option<Box<dyn Any>>, late: Late) {
        let detached = late == Late::Finish || (held.is_none() && late == Late::Ignore);
        match self.ops.abandon(id, held, late) {
            Abandoned::InFlight => match self.entries.get_mut(&id.user_data()) {
                // A sink operation (a multishot one above all) may never finish on its
                // own: it is cancelled, below.
                Some(entry) if detached && matches!(entry.route, Route::Future(_)) => {
                    entry.detached = true
                }
                Some(entry) if !entry.forwarded => {
                    // Never reached the kernel: free it now.
                    self.unqueue(id.user_data());
                    let cancelled = Completion {
                        result: -libc::ECANCELED,
                        flags: 0,
                    };
                    match self.ops.complete(id, cancelled) {
                        Delivered::Quiet => {}
                        other => panic!(
                            "a held-back op {:#x} completed as {other:?}",
                            id.user_data()
                        ),
                    }
                }
                Some(entry) => {
                    if let Some(inner) = entry.inner {
                        self.inner.cancel_op(inner);
                    }
                }
                None => {}
            },
            Abandoned::Done => {}
            Abandoned::CloseFd(fd) => close_fd(fd),
        }
    }

    fn shutdown(&mut self) -> bool {
        if self.shut_down {
            return self.ops.in_flight() == 0;
        }
        self.shut_down = true;
        // Held-back closes still run (a descriptor must not leak); nothing else held back
        // ever reached the kernel.
        let queued: Vec<u64> = self.queued.drain(..).collect();
        for token in queued {
            let runs = self
                .entries
                .get(&token)
                .is_some_and(|e| e.detached || matches!(e.code, OpCode::Close { .. }));
            if runs {
                self.forward(token);
            } else {
                self.entries.remove(&token);
                self.complete_here(token, libc::ECANCELED);
            }
        }
        for entry in self.entries.values() {
            if let (Some(inner), false) = (entry.inner, entry.detached) {
                self.inner.cancel_op(inner);
            }
        }
        let mut wakers = Vec::new();
        for _ in 0..400 {
            self.deliver(&mut wakers, true);
            if self.entries.is_empty() {
                break;
            }
            let mut inner_wakers = std::mem::take(&mut self.scratch);
            let turned = self
                .inner
                .turn(Wait::Timeout(Duration::from_millis(5)), &mut inner_wakers);
            for waker in inner_wakers.drain(..) {
                waker.wake();
            }
            if turned.is_err() {
                break;
            }
            self.collect();
        }
        self.deliver(&mut wakers, true);
        let inner_drained = self.inner.shutdown();
        // What the wrapped driver's shutdown delivered to this driver's sink (cancelled
        // sink operations, descriptors a multishot accept still produced).
        self.collect_sink();
        self.deliver(&mut wakers, true);
        drop(wakers);
        if self.ops.in_flight() != 0 || !inner_drained {
            // The kernel may still write into what the slab holds: leak it.
            self.ops.leak_held();
            return false;
        }
        true
    }

    fn describe(&self) -> String {
        let i = self.injected;
        format!(
            "fault injection (seed {:#x}; injected: {} turn errors, {} held back, {} delayed, \
             {} reordered, {} duplicated, {} strays, {} short, {} op errors) over {}",
            self.seed,
            i.turn_errors,
            i.held_back,
            i.delayed,
            i.reordered,
            i.duplicated,
            i.strays,
            i.short,
            i.op_errors,
            self.inner.describe()
        )
    }
}

impl Drop for FaultDriver {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl fmt::Debug for FaultDriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultDriver")
            .field("seed", &self.seed)
            .field("ops", &self.ops)
            .field("queued", &self.queued.len())
            .field("pending", &self.pending.len())
            .field("injected", &self.injected)
            .finish()
    }
}
