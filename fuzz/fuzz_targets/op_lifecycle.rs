//! Fuzz target `op_lifecycle`: bytes drive the driver's op slab (src/driver/slab.rs)
//! the way the driver and op futures do, and a model checks every answer.
//!
//! Operations: submit an op (`insert`), poll it with one of a few counting wakers,
//! deliver a completion (to a live op, a second time to a completed one, to a stale
//! token of a freed slot, to a forged token, to a driver sentinel), abandon it (with or
//! without held memory, `Late::Ignore` or `Late::CloseFd`, before or after its
//! completion, and with a stale token), and ask `is_pending` / `pending_tokens`. At the
//! end every op still in the kernel completes, and the slab is dropped.
//!
//! What the model checks (any violation panics, which libFuzzer reports as a crash):
//!
//! - every op completes exactly once for its owner: the first completion of a live op
//!   is stored (`Quiet`) or wakes exactly the waker of the latest poll (`Wake`), and the
//!   next poll returns that very completion once and frees the slot;
//! - strays are strays: duplicates, stale tokens (a freed slot, a reused slot's old
//!   generation), forged tokens and sentinels are `Stray` and change nothing;
//! - `Late::CloseFd` hands back exactly the non-negative results of abandoned ops (at
//!   completion, or at once if the op had completed), and nothing else;
//! - `in_flight`, `abandoned`, `is_pending` and `pending_tokens` are exact;
//! - abandoned memory (a drop-counting box) is freed exactly once, and only when its
//!   completion arrives (or at once if there is none to wait for), never earlier;
//! - tokens never collide with the driver's sentinels.
//!
//! Run: `cargo +nightly fuzz run op_lifecycle fuzz/seeds/op_lifecycle -- -max_total_time=30`.

#![no_main]

use std::cell::Cell;
use std::collections::BTreeSet;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use libfuzzer_sys::fuzz_target;
use ringloop::__fuzz::{
    Abandoned, CANCEL, Completion, Delivered, OpSlab, TIMEOUT, Token, WAKE, decode,
};

/// `IORING_CQE_F_MORE`.
const F_MORE: u32 = 1 << 1;

const MAX_OPS: usize = 4000;
const WAKERS: usize = 3;

fuzz_target!(|data: &[u8]| run(data));

struct Input<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }
    fn more(&self) -> bool {
        self.pos < self.data.len()
    }
}

struct Counter(AtomicUsize);

impl Wake for Counter {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Drop-counting memory standing in for an op's buffers.
struct Held {
    drops: Rc<Cell<u32>>,
    /// Set while the kernel may still write into this memory.
    kernel_owns: Rc<Cell<bool>>,
}

impl Drop for Held {
    fn drop(&mut self) {
        assert!(
            !self.kernel_owns.get(),
            "abandoned memory freed before its completion arrived"
        );
        self.drops.set(self.drops.get() + 1);
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Submitted,
    /// Waiting on waker `usize`.
    Waiting(usize),
    Completed(Completion),
    /// A zero-copy send's result (with F_MORE) arrived, its notification not yet; the
    /// waker its owner last polled with, if any.
    Sending(Completion, Option<usize>),
    /// Abandoned in flight; held memory index (into `Model::held`), close on late result.
    Abandoned(Option<usize>, bool),
    /// The slot is free: collected by its owner, or abandoned and finished.
    Freed,
}

struct Op {
    token: u64,
    state: State,
}

struct HeldRec {
    drops: Rc<Cell<u32>>,
    kernel_owns: Rc<Cell<bool>>,
}

struct Model {
    slab: OpSlab,
    ops: Vec<Op>,
    held: Vec<HeldRec>,
    wakers: Vec<(Arc<Counter>, Waker)>,
    /// Wakes expected per waker.
    wakes: [usize; WAKERS],
    completions: i32,
}

impl Model {
    fn owned(&self, i: u16) -> Option<usize> {
        // An op its owner still holds: submitted, waiting or completed-uncollected.
        let live: Vec<usize> = (0..self.ops.len())
            .filter(|&j| {
                matches!(
                    self.ops[j].state,
                    State::Submitted | State::Waiting(_) | State::Completed(_) | State::Sending(..)
                )
            })
            .collect();
        (!live.is_empty()).then(|| live[usize::from(i) % live.len()])
    }

    fn any(&self, i: u16) -> Option<usize> {
        (!self.ops.is_empty()).then(|| usize::from(i) % self.ops.len())
    }

    fn new_held(&mut self) -> (usize, Box<Held>) {
        let drops = Rc::new(Cell::new(0));
        let kernel_owns = Rc::new(Cell::new(false));
        self.held.push(HeldRec {
            drops: drops.clone(),
            kernel_owns: kernel_owns.clone(),
        });
        (self.held.len() - 1, Box::new(Held { drops, kernel_owns }))
    }

    fn completion(&mut self, inp: &mut Input<'_>) -> Completion {
        let b = inp.byte();
        self.completions += 1;
        let result = match b % 4 {
            0 => -i32::from(b >> 2) - 1, // an errno
            1 => 0,
            2 => 3 + self.completions % 1000, // a descriptor or a length
            _ => i32::from(inp.u16()),
        };
        Completion {
            result,
            flags: u32::from(b >> 6),
        }
    }

    /// Delivers `c` for `token`, predicting the answer from the model.
    fn complete(&mut self, token: u64, c: Completion) {
        let target = self
            .ops
            .iter()
            .position(|o| o.token == token && o.state != State::Freed);
        // IORING_CQE_F_MORE: the operation goes on (multishot), so the kernel keeps the
        // memory of an abandoned op until a completion without it.
        let more = c.flags & F_MORE != 0;
        if let Some(i) = target {
            // A final completion for a live token is the kernel letting go, whoever sent it.
            if !(more && matches!(self.ops[i].state, State::Abandoned(..))) {
                self.release(i);
            }
        }
        let got = self.slab.complete(token, c);
        let Some(i) = target else {
            assert!(
                matches!(got, Delivered::Stray),
                "completion for unknown/stale token {token:#x} not stray: {got:?}"
            );
            return;
        };
        match self.ops[i].state {
            // A single-shot op's completion with F_MORE: a zero-copy send's result, whose
            // notification (the final completion) is still to come.
            State::Submitted if more => {
                assert!(matches!(got, Delivered::Quiet), "op {i}: {got:?}");
                self.ops[i].state = State::Sending(c, None);
            }
            State::Waiting(w) if more => {
                assert!(matches!(got, Delivered::Quiet), "op {i}: {got:?}");
                self.ops[i].state = State::Sending(c, Some(w));
            }
            State::Sending(first, waiter) => {
                if more {
                    assert!(matches!(got, Delivered::Stray), "op {i}: second result: {got:?}");
                } else {
                    match (got, waiter) {
                        (Delivered::Wake(waker), Some(w)) => {
                            assert!(waker.will_wake(&self.wakers[w].1), "op {i}: wrong waker");
                            waker.wake();
                            self.wakes[w] += 1;
                        }
                        (Delivered::Quiet, None) => {}
                        (other, _) => panic!("op {i}: notification gave {other:?}"),
                    }
                    // The op completes with its result, without F_MORE.
                    self.ops[i].state = State::Completed(Completion {
                        flags: first.flags & !F_MORE,
                        ..first
                    });
                }
            }
            State::Submitted => {
                assert!(matches!(got, Delivered::Quiet), "op {i}: {got:?}");
                self.ops[i].state = State::Completed(c);
            }
            State::Waiting(w) => {
                match got {
                    Delivered::Wake(waker) => {
                        assert!(
                            waker.will_wake(&self.wakers[w].1),
                            "op {i}: woke a waker other than the latest poll's"
                        );
                        waker.wake();
                        self.wakes[w] += 1;
                    }
                    other => panic!("op {i} waits on waker {w} but got {other:?}"),
                }
                self.ops[i].state = State::Completed(c);
            }
            State::Completed(first) => {
                assert!(
                    matches!(got, Delivered::Stray),
                    "op {i}: duplicate completion not stray: {got:?}"
                );
                self.ops[i].state = State::Completed(first);
            }
            State::Abandoned(held, close) => {
                // Every descriptor an abandoned accept produced is handed back to be
                // closed, F_MORE completions of a multishot one included.
                if close && c.result >= 0 {
                    assert!(
                        matches!(got, Delivered::CloseFd(fd) if fd == c.result),
                        "op {i}: abandoned accept returned {} but got {got:?}",
                        c.result
                    );
                } else {
                    assert!(matches!(got, Delivered::Quiet), "op {i}: {got:?}");
                }
                // The memory goes with the final completion, and not before (F_MORE: the
                // kernel goes on).
                if let Some(h) = held {
                    assert_eq!(
                        self.held[h].drops.get(),
                        u32::from(!more),
                        "op {i}: abandoned memory freed {} times at a completion (more: {more})",
                        self.held[h].drops.get()
                    );
                }
                if !more {
                    self.ops[i].state = State::Freed;
                }
            }
            State::Freed => unreachable!(),
        }
        self.check_wakes();
    }

    fn check_wakes(&self) {
        for (w, (counter, _)) in self.wakers.iter().enumerate() {
            assert_eq!(
                counter.0.load(Ordering::SeqCst),
                self.wakes[w],
                "waker {w} woken a wrong number of times"
            );
        }
    }

    fn check(&mut self) {
        let in_kernel: BTreeSet<u64> = self
            .ops
            .iter()
            .filter(|o| {
                matches!(
                    o.state,
                    State::Submitted | State::Waiting(_) | State::Abandoned(..) | State::Sending(..)
                )
            })
            .map(|o| o.token)
            .collect();
        assert_eq!(self.slab.in_flight(), in_kernel.len(), "in_flight");
        let abandoned = self
            .ops
            .iter()
            .filter(|o| matches!(o.state, State::Abandoned(Some(_), _)))
            .count();
        assert_eq!(self.slab.abandoned(), abandoned, "abandoned");
        let pending: Vec<u64> = self.slab.pending_tokens();
        let pending_set: BTreeSet<u64> = pending.iter().copied().collect();
        assert_eq!(
            pending.len(),
            pending_set.len(),
            "pending_tokens repeats a token"
        );
        assert_eq!(pending_set, in_kernel, "pending_tokens");
        for (h, rec) in self.held.iter().enumerate() {
            let owns = rec.kernel_owns.get();
            let drops = rec.drops.get();
            assert!(drops <= 1, "held memory {h} freed {drops} times");
            assert!(
                !(owns && drops > 0),
                "held memory {h} freed while in the kernel"
            );
        }
    }

    /// Clears the kernel-owns flag of op `i`'s held memory (its completion is coming).
    fn release(&self, i: usize) {
        if let State::Abandoned(Some(h), _) = self.ops[i].state {
            self.held[h].kernel_owns.set(false);
        }
    }
}

fn run(data: &[u8]) {
    let mut inp = Input { data, pos: 0 };
    let wakers = (0..WAKERS)
        .map(|_| {
            let c = Arc::new(Counter(AtomicUsize::new(0)));
            let w = Waker::from(c.clone());
            (c, w)
        })
        .collect();
    let mut m = Model {
        slab: OpSlab::new(),
        ops: Vec::new(),
        held: Vec::new(),
        wakers,
        wakes: [0; WAKERS],
        completions: 0,
    };
    let mut steps = 0;
    while inp.more() && steps < MAX_OPS {
        steps += 1;
        match inp.byte() % 16 {
            0..=3 => {
                let token = m.slab.insert();
                assert!(
                    matches!(decode(token), Token::Op { .. }),
                    "insert handed out a non-op token {token:#x}"
                );
                assert!(
                    !m.ops
                        .iter()
                        .any(|o| o.token == token && o.state != State::Freed),
                    "insert reused the token {token:#x} of a live op"
                );
                m.ops.push(Op {
                    token,
                    state: State::Submitted,
                });
            }
            4 | 5 => {
                // Poll an op its owner holds.
                let i = inp.u16();
                let w = usize::from(inp.byte()) % WAKERS;
                if let Some(i) = m.owned(i) {
                    let token = m.ops[i].token;
                    let waker = m.wakers[w].1.clone();
                    let got = m.slab.poll(token, &mut Context::from_waker(&waker));
                    match m.ops[i].state {
                        State::Completed(c) => {
                            assert_eq!(got, Poll::Ready(c), "op {i}: wrong completion");
                            m.ops[i].state = State::Freed;
                        }
                        State::Submitted | State::Waiting(_) => {
                            assert_eq!(got, Poll::Pending, "op {i} ready before completion");
                            m.ops[i].state = State::Waiting(w);
                        }
                        State::Sending(c, _) => {
                            assert_eq!(got, Poll::Pending, "op {i} ready before its notification");
                            m.ops[i].state = State::Sending(c, Some(w));
                        }
                        _ => unreachable!(),
                    }
                }
            }
            6..=8 => {
                // A completion for an op the kernel owns (or owned: a duplicate).
                let i = inp.u16();
                let c = m.completion(&mut inp);
                if let Some(i) = m.any(i) {
                    let token = m.ops[i].token;
                    m.complete(token, c);
                }
            }
            9 => {
                // A forged token: random, a neighbour of a real one, or a sentinel.
                let sel = inp.byte();
                let c = m.completion(&mut inp);
                let token = match sel % 6 {
                    0 => WAKE,
                    1 => TIMEOUT,
                    2 => CANCEL,
                    3 => u64::from(inp.u16()) << (sel >> 3) % 48 | u64::from(inp.byte()),
                    4 => {
                        let i = inp.u16();
                        match m.any(i) {
                            // Same slot, another generation; or another slot.
                            Some(i) => {
                                let t = m.ops[i].token;
                                if sel & 0x80 != 0 {
                                    t.wrapping_add(1 << 32)
                                } else {
                                    t.wrapping_sub(1 << 32)
                                }
                            }
                            None => 0,
                        }
                    }
                    _ => u64::MAX - u64::from(inp.byte()),
                };
                m.complete(token, c);
            }
            10..=12 => {
                // The op's future is dropped.
                let i = inp.u16();
                let flags = inp.byte();
                let close = flags & 1 != 0;
                if let Some(i) = m.owned(i) {
                    let token = m.ops[i].token;
                    let (held, boxed) = if flags & 2 != 0 {
                        let (h, b) = m.new_held();
                        (Some(h), Some(b as Box<dyn std::any::Any>))
                    } else {
                        (None, None)
                    };
                    let in_kernel = matches!(
                        m.ops[i].state,
                        State::Submitted | State::Waiting(_) | State::Sending(..)
                    );
                    if let (Some(h), true) = (held, in_kernel) {
                        m.held[h].kernel_owns.set(true);
                    }
                    let got = m.slab.abandon(token, boxed, close);
                    match m.ops[i].state {
                        State::Completed(c) => {
                            // Already completed: memory must go now, the fd be closed.
                            let want = if close && c.result >= 0 {
                                Abandoned::CloseFd(c.result)
                            } else {
                                Abandoned::Done
                            };
                            assert_eq!(got, want, "op {i}: abandon after completion");
                            m.ops[i].state = State::Freed;
                        }
                        State::Submitted | State::Waiting(_) | State::Sending(..) => {
                            assert_eq!(got, Abandoned::InFlight, "op {i}: abandon in flight");
                            m.ops[i].state = State::Abandoned(held, close);
                        }
                        _ => unreachable!(),
                    }
                    if let Some(h) = held {
                        let freed = m.held[h].drops.get();
                        let want = u32::from(m.ops[i].state == State::Freed);
                        assert_eq!(freed, want, "op {i}: abandoned memory freed {freed} times");
                    }
                }
            }
            13 => {
                // Abandon through a stale token (the op was already freed): nothing to
                // wait for, the memory goes at once and nothing else changes.
                let i = inp.u16();
                if let Some(i) = m.any(i) {
                    if m.ops[i].state == State::Freed {
                        let token = m.ops[i].token;
                        let (h, b) = m.new_held();
                        let got = m.slab.abandon(token, Some(b), inp.byte() & 1 != 0);
                        assert_eq!(got, Abandoned::Done, "abandon of a stale token");
                        assert_eq!(m.held[h].drops.get(), 1, "stale abandon kept the memory");
                    }
                }
            }
            14 => {
                let i = inp.u16();
                if let Some(i) = m.any(i) {
                    let token = m.ops[i].token;
                    let want = matches!(m.ops[i].state, State::Submitted | State::Waiting(_));
                    assert_eq!(m.slab.is_pending(token), want, "is_pending(op {i})");
                }
                let forged = u64::from(inp.u16()) << 32 | 0xFFFF_FF00;
                assert!(!m.slab.is_pending(forged));
                assert!(!m.slab.is_pending(WAKE));
            }
            _ => {
                // The kernel completes every op it owns, in token order (a flush).
                let c = m.completion(&mut inp);
                for token in m.slab.pending_tokens() {
                    assert!(
                        m.ops
                            .iter()
                            .any(|o| o.token == token && o.state != State::Freed),
                        "pending token {token:#x} of no live op"
                    );
                    m.complete(token, c);
                }
            }
        }
        m.check();
    }

    // The end: the kernel completes everything it still owns; owners collect.
    let c = Completion {
        result: -125, // ECANCELED
        flags: 0,
    };
    for i in 0..m.ops.len() {
        if matches!(
            m.ops[i].state,
            State::Submitted | State::Waiting(_) | State::Abandoned(..) | State::Sending(..)
        ) {
            let token = m.ops[i].token;
            m.complete(token, c);
        }
    }
    m.check();
    assert_eq!(m.slab.in_flight(), 0);
    assert_eq!(m.slab.abandoned(), 0);
    for i in 0..m.ops.len() {
        if let State::Completed(c) = m.ops[i].state {
            let got = m
                .slab
                .poll(m.ops[i].token, &mut Context::from_waker(Waker::noop()));
            assert_eq!(got, Poll::Ready(c), "op {i}: collected at the end");
            m.ops[i].state = State::Freed;
        }
    }
    assert!(m.slab.pending_tokens().is_empty());
    drop(std::mem::take(&mut m.slab));
    for (h, rec) in m.held.iter().enumerate() {
        assert_eq!(rec.drops.get(), 1, "held memory {h} not freed exactly once");
    }
    m.check_wakes();
}
