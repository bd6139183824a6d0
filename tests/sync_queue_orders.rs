//! `ringloop::sync::{LifoQueue, PriorityQueue}` on a running loop, porting CPython's
//! `test_asyncio/test_queues.py` (`LifoQueueTests`, `PriorityQueueTests` and the
//! join tests run for every queue class): the order items come out in, and that the
//! rest of `Queue`'s behaviour (bounds, `task_done`/`join`, `close`, cancellation)
//! holds for every order. Each test body runs on every backend, under a hang guard.

mod support;

use std::cell::Cell;
use std::rc::Rc;

use ringloop::sync::{
    GenericQueue, LifoQueue, PriorityQueue, Queue, QueueClosed, QueueOrder, TryGetError,
};
use ringloop::{Task, TaskError};
use support::{log, run_on_each_backend, settle_tasks};

/// Spawns a task that gets one item.
fn spawn_getter<T: 'static, O: QueueOrder<T> + 'static>(
    q: &GenericQueue<T, O>,
) -> Task<Result<T, QueueClosed>> {
    let q = q.clone();
    ringloop::spawn(async move { q.get().await })
}

/// Puts `items`, then gets as many: the order the queue gives them out in.
async fn put_then_get<O: QueueOrder<u32>>(q: &GenericQueue<u32, O>, items: &[u32]) -> Vec<u32> {
    for &item in items {
        q.put(item).await.unwrap();
    }
    let mut got = Vec::new();
    for _ in items {
        got.push(q.get().await.unwrap());
    }
    got
}

#[test]
fn lifo_queue_gets_newest_first() {
    // CPython LifoQueueTests.test_order
    run_on_each_backend(|| async {
        let q = LifoQueue::unbounded();
        assert_eq!(put_then_get(&q, &[1, 3, 2]).await, [2, 3, 1]);
        assert_eq!(put_then_get(&q, &[5, 6, 7, 8]).await, [8, 7, 6, 5]);
    });
}

#[test]
fn priority_queue_gets_smallest_first() {
    // CPython PriorityQueueTests.test_order
    run_on_each_backend(|| async {
        let q = PriorityQueue::unbounded();
        assert_eq!(put_then_get(&q, &[1, 3, 2]).await, [1, 2, 3]);
        assert_eq!(put_then_get(&q, &[9, 4, 7, 4, 0]).await, [0, 4, 4, 7, 9]);
    });
}

#[test]
fn priority_queue_orders_tuples_by_priority_first() {
    run_on_each_backend(|| async {
        let q = PriorityQueue::new(8);
        for item in [(2, "low"), (0, "urgent"), (1, "normal"), (0, "also urgent")] {
            q.put(item).await.unwrap();
        }
        let mut got = Vec::new();
        while let Ok(item) = q.try_get() {
            got.push(item);
        }
        assert_eq!(
            got,
            [(0, "also urgent"), (0, "urgent"), (1, "normal"), (2, "low")]
        );
    });
}

#[test]
fn fifo_lifo_priority_take_the_same_items_in_their_orders() {
    run_on_each_backend(|| async {
        let items = [4, 1, 3, 2];
        assert_eq!(put_then_get(&Queue::new(4), &items).await, [4, 1, 3, 2]);
        assert_eq!(put_then_get(&LifoQueue::new(4), &items).await, [2, 3, 1, 4]);
        assert_eq!(
            put_then_get(&PriorityQueue::new(4), &items).await,
            [1, 2, 3, 4]
        );
    });
}

/// CPython `_QueueJoinTests.test_task_done`: workers sum what they take, marking each
/// item done; `join` returns once all are.
async fn workers_finish_every_item<O: QueueOrder<u32> + 'static>(q: GenericQueue<u32, O>) {
    let total = Rc::new(Cell::new(0u32));
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let (q, total) = (q.clone(), total.clone());
            ringloop::spawn(async move {
                while let Ok(n) = q.get().await {
                    total.set(total.get() + n);
                    ringloop::yield_now().await;
                    q.task_done();
                }
            })
        })
        .collect();
    for n in 0..100 {
        q.put(n).await.unwrap();
    }
    q.join().await;
    assert_eq!(
        total.get(),
        4950,
        "join returned before every item was done"
    );
    q.close();
    for w in workers {
        w.await.unwrap();
    }
}

#[test]
fn lifo_and_priority_join_waits_for_task_done() {
    run_on_each_backend(|| async {
        workers_finish_every_item(LifoQueue::new(3)).await;
        workers_finish_every_item(PriorityQueue::new(3)).await;
        workers_finish_every_item(LifoQueue::unbounded()).await;
        workers_finish_every_item(PriorityQueue::unbounded()).await;
    });
}

#[test]
fn lifo_and_priority_join_on_empty_queue_returns_at_once() {
    // CPython _QueueJoinTests.test_join_empty_queue
    run_on_each_backend(|| async {
        let lifo: LifoQueue<u8> = LifoQueue::unbounded();
        lifo.join().await;
        let prio: PriorityQueue<u8> = PriorityQueue::new(1);
        prio.join().await;
    });
}

#[test]
#[should_panic(expected = "task_done() called more times than there were items")]
fn lifo_queue_task_done_underflow_panics() {
    // CPython _QueueJoinTests.test_task_done_underflow (ValueError)
    let q = LifoQueue::unbounded();
    q.try_put(1).unwrap();
    q.try_get().unwrap();
    q.task_done();
    q.task_done();
}

#[test]
#[should_panic(expected = "task_done() called more times than there were items")]
fn priority_queue_task_done_underflow_panics() {
    PriorityQueue::<u8>::unbounded().task_done();
}

#[test]
#[should_panic(expected = "PriorityQueue::new(0)")]
fn priority_queue_new_zero_panics_naming_itself() {
    let _ = PriorityQueue::<u8>::new(0);
}

#[test]
fn priority_queue_bounded_put_waits_and_putters_enter_fifo() {
    run_on_each_backend(|| async {
        let q = PriorityQueue::new(1);
        q.put(50).await.unwrap();
        let putters: Vec<_> = [30, 10, 20]
            .into_iter()
            .map(|n| {
                let q = q.clone();
                ringloop::spawn(async move { q.put(n).await })
            })
            .collect();
        settle_tasks().await;
        assert!(q.is_full());
        assert!(!putters.iter().any(|p| p.is_done()), "put waits while full");
        // One slot: each get lets exactly the oldest waiting putter in.
        let mut got = Vec::new();
        for _ in 0..4 {
            got.push(q.get().await.unwrap());
            settle_tasks().await;
        }
        assert_eq!(got, [50, 30, 10, 20]);
        for p in putters {
            p.await.unwrap().unwrap();
        }
    });
}

#[test]
fn lifo_and_priority_waiting_getter_takes_next_item_put() {
    // Documented: the order applies to items that wait in the queue; a getter
    // already waiting on an empty queue receives the next item put.
    run_on_each_backend(|| async {
        let q = PriorityQueue::unbounded();
        let getter = spawn_getter(&q);
        settle_tasks().await;
        q.put(9).await.unwrap();
        q.put(1).await.unwrap();
        assert_eq!(getter.await.unwrap(), Ok(9));
        assert_eq!(q.try_get(), Ok(1));

        let q = LifoQueue::unbounded();
        let getters = [spawn_getter(&q), spawn_getter(&q)];
        settle_tasks().await;
        for n in [1, 2, 3] {
            q.put(n).await.unwrap();
        }
        let mut got = Vec::new();
        for g in getters {
            got.push(g.await.unwrap().unwrap());
        }
        assert_eq!(
            got,
            [1, 2],
            "waiting getters served first come, first served"
        );
        assert_eq!(q.try_get(), Ok(3));
    });
}

#[test]
fn lifo_cancelled_getter_gives_item_back_as_oldest() {
    run_on_each_backend(|| async {
        let q = LifoQueue::unbounded();
        let getter = spawn_getter(&q);
        settle_tasks().await;
        q.put("handed").await.unwrap(); // to the waiting getter
        getter.cancel(); // before it runs: the item comes back
        assert!(matches!(getter.await, Err(TaskError::Cancelled)));
        q.put("newer").await.unwrap();
        assert_eq!(q.len(), 2);
        assert_eq!(q.try_get(), Ok("newer"));
        assert_eq!(q.try_get(), Ok("handed"));
    });
}

#[test]
fn priority_cancelled_getter_passes_item_to_next_getter() {
    run_on_each_backend(|| async {
        let q = PriorityQueue::unbounded();
        let order = log();
        let getters: Vec<_> = (0..2)
            .map(|n| {
                let (q, order) = (q.clone(), order.clone());
                ringloop::spawn(async move {
                    let item = q.get().await.unwrap();
                    order.borrow_mut().push((n, item));
                })
            })
            .collect();
        settle_tasks().await;
        q.put(5).await.unwrap(); // handed to getter 0
        let mut getters = getters.into_iter();
        let first = getters.next().unwrap();
        first.cancel();
        assert!(matches!(first.await, Err(TaskError::Cancelled)));
        getters.next().unwrap().await.unwrap();
        assert_eq!(*order.borrow(), [(1, 5)]);
        assert_eq!(q.try_get(), Err(TryGetError::Empty));
    });
}

#[test]
fn lifo_and_priority_close_drain_in_order_then_fail() {
    run_on_each_backend(|| async {
        let lifo = LifoQueue::unbounded();
        let prio = PriorityQueue::unbounded();
        for n in [2, 3, 1] {
            lifo.put(n).await.unwrap();
            prio.put(n).await.unwrap();
        }
        lifo.close();
        prio.close();
        assert_eq!(lifo.put(9).await, Err(QueueClosed));
        assert_eq!(prio.put(9).await, Err(QueueClosed));
        let (mut l, mut p) = (Vec::new(), Vec::new());
        while let Ok(n) = lifo.get().await {
            l.push(n);
        }
        while let Ok(n) = prio.get().await {
            p.push(n);
        }
        assert_eq!((l, p), (vec![1, 3, 2], vec![1, 2, 3]));
        assert_eq!(lifo.try_get(), Err(TryGetError::Closed));
    });
}

#[test]
fn queue_debug_names_the_queue_kind() {
    let fifo: Queue<u8> = Queue::unbounded();
    let lifo: LifoQueue<u8> = LifoQueue::new(2);
    let prio: PriorityQueue<u8> = PriorityQueue::unbounded();
    assert!(format!("{fifo:?}").starts_with("Queue {"));
    assert!(format!("{lifo:?}").starts_with("LifoQueue {"));
    assert!(format!("{prio:?}").starts_with("PriorityQueue {"));
}
