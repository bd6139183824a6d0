//! Proof that `Backend::Auto` falls back to epoll where io_uring is really blocked
//! (issue 4, item 4): a child process installs a seccomp filter that makes
//! `io_uring_setup` (and `io_uring_enter`, `io_uring_register`) fail with `EPERM`, as
//! Docker's default profile does, or with `ENOSYS`, as a kernel without io_uring does;
//! then it builds a loop with `Backend::Auto`, gets epoll, and serves a TCP echo.
//!
//! A seccomp filter cannot be removed, so it is never installed in the test harness
//! itself: each test re-runs this binary as a child (`RINGLOOP_SECCOMP_CHILD` names the
//! errno, `--exact` the test) and asserts that the child exited 0 and got to the end.

mod support;

use std::io;

use ringloop::net::{IoBuf, TcpListener, TcpStream};
use ringloop::{Backend, EventLoop};
use support::guard;

/// Set in the child: which errno the filter returns (`EPERM` or `ENOSYS`).
const CHILD: &str = "RINGLOOP_SECCOMP_CHILD";
/// What the child prints last, so that a child that ran no test (a wrong name) fails.
const DONE: &str = "SECCOMP CHILD DONE";

#[test]
fn auto_falls_back_to_epoll_when_io_uring_setup_is_eperm() {
    under_seccomp(
        "auto_falls_back_to_epoll_when_io_uring_setup_is_eperm",
        "EPERM",
        libc::EPERM,
    );
}

#[test]
fn auto_falls_back_to_epoll_when_io_uring_setup_is_enosys() {
    under_seccomp(
        "auto_falls_back_to_epoll_when_io_uring_setup_is_enosys",
        "ENOSYS",
        libc::ENOSYS,
    );
}

/// In the parent: runs `test` as a child with the filter returning `errno`. In the
/// child: does the work.
fn under_seccomp(test: &str, errno_name: &str, errno: i32) {
    match std::env::var(CHILD) {
        Ok(name) => {
            assert_eq!(
                name, errno_name,
                "the child runs the test it was started for"
            );
            child(errno);
        }
        Err(_) => parent(test, errno_name),
    }
}

fn parent(test: &str, errno_name: &str) {
    let out = support::rerun(test)
        .env(CHILD, errno_name)
        .env_remove("RINGLOOP_BACKEND")
        .output()
        .expect("run the test binary as a child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains(DONE),
        "the {errno_name} child failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
}

fn child(errno: i32) {
    testkit::deny_io_uring(errno).expect("install the seccomp filter");

    // The filter works: io_uring itself is refused with exactly that errno.
    let Err(e) = io_uring::IoUring::new(8) else {
        panic!("io_uring_setup succeeded under the filter");
    };
    assert_eq!(e.raw_os_error(), Some(errno), "{e}");

    // Asking for io_uring explicitly is a clear error, not a panic.
    let e = EventLoop::builder()
        .backend(Backend::IoUring)
        .build()
        .expect_err("Backend::IoUring cannot work under the filter");
    assert_eq!(e.kind(), io::Error::from_raw_os_error(errno).kind(), "{e}");
    assert!(e.to_string().contains("io_uring"), "unclear error: {e}");

    // Auto selects epoll, and it serves sockets.
    let lp = EventLoop::builder()
        .backend(Backend::Auto)
        .build()
        .expect("Backend::Auto builds where io_uring is blocked");
    assert_eq!(lp.backend(), Backend::Epoll);
    lp.run_until_complete(guard("the echo round trip", echo()));
    println!("{DONE}: errno {errno}, backend {:?}", lp.backend());
}

/// An echo server task on loopback, and a client that sends messages of a few sizes
/// and reads each back exactly.
async fn echo() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("local_addr");
    let server = ringloop::spawn(async move {
        let (stream, _) = listener.accept().await.expect("accept");
        let mut buf = Vec::with_capacity(4096);
        loop {
            buf.clear();
            let (res, b) = stream.read(buf).await;
            buf = b;
            if res.expect("server read") == 0 {
                return;
            }
            let (res, b) = stream.write_all(buf).await;
            res.expect("server write");
            buf = b;
        }
    });

    let client = TcpStream::connect(addr).await.expect("connect");
    for (i, n) in [1usize, 64, 1024, 16 * 1024, 256 * 1024]
        .into_iter()
        .enumerate()
    {
        let msg: Vec<u8> = (0..n).map(|j| (i * 31 + j) as u8).collect();
        let (res, _) = client.write_all(msg.clone()).await;
        res.expect("client write");
        let (res, back) = client.read_exact(Vec::with_capacity(n).slice(..n)).await;
        res.expect("client read");
        assert!(back.into_inner() == msg, "{n} bytes came back changed");
    }
    client
        .shutdown(std::net::Shutdown::Write)
        .await
        .expect("shutdown");
    server.await.expect("server task");
}
