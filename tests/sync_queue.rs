//! `ringloop::sync::Queue` on a running loop: backpressure, FIFO service, close, join
//! and cancellation. Every test asserts orders, values and errors, never timings.
//! Each test body runs on every backend, under a hang guard (a lost wake-up fails it).

mod support;

use std::time::Duration;

use ringloop::TaskError;
use ringloop::sync::{Queue, QueueClosed, TryGetError, TryPutError};
use support::{log, run_on_each_backend, settle_tasks};

#[test]
fn queue_bounded_put_waits_until_get() {
    run_on_each_backend(|| async {
        let q = Queue::new(1);
        let events = log();
        q.put(1).await.unwrap();
        let putter = ringloop::spawn({
            let (q, events) = (q.clone(), events.clone());
            async move {
                q.put(2).await.unwrap();
                events.borrow_mut().push("put 2 done");
            }
        });
        settle_tasks().await;
        assert!(
            events.borrow().is_empty(),
            "put must wait while the queue is full"
        );
        assert!(q.is_full());
        assert_eq!(q.len(), 1);

        assert_eq!(q.get().await, Ok(1));
        putter.await.unwrap();
        assert_eq!(*events.borrow(), ["put 2 done"]);
        assert_eq!(q.get().await, Ok(2));
    });
}

#[test]
fn queue_getters_served_fifo() {
    run_on_each_backend(|| async {
        let q = Queue::unbounded();
        let getters: Vec<_> = (0..4)
            .map(|_| {
                let q = q.clone();
                ringloop::spawn(async move { q.get().await.unwrap() })
            })
            .collect();
        settle_tasks().await; // all four wait, in spawn order
        for item in ["a", "b", "c", "d"] {
            q.put(item).await.unwrap();
        }
        let mut got = Vec::new();
        for g in getters {
            got.push(g.await.unwrap());
        }
        assert_eq!(got, ["a", "b", "c", "d"]);
    });
}

#[test]
fn queue_putters_admitted_fifo() {
    run_on_each_backend(|| async {
        let q = Queue::new(1);
        q.put(0).await.unwrap();
        let putters: Vec<_> = (1..=3)
            .map(|n| {
                let q = q.clone();
                ringloop::spawn(async move { q.put(n).await })
            })
            .collect();
        settle_tasks().await; // all three wait on the full queue, in spawn order
        let mut got = Vec::new();
        for _ in 0..4 {
            got.push(q.get().await.unwrap());
        }
        assert_eq!(got, [0, 1, 2, 3]);
        for p in putters {
            assert_eq!(p.await.unwrap(), Ok(()));
        }
    });
}

#[test]
fn queue_items_come_out_in_put_order() {
    run_on_each_backend(|| async {
        let q = Queue::new(3);
        let producer = ringloop::spawn({
            let q = q.clone();
            async move {
                for n in 0..100 {
                    q.put(n).await.unwrap();
                }
                q.close();
            }
        });
        let mut got = Vec::new();
        while let Ok(n) = q.get().await {
            got.push(n);
        }
        producer.await.unwrap();
        assert_eq!(got, (0..100).collect::<Vec<_>>());
    });
}

#[test]
fn queue_close_wakes_every_waiter() {
    run_on_each_backend(|| async {
        let empty = Queue::<u32>::unbounded();
        let full = Queue::new(1);
        full.put(0).await.unwrap();

        let getters: Vec<_> = (0..3)
            .map(|_| {
                let q = empty.clone();
                ringloop::spawn(async move { q.get().await })
            })
            .collect();
        let putters: Vec<_> = (1..=2)
            .map(|n| {
                let q = full.clone();
                ringloop::spawn(async move { q.put(n).await })
            })
            .collect();
        settle_tasks().await;

        empty.close();
        full.close();
        for g in getters {
            assert_eq!(g.await.unwrap(), Err(QueueClosed));
        }
        for p in putters {
            assert_eq!(p.await.unwrap(), Err(QueueClosed));
        }
        // The item queued before close is still there, then the queue reports closed.
        assert_eq!(full.get().await, Ok(0));
        assert_eq!(full.get().await, Err(QueueClosed));
    });
}

#[test]
fn queue_close_lets_getters_drain_remaining_items() {
    run_on_each_backend(|| async {
        let q = Queue::unbounded();
        for n in 1..=3 {
            q.put(n).await.unwrap();
        }
        q.close();
        assert!(q.is_closed());
        assert_eq!(q.get().await, Ok(1));
        assert_eq!(q.try_get(), Ok(2));
        assert_eq!(q.get().await, Ok(3));
        assert_eq!(q.get().await, Err(QueueClosed));
        assert_eq!(q.try_get(), Err(TryGetError::Closed));
    });
}

#[test]
fn queue_put_after_close_fails_and_try_put_returns_item() {
    run_on_each_backend(|| async {
        let q = Queue::unbounded();
        q.close();
        assert_eq!(q.put(String::from("lost")).await, Err(QueueClosed));
        let err = q.try_put(String::from("kept")).unwrap_err();
        assert!(err.is_closed());
        assert_eq!(err.into_inner(), "kept");
        assert!(q.is_empty());
    });
}

#[test]
fn queue_try_put_full_returns_item() {
    run_on_each_backend(|| async {
        let q = Queue::new(2);
        assert_eq!(q.try_put(vec![1]), Ok(()));
        assert_eq!(q.try_put(vec![2]), Ok(()));
        match q.try_put(vec![3]) {
            Err(TryPutError::Full(item)) => assert_eq!(item, [3]),
            other => panic!("expected Full, got {other:?}"),
        }
        assert_eq!(q.len(), 2);
        assert_eq!(q.maxsize(), 2);
    });
}

#[test]
fn queue_try_get_empty() {
    run_on_each_backend(|| async {
        let q = Queue::<u8>::new(4);
        assert_eq!(q.try_get(), Err(TryGetError::Empty));
        q.try_put(9).unwrap();
        assert_eq!(q.try_get(), Ok(9));
        assert!(q.try_get().unwrap_err().is_empty());
    });
}

#[test]
fn queue_unbounded_put_never_waits() {
    run_on_each_backend(|| async {
        let q = Queue::unbounded();
        for n in 0..10_000 {
            q.put(n).await.unwrap();
        }
        assert_eq!(q.len(), 10_000);
        assert!(!q.is_full());
        assert_eq!(q.maxsize(), usize::MAX);
    });
}

#[test]
fn queue_join_waits_for_task_done() {
    run_on_each_backend(|| async {
        let q = Queue::unbounded();
        q.join().await; // nothing put: returns at once

        for n in 0..3 {
            q.put(n).await.unwrap();
        }
        let done = log();
        let worker = ringloop::spawn({
            let (q, done) = (q.clone(), done.clone());
            async move {
                while let Ok(n) = q.get().await {
                    ringloop::yield_now().await; // "process" the item
                    done.borrow_mut().push(n);
                    q.task_done();
                }
            }
        });
        q.join().await;
        assert_eq!(
            *done.borrow(),
            [0, 1, 2],
            "join returned before every task_done"
        );
        q.close();
        worker.await.unwrap();
    });
}

#[test]
fn queue_join_wakes_every_joiner() {
    run_on_each_backend(|| async {
        let q = Queue::unbounded();
        q.put(()).await.unwrap();
        let joiners: Vec<_> = (0..3)
            .map(|_| {
                let q = q.clone();
                ringloop::spawn(async move { q.join().await })
            })
            .collect();
        settle_tasks().await;
        assert!(joiners.iter().all(|j| !j.is_done()));
        q.get().await.unwrap();
        q.task_done();
        for j in joiners {
            j.await.unwrap();
        }
    });
}

#[test]
#[should_panic(expected = "task_done() called more times than there were items")]
fn queue_task_done_more_than_put_panics() {
    let q = Queue::<u8>::unbounded();
    q.task_done();
}

#[test]
fn queue_cancelled_get_passes_item_on() {
    run_on_each_backend(|| async {
        let q = Queue::unbounded();
        let first = ringloop::spawn({
            let q = q.clone();
            async move { q.get().await }
        });
        let second = ringloop::spawn({
            let q = q.clone();
            async move { q.get().await }
        });
        settle_tasks().await;
        // The item is handed to `first`, which is cancelled before it can run.
        q.put(42).await.unwrap();
        first.cancel();
        assert!(matches!(first.await, Err(TaskError::Cancelled)));
        assert_eq!(second.await.unwrap(), Ok(42));
        assert!(q.is_empty());
    });
}

#[test]
fn queue_cancelled_get_without_other_getter_keeps_item() {
    run_on_each_backend(|| async {
        let q = Queue::unbounded();
        let getter = ringloop::spawn({
            let q = q.clone();
            async move { q.get().await }
        });
        settle_tasks().await;
        q.put(1).await.unwrap(); // handed to the getter
        q.put(2).await.unwrap();
        getter.cancel();
        assert!(getter.await.is_err());
        // The handed item went back to the front: order is preserved.
        assert_eq!(q.get().await, Ok(1));
        assert_eq!(q.get().await, Ok(2));
    });
}

#[test]
fn queue_cancelled_put_passes_slot_on() {
    run_on_each_backend(|| async {
        let q = Queue::new(1);
        q.put(0).await.unwrap();
        let first = ringloop::spawn({
            let q = q.clone();
            async move { q.put(1).await }
        });
        let second = ringloop::spawn({
            let q = q.clone();
            async move { q.put(2).await }
        });
        settle_tasks().await;
        // The freed slot is reserved for `first`, which is cancelled before it runs.
        assert_eq!(q.get().await, Ok(0));
        first.cancel();
        assert!(first.await.is_err());
        assert_eq!(second.await.unwrap(), Ok(()));
        assert_eq!(
            q.get().await,
            Ok(2),
            "a cancelled put must not put its item"
        );
        assert_eq!(q.try_get(), Err(TryGetError::Empty));
    });
}

#[test]
fn queue_timed_out_gets_lose_nothing() {
    run_on_each_backend(|| async {
        let q = Queue::unbounded();
        for _ in 0..1_000 {
            let got = ringloop::timeout(Duration::from_micros(1), q.get()).await;
            assert!(got.is_err(), "nothing was put, so every get times out");
        }
        q.put("still here").await.unwrap();
        assert_eq!(q.get().await, Ok("still here"));
        assert!(q.is_empty());
    });
}

#[test]
fn queue_many_producers_and_consumers_conserve_items() {
    run_on_each_backend(|| async {
        let q = Queue::new(2);
        let taken = log();
        let producers: Vec<_> = (0..4u32)
            .map(|p| {
                let q = q.clone();
                ringloop::spawn(async move {
                    for i in 0..50u32 {
                        q.put((p, i)).await.unwrap();
                        if i % 7 == 0 {
                            ringloop::yield_now().await;
                        }
                    }
                })
            })
            .collect();
        let consumers: Vec<_> = (0..3)
            .map(|_| {
                let (q, taken) = (q.clone(), taken.clone());
                ringloop::spawn(async move {
                    while let Ok(item) = q.get().await {
                        taken.borrow_mut().push(item);
                        q.task_done();
                    }
                })
            })
            .collect();
        for p in producers {
            p.await.unwrap();
        }
        q.join().await;
        q.close();
        for c in consumers {
            c.await.unwrap();
        }
        // Every item came out exactly once, and each producer's items in put order.
        let mut per_producer = vec![Vec::new(); 4];
        for &(p, i) in taken.borrow().iter() {
            per_producer[p as usize].push(i);
        }
        for items in per_producer {
            assert_eq!(items, (0..50).collect::<Vec<_>>());
        }
    });
}

#[test]
fn queue_clones_share_one_queue() {
    run_on_each_backend(|| async {
        let a = Queue::new(5);
        let b = a.clone();
        a.put('x').await.unwrap();
        assert_eq!(b.len(), 1);
        assert_eq!(b.get().await, Ok('x'));
        assert!(a.is_empty());
    });
}

#[test]
#[should_panic(expected = "Queue::unbounded()")]
fn queue_new_zero_panics_pointing_to_unbounded() {
    let _ = Queue::<u8>::new(0);
}
