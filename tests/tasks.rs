//! Tasks (DESIGN.md, "Semantics to keep" 3, 4 and 5): results, cancellation, panics and
//! the exception handler, done callbacks, detaching, and wake deduplication.
//!
//! The tests whose tasks sleep (or are cancelled in a sleep) run on each backend; the
//! others are pure scheduling (no I/O, no timer, no wait) and run on the default
//! backend.

mod support;

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Duration;

use ringloop::{ExceptionKind, TaskError};
use support::{
    DropFlag, default_loop, for_each_backend, log, new_loop, on_each_backend, record_exceptions,
    task_panic_message, yield_times,
};

#[test]
fn task_resolves_to_its_value() {
    let value = ringloop::run(async {
        let t = ringloop::spawn(async {
            ringloop::yield_now().await;
            "value"
        });
        t.await
    });
    assert_eq!(value.unwrap(), "value");
}

#[test]
fn spawned_task_first_runs_in_next_iteration() {
    ringloop::run(async {
        let ran = Rc::new(Cell::new(false));
        let r = ran.clone();
        let t = ringloop::spawn(async move { r.set(true) });
        assert!(!ran.get(), "spawn does not run the task inline");
        assert!(!t.is_done());
        ringloop::yield_now().await;
        assert!(ran.get());
        assert!(t.is_done());
    });
}

#[test]
fn cancel_before_first_run_never_runs_body() {
    let lp = default_loop();
    let ran = Rc::new(Cell::new(false));
    let dropped = Rc::new(Cell::new(false));
    let (r, guard) = (ran.clone(), DropFlag(dropped.clone()));
    let task = lp.spawn(async move {
        let _guard = guard;
        r.set(true);
    });
    assert!(task.cancel(), "a pending task can be cancelled");
    let result = lp.run_until_complete(task);
    assert!(matches!(result, Err(TaskError::Cancelled)), "{result:?}");
    assert!(!ran.get(), "the body never ran");
    assert!(
        dropped.get(),
        "the future (and what it captured) was dropped"
    );
}

#[test]
fn cancel_before_first_run_inside_loop_never_runs_body() {
    ringloop::run(async {
        let ran = Rc::new(Cell::new(false));
        let r = ran.clone();
        let task = ringloop::spawn(async move { r.set(true) });
        task.cancel();
        yield_times(3).await;
        assert!(!ran.get());
        assert!(task.is_done());
        assert!(task.is_cancelled());
        assert!(task.await.unwrap_err().is_cancelled());
    });
}

#[test]
fn cancel_suspended_task_runs_destructors() {
    for_each_backend(|lp| {
        lp.run_until_complete(async {
            let dropped = Rc::new(Cell::new(false));
            let resumed = Rc::new(Cell::new(false));
            let (guard, r) = (DropFlag(dropped.clone()), resumed.clone());
            let task = ringloop::spawn(async move {
                let _guard = guard;
                ringloop::sleep(Duration::MAX).await;
                r.set(true);
            });
            yield_times(2).await;
            assert!(!task.is_done(), "the task is suspended in its sleep");
            assert!(!dropped.get());

            assert!(task.cancel());
            assert!(
                !task.is_done(),
                "cancellation happens when the loop gets to it"
            );
            let result = task.await;
            assert!(matches!(result, Err(TaskError::Cancelled)), "{result:?}");
            assert!(dropped.get(), "the future was dropped at its await point");
            assert!(!resumed.get(), "the code after the await point never ran");
        });
    });
}

#[test]
fn cancel_is_idempotent_and_false_once_finished() {
    for_each_backend(|lp| {
        lp.run_until_complete(async {
            let task = ringloop::spawn(ringloop::sleep(Duration::MAX));
            ringloop::yield_now().await;
            assert!(task.cancel());
            assert!(task.cancel(), "still not finished: cancel reports true");
            yield_times(2).await;
            assert!(task.is_cancelled());
            assert!(!task.cancel(), "nothing left to cancel");

            let finished = ringloop::spawn(async { 5 });
            yield_times(2).await;
            assert!(finished.is_done());
            assert!(!finished.cancel());
            assert!(!finished.is_cancelled());
            assert_eq!(finished.await.unwrap(), 5);
        });
    });
}

#[test]
fn cancelled_task_wakes_its_awaiter() {
    for_each_backend(|lp| {
        lp.run_until_complete(async {
            let sleeper = Rc::new(RefCell::new(ringloop::spawn(ringloop::sleep(
                Duration::MAX,
            ))));
            let s = sleeper.clone();
            // Another task awaits the sleeper's handle; only the cancellation can wake it.
            let waiter = ringloop::spawn(poll_fn(move |cx| {
                std::future::Future::poll(std::pin::Pin::new(&mut *s.borrow_mut()), cx)
            }));
            yield_times(2).await;
            assert!(!waiter.is_done());
            assert!(sleeper.borrow().cancel());
            let result = waiter.await.unwrap();
            assert!(matches!(result, Err(TaskError::Cancelled)), "{result:?}");
        });
    });
}

#[test]
fn panicking_task_does_not_stop_loop() {
    let lp = default_loop();
    let reports = record_exceptions(&lp);
    let steps = Rc::new(Cell::new(0));
    let s = steps.clone();
    let value = lp.run_until_complete(async move {
        let bystander = ringloop::spawn(async move {
            for _ in 0..5 {
                s.set(s.get() + 1);
                ringloop::yield_now().await;
            }
        });
        let failing = ringloop::spawn(async {
            ringloop::yield_now().await;
            panic!("task boom");
        });
        let err = failing.await.unwrap_err();
        assert!(err.is_panic());
        assert!(!err.is_cancelled());
        assert_eq!(task_panic_message(err), "task boom");
        bystander.await.unwrap();
        "loop still fine"
    });
    assert_eq!(value, "loop still fine");
    assert_eq!(steps.get(), 5);
    assert!(reports.borrow().is_empty(), "the failure was retrieved");
}

#[test]
fn unretrieved_panic_reported_once() {
    let lp = default_loop();
    let reports = record_exceptions(&lp);
    lp.run_until_complete(async {
        // Detached before it fails.
        drop(ringloop::spawn(async {
            ringloop::yield_now().await;
            panic!("nobody listens");
        }));
        yield_times(5).await;
    });
    assert_eq!(
        *reports.borrow(),
        [(
            ExceptionKind::TaskNeverRetrieved,
            "nobody listens".to_string()
        )]
    );
    lp.run_until_complete(yield_times(3));
    drop(lp);
    assert_eq!(reports.borrow().len(), 1, "reported exactly once");
}

#[test]
fn unretrieved_panic_reported_once_when_handle_dropped_after_failure() {
    let lp = default_loop();
    let reports = record_exceptions(&lp);
    lp.run_until_complete(async {
        let task = ringloop::spawn(async { panic!("failed first, dropped later") });
        yield_times(2).await;
        assert!(task.is_done());
        drop(task);
        yield_times(3).await;
    });
    assert_eq!(
        *reports.borrow(),
        [(
            ExceptionKind::TaskNeverRetrieved,
            "failed first, dropped later".to_string()
        )]
    );
    drop(lp);
    assert_eq!(reports.borrow().len(), 1);
}

#[test]
fn unretrieved_panic_reported_when_handle_dropped_outside_the_loop() {
    let lp = default_loop();
    let reports = record_exceptions(&lp);
    let task = lp.spawn(async { panic!("dropped while idle") });
    lp.run_until_complete(yield_times(2));
    assert!(task.is_done());
    drop(task);
    // Reported by the loop, on its thread: at the latest when it closes.
    drop(lp);
    assert_eq!(
        *reports.borrow(),
        [(
            ExceptionKind::TaskNeverRetrieved,
            "dropped while idle".to_string()
        )]
    );
}

#[test]
fn retrieved_panic_not_reported() {
    let lp = default_loop();
    let reports = record_exceptions(&lp);
    lp.run_until_complete(async {
        let task = ringloop::spawn(async { panic!("seen") });
        let err = task.await.unwrap_err();
        assert!(err.is_panic());
        yield_times(3).await;
    });
    drop(lp);
    assert!(reports.borrow().is_empty(), "{:?}", reports.borrow());
}

#[test]
fn panic_seen_by_done_callback_not_reported() {
    let lp = default_loop();
    let reports = record_exceptions(&lp);
    let saw = Rc::new(Cell::new(false));
    let s = saw.clone();
    lp.run_until_complete(async move {
        let task = ringloop::spawn(async { panic!("seen by callback") });
        task.add_done_callback(move |r| s.set(matches!(r, Err(TaskError::Panicked(_)))));
        drop(task);
        yield_times(4).await;
    });
    drop(lp);
    assert!(saw.get());
    assert!(reports.borrow().is_empty(), "{:?}", reports.borrow());
}

#[test]
fn cancelled_detached_task_not_reported() {
    on_each_backend(|backend| {
        let lp = new_loop(backend);
        let reports = record_exceptions(&lp);
        lp.run_until_complete(async {
            let task = ringloop::spawn(ringloop::sleep(Duration::MAX));
            ringloop::yield_now().await;
            task.cancel();
            drop(task);
            yield_times(3).await;
        });
        drop(lp);
        assert!(reports.borrow().is_empty(), "{:?}", reports.borrow());
    });
}

#[test]
fn task_error_into_panic_returns_payload() {
    ringloop::run(async {
        let err = ringloop::spawn(async { std::panic::panic_any(17u32) })
            .await
            .unwrap_err();
        let payload = err.into_panic();
        assert_eq!(payload.downcast_ref::<u32>(), Some(&17));
    });
}

#[test]
fn done_callback_scheduled_not_inline_even_when_finished() {
    ringloop::run(async {
        let task = ringloop::spawn(async { 3 });
        yield_times(2).await;
        assert!(task.is_done());
        let got = Rc::new(Cell::new(None));
        let g = got.clone();
        task.add_done_callback(move |r| g.set(Some(*r.as_ref().unwrap())));
        assert_eq!(got.get(), None, "not run inline on a finished task");
        ringloop::yield_now().await;
        assert_eq!(got.get(), Some(3), "run in the next iteration");
        // The result is still there for the handle.
        assert_eq!(task.await.unwrap(), 3);
    });
}

#[test]
fn done_callback_runs_after_callbacks_scheduled_before_completion() {
    let order = log();
    let o = order.clone();
    ringloop::run(async move {
        let o2 = o.clone();
        let task = ringloop::spawn(async move {
            o2.borrow_mut().push("body returns");
            let o3 = o2.clone();
            ringloop::call_soon(move || o3.borrow_mut().push("call_soon from body"));
        });
        let o4 = o.clone();
        task.add_done_callback(move |_| o4.borrow_mut().push("done callback"));
        task.await.unwrap();
    });
    assert_eq!(
        *order.borrow(),
        ["body returns", "call_soon from body", "done callback"]
    );
}

#[test]
fn done_callbacks_run_in_order_added_and_see_result() {
    ringloop::run(async {
        let seen = log();
        let task = ringloop::spawn(async {
            ringloop::yield_now().await;
            "r"
        });
        for i in 0..3 {
            let s = seen.clone();
            task.add_done_callback(move |r| s.borrow_mut().push((i, *r.as_ref().unwrap())));
        }
        // Awaiting the handle waits for the callbacks, which see the result first.
        assert_eq!(task.await.unwrap(), "r");
        assert_eq!(*seen.borrow(), [(0, "r"), (1, "r"), (2, "r")]);
    });
}

#[test]
fn done_callback_sees_cancellation() {
    for_each_backend(|lp| {
        lp.run_until_complete(async {
            let seen = Rc::new(Cell::new(false));
            let s = seen.clone();
            let task = ringloop::spawn(ringloop::sleep(Duration::MAX));
            task.add_done_callback(move |r| s.set(matches!(r, Err(TaskError::Cancelled))));
            ringloop::yield_now().await;
            task.cancel();
            assert!(task.await.unwrap_err().is_cancelled());
            assert!(seen.get());
        });
    });
}

#[test]
fn dropping_task_handle_detaches() {
    for_each_backend(|lp| {
        lp.run_until_complete(async {
            let outcome: Rc<RefCell<Option<Result<&str, String>>>> = Rc::new(RefCell::new(None));
            let task = ringloop::spawn(async {
                yield_times(3).await;
                ringloop::sleep(Duration::from_millis(1)).await;
                "finished"
            });
            let o = outcome.clone();
            task.add_done_callback(move |r| {
                *o.borrow_mut() = Some(match r {
                    Ok(v) => Ok(*v),
                    Err(e) => Err(e.to_string()),
                })
            });
            drop(task);
            // The done callback fires whichever way the task ends.
            while outcome.borrow().is_none() {
                ringloop::sleep(Duration::from_millis(1)).await;
            }
            assert_eq!(
                *outcome.borrow(),
                Some(Ok("finished")),
                "the detached task kept running to completion"
            );
        });
    });
}

#[test]
fn dropping_task_handle_keeps_task_alive_in_stats() {
    for_each_backend(|lp| {
        drop(lp.spawn(ringloop::sleep(Duration::MAX)));
        lp.run_until_complete(yield_times(2));
        assert_eq!(lp.stats().tasks_live, 1, "a detached task is not cancelled");
    });
}

#[test]
fn task_woken_twice_runs_once() {
    ringloop::run(async {
        let polls = Rc::new(Cell::new(0u32));
        let waker: Rc<RefCell<Option<Waker>>> = Rc::new(RefCell::new(None));
        let finish = Rc::new(Cell::new(false));
        let (p, w, f) = (polls.clone(), waker.clone(), finish.clone());
        let task = ringloop::spawn(poll_fn(move |cx| {
            p.set(p.get() + 1);
            *w.borrow_mut() = Some(cx.waker().clone());
            if f.get() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        }));
        yield_times(2).await;
        assert_eq!(polls.get(), 1);

        let wk = waker.borrow_mut().take().unwrap();
        wk.wake_by_ref();
        wk.wake_by_ref();
        let clone = wk.clone();
        clone.wake();
        yield_times(3).await;
        assert_eq!(polls.get(), 2, "three wakes before it ran: polled once");

        finish.set(true);
        wk.wake();
        task.await.unwrap();
        assert_eq!(polls.get(), 3);
    });
}

#[test]
fn wake_after_completion_is_ignored() {
    ringloop::run(async {
        let waker: Rc<RefCell<Option<Waker>>> = Rc::new(RefCell::new(None));
        let w = waker.clone();
        let mut first = true;
        let task = ringloop::spawn(poll_fn(move |cx| {
            *w.borrow_mut() = Some(cx.waker().clone());
            if std::mem::take(&mut first) {
                cx.waker().wake_by_ref();
                Poll::Pending
            } else {
                Poll::Ready(9)
            }
        }));
        assert_eq!(task.await.unwrap(), 9);
        let wk = waker.borrow_mut().take().unwrap();
        wk.wake_by_ref();
        wk.wake();
        yield_times(3).await;
    });
}

#[test]
fn task_spawning_tasks_all_complete() {
    let total = ringloop::run(async {
        let outer: Vec<_> = (0..10u64)
            .map(|i| {
                ringloop::spawn(async move {
                    let inner: Vec<_> = (0..10u64)
                        .map(|j| ringloop::spawn(async move { i * 10 + j }))
                        .collect();
                    let mut sum = 0;
                    for t in inner {
                        sum += t.await.unwrap();
                    }
                    sum
                })
            })
            .collect();
        let mut sum = 0;
        for t in outer {
            sum += t.await.unwrap();
        }
        sum
    });
    assert_eq!(total, (0..100).sum::<u64>());
}

#[test]
fn task_handle_outlives_loop_and_resolves_cancelled() {
    on_each_backend(|backend| {
        let lp = new_loop(backend);
        let mut task = lp.spawn(ringloop::sleep(Duration::MAX));
        lp.run_until_complete(ringloop::yield_now());
        drop(lp);
        assert!(task.is_done());
        assert!(task.is_cancelled());
        let mut cx = std::task::Context::from_waker(Waker::noop());
        match std::future::Future::poll(std::pin::Pin::new(&mut task), &mut cx) {
            Poll::Ready(Err(TaskError::Cancelled)) => {}
            other => panic!("expected Ready(Err(Cancelled)), got {other:?}"),
        }
    });
}
