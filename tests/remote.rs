//! Other threads: `Remote` (stop, call_soon_threadsafe), wakers used off the loop's
//! thread, and wakers that outlive their loop. Threads sleep briefly so the loop is
//! likely blocked in the kernel when they act; no test asserts how long anything took.
//! Every test runs on each backend.

mod support;

use std::cell::Cell;
use std::future::poll_fn;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::thread;
use std::time::Duration;

use ringloop::{Closed, ExceptionKind, Remote};
use support::{DropFlag, new_loop, on_each_backend, record_exceptions};

/// A waker slot shared with another thread.
type SharedWaker = Arc<Mutex<Option<Waker>>>;

/// A future that stores its waker in `slot` and completes once `flag` is set.
fn wait_for_flag(
    slot: SharedWaker,
    flag: Arc<AtomicBool>,
) -> impl std::future::Future<Output = ()> {
    poll_fn(move |cx| {
        if flag.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        *slot.lock().unwrap() = Some(cx.waker().clone());
        if flag.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        Poll::Pending
    })
}

#[test]
fn remote_is_send_sync_clone() {
    fn assert_send_sync_clone<T: Send + Sync + Clone>() {}
    assert_send_sync_clone::<Remote>();
    assert_send_sync_clone::<Closed>();
}

#[test]
fn remote_stop_wakes_blocked_loop() {
    on_each_backend(|backend| {
        let lp = new_loop(backend);
        let remote = lp.remote();
        let stopper = thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            remote.stop();
        });
        // Nothing is ready and no timer is pending: the loop blocks in the kernel until
        // the stop arrives.
        lp.run_forever();
        stopper.join().unwrap();
        assert!(!lp.is_running());
        assert!(
            lp.stats().iterations < 100,
            "the loop blocked instead of spinning: {:?}",
            lp.stats()
        );
    });
}

#[test]
fn remote_stop_before_run_forever_runs_one_iteration() {
    on_each_backend(|backend| {
        let lp = new_loop(backend);
        lp.remote().stop();
        let before = lp.stats().iterations;
        lp.run_forever();
        assert_eq!(lp.stats().iterations, before + 1);
    });
}

#[test]
fn call_soon_threadsafe_wakes_blocked_loop() {
    on_each_backend(|backend| {
        let lp = new_loop(backend);
        let remote = lp.remote();
        let ran = Arc::new(AtomicBool::new(false));
        let r = ran.clone();
        let sender = thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            let stop = remote.clone();
            remote
                .call_soon_threadsafe(move || {
                    r.store(true, Ordering::Release);
                    stop.stop();
                })
                .unwrap();
        });
        lp.run_forever();
        sender.join().unwrap();
        assert!(ran.load(Ordering::Acquire));
    });
}

#[test]
fn call_soon_threadsafe_runs_on_the_loop_thread() {
    on_each_backend(|backend| {
        let lp = new_loop(backend);
        let remote = lp.remote();
        let loop_thread = thread::current().id();
        let seen = Arc::new(Mutex::new(None));
        let s = seen.clone();
        thread::spawn(move || {
            let stop = remote.clone();
            remote
                .call_soon_threadsafe(move || {
                    *s.lock().unwrap() = Some(thread::current().id());
                    stop.stop();
                })
                .unwrap();
        })
        .join()
        .unwrap();
        lp.run_forever();
        assert_eq!(*seen.lock().unwrap(), Some(loop_thread));
    });
}

#[test]
fn call_soon_threadsafe_from_many_threads_runs_each_once() {
    on_each_backend(|backend| {
        const THREADS: usize = 8;
        const PER_THREAD: usize = 2000;
        let lp = new_loop(backend);
        let remote = lp.remote();
        let seen: Arc<Mutex<Vec<(usize, usize)>>> = Arc::new(Mutex::new(Vec::new()));
        let calls = Arc::new(AtomicUsize::new(0));
        let coordinator = {
            let (seen, calls) = (seen.clone(), calls.clone());
            thread::spawn(move || {
                let workers: Vec<_> = (0..THREADS)
                    .map(|t| {
                        let (remote, seen, calls) = (remote.clone(), seen.clone(), calls.clone());
                        thread::spawn(move || {
                            for i in 0..PER_THREAD {
                                let (seen, calls) = (seen.clone(), calls.clone());
                                remote
                                    .call_soon_threadsafe(move || {
                                        calls.fetch_add(1, Ordering::Relaxed);
                                        seen.lock().unwrap().push((t, i));
                                    })
                                    .unwrap();
                            }
                        })
                    })
                    .collect();
                for w in workers {
                    w.join().unwrap();
                }
                remote.stop();
            })
        };
        lp.run_forever();
        coordinator.join().unwrap();
        // The stop ends run_forever after its current iteration, and one iteration runs
        // at most ITERATION_BUDGET nodes: calls drained with the stop may still be queued.
        // Run single iterations until they are done (bounded, in case some were lost).
        let total = THREADS * PER_THREAD;
        for _ in 0..total / ringloop::ITERATION_BUDGET + 10 {
            if calls.load(Ordering::Relaxed) == total {
                break;
            }
            lp.stop();
            lp.run_forever();
        }
        assert_eq!(calls.load(Ordering::Relaxed), THREADS * PER_THREAD);
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), THREADS * PER_THREAD);
        // Each call exactly once, and the calls of one thread in the order it sent them.
        let mut next = [0usize; THREADS];
        for &(t, i) in seen.iter() {
            assert_eq!(
                i, next[t],
                "thread {t}: call {i} out of order or duplicated"
            );
            next[t] += 1;
        }
        assert!(next.iter().all(|&n| n == PER_THREAD));
    });
}

#[test]
fn call_soon_threadsafe_panic_reaches_handler() {
    on_each_backend(|backend| {
        let lp = new_loop(backend);
        let reports = record_exceptions(&lp);
        let remote = lp.remote();
        remote
            .call_soon_threadsafe(|| panic!("remote boom"))
            .unwrap();
        remote.stop();
        lp.run_forever();
        assert_eq!(
            *reports.borrow(),
            [(ExceptionKind::CallbackPanicked, "remote boom".to_string())]
        );
    });
}

#[test]
fn call_soon_threadsafe_after_close_is_err_closed() {
    on_each_backend(|backend| {
        let lp = new_loop(backend);
        let remote = lp.remote();
        assert!(!remote.is_closed());
        drop(lp);
        assert!(remote.is_closed());

        let payload = Arc::new(());
        let p = payload.clone();
        let result = remote.call_soon_threadsafe(move || drop(p));
        assert_eq!(result, Err(Closed));
        assert_eq!(
            Arc::strong_count(&payload),
            1,
            "the refused closure was dropped, not leaked"
        );
        assert!(!Closed.to_string().is_empty());

        // The same from another thread; stop is a no-op.
        let r2 = remote.clone();
        let from_thread = thread::spawn(move || {
            r2.stop();
            r2.call_soon_threadsafe(|| {})
        })
        .join()
        .unwrap();
        assert_eq!(from_thread, Err(Closed));
    });
}

#[test]
fn call_soon_threadsafe_pending_at_close_is_dropped_not_run() {
    on_each_backend(|backend| {
        let ran = Arc::new(AtomicBool::new(false));
        let payload = Arc::new(());
        {
            let lp = new_loop(backend);
            let (r, p) = (ran.clone(), payload.clone());
            lp.remote()
                .call_soon_threadsafe(move || {
                    let _p = p;
                    r.store(true, Ordering::Relaxed);
                })
                .unwrap();
            drop(lp);
        }
        assert!(!ran.load(Ordering::Relaxed));
        assert_eq!(Arc::strong_count(&payload), 1);
    });
}

#[test]
fn waker_from_other_thread_wakes_task() {
    on_each_backend(|backend| {
        let lp = new_loop(backend);
        let slot: SharedWaker = Arc::new(Mutex::new(None));
        let flag = Arc::new(AtomicBool::new(false));
        let task = lp.spawn(wait_for_flag(slot.clone(), flag.clone()));
        let waker_thread = thread::spawn(move || {
            // Wait for the task to publish its waker, then wake it from here.
            let waker = loop {
                if let Some(w) = slot.lock().unwrap().take() {
                    break w;
                }
                thread::sleep(Duration::from_millis(1));
            };
            thread::sleep(Duration::from_millis(10));
            flag.store(true, Ordering::Release);
            waker.wake();
        });
        // The loop has nothing else to do: it blocks until the other thread's wake.
        lp.run_until_complete(task).unwrap();
        waker_thread.join().unwrap();
    });
}

#[test]
fn waker_from_other_thread_wakes_main_future() {
    on_each_backend(|backend| {
        let lp = new_loop(backend);
        let slot: SharedWaker = Arc::new(Mutex::new(None));
        let flag = Arc::new(AtomicBool::new(false));
        let (s, f) = (slot.clone(), flag.clone());
        let waker_thread = thread::spawn(move || {
            let waker = loop {
                if let Some(w) = s.lock().unwrap().take() {
                    break w;
                }
                thread::sleep(Duration::from_millis(1));
            };
            thread::sleep(Duration::from_millis(10));
            f.store(true, Ordering::Release);
            waker.wake_by_ref();
        });
        lp.run_until_complete(wait_for_flag(slot, flag));
        waker_thread.join().unwrap();
    });
}

#[test]
fn task_woken_twice_from_other_thread_runs_once() {
    on_each_backend(|backend| {
        let lp = new_loop(backend);
        let polls = Rc::new(Cell::new(0u32));
        let slot: SharedWaker = Arc::new(Mutex::new(None));
        let (p, s) = (polls.clone(), slot.clone());
        let finish = Arc::new(AtomicBool::new(false));
        let f = finish.clone();
        let task = lp.spawn(poll_fn(move |cx| {
            p.set(p.get() + 1);
            *s.lock().unwrap() = Some(cx.waker().clone());
            if f.load(Ordering::Acquire) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        }));
        lp.run_until_complete(ringloop::yield_now());
        assert_eq!(polls.get(), 1);

        let waker = slot.lock().unwrap().take().unwrap();
        thread::spawn(move || {
            waker.wake_by_ref();
            waker.wake_by_ref();
            waker.wake();
        })
        .join()
        .unwrap();
        lp.run_until_complete(async {
            for _ in 0..3 {
                ringloop::yield_now().await;
            }
        });
        assert_eq!(
            polls.get(),
            2,
            "three remote wakes before it ran: polled once"
        );

        finish.store(true, Ordering::Release);
        let waker = slot.lock().unwrap().take().unwrap();
        thread::spawn(move || waker.wake()).join().unwrap();
        lp.run_until_complete(task).unwrap();
        assert_eq!(polls.get(), 3);
    });
}

#[test]
fn waker_used_while_loop_idle_runs_task_on_next_run() {
    on_each_backend(|backend| {
        let lp = new_loop(backend);
        let slot: SharedWaker = Arc::new(Mutex::new(None));
        let flag = Arc::new(AtomicBool::new(false));
        let task = lp.spawn(wait_for_flag(slot.clone(), flag.clone()));
        lp.run_until_complete(ringloop::yield_now());
        assert!(!task.is_done());
        // Same thread, loop not running: the wake takes the remote path.
        flag.store(true, Ordering::Release);
        slot.lock().unwrap().take().unwrap().wake();
        lp.run_until_complete(task).unwrap();
    });
}

#[test]
fn stale_waker_after_loop_drop_is_noop() {
    on_each_backend(|backend| {
        let slot: SharedWaker = Arc::new(Mutex::new(None));
        let dropped = Rc::new(Cell::new(false));
        {
            let lp = new_loop(backend);
            let guard = DropFlag(dropped.clone());
            let inner = wait_for_flag(slot.clone(), Arc::new(AtomicBool::new(false)));
            drop(lp.spawn(async move {
                let _guard = guard;
                inner.await;
            }));
            lp.run_until_complete(ringloop::yield_now());
            assert!(slot.lock().unwrap().is_some());
        }
        assert!(dropped.get(), "closing the loop dropped the task's future");
        let waker = slot.lock().unwrap().take().unwrap();
        // Every waker operation on a closed loop is harmless, on any thread.
        waker.wake_by_ref();
        let clone = waker.clone();
        clone.wake();
        let another = waker.clone();
        thread::spawn(move || {
            another.wake_by_ref();
            let second = another.clone();
            second.wake();
            another.wake();
        })
        .join()
        .unwrap();
        // And while a different loop runs on this thread.
        let other = new_loop(backend);
        other.run_until_complete(async {
            waker.wake_by_ref();
            ringloop::yield_now().await;
        });
        waker.wake();
    });
}

#[test]
fn waker_dropped_on_other_thread_frees_task() {
    on_each_backend(|backend| {
        let lp = new_loop(backend);
        let slot: SharedWaker = Arc::new(Mutex::new(None));
        let flag = Arc::new(AtomicBool::new(false));
        let task = lp.spawn(wait_for_flag(slot.clone(), flag.clone()));
        lp.run_until_complete(ringloop::yield_now());
        let waker = slot.lock().unwrap().take().unwrap();
        flag.store(true, Ordering::Release);
        waker.wake_by_ref();
        lp.run_until_complete(task).unwrap();
        // The task is done and its handle gone: the waker may hold the last reference.
        thread::spawn(move || drop(waker)).join().unwrap();
        assert_eq!(lp.stats().tasks_live, 0);
    });
}
