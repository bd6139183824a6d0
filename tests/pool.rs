//! One loop per thread (`LoopPool`) and cross-loop work with a result (`Remote::spawn`,
//! `RemoteTask`): results reach plain threads, other loops and another runtime; a
//! closed loop answers `Cancelled` at once; panics and cancellation cross over; a
//! dropped task detaches; a two-loop server on one port (`SO_REUSEPORT`) spreads its
//! connections over both loops. Every test runs on io_uring and epoll.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ringloop::net::{ListenOptions, TcpListener, TcpStream};
use ringloop::{Backend, EventLoop, LoopPool, TaskError};
use support::{HANG, backends, guard, shared_fds};

fn pool(backend: Backend, threads: usize) -> LoopPool {
    let mut loops = EventLoop::builder();
    loops.backend(backend);
    LoopPool::builder()
        .threads(threads)
        .loops(loops)
        .build()
        .unwrap_or_else(|e| panic!("a pool on {backend:?}: {e}"))
}

#[test]
fn remote_work_returns_to_a_plain_thread_another_loop_and_another_runtime() {
    for backend in backends() {
        let pool = pool(backend, 1);
        let remote = pool.remote(0);
        // A plain thread joins.
        let on_loop = remote.spawn(|| async { std::thread::current().name().map(String::from) });
        assert_eq!(
            on_loop.join().expect("work"),
            Some("ringloop-pool-0".to_string()),
            "{backend:?}: the work runs on the pool's thread"
        );
        // Another ringloop loop awaits.
        let r = remote.clone();
        let doubled = ringloop::run(async move {
            let task = r.spawn(|| async {
                ringloop::sleep(Duration::from_millis(2)).await;
                21 * 2
            });
            guard("a remote task", task).await
        });
        assert_eq!(doubled.expect("work"), 42);
        // A tokio runtime awaits.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        let r = remote.clone();
        let got = rt.block_on(async move { r.spawn(|| async { "hello from ringloop" }).await });
        assert_eq!(got.expect("work"), "hello from ringloop");
    }
}

#[test]
fn a_closed_loop_answers_cancelled_at_once() {
    for backend in backends() {
        let pool = pool(backend, 1);
        let remote = pool.remote(0);
        drop(pool);
        assert!(
            remote.is_closed(),
            "{backend:?}: the pool's loop closed with the pool"
        );
        let task = remote.spawn(|| async { 1 });
        assert!(
            task.is_finished(),
            "answered at once, not when someone waits"
        );
        assert!(matches!(task.join(), Err(TaskError::Cancelled)));
    }
}

#[test]
fn work_cut_off_by_the_loops_close_answers_cancelled() {
    for backend in backends() {
        let pool = pool(backend, 1);
        let started = Arc::new(AtomicUsize::new(0));
        let s = started.clone();
        let task = pool.remote(0).spawn(move || async move {
            s.fetch_add(1, Ordering::SeqCst);
            ringloop::sleep(HANG * 10).await;
            "never"
        });
        while started.load(Ordering::SeqCst) == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        drop(pool); // stops the loop, which cancels its tasks
        assert!(
            matches!(task.join(), Err(TaskError::Cancelled)),
            "{backend:?}"
        );
    }
}

#[test]
fn a_panic_in_remote_work_arrives_as_panicked() {
    for backend in backends() {
        let pool = pool(backend, 1);
        let in_future = pool
            .remote(0)
            .spawn(|| async { panic!("boom in the future") });
        match in_future.join() {
            Err(TaskError::Panicked(payload)) => {
                assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom in the future"));
            }
            other => panic!("{backend:?}: expected Panicked, got {other:?}"),
        }
        let in_call = pool.remote(0).spawn(|| -> std::future::Ready<()> {
            panic!("boom in the call");
        });
        assert!(
            matches!(in_call.join(), Err(TaskError::Panicked(_))),
            "{backend:?}"
        );
        // The loop runs on.
        assert_eq!(
            pool.remote(0).spawn(|| async { 7 }).join().expect("work"),
            7
        );
    }
}

#[test]
fn a_dropped_remote_task_detaches_and_the_work_runs_on() {
    for backend in backends() {
        let pool = pool(backend, 1);
        let ran = Arc::new(AtomicUsize::new(0));
        let r = ran.clone();
        drop(pool.remote(0).spawn(move || async move {
            ringloop::sleep(Duration::from_millis(5)).await;
            r.fetch_add(1, Ordering::SeqCst);
        }));
        // A later task on the same loop finishes after the detached one.
        let r = ran.clone();
        let seen = pool
            .remote(0)
            .spawn(move || async move {
                ringloop::sleep(Duration::from_millis(20)).await;
                r.load(Ordering::SeqCst)
            })
            .join()
            .expect("work");
        assert_eq!(seen, 1, "{backend:?}: the detached work ran");
    }
}

/// A loop awaiting a `RemoteTask` spins for the answer before blocking
/// (`Builder::remote_spin`), yet its own timers, tasks and I/O go on: the remote work
/// here answers only after the awaiting loop's 1 ms ticker has ticked three times, so a
/// spin that held the loop would never see its answer. With the spin off, at its
/// default, and longer than the ticker's period.
#[test]
fn a_loop_awaiting_remote_work_keeps_running_its_own_while_it_waits() {
    for backend in backends() {
        let pool = pool(backend, 1);
        for spin in [
            Duration::ZERO,
            Duration::from_micros(50),
            Duration::from_millis(20),
        ] {
            let lp = EventLoop::builder()
                .backend(backend)
                .remote_spin(spin)
                .build()
                .expect("a loop");
            let ticks = Arc::new(AtomicUsize::new(0));
            let remote = pool.remote(0);
            let seen = ticks.clone();
            let what = format!("{backend:?}, remote_spin {spin:?}");
            let answers = lp.run_until_complete(guard(&what, async move {
                let t = ticks.clone();
                let ticker = ringloop::spawn(async move {
                    loop {
                        ringloop::sleep(Duration::from_millis(1)).await;
                        t.fetch_add(1, Ordering::SeqCst);
                    }
                });
                let mut answers = Vec::new();
                for round in 0..3usize {
                    let t = ticks.clone();
                    let answer = remote.spawn(move || async move {
                        // Waits on the awaiting loop's ticker, never on a clock.
                        while t.load(Ordering::SeqCst) < 3 * (round + 1) {
                            ringloop::sleep(Duration::from_micros(200)).await;
                        }
                        round * 10
                    });
                    answers.push(answer.await.expect("remote work"));
                }
                ticker.cancel();
                answers
            }));
            assert_eq!(answers, [0, 10, 20], "{backend:?}, remote_spin {spin:?}");
            assert!(
                seen.load(Ordering::SeqCst) >= 9,
                "{backend:?}: the ticker ran"
            );
        }
    }
}

#[test]
fn join_on_a_loop_thread_panics_with_advice() {
    let pool = pool(Backend::Epoll, 1);
    let remote = pool.remote(0);
    let message = ringloop::run(async move {
        let task = remote.spawn(|| async { 1 });
        let joined = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| task.join()));
        let payload = joined.expect_err("join must refuse to block a loop");
        support::panic_message(&*payload)
    });
    assert!(message.contains(".await"), "{message}");
}

#[test]
fn run_each_runs_on_every_loop_concurrently_and_returns_by_index() {
    for backend in backends() {
        let pool = pool(backend, 3);
        assert_eq!(pool.len(), 3);
        // Every loop waits until all three have started: only concurrent runs finish.
        let arrived = Arc::new(AtomicUsize::new(0));
        let results = pool.run_each(move |index| {
            let arrived = arrived.clone();
            async move {
                arrived.fetch_add(1, Ordering::SeqCst);
                let deadline = std::time::Instant::now() + HANG;
                while arrived.load(Ordering::SeqCst) < 3 {
                    assert!(
                        std::time::Instant::now() < deadline,
                        "the loops ran one by one"
                    );
                    ringloop::sleep(Duration::from_millis(1)).await;
                }
                (index, std::thread::current().name().map(String::from))
            }
        });
        assert_eq!(
            results,
            (0..3)
                .map(|i| (i, Some(format!("ringloop-pool-{i}"))))
                .collect::<Vec<_>>(),
            "{backend:?}"
        );
    }
}

#[test]
fn two_loops_serve_one_port_and_share_the_connections() {
    let _fds = shared_fds();
    for backend in backends() {
        let pool = pool(backend, 2);
        // The first listener picks the port; the second loop binds the same one.
        let probe = TcpListener::bind_with("127.0.0.1:0", ListenOptions::new().reuse_port(true))
            .expect("bind");
        let addr = probe.local_addr().expect("address");
        const CLIENTS: usize = 64;
        let served: Arc<Vec<AtomicUsize>> = Arc::new((0..2).map(|_| AtomicUsize::new(0)).collect());
        let s = served.clone();
        let servers = std::thread::spawn(move || {
            pool.run_each(move |index| {
                let served = s.clone();
                async move {
                    let options = ListenOptions::new().reuse_port(true);
                    let listener = TcpListener::bind_with(addr, options).expect("bind loop");
                    loop {
                        let total: usize = served.iter().map(|n| n.load(Ordering::SeqCst)).sum();
                        if total >= CLIENTS {
                            return;
                        }
                        let accepted =
                            ringloop::timeout(Duration::from_millis(20), listener.accept()).await;
                        let Ok(accepted) = accepted else { continue };
                        let (stream, _) = accepted.expect("accept");
                        ringloop::spawn(async move {
                            let (_, buf) = stream.read(Vec::with_capacity(64)).await;
                            let _ = stream.write_all(buf).await;
                        });
                        served[index].fetch_add(1, Ordering::SeqCst);
                    }
                }
            });
        });
        drop(probe);
        // Each client is its own connection (its own source port): the kernel hashes
        // them over both listeners.
        ringloop::run(async move {
            for i in 0..CLIENTS {
                let stream = loop {
                    match TcpStream::connect(addr).await {
                        Ok(stream) => break stream,
                        // The loops may not have bound yet.
                        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                            ringloop::sleep(Duration::from_millis(5)).await;
                        }
                        Err(e) => panic!("connect: {e}"),
                    }
                };
                let message = format!("client {i}").into_bytes();
                let (sent, _) = stream.write_all(message.clone()).await;
                sent.expect("write");
                let (read, echoed) = guard(
                    "an echo",
                    stream.read_exact(Vec::with_capacity(message.len())),
                )
                .await;
                read.expect("read");
                assert_eq!(echoed, message);
            }
        });
        servers.join().expect("the pool's servers");
        let counts: Vec<usize> = served.iter().map(|n| n.load(Ordering::SeqCst)).collect();
        assert_eq!(counts.iter().sum::<usize>(), CLIENTS);
        assert!(
            counts.iter().all(|&n| n > 0),
            "{backend:?}: one loop served every connection: {counts:?}"
        );
    }
}
