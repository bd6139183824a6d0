//! The blocking pool (`spawn_blocking`) and name lookup off the loop (`lookup_host`,
//! `TcpStream::connect` with names): the loop runs on while blocking work runs, results
//! and panics come back, the thread limit holds, cancellation drops only the result,
//! and dropping a loop waits for no job. Every test runs on io_uring and epoll.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use ringloop::net::{TcpListener, TcpStream, lookup_host};
use ringloop::{EventLoop, TaskError};
use support::{guard, on_each_backend, shared_fds};

#[test]
fn the_loop_runs_on_while_a_blocking_job_waits() {
    on_each_backend(|backend| {
        let lp = support::new_loop(backend);
        let (ticked_tx, ticked_rx) = mpsc::channel::<u32>();
        let sum = lp.run_until_complete(async move {
            // The job blocks its thread until the loop has ticked five times: if the
            // job blocked the loop instead, neither would ever finish.
            let job = ringloop::spawn_blocking(move || {
                let ticks = ticked_rx.recv().expect("the loop's ticks");
                (1..=ticks).sum::<u32>()
            });
            for _ in 0..5 {
                ringloop::sleep(Duration::from_millis(1)).await;
            }
            ticked_tx.send(5).expect("the job waits");
            guard("the blocking job", job).await.expect("job")
        });
        assert_eq!(sum, 15);
        assert!(lp.stats().blocking_jobs >= 1);
    });
}

#[test]
fn a_panicking_job_fails_its_task_and_the_loop_runs_on() {
    on_each_backend(|backend| {
        let lp = support::new_loop(backend);
        lp.run_until_complete(async {
            let job = ringloop::spawn_blocking(|| -> u32 { panic!("job failed") });
            match guard("the failing job", job).await {
                Err(TaskError::Panicked(payload)) => {
                    assert_eq!(support::panic_message(&*payload), "job failed");
                }
                other => panic!("expected Panicked, got {other:?}"),
            }
            let next = ringloop::spawn_blocking(|| 7);
            assert_eq!(guard("the next job", next).await.expect("job"), 7);
        });
    });
}

#[test]
fn no_more_threads_than_the_limit_and_every_job_runs_in_order() {
    on_each_backend(|backend| {
        let lp = EventLoop::builder()
            .backend(backend)
            .blocking_threads(2)
            .build()
            .expect("loop");
        let order = Arc::new(Mutex::new(Vec::new()));
        let busy = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        lp.run_until_complete({
            let (order, busy, most) = (order.clone(), busy.clone(), most.clone());
            async move {
                let jobs: Vec<_> = (0..8)
                    .map(|i| {
                        let (order, busy, most) = (order.clone(), busy.clone(), most.clone());
                        ringloop::spawn_blocking(move || {
                            let now = busy.fetch_add(1, Ordering::SeqCst) + 1;
                            most.fetch_max(now, Ordering::SeqCst);
                            order.lock().unwrap().push(i);
                            std::thread::sleep(Duration::from_millis(2));
                            busy.fetch_sub(1, Ordering::SeqCst);
                            i
                        })
                    })
                    .collect();
                for (i, job) in jobs.into_iter().enumerate() {
                    assert_eq!(guard("a job", job).await.expect("job"), i);
                }
            }
        });
        assert!(
            most.load(Ordering::SeqCst) <= 2,
            "more than 2 jobs ran at once"
        );
        assert!(lp.stats().blocking_threads <= 2);
        // Started in the order they were spawned (two at a time).
        let order = order.lock().unwrap().clone();
        for pair in order.windows(2) {
            assert!(
                pair[0] < pair[1] + 2,
                "jobs started out of order: {order:?}"
            );
        }
        assert_eq!(lp.stats().blocking_jobs, 8);
    });
}

#[test]
fn a_cancelled_task_drops_the_result_but_the_job_runs_to_its_end() {
    on_each_backend(|backend| {
        let lp = support::new_loop(backend);
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let (done_tx, done_rx) = mpsc::channel::<()>();
        lp.run_until_complete(async move {
            let job = ringloop::spawn_blocking(move || {
                go_rx.recv().expect("go");
                done_tx.send(()).expect("done");
                "unseen"
            });
            ringloop::sleep(Duration::from_millis(1)).await;
            assert!(job.cancel());
            assert!(matches!(job.await, Err(TaskError::Cancelled)));
            go_tx.send(()).expect("the job waits");
        });
        done_rx
            .recv_timeout(support::HANG)
            .expect("the job ran to its end");
    });
}

#[test]
fn dropping_the_loop_waits_for_no_blocking_job() {
    on_each_backend(|backend| {
        let lp = support::new_loop(backend);
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let (started_tx, started_rx) = mpsc::channel::<()>();
        let (ended_tx, ended_rx) = mpsc::channel::<()>();
        lp.run_until_complete(async move {
            let job = ringloop::spawn_blocking(move || {
                started_tx.send(()).expect("started");
                release_rx.recv().expect("release");
                ended_tx.send(()).expect("ended");
            });
            drop(job); // detached: it runs on
            while started_rx.try_recv().is_err() {
                ringloop::sleep(Duration::from_millis(1)).await;
            }
        });
        // The job is still blocked: dropping the loop must not wait for it.
        drop(lp);
        release_tx.send(()).expect("the job still waits");
        ended_rx.recv_timeout(support::HANG).expect("the job ended");
    });
}

#[test]
fn lookup_host_resolves_names_on_the_pool_and_numbers_at_once() {
    on_each_backend(|backend| {
        let lp = support::new_loop(backend);
        lp.run_until_complete(async {
            let numeric = lookup_host("127.0.0.1:8080").await.expect("numeric");
            assert_eq!(numeric, ["127.0.0.1:8080".parse().unwrap()]);
            let pair = lookup_host(("::1", 443)).await.expect("numeric pair");
            assert_eq!(pair, ["[::1]:443".parse().unwrap()]);
        });
        assert_eq!(lp.stats().blocking_jobs, 0, "numbers never leave the loop");
        lp.run_until_complete(async {
            let named = guard("a lookup", lookup_host("localhost:80"))
                .await
                .expect("localhost");
            assert!(!named.is_empty());
            assert!(
                named.iter().all(|a| a.ip().is_loopback() && a.port() == 80),
                "{named:?}"
            );
            let bad = guard("a malformed lookup", lookup_host("localhost")).await;
            let err = bad.expect_err("no port");
            assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");
        });
        assert_eq!(
            lp.stats().blocking_jobs,
            2,
            "names were resolved on the pool"
        );
    });
}

#[test]
fn connect_by_name_tries_each_address_in_turn() {
    let _fds = shared_fds();
    on_each_backend(|backend| {
        let lp = support::new_loop(backend);
        lp.run_until_complete(async {
            // `localhost` may resolve to ::1 first, where nothing listens: the connect
            // moves on to 127.0.0.1.
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
            let port = listener.local_addr().expect("address").port();
            let accept = ringloop::spawn(async move { listener.accept().await });
            let stream = guard("a connect by name", TcpStream::connect(("localhost", port)))
                .await
                .expect("connect to localhost");
            assert_eq!(stream.peer_addr().expect("peer").port(), port);
            guard("the accept", accept)
                .await
                .expect("task")
                .expect("accept");
            let by_string = format!("localhost:{port}");
            let refused = guard("a refused connect", TcpStream::connect(by_string)).await;
            assert!(refused.is_err(), "the listener is gone");
        });
    });
}
