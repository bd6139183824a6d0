//! The timer queue: exact (deadline, sequence) order, with `O(1)` insert and cancel for
//! the common case.
//!
//! # Shape
//!
//! Time is cut into ticks of 2^20 ns (about 1 ms). A timer lives in one of four places:
//!
//! - the **run**: the timers of the *current tick* `cur`, taken from its bucket (and
//!   the far heap) when `cur` advanced to it, sorted once by `(deadline, seq)` and
//!   consumed from the front. Sorting a contiguous vector beats sifting a heap entry by
//!   entry, and the run touches no slab entry until a timer fires;
//! - the **near heap**: a binary min-heap keyed by `(deadline, seq)` for timers filed
//!   at or before the current tick after its run was made (a `sleep(0)`, a deadline
//!   already past). The earlier of its minimum and the run's head is the minimum of the
//!   whole queue;
//! - a **bucket**: one vector of `(deadline, seq, slot)` per tick in
//!   `(cur, cur + BUCKETS)`, with a bitmap of non-empty buckets. Insert and cancel
//!   (swap-remove) are `O(1)`, and serving a tick reads the bucket contiguously;
//! - the **far heap**: a binary min-heap for ticks at or beyond the horizon (when they
//!   were inserted), and for "never" (`u64::MAX`).
//!
//! When the run and the near heap are empty and a pop asks about time `now`, `cur`
//! advances to the earliest tick present (the next non-empty bucket, or the far heap's
//! first tick) if that tick has begun by `now`, and that tick's timers become the run.
//! So timers still pop in exact `(deadline, seq)` order and never before their
//! deadline, while the ordering work covers about one tick's worth of timers at a
//! time instead of all of them. `cur` never passes the tick of the latest `now` seen
//! unless a timer was there, so new timers land in buckets.
//!
//! The run's timers stay filed as `Bucket` entries (a bucket entry whose tick is not
//! after `cur` is in the run): a cancelled one is left in the run and skipped when it
//! reaches the head.
//!
//! # Invariants
//!
//! - run and near-heap ticks `<= cur` < bucket ticks and far-heap ticks;
//! - the run's head is pending (or the run is over);
//! - a bucket holds only timers of the single tick `t` in `(cur, cur + BUCKETS)` with
//!   `t % BUCKETS` equal to its index;
//! - when the run or the near heap is not empty, the earlier of their first timers is
//!   the queue's minimum; when both are empty, `next_deadline` is a lower bound: the
//!   start of the earliest tick present (the loop may wake up to one tick early once,
//!   then knows the exact deadline).
//!
//! Entries live in a slab and know where they are, so cancelling frees the entry at once
//! (a million timeouts created and cancelled leave the queue as small as it started).
//! The sequence number makes equal deadlines fire in the order they were scheduled.
//!
//! Deadlines are nanoseconds on the loop's clock (`u64`, saturating): `u64::MAX` is
//! "never", which is what `sleep(Duration::MAX)` becomes.

use std::fmt;

/// Identifies one scheduled timer. Stale keys (fired or removed) are recognised by the
/// generation and do nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TimerKey {
    slot: u32,
    generation: u32,
}

const NONE: u32 = u32::MAX;
/// log2 of a tick in nanoseconds.
pub(crate) const TICK_SHIFT: u32 = 20;
/// Buckets (ticks) covered past the current tick; a power of two.
const BUCKETS: usize = 4096;

/// How far ahead of the run's head firing prefetches slab entries.
const AHEAD: usize = 8;

fn tick_of(deadline: u64) -> u64 {
    deadline >> TICK_SHIFT
}

/// Where a slab entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    Free,
    Near,
    Far,
    Bucket,
}

struct Slot<T> {
    generation: u32,
    place: Place,
    /// Position in the near heap, the far heap or the bucket.
    pos: u32,
    deadline: u64,
    target: Option<T>,
}

#[derive(Clone, Copy)]
struct HeapItem {
    deadline: u64,
    seq: u64,
    slot: u32,
}

impl HeapItem {
    fn key(&self) -> (u64, u64) {
        (self.deadline, self.seq)
    }
}

/// An indexed binary min-heap whose entries record their position in the slab.
struct Heap {
    items: Vec<HeapItem>,
}

impl Heap {
    fn new() -> Heap {
        Heap { items: Vec::new() }
    }

    fn first(&self) -> Option<&HeapItem> {
        self.items.first()
    }

    fn push<T>(&mut self, item: HeapItem, slots: &mut [Slot<T>]) {
        let pos = self.items.len();
        self.items.push(item);
        self.sift_up(pos, slots);
    }

    /// Removes the item at `pos`, fixing the heap and the slab positions.
    fn remove_at<T>(&mut self, pos: usize, slots: &mut [Slot<T>]) -> HeapItem {
        let item = self.items.swap_remove(pos);
        if pos < self.items.len() {
            // The element moved into `pos` may belong above or below it.
            let pos = self.sift_up(pos, slots);
            self.sift_down(pos, slots);
        }
        item
    }

    /// Moves the item at `pos` up to its place (a hole is carried, the item written
    /// once); returns where it ended.
    fn sift_up<T>(&mut self, mut pos: usize, slots: &mut [Slot<T>]) -> usize {
        let item = self.items[pos];
        let key = item.key();
        while pos > 0 {
            let parent = (pos - 1) / 2;
            let p = self.items[parent];
            if key >= p.key() {
                break;
            }
            self.items[pos] = p;
            slots[p.slot as usize].pos = pos as u32;
            pos = parent;
        }
        self.items[pos] = item;
        slots[item.slot as usize].pos = pos as u32;
        pos
    }

    fn sift_down<T>(&mut self, mut pos: usize, slots: &mut [Slot<T>]) {
        let len = self.items.len();
        let item = self.items[pos];
        let key = item.key();
        loop {
            let left = 2 * pos + 1;
            if left >= len {
                break;
            }
            let right = left + 1;
            let child = if right < len && self.items[right].key() < self.items[left].key() {
                right
            } else {
                left
            };
            let c = self.items[child];
            if key <= c.key() {
                break;
            }
            self.items[pos] = c;
            slots[c.slot as usize].pos = pos as u32;
            pos = child;
        }
        self.items[pos] = item;
        slots[item.slot as usize].pos = pos as u32;
    }
}

/// The timers of a loop, each carrying a `T` (a waker or a callback in the loop).
pub(crate) struct TimerQueue<T> {
    slots: Vec<Slot<T>>,
    /// Free slab entries, as a stack (popping one touches no entry).
    free: Vec<u32>,
    /// `slots[fresh..]` are free and not on the stack: whenever the queue empties, every
    /// entry becomes fresh again, so the next burst of timers takes entries in order
    /// (memory read front to back) instead of in the order the last burst fired.
    fresh: u32,
    near: Heap,
    /// The current tick's timers taken from its bucket, sorted by `(deadline, seq)`;
    /// `run[run_head..]` are pending (see the module docs on the run).
    run: Vec<HeapItem>,
    run_head: usize,
    far: Heap,
    /// The timers of each tick in the window, indexed by `tick % BUCKETS`.
    buckets: Vec<Vec<HeapItem>>,
    /// Bit `i` set when bucket `i` is non-empty.
    occupied: Vec<u64>,
    in_buckets: usize,
    cur: u64,
    len: usize,
    next_seq: u64,
}

impl<T> TimerQueue<T> {
    pub(crate) fn new() -> Self {
        TimerQueue {
            slots: Vec::new(),
            free: Vec::new(),
            fresh: 0,
            near: Heap::new(),
            run: Vec::new(),
            run_head: 0,
            far: Heap::new(),
            buckets: std::iter::repeat_with(Vec::new).take(BUCKETS).collect(),
            occupied: vec![0; BUCKETS / 64],
            in_buckets: 0,
            cur: 0,
            len: 0,
            next_seq: 0,
        }
    }

    /// Timers pending.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Slab capacity in entries (for memory checks).
    #[cfg(test)]
    pub(crate) fn slot_capacity(&self) -> usize {
        self.slots.len()
    }

    /// Bucket capacity in entries, over every bucket and the run (for memory checks).
    #[cfg(test)]
    pub(crate) fn bucket_capacity(&self) -> usize {
        self.buckets.iter().map(Vec::capacity).sum::<usize>() + self.run.capacity()
    }

    /// Schedules `target` at `deadline`.
    pub(crate) fn insert(&mut self, deadline: u64, target: T) -> TimerKey {
        let seq = self.next_seq;
        self.next_seq += 1;
        let reuse = self.free.pop().or_else(|| {
            ((self.fresh as usize) < self.slots.len()).then(|| {
                self.fresh += 1;
                self.fresh - 1
            })
        });
        let slot = if let Some(slot) = reuse {
            let entry = &mut self.slots[slot as usize];
            entry.deadline = deadline;
            entry.target = Some(target);
            slot
        } else {
            let slot = u32::try_from(self.slots.len())
                .ok()
                .filter(|&s| s != NONE)
                .expect("more than 4 billion timers pending at once");
            self.slots.push(Slot {
                generation: 0,
                place: Place::Free,
                pos: NONE,
                deadline,
                target: Some(target),
            });
            self.fresh += 1;
            slot
        };
        self.len += 1;
        self.place(HeapItem {
            deadline,
            seq,
            slot,
        });
        TimerKey {
            slot,
            generation: self.slots[slot as usize].generation,
        }
    }

    /// Files a new timer into the near heap, a bucket or the far heap, by its tick.
    fn place(&mut self, item: HeapItem) {
        let slot = item.slot;
        let tick = tick_of(item.deadline);
        if tick <= self.cur {
            self.slots[slot as usize].place = Place::Near;
            self.near.push(item, &mut self.slots);
        } else if tick - self.cur < BUCKETS as u64 {
            let b = (tick as usize) & (BUCKETS - 1);
            let bucket = &mut self.buckets[b];
            let entry = &mut self.slots[slot as usize];
            entry.place = Place::Bucket;
            entry.pos = bucket.len() as u32;
            bucket.push(item);
            self.occupied[b / 64] |= 1 << (b % 64);
            self.in_buckets += 1;
        } else {
            self.slots[slot as usize].place = Place::Far;
            self.far.push(item, &mut self.slots);
        }
    }

    /// The tick of the first non-empty bucket after `cur`, if any.
    fn next_bucket_tick(&self) -> Option<u64> {
        if self.in_buckets == 0 {
            return None;
        }
        let start = (self.cur as usize + 1) & (BUCKETS - 1);
        // Scan the bitmap circularly from `start`, word by word.
        let words = BUCKETS / 64;
        let mut word = start / 64;
        let mut mask = !0u64 << (start % 64);
        for _ in 0..=words {
            let bits = self.occupied[word] & mask;
            if bits != 0 {
                let b = word * 64 + bits.trailing_zeros() as usize;
                let dist = (b + BUCKETS - start) % BUCKETS;
                return Some(self.cur + 1 + dist as u64);
            }
            word = (word + 1) % words;
            mask = !0;
        }
        unreachable!("in_buckets > 0 but no bucket bit is set")
    }

    /// The earliest tick with a timer outside the near heap.
    fn next_tick(&self) -> Option<u64> {
        let far = self.far.first().map(|item| tick_of(item.deadline));
        match (self.next_bucket_tick(), far) {
            (Some(b), Some(f)) => Some(b.min(f)),
            (b, f) => b.or(f),
        }
    }

    /// The earliest timer of the current tick and before: the near heap's or the run's.
    fn near_first(&self) -> Option<HeapItem> {
        let heap = self.near.first().copied();
        let run = self.run.get(self.run_head).copied();
        match (heap, run) {
            (Some(h), Some(r)) => Some(if r.key() < h.key() { r } else { h }),
            (h, r) => h.or(r),
        }
    }

    /// Whether `slot`'s timer is in the run: filed in a bucket of a tick not after `cur`
    /// (a timer filed later for such a tick goes to the near heap instead).
    fn in_run(&self, slot: u32) -> bool {
        let entry = &self.slots[slot as usize];
        entry.place == Place::Bucket && tick_of(entry.deadline) <= self.cur
    }

    /// Moves the run's head past cancelled timers, so it is pending or the run is over;
    /// an exhausted run gives its memory back at once (as an emptied bucket does, see
    /// `release_bucket`), not when the next tick with timers comes.
    fn skip_cancelled(&mut self) {
        while let Some(item) = self.run.get(self.run_head) {
            if self.in_run(item.slot) {
                return;
            }
            self.run_head += 1;
        }
        if !self.run.is_empty() {
            self.run = Vec::new();
            self.run_head = 0;
        }
    }

    /// While nothing is left at or before `cur` (near heap and run empty), advances `cur`
    /// to the earliest tick present if it is `<= upto`, making that tick's timers the
    /// run. With nothing left at or before `upto`, `cur` moves up to `upto` (new timers
    /// then land in buckets).
    fn refill(&mut self, upto: u64) {
        while self.near.first().is_none() && self.run_head == self.run.len() {
            let next = match self.next_tick() {
                Some(next) if next <= upto => next,
                _ => {
                    // No timer at or before `upto`: every bucket tick and far tick is
                    // past it, so the window may start there.
                    self.cur = self.cur.max(upto);
                    return;
                }
            };
            self.cur = next;
            let b = (next as usize) & (BUCKETS - 1);
            self.occupied[b / 64] &= !(1 << (b % 64));
            // The tick's bucket becomes the run, sorted once; its entries stay filed as
            // `Bucket` (see `in_run`), so making the run touches no slab entry.
            let mut run = std::mem::take(&mut self.buckets[b]);
            self.in_buckets -= run.len();
            while let Some(item) = self.far.first().copied() {
                if tick_of(item.deadline) > next {
                    break;
                }
                self.far.remove_at(0, &mut self.slots);
                // Filed as a bucket's: it is in the run now.
                self.slots[item.slot as usize].place = Place::Bucket;
                run.push(item);
            }
            run.sort_unstable_by_key(HeapItem::key);
            self.run = run;
            self.run_head = 0;
        }
    }

    /// Whether `key` is still waiting to fire.
    pub(crate) fn contains(&self, key: TimerKey) -> bool {
        self.slots
            .get(key.slot as usize)
            .is_some_and(|s| s.generation == key.generation && s.place != Place::Free)
    }

    /// The target of a pending timer, to update it (a newer waker).
    pub(crate) fn get_mut(&mut self, key: TimerKey) -> Option<&mut T> {
        if !self.contains(key) {
            return None;
        }
        self.slots[key.slot as usize].target.as_mut()
    }

    /// Cancels a pending timer, handing back its target; `None` if it already fired or
    /// was removed.
    pub(crate) fn remove(&mut self, key: TimerKey) -> Option<T> {
        if !self.contains(key) {
            return None;
        }
        Some(self.unfile(key.slot))
    }

    /// Takes entry `slot` out of wherever it is and frees it (without refilling).
    fn unfile(&mut self, slot: u32) -> T {
        let entry = &self.slots[slot as usize];
        let mut in_run = false;
        match entry.place {
            Place::Near => {
                let pos = entry.pos as usize;
                self.near.remove_at(pos, &mut self.slots);
            }
            Place::Far => {
                let pos = entry.pos as usize;
                self.far.remove_at(pos, &mut self.slots);
            }
            Place::Bucket if tick_of(entry.deadline) <= self.cur => {
                // In the run: left there, and skipped once it reaches the head (below).
                in_run = true;
            }
            Place::Bucket => {
                let pos = entry.pos as usize;
                let b = (tick_of(entry.deadline) as usize) & (BUCKETS - 1);
                let bucket = &mut self.buckets[b];
                bucket.swap_remove(pos);
                if let Some(moved) = bucket.get(pos) {
                    self.slots[moved.slot as usize].pos = pos as u32;
                } else if bucket.is_empty() {
                    self.occupied[b / 64] &= !(1 << (b % 64));
                    release_bucket(bucket);
                }
                self.in_buckets -= 1;
            }
            Place::Free => panic!("timer slot {slot} unfiled while free"),
        }
        self.len -= 1;
        let entry = &mut self.slots[slot as usize];
        entry.place = Place::Free;
        entry.pos = NONE;
        entry.generation = entry.generation.wrapping_add(1);
        let target = entry
            .target
            .take()
            .unwrap_or_else(|| panic!("pending timer slot {slot} has no target"));
        if self.len == 0 {
            // Every entry is free: all fresh again, in order.
            self.free.clear();
            self.fresh = 0;
        } else {
            self.free.push(slot);
        }
        if in_run {
            self.skip_cancelled();
        }
        target
    }

    /// The earliest deadline, or a lower bound of it no more than one tick early (see
    /// the module docs): waiting until then never oversleeps a timer.
    pub(crate) fn next_deadline(&self) -> Option<u64> {
        if let Some(item) = self.near_first() {
            return Some(item.deadline);
        }
        let far = self.far.first().map(|item| item.deadline);
        let bucket = self.next_bucket_tick().map(|t| t << TICK_SHIFT);
        match (bucket, far) {
            (Some(b), Some(f)) => Some(b.min(f)),
            (b, f) => b.or(f),
        }
    }

    /// Removes and returns the earliest timer if its deadline is `<= now`.
    pub(crate) fn pop_expired(&mut self, now: u64) -> Option<T> {
        if self.near.first().is_none() && self.run_head == self.run.len() {
            self.refill(tick_of(now));
        }
        match self.near_first() {
            Some(item) if item.deadline <= now => {
                // The run fires in deadline order, its entries scattered over the
                // slab: start loading one a few ahead.
                if let Some(ahead) = self.run.get(self.run_head + AHEAD) {
                    crate::sys::prefetch(self.slots.as_ptr().wrapping_add(ahead.slot as usize));
                }
                let slot = item.slot;
                Some(self.unfile(slot))
            }
            _ => None,
        }
    }

    /// Removes every timer (the loop is closing), calling `f` on each target.
    pub(crate) fn drain(&mut self, mut f: impl FnMut(T)) {
        loop {
            if self.near.first().is_none() && self.run_head == self.run.len() {
                self.refill(tick_of(u64::MAX));
            }
            let Some(item) = self.near_first() else { break };
            let slot = item.slot;
            f(self.unfile(slot));
        }
        debug_assert_eq!(self.len, 0);
    }
}

/// Frees an empty bucket's memory. Each of the `BUCKETS` buckets serves a new tick as
/// time moves on, so a bucket that kept the capacity of its busiest tick would make the
/// wheel hold the peak of every tick it ever served (megabytes after bursts, never
/// given back) instead of memory proportional to the timers pending.
fn release_bucket(bucket: &mut Vec<HeapItem>) {
    debug_assert!(bucket.is_empty());
    *bucket = Vec::new();
}

impl<T> fmt::Debug for TimerQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimerQueue")
            .field("pending", &self.len)
            .field("next_deadline", &self.next_deadline())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    #[test]
    fn equal_deadlines_pop_in_insertion_order() {
        let mut q = TimerQueue::new();
        for id in 0..10 {
            q.insert(5, id);
        }
        let order: Vec<i32> = std::iter::from_fn(|| q.pop_expired(5)).collect();
        assert_eq!(order, (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn nothing_pops_before_its_deadline() {
        let mut q = TimerQueue::new();
        q.insert(10, "a");
        assert_eq!(q.pop_expired(9), None);
        assert_eq!(q.pop_expired(10), Some("a"));
    }

    #[test]
    fn removed_key_is_stale_after_slot_reuse() {
        let mut q = TimerQueue::new();
        let a = q.insert(1, 'a');
        assert_eq!(q.remove(a), Some('a'));
        let b = q.insert(1, 'b');
        assert_eq!(
            q.remove(a),
            None,
            "a stale key must not remove the slot's new owner"
        );
        assert!(q.contains(b));
    }

    #[test]
    fn a_million_insert_cancel_pairs_keep_the_slab_small() {
        let mut q = TimerQueue::new();
        for i in 0..1_000_000u64 {
            let k = q.insert(i + 1_000_000_000, i);
            assert_eq!(q.remove(k), Some(i));
        }
        assert!(q.is_empty());
        assert_eq!(q.slot_capacity(), 1);
    }

    /// Bursts of timers in every tick of the wheel, cancelled or fired: the buckets
    /// keep no memory once empty.
    #[test]
    fn emptied_buckets_give_their_memory_back() {
        let tick = 1u64 << TICK_SHIFT;
        let mut q = TimerQueue::new();
        for t in 1..=2 * BUCKETS as u64 {
            let keys: Vec<_> = (0..100).map(|i| q.insert(t * tick + i, i)).collect();
            if t % 2 == 0 {
                for k in keys {
                    assert!(q.remove(k).is_some());
                }
            } else {
                let fired = std::iter::from_fn(|| q.pop_expired(t * tick + 100)).count();
                assert_eq!(fired, 100);
            }
            assert_eq!(q.bucket_capacity(), 0, "tick {t}");
        }
        assert!(q.is_empty());
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u8),
        Remove(usize),
        Pop(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => any::<u8>().prop_map(Op::Insert),
            1 => any::<usize>().prop_map(Op::Remove),
            1 => any::<u8>().prop_map(Op::Pop),
        ]
    }

    proptest! {
        /// The heap behaves as a `BTreeMap<(deadline, seq), id>`.
        #[test]
        fn timer_queue_matches_btreemap_model(ops in proptest::collection::vec(op(), 0..400)) {
            let mut q = TimerQueue::new();
            let mut model: BTreeMap<(u64, u64), u64> = BTreeMap::new();
            let mut keys: Vec<(TimerKey, (u64, u64))> = Vec::new();
            let mut seq = 0u64;
            for op in ops {
                match op {
                    Op::Insert(d) => {
                        let key = q.insert(d as u64, seq);
                        model.insert((d as u64, seq), seq);
                        keys.push((key, (d as u64, seq)));
                        seq += 1;
                    }
                    Op::Remove(i) if !keys.is_empty() => {
                        let (key, mk) = keys[i % keys.len()];
                        prop_assert_eq!(q.remove(key), model.remove(&mk));
                    }
                    Op::Remove(_) => {}
                    Op::Pop(now) => {
                        let now = now as u64;
                        let expect = model.keys().next().copied().filter(|k| k.0 <= now);
                        let got = q.pop_expired(now);
                        prop_assert_eq!(got, expect.map(|k| model.remove(&k).unwrap()));
                    }
                }
                prop_assert_eq!(q.len(), model.len());
                prop_assert_eq!(q.next_deadline(), model.keys().next().map(|k| k.0));
            }
        }

        /// Deadlines a few to a tick over a few hundred ticks, with pops moving time
        /// through them: every tick's timers go through a run, with cancels of timers
        /// at its head, in its middle and already skipped.
        #[test]
        fn timer_queue_runs_match_btreemap_model(ops in proptest::collection::vec(op(), 0..600)) {
            let scale = |v: u8| v as u64 * ((1u64 << TICK_SHIFT) / 3);
            let mut q = TimerQueue::new();
            let mut model: BTreeMap<(u64, u64), u64> = BTreeMap::new();
            let mut keys: Vec<(TimerKey, (u64, u64))> = Vec::new();
            let mut seq = 0u64;
            let mut now = 0u64;
            for op in ops {
                match op {
                    Op::Insert(d) => {
                        let d = now + scale(d % 16);
                        let key = q.insert(d, seq);
                        model.insert((d, seq), seq);
                        keys.push((key, (d, seq)));
                        seq += 1;
                    }
                    Op::Remove(i) if !keys.is_empty() => {
                        let (key, mk) = keys[i % keys.len()];
                        prop_assert_eq!(q.remove(key), model.remove(&mk));
                    }
                    Op::Remove(_) => {}
                    Op::Pop(step) => {
                        now += scale(step % 4);
                        loop {
                            let expect = model.keys().next().copied().filter(|k| k.0 <= now);
                            let got = q.pop_expired(now);
                            prop_assert_eq!(got, expect.map(|k| model.remove(&k).unwrap()));
                            if got.is_none() || step % 2 == 0 {
                                break;
                            }
                        }
                    }
                }
                prop_assert_eq!(q.len(), model.len());
                let min = model.keys().next().map(|k| k.0);
                let next = q.next_deadline();
                prop_assert_eq!(next.is_some(), min.is_some());
                if let (Some(next), Some(min)) = (next, min) {
                    prop_assert!(next <= min, "next_deadline {} after the minimum {}", next, min);
                }
            }
        }

        /// Deadlines spread over many ticks, past the bucket horizon and at "never":
        /// pops still match the model exactly, and `next_deadline` is the minimum or the
        /// start of the minimum's tick (never later than the minimum).
        #[test]
        fn timer_queue_spread_deadlines_match_btreemap_model(
            ops in proptest::collection::vec(op(), 0..400),
            shifts in proptest::collection::vec(0u32..40, 400),
        ) {
            let spread = |v: u8, i: usize| -> u64 {
                match shifts[i % shifts.len()] {
                    39 => u64::MAX,
                    s => (v as u64) << s,
                }
            };
            let mut q = TimerQueue::new();
            let mut model: BTreeMap<(u64, u64), u64> = BTreeMap::new();
            let mut keys: Vec<(TimerKey, (u64, u64))> = Vec::new();
            let mut seq = 0u64;
            let mut drained = Vec::new();
            for (i, op) in ops.into_iter().enumerate() {
                match op {
                    Op::Insert(d) => {
                        let d = spread(d, i);
                        let key = q.insert(d, seq);
                        model.insert((d, seq), seq);
                        keys.push((key, (d, seq)));
                        seq += 1;
                    }
                    Op::Remove(j) if !keys.is_empty() => {
                        let (key, mk) = keys[j % keys.len()];
                        prop_assert_eq!(q.remove(key), model.remove(&mk));
                    }
                    Op::Remove(_) => {}
                    Op::Pop(now) => {
                        let now = spread(now, i + 1);
                        let expect = model.keys().next().copied().filter(|k| k.0 <= now);
                        let got = q.pop_expired(now);
                        prop_assert_eq!(got, expect.map(|k| model.remove(&k).unwrap()));
                    }
                }
                prop_assert_eq!(q.len(), model.len());
                let min = model.keys().next().map(|k| k.0);
                let next = q.next_deadline();
                prop_assert_eq!(next.is_some(), min.is_some());
                if let (Some(next), Some(min)) = (next, min) {
                    prop_assert!(next <= min, "next_deadline {} after the minimum {}", next, min);
                    prop_assert_eq!(tick_of(next), tick_of(min));
                }
            }
            q.drain(|t| drained.push(t));
            let want: Vec<u64> = model.into_values().collect();
            prop_assert_eq!(drained, want);
        }
    }
}
