//! The queue under random puts, gets, cancellations and close, hand-polled with
//! counting wakers. Checked after every step: the state invariants, no lost
//! wake-up (a future not woken since its last poll is still pending), and at the
//! end that every item put came out exactly once.

use super::super::QueueClosed;
use super::super::waiters::test_util::counting_waker;
use super::*;
use proptest::prelude::*;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

#[derive(Debug, Clone)]
enum Op {
    TryPut,
    TryGet,
    StartPut,
    StartGet,
    /// Poll the `n % len`-th pending put / get.
    PollPut(usize),
    PollGet(usize),
    /// Drop the `n % len`-th pending put / get.
    DropPut(usize),
    DropGet(usize),
    Close,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => Just(Op::TryPut),
        2 => Just(Op::TryGet),
        3 => Just(Op::StartPut),
        3 => Just(Op::StartGet),
        3 => any::<usize>().prop_map(Op::PollPut),
        3 => any::<usize>().prop_map(Op::PollGet),
        1 => any::<usize>().prop_map(Op::DropPut),
        1 => any::<usize>().prop_map(Op::DropGet),
        1 => Just(Op::Close),
    ]
}

/// A pending future with its waker and the wake count at its last poll.
struct Pending<F> {
    fut: F,
    waker: Waker,
    count: Box<dyn Fn() -> usize>,
    seen: usize,
}

fn pending<F>(fut: F) -> Pending<F> {
    let (waker, count) = counting_waker();
    Pending {
        fut,
        waker,
        count: Box::new(count),
        seen: 0,
    }
}

impl<F: Future + Unpin> Pending<F> {
    fn poll(&mut self) -> Poll<F::Output> {
        self.seen = (self.count)();
        Pin::new(&mut self.fut).poll(&mut Context::from_waker(&self.waker))
    }
}

fn check_invariants<T, O: QueueOrder<T>>(q: &GenericQueue<T, O>) -> Result<(), TestCaseError> {
    let s = q.shared.state.borrow();
    prop_assert!(s.len() + s.reserved <= s.maxsize, "over the bound");
    if !s.items.is_empty() {
        prop_assert_eq!(s.getters.queued(), 0, "getter waits while items are queued");
    }
    if !s.closed && s.putters.queued() > 0 {
        prop_assert!(
            s.len() + s.reserved >= s.maxsize,
            "putter waits with a free slot"
        );
    }
    if s.closed {
        prop_assert_eq!(s.getters.queued() + s.putters.queued(), 0);
    }
    // Notified getters hold an item or a close notice; before close, always an item.
    let notified_getters = s.getters.occupied() - s.getters.queued();
    prop_assert!(s.handed <= notified_getters);
    if !s.closed {
        prop_assert_eq!(s.handed, notified_getters);
    }
    Ok(())
}

proptest! {
    #[test]
    fn queue_model_conserves_items_and_wakes(
        maxsize in 1usize..4,
        ops in proptest::collection::vec(op(), 1..150),
    ) {
        run_model::<FifoOrder<u32>>(maxsize, ops)?;
    }

    #[test]
    fn lifo_queue_model_conserves_items_and_wakes(
        maxsize in 1usize..4,
        ops in proptest::collection::vec(op(), 1..150),
    ) {
        run_model::<LifoOrder<u32>>(maxsize, ops)?;
    }

    #[test]
    fn priority_queue_model_conserves_items_and_wakes(
        maxsize in 1usize..4,
        ops in proptest::collection::vec(op(), 1..150),
    ) {
        run_model::<PriorityOrder<u32>>(maxsize, ops)?;
    }
}

/// Runs `ops` on a queue of order `O`, checking after every step, then drains it.
fn run_model<O: QueueOrder<u32>>(maxsize: usize, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let q = GenericQueue::<u32, O>::new(maxsize);
    let mut next = 0u32;
    let mut put_ok: Vec<u32> = Vec::new();
    let mut got: Vec<u32> = Vec::new();
    let mut puts: Vec<(u32, Pending<QueuePut<u32, O>>)> = Vec::new();
    let mut gets: Vec<Pending<QueueGet<u32, O>>> = Vec::new();

    for op in ops {
        match op {
            Op::TryPut => {
                if q.try_put(next).is_ok() {
                    put_ok.push(next);
                }
                next += 1;
            }
            Op::TryGet => got.extend(q.try_get().ok()),
            Op::StartPut => {
                let mut p = pending(q.put(next));
                match p.poll() {
                    Poll::Ready(Ok(())) => put_ok.push(next),
                    Poll::Ready(Err(QueueClosed)) => {}
                    Poll::Pending => puts.push((next, p)),
                }
                next += 1;
            }
            Op::StartGet => {
                let mut g = pending(q.get());
                match g.poll() {
                    Poll::Ready(r) => got.extend(r.ok()),
                    Poll::Pending => gets.push(g),
                }
            }
            Op::PollPut(n) if !puts.is_empty() => {
                let i = n % puts.len();
                if let Poll::Ready(r) = puts[i].1.poll() {
                    let (value, _) = puts.remove(i);
                    if r.is_ok() {
                        put_ok.push(value);
                    }
                }
            }
            Op::PollGet(n) if !gets.is_empty() => {
                let i = n % gets.len();
                if let Poll::Ready(r) = gets[i].poll() {
                    gets.remove(i);
                    got.extend(r.ok());
                }
            }
            Op::DropPut(n) if !puts.is_empty() => {
                puts.remove(n % puts.len());
            }
            Op::DropGet(n) if !gets.is_empty() => {
                gets.remove(n % gets.len());
            }
            Op::Close => q.close(),
            Op::PollPut(_) | Op::PollGet(_) | Op::DropPut(_) | Op::DropGet(_) => {}
        }
        check_invariants(&q)?;
        // No lost wake-up: a future not woken since its last poll is pending.
        for (_, p) in &mut puts {
            if (p.count)() == p.seen {
                prop_assert!(p.poll().is_pending(), "put ready without a wake");
            }
        }
        for g in &mut gets {
            if (g.count)() == g.seen {
                prop_assert!(g.poll().is_pending(), "get ready without a wake");
            }
        }
    }

    // Drop what is still pending, then drain: every item put comes out once.
    drop(puts);
    drop(gets);
    check_invariants(&q)?;
    while let Ok(item) = q.try_get() {
        got.push(item);
    }
    let s = q.shared.state.borrow();
    prop_assert_eq!((s.handed, s.reserved), (0, 0));
    prop_assert_eq!((s.getters.occupied(), s.putters.occupied()), (0, 0));
    drop(s);
    got.sort_unstable();
    put_ok.sort_unstable();
    prop_assert_eq!(got, put_ok);
    Ok(())
}
