//! Signals and fork (issue 5, item 7), on both backends in every run.
//!
//! - A storm of signals, caught by a handler installed *without* `SA_RESTART` (so every
//!   blocking syscall they interrupt fails with `EINTR`), aimed at the loop's thread
//!   while it runs timers, sleeps, TCP and Unix socket traffic and blocks idle in the
//!   kernel: no `EINTR` reaches user code and everything completes. The storm runs in a
//!   child process (this test binary re-run), so the handler stays out of the other
//!   tests.
//! - A forked child builds its own loops (io_uring and epoll) and runs a timer and a
//!   socket round trip in each, while the parent's loop has a read and a timer pending;
//!   the child never touches the parent's ring, and the parent's loop keeps working.
//!
//! The `unsafe` these need (sigaction, tgkill, fork, waitpid, _exit) lives in
//! `testkit::process`. Sizes scale with
//! `RINGLOOP_SOAK`.

mod support;

use std::io::Write;
use std::net::Shutdown;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use ringloop::net::{TcpStream, UnixStream};
use support::{backends, local_listener, new_loop, on_each_backend, soak_scale};
use testkit::process;

const STORM_CHILD: &str = "RINGLOOP_SIGNAL_STORM_CHILD";

/// Timers, sleeps and socket traffic; every result must be `Ok`: an `Interrupted`
/// error is a failure. Returns how many operations completed.
async fn workload(rounds: usize) -> usize {
    let done = Rc::new(AtomicUsize::new(0));
    // Sleeps and timers of assorted lengths, concurrently.
    let sleepers: Vec<_> = (0..64)
        .map(|i| {
            let done = done.clone();
            ringloop::spawn(async move {
                for j in 0..rounds / 16 {
                    ringloop::sleep(Duration::from_micros(((i * 37 + j * 11) % 700) as u64)).await;
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    // TCP: connections accepted, echoed and half-closed.
    let listener = local_listener();
    let addr = listener.local_addr().unwrap();
    let conns = rounds / 8;
    let server = ringloop::spawn(async move {
        for _ in 0..conns {
            let (stream, _) = listener.accept().await.expect("accept");
            let mut buf = vec![0u8; 4096];
            loop {
                let (res, b) = stream.read(buf).await;
                buf = b;
                match res.expect("server read") {
                    0 => break,
                    n => {
                        let (res, _) = stream.write_all(buf[..n].to_vec()).await;
                        res.expect("server write");
                    }
                }
            }
        }
    });
    for i in 0..conns {
        let client = TcpStream::connect(addr).await.expect("connect");
        let msg = vec![(i % 251) as u8; 1 + (i * 97) % 20_000];
        let (res, _) = client.write_all(msg.clone()).await;
        res.expect("client write");
        client.shutdown(Shutdown::Write).await.expect("shutdown");
        let mut got = Vec::new();
        let mut buf = vec![0u8; 8192];
        loop {
            let (res, b) = client.read(buf).await;
            buf = b;
            match res.expect("client read") {
                0 => break,
                n => got.extend_from_slice(&buf[..n]),
            }
        }
        assert_eq!(got, msg);
        done.fetch_add(1, Ordering::Relaxed);
    }
    server.await.expect("server");
    // Unix: ping-pong.
    let (a, b) = UnixStream::pair().expect("pair");
    let pong = ringloop::spawn(async move {
        let mut buf = vec![0u8; 8];
        loop {
            let (res, bb) = b.read(buf).await;
            buf = bb;
            let n = res.expect("pong read");
            if n == 0 {
                return;
            }
            let (res, _) = b.write_all(buf[..n].to_vec()).await;
            res.expect("pong write");
        }
    });
    for i in 0..rounds {
        let (res, _) = a.write_all((i as u64).to_le_bytes().to_vec()).await;
        res.expect("ping write");
        let (res, buf) = a.read(vec![0u8; 8]).await;
        assert_eq!(res.expect("ping read"), 8);
        assert_eq!(u64::from_le_bytes(buf[..8].try_into().unwrap()), i as u64);
        done.fetch_add(1, Ordering::Relaxed);
    }
    drop(a);
    pong.await.expect("pong");
    for s in sleepers {
        s.await.expect("sleeper");
    }
    done.load(Ordering::Relaxed)
}

/// The storm itself, in the child process.
fn storm_child() {
    let rounds = 5000 * soak_scale();
    process::install_noop_handler(libc::SIGUSR1).expect("sigaction");
    let tid = process::gettid();
    let halt = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicUsize::new(0));
    let storm = {
        let (halt, sent) = (halt.clone(), sent.clone());
        thread::spawn(move || {
            while !halt.load(Ordering::Relaxed) {
                process::signal_thread(tid, libc::SIGUSR1).expect("tgkill");
                sent.fetch_add(1, Ordering::Relaxed);
                // Let the loop thread run between signals (two cores at most).
                if sent.load(Ordering::Relaxed) % 4 == 0 {
                    thread::sleep(Duration::from_micros(50));
                }
            }
        })
    };
    let mut report = String::new();
    on_each_backend(|backend| {
        let lp = new_loop(backend);
        let before = process::signals_handled();
        let done = lp.run_until_complete(workload(rounds));
        // Idle in the kernel with nothing to do but be interrupted, until another thread
        // stops the loop after a thousand more signals.
        let remote = lp.remote();
        let stopper = thread::spawn(move || {
            let start = process::signals_handled();
            while process::signals_handled() < start + 1000 {
                thread::sleep(Duration::from_millis(1));
            }
            remote.stop();
        });
        lp.run_forever();
        stopper.join().unwrap();
        let handled = process::signals_handled() - before;
        report += &format!(
            "{:?}: {done} operations completed under {handled} signals; ",
            lp.backend()
        );
        assert!(
            handled > 1000,
            "too few signals arrived to mean anything: {handled}"
        );
    });
    halt.store(true, Ordering::Relaxed);
    storm.join().unwrap();
    println!(
        "STORM OK: {report}{} signals sent",
        sent.load(Ordering::Relaxed)
    );
}

#[test]
fn a_signal_storm_without_sa_restart_never_surfaces_eintr() {
    if std::env::var_os(STORM_CHILD).is_some() {
        storm_child();
        return;
    }
    let out = support::rerun("a_signal_storm_without_sa_restart_never_surfaces_eintr")
        .env(STORM_CHILD, "1")
        .output()
        .expect("re-run the test binary");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the storm child failed: {:?}\n{stdout}\n{stderr}",
        out.status
    );
    let line = stdout
        .lines()
        .find(|l| l.contains("STORM OK"))
        .unwrap_or_else(|| panic!("the child did not report:\n{stdout}\n{stderr}"));
    println!("{}", &line[line.find("STORM OK").unwrap()..]);
}

/// What a forked child does: fresh loops on both backends, a timer and a round trip in
/// each. Returns a nonzero code naming what failed.
fn fork_child() -> i32 {
    let result = std::panic::catch_unwind(|| {
        let mut ran = 0;
        for backend in backends() {
            let lp = new_loop(backend);
            let fired = Rc::new(AtomicBool::new(false));
            let f = fired.clone();
            lp.call_later(Duration::from_millis(1), move || {
                f.store(true, Ordering::Relaxed)
            });
            lp.run_until_complete(async {
                ringloop::sleep(Duration::from_millis(2)).await;
                let listener = local_listener();
                let addr = listener.local_addr().unwrap();
                let client = TcpStream::connect(addr).await.expect("connect");
                let (server, _) = listener.accept().await.expect("accept");
                let (res, _) = client.write_all(b"from the child".to_vec()).await;
                res.expect("write");
                let (res, buf) = server.read(vec![0u8; 64]).await;
                assert_eq!(&buf[..res.expect("read")], b"from the child");
            });
            assert!(
                fired.load(Ordering::Relaxed),
                "the child's timer did not fire"
            );
            assert_eq!(lp.stats().stray_completions, 0);
            ran += 1;
        }
        ran
    });
    match result {
        Ok(ran) if ran > 0 => 0,
        Ok(_) => 3,
        Err(payload) => {
            let msg = support::panic_message(&*payload);
            let _ = writeln!(std::io::stderr(), "fork child failed: {msg}");
            2
        }
    }
}

#[test]
fn a_forked_child_builds_its_own_loop_and_never_touches_the_parents_ring() {
    let children = 3 * soak_scale();
    on_each_backend(|backend| {
        let lp = new_loop(backend);
        let (a, b) = UnixStream::pair().unwrap();
        let reader = lp.spawn(async move { a.read(vec![0u8; 16]).await });
        let fired = Rc::new(AtomicBool::new(false));
        let f = fired.clone();
        lp.call_later(Duration::from_millis(5), move || {
            f.store(true, Ordering::Relaxed)
        });
        // The read reaches the kernel (or the descriptor's wait list) before the fork.
        lp.run_until_complete(ringloop::yield_now());
        assert_eq!(lp.stats().ops_in_flight, 1);
        for _ in 0..children {
            // SAFETY: the child builds its own loop and sockets (glibc's allocator
            // resets its locks in a forked child), touches nothing another thread of
            // the harness may hold, and leaves through `exit_child`.
            let pid = unsafe { process::fork() }.expect("fork");
            if pid == 0 {
                process::exit_child(fork_child());
            }
            let code = process::wait_child(pid).expect("waitpid");
            assert_eq!(
                code,
                0,
                "{:?}: the forked child failed (code {code})",
                lp.backend()
            );
        }
        // The parent's loop is untouched: its read still pending, nothing stray.
        let stats = lp.stats();
        assert!(
            !reader.is_done(),
            "{:?}: the child completed the parent's read",
            lp.backend()
        );
        assert_eq!(stats.ops_in_flight, 1, "{:?}: {stats:?}", lp.backend());
        assert_eq!(stats.stray_completions, 0, "{:?}: {stats:?}", lp.backend());
        // And keeps working.
        lp.run_until_complete(async {
            let (res, _) = b.write_all(b"to the parent".to_vec()).await;
            res.expect("write");
            let (res, buf) = reader.await.expect("reader task");
            assert_eq!(&buf[..res.expect("read")], b"to the parent");
            while !fired.load(Ordering::Relaxed) {
                ringloop::sleep(Duration::from_millis(1)).await;
            }
        });
        assert_eq!(lp.stats().stray_completions, 0);
        println!(
            "{:?}: {children} forked children ran their own loops",
            lp.backend()
        );
    });
}
