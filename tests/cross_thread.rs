//! Other threads at scale (issue 5, item 5). `tests/remote.rs` already covers the single
//! cases: a stop waking a loop blocked in the kernel, `call_soon_threadsafe` from 8
//! threads × 2,000, `Err(Closed)` after the drop, and a stale waker woken on another
//! thread after the drop. This file adds the sizes and the races:
//!
//! - 8 threads × 100,000 calls (× `RINGLOOP_SOAK`; `RINGLOOP_SOAK=10` is the full
//!   8 × 1,000,000), each run exactly once and in per-thread order;
//! - a thousand stops in a row, each waking a loop blocked in the kernel with a read and
//!   a far timer pending (a lost wake-up would hang the test);
//! - calls racing the loop's drop: each closure runs once or is refused, and is dropped
//!   exactly once either way; `Closed` is final;
//! - stale wakers woken from 8 threads while the loop is dropped and after: harmless,
//!   and the tasks' memory is freed once the last waker goes.
//!
//! Counts, never timings. Every test runs on each backend, and one test at a time
//! (`support::serial`): one measures the heap, and the others would crowd two cores.

mod support;

use std::cell::Cell;
use std::future::poll_fn;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex, mpsc};
use std::task::{Poll, Waker};
use std::thread;
use std::time::Duration;

use ringloop::Closed;
use ringloop::net::UnixStream;
use support::{new_loop, on_each_backend, serial, soak_scale};
use testkit::CountingAlloc;

#[global_allocator]
static HEAP: CountingAlloc = CountingAlloc::new();

#[test]
fn eight_threads_of_call_soon_threadsafe_each_run_exactly_once_in_order() {
    let _serial = serial();
    on_each_backend(|backend| {
        const THREADS: usize = 8;
        let per_thread = 100_000 * soak_scale();
        let lp = new_loop(backend);
        let remote = lp.remote();
        // Per sending thread: the sequence number expected next. Only the loop thread
        // touches them; atomics because the closures must be `Send`.
        let next: Arc<Vec<AtomicUsize>> =
            Arc::new((0..THREADS).map(|_| AtomicUsize::new(0)).collect());
        let out_of_order = Arc::new(AtomicUsize::new(0));
        let ran = Arc::new(AtomicUsize::new(0));
        let start = Arc::new(Barrier::new(THREADS));
        let coordinator = {
            let (next, out_of_order, ran) = (next.clone(), out_of_order.clone(), ran.clone());
            thread::spawn(move || {
                let workers: Vec<_> = (0..THREADS)
                    .map(|t| {
                        let (remote, next, bad, ran, start) = (
                            remote.clone(),
                            next.clone(),
                            out_of_order.clone(),
                            ran.clone(),
                            start.clone(),
                        );
                        thread::spawn(move || {
                            start.wait();
                            for i in 0..per_thread {
                                let (next, bad, ran) = (next.clone(), bad.clone(), ran.clone());
                                remote
                                    .call_soon_threadsafe(move || {
                                        ran.fetch_add(1, Ordering::Relaxed);
                                        if next[t].swap(i + 1, Ordering::Relaxed) != i {
                                            bad.fetch_add(1, Ordering::Relaxed);
                                        }
                                    })
                                    .expect("the loop is open");
                            }
                        })
                    })
                    .collect();
                for w in workers {
                    w.join().unwrap();
                }
                // Every call above was queued before this one: when it runs, they have run.
                let stop = remote.clone();
                remote.call_soon_threadsafe(move || stop.stop()).unwrap();
            })
        };
        lp.run_forever();
        coordinator.join().unwrap();
        let total = THREADS * per_thread;
        assert_eq!(
            ran.load(Ordering::Relaxed),
            total,
            "calls lost or run twice"
        );
        assert_eq!(
            out_of_order.load(Ordering::Relaxed),
            0,
            "calls out of order or repeated"
        );
        for (t, n) in next.iter().enumerate() {
            assert_eq!(n.load(Ordering::Relaxed), per_thread, "thread {t}");
        }
        println!("{THREADS} threads x {per_thread} calls: each ran once, in order");
    });
}

#[test]
fn a_thousand_remote_stops_each_wake_a_loop_blocked_with_io_and_a_far_timer() {
    let _serial = serial();
    on_each_backend(|backend| {
        let rounds = 1000 * soak_scale();
        let lp = new_loop(backend);
        // Something for the kernel wait to be about: an idle read and a far timer.
        let (a, _b) = UnixStream::pair().unwrap();
        let reader = lp.spawn(async move { a.read(vec![0u8; 16]).await.0.map(|_| ()) });
        let far = lp.call_later(Duration::from_secs(3600), || panic!("the far timer fired"));
        let (ready_tx, ready_rx) = mpsc::channel::<usize>();
        let remote = lp.remote();
        let stopper = thread::spawn(move || {
            for i in 0..rounds {
                assert_eq!(ready_rx.recv().unwrap(), i);
                // Vary where the stop lands: before the loop blocks, or while it is blocked.
                if i % 2 == 1 {
                    thread::sleep(Duration::from_micros((i % 7) as u64 * 50));
                }
                remote.stop();
            }
        });
        let mut blocked_stops = 0;
        for i in 0..rounds {
            let before = lp.stats();
            ready_tx.send(i).unwrap();
            lp.run_forever();
            let after = lp.stats();
            assert!(after.iterations > before.iterations);
            if after.io_uring_enters > before.io_uring_enters {
                blocked_stops += 1;
            }
        }
        stopper.join().unwrap();
        assert!(!reader.is_done(), "the idle read completed");
        assert!(far.cancel());
        reader.cancel();
        assert!(lp.run_until_complete(reader).unwrap_err().is_cancelled());
        println!(
            "{rounds} remote stops, {blocked_stops} of them after the loop entered the kernel"
        );
    });
}

#[test]
fn a_remote_stop_ends_run_forever_while_calls_arrive_faster_than_they_run() {
    const SENDERS: usize = 4;
    let _serial = serial();
    on_each_backend(|backend| {
        let lp = new_loop(backend);
        let remote = lp.remote();
        let halt = Arc::new(AtomicBool::new(false));
        let ran = Arc::new(AtomicUsize::new(0));
        let go = Arc::new(Barrier::new(SENDERS + 2));
        let senders: Vec<_> = (0..SENDERS)
            .map(|_| {
                let (remote, halt, ran, go) =
                    (remote.clone(), halt.clone(), ran.clone(), go.clone());
                thread::spawn(move || {
                    go.wait();
                    let mut sent = 0usize;
                    while !halt.load(Ordering::Acquire) {
                        let ran = ran.clone();
                        remote
                            .call_soon_threadsafe(move || {
                                ran.fetch_add(1, Ordering::Relaxed);
                            })
                            .expect("the loop is open");
                        sent += 1;
                    }
                    sent
                })
            })
            .collect();
        // Once the flood is being run, stop the loop from another thread. Each iteration
        // takes only the messages queued when it began, so the stop is seen even though
        // the queue never empties.
        let stopper = {
            let (remote, ran, go) = (remote.clone(), ran.clone(), go.clone());
            thread::spawn(move || {
                go.wait();
                while ran.load(Ordering::Relaxed) < 2000 {
                    thread::yield_now();
                }
                remote.stop();
            })
        };
        go.wait();
        lp.run_forever();
        let flooding = !halt.swap(true, Ordering::AcqRel);
        stopper.join().unwrap();
        let sent: usize = senders.into_iter().map(|s| s.join().unwrap()).sum();
        assert!(
            flooding,
            "run_forever returned while the calls still arrived"
        );
        println!(
            "stopped under a flood: {sent} calls sent, {} run, over {} iterations",
            ran.load(Ordering::Relaxed),
            lp.stats().iterations
        );
    });
}

/// Counts drops of the closures it is moved into.
struct Payload(Arc<AtomicUsize>);

impl Drop for Payload {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

#[test]
fn calls_racing_the_loops_drop_run_once_or_are_refused_and_drop_exactly_once() {
    let _serial = serial();
    on_each_backend(|backend| {
        const THREADS: usize = 8;
        let rounds = 20 * soak_scale();
        let mut totals = (0usize, 0usize, 0usize);
        for round in 0..rounds {
            let lp = new_loop(backend);
            let remote = lp.remote();
            let ran = Arc::new(AtomicUsize::new(0));
            let sent = Arc::new(AtomicUsize::new(0));
            let dropped = Arc::new(AtomicUsize::new(0));
            let go = Arc::new(Barrier::new(THREADS + 1));
            let senders: Vec<_> = (0..THREADS)
                .map(|_| {
                    let (remote, ran, sent, dropped, go) = (
                        remote.clone(),
                        ran.clone(),
                        sent.clone(),
                        dropped.clone(),
                        go.clone(),
                    );
                    thread::spawn(move || {
                        go.wait();
                        let (mut accepted, mut refused) = (0usize, 0usize);
                        // Send until refused, then a few more: `Closed` must be final.
                        while refused < 100 {
                            // Eight senders outrun one loop: keep the backlog bounded.
                            while sent.load(Ordering::Relaxed) > ran.load(Ordering::Relaxed) + 4096
                                && !remote.is_closed()
                            {
                                thread::yield_now();
                            }
                            sent.fetch_add(1, Ordering::Relaxed);
                            let (ran, payload) = (ran.clone(), Payload(dropped.clone()));
                            match remote.call_soon_threadsafe(move || {
                                let _payload = payload;
                                ran.fetch_add(1, Ordering::Relaxed);
                            }) {
                                Ok(()) => {
                                    assert_eq!(refused, 0, "accepted after Err(Closed)");
                                    accepted += 1;
                                }
                                Err(Closed) => refused += 1,
                            }
                        }
                        (accepted, refused)
                    })
                })
                .collect();
            go.wait();
            // Run a little while the calls pour in, then drop the loop under them.
            for _ in 0..1 + round % 4 {
                lp.stop();
                lp.run_forever();
            }
            drop(lp);
            let (mut accepted, mut refused) = (0, 0);
            for s in senders {
                let (a, r) = s.join().unwrap();
                accepted += a;
                refused += r;
            }
            let ran = ran.load(Ordering::Relaxed);
            assert!(
                ran <= accepted,
                "round {round}: {ran} ran of {accepted} accepted"
            );
            assert_eq!(
                dropped.load(Ordering::Relaxed),
                accepted + refused,
                "round {round}: every closure dropped exactly once (ran {ran}, accepted {accepted}, refused {refused})"
            );
            totals.0 += ran;
            totals.1 += accepted - ran;
            totals.2 += refused;
        }
        println!(
            "{rounds} drops under fire: {} calls ran, {} accepted and dropped unrun at close, {} refused",
            totals.0, totals.1, totals.2
        );
    });
}

#[test]
fn stale_wakers_woken_from_eight_threads_during_and_after_the_drop_are_harmless() {
    const THREADS: usize = 8;
    const TASKS: usize = 64;
    let _serial = serial();
    on_each_backend(|backend| {
        // Warm up what the first loop and thread allocate for good.
        {
            let lp = new_loop(backend);
            lp.run_until_complete(ringloop::yield_now());
            thread::spawn(|| {}).join().unwrap();
        }
        let heap_before = HEAP.live_bytes();
        let blocks_before = HEAP.live_blocks();
        let dropped = Rc::new(Cell::new(0usize));
        let wakers: Arc<Mutex<Vec<Waker>>> = Arc::default();
        let lp = new_loop(backend);
        struct Counted(Rc<Cell<usize>>);
        impl Drop for Counted {
            fn drop(&mut self) {
                self.0.set(self.0.get() + 1);
            }
        }
        for _ in 0..TASKS {
            let (guard, wakers) = (Counted(dropped.clone()), wakers.clone());
            let mut registered = false;
            drop(lp.spawn(poll_fn(move |cx| {
                let _keep = &guard;
                if !registered {
                    wakers.lock().unwrap().push(cx.waker().clone());
                    registered = true;
                }
                Poll::<()>::Pending
            })));
        }
        lp.run_until_complete(ringloop::yield_now());
        assert_eq!(wakers.lock().unwrap().len(), TASKS);
        let stop = Arc::new(AtomicBool::new(false));
        let go = Arc::new(Barrier::new(THREADS + 1));
        let wakes = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..THREADS)
            .map(|t| {
                // Each thread gets clones of every waker, and wakes them until told to stop.
                let mine: Vec<Waker> = wakers.lock().unwrap().clone();
                let (stop, go, wakes) = (stop.clone(), go.clone(), wakes.clone());
                thread::spawn(move || {
                    go.wait();
                    let mut n = 0usize;
                    while !stop.load(Ordering::Acquire) || n < 10 * TASKS {
                        let w = &mine[(n + t) % TASKS];
                        if n % 3 == 0 {
                            // By value on a clone: the path that drops a reference too.
                            #[allow(clippy::waker_clone_wake)]
                            w.clone().wake();
                        } else {
                            w.wake_by_ref();
                        }
                        n += 1;
                    }
                    wakes.fetch_add(n, Ordering::Relaxed);
                    // The clones go on this thread, some of them last.
                })
            })
            .collect();
        go.wait();
        // The loop runs while the wakes arrive, then is dropped under them.
        for _ in 0..3 {
            lp.stop();
            lp.run_forever();
        }
        drop(lp);
        assert_eq!(
            dropped.get(),
            TASKS,
            "each task's future dropped exactly once at the drop"
        );
        // Woken after the drop too, on this thread and on the others.
        for w in wakers.lock().unwrap().iter() {
            w.wake_by_ref();
        }
        stop.store(true, Ordering::Release);
        for t in threads {
            t.join().unwrap();
        }
        wakers.lock().unwrap().clear();
        assert_eq!(dropped.get(), TASKS, "no future dropped twice");
        drop(wakers);
        // Every task's memory went with its last waker.
        let bytes = HEAP.live_bytes() - heap_before;
        let blocks = HEAP.live_blocks() - blocks_before;
        assert!(
            bytes <= 16 * 1024 && blocks <= 64,
            "heap grew by {bytes} bytes in {blocks} blocks: task memory leaked"
        );
        println!(
            "{} stale wakes from {THREADS} threads on {TASKS} tasks; heap {bytes:+} bytes / {blocks:+} blocks",
            wakes.load(Ordering::Relaxed)
        );
    });
}
