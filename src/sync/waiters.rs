//! A FIFO list of waiting futures, shared by every primitive in `sync`.
//!
//! # Ground rules
//!
//! - A future that must wait calls [`WaiterList::push`] and keeps the returned
//!   [`WaiterId`]. That id is *its* entry: only that future ever frees it, either by
//!   [`WaiterList::take_notice`] (when it completes) or by [`WaiterList::remove`] (when
//!   it is dropped). So an id can never dangle or point at somebody else's entry.
//! - The primitive wakes waiters with [`WaiterList::notify_first`] or
//!   [`WaiterList::notify_all`]: the entry leaves the FIFO, keeps a *notice* (an item,
//!   a permit, "closed", …) and hands back the waker. The entry stays allocated until
//!   its future picks the notice up.
//! - A future dropped after it was notified gets its notice back from `remove`, and the
//!   primitive passes it on to the next waiter. That is what makes every primitive
//!   cancellation-safe: a wake-up is never lost, and a dropped waiter never leaks an
//!   entry.
//! - Wakers are collected in a [`WakeSet`] and woken only after the primitive's
//!   `RefCell` borrow is released, so a woken task may touch the primitive at once.
//!
//! Storage is a slab (`Vec` + free list) threaded by a doubly linked list of indices:
//! push, notify and remove are all O(1), and memory is bounded by the largest number of
//! waiters alive at once, however many come and go.

use std::fmt;
use std::task::Waker;

/// The handle a waiting future keeps to find its entry again.
///
/// Deliberately not `Clone`/`Copy`: one entry, one owner.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct WaiterId(usize);

/// One slot of the slab.
enum Slot<N> {
    /// Free; `next_free` links the free list.
    Vacant { next_free: Option<usize> },
    /// Owned by a waiting or notified future.
    Occupied(Entry<N>),
}

/// A waiter: either queued (in the FIFO, `notice` is `None`) or notified (out of the
/// FIFO, `notice` is `Some`).
struct Entry<N> {
    /// Present while queued; taken by the notify that dequeues the entry.
    waker: Option<Waker>,
    /// What the waiter was woken with. `Some` exactly when the entry is not queued.
    notice: Option<N>,
    prev: Option<usize>,
    next: Option<usize>,
}

/// A FIFO of waiters, each of which may receive one notice of type `N`.
pub(crate) struct WaiterList<N> {
    slots: Vec<Slot<N>>,
    free_head: Option<usize>,
    /// Oldest queued waiter.
    head: Option<usize>,
    /// Newest queued waiter.
    tail: Option<usize>,
    /// Waiters in the FIFO (not yet notified).
    queued: usize,
    /// Occupied slots: queued plus notified-but-not-yet-collected.
    occupied: usize,
}

impl<N> WaiterList<N> {
    /// An empty list; allocates nothing.
    pub(crate) const fn new() -> Self {
        WaiterList {
            slots: Vec::new(),
            free_head: None,
            head: None,
            tail: None,
            queued: 0,
            occupied: 0,
        }
    }

    /// Number of waiters still queued (not notified yet).
    pub(crate) fn queued(&self) -> usize {
        self.queued
    }

    /// Number of live entries, queued or notified. Used by tests to check for leaks.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn occupied(&self) -> usize {
        self.occupied
    }

    /// Appends a waiter at the back of the FIFO.
    pub(crate) fn push(&mut self, waker: Waker) -> WaiterId {
        let entry = Entry {
            waker: Some(waker),
            notice: None,
            prev: self.tail,
            next: None,
        };
        let idx = match self.free_head {
            Some(idx) => {
                let Slot::Vacant { next_free } = self.slots[idx] else {
                    panic!("waiter free list points at occupied slot {idx}");
                };
                self.free_head = next_free;
                self.slots[idx] = Slot::Occupied(entry);
                idx
            }
            None => {
                self.slots.push(Slot::Occupied(entry));
                self.slots.len() - 1
            }
        };
        match self.tail {
            Some(tail) => self.entry_mut(tail).next = Some(idx),
            None => self.head = Some(idx),
        }
        self.tail = Some(idx);
        self.queued += 1;
        self.occupied += 1;
        WaiterId(idx)
    }

    /// Replaces the stored waker of a queued waiter if it would wake a different task.
    /// A notified waiter has already been woken, so nothing is stored for it.
    pub(crate) fn update_waker(&mut self, id: &WaiterId, waker: &Waker) {
        let entry = self.entry_mut(id.0);
        if let Some(stored) = &mut entry.waker
            && !stored.will_wake(waker)
        {
            stored.clone_from(waker);
        }
    }

    /// Gives `notice` to the oldest queued waiter and returns its waker, or returns the
    /// notice back when no waiter is queued.
    pub(crate) fn notify_first(&mut self, notice: N) -> Result<Waker, N> {
        let Some(idx) = self.head else {
            return Err(notice);
        };
        self.unlink(idx);
        let entry = self.entry_mut(idx);
        entry.notice = Some(notice);
        Ok(entry
            .waker
            .take()
            .expect("a queued waiter always holds a waker"))
    }

    /// Notifies every queued waiter, oldest first, with a notice from `make`; their
    /// wakers go into `wakers`.
    pub(crate) fn notify_all(&mut self, wakers: &mut WakeSet, mut make: impl FnMut() -> N) {
        while let Some(idx) = self.head {
            self.unlink(idx);
            let entry = self.entry_mut(idx);
            entry.notice = Some(make());
            wakers.push(
                entry
                    .waker
                    .take()
                    .expect("a queued waiter always holds a waker"),
            );
        }
    }

    /// If the waiter has been notified, frees its entry and returns the notice.
    /// A waiter still queued stays queued and `None` is returned.
    pub(crate) fn take_notice(&mut self, id: &WaiterId) -> Option<N> {
        self.entry_mut(id.0).notice.as_ref()?;
        self.free(id.0)
    }

    /// Frees the waiter's entry whatever its state, unlinking it if it is still queued.
    /// Returns the notice it had been given, which the caller must pass on.
    pub(crate) fn remove(&mut self, id: WaiterId) -> Option<N> {
        if self.entry_mut(id.0).notice.is_none() {
            self.unlink(id.0);
        }
        self.free(id.0)
    }

    /// Takes a queued entry out of the FIFO (the slot stays occupied).
    fn unlink(&mut self, idx: usize) {
        let entry = self.entry_mut(idx);
        let (prev, next) = (entry.prev.take(), entry.next.take());
        match prev {
            Some(prev) => self.entry_mut(prev).next = next,
            None => self.head = next,
        }
        match next {
            Some(next) => self.entry_mut(next).prev = prev,
            None => self.tail = prev,
        }
        self.queued -= 1;
    }

    /// Returns an unlinked slot to the free list, yielding its notice.
    fn free(&mut self, idx: usize) -> Option<N> {
        let slot = std::mem::replace(
            &mut self.slots[idx],
            Slot::Vacant {
                next_free: self.free_head,
            },
        );
        let Slot::Occupied(entry) = slot else {
            panic!("waiter slot {idx} freed twice");
        };
        self.free_head = Some(idx);
        self.occupied -= 1;
        if self.occupied == 0 {
            // Everyone has left: drop the slab so a burst of waiters does not pin memory.
            self.slots.clear();
            self.free_head = None;
        }
        entry.notice
    }

    fn entry_mut(&mut self, idx: usize) -> &mut Entry<N> {
        match &mut self.slots[idx] {
            Slot::Occupied(entry) => entry,
            Slot::Vacant { .. } => panic!("waiter slot {idx} is vacant but still referenced"),
        }
    }
}

impl<N> Default for WaiterList<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<N> fmt::Debug for WaiterList<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaiterList")
            .field("queued", &self.queued)
            .field("notified", &(self.occupied - self.queued))
            .finish()
    }
}

/// Wakers collected under a borrow, woken after it is released.
///
/// Holds one waker inline, so the common case (wake one waiter) never allocates.
#[derive(Default)]
pub(crate) struct WakeSet {
    first: Option<Waker>,
    rest: Vec<Waker>,
}

impl WakeSet {
    /// An empty set.
    pub(crate) const fn new() -> Self {
        WakeSet {
            first: None,
            rest: Vec::new(),
        }
    }

    /// Adds a waker to wake later.
    pub(crate) fn push(&mut self, waker: Waker) {
        if self.first.is_none() {
            self.first = Some(waker);
        } else {
            self.rest.push(waker);
        }
    }

    /// Wakes everything collected, in the order pushed.
    pub(crate) fn wake_all(self) {
        if let Some(first) = self.first {
            first.wake();
        }
        for waker in self.rest {
            waker.wake();
        }
    }
}

impl fmt::Debug for WakeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let len = usize::from(self.first.is_some()) + self.rest.len();
        f.debug_struct("WakeSet").field("len", &len).finish()
    }
}

#[cfg(test)]
pub(crate) mod test_util {
    //! Wakers for driving futures by hand in unit tests.

    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Wake, Waker};

    /// A waker that counts how many times it was woken.
    pub(crate) struct CountingWaker(AtomicUsize);

    impl Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Returns a waker and a function reading its wake count.
    pub(crate) fn counting_waker() -> (Waker, impl Fn() -> usize) {
        let inner = Arc::new(CountingWaker(AtomicUsize::new(0)));
        let reader = Arc::clone(&inner);
        (Waker::from(inner), move || reader.0.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::test_util::counting_waker;
    use super::*;

    #[test]
    fn waiters_notified_in_push_order() {
        let mut list = WaiterList::new();
        let ids: Vec<_> = (0..4).map(|_| list.push(Waker::noop().clone())).collect();
        for n in 0..4 {
            list.notify_first(n).expect("a waiter is queued");
        }
        assert!(list.notify_first(99).is_err());
        let notices: Vec<_> = ids.iter().map(|id| list.take_notice(id)).collect();
        assert_eq!(notices, vec![Some(0), Some(1), Some(2), Some(3)]);
        assert_eq!(list.occupied(), 0);
    }

    #[test]
    fn waiters_removed_from_middle_keep_order() {
        let mut list = WaiterList::new();
        let a = list.push(Waker::noop().clone());
        let b = list.push(Waker::noop().clone());
        let c = list.push(Waker::noop().clone());
        assert_eq!(list.remove(b), None);
        assert_eq!(list.queued(), 2);
        list.notify_first('x').unwrap();
        list.notify_first('y').unwrap();
        assert_eq!(list.take_notice(&a), Some('x'));
        assert_eq!(list.take_notice(&c), Some('y'));
        assert_eq!(list.queued(), 0);
    }

    #[test]
    fn waiters_remove_after_notify_returns_notice() {
        let mut list = WaiterList::new();
        let a = list.push(Waker::noop().clone());
        let _b = list.push(Waker::noop().clone());
        list.notify_first(7).unwrap();
        assert_eq!(list.remove(a), Some(7));
        assert_eq!(list.queued(), 1);
    }

    #[test]
    fn waiters_take_notice_leaves_queued_entry() {
        let mut list = WaiterList::<u8>::new();
        let a = list.push(Waker::noop().clone());
        assert_eq!(list.take_notice(&a), None);
        assert_eq!(list.queued(), 1);
        assert_eq!(list.remove(a), None);
        assert_eq!(list.occupied(), 0);
    }

    #[test]
    fn waiters_slots_reused_without_growth() {
        let mut list = WaiterList::<()>::new();
        let keep = list.push(Waker::noop().clone());
        for _ in 0..10_000 {
            let id = list.push(Waker::noop().clone());
            list.remove(id);
        }
        assert!(list.slots.len() <= 2);
        assert_eq!(list.occupied(), 1);
        list.remove(keep);
    }

    #[test]
    fn waiters_notify_all_wakes_each_once() {
        let mut list = WaiterList::new();
        let (waker, count) = counting_waker();
        let ids: Vec<_> = (0..3).map(|_| list.push(waker.clone())).collect();
        let mut wakers = WakeSet::new();
        let mut n = 0;
        list.notify_all(&mut wakers, || {
            n += 1;
            n
        });
        assert_eq!(count(), 0, "nothing is woken before wake_all");
        wakers.wake_all();
        assert_eq!(count(), 3);
        let notices: Vec<_> = ids.iter().map(|id| list.take_notice(id)).collect();
        assert_eq!(notices, vec![Some(1), Some(2), Some(3)]);
    }

    #[test]
    fn waiters_update_waker_replaces_queued_waker() {
        let mut list = WaiterList::new();
        let (old, old_count) = counting_waker();
        let (new, new_count) = counting_waker();
        let id = list.push(old);
        list.update_waker(&id, &new);
        list.notify_first(()).unwrap().wake();
        assert_eq!((old_count(), new_count()), (0, 1));
        list.remove(id);
    }
}

#[cfg(test)]
mod model {
    //! The waiter list checked against a `VecDeque` model under random operations.

    use super::*;
    use proptest::prelude::*;
    use std::collections::{HashMap, VecDeque};

    #[derive(Debug, Clone)]
    enum Op {
        Push,
        NotifyFirst,
        /// Remove the `n % live`-th live waiter.
        Remove(usize),
        /// Take the notice of the `n % live`-th live waiter.
        TakeNotice(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => Just(Op::Push),
            2 => Just(Op::NotifyFirst),
            2 => any::<usize>().prop_map(Op::Remove),
            2 => any::<usize>().prop_map(Op::TakeNotice),
        ]
    }

    proptest! {
        #[test]
        fn waiter_list_matches_vecdeque_model(ops in proptest::collection::vec(op(), 1..200)) {
            let mut list = WaiterList::<u32>::new();
            // Model: keys of queued waiters in FIFO order, and notices of notified ones.
            let mut queued: VecDeque<u32> = VecDeque::new();
            let mut notified: HashMap<u32, u32> = HashMap::new();
            // Live waiters: (key, id) as futures would hold them.
            let mut live: Vec<(u32, WaiterId)> = Vec::new();
            let mut next_key = 0;
            let mut next_notice = 1000;
            for op in ops {
                match op {
                    Op::Push => {
                        let id = list.push(Waker::noop().clone());
                        queued.push_back(next_key);
                        live.push((next_key, id));
                        next_key += 1;
                    }
                    Op::NotifyFirst => {
                        let got = list.notify_first(next_notice);
                        match queued.pop_front() {
                            Some(key) => {
                                prop_assert!(got.is_ok());
                                notified.insert(key, next_notice);
                            }
                            None => prop_assert_eq!(got.err(), Some(next_notice)),
                        }
                        next_notice += 1;
                    }
                    Op::Remove(n) if !live.is_empty() => {
                        let (key, id) = live.remove(n % live.len());
                        let notice = list.remove(id);
                        queued.retain(|&k| k != key);
                        prop_assert_eq!(notice, notified.remove(&key));
                    }
                    Op::TakeNotice(n) if !live.is_empty() => {
                        let i = n % live.len();
                        let key = live[i].0;
                        let notice = list.take_notice(&live[i].1);
                        prop_assert_eq!(notice, notified.remove(&key));
                        if notice.is_some() {
                            live.remove(i);
                        }
                    }
                    Op::Remove(_) | Op::TakeNotice(_) => {}
                }
                prop_assert_eq!(list.queued(), queued.len());
                prop_assert_eq!(list.occupied(), live.len());
            }
        }
    }
}
