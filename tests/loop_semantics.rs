//! The loop's scheduling semantics (DESIGN.md, "Semantics to keep" 1, 5 and 7): the
//! snapshot rule, FIFO order shared by callbacks and tasks, stop, run_until_complete,
//! run's cleanup, the budget, and the syscall-free fast path. Every test asserts orders
//! and counts, never an upper bound on time.
//!
//! What involves the driver (a wait, stop, a timer, the close) runs on each backend;
//! `run`'s own cleanup, whose loop `ringloop::run` builds itself, runs in a child per
//! backend. The rest is pure scheduling and runs on the default backend.

mod support;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use ringloop::{EventLoop, ExceptionKind, ITERATION_BUDGET, TaskError};
use support::{
    DropFlag, Log, default_loop, for_each_backend, for_each_backend_by_env, log, new_loop,
    on_each_backend, record_exceptions,
};

/// Runs exactly one iteration of `lp` (stop before run_forever).
fn run_one_iteration(lp: &EventLoop) {
    lp.stop();
    lp.run_forever();
}

#[test]
fn iteration_runs_only_what_was_ready() {
    let lp = default_loop();
    let events = log();
    let e = events.clone();
    lp.call_soon(move || {
        e.borrow_mut().push("first");
        let e2 = e.clone();
        ringloop::call_soon(move || e2.borrow_mut().push("scheduled during iteration 1"));
    });
    let e = events.clone();
    lp.call_soon(move || e.borrow_mut().push("second"));

    run_one_iteration(&lp);
    assert_eq!(*events.borrow(), ["first", "second"]);

    run_one_iteration(&lp);
    assert_eq!(
        *events.borrow(),
        ["first", "second", "scheduled during iteration 1"]
    );
}

#[test]
fn task_spawned_during_iteration_waits_for_next_iteration() {
    let lp = default_loop();
    let events = log();
    let e = events.clone();
    lp.call_soon(move || {
        let e2 = e.clone();
        // Detached: the task keeps running.
        drop(ringloop::spawn(async move { e2.borrow_mut().push("task") }));
        e.borrow_mut().push("callback");
    });
    run_one_iteration(&lp);
    assert_eq!(*events.borrow(), ["callback"]);
    run_one_iteration(&lp);
    assert_eq!(*events.borrow(), ["callback", "task"]);
}

#[test]
fn call_soon_is_fifo() {
    let lp = default_loop();
    let order = log();
    for i in 0..100 {
        let o = order.clone();
        lp.call_soon(move || o.borrow_mut().push(i));
    }
    run_one_iteration(&lp);
    assert_eq!(*order.borrow(), (0..100).collect::<Vec<_>>());
}

#[test]
fn call_soon_from_inside_the_loop_is_fifo() {
    let order = log();
    let o = order.clone();
    ringloop::run(async move {
        for i in 0..50 {
            let o = o.clone();
            ringloop::call_soon(move || o.borrow_mut().push(i));
        }
        ringloop::yield_now().await;
        ringloop::yield_now().await;
    });
    assert_eq!(*order.borrow(), (0..50).collect::<Vec<_>>());
}

#[test]
fn yield_now_interleaves_two_tasks() {
    let order = log();
    let o = order.clone();
    ringloop::run(async move {
        let make = |name: &'static str| {
            let o = o.clone();
            ringloop::spawn(async move {
                for i in 1..=3 {
                    o.borrow_mut().push(format!("{name}{i}"));
                    ringloop::yield_now().await;
                }
            })
        };
        let a = make("a");
        let b = make("b");
        a.await.unwrap();
        b.await.unwrap();
    });
    assert_eq!(*order.borrow(), ["a1", "b1", "a2", "b2", "a3", "b3"]);
}

#[test]
fn callbacks_and_tasks_share_one_fifo() {
    let lp = default_loop();
    let order = log();
    let o = order.clone();
    lp.call_soon(move || o.borrow_mut().push("callback 1"));
    let o = order.clone();
    let t1 = lp.spawn(async move { o.borrow_mut().push("task 1") });
    let o = order.clone();
    lp.call_soon(move || o.borrow_mut().push("callback 2"));
    let o = order.clone();
    let t2 = lp.spawn(async move { o.borrow_mut().push("task 2") });
    let o = order.clone();
    lp.call_soon(move || o.borrow_mut().push("callback 3"));

    run_one_iteration(&lp);
    assert_eq!(
        *order.borrow(),
        ["callback 1", "task 1", "callback 2", "task 2", "callback 3"]
    );
    assert!(t1.is_done() && t2.is_done());
}

#[test]
fn woken_task_queues_behind_callbacks_scheduled_earlier() {
    let order = log();
    let o = order.clone();
    ringloop::run(async move {
        let o2 = o.clone();
        let task = ringloop::spawn(async move {
            o2.borrow_mut().push("task before yield");
            // Re-queues itself at the back of the one FIFO.
            ringloop::yield_now().await;
            o2.borrow_mut().push("task after yield");
        });
        let o3 = o.clone();
        ringloop::call_soon(move || {
            o3.borrow_mut().push("callback");
        });
        task.await.unwrap();
    });
    assert_eq!(
        *order.borrow(),
        ["task before yield", "callback", "task after yield"]
    );
}

#[test]
fn stop_before_run_forever_runs_one_iteration() {
    on_each_backend(|backend| {
        let lp = new_loop(backend);
        let ran = log();
        let r = ran.clone();
        lp.call_soon(move || {
            r.borrow_mut().push(1);
            let r2 = r.clone();
            ringloop::call_soon(move || r2.borrow_mut().push(2));
        });
        let before = lp.stats().iterations;
        lp.stop();
        lp.run_forever();
        assert_eq!(lp.stats().iterations, before + 1);
        assert_eq!(*ran.borrow(), [1]);
        assert!(!lp.is_running());
    });
}

#[test]
fn stop_before_run_forever_with_nothing_ready_still_returns() {
    on_each_backend(|backend| {
        let lp = new_loop(backend);
        let before = lp.stats().iterations;
        lp.stop();
        lp.run_forever();
        assert_eq!(lp.stats().iterations, before + 1);
    });
}

#[test]
fn stop_lets_the_current_iteration_finish() {
    on_each_backend(|backend| {
        let lp = Rc::new(new_loop(backend));
        let order = log();
        let (o, l) = (order.clone(), lp.clone());
        lp.call_soon(move || {
            o.borrow_mut().push("stopper");
            l.stop();
            let o2 = o.clone();
            ringloop::call_soon(move || o2.borrow_mut().push("next iteration"));
        });
        let o = order.clone();
        lp.call_soon(move || o.borrow_mut().push("same iteration"));
        lp.run_forever();
        assert_eq!(*order.borrow(), ["stopper", "same iteration"]);
        // The loop can be run again; what was scheduled is still there.
        run_one_iteration(&lp);
        assert_eq!(
            *order.borrow(),
            ["stopper", "same iteration", "next iteration"]
        );
    });
}

#[test]
fn stop_from_a_task_returns_from_run_forever() {
    on_each_backend(|backend| {
        let lp = Rc::new(new_loop(backend));
        let l = lp.clone();
        let steps = Rc::new(Cell::new(0));
        let s = steps.clone();
        let task = lp.spawn(async move {
            for _ in 0..5 {
                s.set(s.get() + 1);
                ringloop::yield_now().await;
            }
            l.stop();
            "stopped"
        });
        lp.run_forever();
        assert_eq!(steps.get(), 5);
        assert!(task.is_done());
        assert_eq!(lp.run_until_complete(task).unwrap(), "stopped");
    });
}

#[test]
fn run_until_complete_returns_the_output() {
    let lp = default_loop();
    let value = lp.run_until_complete(async {
        ringloop::yield_now().await;
        41 + 1
    });
    assert_eq!(value, 42);
    // A loop can run several futures in turn.
    assert_eq!(lp.run_until_complete(async { "again" }), "again");
}

#[test]
fn run_until_complete_polls_main_after_already_scheduled_work() {
    let lp = default_loop();
    let order = log();
    let o = order.clone();
    lp.call_soon(move || o.borrow_mut().push("scheduled before"));
    let o = order.clone();
    lp.run_until_complete(async move { o.borrow_mut().push("main") });
    assert_eq!(*order.borrow(), ["scheduled before", "main"]);
}

#[test]
fn run_until_complete_leaves_other_tasks_pending() {
    let lp = default_loop();
    let steps = Rc::new(Cell::new(0u32));
    let s = steps.clone();
    let dropped = Rc::new(Cell::new(false));
    let guard = DropFlag(dropped.clone());
    let mut other = lp.spawn(async move {
        let _guard = guard;
        for _ in 0..1000 {
            s.set(s.get() + 1);
            ringloop::yield_now().await;
        }
        "other finished"
    });
    lp.run_until_complete(async {
        for _ in 0..3 {
            ringloop::yield_now().await;
        }
    });
    assert!(steps.get() >= 1, "the other task ran alongside");
    assert!(steps.get() < 1000);
    assert!(!other.is_done(), "run_until_complete did not cancel it");
    assert!(!other.is_cancelled());
    assert!(!dropped.get(), "its future is still alive");
    assert_eq!(lp.stats().tasks_live, 1);

    // Running the loop again resumes it where it was.
    assert_eq!(lp.run_until_complete(&mut other).unwrap(), "other finished");
    assert_eq!(steps.get(), 1000);
    assert!(dropped.get());
}

#[test]
fn is_running_only_inside_run() {
    let lp = default_loop();
    assert!(!lp.is_running());
    let inside = lp.run_until_complete(async { lp.is_running() });
    assert!(inside);
    assert!(!lp.is_running());
}

#[test]
fn run_cancels_leftover_tasks() {
    for_each_backend_by_env("run_cancels_leftover_tasks", || {
        let dropped = Rc::new(Cell::new(false));
        let body_after_await = Rc::new(Cell::new(false));
        let never_started = Rc::new(Cell::new(false));
        let (d, b, n) = (
            dropped.clone(),
            body_after_await.clone(),
            never_started.clone(),
        );
        let value = ringloop::run(async move {
            let guard = DropFlag(d);
            // Detached and suspended forever.
            drop(ringloop::spawn(async move {
                let _guard = guard;
                ringloop::sleep(Duration::MAX).await;
                b.set(true);
            }));
            ringloop::yield_now().await;
            // Spawned in the last iteration: it never gets to run.
            drop(ringloop::spawn(async move { n.set(true) }));
            "main done"
        });
        assert_eq!(value, "main done");
        assert!(dropped.get(), "the leftover task's future was dropped");
        assert!(!body_after_await.get());
        assert!(
            !never_started.get(),
            "a task cancelled before its first run never runs its body"
        );
    });
}

#[test]
fn run_runs_done_callbacks_of_cancelled_leftover_tasks() {
    for_each_backend_by_env(
        "run_runs_done_callbacks_of_cancelled_leftover_tasks",
        || {
            // `run`'s doc: leftover tasks are cancelled "in the loop, so done callbacks run".
            let done_seen: Log<&'static str> = log();
            let seen = done_seen.clone();
            ringloop::run(async move {
                let suspended = ringloop::spawn(ringloop::sleep(Duration::MAX));
                suspended.add_done_callback(move |r| {
                    seen.borrow_mut().push(match r {
                        Err(TaskError::Cancelled) => "cancelled",
                        Err(TaskError::Panicked(_)) => "panicked",
                        Ok(()) => "finished",
                    })
                });
                ringloop::yield_now().await;
            });
            assert_eq!(*done_seen.borrow(), ["cancelled"]);
        },
    );
}

#[test]
fn run_cancels_tasks_spawned_by_cancelled_tasks_destructors() {
    for_each_backend_by_env(
        "run_cancels_tasks_spawned_by_cancelled_tasks_destructors",
        || {
            struct SpawnOnDrop(Rc<Cell<bool>>);
            impl Drop for SpawnOnDrop {
                fn drop(&mut self) {
                    // Spawning needs a running loop: run cancels leftovers inside the loop.
                    let guard = DropFlag(self.0.clone());
                    drop(ringloop::spawn(async move {
                        let _guard = guard;
                        ringloop::sleep(Duration::MAX).await;
                    }));
                }
            }
            let second_dropped = Rc::new(Cell::new(false));
            let s = second_dropped.clone();
            ringloop::run(async move {
                drop(ringloop::spawn(async move {
                    let _guard = SpawnOnDrop(s);
                    ringloop::sleep(Duration::MAX).await;
                }));
                ringloop::yield_now().await;
            });
            assert!(second_dropped.get());
        },
    );
}

#[test]
fn dropping_the_loop_drops_pending_tasks_and_callbacks() {
    on_each_backend(|backend| {
        let task_dropped = Rc::new(Cell::new(false));
        let callback_dropped = Rc::new(Cell::new(false));
        let timer_dropped = Rc::new(Cell::new(false));
        {
            let lp = new_loop(backend);
            let guard = DropFlag(task_dropped.clone());
            let task = lp.spawn(async move {
                let _guard = guard;
                std::future::pending::<()>().await;
            });
            lp.run_until_complete(ringloop::yield_now());
            let guard = DropFlag(callback_dropped.clone());
            lp.call_soon(move || drop(guard));
            let guard = DropFlag(timer_dropped.clone());
            lp.call_later(Duration::from_secs(3600), move || drop(guard));
            drop(lp);
            assert!(task.is_done());
            assert!(task.is_cancelled());
        }
        assert!(task_dropped.get());
        assert!(callback_dropped.get());
        assert!(timer_dropped.get());
    });
}

#[test]
fn callback_panic_reaches_handler() {
    let lp = default_loop();
    let reports = record_exceptions(&lp);
    let after = Rc::new(Cell::new(false));
    lp.call_soon(|| panic!("callback boom"));
    let a = after.clone();
    lp.call_soon(move || a.set(true));
    run_one_iteration(&lp);
    assert!(after.get(), "the next callback still ran");
    assert_eq!(
        *reports.borrow(),
        [(ExceptionKind::CallbackPanicked, "callback boom".to_string())]
    );
    // The loop keeps working.
    assert_eq!(lp.run_until_complete(async { 7 }), 7);
    assert_eq!(reports.borrow().len(), 1);
}

#[test]
fn call_later_panic_reaches_handler() {
    for_each_backend(|lp| {
        let reports = record_exceptions(lp);
        lp.call_later(Duration::from_millis(1), || panic!("timer boom"));
        lp.run_until_complete(ringloop::sleep(Duration::from_millis(5)));
        assert_eq!(
            *reports.borrow(),
            [(ExceptionKind::CallbackPanicked, "timer boom".to_string())]
        );
    });
}

#[test]
fn exception_handler_panic_does_not_stop_loop() {
    let lp = default_loop();
    let calls = Rc::new(Cell::new(0));
    let c = calls.clone();
    lp.set_exception_handler(move |_| {
        c.set(c.get() + 1);
        panic!("the handler itself panics");
    });
    lp.call_soon(|| panic!("first"));
    lp.call_soon(|| panic!("second"));
    run_one_iteration(&lp);
    assert_eq!(
        calls.get(),
        2,
        "the handler stays installed after it panicked"
    );
    assert_eq!(lp.run_until_complete(async { 1 }), 1);
}

#[test]
fn call_soon_cancel_prevents_run_and_drops_closure() {
    let lp = default_loop();
    let ran = Rc::new(Cell::new(false));
    let dropped = Rc::new(Cell::new(false));
    let (r, guard) = (ran.clone(), DropFlag(dropped.clone()));
    let handle = lp.call_soon(move || {
        let _guard = guard;
        r.set(true);
    });
    assert!(!handle.is_cancelled());
    assert!(handle.cancel());
    assert!(dropped.get(), "cancel drops the closure at once");
    assert!(handle.is_cancelled());
    assert!(!handle.cancel(), "a second cancel reports nothing to do");
    run_one_iteration(&lp);
    assert!(!ran.get());
}

#[test]
fn call_soon_cancel_after_run_returns_false() {
    let lp = default_loop();
    let handle = lp.call_soon(|| {});
    run_one_iteration(&lp);
    assert!(!handle.cancel());
    assert!(!handle.is_cancelled());
}

#[test]
fn iteration_runs_at_most_budget_nodes() {
    let lp = default_loop();
    let count = Rc::new(Cell::new(0usize));
    let total = ITERATION_BUDGET * 2 + 5;
    for _ in 0..total {
        let c = count.clone();
        lp.call_soon(move || c.set(c.get() + 1));
    }
    run_one_iteration(&lp);
    assert_eq!(count.get(), ITERATION_BUDGET);
    run_one_iteration(&lp);
    assert_eq!(count.get(), 2 * ITERATION_BUDGET);
    run_one_iteration(&lp);
    assert_eq!(count.get(), total);
}

#[test]
fn loop_makes_no_syscall_when_work_is_ready() {
    for_each_backend(|lp| {
        // Warm up: a real wait arms whatever the driver keeps armed.
        lp.run_until_complete(ringloop::sleep(Duration::from_millis(1)));
        let before = lp.stats();
        assert_eq!(before.timers_pending, 0);
        assert_eq!(before.ops_in_flight, 0);
        lp.run_until_complete(async {
            let a = ringloop::spawn(async {
                for _ in 0..500 {
                    ringloop::yield_now().await;
                }
            });
            for _ in 0..500 {
                ringloop::yield_now().await;
            }
            a.await.unwrap();
        });
        let after = lp.stats();
        let iterations = after.iterations - before.iterations;
        let enters = after.io_uring_enters - before.io_uring_enters;
        let polled = after.tasks_polled - before.tasks_polled;
        assert!(iterations >= 500, "{iterations} iterations");
        // io_uring sees its completions without a syscall. epoll cannot, so it looks (one
        // nonblocking epoll_wait) once per iteration budget of work, lest I/O starve.
        let allowed = match lp.backend() {
            // What ran: the tasks' polls, and the main future's, one per iteration.
            ringloop::Backend::Epoll => {
                2 + (polled + iterations) / ringloop::ITERATION_BUDGET as u64
            }
            _ => 2,
        };
        assert!(
            enters <= allowed,
            "{enters} waits for I/O over {iterations} iterations ({polled} polls) that always \
         had work ready"
        );
    });
}

#[test]
fn stats_count_spawned_and_polled_tasks() {
    let lp = default_loop();
    let before = lp.stats();
    lp.run_until_complete(async {
        let t = ringloop::spawn(async {
            ringloop::yield_now().await;
            ringloop::yield_now().await;
        });
        t.await.unwrap();
    });
    let after = lp.stats();
    assert_eq!(after.tasks_spawned - before.tasks_spawned, 1);
    assert_eq!(after.tasks_polled - before.tasks_polled, 3);
    assert_eq!(after.tasks_live, 0);
}

#[test]
fn closing_the_loop_drops_pending_callbacks_even_while_their_handle_is_held() {
    on_each_backend(|backend| {
        let lp = new_loop(backend);
        let later_dropped = Rc::new(Cell::new(false));
        let soon_dropped = Rc::new(Cell::new(false));
        let guard = DropFlag(later_dropped.clone());
        let later = lp.call_later(Duration::from_secs(3600), move || drop(guard));
        let guard = DropFlag(soon_dropped.clone());
        let soon = lp.call_soon(move || drop(guard));
        drop(lp);
        assert!(
            later_dropped.get(),
            "a call_later closure outlived its loop"
        );
        assert!(soon_dropped.get(), "a call_soon closure outlived its loop");
        // The handles stay usable: cancelling after the close is a harmless no-op.
        assert!(!later.cancel());
        assert!(!soon.cancel());
    });
}

#[test]
fn a_failure_released_by_the_close_reaches_the_installed_handler() {
    on_each_backend(|backend| {
        // A task holds the handle of a task that panicked; nobody looked at the failure
        // before the loop closed. Dropping the holder at close drops that handle, and the
        // failure goes to the loop's own handler, not past it.
        let lp = new_loop(backend);
        let heard = record_exceptions(&lp);
        let failing = lp.spawn(async { panic!("nobody looks at this") });
        lp.spawn(async move {
            let _held = failing;
            ringloop::sleep(Duration::MAX).await;
        });
        lp.run_until_complete(ringloop::yield_now());
        assert!(heard.borrow().is_empty());
        drop(lp);
        assert_eq!(
            *heard.borrow(),
            [(
                ExceptionKind::TaskNeverRetrieved,
                "nobody looks at this".to_string()
            )]
        );
    });
}
