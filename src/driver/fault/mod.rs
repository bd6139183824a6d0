//! A fault-injecting driver (feature `fault-injection`): it wraps a real driver (io_uring
//! or epoll) and perturbs what the loop sees, from a seeded PRNG and a [`FaultPlan`], so
//! the loop's failure paths and a service's own can be tested on the real kernel.
//!
//! The loop, its timers and the op lifecycle run on it unchanged: it implements the
//! same [`Driver`] seam, keeps its own op slab (the real [`OpSlab`]) under its own
//! tokens, and forwards each operation to the wrapped driver, whose completions it
//! collects, then perturbs, then delivers to its slab. What it can script:
//!
//! - **turn errors**: `turn` fails with `EINTR`, `EAGAIN`, `EBUSY`, `ENOMEM` (or any
//!   errno the plan lists) before doing anything at all;
//! - **partial submits**: a turn forwards only a prefix of the queued operations, the
//!   rest wait for a later turn;
//! - **delays**: a completion is held for a few turns;
//! - **reordering**: the completions delivered in one turn are shuffled;
//! - **duplicates**: a completion is delivered twice under the same token;
//! - **strays**: completions under unknown tokens, sentinels, or stale tokens of
//!   operations already delivered;
//! - **short results**: a stream recv or send is forwarded with a shorter length, so the
//!   kernel really moves fewer bytes (a short recv is a true prefix; nothing is lost);
//! - **operation errors**: an operation completes with `EINTR`, `EAGAIN`, `ENOBUFS`,
//!   `ENOMEM`, … without ever reaching the kernel (so no data is lost with it);
//! - **setup failures**: building the loop fails with an errno.
//!
//! Everything it injects is honest about memory: an operation's completion reaches the
//! slab (which may free the operation's buffers) only after the wrapped driver gave the
//! real completion back, or when the operation never reached the wrapped driver.
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
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use crate::driver::bufring::BufRing;
use crate::driver::op::{Late, OpCode, OpId};
use crate::driver::sink::Sink;
use crate::driver::slab::{Abandoned, Completion, Delivered, OpSlab};
use crate::driver::token::{self, MAX_SLOTS};
use crate::driver::{Backend, Driver, DriverStats, Wait};

mod plan;
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

/// An operation the fault driver knows, until its completion is delivered.
struct Entry {
    code: OpCode,
    /// Handed to the wrapped driver.
    forwarded: bool,
    /// The wrapped driver's id while it owns the operation; `None` before it was
    /// forwarded and after its completion was collected.
    inner: Option<OpId>,
    /// Records this entry's token when the wrapped driver completes it.
    waker: Waker,
    /// Abandoned with nothing held and nothing to do with its result (a close nobody
    /// awaits): left to finish, never cancelled.
    detached: bool,
}

/// A completion collected from the wrapped driver (or made up), not yet delivered.
#[derive(Clone, Copy, Debug)]
struct Pending {
    token: u64,
    completion: Completion,
    /// Turns to wait before delivery.
    turns: u32,
}

/// The wake of an operation in the wrapped driver: notes its token.
struct Notify {
    token: u64,
    ready: Arc<Mutex<Vec<u64>>>,
}

impl Wake for Notify {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.ready
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(self.token);
    }
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
    pending: Vec<Pending>,
    ready: Arc<Mutex<Vec<u64>>>,
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
            pending: Vec::new(),
            ready: Arc::new(Mutex::new(Vec::new())),
            recent: VecDeque::new(),
            scratch: Vec::new(),
            strays: 0,
            injected: Injected::default(),
            shut_down: false,
        })
    }

    /// Queues `token`'s completion for the next delivery, without the wrapped driver.
    fn complete_here(&mut self, token: u64, errno: i32) {
        self.pending.push(Pending {
            token,
            completion: Completion {
                result: -errno,
                flags: 0,
            },
            turns: 0,
        });
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
            OpCode::Send { fd, buf, .. } => OpCode::Send {
                fd,
                buf,
                len: short,
            },
            other => other,
        }
    }

    /// Hands a queued operation to the wrapped driver.
    fn forward(&mut self, token: u64) {
        let Some(entry) = self.entries.get_mut(&token) else {
            return;
        };
        // SAFETY: the loop's caller of `submit` keeps every pointer in `code` valid until
        // this driver's slab gives the completion back (or frees what was abandoned),
        // which happens only after the wrapped driver's completion was collected.
        let done = match unsafe { self.inner.submit(entry.code) } {
            Ok(id) => {
                entry.forwarded = true;
                entry.inner = Some(id);
                poll_inner(&mut *self.inner, entry).map(Ok)
            }
            Err(e) => Some(Err(e)),
        };
        match done {
            None => {}
            Some(Ok(c)) => self.collected(token, c),
            Some(Err(e)) => {
                self.entries.remove(&token);
                self.complete_here(token, e.raw_os_error().unwrap_or(libc::EIO));
            }
        }
    }

    /// The wrapped driver completed `token`: queue it, perhaps delayed, perhaps twice.
    fn collected(&mut self, token: u64, completion: Completion) {
        let max = u64::from(self.plan.max_delay_turns.max(1));
        let turns = if self.rng.chance(self.plan.delay) {
            self.injected.delayed += 1;
            1 + self.rng.below(max) as u32
        } else {
            0
        };
        self.pending.push(Pending {
            token,
            completion,
            turns,
        });
        if self.rng.chance(self.plan.duplicate) {
            self.injected.duplicated += 1;
            let extra = self.rng.below(max + 1) as u32;
            self.pending.push(Pending {
                token,
                completion,
                turns: turns + extra,
            });
        }
    }

    /// Collects the completions the wrapped driver's wakes announced.
    fn collect(&mut self) {
        let tokens = std::mem::take(&mut *self.ready.lock().unwrap_or_else(|e| e.into_inner()));
        for token in tokens {
            let done = self
                .entries
                .get_mut(&token)
                .and_then(|entry| poll_inner(&mut *self.inner, entry));
            if let Some(c) = done {
                self.collected(token, c);
            }
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
        let (mut due, mut keep): (Vec<Pending>, Vec<Pending>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|p| all || p.turns == 0);
        for p in &mut keep {
            p.turns -= 1;
        }
        self.pending = keep;
        if !all {
            if due.len() > 1 && self.rng.chance(self.plan.reorder) {
                self.injected.reordered += 1;
                for i in (1..due.len()).rev() {
                    let j = self.rng.below(i as u64 + 1) as usize;
                    due.swap(i, j);
                }
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
            match self.ops.complete(p.token, p.completion) {
                Delivered::Wake(waker) => {
                    wakers.push(waker);
                    self.finished(p.token);
                }
                Delivered::Quiet => self.finished(p.token),
                // Sink operations are not routed through the fault slab (`submit_to`).
                Delivered::Sink(waker) => {
                    wakers.extend(waker);
                    self.finished(p.token);
                }
                Delivered::Stray => self.strays += 1,
                Delivered::CloseFd(fd) => {
                    self.finished(p.token);
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

    /// Takes a not-yet-forwarded operation out of the queue.
    fn unqueue(&mut self, token: u64) {
        self.queued.retain(|&t| t != token);
        self.entries.remove(&token);
    }
}

/// Polls the wrapped driver for `entry`'s completion, if it still owns the operation.
fn poll_inner(inner: &mut dyn Driver, entry: &mut Entry) -> Option<Completion> {
    let id = entry.inner?;
    let mut cx = Context::from_waker(&entry.waker);
    match inner.poll_op(id, &mut cx) {
        Poll::Ready(c) => {
            entry.inner = None;
            Some(c)
        }
        Poll::Pending => None,
    }
}

/// Closes a descriptor an abandoned accept produced.
fn close_fd(fd: i32) {
    // SAFETY: the result of an accept whose future is gone: nothing else owns it.
    drop(unsafe { crate::sys::net::own(fd) });
}

/// Operations that may fail before reaching the kernel without losing anything.
fn may_fail(code: &OpCode) -> bool {
    matches!(
        code,
        OpCode::Accept { .. }
            | OpCode::Connect { .. }
            | OpCode::Recv { .. }
            | OpCode::Send { .. }
            | OpCode::RecvMsg { .. }
            | OpCode::SendMsg { .. }
    )
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
            let k = self.rng.below(queued as u64) as usize;
            self.injected.held_back += (queued - k) as u64;
            k
        } else {
            queued
        };
        for _ in 0..forward {
            if let Some(token) = self.queued.pop_front() {
                self.forward(token);
            }
        }
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
        }
    }

    unsafe fn submit_to(&mut self, _op: OpCode, _sink: &Rc<Sink>, _tag: u64) -> io::Result<OpId> {
        // Sink operations (the protocol API, `net::serve`) have their own token space in
        // the real driver; routing them through the fault slab is not built yet.
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "net::serve does not run under fault injection yet",
        ))
    }

    fn buf_ring(&mut self) -> Option<Rc<BufRing>> {
        None
    }

    fn multishot_accept(&self) -> bool {
        // Sink operations are not routed through fault injection (see `submit_to`).
        false
    }

    unsafe fn submit(&mut self, op: OpCode) -> io::Result<OpId> {
        let token = self.ops.insert();
        if may_fail(&op)
            && self.rng.chance(self.plan.op_error)
            && let Some(errno) = self.rng.pick(&self.plan.op_errnos)
        {
            self.injected.op_errors += 1;
            self.complete_here(token, errno);
            return Ok(OpId(token));
        }
        let code = self.maybe_shorten(op);
        let ready = self.ready.clone();
        self.entries.insert(
            token,
            Entry {
                code,
                forwarded: false,
                inner: None,
                waker: Waker::from(Arc::new(Notify { token, ready })),
                detached: false,
            },
        );
        self.queued.push_back(token);
        Ok(OpId(token))
    }

    fn poll_op(&mut self, id: OpId, cx: &mut Context<'_>) -> Poll<Completion> {
        self.ops.poll(id.0, cx)
    }

    fn cancel_op(&mut self, id: OpId) {
        if !self.ops.is_pending(id.0) {
            return;
        }
        match self.entries.get(&id.0) {
            // Never reached the kernel: the cancel wins.
            Some(entry) if !entry.forwarded => {
                self.unqueue(id.0);
                self.complete_here(id.0, libc::ECANCELED);
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
        let detached = held.is_none() && late == Late::Ignore;
        match self.ops.abandon(id.0, held, late) {
            Abandoned::InFlight => match self.entries.get_mut(&id.0) {
                Some(entry) if detached => entry.detached = true,
                Some(entry) if !entry.forwarded => {
                    // Never reached the kernel: free it now.
                    self.unqueue(id.0);
                    let cancelled = Completion {
                        result: -libc::ECANCELED,
                        flags: 0,
                    };
                    match self.ops.complete(id.0, cancelled) {
                        Delivered::Quiet => {}
                        other => panic!("a held-back op {:#x} completed as {other:?}", id.0),
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
        drop(wakers);
        let inner_drained = self.inner.shutdown();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prng_is_deterministic_and_spread() {
        let mut a = Rng(42);
        let mut b = Rng(42);
        let xs: Vec<u64> = (0..100).map(|_| a.next()).collect();
        let ys: Vec<u64> = (0..100).map(|_| b.next()).collect();
        assert_eq!(xs, ys);
        let mut r = Rng(7);
        let hits = (0..10_000).filter(|_| r.chance(0.25)).count();
        assert!((2000..3000).contains(&hits), "{hits}");
        assert!(!Rng(1).chance(0.0));
        assert!((0..100).all(|_| r.below(3) < 3));
    }
}
