//! hyper on ringloop (feature `hyper`): the examples' HTTP/1.1 and HTTP/2 server and
//! client end to end, concurrent HTTP/2 streams on one connection, the axum example's
//! router, bad clients (garbage, a stalled head, a reset mid-response) that cost their
//! own connection only, and `HyperTimer` / `HyperExecutor` themselves. Every test runs
//! on io_uring and epoll. TLS is in `hyper_tls.rs`.

#[allow(dead_code)]
#[path = "../examples/axum_app.rs"]
mod axum_app;
#[allow(dead_code)]
#[path = "../examples/hyper_client.rs"]
mod hyper_client;
#[allow(dead_code)]
#[path = "../examples/hyper_server.rs"]
mod hyper_server;
mod support;

use std::cell::{Cell, RefCell};
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::rt::{Executor, Sleep, Timer};
use hyper::service::service_fn;
use hyper::{Method, Response, StatusCode};
use hyper_util::rt::TokioIo;
use hyper_util::server::conn::auto;
use ringloop::compat::{HyperExecutor, HyperTimer};
use ringloop::net::{TcpListener, TcpStream};
use ringloop::sync::Event;
use support::{
    Log, for_each_backend, guard, log, on_each_backend, poll_once, read_to_end, shared_fds,
    wait_until,
};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A server on a free loopback port: each accepted connection is served on its own
/// task by `serve`, and its outcome recorded.
struct TestServer {
    addr: SocketAddr,
    accepted: Rc<Cell<usize>>,
    /// One entry per connection that ended: its error, if any.
    ended: Log<Option<String>>,
    _accept: ringloop::Task<()>,
}

impl TestServer {
    fn start<F, Fut>(serve: F) -> TestServer
    where
        F: Fn(TcpStream) -> Fut + 'static,
        Fut: Future<Output = Result<(), BoxError>> + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("address");
        let (accepted, ended) = (Rc::new(Cell::new(0)), log());
        let accept = ringloop::spawn({
            let (accepted, ended) = (accepted.clone(), ended.clone());
            async move {
                loop {
                    let (stream, _) = listener.accept().await.expect("accept");
                    accepted.set(accepted.get() + 1);
                    let (conn, ended) = (serve(stream), ended.clone());
                    ringloop::spawn(async move {
                        let outcome = conn.await.err().map(|e| e.to_string());
                        ended.borrow_mut().push(outcome);
                    });
                }
            }
        });
        TestServer {
            addr,
            accepted,
            ended,
            _accept: accept,
        }
    }

    /// Waits until `n` connections have ended.
    async fn ended(&self, n: usize) -> Vec<Option<String>> {
        let ended = self.ended.clone();
        wait_until("server connections to end", || ended.borrow().len() >= n).await;
        self.ended.borrow().clone()
    }
}

/// Timers pending once the hang guard's own timer has started (at its first poll,
/// after the guarded future's).
async fn timers_pending(lp: &ringloop::EventLoop) -> usize {
    ringloop::yield_now().await;
    lp.stats().timers_pending
}

/// The example server's connection handler, with a short header-read timeout.
fn example_server(header_read_timeout: Duration) -> TestServer {
    TestServer::start(move |stream| hyper_server::serve_connection(stream, header_read_timeout))
}

/// A GET / over a new HTTP/1.1 connection, which must succeed.
async fn hello_works(addr: SocketAddr) {
    let mut sender = hyper_client::connect_http1(addr).await.expect("connect");
    let req = hyper_client::request(Method::GET, addr, "/", "");
    let res = sender.send_request(req).await.expect("response");
    let (status, body) = hyper_client::text(res).await.expect("body");
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "hello from ringloop\n");
}

#[test]
fn http1_keep_alive_serves_several_requests_and_echoes_posts_on_one_connection() {
    let _fds = shared_fds();
    for_each_backend(|lp| {
        lp.run_until_complete(guard("HTTP/1.1 keep-alive", async {
            let timers_before = timers_pending(lp).await;
            let server = example_server(Duration::from_secs(10));
            let answers = hyper_client::http1_rounds(server.addr, 3)
                .await
                .expect("requests");
            assert_eq!(answers.len(), 6);
            for (i, pair) in answers.chunks(2).enumerate() {
                assert_eq!(pair[0], (StatusCode::OK, "hello from ringloop\n".into()));
                assert_eq!(pair[1], (StatusCode::OK, format!("echo {i} over http/1.1")));
            }
            // A larger body, streamed through the echo route and back.
            let big: Vec<u8> = (0..512 * 1024).map(|i| (i % 251) as u8).collect();
            let mut sender = hyper_client::connect_http1(server.addr)
                .await
                .expect("connect");
            for _ in 0..2 {
                let mut req = hyper_client::request(Method::POST, server.addr, "/echo", "");
                *req.body_mut() = Full::new(Bytes::from(big.clone()));
                sender.ready().await.expect("ready");
                let res = sender.send_request(req).await.expect("response");
                let body = res.into_body().collect().await.expect("body").to_bytes();
                assert!(body[..] == big[..], "the echoed body differs");
            }
            drop(sender);
            // The first client's rounds went over one connection, the big bodies over a
            // second one.
            assert_eq!(server.accepted.get(), 2);
            let ended = server.ended(2).await;
            assert_eq!(ended, vec![None, None], "both connections closed cleanly");
            // Each connection's header-read sleep left with it.
            assert_eq!(lp.stats().timers_pending, timers_before);
        }));
    });
}

#[test]
fn the_example_client_talks_http1_and_http2_to_the_example_server() {
    let _fds = shared_fds();
    for_each_backend(|lp| {
        lp.run_until_complete(guard("the examples", async {
            let server = example_server(Duration::from_secs(10));
            let answers = hyper_client::http1_rounds(server.addr, 1)
                .await
                .expect("HTTP/1.1");
            assert_eq!(answers[1], (StatusCode::OK, "echo 0 over http/1.1".into()));
            let answers = hyper_client::http2_concurrent(server.addr, 8)
                .await
                .expect("HTTP/2");
            for (i, answer) in answers.iter().enumerate() {
                assert_eq!(answer, &(StatusCode::OK, format!("echo {i} over http/2")));
            }
            assert_eq!(server.accepted.get(), 2, "one connection per protocol");
        }));
    });
}

#[test]
fn http2_runs_concurrent_requests_on_one_connection() {
    const STREAMS: usize = 16;
    let _fds = shared_fds();
    for_each_backend(|lp| {
        lp.run_until_complete(guard("concurrent HTTP/2 streams", async {
            // Each request waits until all of them are in flight at once: served one
            // at a time, they would never finish (and the guard would fail the test).
            let in_flight = Rc::new(Cell::new(0usize));
            let all_in = Event::new();
            let server = TestServer::start(move |stream| {
                let (in_flight, all_in) = (in_flight.clone(), all_in.clone());
                let service = service_fn(move |_req| {
                    let (in_flight, all_in) = (in_flight.clone(), all_in.clone());
                    async move {
                        in_flight.set(in_flight.get() + 1);
                        if in_flight.get() == STREAMS {
                            all_in.set();
                        }
                        all_in.wait().await;
                        let body = format!("{} in flight", in_flight.get());
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(body))))
                    }
                });
                async move {
                    auto::Builder::new(HyperExecutor)
                        .http2_only()
                        .serve_connection(TokioIo::new(stream), service)
                        .await
                }
            });
            let sender = hyper_client::connect_http2(server.addr)
                .await
                .expect("connect");
            let requests = (0..STREAMS).map(|_| {
                let mut sender = sender.clone();
                let req = hyper_client::request(Method::GET, server.addr, "/", "");
                async move { hyper_client::text(sender.send_request(req).await?).await }
            });
            for answer in ringloop::gather(requests).await {
                let (status, body) = answer.expect("a response");
                assert_eq!(status, StatusCode::OK);
                assert_eq!(body, format!("{STREAMS} in flight"));
            }
            assert_eq!(server.accepted.get(), 1);
        }));
    });
}

#[test]
fn the_axum_router_answers_its_routes_over_http1_and_http2() {
    let _fds = shared_fds();
    for_each_backend(|lp| {
        lp.run_until_complete(guard("axum", async {
            let router = axum_app::app();
            let server =
                TestServer::start(move |stream| axum_app::serve_connection(stream, router.clone()));
            let addr = server.addr;
            let expected = [
                ("/", StatusCode::OK, "axum on ringloop\n"),
                ("/hello/ringloop", StatusCode::OK, "hello, ringloop!\n"),
                ("/missing", StatusCode::NOT_FOUND, ""),
            ];
            let mut h1 = hyper_client::connect_http1(addr).await.expect("connect");
            for (path, status, body) in expected {
                h1.ready().await.expect("ready");
                let res = h1
                    .send_request(hyper_client::request(Method::GET, addr, path, ""))
                    .await
                    .expect("response");
                assert_eq!(
                    hyper_client::text(res).await.unwrap(),
                    (status, body.into())
                );
            }
            let mut h2 = hyper_client::connect_http2(addr).await.expect("connect");
            for (path, status, body) in expected {
                let res = h2
                    .send_request(hyper_client::request(Method::GET, addr, path, ""))
                    .await
                    .expect("response");
                assert_eq!(
                    hyper_client::text(res).await.unwrap(),
                    (status, body.into())
                );
            }
        }));
    });
}

#[test]
fn garbage_costs_only_its_own_connection() {
    let _fds = shared_fds();
    for_each_backend(|lp| {
        lp.run_until_complete(guard("a garbage client", async {
            let server = example_server(Duration::from_secs(10));
            let raw = TcpStream::connect(server.addr).await.expect("connect");
            let (res, _) = raw
                .write_all(b"\x00\x01 this is not HTTP at all \xff\xfe\r\n\r\n".to_vec())
                .await;
            res.expect("send garbage");
            // hyper answers 400 and closes.
            let answer = read_to_end(&raw).await.expect("read");
            let answer = String::from_utf8_lossy(&answer);
            assert!(
                answer.is_empty() || answer.starts_with("HTTP/1.1 400"),
                "unexpected answer to garbage: {answer:?}"
            );
            let ended = server.ended(1).await;
            assert!(
                ended[0].is_some(),
                "the garbage connection ends in an error"
            );
            hello_works(server.addr).await;
        }));
    });
}

#[test]
fn a_client_stalled_mid_head_is_closed_by_the_header_read_timeout() {
    const TIMEOUT: Duration = Duration::from_millis(200);
    let _fds = shared_fds();
    for_each_backend(|lp| {
        lp.run_until_complete(guard("a stalled client", async {
            let timers_before = timers_pending(lp).await;
            let server = example_server(TIMEOUT);
            let stalled = TcpStream::connect(server.addr).await.expect("connect");
            let start = Instant::now();
            let (res, _) = stalled
                .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nUser-Agent: sl".to_vec())
                .await;
            res.expect("send half a head");
            // Meanwhile, other connections are served.
            hello_works(server.addr).await;
            let answer = read_to_end(&stalled).await.expect("read");
            let waited = start.elapsed();
            let answer = String::from_utf8_lossy(&answer);
            assert!(
                answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
                "unexpected answer to a stalled head: {answer:?}"
            );
            assert!(
                waited >= TIMEOUT,
                "closed after {waited:?}, before the timeout"
            );
            assert!(
                waited < Duration::from_secs(5),
                "closed only after {waited:?}"
            );
            let ended = server.ended(2).await;
            assert_eq!(ended.iter().filter(|e| e.is_some()).count(), 1, "{ended:?}");
            assert!(
                ended.iter().flatten().any(|e| e.contains("timeout")),
                "the stalled connection ends in a timeout: {ended:?}"
            );
            hello_works(server.addr).await;
            server.ended(3).await;
            assert_eq!(lp.stats().timers_pending, timers_before);
        }));
    });
}

#[test]
fn a_client_reset_mid_response_costs_only_its_own_connection() {
    let _fds = shared_fds();
    for_each_backend(|lp| {
        lp.run_until_complete(guard("a reset mid-response", async {
            let big = Bytes::from(vec![b'x'; 32 << 20]);
            let server = TestServer::start(move |stream| {
                let big = big.clone();
                let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let body = match req.uri().path() {
                        "/big" => big.clone(),
                        _ => Bytes::from_static(b"hello from ringloop\n"),
                    };
                    async move { Ok::<_, Infallible>(Response::new(Full::new(body))) }
                });
                async move {
                    hyper_server::builder(Duration::from_secs(10))
                        .serve_connection(TokioIo::new(stream), service)
                        .await
                }
            });
            let raw = TcpStream::connect(server.addr).await.expect("connect");
            let (res, _) = raw
                .write_all(b"GET /big HTTP/1.1\r\nHost: localhost\r\n\r\n".to_vec())
                .await;
            res.expect("send the request");
            let (res, _) = raw.read(vec![0u8; 16 * 1024]).await;
            assert!(res.expect("the response starts") > 0);
            ringloop::sleep(Duration::from_millis(20)).await;
            // Closing with unread data in the receive queue sends a reset.
            drop(raw);
            let ended = server.ended(1).await;
            assert!(ended[0].is_some(), "the reset connection ends in an error");
            hello_works(server.addr).await;
        }));
    });
}

// ---------------------------------------------------------------------------------------
// HyperTimer and HyperExecutor themselves

/// The address of the sleep a box holds (to see that `reset` keeps the box).
fn addr_of(sleep: &Pin<Box<dyn Sleep>>) -> *const () {
    &**sleep as *const dyn Sleep as *const ()
}

#[test]
fn hyper_sleeps_never_complete_before_their_deadline() {
    for_each_backend(|lp| {
        lp.run_until_complete(guard("hyper sleeps", async {
            let sleeps = [0u64, 1, 2, 5, 10, 20, 35].into_iter().flat_map(|ms| {
                let d = Duration::from_millis(ms);
                [
                    (
                        d,
                        Box::pin(async move {
                            let start = Instant::now();
                            HyperTimer.sleep(d).await;
                            start.elapsed()
                        }) as Pin<Box<dyn Future<Output = Duration>>>,
                    ),
                    (
                        d,
                        Box::pin(async move {
                            let start = Instant::now();
                            HyperTimer.sleep_until(start + d).await;
                            start.elapsed()
                        }),
                    ),
                ]
            });
            let (wanted, sleeps): (Vec<_>, Vec<_>) = sleeps.unzip();
            let took = ringloop::gather(sleeps).await;
            for (wanted, took) in wanted.into_iter().zip(took) {
                assert!(
                    took >= wanted,
                    "a {wanted:?} sleep completed after {took:?}"
                );
            }
        }));
    });
}

#[test]
fn reset_moves_the_deadline_later_and_earlier_in_the_same_box() {
    for_each_backend(|lp| {
        lp.run_until_complete(guard("reset", async {
            // Later: armed for 10 ms, moved to 60 ms before it fires.
            let start = Instant::now();
            let mut sleep = HyperTimer.sleep(Duration::from_millis(10));
            let before = addr_of(&sleep);
            assert!(poll_once(&mut sleep).await.is_pending());
            HyperTimer.reset(&mut sleep, start + Duration::from_millis(60));
            assert_eq!(addr_of(&sleep), before, "reset allocated a new sleep");
            (&mut sleep).await;
            let took = start.elapsed();
            assert!(took >= Duration::from_millis(60), "fired early: {took:?}");

            // Again after it completed: it sleeps anew.
            let again = Instant::now();
            HyperTimer.reset(&mut sleep, again + Duration::from_millis(15));
            assert!(poll_once(&mut sleep).await.is_pending());
            (&mut sleep).await;
            assert!(again.elapsed() >= Duration::from_millis(15));
            assert_eq!(addr_of(&sleep), before);

            // Earlier: armed for an hour, moved to 10 ms.
            let start = Instant::now();
            let mut sleep = HyperTimer.sleep(Duration::from_secs(3600));
            assert!(poll_once(&mut sleep).await.is_pending());
            HyperTimer.reset(&mut sleep, start + Duration::from_millis(10));
            (&mut sleep).await;
            let took = start.elapsed();
            assert!(took >= Duration::from_millis(10), "fired early: {took:?}");
            assert!(
                took < Duration::from_secs(5),
                "the reset was ignored: {took:?}"
            );

            // A deadline already past: done at the next iteration.
            let mut sleep = HyperTimer.sleep(Duration::from_secs(3600));
            HyperTimer.reset(&mut sleep, Instant::now() - Duration::from_millis(1));
            (&mut sleep).await;
        }));
    });
}

#[test]
fn reset_to_an_earlier_deadline_wakes_the_sleeper_without_another_poll() {
    for_each_backend(|lp| {
        lp.run_until_complete(guard("an earlier reset", async {
            let sleep: Rc<RefCell<Pin<Box<dyn Sleep>>>> =
                Rc::new(RefCell::new(HyperTimer.sleep(Duration::from_secs(3600))));
            let start = Instant::now();
            let sleeper = ringloop::spawn({
                let sleep = sleep.clone();
                std::future::poll_fn(move |cx| sleep.borrow_mut().as_mut().poll(cx))
            });
            support::yield_times(2).await;
            // Another task moves the deadline; only the timer can wake the sleeper.
            HyperTimer.reset(&mut sleep.borrow_mut(), start + Duration::from_millis(20));
            let done = ringloop::timeout(Duration::from_secs(5), sleeper).await;
            done.expect("the sleeper was not woken at its new deadline")
                .expect("the sleeper task");
            assert!(start.elapsed() >= Duration::from_millis(20));
        }));
    });
}

#[test]
fn hyper_sleeps_created_reset_and_dropped_leave_no_timer_behind() {
    for_each_backend(|lp| {
        lp.run_until_complete(async {
            let before = lp.stats().timers_pending;
            for round in 0..3 {
                let mut sleeps: Vec<_> = (0..3000u64)
                    .map(|i| HyperTimer.sleep(Duration::from_millis(100 + i % 50)))
                    .collect();
                for (i, sleep) in sleeps.iter_mut().enumerate() {
                    match i % 4 {
                        0 => {}
                        1 => assert!(poll_once(sleep).await.is_pending()),
                        2 => {
                            assert!(poll_once(sleep).await.is_pending());
                            HyperTimer.reset(sleep, Instant::now() + Duration::from_secs(60));
                            assert!(poll_once(sleep).await.is_pending());
                        }
                        _ => {
                            assert!(poll_once(sleep).await.is_pending());
                            HyperTimer.reset(sleep, Instant::now() + Duration::from_millis(50));
                        }
                    }
                }
                assert!(lp.stats().timers_pending > before, "round {round}: armed");
                drop(sleeps);
                assert_eq!(lp.stats().timers_pending, before, "round {round}");
            }
            // Some that completed, then were dropped.
            let mut done: Vec<_> = (0..100)
                .map(|_| HyperTimer.sleep(Duration::from_millis(1)))
                .collect();
            for sleep in &mut done {
                sleep.await;
            }
            drop(done);
            assert_eq!(lp.stats().timers_pending, before);
        });
    });
}

#[test]
fn a_hyper_sleep_dropped_on_another_thread_leaves_its_timer_to_fire_harmlessly() {
    for_each_backend(|lp| {
        lp.run_until_complete(async {
            let before = lp.stats().timers_pending;
            let mut sleep = HyperTimer.sleep(Duration::from_millis(30));
            assert!(poll_once(&mut sleep).await.is_pending());
            assert_eq!(lp.stats().timers_pending, before + 1);
            std::thread::spawn(move || drop(sleep))
                .join()
                .expect("dropped on another thread");
            // Out of the loop's reach there: the timer stays until its deadline.
            assert_eq!(lp.stats().timers_pending, before + 1);
            wait_until("the orphaned timer to fire", || {
                lp.stats().timers_pending == before
            })
            .await;
        });
    });
}

#[test]
fn a_hyper_sleep_reset_earlier_on_another_thread_moves_its_timer_at_its_next_poll() {
    for_each_backend(|lp| {
        lp.run_until_complete(guard("a reset on another thread", async {
            let start = Instant::now();
            let mut sleep = HyperTimer.sleep(Duration::from_secs(3600));
            assert!(poll_once(&mut sleep).await.is_pending());
            // The loop's queue is out of reach there: the reset only records the deadline.
            let mut sleep = std::thread::spawn(move || {
                HyperTimer.reset(&mut sleep, start + Duration::from_millis(20));
                sleep
            })
            .join()
            .expect("reset on another thread");
            let done = ringloop::timeout(Duration::from_secs(5), &mut sleep).await;
            done.expect("the earlier deadline was ignored");
            assert!(start.elapsed() >= Duration::from_millis(20));
        }));
    });
}

#[test]
fn hyper_executor_runs_not_send_futures_on_the_loop_and_never_inline() {
    let _fds = shared_fds();
    on_each_backend(|backend| {
        // Even on a loop whose tasks start eagerly, `execute` only schedules.
        let lp = ringloop::EventLoop::builder()
            .backend(backend)
            .eager_tasks(true)
            .build()
            .expect("a loop");
        lp.run_until_complete(guard("an executed future", async {
            let ran = Rc::new(Cell::new(false));
            let flag = ran.clone();
            HyperExecutor.execute(async move { flag.set(true) });
            assert!(!ran.get(), "execute ran the future inline");
            support::yield_times(2).await;
            assert!(ran.get(), "the executed future never ran");
        }));
    });
}

#[test]
fn hyper_timer_and_executor_are_plain_copyable_values() {
    fn send_sync<T: Send + Sync + Copy + Default + std::fmt::Debug + 'static>() {}
    send_sync::<HyperTimer>();
    send_sync::<HyperExecutor>();
    assert_eq!(format!("{:?}", HyperTimer), "HyperTimer");
}
