//! `gather`, `wait`, `shield` and `timeout` (asyncio's gather, wait, shield, wait_for).
//! Orders and results are asserted; time only from below (nothing fires early). Every
//! test runs on each backend.

mod support;

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use ringloop::{ExceptionKind, ReturnWhen};
use support::{
    DropFlag, for_each_backend, log, new_loop, on_each_backend, record_exceptions, yield_times,
};

/// A future that completes once `flag` is set, checking once per iteration.
async fn until(flag: Rc<Cell<bool>>) {
    while !flag.get() {
        ringloop::yield_now().await;
    }
}

/// Waits (in 1ms sleeps) for `flag`, which work on this loop sets after a few
/// milliseconds of timers; panics instead of hanging if that work was lost. The bound is
/// in loop turns, each at least 1ms: by the last one every shorter timer has fired.
async fn eventually(flag: &Rc<Cell<bool>>, what: &str) {
    for _ in 0..2000 {
        if flag.get() {
            return;
        }
        ringloop::sleep(Duration::from_millis(1)).await;
    }
    panic!("{what} never happened");
}

// ---------------------------------------------------------------------------- gather

#[test]
fn gather_returns_in_argument_order() {
    for_each_backend(|lp| {
        let finished = log();
        let f = finished.clone();
        let results = lp.run_until_complete(async move {
            ringloop::gather((0..5u64).map(|i| {
                let f = f.clone();
                async move {
                    // Later arguments finish first.
                    yield_times(5 - i as usize).await;
                    f.borrow_mut().push(i);
                    i * 100
                }
            }))
            .await
        });
        assert_eq!(results, [0, 100, 200, 300, 400]);
        assert_eq!(*finished.borrow(), [4, 3, 2, 1, 0]);
    });
}

#[test]
fn gather_runs_futures_concurrently() {
    for_each_backend(|lp| {
        let events = log();
        let e = events.clone();
        lp.run_until_complete(async move {
            let make = |name: &'static str| {
                let e = e.clone();
                async move {
                    e.borrow_mut().push(format!("{name} start"));
                    ringloop::sleep(Duration::from_millis(2)).await;
                    e.borrow_mut().push(format!("{name} end"));
                }
            };
            ringloop::gather([make("a"), make("b")]).await;
        });
        assert_eq!(*events.borrow(), ["a start", "b start", "a end", "b end"]);
    });
}

#[test]
fn gather_empty_returns_empty() {
    for_each_backend(|lp| {
        let results: Vec<u8> =
            lp.run_until_complete(ringloop::gather(Vec::<std::future::Ready<u8>>::new()));
        assert!(results.is_empty());
    });
}

#[test]
fn gather_of_tasks_returns_their_results() {
    for_each_backend(|lp| {
        let results = lp.run_until_complete(async {
            let tasks: Vec<_> = (0..4)
                .map(|i| {
                    ringloop::spawn(async move {
                        if i == 2 {
                            panic!("third fails");
                        }
                        i
                    })
                })
                .collect();
            ringloop::gather(tasks).await
        });
        assert_eq!(results.len(), 4);
        assert_eq!(*results[0].as_ref().unwrap(), 0);
        assert_eq!(*results[1].as_ref().unwrap(), 1);
        assert!(results[2].as_ref().unwrap_err().is_panic());
        assert_eq!(*results[3].as_ref().unwrap(), 3);
    });
}

#[test]
fn dropping_gather_drops_unfinished_futures() {
    for_each_backend(|lp| {
        lp.run_until_complete(async {
            let dropped = Rc::new(Cell::new(false));
            let guard = DropFlag(dropped.clone());
            let slow = async move {
                let _guard = guard;
                ringloop::sleep(Duration::MAX).await;
                1
            };
            let fast = async { 2 };
            let futures: Vec<std::pin::Pin<Box<dyn Future<Output = i32>>>> =
                vec![Box::pin(slow), Box::pin(fast)];
            let result =
                ringloop::timeout(Duration::from_millis(2), ringloop::gather(futures)).await;
            assert!(result.is_err());
            assert!(
                dropped.get(),
                "the unfinished future was dropped with the gather"
            );
        });
    });
}

// ------------------------------------------------------------------------------ wait

#[test]
fn wait_first_completed() {
    for_each_backend(|lp| {
        lp.run_until_complete(async {
            let release = Rc::new(Cell::new(false));
            let slow_started = Rc::new(Cell::new(false));
            let (r, s) = (release.clone(), slow_started.clone());
            let slow = ringloop::spawn(async move {
                s.set(true);
                until(r).await;
                "slow"
            });
            let fast = ringloop::spawn(async {
                ringloop::yield_now().await;
                "fast"
            });
            let (done, pending) =
                ringloop::wait(vec![slow, fast], ReturnWhen::FirstCompleted).await;
            assert_eq!(done.len(), 1);
            assert_eq!(pending.len(), 1);
            assert!(done[0].is_done());
            assert!(!pending[0].is_done(), "wait cancels nothing");
            assert!(!pending[0].is_cancelled());
            let mut done = done;
            let mut pending = pending;
            assert_eq!(done.pop().unwrap().await.unwrap(), "fast");
            // The pending task keeps running and can still finish.
            release.set(true);
            assert_eq!(pending.pop().unwrap().await.unwrap(), "slow");
            assert!(slow_started.get());
        });
    });
}

#[test]
fn wait_first_completed_counts_cancellation() {
    for_each_backend(|lp| {
        lp.run_until_complete(async {
            let a = ringloop::spawn(ringloop::sleep(Duration::MAX));
            let b = ringloop::spawn(ringloop::sleep(Duration::MAX));
            ringloop::yield_now().await;
            b.cancel();
            let (done, pending) = ringloop::wait(vec![a, b], ReturnWhen::FirstCompleted).await;
            assert_eq!((done.len(), pending.len()), (1, 1));
            assert!(done[0].is_cancelled());
            pending[0].cancel();
        });
    });
}

#[test]
fn wait_first_exception() {
    on_each_backend(|backend| {
        let lp = new_loop(backend);
        let reports = record_exceptions(&lp);
        lp.run_until_complete(async {
            let release = Rc::new(Cell::new(false));
            let r = release.clone();
            let slow = ringloop::spawn(async move {
                until(r).await;
                0
            });
            let ok = ringloop::spawn(async { 1 });
            let failing = ringloop::spawn(async {
                yield_times(3).await;
                panic!("first exception")
            });
            let (done, pending) =
                ringloop::wait(vec![slow, ok, failing], ReturnWhen::FirstException).await;
            // Returned once the panic happened, not before (the ok task finished earlier).
            assert_eq!(done.len(), 2);
            assert_eq!(pending.len(), 1);
            assert!(!pending[0].is_done());
            let mut results = Vec::new();
            for t in done {
                results.push(t.await.map_err(|e| e.is_panic()));
            }
            assert!(results.contains(&Ok(1)));
            assert!(results.contains(&Err(true)));
            release.set(true);
            for t in pending {
                assert_eq!(t.await.unwrap(), 0);
            }
        });
        drop(lp);
        assert!(
            reports.borrow().is_empty(),
            "the panic was retrieved through the done list: {:?}",
            reports.borrow()
        );
    });
}

#[test]
fn wait_first_exception_without_exception_waits_for_all() {
    for_each_backend(|lp| {
        lp.run_until_complete(async {
            let tasks: Vec<_> = (0..3)
                .map(|i| {
                    ringloop::spawn(async move {
                        yield_times(i + 1).await;
                        i
                    })
                })
                .collect();
            let (done, pending) = ringloop::wait(tasks, ReturnWhen::FirstException).await;
            assert_eq!(done.len(), 3);
            assert!(pending.is_empty());
        });
    });
}

#[test]
fn wait_first_exception_ignores_cancellation() {
    for_each_backend(|lp| {
        lp.run_until_complete(async {
            let release = Rc::new(Cell::new(false));
            let r = release.clone();
            let slow = ringloop::spawn(async move {
                until(r).await;
                0
            });
            let cancelled = ringloop::spawn(async {
                ringloop::sleep(Duration::MAX).await;
                1
            });
            ringloop::yield_now().await;
            cancelled.cancel();
            let r2 = release.clone();
            ringloop::spawn(async move {
                yield_times(5).await;
                r2.set(true);
            });
            let (done, pending) =
                ringloop::wait(vec![slow, cancelled], ReturnWhen::FirstException).await;
            assert_eq!(done.len(), 2, "a cancellation is not an exception");
            assert!(pending.is_empty());
        });
    });
}

#[test]
fn wait_all_completed() {
    for_each_backend(|lp| {
        lp.run_until_complete(async {
            let tasks: Vec<_> = (0..4u64)
                .map(|i| {
                    ringloop::spawn(async move {
                        ringloop::sleep(Duration::from_millis(4 - i)).await;
                        i
                    })
                })
                .collect();
            let (done, pending) = ringloop::wait(tasks, ReturnWhen::AllCompleted).await;
            assert!(pending.is_empty());
            assert_eq!(done.len(), 4);
            assert!(done.iter().all(|t| t.is_done()));
            let mut values = Vec::new();
            for t in done {
                values.push(t.await.unwrap());
            }
            values.sort();
            assert_eq!(values, [0, 1, 2, 3]);
        });
    });
}

#[test]
fn wait_empty_returns_at_once() {
    for_each_backend(|lp| {
        lp.run_until_complete(async {
            for when in [
                ReturnWhen::FirstCompleted,
                ReturnWhen::FirstException,
                ReturnWhen::AllCompleted,
            ] {
                let (done, pending) = ringloop::wait(Vec::<ringloop::Task<()>>::new(), when).await;
                assert!(done.is_empty() && pending.is_empty());
            }
        });
    });
}

#[test]
fn wait_done_results_include_done_callbacks_effects() {
    // A task counts as done for wait only once its done callbacks have run, so its
    // result can be awaited at once.
    for_each_backend(|lp| {
        lp.run_until_complete(async {
            let ran = Rc::new(Cell::new(false));
            let r = ran.clone();
            let t = ringloop::spawn(async { 7 });
            t.add_done_callback(move |_| r.set(true));
            let (mut done, _) = ringloop::wait(vec![t], ReturnWhen::AllCompleted).await;
            assert!(ran.get(), "done callbacks ran before wait returned");
            let mut task = done.pop().unwrap();
            let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
            match std::future::Future::poll(std::pin::Pin::new(&mut task), &mut cx) {
                std::task::Poll::Ready(Ok(7)) => {}
                other => panic!("a done task's result is available at once: {other:?}"),
            }
        });
    });
}

// ---------------------------------------------------------------------------- shield

#[test]
fn shield_returns_inner_value() {
    for_each_backend(|lp| {
        let v = lp.run_until_complete(async {
            ringloop::shield(async {
                ringloop::yield_now().await;
                "inner"
            })
            .await
        });
        assert_eq!(v.unwrap(), "inner");
    });
}

#[test]
fn shield_keeps_inner_running_when_outer_cancelled() {
    for_each_backend(|lp| {
        lp.run_until_complete(async {
            let finished = Rc::new(Cell::new(false));
            let f = finished.clone();
            let outer = ringloop::shield(async move {
                yield_times(5).await;
                f.set(true);
                42
            });
            yield_times(2).await;
            assert!(outer.cancel());
            assert!(outer.await.unwrap_err().is_cancelled());
            assert!(!finished.get(), "the inner work is still going");
            eventually(&finished, "the shielded work finishing").await;
        });
    });
}

#[test]
fn shield_keeps_inner_running_when_awaiting_task_cancelled() {
    // asyncio's pattern: `await shield(x)` inside a task that gets cancelled.
    for_each_backend(|lp| {
        lp.run_until_complete(async {
            let finished = Rc::new(Cell::new(false));
            let f = finished.clone();
            let awaiting = ringloop::spawn(async move {
                ringloop::shield(async move {
                    ringloop::sleep(Duration::from_millis(3)).await;
                    f.set(true);
                })
                .await
            });
            yield_times(2).await;
            awaiting.cancel();
            assert!(awaiting.await.unwrap_err().is_cancelled());
            eventually(&finished, "the shielded work finishing").await;
        });
    });
}

#[test]
fn shield_inner_panic_resolves_outer_panicked() {
    on_each_backend(|backend| {
        let lp = new_loop(backend);
        let reports = record_exceptions(&lp);
        lp.run_until_complete(async {
            let outer = ringloop::shield(async {
                ringloop::yield_now().await;
                panic!("inner boom");
            });
            let err = outer.await.unwrap_err();
            assert!(err.is_panic());
            let payload = err.into_panic();
            assert_eq!(payload.downcast_ref::<&str>(), Some(&"inner boom"));
            yield_times(3).await;
        });
        drop(lp);
        assert!(
            reports.borrow().is_empty(),
            "the inner failure was retrieved through the outer: {:?}",
            reports.borrow()
        );
    });
}

#[test]
fn shield_inner_panic_after_outer_cancelled_is_reported_once() {
    on_each_backend(|backend| {
        let lp = new_loop(backend);
        let reports = record_exceptions(&lp);
        lp.run_until_complete(async {
            let outer = ringloop::shield(async {
                yield_times(3).await;
                panic!("nobody is listening any more");
            });
            ringloop::yield_now().await;
            outer.cancel();
            assert!(outer.await.unwrap_err().is_cancelled());
            yield_times(6).await;
        });
        drop(lp);
        assert_eq!(
            *reports.borrow(),
            [(
                ExceptionKind::TaskNeverRetrieved,
                "nobody is listening any more".to_string()
            )]
        );
    });
}

// --------------------------------------------------------------------------- timeout

#[test]
fn timeout_ready_inner_wins() {
    for_each_backend(|lp| {
        lp.run_until_complete(async {
            // Ready on the first poll: even a zero timeout returns the value.
            assert_eq!(ringloop::timeout(Duration::ZERO, async { 5 }).await, Ok(5));
            assert_eq!(
                ringloop::timeout(Duration::from_secs(1), async {
                    ringloop::yield_now().await;
                    6
                })
                .await,
                Ok(6)
            );
        });
    });
}

#[test]
fn timeout_ready_inner_wins_over_expired_timer() {
    for_each_backend(|lp| {
        lp.run_until_complete(async {
            // After the first poll both the inner future (woken by yield_now) and the
            // zero-length timer are ready in the same poll: the inner value wins.
            let r = ringloop::timeout(Duration::ZERO, async {
                ringloop::yield_now().await;
                "inner"
            })
            .await;
            assert_eq!(r, Ok("inner"));
        });
    });
}

#[test]
fn timeout_ready_at_once_leaves_no_timer() {
    for_each_backend(|lp| {
        lp.run_until_complete(async {
            assert_eq!(
                ringloop::timeout(Duration::from_secs(3600), async { 1 }).await,
                Ok(1)
            );
            assert_eq!(lp.stats().timers_pending, 0);
            assert_eq!(
                ringloop::timeout(Duration::from_secs(3600), ringloop::yield_now()).await,
                Ok(())
            );
            assert_eq!(
                lp.stats().timers_pending,
                0,
                "the timer went with the timeout"
            );
        });
    });
}

#[test]
fn timeout_elapsed_drops_inner_future() {
    for_each_backend(|lp| {
        lp.run_until_complete(async {
            let dropped = Rc::new(Cell::new(false));
            let resumed = Rc::new(Cell::new(false));
            let (guard, r) = (DropFlag(dropped.clone()), resumed.clone());
            let d = Duration::from_millis(10);
            let start = Instant::now();
            let result = ringloop::timeout(d, async move {
                let _guard = guard;
                ringloop::sleep(Duration::MAX).await;
                r.set(true);
            })
            .await;
            let elapsed = start.elapsed();
            assert!(result.is_err());
            assert!(
                dropped.get(),
                "the inner future was dropped when time ran out"
            );
            assert!(!resumed.get());
            assert!(elapsed >= d, "timed out early: {elapsed:?} < {d:?}");
        });
    });
}

#[test]
fn timeout_elapsed_error_displays() {
    for_each_backend(|lp| {
        let err = lp
            .run_until_complete(ringloop::timeout(
                Duration::from_millis(1),
                std::future::pending::<()>(),
            ))
            .unwrap_err();
        assert_eq!(err.to_string(), "deadline has elapsed");
    });
}

#[test]
fn timeout_never_fires_early() {
    for_each_backend(|lp| {
        lp.run_until_complete(async {
            for ms in [1u64, 5, 12] {
                let d = Duration::from_millis(ms);
                let start = Instant::now();
                let r = ringloop::timeout(d, std::future::pending::<()>()).await;
                assert!(r.is_err());
                assert!(start.elapsed() >= d);
            }
        });
    });
}

#[test]
fn timeout_duration_max_behaves_like_no_timeout() {
    for_each_backend(|lp| {
        lp.run_until_complete(async {
            let r = ringloop::timeout(Duration::MAX, async {
                ringloop::sleep(Duration::from_millis(2)).await;
                3
            })
            .await;
            assert_eq!(r, Ok(3));
        });
    });
}

#[test]
fn timeout_of_task_handle_leaves_task_running() {
    // Like asyncio's wait_for(shield(t)): timing out on a Task handle drops the handle
    // (detaching), which does not cancel the task.
    for_each_backend(|lp| {
        lp.run_until_complete(async {
            let finished = Rc::new(Cell::new(false));
            let f = finished.clone();
            let task = ringloop::spawn(async move {
                ringloop::sleep(Duration::from_millis(5)).await;
                f.set(true);
            });
            let r = ringloop::timeout(Duration::from_millis(1), task).await;
            assert!(r.is_err());
            eventually(&finished, "the detached task finishing").await;
        });
    });
}
