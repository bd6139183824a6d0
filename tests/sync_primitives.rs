//! `ringloop::sync::{Event, Lock, Semaphore}` on a running loop: who gets woken, in
//! what order, and what a cancelled waiter passes on. No test asserts a timing.
//! Each test body runs on every backend, under a hang guard (a lost wake-up fails it).

mod support;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use ringloop::TaskError;
use ringloop::sync::{Event, Lock, Semaphore};
use support::{log, run_on_each_backend, settle_tasks};

// ---------------------------------------------------------------- Event

#[test]
fn event_set_wakes_all_waiters() {
    run_on_each_backend(|| async {
        let event = Event::new();
        let woke = log();
        let waiters: Vec<_> = (0..5)
            .map(|n| {
                let (event, woke) = (event.clone(), woke.clone());
                ringloop::spawn(async move {
                    event.wait().await;
                    woke.borrow_mut().push(n);
                })
            })
            .collect();
        settle_tasks().await;
        assert!(
            woke.borrow().is_empty(),
            "no waiter may return before set()"
        );
        event.set();
        for w in waiters {
            w.await.unwrap();
        }
        let mut woke = woke.take();
        woke.sort_unstable();
        assert_eq!(woke, [0, 1, 2, 3, 4]);
    });
}

#[test]
fn event_wait_returns_at_once_when_set() {
    run_on_each_backend(|| async {
        let event = Event::new();
        assert!(!event.is_set());
        event.set();
        assert!(event.is_set());
        event.wait().await;
        event.wait().await;
    });
}

#[test]
fn event_clear_makes_wait_block_again() {
    run_on_each_backend(|| async {
        let event = Event::new();
        event.set();
        event.clear();
        assert!(!event.is_set());
        let waited = ringloop::timeout(Duration::from_millis(5), event.wait()).await;
        assert!(
            waited.is_err(),
            "a cleared event must not let wait() through"
        );
    });
}

#[test]
fn event_waiter_woken_by_set_returns_even_if_cleared() {
    run_on_each_backend(|| async {
        let event = Event::new();
        let waiter = ringloop::spawn({
            let event = event.clone();
            async move { event.wait().await }
        });
        settle_tasks().await;
        event.set();
        event.clear(); // before the waiter runs
        waiter.await.unwrap();
    });
}

#[test]
fn event_clones_share_the_flag() {
    let a = Event::new();
    let b = a.clone();
    a.set();
    assert!(b.is_set());
    b.clear();
    assert!(!a.is_set());
}

// ---------------------------------------------------------------- Lock

#[test]
fn lock_handed_off_fifo() {
    run_on_each_backend(|| async {
        let lock = Lock::new();
        let order = log();
        let guard = lock.lock().await;
        let waiters: Vec<_> = (0..4)
            .map(|n| {
                let (lock, order) = (lock.clone(), order.clone());
                ringloop::spawn(async move {
                    let _guard = lock.lock().await;
                    order.borrow_mut().push(n);
                    ringloop::yield_now().await; // hold it across a suspension
                })
            })
            .collect();
        settle_tasks().await;
        assert!(order.borrow().is_empty());
        drop(guard);
        for w in waiters {
            w.await.unwrap();
        }
        assert_eq!(*order.borrow(), [0, 1, 2, 3]);
        assert!(!lock.is_locked());
    });
}

#[test]
fn lock_excludes_concurrent_critical_sections() {
    run_on_each_backend(|| async {
        let lock = Lock::new();
        let inside = Rc::new(Cell::new(0u32));
        let max_inside = Rc::new(Cell::new(0u32));
        let tasks: Vec<_> = (0..5)
            .map(|_| {
                let (lock, inside, max_inside) = (lock.clone(), inside.clone(), max_inside.clone());
                ringloop::spawn(async move {
                    for _ in 0..3 {
                        let _guard = lock.lock().await;
                        inside.set(inside.get() + 1);
                        max_inside.set(max_inside.get().max(inside.get()));
                        ringloop::yield_now().await;
                        inside.set(inside.get() - 1);
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(max_inside.get(), 1);
    });
}

#[test]
fn lock_try_lock_fails_while_held() {
    run_on_each_backend(|| async {
        let lock = Lock::new();
        let guard = lock.try_lock().expect("a new lock is free");
        assert!(lock.is_locked());
        assert!(lock.try_lock().is_none());
        drop(guard);
        assert!(!lock.is_locked());
        assert!(lock.try_lock().is_some());
    });
}

#[test]
fn lock_newcomer_cannot_barge_past_waiter() {
    run_on_each_backend(|| async {
        let lock = Lock::new();
        let guard = lock.lock().await;
        let waiter = ringloop::spawn({
            let lock = lock.clone();
            async move { drop(lock.lock().await) }
        });
        settle_tasks().await;
        drop(guard); // handed to the waiter, which has not run yet
        assert!(lock.try_lock().is_none());
        waiter.await.unwrap();
        assert!(lock.try_lock().is_some());
    });
}

#[test]
fn lock_cancelled_waiter_passes_lock_on() {
    run_on_each_backend(|| async {
        let lock = Lock::new();
        let guard = lock.lock().await;
        let first = ringloop::spawn({
            let lock = lock.clone();
            async move { drop(lock.lock().await) }
        });
        let second = ringloop::spawn({
            let lock = lock.clone();
            async move { drop(lock.lock().await) }
        });
        settle_tasks().await;
        drop(guard); // handed to `first`
        first.cancel();
        assert!(matches!(first.await, Err(TaskError::Cancelled)));
        second.await.unwrap();
        assert!(!lock.is_locked());
    });
}

#[test]
fn lock_timed_out_waiters_leave_lock_usable() {
    run_on_each_backend(|| async {
        let lock = Lock::new();
        let guard = lock.lock().await;
        for _ in 0..100 {
            let got = ringloop::timeout(Duration::from_micros(1), lock.lock()).await;
            assert!(got.is_err());
        }
        drop(guard);
        assert!(!lock.is_locked());
        drop(lock.lock().await);
    });
}

// ---------------------------------------------------------------- Semaphore

#[test]
fn semaphore_limits_concurrency() {
    run_on_each_backend(|| async {
        let sem = Semaphore::new(2);
        let running = Rc::new(Cell::new(0u32));
        let peak = Rc::new(Cell::new(0u32));
        let tasks: Vec<_> = (0..6)
            .map(|_| {
                let (sem, running, peak) = (sem.clone(), running.clone(), peak.clone());
                ringloop::spawn(async move {
                    let _permit = sem.acquire().await;
                    running.set(running.get() + 1);
                    peak.set(peak.get().max(running.get()));
                    for _ in 0..3 {
                        ringloop::yield_now().await;
                    }
                    running.set(running.get() - 1);
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(peak.get(), 2);
        assert_eq!(sem.available_permits(), 2);
    });
}

#[test]
fn semaphore_permits_granted_fifo() {
    run_on_each_backend(|| async {
        let sem = Semaphore::new(0);
        let order = log();
        let waiters: Vec<_> = (0..4)
            .map(|n| {
                let (sem, order) = (sem.clone(), order.clone());
                ringloop::spawn(async move {
                    let _permit = sem.acquire().await;
                    order.borrow_mut().push(n);
                })
            })
            .collect();
        settle_tasks().await;
        for _ in 0..4 {
            sem.release();
        }
        for w in waiters {
            w.await.unwrap();
        }
        assert_eq!(*order.borrow(), [0, 1, 2, 3]);
    });
}

#[test]
fn semaphore_try_acquire_and_permit_drop() {
    run_on_each_backend(|| async {
        let sem = Semaphore::new(1);
        let permit = sem.try_acquire().expect("one permit available");
        assert_eq!(sem.available_permits(), 0);
        assert!(sem.try_acquire().is_none());
        drop(permit);
        assert_eq!(sem.available_permits(), 1);
        let permit = sem.acquire().await;
        permit.forget();
        assert_eq!(sem.available_permits(), 0);
        sem.add_permits(3);
        assert_eq!(sem.available_permits(), 3);
    });
}

#[test]
fn semaphore_add_permits_wakes_that_many_waiters() {
    run_on_each_backend(|| async {
        let sem = Semaphore::new(0);
        let acquired = Rc::new(Cell::new(0u32));
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let (sem, acquired) = (sem.clone(), acquired.clone());
                ringloop::spawn(async move {
                    sem.acquire().await.forget();
                    acquired.set(acquired.get() + 1);
                })
            })
            .collect();
        settle_tasks().await;
        sem.add_permits(2);
        settle_tasks().await;
        assert_eq!(acquired.get(), 2);
        sem.add_permits(1);
        for w in waiters {
            w.await.unwrap();
        }
        assert_eq!(acquired.get(), 3);
        assert_eq!(sem.available_permits(), 0);
    });
}

#[test]
fn semaphore_cancelled_acquire_passes_permit_on() {
    run_on_each_backend(|| async {
        let sem = Semaphore::new(0);
        let first = ringloop::spawn({
            let sem = sem.clone();
            async move { drop(sem.acquire().await) }
        });
        let second = ringloop::spawn({
            let sem = sem.clone();
            async move { sem.acquire().await.forget() }
        });
        settle_tasks().await;
        sem.release(); // handed to `first`
        first.cancel();
        assert!(matches!(first.await, Err(TaskError::Cancelled)));
        second.await.unwrap();
        assert_eq!(sem.available_permits(), 0, "exactly one permit existed");
    });
}
