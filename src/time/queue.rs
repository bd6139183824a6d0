//! The timer queue: a binary min-heap keyed by (deadline, sequence), with removal.
//!
//! Entries live in a slab; the heap holds `(deadline, seq, slot)` and every slab entry
//! knows its heap position, so cancelling is `O(log n)` and frees the entry at once (a
//! million timeouts created and cancelled leave the queue as small as it started).
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

const NOT_IN_HEAP: u32 = u32::MAX;

struct Slot<T> {
    generation: u32,
    heap_pos: u32,
    target: Option<T>,
    next_free: u32,
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

/// A min-heap of timers carrying a `T` each (a waker or a callback in the loop).
pub(crate) struct TimerQueue<T> {
    slots: Vec<Slot<T>>,
    free_head: u32,
    heap: Vec<HeapItem>,
    next_seq: u64,
}

impl<T> TimerQueue<T> {
    pub(crate) fn new() -> Self {
        TimerQueue {
            slots: Vec::new(),
            free_head: NOT_IN_HEAP,
            heap: Vec::new(),
            next_seq: 0,
        }
    }

    /// Timers pending.
    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Slab capacity in entries (for memory checks).
    #[cfg(test)]
    pub(crate) fn slot_capacity(&self) -> usize {
        self.slots.len()
    }

    /// Schedules `target` at `deadline`.
    pub(crate) fn insert(&mut self, deadline: u64, target: T) -> TimerKey {
        let seq = self.next_seq;
        self.next_seq += 1;
        let slot = if self.free_head != NOT_IN_HEAP {
            let slot = self.free_head;
            let entry = &mut self.slots[slot as usize];
            self.free_head = entry.next_free;
            entry.target = Some(target);
            slot
        } else {
            let slot = u32::try_from(self.slots.len())
                .ok()
                .filter(|&s| s != NOT_IN_HEAP)
                .expect("more than 4 billion timers pending at once");
            self.slots.push(Slot {
                generation: 0,
                heap_pos: NOT_IN_HEAP,
                target: Some(target),
                next_free: NOT_IN_HEAP,
            });
            slot
        };
        let pos = self.heap.len();
        self.heap.push(HeapItem {
            deadline,
            seq,
            slot,
        });
        self.slots[slot as usize].heap_pos = pos as u32;
        self.sift_up(pos);
        TimerKey {
            slot,
            generation: self.slots[slot as usize].generation,
        }
    }

    /// Whether `key` is still waiting to fire.
    pub(crate) fn contains(&self, key: TimerKey) -> bool {
        self.slots
            .get(key.slot as usize)
            .is_some_and(|s| s.generation == key.generation && s.heap_pos != NOT_IN_HEAP)
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
        let pos = self.slots[key.slot as usize].heap_pos as usize;
        Some(self.remove_at(pos))
    }

    /// The earliest deadline.
    pub(crate) fn next_deadline(&self) -> Option<u64> {
        self.heap.first().map(|item| item.deadline)
    }

    /// Removes and returns the earliest timer if its deadline is `<= now`.
    pub(crate) fn pop_expired(&mut self, now: u64) -> Option<T> {
        match self.heap.first() {
            Some(item) if item.deadline <= now => Some(self.remove_at(0)),
            _ => None,
        }
    }

    /// Removes every timer (the loop is closing), calling `f` on each target.
    pub(crate) fn drain(&mut self, mut f: impl FnMut(T)) {
        while !self.heap.is_empty() {
            let target = self.remove_at(self.heap.len() - 1);
            f(target);
        }
    }

    fn remove_at(&mut self, pos: usize) -> T {
        let item = self.heap.swap_remove(pos);
        if pos < self.heap.len() {
            let moved = self.heap[pos].slot;
            self.slots[moved as usize].heap_pos = pos as u32;
            // The element moved into `pos` may belong above or below it.
            let pos = self.sift_up(pos);
            self.sift_down(pos);
        }
        let entry = &mut self.slots[item.slot as usize];
        entry.heap_pos = NOT_IN_HEAP;
        entry.generation = entry.generation.wrapping_add(1);
        entry.next_free = self.free_head;
        self.free_head = item.slot;
        entry
            .target
            .take()
            .unwrap_or_else(|| panic!("timer slot {} in the heap has no target", item.slot))
    }

    fn set_pos(&mut self, pos: usize) {
        let slot = self.heap[pos].slot;
        self.slots[slot as usize].heap_pos = pos as u32;
    }

    fn sift_up(&mut self, mut pos: usize) -> usize {
        while pos > 0 {
            let parent = (pos - 1) / 2;
            if self.heap[pos].key() >= self.heap[parent].key() {
                break;
            }
            self.heap.swap(pos, parent);
            self.set_pos(pos);
            self.set_pos(parent);
            pos = parent;
        }
        pos
    }

    fn sift_down(&mut self, mut pos: usize) {
        let len = self.heap.len();
        loop {
            let left = 2 * pos + 1;
            if left >= len {
                break;
            }
            let right = left + 1;
            let child = if right < len && self.heap[right].key() < self.heap[left].key() {
                right
            } else {
                left
            };
            if self.heap[pos].key() <= self.heap[child].key() {
                break;
            }
            self.heap.swap(pos, child);
            self.set_pos(pos);
            self.set_pos(child);
            pos = child;
        }
    }
}

impl<T> fmt::Debug for TimerQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimerQueue")
            .field("pending", &self.heap.len())
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
    }
}
