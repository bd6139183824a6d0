//! Eager tasks (`EventLoop::spawn_eager`, `ringloop::spawn_eager`,
//! `Builder::eager_tasks`): the first step runs before the spawn returns; everything
//! after the first suspension is ordinary. Ordering against plain spawns, panics,
//! cancellation, nesting, done callbacks, and the no-running-loop fallback.
//!
//! The tests that sleep run on each backend; the others are pure scheduling (no I/O, no
//! timer, no wait) and run on the default backend.

mod support;

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Duration;

use ringloop::{EventLoop, ExceptionKind};
use support::{
    DropFlag, Log, default_loop, for_each_backend, log, record_exceptions, task_panic_message,
};

fn eager_loop() -> EventLoop {
    EventLoop::builder()
        .eager_tasks(true)
        .build()
        .expect("an event loop can be created here")
}

/// A task body that logs `name:0`, yields, logs `name:1`, yields, logs `name:2`.
async fn steps(log: Log<String>, name: &'static str) -> &'static str {
    for i in 0..3 {
        if i > 0 {
            ringloop::yield_now().await;
        }
        log.borrow_mut().push(format!("{name}:{i}"));
    }
    name
}

#[test]
fn eager_first_step_runs_before_spawn_returns() {
    let order = log();
    ringloop::run({
        let order = order.clone();
        async move {
            order.borrow_mut().push("spawner:before".to_string());
            let t = ringloop::spawn_eager(steps(order.clone(), "t"));
            order.borrow_mut().push("spawner:after".to_string());
            assert_eq!(t.await.unwrap(), "t");
        }
    });
    assert_eq!(
        *order.borrow(),
        ["spawner:before", "t:0", "spawner:after", "t:1", "t:2"]
    );
}

/// The one place eager and plain spawns order differently: the new task's first step
/// runs ahead of tasks that were already ready. After that, FIFO as usual: `b` yielded
/// in its first step, so it is queued right behind `a` (whose first step was ready) and
/// stays one step ahead of it.
#[test]
fn eager_first_step_runs_before_already_ready_tasks() {
    fn scenario(eager: bool) -> Vec<String> {
        let order = log();
        ringloop::run({
            let order = order.clone();
            async move {
                let a = ringloop::spawn(steps(order.clone(), "a"));
                let b = if eager {
                    ringloop::spawn_eager(steps(order.clone(), "b"))
                } else {
                    ringloop::spawn(steps(order.clone(), "b"))
                };
                a.await.unwrap();
                b.await.unwrap();
            }
        });
        order.take()
    }
    assert_eq!(scenario(false), ["a:0", "b:0", "a:1", "b:1", "a:2", "b:2"]);
    assert_eq!(scenario(true), ["b:0", "a:0", "b:1", "a:1", "b:2", "a:2"]);
}

#[test]
fn eager_tasks_yielding_in_turn_interleave() {
    let order = log();
    ringloop::run({
        let order = order.clone();
        async move {
            let a = ringloop::spawn_eager(steps(order.clone(), "a"));
            let b = ringloop::spawn_eager(steps(order.clone(), "b"));
            a.await.unwrap();
            b.await.unwrap();
        }
    });
    assert_eq!(*order.borrow(), ["a:0", "b:0", "a:1", "b:1", "a:2", "b:2"]);
}

#[test]
fn eager_task_that_finishes_is_done_and_never_queued() {
    let lp = default_loop();
    let before = lp.stats();
    let value = lp.run_until_complete(async {
        let t = ringloop::spawn_eager(async { 41 + 1 });
        assert!(t.is_done(), "finished in its first step");
        t.await.unwrap()
    });
    assert_eq!(value, 42);
    let after = lp.stats();
    assert_eq!(after.tasks_spawned - before.tasks_spawned, 1);
    assert_eq!(after.tasks_polled - before.tasks_polled, 1, "polled once");
    assert_eq!(
        after.iterations - before.iterations,
        1,
        "the main future finished in the first iteration"
    );
    assert_eq!(after.tasks_live, 0);
}

#[test]
fn eager_task_suspends_and_is_woken_by_what_it_awaits() {
    let lp = default_loop();
    let stash: Rc<RefCell<Option<Waker>>> = Rc::default();
    let out = lp.run_until_complete({
        let stash = stash.clone();
        async move {
            let s = stash.clone();
            let mut polls = 0;
            let t = ringloop::spawn_eager(poll_fn(move |cx| {
                polls += 1;
                if polls == 1 {
                    // The waker registered during the eager poll.
                    *s.borrow_mut() = Some(cx.waker().clone());
                    Poll::Pending
                } else {
                    Poll::Ready(polls)
                }
            }));
            assert!(!t.is_done());
            ringloop::yield_now().await;
            assert!(!t.is_done(), "nobody woke it yet");
            stash.borrow_mut().take().unwrap().wake();
            t.await.unwrap()
        }
    });
    assert_eq!(out, 2);
    assert_eq!(lp.stats().tasks_live, 0);
}

#[test]
fn eager_task_sleeping_in_first_step_completes() {
    for_each_backend(|lp| {
        let out = lp.run_until_complete(async {
            let t = ringloop::spawn_eager(async {
                ringloop::sleep(Duration::from_millis(2)).await;
                "slept"
            });
            assert!(!t.is_done());
            t.await
        });
        assert_eq!(out.unwrap(), "slept");
    });
}

#[test]
fn eager_self_wake_runs_once_in_the_next_iteration() {
    let lp = default_loop();
    let polls = Rc::new(Cell::new(0));
    lp.run_until_complete({
        let polls = polls.clone();
        async move {
            let p = polls.clone();
            let t = ringloop::spawn_eager(poll_fn(move |cx| {
                p.set(p.get() + 1);
                if p.get() == 1 {
                    cx.waker().wake_by_ref();
                    cx.waker().wake_by_ref();
                    Poll::Pending
                } else {
                    Poll::Ready(())
                }
            }));
            assert_eq!(polls.get(), 1);
            t.await.unwrap();
        }
    });
    assert_eq!(polls.get(), 2);
}

#[test]
fn eager_panic_resolves_panicked_and_never_unwinds_into_the_spawner() {
    let lp = default_loop();
    let reports = record_exceptions(&lp);
    let (err, after) = lp.run_until_complete(async {
        let t = ringloop::spawn_eager(async {
            if true {
                panic!("eager boom");
            }
        });
        assert!(t.is_done());
        // The spawner carries on: the panic stayed in the task.
        let after = ringloop::spawn_eager(async { 5 }).await.unwrap();
        (t.await.unwrap_err(), after)
    });
    assert!(err.is_panic());
    assert_eq!(task_panic_message(err), "eager boom");
    assert_eq!(after, 5);
    assert!(reports.borrow().is_empty(), "the failure was retrieved");
}

#[test]
fn eager_panic_never_retrieved_is_reported_once() {
    let lp = default_loop();
    let reports = record_exceptions(&lp);
    lp.run_until_complete(async {
        drop(ringloop::spawn_eager(async {
            if true {
                panic!("lost");
            }
        }));
        ringloop::yield_now().await;
    });
    assert_eq!(
        *reports.borrow(),
        [(ExceptionKind::TaskNeverRetrieved, "lost".to_string())]
    );
}

#[test]
fn cancel_of_an_eagerly_finished_task_is_false() {
    ringloop::run(async {
        let t = ringloop::spawn_eager(async { 1 });
        assert!(!t.cancel());
        assert!(!t.is_cancelled());
        assert_eq!(t.await.unwrap(), 1);
    });
}

#[test]
fn cancel_of_a_suspended_eager_task_drops_it_at_the_await_point() {
    for_each_backend(|lp| {
        let dropped = Rc::new(Cell::new(false));
        let resumed = Rc::new(Cell::new(false));
        lp.run_until_complete({
            let dropped = dropped.clone();
            let resumed = resumed.clone();
            async move {
                let t = ringloop::spawn_eager(async move {
                    let _flag = DropFlag(dropped);
                    ringloop::sleep(Duration::from_secs(60)).await;
                    resumed.set(true);
                });
                assert!(!t.is_done());
                assert!(t.cancel());
                let err = t.await.unwrap_err();
                assert!(err.is_cancelled());
            }
        });
        assert!(dropped.get(), "the destructor ran");
        assert!(!resumed.get());
    });
}

#[test]
fn nested_spawn_eager_runs_inner_first_step_inside_outer() {
    let order = log();
    ringloop::run({
        let order = order.clone();
        async move {
            let o = order.clone();
            let outer = ringloop::spawn_eager(async move {
                o.borrow_mut().push("outer:start".to_string());
                let inner = ringloop::spawn_eager(steps(o.clone(), "inner"));
                o.borrow_mut().push("outer:spawned".to_string());
                inner.await.unwrap();
                o.borrow_mut().push("outer:end".to_string());
            });
            order.borrow_mut().push("main".to_string());
            outer.await.unwrap();
        }
    });
    assert_eq!(
        *order.borrow(),
        [
            "outer:start",
            "inner:0",
            "outer:spawned",
            "main",
            "inner:1",
            "inner:2",
            "outer:end"
        ]
    );
}

/// Each level spawns the next eagerly and awaits it: past the nesting cap the spawn is
/// queued, so deep recursion completes instead of overflowing the stack.
#[test]
fn deep_eager_recursion_falls_back_to_queueing() {
    fn chain(depth: u32, max: u32, immediate: Rc<Cell<u32>>) -> ringloop::Task<u32> {
        ringloop::spawn_eager(Box::pin(async move {
            immediate.set(immediate.get().max(depth));
            if depth == max {
                return depth;
            }
            chain(depth + 1, max, immediate).await.unwrap()
        }))
    }
    let immediate = Rc::new(Cell::new(0));
    let out = ringloop::run({
        let immediate = immediate.clone();
        async move {
            let t = chain(1, 1000, immediate.clone());
            let first = immediate.get();
            (t.await.unwrap(), first)
        }
    });
    assert_eq!(out.0, 1000);
    assert!(
        (2..1000).contains(&out.1),
        "nesting stopped early: {} levels ran before the first spawn returned",
        out.1
    );
}

#[test]
fn done_callbacks_of_eager_tasks_are_scheduled_never_inline() {
    let order = log();
    ringloop::run({
        let order = order.clone();
        async move {
            let t = ringloop::spawn_eager(async { 3 });
            assert!(t.is_done());
            let o = order.clone();
            t.add_done_callback(move |r| {
                o.borrow_mut().push(format!("cb:{}", r.as_ref().unwrap()))
            });
            order.borrow_mut().push("after add".to_string());
            // A suspended eager task: the callback is added before it completes.
            let tx = Rc::new(ringloop::sync::Event::new());
            let ev = tx.clone();
            let u = ringloop::spawn_eager(async move {
                ev.wait().await;
                4
            });
            let o = order.clone();
            u.add_done_callback(move |r| {
                o.borrow_mut().push(format!("cb:{}", r.as_ref().unwrap()))
            });
            tx.set();
            order.borrow_mut().push("set".to_string());
            assert_eq!(t.await.unwrap(), 3);
            assert_eq!(u.await.unwrap(), 4);
        }
    });
    assert_eq!(*order.borrow(), ["after add", "set", "cb:3", "cb:4"]);
}

#[test]
fn spawn_eager_with_no_running_loop_queues_like_spawn() {
    let lp = default_loop();
    let ran = Rc::new(Cell::new(false));
    let r = ran.clone();
    let t = lp.spawn_eager(async move {
        r.set(true);
        7
    });
    assert!(!ran.get(), "no loop runs: nothing polls it now");
    assert!(!t.is_done());
    assert_eq!(lp.run_until_complete(t).unwrap(), 7);
    assert!(ran.get());
}

#[test]
#[should_panic(expected = "ringloop::spawn_eager() needs a running ringloop event loop")]
fn free_spawn_eager_without_a_loop_panics_clearly() {
    drop(ringloop::spawn_eager(async {}));
}

#[test]
fn event_loop_spawn_eager_while_running_is_eager() {
    let lp = Rc::new(default_loop());
    let ran = Rc::new(Cell::new(false));
    let inner = lp.clone();
    let r = ran.clone();
    lp.run_until_complete(async move {
        let t = inner.spawn_eager(async move { r.set(true) });
        assert!(ran.get());
        t.await.unwrap();
    });
}

#[test]
fn builder_eager_tasks_makes_spawn_eager() {
    let lp = eager_loop();
    let order = log();
    lp.run_until_complete({
        let order = order.clone();
        async move {
            let a = ringloop::spawn(steps(order.clone(), "a"));
            order.borrow_mut().push("spawned".to_string());
            a.await.unwrap();
        }
    });
    assert_eq!(*order.borrow(), ["a:0", "spawned", "a:1", "a:2"]);

    // Before the loop runs, even an eager loop queues.
    let ran = Rc::new(Cell::new(false));
    let r = ran.clone();
    let t = lp.spawn(async move { r.set(true) });
    assert!(!ran.get());
    lp.run_until_complete(t).unwrap();
    assert!(ran.get());
}

#[test]
fn plain_loop_spawn_stays_lazy() {
    let lp = default_loop();
    lp.run_until_complete(async {
        let ran = Rc::new(Cell::new(false));
        let r = ran.clone();
        let t = ringloop::spawn(async move { r.set(true) });
        assert!(!ran.get());
        t.await.unwrap();
        assert!(ran.get());
    });
}

#[test]
fn eager_spawn_from_a_callback() {
    let lp = default_loop();
    let out: Rc<RefCell<Option<ringloop::Task<u8>>>> = Rc::default();
    let o = out.clone();
    lp.call_soon(move || {
        let t = ringloop::spawn_eager(async { 9 });
        assert!(t.is_done());
        *o.borrow_mut() = Some(t);
    });
    lp.run_until_complete(ringloop::yield_now());
    let t = out.borrow_mut().take().unwrap();
    assert_eq!(lp.run_until_complete(t).unwrap(), 9);
}

#[test]
fn run_cancels_suspended_eager_leftovers() {
    let dropped = Rc::new(Cell::new(false));
    let d = dropped.clone();
    ringloop::run(async move {
        let t = ringloop::spawn_eager(async move {
            let _flag = DropFlag(d);
            std::future::pending::<()>().await;
        });
        drop(t);
    });
    assert!(dropped.get());
}

#[test]
fn eager_results_match_plain_spawn_results() {
    fn sum(eager: bool) -> u64 {
        let lp = if eager { eager_loop() } else { default_loop() };
        lp.run_until_complete(async {
            let handles: Vec<_> = (0..200u64)
                .map(|i| {
                    ringloop::spawn(async move {
                        if i % 3 == 0 {
                            ringloop::yield_now().await;
                        }
                        i
                    })
                })
                .collect();
            let mut s = 0;
            for h in handles {
                s += h.await.unwrap();
            }
            s
        })
    }
    assert_eq!(sum(true), sum(false));
    assert_eq!(sum(true), (0..200).sum());
}

#[test]
fn wait_and_gather_accept_eagerly_finished_tasks() {
    ringloop::run(async {
        let tasks = vec![
            ringloop::spawn_eager(async { 1 }),
            ringloop::spawn_eager(async {
                ringloop::yield_now().await;
                2
            }),
        ];
        let (done, pending) = ringloop::wait(tasks, ringloop::ReturnWhen::FirstCompleted).await;
        assert_eq!((done.len(), pending.len()), (1, 1));
        let mut all = done;
        all.extend(pending);
        let values = ringloop::gather(all).await;
        let values: Vec<_> = values.into_iter().map(Result::unwrap).collect();
        assert_eq!(values, [1, 2]);
    });
}

/// A value whose destructor panics.
struct PanicOnDrop;

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        panic!("value destructor");
    }
}

#[test]
fn unclaimed_eager_value_with_panicking_destructor_is_reported_once() {
    let lp = default_loop();
    let reports = record_exceptions(&lp);
    lp.run_until_complete(async {
        let t = ringloop::spawn_eager(async { PanicOnDrop });
        assert!(t.is_done());
        drop(t);
        ringloop::yield_now().await;
    });
    assert_eq!(
        *reports.borrow(),
        [(
            ExceptionKind::TaskNeverRetrieved,
            "value destructor".to_string()
        )]
    );
}

#[test]
fn eager_task_that_keeps_its_waker_still_resolves() {
    let stash: Rc<RefCell<Option<Waker>>> = Rc::default();
    let lp = default_loop();
    let out = lp.run_until_complete({
        let stash = stash.clone();
        async move {
            let t = ringloop::spawn_eager(poll_fn(move |cx| {
                *stash.borrow_mut() = Some(cx.waker().clone());
                Poll::Ready("kept")
            }));
            assert!(t.is_done());
            assert!(!t.cancel());
            t.await.unwrap()
        }
    });
    assert_eq!(out, "kept");
    // Waking a finished task is a harmless no-op, and the last waker frees the node.
    stash.borrow_mut().take().unwrap().wake();
    lp.run_until_complete(ringloop::yield_now());
    assert_eq!(lp.stats().tasks_live, 0);
}

#[test]
#[should_panic(expected = "Task polled again after it returned its result")]
fn eager_handle_polled_after_its_value_was_taken_panics() {
    ringloop::run(async {
        let mut t = ringloop::spawn_eager(async { 1 });
        assert_eq!((&mut t).await.unwrap(), 1);
        let _ = (&mut t).await;
    });
}

#[test]
fn eager_handle_debug_says_it_finished() {
    ringloop::run(async {
        let t = ringloop::spawn_eager(async { 1 });
        let shown = format!("{t:?}");
        assert!(shown.contains("COMPLETE"), "{shown}");
        assert!(shown.contains(&format!("id: {}", t.id())), "{shown}");
    });
}
