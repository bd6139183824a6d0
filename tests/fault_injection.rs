//! The loop on a fault-injecting backend (issue 5, item 1): real workloads over io_uring
//! and epoll, each wrapped in a `FaultDriver` that fails turns, holds submissions back,
//! delays, reorders and duplicates completions, injects unknown and stale tokens,
//! shortens stream I/O and fails operations before they reach the kernel. Several seeds
//! and plans; assertions on behaviour and counts, never on time (the `timeout`s are hang
//! guards whose expiry is itself the failure).

mod support;

use std::cell::{Cell, RefCell};
use std::io;
use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::time::{Duration, Instant};

use ringloop::net::{IoBuf, Protocol, TcpListener, TcpStream, Transport, UdpSocket, UnixStream};
use ringloop::{Backend, EventLoop, FaultPlan};
use support::{
    backends, exclusive_fds, fd_count, guard, local_listener, on_each_backend, panic_message,
    pattern, poll_once, shared_fds,
};

/// The seeds every test runs with; `RINGLOOP_FAULT_SEEDS=n` adds `n` more (longer runs).
fn seeds() -> Vec<u64> {
    let extra: u64 = std::env::var("RINGLOOP_FAULT_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut out = vec![1, 0x5eed_cafe, 0xdead_beef_0bad_f00d];
    out.extend((0..extra).map(|i| 0x1000 + i * 0x9E37_79B9));
    out
}

/// Plans under which user code must see nothing but correct results.
fn plans() -> Vec<(&'static str, FaultPlan)> {
    vec![
        ("chaos", FaultPlan::chaos()),
        (
            "completion stream",
            FaultPlan {
                delay: 0.6,
                max_delay_turns: 5,
                reorder: 1.0,
                duplicate: 0.5,
                stray: 0.5,
                ..FaultPlan::default()
            },
        ),
        (
            "submission and errors",
            FaultPlan {
                turn_error: 0.3,
                partial_submit: 0.7,
                short_io: 0.8,
                op_error: 0.4,
                ..FaultPlan::default()
            },
        ),
    ]
}

fn faulty(backend: Backend, seed: u64, plan: FaultPlan) -> EventLoop {
    EventLoop::builder()
        .backend(backend)
        .fault_injection(seed, plan)
        .build()
        .unwrap_or_else(|e| panic!("building a fault-injecting {backend:?} loop: {e}"))
}

/// How many of one fault the driver injected, from its description.
fn injected(lp: &EventLoop, what: &str) -> u64 {
    let line = lp.backend_description();
    let end = line
        .find(&format!(" {what}"))
        .unwrap_or_else(|| panic!("no {what:?} in {line:?}"));
    let start = line[..end].rfind([' ', ':']).map_or(0, |i| i + 1);
    line[start..end]
        .parse()
        .unwrap_or_else(|_| panic!("no count before {what:?} in {line:?}"))
}

/// What each open descriptor points at, for a leak's message.
fn fd_targets() -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd is readable")
        .filter_map(|e| {
            let e = e.ok()?;
            let target = std::fs::read_link(e.path()).ok()?;
            Some(format!(
                "{}->{}",
                e.file_name().to_string_lossy(),
                target.display()
            ))
        })
        .collect();
    out.sort();
    out
}

/// Runs the loop until nothing is in flight or held and every delayed completion (and
/// duplicate) has been delivered. (The fault driver's delays count turns, not time: it
/// yields rather than sleeps, unlike `support::settle_io`.)
async fn settle(lp: &EventLoop) {
    for _ in 0..10_000 {
        let s = lp.stats();
        if s.ops_in_flight == 0 && s.buffers_held == 0 {
            // Delayed duplicates wait a bounded number of turns; these yields turn.
            for _ in 0..64 {
                ringloop::yield_now().await;
            }
            return;
        }
        ringloop::yield_now().await;
    }
    panic!("still in flight after settling: {:?}", lp.stats());
}

/// Echoes until end-of-file.
async fn echo(stream: TcpStream) {
    let mut buf = Vec::with_capacity(4096);
    loop {
        buf.clear();
        let (res, b) = stream.read(buf).await;
        buf = b;
        match res.expect("server read: no error may reach user code") {
            0 => return,
            n => {
                let (res, b) = stream.write_all(buf).await;
                buf = b;
                res.expect("server write");
                assert_eq!(buf.len(), n);
            }
        }
    }
}

/// Connections × bytes each, checked byte for byte, in chunks of varying sizes.
async fn echo_workload(conns: usize, bytes: usize, seed: u64) {
    let listener = local_listener();
    let addr = listener.local_addr().unwrap();
    let server = ringloop::spawn(async move {
        let mut handlers = Vec::new();
        for _ in 0..conns {
            let (stream, _) = listener.accept().await.expect("accept");
            handlers.push(ringloop::spawn(echo(stream)));
        }
        for h in handlers {
            h.await.expect("echo handler");
        }
    });
    let clients: Vec<_> = (0..conns)
        .map(|c| ringloop::spawn(echo_client(addr, bytes, seed, c)))
        .collect();
    for c in clients {
        guard("echo client", c).await.expect("client task");
    }
    guard("echo server", server).await.expect("server task");
}

/// Echo client `c` of a workload: `bytes` bytes in chunks of varying sizes, each read
/// back and checked byte for byte, then a half-close and the server's end-of-file.
async fn echo_client(addr: SocketAddr, bytes: usize, seed: u64, c: usize) {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let data = pattern(bytes, seed ^ c as u64);
    let mut sent = 0;
    let mut step = (seed as usize % 977) + 1;
    while sent < bytes {
        step = (step * 7919 + 13) % 8192 + 1;
        let end = (sent + step).min(bytes);
        let (res, _) = stream.write_all(data[sent..end].to_vec()).await;
        res.expect("client write");
        let n = end - sent;
        let (res, back) = stream.read_exact(Vec::with_capacity(n).slice(..n)).await;
        res.expect("client read");
        assert!(
            back.into_inner() == data[sent..end],
            "echo of bytes {sent}..{end} differs"
        );
        sent = end;
    }
    stream
        .shutdown(std::net::Shutdown::Write)
        .await
        .expect("shutdown");
    let (res, _) = stream.read(Vec::with_capacity(16)).await;
    assert_eq!(res.expect("read at end-of-file"), 0);
}

#[test]
fn tcp_echo_is_byte_exact_under_every_plan_and_seed() {
    let _fds = shared_fds();
    on_each_backend(|backend| {
        for (name, plan) in plans() {
            for seed in seeds() {
                let lp = faulty(backend, seed, plan.clone());
                lp.run_until_complete(async {
                    echo_workload(3, 24 << 10, seed).await;
                    settle(&lp).await;
                });
                let stats = lp.stats();
                assert_eq!(
                    (stats.ops_in_flight, stats.buffers_held),
                    (0, 0),
                    "{backend:?} {name} seed {seed:#x}"
                );
                eprintln!("{name}: {}", lp.backend_description());
            }
        }
    });
}

#[test]
fn eintr_and_eagain_never_reach_user_code() {
    let _fds = shared_fds();
    let plan = FaultPlan {
        turn_error: 0.4,
        turn_errnos: vec![libc::EINTR, libc::EAGAIN, libc::EBUSY],
        op_error: 0.6,
        op_errnos: vec![libc::EINTR, libc::EAGAIN],
        ..FaultPlan::default()
    };
    on_each_backend(|backend| {
        for seed in seeds() {
            let lp = faulty(backend, seed, plan.clone());
            // Every read and write in the workload `expect`s success.
            lp.run_until_complete(async {
                echo_workload(2, 8 << 10, seed).await;
                ringloop::sleep(Duration::from_millis(2)).await;
                settle(&lp).await;
            });
            assert!(injected(&lp, "turn errors") > 0, "{backend:?} {seed:#x}");
            assert!(injected(&lp, "op errors") > 0, "{backend:?} {seed:#x}");
        }
    });
}

#[test]
fn enomem_from_turns_is_retried_with_back_off() {
    let _fds = shared_fds();
    let plan = FaultPlan {
        turn_error: 0.3,
        turn_errnos: vec![libc::ENOMEM],
        ..FaultPlan::default()
    };
    on_each_backend(|backend| {
        let lp = faulty(backend, 9, plan.clone());
        let v = lp.run_until_complete(async {
            let t = ringloop::spawn(async {
                for _ in 0..20 {
                    ringloop::sleep(Duration::from_millis(1)).await;
                }
                7
            });
            t.await.unwrap()
        });
        assert_eq!(v, 7);
        assert!(injected(&lp, "turn errors") > 0, "{backend:?}");
    });
}

#[test]
fn timers_fire_in_order_and_never_early() {
    let _fds = shared_fds();
    on_each_backend(|backend| {
        // io_uring also with the timeout-SQE wait of kernels before 5.11.
        let wait_paths: &[bool] = if backend == Backend::IoUring {
            &[false, true]
        } else {
            &[false]
        };
        for &timeout_sqe in wait_paths {
            for seed in seeds() {
                let lp = EventLoop::builder()
                    .backend(backend)
                    .force_timeout_sqe(timeout_sqe)
                    .fault_injection(
                        seed,
                        FaultPlan {
                            turn_error: 0.3,
                            turn_errnos: vec![libc::EINTR, libc::EAGAIN, libc::EBUSY],
                            ..FaultPlan::chaos()
                        },
                    )
                    .build()
                    .unwrap();
                let fired = Rc::new(RefCell::new(Vec::new()));
                lp.run_until_complete(async {
                    let start = Instant::now();
                    // I/O alongside, so the completion stream is perturbed while timers run.
                    let io = ringloop::spawn(echo_workload(1, 4 << 10, seed));
                    let mut tasks = Vec::new();
                    for i in 0..40u64 {
                        // Equal deadlines in groups of four, out of order of creation.
                        let ms = (i * 7 % 10) * 2;
                        let deadline = start + Duration::from_millis(ms);
                        let fired = fired.clone();
                        tasks.push(ringloop::spawn(async move {
                            ringloop::sleep_until(deadline).await;
                            let now = Instant::now();
                            assert!(now >= deadline, "timer {i} fired early");
                            fired.borrow_mut().push((deadline, i));
                        }));
                    }
                    for t in tasks {
                        guard("timer", t).await.unwrap();
                    }
                    guard("io", io).await.unwrap();
                    settle(&lp).await;
                });
                let fired = fired.borrow();
                let mut expected = fired.clone();
                expected.sort();
                assert_eq!(*fired, expected, "{backend:?} seed {seed:#x}: out of order");
                assert!(injected(&lp, "turn errors") > 0);
            }
        }
    });
}

#[test]
fn reads_dropped_mid_flight_release_everything() {
    let _fds = exclusive_fds();
    let before = fd_count();
    on_each_backend(|backend| {
        for seed in seeds() {
            let lp = faulty(backend, seed, FaultPlan::chaos());
            lp.run_until_complete(async {
                let listener = local_listener();
                let addr = listener.local_addr().unwrap();
                let accept = ringloop::spawn(async move { listener.accept().await });
                let client = TcpStream::connect(addr).await.unwrap();
                let (server, _) = guard("accept", accept).await.unwrap().unwrap();
                for round in 0..300u32 {
                    let mut read = server.read(Vec::with_capacity(1024));
                    match round % 3 {
                        // Dropped before it was ever submitted.
                        0 => drop(read),
                        // Dropped while queued or in the kernel.
                        1 => {
                            assert!(poll_once(&mut read).await.is_pending());
                            ringloop::yield_now().await;
                            drop(read);
                        }
                        // Dropped by a timeout, perhaps with data on its way.
                        _ => {
                            if round % 2 == 0 {
                                let (res, _) = client.write_all(vec![round as u8; 10]).await;
                                res.unwrap();
                            }
                            let _ = ringloop::timeout(Duration::from_micros(50), read).await;
                        }
                    }
                }
                // Dropped accepts, one of them with a connection on its way.
                let listener = local_listener();
                let addr = listener.local_addr().unwrap();
                for i in 0..20 {
                    let mut accept = Box::pin(listener.accept());
                    let _ = poll_once(&mut accept).await;
                    if i == 10 {
                        let late = TcpStream::connect(addr).await.unwrap();
                        ringloop::yield_now().await;
                        drop(accept);
                        drop(late);
                    }
                }
                drop((client, server, listener));
                settle(&lp).await;
            });
            let stats = lp.stats();
            assert_eq!(stats.ops_in_flight, 0, "{backend:?} seed {seed:#x}");
            assert_eq!(stats.buffers_held, 0, "{backend:?} seed {seed:#x}");
        }
    });
    assert_eq!(fd_count(), before, "descriptors leaked");
}

#[test]
fn duplicated_and_stale_completions_are_stray_and_wake_no_one() {
    let _fds = shared_fds();
    let plan = FaultPlan {
        duplicate: 0.5,
        stray: 1.0,
        delay: 0.3,
        reorder: 1.0,
        ..FaultPlan::default()
    };
    on_each_backend(|backend| {
        for seed in seeds() {
            let lp = faulty(backend, seed, plan.clone());
            lp.run_until_complete(async {
                let listener = local_listener();
                let addr = listener.local_addr().unwrap();
                let accept = ringloop::spawn(async move { listener.accept().await });
                let client = TcpStream::connect(addr).await.unwrap();
                let (server, _) = guard("accept", accept).await.unwrap().unwrap();
                // A read with nothing to read stays pending however many strays and
                // duplicates (of other operations' tokens) go by.
                let mut idle = server.read(Vec::with_capacity(64));
                assert!(poll_once(&mut idle).await.is_pending());
                let busy = ringloop::spawn(echo_workload(2, 4 << 10, seed));
                guard("busy", busy).await.unwrap();
                for _ in 0..50 {
                    ringloop::yield_now().await;
                }
                assert!(
                    poll_once(&mut idle).await.is_pending(),
                    "a stray completion woke a read with nothing to read"
                );
                let (res, _) = client.write_all(b"exactly this".to_vec()).await;
                res.unwrap();
                let (res, buf) = guard("idle read", idle).await;
                assert_eq!(&buf[..res.unwrap()], b"exactly this");
                drop((client, server));
                settle(&lp).await;
            });
            let strays = lp.stats().stray_completions;
            let expected = injected(&lp, "duplicated") + injected(&lp, "strays");
            assert!(expected > 0);
            assert_eq!(
                strays, expected,
                "{backend:?} seed {seed:#x}: every duplicate and stray counted once"
            );
        }
    });
}

#[test]
fn setup_failure_is_a_clear_error() {
    let _fds = shared_fds();
    on_each_backend(|backend| {
        for (errno, kind) in [
            (libc::ENOMEM, io::ErrorKind::OutOfMemory),
            (libc::EPERM, io::ErrorKind::PermissionDenied),
        ] {
            let err = EventLoop::builder()
                .backend(backend)
                .fault_injection(
                    3,
                    FaultPlan {
                        setup_error: Some(errno),
                        ..FaultPlan::default()
                    },
                )
                .build()
                .expect_err("setup must fail");
            assert_eq!(err.kind(), kind);
            let msg = err.to_string();
            assert!(msg.contains(&format!("{backend:?}")), "{msg}");
            assert!(msg.contains("setting up"), "{msg}");
        }
    });
}

#[test]
fn persistent_turn_failures_panic_naming_the_backend() {
    let _fds = shared_fds();
    on_each_backend(|backend| {
        for (errno, expect) in [
            (libc::EBUSY, "1000 times in a row"),
            (libc::ENOMEM, "20 times in a row"),
            (libc::EBADF, "driver failed: Bad file descriptor"),
        ] {
            let lp = faulty(
                backend,
                5,
                FaultPlan {
                    turn_error: 1.0,
                    turn_errnos: vec![errno],
                    ..FaultPlan::default()
                },
            );
            // Timers alone keep a loop going without its driver; this needs the driver.
            let caught = catch_unwind(AssertUnwindSafe(|| {
                lp.run_until_complete(ringloop::sleep(Duration::from_secs(60)))
            }));
            let msg = panic_message(&*caught.expect_err("a persistent failure must panic"));
            assert!(msg.contains(&format!("{backend:?} driver")), "{msg}");
            assert!(msg.contains(expect), "{msg}");
            // The loop still closes cleanly.
            drop(lp);
        }
    });
}

#[test]
fn enobufs_and_enomem_from_operations_reach_the_caller() {
    let _fds = shared_fds();
    on_each_backend(|backend| {
        for errno in [libc::ENOBUFS, libc::ENOMEM] {
            let lp = faulty(
                backend,
                11,
                FaultPlan {
                    op_error: 1.0,
                    op_errnos: vec![errno],
                    ..FaultPlan::default()
                },
            );
            let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let a = std::net::TcpStream::connect(std_listener.local_addr().unwrap()).unwrap();
            let (b, _) = std_listener.accept().unwrap();
            lp.run_until_complete(async {
                let a = TcpStream::from_std(a).unwrap();
                let b = TcpStream::from_std(b).unwrap();
                let (res, buf) = a.write(b"lost?".to_vec()).await;
                assert_eq!(res.unwrap_err().raw_os_error(), Some(errno));
                assert_eq!(buf, b"lost?", "the buffer comes back");
                let (res, buf) = b.read(Vec::with_capacity(8)).await;
                assert_eq!(res.unwrap_err().raw_os_error(), Some(errno));
                assert_eq!(buf.capacity(), 8);
                drop((a, b));
                settle(&lp).await;
            });
            assert_eq!(lp.stats().ops_in_flight, 0);
        }
    });
}

#[test]
fn a_cancelled_operation_never_reports_eintr_or_eagain() {
    let _fds = shared_fds();
    let plan = FaultPlan {
        op_error: 0.5,
        op_errnos: vec![libc::EINTR, libc::EAGAIN],
        delay: 0.5,
        ..FaultPlan::default()
    };
    on_each_backend(|backend| {
        for seed in seeds() {
            let lp = faulty(backend, seed, plan.clone());
            lp.run_until_complete(async {
                let listener = local_listener();
                let addr = listener.local_addr().unwrap();
                let accept = ringloop::spawn(async move { listener.accept().await });
                let client = TcpStream::connect(addr).await.unwrap();
                let (server, _) = guard("accept", accept).await.unwrap().unwrap();
                for round in 0..100u32 {
                    let mut read = server.read(Vec::with_capacity(64));
                    assert!(poll_once(&mut read).await.is_pending());
                    if round % 2 == 0 {
                        ringloop::yield_now().await;
                    }
                    read.cancel();
                    let (res, _) = guard("cancelled read", read).await;
                    match res {
                        Ok(n) => panic!("read {n} bytes with nothing written"),
                        Err(e) => assert_eq!(
                            e.raw_os_error(),
                            Some(libc::ECANCELED),
                            "round {round}: {e}"
                        ),
                    }
                }
                drop((client, server));
                settle(&lp).await;
            });
        }
    });
}

#[test]
fn datagrams_and_unix_streams_arrive_whole_under_chaos() {
    let _fds = shared_fds();
    on_each_backend(|backend| {
        for seed in seeds() {
            let lp = faulty(backend, seed, FaultPlan::chaos());
            lp.run_until_complete(async {
                // UDP ping-pong: a datagram is never shortened or split.
                let a = UdpSocket::bind("127.0.0.1:0").unwrap();
                let b = UdpSocket::bind("127.0.0.1:0").unwrap();
                let b_addr = b.local_addr().unwrap();
                a.connect(b_addr).unwrap();
                for i in 0..40usize {
                    let msg = pattern(1 + i * 37, seed ^ i as u64);
                    let (res, _) = guard("send", a.send(msg.clone())).await;
                    assert_eq!(res.unwrap(), msg.len());
                    let (res, buf) =
                        guard("recv_from", b.recv_from(Vec::with_capacity(2048))).await;
                    let (n, from) = res.unwrap();
                    assert_eq!(from, a.local_addr().unwrap());
                    assert!(buf[..n] == msg[..], "datagram {i} differs");
                    let (res, _) = guard("send_to", b.send_to(msg.clone(), from)).await;
                    assert_eq!(res.unwrap(), msg.len());
                    let (res, buf) = guard("recv", a.recv(Vec::with_capacity(2048))).await;
                    assert!(buf[..res.unwrap()] == msg[..], "reply {i} differs");
                }
                // A Unix stream pair: 64 KiB each way, byte for byte.
                let (x, y) = UnixStream::pair().unwrap();
                let data = pattern(64 << 10, seed);
                let sent = data.clone();
                let writer = ringloop::spawn(async move {
                    let (res, _) = x.write_all(sent).await;
                    res.unwrap();
                    x
                });
                let (res, got) = guard(
                    "unix read",
                    y.read_exact(Vec::with_capacity(64 << 10).slice(..64 << 10)),
                )
                .await;
                res.unwrap();
                assert!(got.into_inner() == data, "unix stream differs");
                drop(guard("writer", writer).await.unwrap());
                drop((a, b, y));
                settle(&lp).await;
            });
        }
    });
}

#[test]
fn a_loop_dropped_mid_flight_under_chaos_closes_everything() {
    let _fds = exclusive_fds();
    let before = fd_count();
    let before_targets = fd_targets();
    on_each_backend(|backend| {
        for seed in seeds() {
            let lp = faulty(backend, seed, FaultPlan::chaos());
            let listener = local_listener();
            let addr = listener.local_addr().unwrap();
            lp.run_until_complete(async {
                let mut pairs = Vec::new();
                for _ in 0..8 {
                    let connect = ringloop::spawn(TcpStream::connect(addr));
                    let (server, _) = guard("accept", listener.accept()).await.unwrap();
                    let client = guard("connect", connect).await.unwrap().unwrap();
                    pairs.push((client, server));
                }
                for (i, (client, server)) in pairs.into_iter().enumerate() {
                    // Reads that never complete, and writes that may still be queued.
                    ringloop::spawn(async move {
                        let _ = server.read(Vec::with_capacity(4096)).await;
                    });
                    ringloop::spawn(async move {
                        let (_, _) = client.write_all(pattern(100 << 10, i as u64)).await;
                        let _ = client.read(Vec::with_capacity(16)).await;
                    });
                }
                ringloop::spawn(async move {
                    let _ = listener.accept().await;
                });
                for _ in 0..10 {
                    ringloop::yield_now().await;
                }
                assert!(lp.stats().ops_in_flight > 0);
            });
            drop(lp);
        }
    });
    assert_eq!(
        fd_count(),
        before,
        "descriptors leaked: before {before_targets:?}, after {:?}",
        fd_targets()
    );
}

#[test]
fn remote_wakes_and_stop_reach_a_loop_on_the_fault_backend() {
    let _fds = shared_fds();
    on_each_backend(|backend| {
        let lp = faulty(backend, 77, FaultPlan::chaos());
        let remote = lp.remote();
        let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = count.clone();
        let thread = std::thread::spawn(move || {
            for _ in 0..100 {
                let seen = seen.clone();
                remote
                    .call_soon_threadsafe(move || {
                        seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    })
                    .unwrap();
            }
            std::thread::sleep(Duration::from_millis(20));
            remote.stop();
        });
        lp.run_forever();
        thread.join().unwrap();
        assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 100);
    });
}

// `net::serve` on the fault backend: its receives, readiness waits, sends and multishot
// accepts are sink operations, routed through the fault driver like every other.

/// What the echo protocols of one server saw.
#[derive(Default)]
struct ServeLog {
    /// `connection_lost` calls, per connection in the order they were made.
    lost: RefCell<Vec<u32>>,
    /// The errors connections were lost with.
    errors: RefCell<Vec<io::Error>>,
    /// Bytes delivered to `data_received`.
    bytes: Cell<usize>,
}

impl ServeLog {
    fn made(&self) -> usize {
        self.lost.borrow().len()
    }

    fn lost(&self) -> usize {
        self.lost.borrow().iter().filter(|&&n| n > 0).count()
    }

    fn assert_each_lost_once(&self, what: &str) {
        let lost = self.lost.borrow();
        assert!(
            lost.iter().all(|&n| n == 1),
            "{what}: connection_lost calls per connection: {lost:?}"
        );
    }
}

/// Echoes what arrives; records what it saw in its server's log.
struct EchoProtocol {
    log: Rc<ServeLog>,
    id: usize,
    transport: Option<Transport>,
}

impl Protocol for EchoProtocol {
    fn connection_made(&mut self, transport: Transport) {
        let mut lost = self.log.lost.borrow_mut();
        self.id = lost.len();
        lost.push(0);
        self.transport = Some(transport);
    }

    fn data_received(&mut self, data: &[u8]) {
        self.log.bytes.set(self.log.bytes.get() + data.len());
        self.transport
            .as_ref()
            .expect("data after connection_made")
            .write(data);
    }

    fn connection_lost(&mut self, error: Option<io::Error>) {
        self.log.lost.borrow_mut()[self.id] += 1;
        self.log.errors.borrow_mut().extend(error);
        self.transport = None;
    }
}

fn echo_factory(log: &Rc<ServeLog>) -> impl FnMut() -> EchoProtocol + 'static {
    let log = log.clone();
    move || EchoProtocol {
        log: log.clone(),
        id: usize::MAX,
        transport: None,
    }
}

/// Sleeps a millisecond at a time until `done` holds.
async fn wait_until(done: impl Fn() -> bool) {
    while !done() {
        ringloop::sleep(Duration::from_millis(1)).await;
    }
}

#[test]
fn serve_echo_is_byte_exact_under_chaos_and_loses_each_connection_once() {
    let _fds = exclusive_fds();
    const CONNS: usize = 12;
    const BYTES: usize = 16 << 10;
    for backend in backends() {
        // On io_uring, the default provided-buffer ring, and one so small that receives
        // starve (ENOBUFS) and wait for buffers to come back; that one with a
        // registered-file table smaller than the connections too (the server's and the
        // clients' sockets take and give back its 8 slots as they come and go).
        let rings: &[Option<(u16, u32)>] = match backend {
            Backend::IoUring => &[None, Some((4, 1024))],
            _ => &[None],
        };
        for &ring in rings {
            for seed in seeds() {
                let what = format!("{backend:?}, ring {ring:?}, seed {seed:#x}");
                let mut builder = EventLoop::builder();
                builder
                    .backend(backend)
                    .fault_injection(seed, FaultPlan::chaos());
                if let Some((count, size)) = ring {
                    builder.recv_buffers(count, size).fixed_files(8);
                }
                let lp = builder.build().unwrap();
                let before = fd_count();
                let log = Rc::new(ServeLog::default());
                lp.run_until_complete(async {
                    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
                    let addr = listener.local_addr().unwrap();
                    let server =
                        ringloop::spawn(ringloop::net::serve(listener, echo_factory(&log)));
                    let clients: Vec<_> = (0..CONNS)
                        .map(|c| ringloop::spawn(echo_client(addr, BYTES, seed, c)))
                        .collect();
                    for c in clients {
                        guard("serve echo client", c).await.expect("client task");
                    }
                    guard(
                        "the server seeing every end-of-file",
                        wait_until(|| log.lost() == CONNS),
                    )
                    .await;
                    server.cancel();
                    assert!(server.await.is_err(), "{what}: the server ended on its own");
                    settle(&lp).await;
                });
                assert_eq!(log.made(), CONNS, "{what}");
                log.assert_each_lost_once(&what);
                assert!(
                    log.errors.borrow().is_empty(),
                    "{what}: {:?}",
                    log.errors.borrow()
                );
                assert_eq!(log.bytes.get(), CONNS * BYTES, "{what}");
                let stats = lp.stats();
                assert_eq!((stats.ops_in_flight, stats.buffers_held), (0, 0), "{what}");
                if backend == Backend::IoUring {
                    // One multishot accept (re-armed after injected errors), not one per
                    // connection.
                    assert!(stats.accepts_submitted < CONNS as u64, "{what}: {stats:?}");
                }
                assert_eq!(fd_count(), before, "{what}: descriptors leaked");
                eprintln!("serve, {what}: {}", lp.backend_description());
            }
        }
    }
}

/// Blocking clients on a thread of their own: `conns` connections, each echoing `rounds`
/// chunks, checked byte for byte, then a half-close. Whether each connection completed
/// (one the server lost reads end-of-file or a reset early).
fn blocking_echo_clients(addr: SocketAddr, conns: usize, rounds: usize, seed: u64) -> Vec<bool> {
    use std::io::{Read, Write};
    let mut streams: Vec<Option<std::net::TcpStream>> = (0..conns)
        .map(|_| {
            let s = std::net::TcpStream::connect(addr).expect("connect");
            s.set_read_timeout(Some(support::HANG)).unwrap();
            Some(s)
        })
        .collect();
    let failed = |e: &io::Error| {
        assert!(
            !matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ),
            "a client hung for {:?}",
            support::HANG
        );
    };
    for round in 0..rounds {
        let chunks: Vec<Vec<u8>> = (0..conns)
            .map(|c| {
                pattern(
                    1 + (round * 811 + c * 97) % 4096,
                    seed ^ (round * conns + c) as u64,
                )
            })
            .collect();
        for (slot, chunk) in streams.iter_mut().zip(&chunks) {
            if let Some(s) = slot
                && let Err(e) = s.write_all(chunk)
            {
                failed(&e);
                *slot = None;
            }
        }
        for (c, (slot, chunk)) in streams.iter_mut().zip(&chunks).enumerate() {
            let Some(s) = slot else { continue };
            let mut back = vec![0; chunk.len()];
            match s.read_exact(&mut back) {
                Ok(()) => assert!(
                    back == *chunk,
                    "connection {c}, round {round}: echo differs"
                ),
                Err(e) => {
                    failed(&e);
                    *slot = None;
                }
            }
        }
    }
    streams
        .into_iter()
        .map(|slot| {
            let Some(mut s) = slot else { return false };
            let _ = s.shutdown(std::net::Shutdown::Write);
            let mut rest = [0u8; 1];
            match s.read(&mut rest) {
                Ok(n) => assert_eq!(n, 0, "bytes after the echo"),
                Err(e) => failed(&e),
            }
            true
        })
        .collect()
}

#[test]
fn serve_under_enobufs_loses_the_failed_connections_with_it_and_leaks_nothing() {
    let _fds = exclusive_fds();
    const CONNS: usize = 16;
    const ROUNDS: usize = 8;
    let plan = FaultPlan {
        op_error: 0.04,
        op_errnos: vec![libc::ENOBUFS],
        ..FaultPlan::default()
    };
    let mut lost_with_error = 0;
    for backend in backends() {
        for seed in seeds() {
            let what = format!("{backend:?}, seed {seed:#x}");
            let start = fd_count();
            let lp = faulty(backend, seed, plan.clone());
            let before = fd_count();
            let log = Rc::new(ServeLog::default());
            let completed = lp.run_until_complete(async {
                let listener = TcpListener::bind("127.0.0.1:0").unwrap();
                let addr = listener.local_addr().unwrap();
                let clients =
                    std::thread::spawn(move || blocking_echo_clients(addr, CONNS, ROUNDS, seed));
                let server = ringloop::spawn(ringloop::net::serve(listener, echo_factory(&log)));
                guard("the clients", wait_until(|| clients.is_finished())).await;
                let completed = clients.join().expect("client thread");
                guard("every connection lost", wait_until(|| log.lost() == CONNS)).await;
                server.cancel();
                assert!(server.await.is_err(), "{what}: the server ended on its own");
                settle(&lp).await;
                completed
            });
            assert_eq!(log.made(), CONNS, "{what}");
            log.assert_each_lost_once(&what);
            let errors = log.errors.borrow();
            assert!(
                errors
                    .iter()
                    .all(|e| e.raw_os_error() == Some(libc::ENOBUFS)),
                "{what}: {errors:?}"
            );
            let ok = completed.iter().filter(|&&ok| ok).count();
            // A connection lost after its last echo still completed for its client.
            assert!(
                CONNS - ok <= errors.len(),
                "{what}: {ok} completed, {errors:?}"
            );
            assert!(ok > 0, "{what}: no connection kept working");
            lost_with_error += errors.len();
            let stats = lp.stats();
            assert_eq!((stats.ops_in_flight, stats.buffers_held), (0, 0), "{what}");
            assert_eq!(fd_count(), before, "{what}: descriptors leaked");
            eprintln!(
                "serve under ENOBUFS, {what}: {ok} of {CONNS} completed, {} lost with it: {}",
                errors.len(),
                lp.backend_description()
            );
            drop(errors);
            drop(lp);
            assert_eq!(fd_count(), start, "{what}: the loop left descriptors open");
        }
    }
    assert!(lost_with_error > 0, "ENOBUFS never reached a connection");
}

#[test]
fn a_serve_dropped_mid_stream_under_chaos_releases_everything() {
    let _fds = exclusive_fds();
    const CONNS: usize = 8;
    for backend in backends() {
        for seed in seeds() {
            let what = format!("{backend:?}, seed {seed:#x}");
            let mut builder = EventLoop::builder();
            builder
                .backend(backend)
                .fault_injection(seed, FaultPlan::chaos())
                // Few buffers: one lost for good would starve the second server below.
                .recv_buffers(1, 1024);
            let lp = builder.build().unwrap();
            let before = fd_count();
            let log = Rc::new(ServeLog::default());
            lp.run_until_complete(async {
                let listener = TcpListener::bind("127.0.0.1:0").unwrap();
                let addr = listener.local_addr().unwrap();
                let server = ringloop::spawn(ringloop::net::serve(listener, echo_factory(&log)));
                // Clients that send much before they read: the server's sends stall in
                // flight, its receives stay armed. They close only after the server did.
                let flood = |c: usize| async move {
                    let Ok(stream) = TcpStream::connect(addr).await else {
                        return;
                    };
                    let (_, _) = stream.write_all(pattern(512 << 10, c as u64)).await;
                    let mut buf = Vec::with_capacity(64 << 10);
                    loop {
                        buf.clear();
                        let (res, b) = stream.read(buf).await;
                        buf = b;
                        if !matches!(res, Ok(n) if n > 0) {
                            return;
                        }
                    }
                };
                let mut clients: Vec<_> = (0..CONNS).map(|c| ringloop::spawn(flood(c))).collect();
                guard(
                    "the server taking data in",
                    wait_until(|| log.made() == CONNS && log.bytes.get() > CONNS << 10),
                )
                .await;
                // More connections arriving as the server goes (the multishot accept is
                // abandoned with them in flight).
                clients.extend((CONNS..CONNS + 4).map(|c| ringloop::spawn(flood(c))));
                ringloop::yield_now().await;
                server.cancel();
                assert!(server.await.is_err(), "{what}: the server ended on its own");
                log.assert_each_lost_once(&what);
                for c in clients {
                    guard("a client of the dropped server", c)
                        .await
                        .expect("client task");
                }
                // The loop serves on: another server echoes byte for byte.
                let second = Rc::new(ServeLog::default());
                let listener = TcpListener::bind("127.0.0.1:0").unwrap();
                let addr = listener.local_addr().unwrap();
                let server = ringloop::spawn(ringloop::net::serve(listener, echo_factory(&second)));
                let clients: Vec<_> = (0..2)
                    .map(|c| ringloop::spawn(echo_client(addr, 8 << 10, seed, c)))
                    .collect();
                for c in clients {
                    guard("a client of the second server", c)
                        .await
                        .expect("client task");
                }
                guard(
                    "the second server's connections lost",
                    wait_until(|| second.lost() == 2),
                )
                .await;
                server.cancel();
                let _ = server.await;
                second.assert_each_lost_once(&what);
                settle(&lp).await;
            });
            assert!(
                log.errors.borrow().is_empty(),
                "{what}: {:?}",
                log.errors.borrow()
            );
            let stats = lp.stats();
            assert_eq!((stats.ops_in_flight, stats.buffers_held), (0, 0), "{what}");
            assert_eq!(fd_count(), before, "{what}: descriptors leaked");
        }
    }
}
