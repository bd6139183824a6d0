//! Task identity and task-local values: ids and names (asyncio's `Task.get_name` /
//! `set_name`, `Task-<n>`), `current_task`, `all_tasks`, and `task_local!` (asyncio's
//! `contextvars`: a value follows its task across awaits, tasks do not see each other's).
//!
//! Pure scheduling runs on the default backend; what sleeps runs on each backend.

mod support;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use ringloop::{EventLoop, TaskInfo, TaskState};
use support::{DropFlag, default_loop, log, run_on_each_backend, yield_times};

#[global_allocator]
static ALLOC: testkit::CountingAlloc = testkit::CountingAlloc::new();

// ---------------------------------------------------------------------------------------
// Ids and names

/// asyncio names an unnamed task `Task-<n>`, n counting up from 1 per process; ringloop's
/// n is the task's id: unique per process, increasing in spawn order on a thread.
#[test]
fn default_name_is_task_dash_id_and_ids_increase() {
    ringloop::run(async {
        let tasks: Vec<_> = (0..5).map(|_| ringloop::spawn(async {})).collect();
        for task in &tasks {
            assert_eq!(task.name(), format!("Task-{}", task.id()));
        }
        assert!(tasks.windows(2).all(|w| w[0].id() < w[1].id()));
        assert!(tasks[0].id() > 0);
    });
}

#[test]
fn ids_are_unique_across_threads_and_loops() {
    let spawn_ids = || {
        let lp = EventLoop::new().unwrap();
        (0..300)
            .map(|_| lp.spawn(async {}).id())
            .collect::<Vec<u64>>()
    };
    let threads: Vec<_> = (0..3).map(|_| std::thread::spawn(spawn_ids)).collect();
    let mut all: Vec<u64> = spawn_ids();
    all.extend(spawn_ids());
    for thread in threads {
        all.extend(thread.join().unwrap());
    }
    let n = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), n, "every id is unique in the process");
}

/// asyncio's `set_name` / `get_name`; renaming works at any time, also once done.
#[test]
fn set_name_renames_and_works_once_done() {
    ringloop::run(async {
        let task = ringloop::spawn(async {});
        let id = task.id();
        task.set_name("first");
        assert_eq!(task.name(), "first");
        task.set_name("second");
        assert_eq!(task.name(), "second");
        yield_times(1).await;
        assert!(task.is_done());
        task.set_name("after");
        assert_eq!(task.name(), "after");
        assert_eq!(task.id(), id, "a name does not change the id");
        assert_eq!(
            task.info(),
            task.info(),
            "a snapshot is a plain value: {:?}",
            task.info()
        );
        assert_eq!(task.info().state, TaskState::Done);
        assert_eq!(task.info().name, "after");
    });
}

/// A task that finished in its eager first step keeps its identity in its handle.
#[test]
fn eagerly_finished_task_keeps_its_id_and_can_be_named() {
    let lp = EventLoop::builder().eager_tasks(true).build().unwrap();
    lp.run_until_complete(async {
        let seen = Rc::new(Cell::new(0));
        let s = seen.clone();
        let task = ringloop::spawn(async move { s.set(ringloop::current_task().unwrap().id) });
        assert!(task.is_done());
        assert_eq!(task.id(), seen.get());
        assert_eq!(task.name(), format!("Task-{}", seen.get()));
        task.set_name("quick");
        assert_eq!(task.name(), "quick");
        assert_eq!(task.info().state, TaskState::Done);
        // A done callback materializes a node for it; the identity moves along.
        task.add_done_callback(|_| {});
        assert_eq!((task.id(), task.name()), (seen.get(), "quick".to_string()));
        task.await.unwrap();
    });
}

/// Names are stored only when set: a spawn allocates its task cell and nothing more, and
/// the default name costs nothing until asked for.
#[test]
fn spawning_allocates_no_name_and_naming_allocates_once() {
    let lp = default_loop();
    lp.run_until_complete(async {
        let mut tasks = Vec::with_capacity(16);
        let before = testkit::CountingAlloc::thread_allocations();
        for _ in 0..16 {
            tasks.push(ringloop::spawn(async {}));
        }
        let spent = testkit::CountingAlloc::thread_allocations() - before;
        assert_eq!(spent, 16, "one allocation per spawn: the task cell");
        let before = testkit::CountingAlloc::thread_allocations();
        tasks[0].set_name("named");
        let spent = testkit::CountingAlloc::thread_allocations() - before;
        assert!(spent <= 2, "{spent} allocations to set one name");
    });
    let _ = ALLOC.live_blocks();
}

// ---------------------------------------------------------------------------------------
// current_task

#[test]
fn current_task_is_the_running_task() {
    ringloop::run(async {
        let task = ringloop::spawn(async { ringloop::current_task().unwrap() });
        task.set_name("me");
        let id = task.id();
        let info = task.await.unwrap();
        assert_eq!(
            (info.id, info.name.as_str(), info.state),
            (id, "me", TaskState::Running)
        );
    });
}

/// The current task follows the task across its awaits and interleavings.
#[test]
fn current_task_follows_each_task_across_awaits() {
    ringloop::run(async {
        let seen = log::<(u64, u64)>();
        let tasks: Vec<_> = (0..3)
            .map(|_| {
                let seen = seen.clone();
                ringloop::spawn(async move {
                    for _ in 0..3 {
                        let me = ringloop::current_task().unwrap().id;
                        ringloop::yield_now().await;
                        seen.borrow_mut()
                            .push((me, ringloop::current_task().unwrap().id));
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(seen.borrow().len(), 9);
        assert!(seen.borrow().iter().all(|(before, after)| before == after));
    });
}

/// asyncio runs `run`'s coroutine as a task: `current_task()` there is not `None`, and
/// each `run_until_complete` is a new task.
#[test]
fn the_future_given_to_run_until_complete_is_a_task() {
    let lp = default_loop();
    let first = lp
        .run_until_complete(async { ringloop::current_task() })
        .unwrap();
    let second = lp
        .run_until_complete(async { ringloop::current_task() })
        .unwrap();
    assert_ne!(first.id, second.id);
    assert_eq!(first.name, format!("Task-{}", first.id));
    assert_eq!(first.state, TaskState::Running);
}

#[test]
fn no_current_task_outside_tasks() {
    assert!(ringloop::current_task().is_none(), "no loop");
    let lp = default_loop();
    let in_callback = Rc::new(Cell::new(None::<bool>));
    let c = in_callback.clone();
    lp.call_soon(move || c.set(Some(ringloop::current_task().is_some())));
    lp.run_until_complete(ringloop::yield_now());
    assert_eq!(in_callback.get(), Some(false), "a callback is not a task");
    assert!(ringloop::current_task().is_none(), "the loop stopped");
}

/// An eager spawn nests a task step inside another: the inner one is current during its
/// first step, the outer one again afterwards.
#[test]
fn current_task_nests_with_eager_spawns() {
    let lp = EventLoop::builder().eager_tasks(true).build().unwrap();
    lp.run_until_complete(async {
        let outer = ringloop::spawn(async {
            let me = ringloop::current_task().unwrap().id;
            let inner = ringloop::spawn(async { ringloop::current_task().unwrap().id });
            let after = ringloop::current_task().unwrap().id;
            (me, inner.id(), inner.await.unwrap(), after)
        });
        let outer_id = outer.id();
        let (me, inner_id, inner_saw, after) = outer.await.unwrap();
        assert_eq!((me, after), (outer_id, outer_id));
        assert_eq!(inner_saw, inner_id);
        assert_ne!(inner_id, outer_id);
    });
}

// ---------------------------------------------------------------------------------------
// all_tasks

/// asyncio's `all_tasks()`: the tasks not done, the caller (running) among them.
#[test]
fn all_tasks_lists_tasks_not_done_with_their_state() {
    let lp = default_loop();
    let waiting = lp.spawn(std::future::pending::<()>());
    waiting.set_name("waiting");
    let quick = lp.spawn(async {});
    quick.set_name("quick");
    let names = |all: Vec<TaskInfo>| all.into_iter().map(|t| t.name).collect::<Vec<_>>();
    assert_eq!(names(lp.all_tasks()), ["waiting", "quick"], "oldest first");

    let seen = lp.run_until_complete(async {
        ringloop::yield_now().await;
        ringloop::all_tasks()
    });
    // `quick` is done; the main future is a task, running, and the newest.
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(
        (seen[0].name.as_str(), seen[0].state),
        ("waiting", TaskState::Pending)
    );
    assert_eq!(seen[1].state, TaskState::Running);
    assert!(seen[1].name.starts_with("Task-"));
    assert_eq!(seen[0].id, waiting.id());
    assert_eq!(names(lp.all_tasks()), ["waiting"], "the main task is gone");
    waiting.cancel();
    lp.run_until_complete(ringloop::yield_now());
    assert!(
        lp.all_tasks().is_empty(),
        "cancelled and done: {:?}",
        lp.all_tasks()
    );
}

#[test]
fn all_tasks_shows_the_running_one_as_running() {
    ringloop::run(async {
        let task = ringloop::spawn(async {
            let me = ringloop::current_task().unwrap().id;
            ringloop::all_tasks()
                .into_iter()
                .find(|t| t.id == me)
                .map(|t| t.state)
        });
        assert_eq!(task.await.unwrap(), Some(TaskState::Running));
    });
}

// ---------------------------------------------------------------------------------------
// task_local!

ringloop::task_local! {
    static REQUEST: u32;
    static TRACE: String;
}

/// The value follows the future across awaits, including timers, while other tasks
/// interleave with their own values (contextvars' isolation between tasks).
#[test]
fn task_local_follows_its_task_across_awaits_and_is_isolated() {
    run_on_each_backend(|| async {
        let seen = log::<(u32, u32)>();
        let tasks: Vec<_> = (1..=3u32)
            .map(|n| {
                let seen = seen.clone();
                ringloop::spawn(REQUEST.scope(n, async move {
                    for step in 0..3u32 {
                        ringloop::sleep(Duration::from_millis(u64::from(step))).await;
                        ringloop::yield_now().await;
                        seen.borrow_mut().push((n, REQUEST.get()));
                    }
                }))
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(seen.borrow().len(), 9);
        assert!(seen.borrow().iter().all(|(n, got)| n == got), "{seen:?}");
        assert!(REQUEST.try_with(|_| ()).is_err(), "nothing leaks out");
    });
}

#[test]
fn task_local_outside_any_scope_is_an_error_or_a_clear_panic() {
    assert!(REQUEST.try_with(|v| *v).is_err());
    let err = REQUEST.try_with(|v| *v).unwrap_err();
    assert!(err.to_string().contains("not set"), "{err}");
    let panic = std::panic::catch_unwind(|| REQUEST.with(|v| *v)).unwrap_err();
    let message = support::panic_message(&*panic);
    assert!(message.contains("outside any scope"), "{message}");
    assert!(
        message.contains("inherit"),
        "says how to pass it on: {message}"
    );
}

/// Scopes nest; the inner value hides the outer one until the inner scope ends.
#[test]
fn task_local_scopes_nest() {
    ringloop::run(REQUEST.scope(1, async {
        assert_eq!(REQUEST.get(), 1);
        let inner = REQUEST
            .scope(2, async {
                ringloop::yield_now().await;
                REQUEST.get()
            })
            .await;
        assert_eq!(inner, 2);
        assert_eq!(REQUEST.get(), 1);
        assert_eq!(REQUEST.sync_scope(3, || REQUEST.get()), 3);
        assert_eq!(REQUEST.get(), 1);
    }));
}

/// asyncio copies the context into a new task; ringloop passes a value on explicitly,
/// with `inherit`, and a child changing its own copy leaves the parent's alone.
#[test]
fn task_local_passes_to_spawned_tasks_only_when_inherited() {
    ringloop::run(TRACE.scope("parent".to_string(), async {
        let plain = ringloop::spawn(async { TRACE.try_with(|t| t.clone()).ok() });
        assert_eq!(plain.await.unwrap(), None, "not inherited by default");

        let inherited = ringloop::spawn(TRACE.inherit(async {
            let got = TRACE.get();
            let changed = TRACE.scope("child".into(), async { TRACE.get() }).await;
            (got, changed)
        }));
        assert_eq!(
            inherited.await.unwrap(),
            ("parent".to_string(), "child".to_string())
        );
        assert_eq!(TRACE.get(), "parent", "the parent's value is untouched");

        // Inheriting an unset key runs the child with it unset.
        let unset = ringloop::spawn(REQUEST.inherit(async { REQUEST.try_with(|r| *r).is_err() }));
        assert!(unset.await.unwrap());
    }));
}

/// A scoped future dropped before it finishes (its task cancelled) is dropped inside its
/// scope: its destructors see the value.
#[test]
fn task_local_is_set_while_a_cancelled_future_is_dropped() {
    struct SeesValue(Rc<Cell<Option<u32>>>);
    impl Drop for SeesValue {
        fn drop(&mut self) {
            self.0.set(REQUEST.try_with(|v| *v).ok());
        }
    }
    ringloop::run(async {
        let seen = Rc::new(Cell::new(None));
        let probe = SeesValue(seen.clone());
        let task = ringloop::spawn(REQUEST.scope(42, async move {
            let _probe = probe;
            std::future::pending::<()>().await;
        }));
        ringloop::yield_now().await;
        task.cancel();
        assert!(task.await.unwrap_err().is_cancelled());
        assert_eq!(seen.get(), Some(42));
    });
}

/// A panic inside a scope restores the outer state.
#[test]
fn task_local_scope_is_restored_after_a_panic() {
    let result = std::panic::catch_unwind(|| REQUEST.sync_scope(5, || panic!("inside")));
    assert!(result.is_err());
    assert!(REQUEST.try_with(|v| *v).is_err());
    ringloop::run(async {
        let task = ringloop::spawn(REQUEST.scope(6, async {
            ringloop::yield_now().await;
            panic!("in a scoped task");
        }));
        assert!(task.await.unwrap_err().is_panic());
        assert!(REQUEST.try_with(|v| *v).is_err());
    });
}

/// The value is dropped with its scope (when the scoped future is dropped).
#[test]
fn task_local_value_is_dropped_with_its_future() {
    ringloop::task_local! { static GUARD: DropFlag; }
    let dropped = Rc::new(Cell::new(false));
    ringloop::run(GUARD.scope(DropFlag(dropped.clone()), async {
        ringloop::yield_now().await;
    }));
    assert!(dropped.get());
}
