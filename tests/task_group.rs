//! `TaskGroup` (DESIGN.md, "Semantics to keep" 8): asyncio's `TaskGroup` behaviours
//! (CPython's `test_taskgroups.py`, ported to `join_all` / `join_next` and `Drop`) and
//! tokio's `JoinSet` ones (`len`, completion order, reuse).
//!
//! Tests whose tasks sleep run on each backend; pure scheduling runs on the default one.

mod support;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use ringloop::{EventLoop, ExceptionKind, TaskError, TaskGroup};
use support::{
    DropFlag, default_loop, for_each_backend, guard, log, record_exceptions, run_on_each_backend,
    task_panic_message, yield_times,
};

#[global_allocator]
static ALLOC: testkit::CountingAlloc = testkit::CountingAlloc::new();

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A child that sleeps `n` ms and returns `n`.
async fn sleeper(n: u64) -> u64 {
    ringloop::sleep(ms(n)).await;
    n
}

// ---------------------------------------------------------------------------------------
// Results

/// taskgroup_01: every child's result is there once the group is done, whatever order
/// they finished in.
#[test]
fn join_all_returns_results_in_spawn_order() {
    run_on_each_backend(|| async {
        let mut group = TaskGroup::new();
        for n in [15, 1, 8, 3] {
            group.spawn(sleeper(n));
        }
        assert_eq!(group.len(), 4);
        assert_eq!(group.join_all().await.unwrap(), [15, 1, 8, 3]);
        assert!(group.is_empty());
    });
}

#[test]
fn join_next_yields_in_completion_order() {
    run_on_each_backend(|| async {
        let mut group = TaskGroup::new();
        for n in [12, 2, 7] {
            group.spawn(sleeper(n));
        }
        let mut order = Vec::new();
        while let Some(result) = group.join_next().await {
            order.push(result.unwrap());
        }
        assert_eq!(order, [2, 7, 12]);
        assert!(group.join_next().await.is_none(), "stays empty");
    });
}

#[test]
fn join_next_order_follows_completion_within_one_iteration() {
    ringloop::run(async {
        let mut group = TaskGroup::new();
        // Each finishes after `n` yields; equal counts finish in spawn order.
        for (name, n) in [("c", 3), ("a", 1), ("b", 2), ("a2", 1)] {
            group.spawn(async move {
                yield_times(n).await;
                name
            });
        }
        let mut order = Vec::new();
        while let Some(result) = group.join_next().await {
            order.push(result.unwrap());
        }
        assert_eq!(order, ["a", "a2", "b", "c"]);
    });
}

/// An empty group: nothing to wait for (asyncio's empty `async with TaskGroup()`).
#[test]
fn empty_group_joins_at_once() {
    ringloop::run(async {
        let mut group: TaskGroup<u8> = TaskGroup::new();
        assert!(group.is_empty());
        assert!(group.join_next().await.is_none());
        assert_eq!(group.join_all().await.unwrap(), Vec::<u8>::new());
    });
}

#[test]
fn len_counts_tasks_until_joined() {
    ringloop::run(async {
        let mut group = TaskGroup::new();
        group.spawn(async { 1 });
        group.spawn(async { 2 });
        yield_times(2).await;
        // Finished but not joined: still counted (tokio's JoinSet).
        assert_eq!(group.len(), 2);
        group.join_next().await.unwrap().unwrap();
        assert_eq!(group.len(), 1);
        group.join_next().await.unwrap().unwrap();
        assert_eq!(group.len(), 0);
    });
}

/// A group can be used again after it was drained, and slots are reused: spawn order of
/// `join_all` is the order of spawning, not of slots.
#[test]
fn group_is_reusable_and_keeps_spawn_order_across_reused_slots() {
    ringloop::run(async {
        let mut group = TaskGroup::new();
        for n in 0..4u32 {
            group.spawn(async move {
                yield_times(4 - n as usize).await;
                n
            });
        }
        // Join two (slots 3 and 2 free up), then spawn three more.
        assert_eq!(group.join_next().await.unwrap().unwrap(), 3);
        assert_eq!(group.join_next().await.unwrap().unwrap(), 2);
        for n in 10..13u32 {
            group.spawn(async move { n });
        }
        assert_eq!(group.join_all().await.unwrap(), [0, 1, 10, 11, 12]);
        group.spawn(async { 99 });
        assert_eq!(group.join_all().await.unwrap(), [99]);
    });
}

// ---------------------------------------------------------------------------------------
// Failure cancels the rest (taskgroup_03, _04, _08, cancel_children_on_child_error)

/// taskgroup_03 / test_cancel_children_on_child_error: one child fails; its siblings are
/// cancelled (their destructors run) and `join_all` returns the failure only after all of
/// them are gone.
#[test]
fn first_panic_cancels_siblings_and_is_returned_after_they_are_gone() {
    run_on_each_backend(|| async {
        let cleaned = Rc::new(Cell::new(0));
        let mut group = TaskGroup::new();
        for _ in 0..3 {
            let guard = Counted(cleaned.clone());
            group.spawn(async move {
                let _guard = guard;
                ringloop::sleep(Duration::from_secs(60)).await;
                0
            });
        }
        group.spawn(async {
            ringloop::sleep(ms(2)).await;
            panic!("child failed")
        });
        let started = std::time::Instant::now();
        let err = guard("join_all", group.join_all()).await.unwrap_err();
        assert_eq!(task_panic_message(err), "child failed");
        assert_eq!(
            cleaned.get(),
            3,
            "every sibling was cancelled before join_all returned"
        );
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "nobody slept the 60 s"
        );
        assert!(group.is_empty());
    });
}

struct Counted(Rc<Cell<u32>>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

/// taskgroup_04: several children fail. asyncio gathers them in an ExceptionGroup;
/// `join_all` returns the first and retrieves the others (nothing reaches the exception
/// handler).
#[test]
fn first_of_several_panics_wins_and_none_is_reported() {
    let lp = default_loop();
    let reports = record_exceptions(&lp);
    lp.run_until_complete(async {
        let mut group = TaskGroup::new();
        group.spawn(async {
            yield_times(2).await;
            panic!("second")
        });
        group.spawn(async {
            yield_times(1).await;
            panic!("first")
        });
        group.spawn(async {
            yield_times(1).await;
            panic!("first too, but later in the iteration")
        });
        let err = group.join_all().await.unwrap_err();
        assert_eq!(task_panic_message(err), "first");
    });
    drop(lp);
    assert!(reports.borrow().is_empty(), "{:?}", reports.borrow());
}

/// Siblings that finished before the failure are not "cancelled" after the fact, and a
/// sibling spawned after the failing one that has not run yet never runs its body.
#[test]
fn panic_cancels_only_unfinished_siblings() {
    ringloop::run(async {
        let ran = Rc::new(Cell::new(false));
        let mut group = TaskGroup::new();
        group.spawn(async { 1 });
        group.spawn(async {
            yield_times(1).await;
            panic!("boom")
        });
        let r = ran.clone();
        group.spawn(async move {
            yield_times(3).await;
            r.set(true);
            3
        });
        assert!(group.join_all().await.unwrap_err().is_panic());
        assert!(
            !ran.get(),
            "the unfinished sibling was cancelled at its await point"
        );
    });
}

/// The `_on_task_done` rule: a child cancelled from outside the group does not abort
/// the group; its siblings run to the end. `join_all` reports the cancellation as it
/// has no value for that child.
#[test]
fn child_cancelled_from_outside_does_not_cancel_siblings() {
    run_on_each_backend(|| async {
        let finished = Rc::new(Cell::new(0));
        let mut group = TaskGroup::new();
        let victim = group.spawn(async {
            ringloop::sleep(Duration::from_secs(60)).await;
            0
        });
        victim.cancel();
        for n in [3, 1] {
            let f = finished.clone();
            group.spawn(async move {
                ringloop::sleep(ms(n)).await;
                f.set(f.get() + 1);
                n
            });
        }
        let err = group.join_all().await.unwrap_err();
        assert!(err.is_cancelled(), "{err:?}");
        assert_eq!(finished.get(), 2, "the siblings ran to completion");
    });
}

/// A panic after a child was cancelled from outside still cancels the rest and is what
/// `join_all` returns.
#[test]
fn panic_after_outside_cancellation_takes_precedence() {
    ringloop::run(async {
        let mut group = TaskGroup::new();
        group.spawn(std::future::pending::<u8>()).cancel();
        group.spawn(async {
            yield_times(2).await;
            panic!("later panic")
        });
        group.spawn(std::future::pending::<u8>());
        let err = group.join_all().await.unwrap_err();
        assert_eq!(task_panic_message(err), "later panic");
    });
}

/// join_next reports a failure and leaves the others alone (JoinSet).
#[test]
fn join_next_does_not_cancel_on_failure() {
    ringloop::run(async {
        let mut group = TaskGroup::new();
        group.spawn(async { panic!("early") });
        group.spawn(async {
            yield_times(3).await;
            "late"
        });
        assert!(group.join_next().await.unwrap().unwrap_err().is_panic());
        assert_eq!(group.join_next().await.unwrap().unwrap(), "late");
    });
}

#[test]
fn cancel_all_yields_cancelled_results_and_runs_destructors() {
    ringloop::run(async {
        let dropped = Rc::new(Cell::new(false));
        let mut group = TaskGroup::new();
        let flag = DropFlag(dropped.clone());
        group.spawn(async move {
            let _flag = flag;
            std::future::pending::<()>().await
        });
        group.spawn(async {});
        yield_times(2).await;
        group.cancel_all();
        let mut results: Vec<bool> = Vec::new();
        while let Some(result) = group.join_next().await {
            results.push(result.is_ok());
        }
        results.sort_unstable();
        assert_eq!(results, [false, true], "the finished one keeps its value");
        assert!(dropped.get());
    });
}

// ---------------------------------------------------------------------------------------
// The group's owner goes away (taskgroup_05 / _06 / _07, parent cancelled)

/// taskgroup_05/06: the task running the group is cancelled while it waits in the group:
/// every child is cancelled with it (its future, owning the group, is dropped).
#[test]
fn cancelling_the_parent_cancels_every_child() {
    run_on_each_backend(|| async {
        let cleaned = Rc::new(Cell::new(0));
        let c = cleaned.clone();
        let parent = ringloop::spawn(async move {
            let mut group = TaskGroup::new();
            for _ in 0..3 {
                let counted = Counted(c.clone());
                group.spawn(async move {
                    let _counted = counted;
                    ringloop::sleep(Duration::from_secs(60)).await;
                });
            }
            group.join_all().await.map(|_| ())
        });
        ringloop::sleep(ms(2)).await;
        parent.cancel();
        assert!(parent.await.unwrap_err().is_cancelled());
        // The children's cancellation was requested when the group dropped; they go at
        // their next turn.
        yield_times(2).await;
        assert_eq!(cleaned.get(), 3);
    });
}

#[test]
fn dropping_the_group_cancels_running_tasks_only() {
    let lp = default_loop();
    let reports = record_exceptions(&lp);
    lp.run_until_complete(async {
        let finished = Rc::new(Cell::new(false));
        let cancelled = Rc::new(Cell::new(false));
        let mut group = TaskGroup::new();
        let f = finished.clone();
        group.spawn(async move { f.set(true) });
        let flag = DropFlag(cancelled.clone());
        group.spawn(async move {
            let _flag = flag;
            std::future::pending::<()>().await
        });
        yield_times(2).await;
        assert!(finished.get());
        drop(group);
        yield_times(2).await;
        assert!(cancelled.get(), "the running task was cancelled");
    });
    drop(lp);
    assert!(reports.borrow().is_empty(), "{:?}", reports.borrow());
}

/// A panic nobody joined is still somebody's business: dropping the group hands it to
/// the exception handler once, as dropping its handle would.
#[test]
fn unjoined_panic_is_reported_when_the_group_is_dropped() {
    let lp = default_loop();
    let reports = record_exceptions(&lp);
    lp.run_until_complete(async {
        let mut group = TaskGroup::<()>::new();
        group.spawn(async { panic!("nobody joined me") });
        yield_times(2).await;
        drop(group);
        yield_times(1).await;
    });
    drop(lp);
    assert_eq!(
        *reports.borrow(),
        [(
            ExceptionKind::TaskNeverRetrieved,
            "nobody joined me".to_string()
        )]
    );
}

#[test]
fn joined_panics_are_not_reported() {
    let lp = default_loop();
    let reports = record_exceptions(&lp);
    lp.run_until_complete(async {
        let mut group = TaskGroup::<()>::new();
        group.spawn(async { panic!("seen") });
        assert!(group.join_next().await.unwrap().is_err());
    });
    drop(lp);
    assert!(reports.borrow().is_empty(), "{:?}", reports.borrow());
}

/// `run` closing with a group's tasks alive cancels them like any others.
#[test]
fn run_returning_cancels_a_leaked_groups_tasks() {
    let cancelled = Rc::new(Cell::new(false));
    let c = cancelled.clone();
    ringloop::run(async move {
        let mut group = TaskGroup::new();
        let flag = DropFlag(c);
        group.spawn(async move {
            let _flag = flag;
            std::future::pending::<()>().await
        });
        std::mem::forget(group);
    });
    assert!(cancelled.get());
}

// ---------------------------------------------------------------------------------------
// Handles, names, eager loops, done callbacks

/// test_taskgroup_task_name: a child can be named (asyncio's `create_task(name=...)`).
#[test]
fn spawned_child_can_be_named_and_sees_its_name() {
    ringloop::run(async {
        let mut group = TaskGroup::new();
        group
            .spawn(async { ringloop::current_task().unwrap().name })
            .set_name("yolo");
        assert_eq!(group.join_next().await.unwrap().unwrap(), "yolo");
    });
}

#[test]
fn group_spawns_eagerly_on_an_eager_loop() {
    let lp = EventLoop::builder().eager_tasks(true).build().unwrap();
    lp.run_until_complete(async {
        let ran = Rc::new(Cell::new(false));
        let r = ran.clone();
        let mut group = TaskGroup::new();
        assert!(group.spawn(async move { r.set(true) }).is_done());
        assert!(ran.get(), "the first step ran inside spawn");
        assert!(group.join_next().await.unwrap().is_ok());
    });
}

/// A done callback added through the handle runs before join_next hands the result out
/// (the result waits for its callbacks, as for an awaited handle).
#[test]
fn join_next_waits_for_done_callbacks_added_through_the_handle() {
    ringloop::run(async {
        let seen = log();
        let mut group = TaskGroup::new();
        let s = seen.clone();
        group
            .spawn(async { 5 })
            .add_done_callback(move |r| s.borrow_mut().push(*r.as_ref().unwrap()));
        assert_eq!(group.join_next().await.unwrap().unwrap(), 5);
        assert_eq!(*seen.borrow(), [5]);
    });
}

/// join_next is cancel-safe: a wait that timed out loses nothing.
#[test]
fn join_next_is_cancel_safe() {
    run_on_each_backend(|| async {
        let mut group = TaskGroup::new();
        group.spawn(sleeper(10));
        let early = ringloop::timeout(ms(1), group.join_next()).await;
        assert!(early.is_err(), "not finished yet");
        assert_eq!(group.len(), 1);
        assert_eq!(group.join_next().await.unwrap().unwrap(), 10);
    });
}

/// The group's waiter can move from one task to another.
#[test]
fn a_group_can_be_joined_from_another_task() {
    ringloop::run(async {
        let mut group = TaskGroup::new();
        group.spawn(async {
            yield_times(3).await;
            7
        });
        let joiner = ringloop::spawn(async move { group.join_all().await.unwrap() });
        assert_eq!(joiner.await.unwrap(), [7]);
    });
}

#[test]
fn spawn_without_a_running_loop_panics_clearly() {
    let mut group = TaskGroup::new();
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        group.spawn(async {});
    }))
    .unwrap_err();
    let message = support::panic_message(&*err);
    assert!(
        message.contains("TaskGroup::spawn needs a running"),
        "{message}"
    );
    assert!(group.is_empty());
}

// ---------------------------------------------------------------------------------------
// Cost

/// Many tasks: completions are O(1) each (no rescans), and results all arrive.
#[test]
fn ten_thousand_tasks_join_in_completion_order() {
    ringloop::run(async {
        let mut group = TaskGroup::new();
        for n in 0..10_000u32 {
            group.spawn(async move {
                if n % 2 == 0 {
                    ringloop::yield_now().await;
                }
                n
            });
        }
        let mut got = Vec::with_capacity(10_000);
        while let Some(result) = group.join_next().await {
            got.push(result.unwrap());
        }
        // The odd ones finish in their first step, the even ones one iteration later.
        let odd: Vec<u32> = (0..10_000).filter(|n| n % 2 == 1).collect();
        assert_eq!(got[..5_000], odd[..]);
        let mut sorted = got.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..10_000).collect::<Vec<_>>());
    });
}

/// Spawning into a warm group allocates nothing: the loop recycles finished tasks'
/// cells; neither does a plain spawn. (Counted on this thread only: the test harness's
/// threads allocate too.)
#[test]
fn warm_group_spawns_allocate_nothing() {
    let lp = default_loop();
    lp.run_until_complete(async {
        let mut group = TaskGroup::new();
        const N: u64 = 64;
        // Warm up: the slot vectors reach their size, the done queue its capacity, and
        // the loop's cache holds N cells.
        for _ in 0..N {
            group.spawn(async {});
        }
        group.join_all().await.unwrap();
        let before = testkit::CountingAlloc::thread_allocations();
        for _ in 0..N {
            group.spawn(async {});
        }
        let spent = testkit::CountingAlloc::thread_allocations() - before;
        assert_eq!(spent, 0, "group spawns take recycled cells");
        group.join_all().await.unwrap();

        // Plain tasks' cells are of another size (no group slot): warm those too.
        let warm: Vec<_> = (0..N).map(|_| ringloop::spawn(async {})).collect();
        for task in warm {
            task.await.unwrap();
        }
        let before = testkit::CountingAlloc::thread_allocations();
        let tasks: Vec<_> = (0..N).map(|_| ringloop::spawn(async {})).collect();
        let spent = testkit::CountingAlloc::thread_allocations() - before;
        assert_eq!(spent, 1, "only the Vec of handles: N cells were recycled");
        drop(tasks);
    });
    let _ = ALLOC.live_blocks();
}

/// A long-lived group that joins as it goes stays as small as its peak.
#[test]
fn a_long_lived_group_reuses_its_slots() {
    for_each_backend(|lp| {
        lp.run_until_complete(async {
            let mut group = TaskGroup::new();
            for round in 0..200u32 {
                group.spawn(async move { round });
                group.spawn(async move {
                    ringloop::sleep(Duration::ZERO).await;
                    round
                });
                assert_eq!(group.join_next().await.unwrap().unwrap(), round);
                assert_eq!(group.join_next().await.unwrap().unwrap(), round);
            }
            assert!(format!("{group:?}").contains("len: 0"), "{group:?}");
        });
    });
}

#[test]
fn results_shared_with_the_loop_are_dropped_with_it() {
    // A group left unjoined in a closing loop: its tasks are cancelled by the close and
    // nothing leaks or panics.
    let lp = default_loop();
    let kept: Rc<RefCell<Option<TaskGroup<u8>>>> = Rc::default();
    let k = kept.clone();
    lp.run_until_complete(async move {
        let mut group = TaskGroup::new();
        group.spawn(std::future::pending());
        *k.borrow_mut() = Some(group);
    });
    lp.close();
    let group = kept.borrow_mut().take().unwrap();
    assert_eq!(group.len(), 1);
    drop(group);
}

#[test]
fn task_error_is_cancelled_for_a_group_cancelled_before_its_first_run() {
    ringloop::run(async {
        let mut group = TaskGroup::new();
        let ran = Rc::new(Cell::new(false));
        let r = ran.clone();
        group.spawn(async move { r.set(true) });
        group.cancel_all();
        assert!(matches!(
            group.join_next().await,
            Some(Err(TaskError::Cancelled))
        ));
        assert!(!ran.get(), "cancelled before it ran: its body never ran");
    });
}
