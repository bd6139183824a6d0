//! Timers (DESIGN.md, "Semantics to keep" 2): ordering of equal deadlines, never firing
//! early, cancellation freeing entries, `Duration::MAX`, and the driver's wait paths
//! (`IORING_ENTER_EXT_ARG` and the timeout-SQE fallback, small rings). Elapsed times are
//! only ever checked from below: a timer must not fire early; late is not a failure.
//!
//! Every test runs on each backend (the timeout-SQE wait path is io_uring's; on epoll
//! `force_timeout_sqe` changes nothing, and the same checks hold).

mod support;

use std::cell::Cell;
use std::future::poll_fn;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;
use std::thread;
use std::time::{Duration, Instant};

use ringloop::{Backend, EventLoop};
use support::{DropFlag, for_each_backend, log, on_each_backend};

fn timeout_sqe_loop(backend: Backend) -> EventLoop {
    EventLoop::builder()
        .backend(backend)
        .force_timeout_sqe(true)
        .build()
        .expect("a loop with the timeout-SQE wait path can be created here")
}

/// Sleeps for each duration in turn, asserting none returns early.
async fn sleeps_never_early(durations: &[Duration]) {
    for &d in durations {
        let start = Instant::now();
        ringloop::sleep(d).await;
        let elapsed = start.elapsed();
        assert!(elapsed >= d, "sleep({d:?}) returned after {elapsed:?}");
    }
}

#[test]
fn timer_equal_deadlines_fifo() {
    for_each_backend(|lp| {
        let order = log();
        let when = lp.time() + Duration::from_millis(5);
        for i in 0..50 {
            let o = order.clone();
            lp.call_at(when, move || o.borrow_mut().push(i));
        }
        lp.run_until_complete(ringloop::sleep_until(when + Duration::from_millis(2)));
        assert_eq!(*order.borrow(), (0..50).collect::<Vec<_>>());
    });
}

#[test]
fn sleeps_with_equal_deadlines_wake_in_scheduling_order() {
    for_each_backend(|lp| {
        let order = log();
        let o = order.clone();
        lp.run_until_complete(async move {
            let when = Instant::now() + Duration::from_millis(5);
            let tasks: Vec<_> = (0..20)
                .map(|i| {
                    let o = o.clone();
                    ringloop::spawn(async move {
                        ringloop::sleep_until(when).await;
                        o.borrow_mut().push(i);
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
        });
        assert_eq!(*order.borrow(), (0..20).collect::<Vec<_>>());
    });
}

#[test]
fn timers_fire_in_deadline_order() {
    for_each_backend(|lp| {
        let order = log();
        let now = lp.time();
        // Scheduled in reverse deadline order.
        for i in (0..5u64).rev() {
            let o = order.clone();
            lp.call_at(now + Duration::from_millis(2 * i + 1), move || {
                o.borrow_mut().push(i)
            });
        }
        lp.run_until_complete(ringloop::sleep(Duration::from_millis(15)));
        assert_eq!(*order.borrow(), [0, 1, 2, 3, 4]);
    });
}

#[test]
fn timer_never_fires_early() {
    for_each_backend(|lp| {
        lp.run_until_complete(sleeps_never_early(&[
            Duration::from_millis(1),
            Duration::from_millis(7),
            Duration::from_micros(300),
            Duration::from_millis(15),
            Duration::from_nanos(1),
        ]));
    });
}

#[test]
fn call_later_never_fires_early() {
    for_each_backend(|lp| {
        let fired = log();
        let delays = [3u64, 1, 8, 5];
        for &ms in &delays {
            let f = fired.clone();
            let scheduled = Instant::now();
            let d = Duration::from_millis(ms);
            lp.call_later(d, move || f.borrow_mut().push((d, scheduled.elapsed())));
        }
        lp.run_until_complete(ringloop::sleep(Duration::from_millis(12)));
        assert_eq!(fired.borrow().len(), delays.len());
        for &(d, elapsed) in fired.borrow().iter() {
            assert!(elapsed >= d, "call_later({d:?}) ran after {elapsed:?}");
        }
    });
}

#[test]
fn call_at_never_fires_early() {
    for_each_backend(|lp| {
        let when = lp.time() + Duration::from_millis(6);
        let fired_at = Rc::new(Cell::new(None));
        let f = fired_at.clone();
        lp.call_at(when, move || f.set(Some(Instant::now())));
        lp.run_until_complete(ringloop::sleep_until(when + Duration::from_millis(1)));
        let fired_at = fired_at.get().expect("call_at ran");
        assert!(fired_at >= when);
    });
}

#[test]
fn sleep_until_never_returns_early() {
    for_each_backend(|lp| {
        lp.run_until_complete(async {
            let when = Instant::now() + Duration::from_millis(8);
            ringloop::sleep_until(when).await;
            assert!(Instant::now() >= when);
        });
    });
}

#[test]
fn sleep_until_past_deadline_completes_next_iteration() {
    for_each_backend(|lp| {
        lp.run_until_complete(async {
            let order = log();
            let o = order.clone();
            ringloop::call_soon(move || o.borrow_mut().push("call_soon"));
            let past = Instant::now() - Duration::from_millis(10);
            ringloop::sleep_until(past).await;
            order.borrow_mut().push("sleep_until(past)");
            // It suspended once: the callback scheduled before it ran first.
            assert_eq!(*order.borrow(), ["call_soon", "sleep_until(past)"]);
        });
    });
}

#[test]
fn sleep_zero_yields_to_next_iteration() {
    for_each_backend(|lp| {
        let order = log();
        let o = order.clone();
        lp.run_until_complete(async move {
            let o2 = o.clone();
            let other = ringloop::spawn(async move {
                o2.borrow_mut().push("other 1");
                ringloop::yield_now().await;
                o2.borrow_mut().push("other 2");
            });
            ringloop::yield_now().await;
            o.borrow_mut().push("main before sleep(0)");
            ringloop::sleep(Duration::ZERO).await;
            o.borrow_mut().push("main after sleep(0)");
            other.await.unwrap();
        });
        assert_eq!(
            *order.borrow(),
            [
                "other 1",
                "main before sleep(0)",
                "other 2",
                "main after sleep(0)"
            ]
        );
    });
}

#[test]
fn sleep_is_elapsed_after_it_resolves() {
    for_each_backend(|lp| {
        lp.run_until_complete(async {
            let mut s = ringloop::sleep(Duration::from_millis(1));
            assert!(!s.is_elapsed());
            (&mut s).await;
            assert!(s.is_elapsed());
            // Polling a finished sleep again resolves at once.
            (&mut s).await;
        });
    });
}

#[test]
fn sleep_duration_max_does_not_spin() {
    for_each_backend(|lp| {
        let forever = lp.spawn(ringloop::sleep(Duration::MAX));
        let before = lp.stats().iterations;
        lp.run_until_complete(sleeps_never_early(&[Duration::from_millis(20)]));
        let iterations = lp.stats().iterations - before;
        assert!(
            iterations < 20,
            "{iterations} iterations for one 20ms sleep beside a Duration::MAX sleep"
        );
        assert!(!forever.is_done());
        assert_eq!(lp.stats().timers_pending, 1);
    });
}

#[test]
fn sleep_duration_max_alone_blocks_until_woken() {
    for_each_backend(|lp| {
        let forever = lp.spawn(ringloop::sleep(Duration::MAX));
        let remote = lp.remote();
        let stopper = thread::spawn(move || {
            thread::sleep(Duration::from_millis(30));
            remote.stop();
        });
        // The only timer is "never": the loop waits in the kernel for the remote stop.
        lp.run_forever();
        stopper.join().unwrap();
        let iterations = lp.stats().iterations;
        assert!(iterations < 20, "{iterations} iterations: the loop spun");
        assert!(!forever.is_done());
    });
}

#[test]
fn call_later_duration_max_never_fires() {
    for_each_backend(|lp| {
        let fired = Rc::new(Cell::new(false));
        let f = fired.clone();
        let handle = lp.call_later(Duration::MAX, move || f.set(true));
        lp.run_until_complete(ringloop::sleep(Duration::from_millis(5)));
        assert!(!fired.get());
        assert_eq!(lp.stats().timers_pending, 1);
        assert!(handle.cancel());
        assert_eq!(lp.stats().timers_pending, 0);
    });
}

#[test]
fn call_later_cancel_frees_entry() {
    for_each_backend(|lp| {
        let ran = Rc::new(Cell::new(false));
        let dropped = Rc::new(Cell::new(false));
        let (r, guard) = (ran.clone(), DropFlag(dropped.clone()));
        let handle = lp.call_later(Duration::from_millis(2), move || {
            let _guard = guard;
            r.set(true);
        });
        assert_eq!(lp.stats().timers_pending, 1);
        assert!(handle.cancel());
        assert_eq!(
            lp.stats().timers_pending,
            0,
            "the entry left the queue at once"
        );
        assert!(dropped.get(), "the closure was dropped at once");
        assert!(handle.is_cancelled());
        assert!(!handle.cancel());
        lp.run_until_complete(ringloop::sleep(Duration::from_millis(5)));
        assert!(!ran.get());
    });
}

#[test]
fn call_later_cancel_after_fire_returns_false() {
    for_each_backend(|lp| {
        let ran = Rc::new(Cell::new(false));
        let r = ran.clone();
        let handle = lp.call_later(Duration::from_millis(1), move || r.set(true));
        lp.run_until_complete(ringloop::sleep(Duration::from_millis(3)));
        assert!(ran.get());
        assert!(!handle.cancel());
        assert!(!handle.is_cancelled());
        assert_eq!(lp.stats().timers_pending, 0);
    });
}

#[test]
fn call_later_many_cancelled_free_entries() {
    for_each_backend(|lp| {
        for _ in 0..100 {
            let handles: Vec<_> = (0..1000)
                .map(|i| lp.call_later(Duration::from_secs(3600 + i), || {}))
                .collect();
            assert_eq!(lp.stats().timers_pending, 1000);
            for h in &handles {
                assert!(h.cancel());
            }
            assert_eq!(lp.stats().timers_pending, 0);
        }
    });
}

#[test]
fn dropping_call_later_handle_does_not_cancel() {
    for_each_backend(|lp| {
        let ran = Rc::new(Cell::new(false));
        let r = ran.clone();
        drop(lp.call_later(Duration::from_millis(1), move || r.set(true)));
        lp.run_until_complete(ringloop::sleep(Duration::from_millis(3)));
        assert!(ran.get());
    });
}

#[test]
fn dropping_a_sleep_removes_its_timer() {
    for_each_backend(|lp| {
        lp.run_until_complete(async {
            let mut sleep = Box::pin(ringloop::sleep(Duration::from_secs(3600)));
            poll_fn(|cx| {
                assert!(sleep.as_mut().poll(cx).is_pending());
                Poll::Ready(())
            })
            .await;
            assert_eq!(lp.stats().timers_pending, 1);
            drop(sleep);
            assert_eq!(lp.stats().timers_pending, 0);
        });
    });
}

#[test]
fn timeouts_cancelled_free_timer_entries() {
    for_each_backend(|lp| {
        type Timeout = Pin<Box<dyn Future<Output = Result<(), ringloop::Elapsed>>>>;
        const BATCH: usize = 1000;
        const BATCHES: usize = 1000;
        lp.run_until_complete(async {
            for _ in 0..BATCHES {
                let mut batch: Vec<Timeout> = (0..BATCH)
                    .map(|_| {
                        Box::pin(ringloop::timeout(
                            Duration::from_secs(3600),
                            std::future::pending::<()>(),
                        )) as Timeout
                    })
                    .collect();
                poll_fn(|cx| {
                    for t in batch.iter_mut() {
                        assert!(t.as_mut().poll(cx).is_pending());
                    }
                    Poll::Ready(())
                })
                .await;
                assert_eq!(lp.stats().timers_pending, BATCH);
                drop(batch);
                assert_eq!(lp.stats().timers_pending, 0);
            }
        });
        assert_eq!(lp.stats().timers_pending, 0);
    });
}

#[test]
fn loop_time_is_monotonic_and_current() {
    for_each_backend(|lp| {
        let before = Instant::now();
        let t1 = lp.time();
        let t2 = lp.time();
        assert!(t1 >= before);
        assert!(t2 >= t1);
    });
}

#[test]
fn force_timeout_sqe_path_still_sleeps_correctly() {
    on_each_backend(|backend| {
        let lp = timeout_sqe_loop(backend);
        let before = lp.stats().iterations;
        lp.run_until_complete(sleeps_never_early(&[
            Duration::from_millis(5),
            Duration::from_millis(15),
            Duration::from_millis(1),
            Duration::from_micros(200),
        ]));
        let iterations = lp.stats().iterations - before;
        assert!(
            iterations < 100,
            "{iterations} iterations for four sleeps: the timeout SQE did not block"
        );
    });
}

#[test]
fn force_timeout_sqe_concurrent_sleeps_fire_in_order() {
    on_each_backend(|backend| {
        let lp = timeout_sqe_loop(backend);
        let order = log();
        let o = order.clone();
        lp.run_until_complete(async move {
            let tasks: Vec<_> = [12u64, 3, 7, 1]
                .into_iter()
                .map(|ms| {
                    let o = o.clone();
                    ringloop::spawn(async move {
                        let d = Duration::from_millis(ms);
                        let start = Instant::now();
                        ringloop::sleep(d).await;
                        assert!(start.elapsed() >= d);
                        o.borrow_mut().push(ms);
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
        });
        assert_eq!(*order.borrow(), [1, 3, 7, 12]);
    });
}

#[test]
fn force_timeout_sqe_remote_wake_during_timed_wait() {
    on_each_backend(|backend| {
        // A remote wake ends a timed wait early; the next wait must replace the armed
        // timeout SQE and still not return early or spin.
        let lp = timeout_sqe_loop(backend);
        let remote = lp.remote();
        let ran = Arc::new(AtomicBool::new(false));
        let r = ran.clone();
        let sender = thread::spawn(move || {
            thread::sleep(Duration::from_millis(10));
            remote
                .call_soon_threadsafe(move || r.store(true, Ordering::Relaxed))
                .unwrap();
        });
        let before = lp.stats().iterations;
        lp.run_until_complete(sleeps_never_early(&[Duration::from_millis(40)]));
        let iterations = lp.stats().iterations - before;
        assert!(iterations < 50, "{iterations} iterations: the loop spun");
        // On a loaded machine the sender may only get there after the sleep: wait for it
        // (the check above is what matters; this one only proves the call was delivered).
        let delivered = ran.clone();
        lp.run_until_complete(async move {
            while !delivered.load(Ordering::Relaxed) {
                ringloop::sleep(Duration::from_millis(1)).await;
            }
        });
        sender.join().unwrap();
        assert!(ran.load(Ordering::Relaxed));
        // Further sleeps on the same loop still behave.
        lp.run_until_complete(sleeps_never_early(&[
            Duration::from_millis(3),
            Duration::from_millis(3),
        ]));
    });
}

#[test]
fn force_timeout_sqe_sleep_duration_max_does_not_spin() {
    on_each_backend(|backend| {
        let lp = timeout_sqe_loop(backend);
        let forever = lp.spawn(ringloop::sleep(Duration::MAX));
        let remote = lp.remote();
        let stopper = thread::spawn(move || {
            thread::sleep(Duration::from_millis(30));
            remote.stop();
        });
        lp.run_forever();
        stopper.join().unwrap();
        let iterations = lp.stats().iterations;
        assert!(iterations < 20, "{iterations} iterations: the loop spun");
        assert!(!forever.is_done());
    });
}

#[test]
fn ring_entries_small_still_works() {
    on_each_backend(|backend| {
        let lp = EventLoop::builder()
            .backend(backend)
            .ring_entries(2)
            .build()
            .expect("a loop with a 2-entry ring");
        ring_workload(&lp);
    });
}

#[test]
fn ring_entries_small_with_timeout_sqe_still_works() {
    on_each_backend(|backend| {
        let lp = EventLoop::builder()
            .backend(backend)
            .ring_entries(1)
            .force_timeout_sqe(true)
            .build()
            .expect("a loop with a tiny ring and the timeout-SQE path");
        ring_workload(&lp);
    });
}

/// Timers, tasks and a remote wake on `lp`, checking results and no early fire.
fn ring_workload(lp: &EventLoop) {
    let remote = lp.remote();
    let woke = Arc::new(AtomicBool::new(false));
    let w = woke.clone();
    let sender = thread::spawn(move || {
        thread::sleep(Duration::from_millis(5));
        remote
            .call_soon_threadsafe(move || w.store(true, Ordering::Relaxed))
            .unwrap();
    });
    let sum = lp.run_until_complete(async {
        let tasks: Vec<_> = (1..=20u64)
            .map(|i| {
                ringloop::spawn(async move {
                    sleeps_never_early(&[Duration::from_millis(i % 7)]).await;
                    i
                })
            })
            .collect();
        sleeps_never_early(&[Duration::from_millis(10)]).await;
        let mut sum = 0;
        for t in tasks {
            sum += t.await.unwrap();
        }
        sum
    });
    sender.join().unwrap();
    assert_eq!(sum, (1..=20).sum::<u64>());
    // The remote call ran at the latest in the loop's next run.
    lp.run_until_complete(ringloop::sleep(Duration::from_millis(1)));
    assert!(woke.load(Ordering::Relaxed));
}

/// `Builder::timer_slack`: timers due within one step of the grid share one wake-up,
/// still in deadline order and never early. (Iterations are counted, not times: with a
/// 200 ms step, timers due at 1..10 ms land on at most two grid points, however slow the
/// machine is, so the loop wakes at most twice for them; without slack each would need
/// a wake-up of its own unless the machine stalled.)
#[test]
fn timers_within_the_slack_share_a_wake_up_in_order_and_never_early() {
    support::on_each_backend(|backend| {
        let lp = EventLoop::builder()
            .backend(backend)
            .timer_slack(Duration::from_millis(200))
            .build()
            .expect("loop");
        let fired = Rc::new(std::cell::RefCell::new(Vec::new()));
        let start = Instant::now();
        for ms in (1..=10u64).rev() {
            let fired = fired.clone();
            let due = start + Duration::from_millis(ms);
            lp.call_at(due, move || {
                assert!(Instant::now() >= due, "fired early");
                fired.borrow_mut().push(ms);
            });
        }
        let before = lp.stats().iterations;
        lp.run_until_complete(ringloop::sleep_until(start + Duration::from_millis(10)));
        let iterations = lp.stats().iterations - before;
        assert_eq!(*fired.borrow(), (1..=10).collect::<Vec<_>>(), "{backend:?}");
        assert!(
            iterations <= 4,
            "{backend:?}: {iterations} iterations for timers within one slack step"
        );
    });
}
