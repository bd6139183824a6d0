//! Unit tests of the queue: hand-polled futures, counting wakers.

use super::super::QueueClosed;
use super::super::TryPutError;
use super::super::waiters::test_util::counting_waker;
use super::*;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

fn poll<F: Future + Unpin>(fut: &mut F, waker: &Waker) -> Poll<F::Output> {
    Pin::new(fut).poll(&mut Context::from_waker(waker))
}

fn noop<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    poll(fut, Waker::noop())
}

fn entries<T>(q: &Queue<T>) -> (usize, usize) {
    let state = q.shared.state.borrow();
    (state.getters.occupied(), state.putters.occupied())
}

#[test]
#[should_panic(expected = "use Queue::unbounded()")]
fn queue_new_zero_panics() {
    let _ = Queue::<u8>::new(0);
}

#[test]
fn queue_try_put_full_returns_item() {
    let q = Queue::new(1);
    assert_eq!(q.try_put(1), Ok(()));
    assert!(q.is_full());
    assert_eq!(q.try_put(2), Err(TryPutError::Full(2)));
    q.close();
    assert_eq!(q.try_put(3), Err(TryPutError::Closed(3)));
    assert_eq!(q.try_get(), Ok(1));
    assert_eq!(q.try_get(), Err(TryGetError::Closed));
}

#[test]
fn queue_getters_handed_items_in_wait_order() {
    let q = Queue::unbounded();
    let mut a = q.get();
    let mut b = q.get();
    assert!(noop(&mut a).is_pending());
    assert!(noop(&mut b).is_pending());
    q.try_put('x').unwrap();
    q.try_put('y').unwrap();
    assert_eq!(q.len(), 2);
    // `b` runs first, but `a` waited first: `a` owns 'x'.
    assert_eq!(noop(&mut b), Poll::Ready(Ok('y')));
    assert_eq!(noop(&mut a), Poll::Ready(Ok('x')));
    assert!(q.is_empty());
}

#[test]
fn queue_item_handed_to_getter_not_available_to_try_get() {
    let q = Queue::unbounded();
    let mut a = q.get();
    assert!(noop(&mut a).is_pending());
    q.try_put(1).unwrap();
    assert_eq!(q.try_get(), Err(TryGetError::Empty));
    assert_eq!(noop(&mut a), Poll::Ready(Ok(1)));
}

#[test]
fn queue_dropped_getter_passes_item_to_next_getter() {
    let q = Queue::unbounded();
    let (waker_b, woken_b) = counting_waker();
    let mut a = q.get();
    let mut b = q.get();
    assert!(noop(&mut a).is_pending());
    assert!(poll(&mut b, &waker_b).is_pending());
    q.try_put(5).unwrap();
    assert_eq!(woken_b(), 0);
    drop(a);
    assert_eq!(woken_b(), 1);
    assert_eq!(noop(&mut b), Poll::Ready(Ok(5)));
    assert_eq!(entries(&q), (0, 0));
}

#[test]
fn queue_dropped_getter_puts_item_back_in_front() {
    let q = Queue::unbounded();
    let mut a = q.get();
    assert!(noop(&mut a).is_pending());
    q.try_put(1).unwrap();
    q.try_put(2).unwrap();
    drop(a);
    assert_eq!(q.try_get(), Ok(1));
    assert_eq!(q.try_get(), Ok(2));
}

#[test]
fn queue_dropped_getter_keeps_bound() {
    let q = Queue::new(1);
    let mut a = q.get();
    assert!(noop(&mut a).is_pending());
    q.try_put(1).unwrap();
    // The handed item still occupies the only slot.
    assert_eq!(q.try_put(2), Err(TryPutError::Full(2)));
    drop(a);
    assert_eq!(q.len(), 1);
    assert!(q.is_full());
}

#[test]
fn queue_putters_admitted_in_wait_order() {
    let q = Queue::new(1);
    q.try_put(0).unwrap();
    let mut a = q.put(1);
    let mut b = q.put(2);
    assert!(noop(&mut a).is_pending());
    assert!(noop(&mut b).is_pending());
    assert_eq!(q.try_get(), Ok(0));
    // The freed slot is reserved for `a`: `b` and newcomers still wait.
    assert!(q.is_full());
    assert_eq!(q.try_put(9), Err(TryPutError::Full(9)));
    assert!(noop(&mut b).is_pending());
    assert_eq!(noop(&mut a), Poll::Ready(Ok(())));
    assert_eq!(q.try_get(), Ok(1));
    assert_eq!(noop(&mut b), Poll::Ready(Ok(())));
    assert_eq!(q.try_get(), Ok(2));
}

#[test]
fn queue_dropped_putter_passes_slot_on() {
    let q = Queue::new(1);
    q.try_put(0).unwrap();
    let (waker_b, woken_b) = counting_waker();
    let mut a = q.put(1);
    let mut b = q.put(2);
    assert!(noop(&mut a).is_pending());
    assert!(poll(&mut b, &waker_b).is_pending());
    assert_eq!(q.try_get(), Ok(0));
    drop(a); // its slot goes to b; its item is not put
    assert_eq!(woken_b(), 1);
    assert_eq!(noop(&mut b), Poll::Ready(Ok(())));
    assert_eq!(q.try_get(), Ok(2));
    assert_eq!(q.try_get(), Err(TryGetError::Empty));
    assert_eq!(entries(&q), (0, 0));
}

#[test]
fn queue_close_wakes_getters_and_putters() {
    let full = Queue::new(1);
    full.try_put(0).unwrap();
    let empty = Queue::<u8>::unbounded();
    let (waker, woken) = counting_waker();
    let mut p = full.put(1);
    let mut g = empty.get();
    assert!(poll(&mut p, &waker).is_pending());
    assert!(poll(&mut g, &waker).is_pending());
    full.close();
    empty.close();
    assert_eq!(woken(), 2);
    assert_eq!(noop(&mut p), Poll::Ready(Err(QueueClosed)));
    assert_eq!(noop(&mut g), Poll::Ready(Err(QueueClosed)));
    // The item queued before close can still be drained.
    assert_eq!(noop(&mut full.get()), Poll::Ready(Ok(0)));
    assert_eq!(noop(&mut full.get()), Poll::Ready(Err(QueueClosed)));
}

#[test]
fn queue_putter_with_reserved_slot_fails_after_close() {
    let q = Queue::new(1);
    q.try_put(0).unwrap();
    let mut p = q.put(1);
    assert!(noop(&mut p).is_pending());
    assert_eq!(q.try_get(), Ok(0)); // slot reserved for p
    q.close();
    assert_eq!(noop(&mut p), Poll::Ready(Err(QueueClosed)));
    assert!(q.is_empty());
    assert_eq!(q.shared.state.borrow().reserved, 0);
}

#[test]
fn queue_closed_getter_takes_item_given_back() {
    let q = Queue::unbounded();
    let mut a = q.get();
    let mut b = q.get();
    assert!(noop(&mut a).is_pending());
    assert!(noop(&mut b).is_pending());
    q.try_put(7).unwrap(); // handed to a
    q.close(); // b notified closed
    drop(a); // 7 goes back to the queue
    assert_eq!(noop(&mut b), Poll::Ready(Ok(7)));
}

#[test]
fn queue_join_tracks_task_done() {
    let q = Queue::unbounded();
    assert_eq!(noop(&mut q.join()), Poll::Ready(()));
    q.try_put(1).unwrap();
    q.try_put(2).unwrap();
    let (waker, woken) = counting_waker();
    let mut j = q.join();
    assert!(poll(&mut j, &waker).is_pending());
    q.try_get().unwrap();
    q.task_done();
    assert_eq!(woken(), 0);
    q.try_get().unwrap();
    q.task_done();
    assert_eq!(woken(), 1);
    assert_eq!(noop(&mut j), Poll::Ready(()));
}

#[test]
#[should_panic(expected = "task_done() called more times than there were items")]
fn queue_task_done_too_often_panics() {
    let q = Queue::unbounded();
    q.try_put(()).unwrap();
    q.task_done();
    q.task_done();
}

#[test]
fn queue_many_cancelled_gets_leave_no_entries() {
    let q = Queue::<u64>::unbounded();
    let mut keep = q.get();
    assert!(noop(&mut keep).is_pending());
    for _ in 0..100_000 {
        let mut g = q.get();
        assert!(noop(&mut g).is_pending());
    }
    assert_eq!(entries(&q), (1, 0));
    assert!(q.shared.state.borrow().getters.queued() == 1);
    q.try_put(1).unwrap();
    assert_eq!(noop(&mut keep), Poll::Ready(Ok(1)));
}

#[test]
fn queue_put_future_dropped_unpolled_puts_nothing() {
    let q = Queue::unbounded();
    drop(q.put(1));
    assert!(q.is_empty());
    assert_eq!(noop(&mut q.join()), Poll::Ready(()));
}

#[test]
fn queue_put_waker_updated_on_repoll() {
    let q = Queue::new(1);
    q.try_put(0).unwrap();
    let (old, old_woken) = counting_waker();
    let (new, new_woken) = counting_waker();
    let mut p = q.put(1);
    assert!(poll(&mut p, &old).is_pending());
    assert!(poll(&mut p, &new).is_pending());
    q.try_get().unwrap();
    assert_eq!((old_woken(), new_woken()), (0, 1));
    assert_eq!(noop(&mut p), Poll::Ready(Ok(())));
}
