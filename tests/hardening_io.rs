//! Regression tests for the I/O defects of the hardening issue: descriptor numbers
//! reused after a close the driver did not make (a failed or timed-out connect, a socket
//! closed on another thread), a connect that must wait without spinning, and I/O that
//! CPU-bound tasks must not starve. Every test runs on both backends.

mod support;

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use ringloop::net::{ListenOptions, TcpListener, TcpStream, UdpSocket, UnixListener, UnixStream};
use ringloop::{Backend, EventLoop};
use support::{for_each_backend, guard, on_each_backend, shared_fds};

/// An address on which nothing listens (a listener bound, then closed).
fn down_server() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("local address")
}

/// A new Unix stream pair passes bytes both ways, each read waiting before the write
/// arrives: the reads must be woken by readiness on fresh descriptors, which take the
/// lowest free numbers, those of sockets just closed behind the driver's back.
async fn fresh_pair_wakes() {
    let (a, b) = UnixStream::pair().expect("socketpair");
    let (a, b) = (std::rc::Rc::new(a), std::rc::Rc::new(b));
    for (reader, writer) in [(a.clone(), b.clone()), (b.clone(), a.clone())] {
        let read = ringloop::spawn(async move { reader.read(Vec::with_capacity(16)).await });
        ringloop::sleep(Duration::from_millis(5)).await;
        writer.write_all(b"ping".to_vec()).await.0.expect("write");
        let (res, buf) = guard("a read on a fresh socket pair", read)
            .await
            .expect("reader task");
        assert_eq!(res.expect("read"), 4);
        assert_eq!(buf, b"ping");
    }
}

#[test]
fn a_retried_connect_to_a_down_server_is_refused_every_time() {
    let _fds = shared_fds();
    let addr = down_server();
    for_each_backend(|lp| {
        lp.run_until_complete(async {
            for attempt in 0..5 {
                let err = guard("a connect to a down server", TcpStream::connect(addr))
                    .await
                    .expect_err("nothing listens there");
                assert_eq!(
                    err.kind(),
                    io::ErrorKind::ConnectionRefused,
                    "attempt {attempt}: {err}"
                );
            }
            fresh_pair_wakes().await;
        });
    });
}

#[test]
fn a_connect_to_port_zero_fails_and_leaves_no_stale_state() {
    let _fds = shared_fds();
    for_each_backend(|lp| {
        lp.run_until_complete(async {
            let result = guard("a connect to port 0", TcpStream::connect("127.0.0.1:0")).await;
            assert!(result.is_err(), "port 0 accepts no connection");
            fresh_pair_wakes().await;
        });
    });
}

#[test]
fn a_connect_cut_off_by_a_timeout_leaves_no_stale_state() {
    let _fds = shared_fds();
    for_each_backend(|lp| {
        // A listener that never accepts, with the smallest backlog: once its queue is
        // full the kernel drops further SYNs, so a connect waits (and retransmits).
        let options = ListenOptions::new().backlog(1);
        let listener = TcpListener::bind_with("127.0.0.1:0", options).expect("bind");
        let addr = listener.local_addr().expect("address");
        lp.run_until_complete(async {
            let mut held = Vec::new();
            let mut timed_out = 0;
            for _ in 0..64 {
                let connect = TcpStream::connect(addr);
                match ringloop::timeout(Duration::from_millis(50), connect).await {
                    Ok(Ok(stream)) => held.push(stream),
                    Ok(Err(e)) => panic!("connect failed: {e}"),
                    Err(_) => {
                        timed_out += 1;
                        // The dropped connect closed its socket: the number is free.
                        fresh_pair_wakes().await;
                        if timed_out == 3 {
                            break;
                        }
                    }
                }
            }
            assert_eq!(timed_out, 3, "the backlog never filled");
        });
        drop(listener);
    });
}

#[test]
fn a_listener_closed_on_another_thread_leaves_no_stale_state() {
    let _fds = shared_fds();
    for_each_backend(|lp| {
        lp.run_until_complete(async {
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
            // An accept that waits, then gives up: the listener was registered here.
            let waited = ringloop::timeout(Duration::from_millis(10), listener.accept()).await;
            assert!(waited.is_err(), "nobody connected");
            std::thread::spawn(move || drop(listener))
                .join()
                .expect("drop on another thread");
            fresh_pair_wakes().await;
        });
    });
}

#[test]
fn a_udp_socket_closed_on_another_thread_leaves_no_stale_state() {
    let _fds = shared_fds();
    for_each_backend(|lp| {
        lp.run_until_complete(async {
            let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
            let waited = ringloop::timeout(
                Duration::from_millis(10),
                socket.recv(Vec::with_capacity(8)),
            )
            .await;
            assert!(waited.is_err(), "nobody sent");
            std::thread::spawn(move || drop(socket))
                .join()
                .expect("drop on another thread");
            fresh_pair_wakes().await;
        });
    });
}

#[test]
fn a_unix_connect_to_a_full_backlog_waits_without_spinning() {
    let _fds = shared_fds();
    let dir = std::env::temp_dir().join(format!("ringloop-backlog-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    for_each_backend(|lp| {
        let path = dir.join(format!("{:?}.sock", lp.backend()));
        let _ = std::fs::remove_file(&path);
        let listener =
            UnixListener::bind_with(&path, ListenOptions::new().backlog(0)).expect("bind");
        lp.run_until_complete(async {
            // Fill the backlog: connects succeed until the listener's queue is full.
            let mut held = Vec::new();
            let waiting = loop {
                let path = path.clone();
                let connect = ringloop::spawn(async move { UnixStream::connect(path).await });
                ringloop::sleep(Duration::from_millis(20)).await;
                if !connect.is_done() {
                    break connect;
                }
                held.push(connect.await.expect("task").expect("connect"));
                assert!(held.len() < 64, "the backlog never filled");
            };
            // The connect now waits for room. It must wait cheaply: attempts spaced by
            // waits of 1 ms doubling to 16 ms (8 or so in 100 ms, a few syscalls each),
            // not resubmitted at once (hundreds).
            let before = lp.stats();
            let start = std::time::Instant::now();
            ringloop::sleep(Duration::from_millis(100)).await;
            let after = lp.stats();
            let elapsed_ms = start.elapsed().as_millis() as u64;
            let enters = after.io_uring_enters - before.io_uring_enters;
            let syscalls = after.sqes_submitted - before.sqes_submitted;
            assert!(
                enters <= 40 + elapsed_ms / 4 && syscalls <= 40 + elapsed_ms / 4,
                "{enters} waits and {syscalls} submissions in {elapsed_ms} ms: the connect spins"
            );
            assert!(!waiting.is_done(), "the backlog is still full");
            // A waiting connect given up by a timeout ends (its wait is cancelled).
            let gave_up =
                ringloop::timeout(Duration::from_millis(30), UnixStream::connect(&path)).await;
            assert!(gave_up.is_err(), "the backlog is still full");
            // Room frees up: the connect completes.
            let accepted = guard("accept", listener.accept()).await.expect("accept");
            let stream = guard("the waiting connect", waiting)
                .await
                .expect("task")
                .expect("connect once there is room");
            drop((accepted, stream, held));
        });
        drop(listener);
        let _ = std::fs::remove_file(&path);
    });
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn oversized_receive_buffers_are_refused_by_build_with_the_limit_named() {
    on_each_backend(|backend| {
        let err = EventLoop::builder()
            .backend(backend)
            .recv_buffers(32768, 1 << 20)
            .build()
            .expect_err("32 GiB of receive buffers");
        assert_eq!(
            err.kind(),
            io::ErrorKind::InvalidInput,
            "{backend:?}: {err}"
        );
        let message = err.to_string();
        assert!(
            message.contains("recv_buffers") && message.contains("1 GiB"),
            "{backend:?}: the error names the setting and the limit: {message}"
        );
        // At the limit and below, the loop builds.
        let lp = EventLoop::builder()
            .backend(backend)
            .recv_buffers(1024, 1 << 20)
            .build()
            .expect("1 GiB is allowed");
        assert_eq!(lp.backend(), backend);
    });
}

#[test]
fn ring_entries_beyond_the_kernel_maximum_are_clamped_never_a_fallback() {
    let backends = support::backends();
    for entries in [32768, 32769, 65536, u32::MAX] {
        for &backend in &backends {
            let lp = EventLoop::builder()
                .backend(backend)
                .ring_entries(entries)
                .build()
                .unwrap_or_else(|e| panic!("{backend:?} with {entries} entries: {e}"));
            assert_eq!(lp.backend(), backend);
            lp.run_until_complete(ringloop::sleep(Duration::from_millis(1)));
        }
        if backends.contains(&Backend::IoUring) && std::env::var_os("RINGLOOP_BACKEND").is_none() {
            // Auto picks io_uring where it works: a large ring is no reason for epoll.
            let lp = EventLoop::builder()
                .ring_entries(entries)
                .build()
                .expect("auto");
            assert_eq!(lp.backend(), Backend::IoUring, "{entries} entries");
        }
    }
}

#[test]
fn io_is_not_starved_by_a_task_that_only_yields() {
    let _fds = shared_fds();
    for_each_backend(|lp| {
        lp.run_until_complete(async {
            let (client, server) = UnixStream::pair().expect("socketpair");
            let echo = ringloop::spawn(async move {
                let mut buf = Vec::with_capacity(64);
                loop {
                    let (res, b) = server.read(buf).await;
                    let n = res.expect("server read");
                    if n == 0 {
                        return;
                    }
                    let (res, b) = server.write_all(b).await;
                    res.expect("server write");
                    buf = b;
                    buf.clear();
                }
            });
            // A CPU-bound task that stays ready: it yields, and counts its turns.
            let spins = std::rc::Rc::new(std::cell::Cell::new(0u64));
            let done = std::rc::Rc::new(std::cell::Cell::new(false));
            let spinner = ringloop::spawn({
                let (spins, done) = (spins.clone(), done.clone());
                async move {
                    while !done.get() {
                        spins.set(spins.get() + 1);
                        ringloop::yield_now().await;
                    }
                }
            });
            const ROUND_TRIPS: u64 = 200;
            let mut buf = Vec::with_capacity(4);
            for _ in 0..ROUND_TRIPS {
                let (res, b) = client.write_all(b"ping".to_vec()).await;
                res.expect("client write");
                let (res, b2) = guard("an echo round trip", client.read_exact(buf)).await;
                res.expect("client read");
                assert_eq!(&b2[..], b"ping");
                drop(b);
                buf = b2;
                buf.clear();
            }
            done.set(true);
            guard("the spinner", spinner).await.expect("spinner");
            drop(client);
            guard("the echo task", echo).await.expect("echo");
            // Readiness is looked for at least once per iteration budget (128 tasks run),
            // so a round trip (two waits for readiness) costs the spinner at most a few
            // hundred turns, however fast or slow the machine; looking only every
            // millisecond costs it thousands.
            let per_round_trip = spins.get() / ROUND_TRIPS;
            assert!(
                per_round_trip <= 3 * 128,
                "{:?}: the spinner ran {per_round_trip} times per round trip: I/O starved",
                lp.backend()
            );
        });
    });
}

#[test]
fn a_connect_dropped_after_its_first_poll_never_runs_on_a_reused_descriptor() {
    let _fds = shared_fds();
    let dir = std::env::temp_dir().join(format!("ringloop-dropconnect-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    for_each_backend(|lp| {
        let path = dir.join(format!("{:?}.sock", lp.backend()));
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).expect("bind");
        let tcp = TcpListener::bind("127.0.0.1:0").expect("bind tcp");
        let tcp_addr = tcp.local_addr().expect("address");
        lp.run_until_complete(async {
            for round in 0..10 {
                // Polled once: the connect is submitted (on io_uring, queued for the
                // next enter), then given up, which closes its socket at once.
                let mut connect = Box::pin(UnixStream::connect(&path));
                let _ = support::poll_once(&mut connect).await;
                drop(connect);
                // The next socket takes the freed number; the abandoned connect must
                // not run on it.
                let fresh = guard("a fresh connect", UnixStream::connect(&path))
                    .await
                    .unwrap_or_else(|e| panic!("round {round}: a fresh connect failed: {e}"));
                drop(fresh);
                let mut connect = Box::pin(TcpStream::connect(tcp_addr));
                let _ = support::poll_once(&mut connect).await;
                drop(connect);
                let udp = UdpSocket::bind("127.0.0.1:0").expect("bind udp");
                let me = udp.local_addr().expect("address");
                let (sent, _) = udp.send_to(b"to myself".to_vec(), me).await;
                sent.expect("send to myself");
                let (got, buf) = guard("a datagram to myself", udp.recv_from(vec![0; 16])).await;
                let (n, from) = got.unwrap_or_else(|e| panic!("round {round}: {e}"));
                assert_eq!(n, 9);
                assert_eq!(
                    from, me,
                    "round {round}: the socket was connected elsewhere"
                );
                assert_eq!(&buf[..9], b"to myself");
            }
            // Drain the accepted connections.
            while let Ok(Ok(_)) =
                ringloop::timeout(Duration::from_millis(5), listener.accept()).await
            {}
        });
        drop(tcp);
        let _ = std::fs::remove_file(&path);
    });
    let _ = std::fs::remove_dir_all(&dir);
}
