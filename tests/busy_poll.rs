//! `Builder::busy_poll`, on both backends: a loop that polls before blocking still runs
//! timers (never early), I/O, remote calls and stops exactly as a blocking one, and it
//! does poll: idle time costs it driver turns that a blocking loop does not make.

mod support;

use std::time::{Duration, Instant};

use ringloop::EventLoop;
use ringloop::net::UnixStream;
use support::{guard, on_each_backend};

fn busy_loop(backend: ringloop::Backend, spin: Duration) -> EventLoop {
    EventLoop::builder()
        .backend(backend)
        .busy_poll(spin)
        .build()
        .expect("loop")
}

#[test]
fn a_busy_polling_loop_runs_timers_io_and_remote_calls_as_ever() {
    on_each_backend(|backend| {
        let lp = busy_loop(backend, Duration::from_millis(2));
        let remote = lp.remote();
        let echoed = lp.run_until_complete(async {
            // A timer longer than the spin, and one shorter: neither fires early.
            for ms in [5u64, 1] {
                let start = Instant::now();
                ringloop::sleep(Duration::from_millis(ms)).await;
                assert!(
                    start.elapsed() >= Duration::from_millis(ms),
                    "{backend:?}: early"
                );
            }
            // I/O that arrives while the loop spins.
            let (a, b) = UnixStream::pair().unwrap();
            let echo = ringloop::spawn(async move {
                let (n, buf) = b.read(Vec::with_capacity(16)).await;
                b.write_all(buf[..n.unwrap()].to_vec()).await.0.unwrap();
            });
            ringloop::sleep(Duration::from_millis(1)).await;
            a.write_all(b"ping").await.0.unwrap();
            let (n, buf) = guard("the echo", a.read(Vec::with_capacity(16))).await;
            echo.await.unwrap();
            // A call from another thread while the loop spins or blocks.
            let (tx, rx) = ringloop::sync::oneshot::channel();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(3));
                remote
                    .call_soon_threadsafe(move || tx.send(7).unwrap())
                    .unwrap();
            });
            assert_eq!(guard("the remote call", rx).await.unwrap(), 7);
            buf[..n.unwrap()].to_vec()
        });
        assert_eq!(echoed, b"ping");
        // A stop from another thread ends run_forever while it spins.
        let remote = lp.remote();
        let stopper = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(3));
            remote.stop();
        });
        lp.run_forever();
        stopper.join().unwrap();
    });
}

#[test]
fn a_busy_polling_loop_turns_the_driver_while_idle() {
    on_each_backend(|backend| {
        let turns = |spin: Duration| {
            let lp = busy_loop(backend, spin);
            let before = lp.stats().io_uring_enters;
            lp.run_until_complete(ringloop::sleep(Duration::from_millis(20)));
            lp.stats().io_uring_enters - before
        };
        let blocking = turns(Duration::ZERO);
        let polling = turns(Duration::from_millis(10));
        assert!(
            polling > blocking,
            "{backend:?}: {polling} turns with busy polling, {blocking} without"
        );
    });
}
