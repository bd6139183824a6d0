//! `timeout_at` and `timeout` against asyncio's documented behaviours (CPython's
//! `test_timeouts.py`, ported to ringloop's shape: a deadline wraps a future, and the
//! error is `Elapsed`), and `as_completed` (asyncio's `as_completed`). Every test that
//! involves a timer runs on each backend.

mod support;

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use ringloop::{ExceptionKind, TaskError};
use support::{
    DropFlag, default_loop, guard, record_exceptions, run_on_each_backend, task_panic_message,
    yield_times,
};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

// ---------------------------------------------------------------------------------------
// timeout_at (test_timeouts.py)

/// test_timeout_at_basic: a deadline a little ahead of a long sleep runs out.
#[test]
fn timeout_at_runs_out_at_its_deadline() {
    run_on_each_backend(|| async {
        let deadline = Instant::now() + ms(10);
        let r = ringloop::timeout_at(deadline, ringloop::sleep(Duration::from_secs(60))).await;
        assert_eq!(r.unwrap_err().to_string(), "deadline has elapsed");
    });
}

/// Never early: when `Elapsed` comes back, the deadline has passed.
#[test]
fn timeout_at_never_runs_out_early() {
    run_on_each_backend(|| async {
        for n in [1u64, 3, 7, 12] {
            let deadline = Instant::now() + ms(n);
            let r = ringloop::timeout_at(deadline, std::future::pending::<()>()).await;
            assert!(r.is_err());
            assert!(Instant::now() >= deadline, "ran out before its deadline");
        }
    });
}

/// test_timeout_not_triggered: work that finishes before the deadline returns its
/// value, and leaves no timer behind.
#[test]
fn timeout_at_not_triggered_returns_the_value() {
    run_on_each_backend(|| async {
        let deadline = Instant::now() + Duration::from_secs(60);
        let r = ringloop::timeout_at(deadline, async {
            ringloop::sleep(ms(1)).await;
            "done"
        })
        .await;
        assert_eq!(r, Ok("done"));
    });
}

/// test_timeout_in_the_past: a deadline already passed runs out at the next iteration
/// for work that suspends; work ready at its first poll still wins (ringloop polls the
/// inner future first).
#[test]
fn timeout_at_in_the_past() {
    run_on_each_backend(|| async {
        let past = Instant::now() - Duration::from_secs(11);
        let r = ringloop::timeout_at(past, ringloop::sleep(ms(10))).await;
        assert!(r.is_err());
        let r = ringloop::timeout_at(past, async { 5 }).await;
        assert_eq!(r, Ok(5));
    });
}

/// test_nested_timeouts: the inner, shorter deadline fires first and is the inner
/// future's business; the outer one does not fire.
#[test]
fn nested_timeouts_inner_fires_first() {
    run_on_each_backend(|| async {
        let outer = Instant::now() + Duration::from_secs(60);
        let r = ringloop::timeout_at(outer, async {
            let inner = ringloop::timeout(ms(5), ringloop::sleep(Duration::from_secs(60))).await;
            assert!(inner.is_err(), "the inner deadline ran out");
            "outer body finished"
        })
        .await;
        assert_eq!(r, Ok("outer body finished"));
    });
}

/// test_nested_timeouts_concurrent / outer shorter: the outer deadline runs out first
/// and drops the whole body, inner timeout included.
#[test]
fn nested_timeouts_outer_fires_first() {
    run_on_each_backend(|| async {
        let inner_dropped = Rc::new(Cell::new(false));
        let flag = DropFlag(inner_dropped.clone());
        let outer = Instant::now() + ms(5);
        let r = ringloop::timeout_at(outer, async move {
            let _flag = flag;
            ringloop::timeout(
                Duration::from_secs(60),
                ringloop::sleep(Duration::from_secs(60)),
            )
            .await
        })
        .await;
        assert!(r.is_err());
        assert!(
            inner_dropped.get(),
            "the body was dropped when the outer ran out"
        );
    });
}

/// test_timeout_disabled / far deadlines: a deadline far away is like none.
#[test]
fn timeout_at_far_future_behaves_like_no_timeout() {
    run_on_each_backend(|| async {
        let far = Instant::now() + Duration::from_secs(365 * 24 * 3600);
        let r = ringloop::timeout_at(far, async {
            ringloop::sleep(ms(2)).await;
            9
        })
        .await;
        assert_eq!(r, Ok(9));
    });
}

/// test_foreign_exception_passed: a failure inside the body passes through unchanged
/// (it is not turned into a timeout).
#[test]
fn timeout_at_lets_a_panic_pass_through() {
    run_on_each_backend(|| async {
        let task = ringloop::spawn(async {
            let deadline = Instant::now() + Duration::from_secs(60);
            ringloop::timeout_at(deadline, async {
                ringloop::sleep(ms(1)).await;
                panic!("foreign failure")
            })
            .await
        });
        let err: TaskError = task.await.unwrap_err();
        assert_eq!(task_panic_message(err), "foreign failure");
    });
}

/// test_cancel / outer cancellation: cancelling the task that waits under a deadline is
/// a cancellation, not a timeout; the body is dropped.
#[test]
fn cancelling_the_waiting_task_is_not_a_timeout() {
    run_on_each_backend(|| async {
        let body_dropped = Rc::new(Cell::new(false));
        let flag = DropFlag(body_dropped.clone());
        let task = ringloop::spawn(async move {
            let deadline = Instant::now() + Duration::from_secs(60);
            ringloop::timeout_at(deadline, async move {
                let _flag = flag;
                ringloop::sleep(Duration::from_secs(60)).await;
            })
            .await
        });
        ringloop::sleep(ms(1)).await;
        task.cancel();
        assert!(task.await.unwrap_err().is_cancelled());
        assert!(body_dropped.get());
    });
}

/// One deadline shared by consecutive steps (what `timeout_at` is for).
#[test]
fn one_deadline_bounds_several_steps() {
    run_on_each_backend(|| async {
        let deadline = Instant::now() + ms(30);
        let mut steps = 0;
        loop {
            match ringloop::timeout_at(deadline, ringloop::sleep(ms(4))).await {
                Ok(()) => steps += 1,
                Err(_) => break,
            }
            assert!(steps < 100, "the deadline must end the loop");
        }
        // Never early: at most 7 whole steps of 4 ms fit in 30 ms.
        assert!(steps <= 7, "{steps} steps of 4 ms in 30 ms");
        assert!(Instant::now() >= deadline);
    });
}

/// Equal deadlines fire in the order they were started (DESIGN.md, semantics 2).
#[test]
fn equal_deadlines_run_out_in_start_order() {
    run_on_each_backend(|| async {
        let deadline = Instant::now() + ms(3);
        let order = support::log::<u32>();
        let tasks: Vec<_> = (0..4u32)
            .map(|n| {
                let order = order.clone();
                ringloop::spawn(async move {
                    let _ = ringloop::timeout_at(deadline, std::future::pending::<()>()).await;
                    order.borrow_mut().push(n);
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(*order.borrow(), [0, 1, 2, 3]);
    });
}

// ---------------------------------------------------------------------------------------
// as_completed

/// asyncio's as_completed: results come in the order the tasks finish.
#[test]
fn as_completed_yields_in_completion_order() {
    run_on_each_backend(|| async {
        let tasks = [20u64, 1, 10, 5]
            .map(|n| {
                ringloop::spawn(async move {
                    ringloop::sleep(ms(n)).await;
                    n
                })
            })
            .into();
        let mut results = ringloop::as_completed(tasks);
        assert_eq!(results.len(), 4);
        let mut order = Vec::new();
        while let Some(result) = guard("as_completed", results.next()).await {
            order.push(result.unwrap());
        }
        assert_eq!(order, [1, 5, 10, 20]);
        assert!(results.is_empty());
        assert!(results.next().await.is_none(), "stays exhausted");
    });
}

/// Tasks already finished come first, in list order; an empty list is done at once.
#[test]
fn as_completed_yields_finished_tasks_first_in_list_order() {
    ringloop::run(async {
        let pending = ringloop::spawn(async {
            yield_times(3).await;
            "late"
        });
        let a = ringloop::spawn(async { "a" });
        let b = ringloop::spawn(async { "b" });
        yield_times(1).await;
        let mut results = ringloop::as_completed(vec![pending, b, a]);
        assert_eq!(results.next().await.unwrap().unwrap(), "b");
        assert_eq!(results.next().await.unwrap().unwrap(), "a");
        assert_eq!(results.next().await.unwrap().unwrap(), "late");
        assert!(results.next().await.is_none());

        let mut none = ringloop::as_completed(Vec::<ringloop::Task<()>>::new());
        assert!(none.next().await.is_none());
    });
}

/// Failures come out as results (retrieved: nothing reaches the exception handler), and
/// nothing else is cancelled.
#[test]
fn as_completed_yields_panics_and_cancellations_as_results() {
    let lp = default_loop();
    let reports = record_exceptions(&lp);
    lp.run_until_complete(async {
        let boom = ringloop::spawn(async {
            yield_times(1).await;
            panic!("boom")
        });
        let cancelled = ringloop::spawn(std::future::pending::<&str>());
        let fine = ringloop::spawn(async {
            yield_times(4).await;
            "fine"
        });
        cancelled.cancel();
        let mut results = ringloop::as_completed(vec![boom, cancelled, fine]);
        let first = results.next().await.unwrap().unwrap_err();
        assert!(first.is_cancelled(), "{first:?}");
        let second = results.next().await.unwrap().unwrap_err();
        assert_eq!(task_panic_message(second), "boom");
        assert_eq!(results.next().await.unwrap().unwrap(), "fine");
    });
    drop(lp);
    assert!(reports.borrow().is_empty(), "{:?}", reports.borrow());
}

/// Dropping an AsCompleted detaches what it has not yielded: those tasks run on, and a
/// later panic among them is reported as never retrieved.
#[test]
fn dropping_as_completed_detaches_the_rest() {
    let lp = default_loop();
    let reports = record_exceptions(&lp);
    lp.run_until_complete(async {
        let finished = Rc::new(Cell::new(false));
        let f = finished.clone();
        let slow = ringloop::spawn(async move {
            yield_times(3).await;
            f.set(true);
        });
        let failing = ringloop::spawn(async {
            yield_times(3).await;
            panic!("after the drop");
        });
        let quick = ringloop::spawn(async {});
        let mut results = ringloop::as_completed(vec![slow, failing, quick]);
        results.next().await.unwrap().unwrap();
        drop(results);
        yield_times(5).await;
        assert!(finished.get(), "not cancelled");
    });
    drop(lp);
    assert_eq!(
        *reports.borrow(),
        [(
            ExceptionKind::TaskNeverRetrieved,
            "after the drop".to_string()
        )]
    );
}

/// next() is cancel-safe: a wait that timed out loses nothing.
#[test]
fn as_completed_next_is_cancel_safe() {
    run_on_each_backend(|| async {
        let task = ringloop::spawn(async {
            ringloop::sleep(ms(10)).await;
            3
        });
        let mut results = ringloop::as_completed(vec![task]);
        assert!(ringloop::timeout(ms(1), results.next()).await.is_err());
        assert_eq!(results.next().await.unwrap().unwrap(), 3);
    });
}

/// A task whose done callbacks are still to run is yielded after they ran.
#[test]
fn as_completed_waits_for_done_callbacks() {
    ringloop::run(async {
        let ran = Rc::new(Cell::new(false));
        let r = ran.clone();
        let task = ringloop::spawn(async {
            ringloop::yield_now().await;
            1
        });
        task.add_done_callback(move |_| r.set(true));
        let mut results = ringloop::as_completed(vec![task]);
        assert_eq!(results.next().await.unwrap().unwrap(), 1);
        assert!(ran.get());
    });
}

/// Thousands of tasks: one push per completion, every result exactly once.
#[test]
fn as_completed_of_many_tasks() {
    ringloop::run(async {
        let tasks: Vec<_> = (0..5_000u32)
            .map(|n| {
                ringloop::spawn(async move {
                    yield_times((n % 3) as usize).await;
                    n
                })
            })
            .collect();
        let mut results = ringloop::as_completed(tasks);
        let mut got = Vec::new();
        while let Some(result) = results.next().await {
            got.push(result.unwrap());
        }
        assert!(
            got.windows(2).all(|w| w[0] % 3 <= w[1] % 3),
            "by yields taken"
        );
        got.sort_unstable();
        assert_eq!(got, (0..5_000).collect::<Vec<_>>());
    });
}

#[test]
fn as_completed_on_another_loop_panics_clearly() {
    let other = default_loop();
    let task = other.spawn(std::future::pending::<()>());
    let lp = default_loop();
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        lp.run_until_complete(async move {
            let mut results = ringloop::as_completed(vec![task]);
            results.next().await
        })
    }))
    .unwrap_err();
    let message = support::panic_message(&*err);
    assert!(message.contains("as_completed"), "{message}");
}
