//! `ringloop::sync::{Condition, Barrier, BoundedSemaphore}` on a running loop, porting
//! the behaviours of CPython's `test_asyncio/test_locks.py` (`ConditionTests`,
//! `BarrierTests`, the `BoundedSemaphore` cases): who is woken, in what order, what a
//! cancelled waiter passes on. No test asserts a timing. Each test body runs on every
//! backend, under a hang guard (a lost wake-up fails it).

mod support;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use ringloop::sync::{
    Barrier, BoundedSemaphore, BrokenBarrierError, Condition, Lock, TooManyReleases,
};
use ringloop::{Task, TaskError};
use support::{Log, log, run_on_each_backend, settle_tasks};

// ---------------------------------------------------------------- Condition

/// Spawns a task that takes the lock, waits once, records `n` (with the lock held,
/// which it checks) and releases the lock.
fn waiter(cond: &Condition, woke: &Log<usize>, n: usize) -> Task<()> {
    let (cond, woke) = (cond.clone(), woke.clone());
    ringloop::spawn(async move {
        let guard = cond.lock().await;
        let guard = cond.wait(guard).await;
        assert!(cond.is_locked(), "wait returns with the lock held");
        woke.borrow_mut().push(n);
        drop(guard);
    })
}

#[test]
fn condition_wait_returns_after_notifier_releases_lock_fifo() {
    // CPython ConditionTests.test_wait
    run_on_each_backend(|| async {
        let cond = Condition::new();
        let woke = log();
        let tasks: Vec<_> = (1..=3).map(|n| waiter(&cond, &woke, n)).collect();
        settle_tasks().await;
        assert!(!cond.is_locked(), "waiting releases the lock");

        let guard = cond.lock().await;
        cond.notify(1);
        settle_tasks().await;
        assert!(
            woke.borrow().is_empty(),
            "a notified waiter returns only once it has the lock back"
        );
        drop(guard);
        settle_tasks().await;
        assert_eq!(*woke.borrow(), [1]);

        let guard = cond.lock().await;
        cond.notify(1);
        cond.notify(2048); // more than are waiting: the rest
        drop(guard);
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*woke.borrow(), [1, 2, 3]);
        assert!(!cond.is_locked());
    });
}

#[test]
fn condition_notify_wakes_at_most_n_oldest_first() {
    // CPython ConditionTests.test_notify
    run_on_each_backend(|| async {
        let cond = Condition::new();
        let woke = log();
        let tasks: Vec<_> = (1..=4).map(|n| waiter(&cond, &woke, n)).collect();
        settle_tasks().await;

        let guard = cond.lock().await;
        cond.notify(2);
        drop(guard);
        settle_tasks().await;
        assert_eq!(*woke.borrow(), [1, 2]);

        let guard = cond.lock().await;
        cond.notify(1);
        drop(guard);
        settle_tasks().await;
        assert_eq!(*woke.borrow(), [1, 2, 3]);

        let guard = cond.lock().await;
        cond.notify(0); // wakes nobody
        drop(guard);
        settle_tasks().await;
        assert_eq!(*woke.borrow(), [1, 2, 3]);

        let guard = cond.lock().await;
        cond.notify(1);
        drop(guard);
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*woke.borrow(), [1, 2, 3, 4]);
    });
}

#[test]
fn condition_notify_all_wakes_every_waiter() {
    // CPython ConditionTests.test_notify_all
    run_on_each_backend(|| async {
        let cond = Condition::new();
        let woke = log();
        let tasks: Vec<_> = (1..=5).map(|n| waiter(&cond, &woke, n)).collect();
        settle_tasks().await;
        let guard = cond.lock().await;
        cond.notify_all();
        drop(guard);
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*woke.borrow(), [1, 2, 3, 4, 5]);
    });
}

#[test]
fn condition_notify_before_wait_is_not_remembered() {
    run_on_each_backend(|| async {
        let cond = Condition::new();
        let guard = cond.lock().await;
        cond.notify_all(); // nobody waits: nothing happens
        let waited = ringloop::timeout(Duration::from_millis(5), cond.wait(guard)).await;
        assert!(waited.is_err(), "a notify nobody received must not be kept");
    });
}

#[test]
fn condition_wait_for_rechecks_predicate_after_each_notify() {
    // CPython ConditionTests.test_wait_for
    run_on_each_backend(|| async {
        let cond = Condition::new();
        let presult = Rc::new(Cell::new(false));
        let checks = Rc::new(Cell::new(0u32));
        let task = ringloop::spawn({
            let (cond, presult, checks) = (cond.clone(), presult.clone(), checks.clone());
            async move {
                let guard = cond.lock().await;
                let guard = cond
                    .wait_for(guard, || {
                        checks.set(checks.get() + 1);
                        presult.get()
                    })
                    .await;
                assert!(cond.is_locked());
                drop(guard);
            }
        });
        settle_tasks().await;
        assert_eq!(checks.get(), 1, "checked once on entry");

        let guard = cond.lock().await;
        cond.notify(1); // the predicate is still false
        drop(guard);
        settle_tasks().await;
        assert_eq!(checks.get(), 2);
        assert!(!task.is_done(), "a false predicate keeps waiting");

        let guard = cond.lock().await;
        presult.set(true);
        cond.notify(1);
        drop(guard);
        task.await.unwrap();
        assert_eq!(checks.get(), 3);
    });
}

#[test]
fn condition_wait_for_true_predicate_keeps_the_lock() {
    run_on_each_backend(|| async {
        let cond = Condition::new();
        let guard = cond.lock().await;
        let guard = cond.wait_for(guard, || true).await;
        assert!(cond.is_locked());
        drop(guard);
        assert!(!cond.is_locked());
    });
}

#[test]
fn condition_cancelled_wait_leaves_line_and_lock_released() {
    // CPython ConditionTests.test_wait_cancel; in Rust the dropped wait has no guard to
    // hand back, so the lock stays released instead of being re-acquired.
    run_on_each_backend(|| async {
        let cond = Condition::new();
        let woke = log();
        let cancelled = waiter(&cond, &woke, 1);
        let kept = waiter(&cond, &woke, 2);
        settle_tasks().await;
        cancelled.cancel();
        assert!(matches!(cancelled.await, Err(TaskError::Cancelled)));
        assert!(!cond.is_locked());

        let guard = cond.lock().await;
        cond.notify(1); // goes to the one still waiting
        drop(guard);
        kept.await.unwrap();
        assert_eq!(*woke.borrow(), [2]);
    });
}

#[test]
fn condition_notice_to_cancelled_waiter_passes_on() {
    // CPython ConditionTests.test_wait_cancel_after_notify and test_cancelled_wakeup:
    // a waiter cancelled after notify() chose it must not swallow the notification.
    run_on_each_backend(|| async {
        let cond = Condition::new();
        let woke = log();
        let first = waiter(&cond, &woke, 1);
        let second = waiter(&cond, &woke, 2);
        let third = waiter(&cond, &woke, 3);
        settle_tasks().await;

        let guard = cond.lock().await;
        cond.notify(1); // chooses `first`
        first.cancel(); // before it runs
        drop(guard);
        assert!(matches!(first.await, Err(TaskError::Cancelled)));
        settle_tasks().await;
        assert_eq!(*woke.borrow(), [2], "the notice went to the next waiter");
        assert!(!third.is_done(), "exactly one notification was passed on");
        second.await.unwrap();

        let guard = cond.lock().await;
        cond.notify(1);
        drop(guard);
        third.await.unwrap();
        assert_eq!(*woke.borrow(), [2, 3]);
    });
}

#[test]
fn condition_cancelled_while_relocking_passes_lock_and_notice_on() {
    // CPython ConditionTests.test_wait_cancel_contested: cancelled after being notified,
    // while queued for the lock.
    run_on_each_backend(|| async {
        let cond = Condition::new();
        let woke = log();
        let first = waiter(&cond, &woke, 1);
        let second = waiter(&cond, &woke, 2);
        settle_tasks().await;

        let guard = cond.lock().await;
        cond.notify(1);
        settle_tasks().await; // `first` ran: it now waits for the lock we hold
        first.cancel();
        assert!(matches!(first.await, Err(TaskError::Cancelled)));
        assert!(cond.is_locked(), "still ours");
        drop(guard);
        settle_tasks().await;
        assert!(
            second.is_done(),
            "the cancelled waiter's notice went to `second`"
        );
        second.await.unwrap();
        assert_eq!(*woke.borrow(), [2]);
        assert!(!cond.is_locked());
    });
}

#[test]
fn condition_timed_out_wait_releases_lock() {
    // CPython ConditionTests.test_timeout_in_block
    run_on_each_backend(|| async {
        let cond = Condition::new();
        for _ in 0..10 {
            let guard = cond.lock().await;
            let waited = ringloop::timeout(Duration::from_millis(1), cond.wait(guard)).await;
            assert!(waited.is_err());
            assert!(!cond.is_locked(), "a timed-out wait leaves the lock free");
        }
        // The timed-out waiters left the line: a notify reaches the next real waiter.
        let woke = log();
        let task = waiter(&cond, &woke, 7);
        settle_tasks().await;
        let guard = cond.lock().await;
        cond.notify(1);
        drop(guard);
        task.await.unwrap();
        assert_eq!(*woke.borrow(), [7]);
    });
}

#[test]
fn condition_with_lock_shares_an_existing_lock() {
    // CPython ConditionTests.test_explicit_lock
    run_on_each_backend(|| async {
        let lock = Lock::new();
        let cond = Condition::with_lock(lock.clone());
        let guard = lock.lock().await;
        assert!(cond.is_locked());
        let waiter = ringloop::spawn({
            let cond = cond.clone();
            async move {
                let guard = cond.lock().await; // waits: `lock` is held
                drop(cond.wait(guard).await);
            }
        });
        settle_tasks().await;
        drop(guard);
        settle_tasks().await;
        assert!(!lock.is_locked(), "the waiter released the shared lock");
        let guard = lock.lock().await;
        cond.notify(1); // a guard of the shared lock counts
        drop(guard);
        waiter.await.unwrap();
    });
}

#[test]
#[should_panic(expected = "Condition::notify called without holding the condition's lock")]
fn condition_notify_without_lock_panics() {
    // CPython ConditionTests.test_notify_unacquired (RuntimeError)
    Condition::new().notify(1);
}

#[test]
#[should_panic(expected = "Condition::notify_all called without holding the condition's lock")]
fn condition_notify_all_without_lock_panics() {
    Condition::new().notify_all();
}

#[test]
#[should_panic(expected = "the guard is for a different Lock than this Condition's")]
fn condition_wait_with_another_locks_guard_panics() {
    // CPython ConditionTests.test_wait_unacquired: waiting needs *this* lock held.
    let other = Lock::new();
    let guard = other.try_lock().unwrap();
    let _wait = Condition::new().wait(guard);
}

// ---------------------------------------------------------------- Barrier

/// Spawns `n` tasks that each wait on the barrier `rounds` times, returning the
/// indices each got.
fn barrier_tasks(
    barrier: &Barrier,
    n: usize,
    rounds: usize,
) -> Vec<Task<Vec<Result<usize, BrokenBarrierError>>>> {
    (0..n)
        .map(|_| {
            let barrier = barrier.clone();
            ringloop::spawn(async move {
                let mut got = Vec::new();
                for _ in 0..rounds {
                    got.push(barrier.wait().await);
                }
                got
            })
        })
        .collect()
}

#[test]
#[should_panic(expected = "Barrier::new(0): a barrier needs at least one party")]
fn barrier_new_zero_panics() {
    // CPython BarrierTests.test_barrier_parties (ValueError)
    let _ = Barrier::new(0);
}

#[test]
fn barrier_releases_each_group_with_one_of_each_index() {
    // CPython BarrierTests.test_barrier, test_filling_tasks_wait_twice,
    // test_filling_tasks_check_return_value: reusable, one index 0 per cycle.
    run_on_each_backend(|| async {
        let barrier = Barrier::new(4);
        let mut per_round = vec![Vec::new(); 3];
        for task in barrier_tasks(&barrier, 4, 3) {
            for (round, index) in task.await.unwrap().into_iter().enumerate() {
                per_round[round].push(index.expect("nobody broke the barrier"));
            }
        }
        for mut indices in per_round {
            indices.sort_unstable();
            assert_eq!(indices, [0, 1, 2, 3]);
        }
        assert_eq!(barrier.n_waiting(), 0);
        assert!(!barrier.broken());
    });
}

#[test]
fn barrier_of_one_passes_at_once() {
    // CPython BarrierTests.test_filling_one_task, test_filling_one_task_twice
    run_on_each_backend(|| async {
        let barrier = Barrier::new(1);
        assert_eq!(barrier.wait().await, Ok(0));
        assert_eq!(barrier.wait().await, Ok(0));
        assert_eq!(barrier.n_waiting(), 0);
    });
}

#[test]
fn barrier_counts_arrivals_and_the_last_releases() {
    // CPython BarrierTests.test_filling_task_by_task: the indices follow arrival order.
    run_on_each_backend(|| async {
        let barrier = Barrier::new(3);
        let mut early = Vec::new();
        for arrived in 1..=2 {
            early.extend(barrier_tasks(&barrier, 1, 1));
            settle_tasks().await;
            assert_eq!(barrier.n_waiting(), arrived);
            assert!(!early.iter().any(|t| t.is_done()));
        }
        assert_eq!(
            barrier.wait().await,
            Ok(2),
            "the last arrival does not wait"
        );
        assert_eq!(barrier.n_waiting(), 0);
        let mut indices = Vec::new();
        for t in early {
            indices.extend(t.await.unwrap());
        }
        assert_eq!(indices, [Ok(0), Ok(1)]);
    });
}

#[test]
fn barrier_cancelled_waiter_leaves_the_count() {
    // asyncio 3.11: cancelling a waiter while the barrier fills decrements the count.
    run_on_each_backend(|| async {
        let barrier = Barrier::new(3);
        let cancelled = barrier_tasks(&barrier, 1, 1).remove(0);
        let stays = barrier_tasks(&barrier, 1, 1).remove(0);
        settle_tasks().await;
        assert_eq!(barrier.n_waiting(), 2);
        cancelled.cancel();
        assert!(matches!(cancelled.await, Err(TaskError::Cancelled)));
        assert_eq!(barrier.n_waiting(), 1);

        let late = barrier_tasks(&barrier, 1, 1).remove(0);
        settle_tasks().await;
        assert!(!stays.is_done(), "two of three: the group is not complete");
        assert_eq!(barrier.wait().await, Ok(2));
        assert_eq!(stays.await.unwrap(), [Ok(0)]);
        assert_eq!(late.await.unwrap(), [Ok(1)]);
    });
}

#[test]
fn barrier_abort_breaks_waiters_and_later_waits() {
    // CPython BarrierTests.test_abort_barrier
    run_on_each_backend(|| async {
        let barrier = Barrier::new(3);
        let waiting = barrier_tasks(&barrier, 2, 1);
        settle_tasks().await;
        barrier.abort();
        assert!(barrier.broken());
        assert_eq!(barrier.n_waiting(), 0);
        for t in waiting {
            assert_eq!(t.await.unwrap(), [Err(BrokenBarrierError)]);
        }
        assert_eq!(barrier.wait().await, Err(BrokenBarrierError));
        assert_eq!(
            barrier.n_waiting(),
            0,
            "a wait on a broken barrier does not queue"
        );
    });
}

#[test]
fn barrier_reset_breaks_current_waiters_and_starts_afresh() {
    // CPython BarrierTests.test_reset_barrier, test_reset_barrier_while_tasks_waiting,
    // test_abort_and_reset_barrier
    run_on_each_backend(|| async {
        let barrier = Barrier::new(2);
        let waiting = barrier_tasks(&barrier, 1, 1);
        settle_tasks().await;
        barrier.reset();
        assert!(!barrier.broken());
        assert_eq!(barrier.n_waiting(), 0);
        for t in waiting {
            assert_eq!(t.await.unwrap(), [Err(BrokenBarrierError)]);
        }

        barrier.abort();
        assert_eq!(barrier.wait().await, Err(BrokenBarrierError));
        barrier.reset();
        assert!(!barrier.broken());
        let other = barrier_tasks(&barrier, 1, 1);
        settle_tasks().await;
        assert_eq!(barrier.wait().await, Ok(1));
        for t in other {
            assert_eq!(t.await.unwrap(), [Ok(0)]);
        }
    });
}

#[test]
fn barrier_released_waiter_keeps_its_release() {
    // Where ringloop differs from asyncio (documented): the group is released at once,
    // so the next group fills before the released tasks run, and a reset or abort
    // after the release does not take it back.
    run_on_each_backend(|| async {
        let barrier = Barrier::new(2);
        let released = barrier_tasks(&barrier, 1, 1);
        settle_tasks().await;
        assert_eq!(barrier.wait().await, Ok(1)); // `released` has not run yet
        assert_eq!(barrier.n_waiting(), 0);
        barrier.reset();
        barrier.abort();
        for t in released {
            assert_eq!(t.await.unwrap(), [Ok(0)]);
        }
    });
}

// ---------------------------------------------------------------- BoundedSemaphore

#[test]
fn bounded_semaphore_release_past_initial_value_fails() {
    // CPython test_locks: BoundedSemaphore().release() raises ValueError.
    run_on_each_backend(|| async {
        let sem = BoundedSemaphore::new(2);
        assert_eq!(sem.release(), Err(TooManyReleases));
        assert_eq!(
            sem.available_permits(),
            2,
            "a refused release changes nothing"
        );

        sem.acquire().await.forget();
        sem.acquire().await.forget();
        assert_eq!(sem.available_permits(), 0);
        assert_eq!(sem.release(), Ok(()));
        assert_eq!(sem.release(), Ok(()));
        assert_eq!(sem.release(), Err(TooManyReleases));
        assert_eq!(sem.available_permits(), 2);
    });
}

#[test]
fn bounded_semaphore_release_hands_permits_to_waiters_fifo() {
    run_on_each_backend(|| async {
        let sem = BoundedSemaphore::new(1);
        sem.acquire().await.forget();
        let order = log();
        let waiters: Vec<_> = (1..=3)
            .map(|n| {
                let (sem, order) = (sem.clone(), order.clone());
                ringloop::spawn(async move {
                    sem.acquire().await.forget();
                    order.borrow_mut().push(n);
                })
            })
            .collect();
        settle_tasks().await;
        for _ in 0..3 {
            // Each release goes straight to the oldest waiter, so none exceeds the bound.
            assert_eq!(sem.release(), Ok(()));
            assert_eq!(sem.available_permits(), 0);
        }
        for w in waiters {
            w.await.unwrap();
        }
        assert_eq!(*order.borrow(), [1, 2, 3]);
        assert_eq!(sem.release(), Ok(()));
        assert_eq!(sem.release(), Err(TooManyReleases));
    });
}

#[test]
fn bounded_semaphore_dropped_permits_return_to_the_bound() {
    run_on_each_backend(|| async {
        let sem = BoundedSemaphore::new(2);
        let a = sem.acquire().await;
        let b = sem.try_acquire().expect("a second permit");
        assert!(sem.try_acquire().is_none());
        let waiter = ringloop::spawn({
            let sem = sem.clone();
            async move { drop(sem.acquire().await) }
        });
        settle_tasks().await;
        drop(a); // handed to the waiter, which gives it back
        waiter.await.unwrap();
        drop(b);
        assert_eq!(sem.available_permits(), 2);
        assert_eq!(
            sem.release(),
            Err(TooManyReleases),
            "returned permits never exceed the bound"
        );
    });
}
