//! Backend selection (issue 4): an explicit `Backend::Epoll` loop runs sockets,
//! `RINGLOOP_BACKEND` picks the backend of `Backend::Auto` loops, a bad value is a clear
//! error, and asking for io_uring where it cannot work is an error, not a panic.
//!
//! The environment variable is read when a loop is built, so the tests that set it
//! re-run this binary as a child (`RINGLOOP_SELECTION_CHILD`) with the variable set, and
//! read what the child reports on stdout.

mod support;

use std::io;
use std::time::Duration;

use ringloop::net::{TcpListener, TcpStream};
use ringloop::{Backend, EventLoop};
use support::guard;

const CHILD: &str = "RINGLOOP_SELECTION_CHILD";
const CHILD_TEST: &str = "selection_child";

fn epoll_loop() -> EventLoop {
    EventLoop::builder()
        .backend(Backend::Epoll)
        .build()
        .expect("an epoll loop builds anywhere Linux runs")
}

/// Connects to a fresh listener and echoes `rounds` messages through a server task.
async fn echo(rounds: usize) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().unwrap();
    let server = ringloop::spawn(async move {
        let (stream, _) = listener.accept().await.expect("accept");
        let mut buf = Vec::with_capacity(256);
        loop {
            buf.clear();
            let (res, b) = stream.read(buf).await;
            buf = b;
            match res.expect("server read") {
                0 => return,
                _ => {
                    let (res, b) = stream.write_all(buf).await;
                    res.expect("server write");
                    buf = b;
                }
            }
        }
    });
    let client = TcpStream::connect(addr).await.expect("connect");
    for i in 0..rounds {
        let msg = format!("message {i:04}").into_bytes();
        let len = msg.len();
        let (res, _) = client.write_all(msg.clone()).await;
        res.expect("client write");
        let (res, back) = client.read_exact(vec![0u8; len]).await;
        res.expect("client read");
        assert_eq!(back, msg);
    }
    client
        .shutdown(std::net::Shutdown::Write)
        .await
        .expect("shutdown");
    server.await.expect("server task");
}

#[test]
fn explicit_epoll_loop_reports_epoll_and_echoes_over_tcp() {
    let lp = epoll_loop();
    assert_eq!(lp.backend(), Backend::Epoll);
    let described = lp.backend_description();
    assert!(described.starts_with("epoll"), "{described}");
    let before = lp.stats();
    lp.run_until_complete(async {
        guard("echo on epoll", echo(100)).await;
        // The sockets' closes ride the next turns.
        while lp.stats().ops_in_flight > 0 {
            ringloop::sleep(Duration::from_millis(1)).await;
        }
    });
    let after = lp.stats();
    assert!(after.io_uring_enters > before.io_uring_enters, "{after:?}");
    assert!(after.sqes_submitted > before.sqes_submitted, "{after:?}");
    assert_eq!(
        (after.ops_in_flight, after.buffers_held),
        (0, 0),
        "{after:?}"
    );
    assert_eq!(after.stray_completions, 0);
}

#[test]
fn epoll_timers_never_fire_early() {
    let lp = epoll_loop();
    for micros in [300u64, 1500, 10_000] {
        let d = Duration::from_micros(micros);
        let start = std::time::Instant::now();
        lp.run_until_complete(ringloop::sleep(d));
        assert!(
            start.elapsed() >= d,
            "{d:?} sleep ended after {:?}",
            start.elapsed()
        );
    }
}

#[test]
fn a_descriptor_closed_outside_the_loop_and_reused_is_watched_again() {
    let lp = epoll_loop();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().unwrap();
    for round in 0..5 {
        // A read that has to wait registers both ends and leaves them "blocked".
        let pair = lp.run_until_complete(async {
            let client = TcpStream::connect(addr).await.expect("connect");
            let (server, _) = listener.accept().await.expect("accept");
            let timed =
                ringloop::timeout(Duration::from_millis(2), server.read(vec![0u8; 8])).await;
            assert!(timed.is_err(), "nothing was sent yet");
            (client, server)
        });
        // Closed with no loop running: the driver never sees it.
        drop(pair);
        // The next sockets get the same descriptor numbers; their reads must wait for
        // readiness of the new sockets, not of the closed ones.
        lp.run_until_complete(guard("sockets on reused descriptors", async {
            let client = TcpStream::connect(addr).await.expect("connect");
            let (server, _) = listener.accept().await.expect("accept");
            let reader = ringloop::spawn(async move {
                let (res, buf) = server.read_exact(vec![0u8; 5]).await;
                res.expect("read");
                buf
            });
            ringloop::sleep(Duration::from_millis(2)).await;
            let (res, _) = client.write_all(b"hello".to_vec()).await;
            res.expect("write");
            let got = reader.await;
            assert_eq!(got.expect("reader task"), b"hello", "round {round}");
        }));
    }
}

#[test]
fn explicit_io_uring_is_io_uring_or_a_clear_error() {
    match EventLoop::builder().backend(Backend::IoUring).build() {
        Ok(lp) => assert_eq!(lp.backend(), Backend::IoUring),
        Err(e) => assert!(e.to_string().contains("io_uring"), "unclear error: {e}"),
    }
}

/// What a child process reports: the backend of an `Auto` loop, or its build error.
#[test]
fn selection_child() {
    let Some(mode) = std::env::var_os(CHILD) else {
        return;
    };
    let built = if mode == "explicit-epoll" {
        EventLoop::builder().backend(Backend::Epoll).build()
    } else {
        EventLoop::new()
    };
    match built {
        Ok(lp) => {
            lp.run_until_complete(async { guard("echo in the child", echo(10)).await });
            println!("SELECTED {:?}", lp.backend());
        }
        Err(e) => println!("BUILD ERROR {:?}: {e}", e.kind()),
    }
}

/// Runs [`selection_child`] in a child with `RINGLOOP_BACKEND` set; returns its report.
fn child_report(mode: &str, backend_var: &str) -> String {
    let out = support::rerun(CHILD_TEST)
        .env(CHILD, mode)
        .env("RINGLOOP_BACKEND", backend_var)
        .output()
        .expect("run the test binary as a child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .find_map(|l| {
            l.find("SELECTED ")
                .or_else(|| l.find("BUILD ERROR "))
                .map(|i| l[i..].to_string())
        })
        .unwrap_or_else(|| panic!("the child reported nothing:\n{stdout}"))
}

fn io_uring_works_here() -> bool {
    EventLoop::builder()
        .backend(Backend::IoUring)
        .build()
        .is_ok()
}

#[test]
fn env_epoll_selects_epoll_for_auto_loops() {
    assert_eq!(child_report("auto", "epoll"), "SELECTED Epoll");
}

#[test]
fn env_io_uring_selects_io_uring_or_fails_clearly() {
    let report = child_report("auto", "io_uring");
    if io_uring_works_here() {
        assert_eq!(report, "SELECTED IoUring");
    } else {
        assert!(
            report.starts_with("BUILD ERROR") && report.contains("io_uring"),
            "{report}"
        );
    }
}

#[test]
fn env_auto_prefers_io_uring_where_it_works() {
    let expected = if io_uring_works_here() {
        "SELECTED IoUring"
    } else {
        "SELECTED Epoll"
    };
    assert_eq!(child_report("auto", "auto"), expected);
}

#[test]
fn env_bad_value_is_a_clear_error() {
    let report = child_report("auto", "uring");
    assert!(
        report.starts_with(&format!("BUILD ERROR {:?}", io::ErrorKind::InvalidInput)),
        "{report}"
    );
    assert!(
        report.contains("RINGLOOP_BACKEND") && report.contains("\"uring\""),
        "{report}"
    );
    assert!(report.contains("io_uring, epoll or auto"), "{report}");
}

#[test]
fn an_explicit_backend_ignores_the_environment() {
    assert_eq!(child_report("explicit-epoll", "uring"), "SELECTED Epoll");
}
