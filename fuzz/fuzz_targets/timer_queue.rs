//! Fuzz target `timer_queue`: bytes drive the loop's `TimerQueue` (src/time/queue.rs)
//! and a `BTreeMap<(deadline, seq), id>` model checks every answer.
//!
//! Deadlines are drawn to hit the queue's three places: the current tick (near heap),
//! the 4096-tick bucket window (a tick is 2^20 ns) and beyond it (far heap), tick
//! boundaries (first and last nanosecond of a tick), the past, and `u64::MAX`
//! ("never"). `now` moves forward by small, tick-sized and horizon-sized steps, or (in
//! one mode) jumps anywhere, backwards included.
//!
//! What the model checks (any violation panics, which libFuzzer reports as a crash):
//!
//! - `pop_expired(now)` returns exactly the model's minimum `(deadline, seq)` when its
//!   deadline is `<= now`, else nothing: exact order, FIFO on equal deadlines, never
//!   early;
//! - `remove` returns the target of a pending timer and `None` for one that fired or
//!   was removed (stale keys, slot reuse); `contains` and `get_mut` agree;
//! - `len` is the model's size;
//! - `next_deadline` is `None` exactly when the model is empty, and is otherwise either
//!   the true earliest deadline or the start of its tick: a lower bound at most one
//!   tick early, never later;
//! - `drain` hands back every remaining target, in model order.
//!
//! Run: `cargo +nightly fuzz run timer_queue fuzz/seeds/timer_queue -- -max_total_time=30`.

#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use ringloop::__fuzz::{TIMER_TICK_SHIFT, TimerKey, TimerQueue};

/// Operations decoded per input.
const MAX_OPS: usize = 2000;
/// Ticks in the bucket window (mirrors `BUCKETS` in queue.rs; only used to aim).
const WINDOW: u64 = 4096;

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

fn tick_start(tick: u64) -> u64 {
    tick.saturating_mul(1 << TIMER_TICK_SHIFT)
}

fn tick_of(ns: u64) -> u64 {
    ns >> TIMER_TICK_SHIFT
}

/// A deadline near `now`, aimed at the queue's interesting places.
fn deadline(inp: &mut Input<'_>, now: u64) -> u64 {
    let sel = inp.byte();
    let tick = tick_of(now);
    match sel % 10 {
        // Within a few microseconds of now (often the current tick).
        0 => now.saturating_add(u64::from(inp.u16())),
        // A few ticks ahead, anywhere in the tick.
        1 => now
            .saturating_add(u64::from(inp.byte() % 8) << TIMER_TICK_SHIFT)
            .saturating_add(u64::from(inp.u16())),
        // Around the edge of the bucket window.
        2 => {
            let off = WINDOW - 4 + u64::from(inp.byte() % 8);
            tick_start(tick.saturating_add(off)).saturating_add(u64::from(inp.byte()))
        }
        // Anywhere up to 2^16 ticks ahead (window and far heap).
        3 => tick_start(tick.saturating_add(u64::from(inp.u16())))
            .saturating_add(u64::from(inp.u16()) << 4),
        // First or last nanosecond of a nearby tick.
        4 => {
            let t = tick.saturating_add(u64::from(inp.byte() % 16));
            if sel & 0x80 != 0 {
                tick_start(t.saturating_add(1)).saturating_sub(1)
            } else {
                tick_start(t)
            }
        }
        // In the past.
        5 => now.saturating_sub(u64::from(inp.u16()) << (inp.byte() % 24)),
        // Never.
        6 => u64::MAX,
        // Just below never, or an arbitrary large shift.
        7 => u64::MAX - u64::from(inp.byte()),
        8 => {
            let shift = inp.byte() % 64;
            (u64::from(inp.u16()))
                .checked_shl(u32::from(shift))
                .unwrap_or(u64::MAX)
        }
        // Exactly now.
        _ => now,
    }
}

/// The next `now`: forward by a step, or (when `jumpy`) possibly anywhere.
fn advance(inp: &mut Input<'_>, now: u64, jumpy: bool) -> u64 {
    let sel = inp.byte();
    let step = match sel % 8 {
        0 => 0,
        1 => u64::from(inp.u16()),
        2 => u64::from(inp.byte() % 4) << TIMER_TICK_SHIFT,
        3 => (u64::from(inp.byte() % 4) << TIMER_TICK_SHIFT) + u64::from(inp.u16()),
        4 => {
            WINDOW
                .saturating_sub(2)
                .saturating_add(u64::from(inp.byte() % 4))
                << TIMER_TICK_SHIFT
        }
        5 => u64::from(inp.u16()) << TIMER_TICK_SHIFT,
        // To the next tick boundary (or just before it).
        6 => {
            let next = tick_start(tick_of(now).saturating_add(1));
            (next - now.min(next)).saturating_sub(u64::from(sel >> 7))
        }
        _ => {
            if jumpy {
                let shift = inp.byte() % 64;
                let to = (u64::from(inp.u16()))
                    .checked_shl(u32::from(shift))
                    .unwrap_or(u64::MAX);
                return to;
            }
            u64::from(inp.byte()) << (inp.byte() % 40)
        }
    };
    now.saturating_add(step)
}

struct Model {
    q: TimerQueue<u64>,
    pending: BTreeMap<(u64, u64), u64>,
    /// Every key handed out: (key, (deadline, seq), id).
    keys: Vec<(TimerKey, (u64, u64), u64)>,
    /// Current target value per id (`get_mut` may change it).
    value: Vec<u64>,
    seq: u64,
}

impl Model {
    fn check(&self) {
        assert_eq!(self.q.len(), self.pending.len(), "len");
        assert_eq!(self.q.is_empty(), self.pending.is_empty(), "is_empty");
        let min = self.pending.keys().next().map(|k| k.0);
        let next = self.q.next_deadline();
        match (next, min) {
            (None, None) => {}
            (Some(next), Some(min)) => assert!(
                next == min || next == tick_start(tick_of(min)),
                "next_deadline {next} is neither the earliest deadline {min} nor the start of its tick ({})",
                tick_start(tick_of(min)),
            ),
            (next, min) => panic!("next_deadline {next:?} but the earliest deadline is {min:?}"),
        }
    }

    fn key_at(&self, i: u16) -> Option<(TimerKey, (u64, u64), u64)> {
        if self.keys.is_empty() {
            None
        } else {
            Some(self.keys[usize::from(i) % self.keys.len()])
        }
    }

    fn pop(&mut self, now: u64) {
        let expect = self
            .pending
            .first_key_value()
            .filter(|(k, _)| k.0 <= now)
            .map(|(k, id)| (*k, *id));
        let got = self.q.pop_expired(now);
        match expect {
            Some((k, id)) => {
                self.pending.remove(&k);
                assert_eq!(
                    got,
                    Some(self.value[id as usize]),
                    "pop_expired({now}): expected timer {id} at {k:?}"
                );
            }
            None => assert_eq!(
                got,
                None,
                "pop_expired({now}) fired early; earliest {:?}",
                self.pending.first_key_value()
            ),
        }
    }
}

fn run(data: &[u8]) {
    let mut inp = Input { data, pos: 0 };
    let mode = inp.byte();
    let jumpy = mode & 1 != 0;
    // Start anywhere: zero, a realistic monotonic clock, or near the end of time.
    let mut now = match (mode >> 1) % 4 {
        0 => 0,
        1 => 1_000_000_000 + u64::from(inp.u16()),
        2 => u64::from(inp.u16()) << 40,
        _ => u64::MAX - (u64::from(inp.u16()) << 24),
    };
    let mut m = Model {
        q: TimerQueue::new(),
        pending: BTreeMap::new(),
        keys: Vec::new(),
        value: Vec::new(),
        seq: 0,
    };
    let mut ops = 0;
    while inp.more() && ops < MAX_OPS {
        ops += 1;
        match inp.byte() % 12 {
            0..=3 => {
                let d = deadline(&mut inp, now);
                let id = m.value.len() as u64;
                m.value.push(id);
                let key = m.q.insert(d, id);
                assert!(m.q.contains(key));
                m.pending.insert((d, m.seq), id);
                m.keys.push((key, (d, m.seq), id));
                m.seq += 1;
            }
            4 | 5 => {
                // Remove any key ever handed out: pending, fired or already removed.
                let i = inp.u16();
                if let Some((key, mk, id)) = m.key_at(i) {
                    let expect = m.pending.remove(&mk).map(|id| m.value[id as usize]);
                    assert_eq!(m.q.remove(key), expect, "remove timer {id} at {mk:?}");
                    assert!(!m.q.contains(key), "timer {id} still there after remove");
                }
            }
            6 => {
                let i = inp.u16();
                let v = u64::from(inp.u16()) << 32;
                if let Some((key, mk, id)) = m.key_at(i) {
                    let live = m.pending.contains_key(&mk);
                    assert_eq!(m.q.contains(key), live, "contains(timer {id})");
                    match m.q.get_mut(key) {
                        Some(t) => {
                            assert!(live, "get_mut found fired/removed timer {id}");
                            assert_eq!(*t, m.value[id as usize]);
                            *t = id | v;
                            m.value[id as usize] = id | v;
                        }
                        None => assert!(!live, "get_mut lost pending timer {id}"),
                    }
                }
            }
            7..=9 => {
                now = advance(&mut inp, now, jumpy);
                // Pop a few (or everything expired), as the loop does each iteration.
                let n = inp.byte();
                if n & 0x80 != 0 {
                    let before = m.pending.len();
                    for _ in 0..=before {
                        m.pop(now);
                    }
                    assert!(m.pending.first_key_value().is_none_or(|(k, _)| k.0 > now));
                } else {
                    for _ in 0..=n % 4 {
                        m.pop(now);
                        m.check();
                    }
                }
            }
            10 => {
                // Pop at the time next_deadline suggests, as the loop sleeps until it.
                if let Some(next) = m.q.next_deadline() {
                    if !jumpy {
                        now = now.max(next);
                    } else {
                        now = next;
                    }
                    m.pop(now);
                }
            }
            _ => {
                // Pop at an arbitrary instant without moving the clock.
                let at = deadline(&mut inp, now);
                if jumpy || at >= now {
                    if !jumpy {
                        now = at;
                    }
                    m.pop(at);
                }
            }
        }
        m.check();
    }
    let mut drained = Vec::new();
    m.q.drain(|t| drained.push(t));
    let want: Vec<u64> = m.pending.values().map(|&id| m.value[id as usize]).collect();
    assert_eq!(drained, want, "drain order");
    assert!(m.q.is_empty());
    assert_eq!(m.q.next_deadline(), None);
    for (key, _, id) in &m.keys {
        assert!(!m.q.contains(*key), "timer {id} survived drain");
    }
}
