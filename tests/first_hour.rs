//! What a newcomer reaches for in the first hour: `join!` over futures of different
//! types, `call_later` without holding the loop, a one-shot completed from another
//! thread while the loop waits in the kernel, `task.await?` in an `io::Result`
//! function, and static byte strings written as they are. On both backends.

mod support;

use std::cell::{Cell, RefCell};
use std::io;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use ringloop::net::UnixStream;
use ringloop::sync::oneshot;
use support::{for_each_backend, guard};

#[test]
fn join_awaits_futures_of_different_types_together() {
    for_each_backend(|lp| {
        let (a, b, c) = lp.run_until_complete(async {
            ringloop::join!(
                async {
                    ringloop::sleep(Duration::from_millis(3)).await;
                    1u8
                },
                async {
                    ringloop::sleep(Duration::from_millis(1)).await;
                    "two"
                },
                async { vec![3.0f64] },
            )
        });
        assert_eq!((a, b, c), (1, "two", vec![3.0]));
    });
}

#[test]
fn call_later_runs_a_callback_without_a_loop_handle() {
    for_each_backend(|lp| {
        let order = lp.run_until_complete(async {
            let order = Rc::new(std::cell::RefCell::new(Vec::new()));
            let (o1, o2) = (order.clone(), order.clone());
            ringloop::call_later(Duration::from_millis(4), move || {
                o1.borrow_mut().push("late")
            });
            ringloop::call_later(Duration::from_millis(1), move || {
                o2.borrow_mut().push("soon")
            });
            let cancelled = Rc::new(Cell::new(false));
            let c = cancelled.clone();
            let handle = ringloop::call_later(Duration::from_millis(2), move || c.set(true));
            assert!(handle.cancel());
            ringloop::sleep(Duration::from_millis(10)).await;
            assert!(!cancelled.get(), "a cancelled callback never runs");
            order.borrow().clone()
        });
        assert_eq!(order, ["soon", "late"]);
    });
}

#[test]
fn the_running_loop_is_reachable_from_tasks_and_callbacks() {
    for_each_backend(|lp| {
        let log = lp.run_until_complete(async {
            let log = Rc::new(std::cell::RefCell::new(Vec::new()));
            let (l1, l2) = (log.clone(), log.clone());
            // From a callback, which has no task of its own.
            ringloop::call_soon(move || {
                let lp = ringloop::get_running_loop();
                assert!(lp.is_running());
                lp.call_later(Duration::from_millis(2), move || {
                    l1.borrow_mut().push("later")
                });
            });
            // From a task: spawn through the handle, and a call_at on its clock.
            let lp = ringloop::get_running_loop();
            let at = lp.time() + Duration::from_millis(1);
            lp.call_at(at, move || l2.borrow_mut().push("at"));
            let l3 = log.clone();
            lp.spawn(async move { l3.borrow_mut().push("task") })
                .await
                .unwrap();
            ringloop::sleep(Duration::from_millis(10)).await;
            log.borrow().clone()
        });
        assert_eq!(log, ["task", "at", "later"]);
        assert_eq!(lp.handle().backend(), lp.backend());
    });
}

#[test]
fn a_loop_handle_kept_in_a_task_does_not_keep_the_loop_alive() {
    support::on_each_backend(|backend| {
        let lp = support::new_loop(backend);
        let handle = lp.handle();
        let remote = lp.remote();
        // A task that holds the loop's handle and never ends: a cycle an `Rc<EventLoop>`
        // would leak.
        let held = Rc::new(());
        let h = held.clone();
        lp.spawn(async move {
            let _lp = ringloop::get_running_loop();
            let _h = h;
            std::future::pending::<()>().await
        });
        lp.run_until_complete(ringloop::yield_now());
        assert_eq!(Rc::strong_count(&held), 2);
        drop(lp);
        assert!(handle.is_closed());
        assert!(remote.is_closed(), "other threads see the loop closed");
        assert_eq!(Rc::strong_count(&held), 1, "the task's future was dropped");
        let late = handle.spawn(async { 1 });
        assert!(late.is_cancelled(), "a closed loop runs nothing new");
    });
}

/// On a closed loop nothing new runs or is held: a spawned task is cancelled at once,
/// a `call_soon` closure dropped at once; and a destructor that spawns again on the
/// closed loop (a chain of them) is dropped in turn without recursing.
#[test]
fn a_closed_loop_drops_new_work_at_once_even_chains_of_it() {
    struct Respawn(ringloop::LoopHandle, Rc<Cell<u32>>);
    impl Drop for Respawn {
        fn drop(&mut self) {
            let n = self.1.get();
            if n < 100_000 {
                self.1.set(n + 1);
                let next = Respawn(self.0.clone(), self.1.clone());
                drop(self.0.spawn(async move {
                    let _next = next;
                    std::future::pending::<()>().await
                }));
            }
        }
    }
    support::on_each_backend(|backend| {
        let lp = support::new_loop(backend);
        let handle = lp.handle();
        drop(lp);
        let held = Rc::new(());
        let h = held.clone();
        handle.call_soon(move || drop(h));
        assert_eq!(
            Rc::strong_count(&held),
            1,
            "the closure was dropped, not kept"
        );
        let count = Rc::new(Cell::new(0));
        let first = Respawn(handle.clone(), count.clone());
        let task = handle.spawn(async move {
            let _first = first;
            std::future::pending::<()>().await
        });
        assert!(task.is_cancelled());
        assert_eq!(count.get(), 100_000, "every link of the chain was dropped");
    });
}

/// The same for callbacks: a closure whose destructor schedules the next one with
/// `call_soon` on the closed loop (a chain of 100,000) is dropped link by link, without
/// recursing into the stack.
#[test]
fn a_chain_of_call_soon_from_destructors_on_a_closed_loop_does_not_recurse() {
    struct Recall(ringloop::LoopHandle, Rc<Cell<u32>>);
    impl Drop for Recall {
        fn drop(&mut self) {
            let n = self.1.get();
            if n < 100_000 {
                self.1.set(n + 1);
                let next = Recall(self.0.clone(), self.1.clone());
                self.0.call_soon(move || drop(next));
            }
        }
    }
    support::on_each_backend(|backend| {
        let lp = support::new_loop(backend);
        let handle = lp.handle();
        drop(lp);
        let count = Rc::new(Cell::new(0));
        let first = Recall(handle.clone(), count.clone());
        handle.call_soon(move || drop(first));
        assert_eq!(count.get(), 100_000, "every link of the chain was dropped");
        // Nothing is left held: the next call is dropped at once too.
        let held = Rc::new(());
        let h = held.clone();
        handle.call_soon(move || drop(h));
        assert_eq!(Rc::strong_count(&held), 1);
    });
}

/// Closures a destructor schedules on the closed loop are dropped in the order it
/// scheduled them; `call_later` there drops its closure too (no timer fires on a closed
/// loop), and the handle's `cancel` is harmless.
#[test]
fn closures_scheduled_on_a_closed_loop_are_dropped_in_order() {
    struct Note(Rc<RefCell<Vec<&'static str>>>, &'static str);
    impl Drop for Note {
        fn drop(&mut self) {
            self.0.borrow_mut().push(self.1);
        }
    }
    struct Schedules(ringloop::LoopHandle, Rc<RefCell<Vec<&'static str>>>);
    impl Drop for Schedules {
        fn drop(&mut self) {
            let (a, b) = (Note(self.1.clone(), "a"), Note(self.1.clone(), "b"));
            self.0.call_soon(move || drop(a));
            self.0.call_soon(move || drop(b));
        }
    }
    support::on_each_backend(|backend| {
        let lp = support::new_loop(backend);
        let handle = lp.handle();
        drop(lp);
        let dropped = Rc::new(RefCell::new(Vec::new()));
        let outer = Schedules(handle.clone(), dropped.clone());
        handle.call_soon(move || drop(outer));
        assert_eq!(*dropped.borrow(), ["a", "b"]);
        let late = Note(dropped.clone(), "later");
        let timer = handle.call_later(Duration::from_millis(1), move || drop(late));
        assert_eq!(
            *dropped.borrow(),
            ["a", "b", "later"],
            "dropped at once, not held"
        );
        timer.cancel();
    });
}

/// `Remote::call_soon_threadsafe` on a closed loop drops the refused closure on the
/// calling thread; a chain of them (each destructor calling again) does not recurse.
#[test]
fn a_chain_of_refused_remote_calls_does_not_recurse() {
    struct Recall(ringloop::Remote, Arc<AtomicU32>);
    impl Drop for Recall {
        fn drop(&mut self) {
            let n = self.1.load(Ordering::Relaxed);
            if n < 100_000 {
                self.1.store(n + 1, Ordering::Relaxed);
                let next = Recall(self.0.clone(), self.1.clone());
                assert!(self.0.call_soon_threadsafe(move || drop(next)).is_err());
            }
        }
    }
    support::on_each_backend(|backend| {
        let lp = support::new_loop(backend);
        let remote = lp.remote();
        drop(lp);
        let count = Arc::new(AtomicU32::new(0));
        let first = Recall(remote.clone(), count.clone());
        let refused = std::thread::spawn(move || remote.call_soon_threadsafe(move || drop(first)))
            .join()
            .unwrap();
        assert!(refused.is_err());
        assert_eq!(
            count.load(Ordering::Relaxed),
            100_000,
            "every link was dropped"
        );
    });
}

#[test]
fn get_running_loop_outside_a_loop_says_what_to_do() {
    let err = std::panic::catch_unwind(ringloop::get_running_loop).unwrap_err();
    let msg = support::panic_message(&*err);
    assert!(msg.contains("ringloop::get_running_loop()"), "{msg}");
    assert!(msg.contains("inside ringloop::run"), "{msg}");
}

#[test]
fn a_oneshot_completed_by_another_thread_wakes_a_waiting_loop() {
    for_each_backend(|lp| {
        let (tx, rx) = oneshot::channel();
        let thread = std::thread::spawn(move || {
            // The loop is blocked in the kernel by now (nothing else to do).
            std::thread::sleep(Duration::from_millis(20));
            tx.send(String::from("from a thread"))
                .expect("the task waits");
        });
        let got = lp.run_until_complete(async move { guard("a oneshot", rx).await });
        assert_eq!(got.as_deref(), Ok("from a thread"));
        thread.join().expect("thread");
    });
}

#[test]
fn task_failures_convert_to_io_errors_with_question_mark() {
    async fn fails() -> io::Result<u32> {
        let task = ringloop::spawn(async { panic!("boom") });
        let value: u32 = task.await?;
        Ok(value)
    }
    async fn cancelled() -> io::Result<()> {
        let task = ringloop::spawn(ringloop::sleep(Duration::from_secs(60)));
        task.cancel();
        task.await?;
        Ok(())
    }
    for_each_backend(|lp| {
        let err = lp
            .run_until_complete(fails())
            .expect_err("the task panicked");
        assert!(err.to_string().contains("boom"), "{err}");
        let err = lp.run_until_complete(cancelled()).expect_err("cancelled");
        assert_eq!(err.kind(), io::ErrorKind::Interrupted);
    });
}

#[test]
fn static_byte_strings_are_written_as_they_are() {
    for_each_backend(|lp| {
        lp.run_until_complete(async {
            let (a, b) = UnixStream::pair().expect("socketpair");
            let (sent, _) = a.write_all(b"OK\n").await;
            sent.expect("an array literal");
            let (sent, _) = a.write_all("and a str\n").await;
            sent.expect("a str literal");
            let (read, buf) = guard("read", b.read_exact(Vec::with_capacity(13))).await;
            read.expect("read");
            assert_eq!(buf, b"OK\nand a str\n");
        });
    });
}
