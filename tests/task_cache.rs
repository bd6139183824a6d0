//! The loop's recycling of task allocations (`task/cache.rs`), on both backends: spawn
//! and join allocate nothing in steady state, a burst reuses the last burst's memory,
//! a cell freed on another thread goes back to the allocator, and dropping the loop
//! frees everything it kept.

mod support;

use std::sync::Mutex;
use std::task::{Poll, Waker};

use support::{for_each_backend, on_each_backend};

#[global_allocator]
static ALLOC: testkit::CountingAlloc = testkit::CountingAlloc::new();

/// The live-memory checks need no other test allocating meanwhile.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn spawn_and_join_allocate_nothing_once_warm() {
    let _serial = serial();
    for_each_backend(|lp| {
        lp.run_until_complete(async {
            let mut handles = Vec::with_capacity(10_000);
            // First burst: cells come from the allocator.
            for i in 0..10_000u64 {
                handles.push(ringloop::spawn(async move { i }));
            }
            let mut sum = 0;
            for h in handles.drain(..) {
                sum += h.await.unwrap();
            }
            assert_eq!(sum, 10_000 * 9_999 / 2);
            // Second burst, and single spawn-join pairs: all from the loop's lists.
            let before = testkit::CountingAlloc::thread_allocations();
            for i in 0..10_000u64 {
                handles.push(ringloop::spawn(async move { i * 2 }));
            }
            for h in handles.drain(..) {
                sum += h.await.unwrap();
            }
            for i in 0..1_000u64 {
                sum += ringloop::spawn(async move { i }).await.unwrap();
                sum += ringloop::spawn_eager(async move { i }).await.unwrap();
            }
            let spent = testkit::CountingAlloc::thread_allocations() - before;
            assert_eq!(
                spent,
                0,
                "{:?}: a warm loop allocates no task",
                lp.backend()
            );
            assert!(sum > 0);
        });
    });
}

#[test]
fn a_dropped_loop_frees_every_cell_it_kept() {
    let _serial = serial();
    on_each_backend(|backend| {
        // Warm the process first (thread-locals, the backend's first-use setup).
        drop(
            support::new_loop(backend)
                .run_until_complete(async { ringloop::spawn(async {}).await }),
        );
        let before = ALLOC.live_blocks();
        let lp = support::new_loop(backend);
        lp.run_until_complete(async {
            let tasks: Vec<_> = (0..5_000u32)
                .map(|i| ringloop::spawn(async move { i }))
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
        });
        assert!(
            ALLOC.live_blocks() > before + 4_000,
            "the cells are kept for reuse"
        );
        drop(lp);
        // Other threads of the harness allocate a little meanwhile: the 5,000 cells
        // are what must be gone.
        let left = ALLOC.live_blocks() - before;
        assert!(
            left < 100,
            "{backend:?}: {left} blocks left after the loop's drop"
        );
    });
}

#[test]
fn cells_released_on_another_thread_go_back_to_the_allocator() {
    let _serial = serial();
    on_each_backend(|backend| {
        let lp = support::new_loop(backend);
        lp.run_until_complete(async { ringloop::spawn(async {}).await.unwrap() });
        let before = ALLOC.live_blocks();
        // Tasks that leave a clone of their waker where another thread takes it, and end.
        let parked: std::sync::Arc<Mutex<Vec<Waker>>> = Default::default();
        let p = parked.clone();
        lp.run_until_complete(async move {
            let tasks: Vec<_> = (0..2_000u32)
                .map(|i| {
                    let p = p.clone();
                    ringloop::spawn(async move {
                        std::future::poll_fn(|cx| {
                            p.lock().unwrap().push(cx.waker().clone());
                            Poll::Ready(())
                        })
                        .await;
                        i
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
        });
        // The wakers hold the cells' last references; they go on another thread.
        let wakers = std::mem::take(&mut *parked.lock().unwrap());
        assert_eq!(wakers.len(), 2_000);
        std::thread::spawn(move || drop(wakers)).join().unwrap();
        // The loop goes on as ever.
        lp.run_until_complete(async { ringloop::spawn(async { 1 }).await.unwrap() });
        drop(lp);
        let left = ALLOC.live_blocks() - before;
        assert!(left < 100, "{backend:?}: {left} blocks left: cells lost");
    });
}
