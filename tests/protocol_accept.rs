//! `net::serve`'s accepting, on each backend: on io_uring the server runs on one
//! multishot accept, re-armed when it ends; on epoll it accepts on readiness, one at a
//! time.
//!
//! - a burst of connections all get `connection_made` and echo (on io_uring, through far
//!   fewer accept SQEs than connections);
//! - dropping the server while connections keep arriving leaves the process's
//!   descriptor count where it began;
//! - an accept the kernel refuses with `EINVAL` falls back to single-shot accepts (and
//!   then ends the server with the error, as before);
//! - running out of descriptors backs off without spinning and resumes (in a child run
//!   under `prlimit --nofile`, like `net_emfile.rs`).
//!
//! The tests count the process's descriptors, so they run one at a time.

mod support;

use std::cell::{Cell, RefCell};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use ringloop::net::{ListenOptions, Protocol, TcpListener, Transport, serve};
use ringloop::{Backend, EventLoop};
use support::{
    FdLimitedChild, cpu_time, fd_count, fds_below, new_loop, on_each_backend, serial, wait_for,
    wait_until,
};

#[derive(Default)]
struct Log {
    made: Cell<usize>,
    lost: Cell<usize>,
    bytes: Cell<usize>,
    transports: RefCell<Vec<Transport>>,
}

struct Echo {
    log: Rc<Log>,
    transport: Option<Transport>,
}

impl Protocol for Echo {
    fn connection_made(&mut self, transport: Transport) {
        self.log.made.set(self.log.made.get() + 1);
        self.log.transports.borrow_mut().push(transport.clone());
        self.transport = Some(transport);
    }

    fn data_received(&mut self, data: &[u8]) {
        self.log.bytes.set(self.log.bytes.get() + data.len());
        self.transport.as_ref().unwrap().write(data);
    }

    fn connection_lost(&mut self, _error: Option<std::io::Error>) {
        self.log.lost.set(self.log.lost.get() + 1);
    }
}

fn echo(log: &Rc<Log>) -> impl FnMut() -> Echo + 'static {
    let log = log.clone();
    move || Echo {
        log: log.clone(),
        transport: None,
    }
}

const BURST: usize = 200;

#[test]
fn a_burst_of_connections_is_accepted_made_and_echoed() {
    let _serial = serial();
    on_each_backend(|backend| {
        let lp = new_loop(backend);
        let listener =
            TcpListener::bind_with("127.0.0.1:0", ListenOptions::new().backlog(1024)).unwrap();
        let addr = listener.local_addr().unwrap();
        let log = Rc::new(Log::default());
        let before = lp.stats();
        // Every client connects first (the burst), then each echoes one message.
        let clients = thread::spawn(move || {
            let mut streams: Vec<TcpStream> = (0..BURST)
                .map(|_| TcpStream::connect(addr).expect("connect"))
                .collect();
            for (i, s) in streams.iter_mut().enumerate() {
                let msg = format!("hello {i}");
                s.write_all(msg.as_bytes()).unwrap();
                let mut back = vec![0; msg.len()];
                s.read_exact(&mut back).unwrap();
                assert_eq!(back, msg.as_bytes());
            }
            drop(streams);
        });
        lp.run_until_complete(async {
            let server = ringloop::spawn(serve(listener, echo(&log)));
            let status = || format!("made {} lost {}", log.made.get(), log.lost.get());
            wait_for("every connection lost", status, || log.lost.get() == BURST).await;
            server.cancel();
            let _ = server.await;
        });
        clients.join().expect("client thread");
        let after = lp.stats();
        assert_eq!(log.made.get(), BURST);
        assert_eq!(log.lost.get(), BURST);
        let expected: usize = (0..BURST).map(|i| format!("hello {i}").len()).sum();
        assert_eq!(log.bytes.get(), expected);
        let accepts = after.accepts_submitted - before.accepts_submitted;
        println!(
            "{:?}: {BURST} connections, {accepts} accepts submitted",
            lp.backend()
        );
        if lp.backend() == Backend::IoUring {
            // One multishot accept takes the whole burst; it is re-armed only when the kernel
            // ends it (a full completion queue), never once per connection.
            assert!(
                accepts * 10 < BURST as u64,
                "{accepts} accepts for {BURST} connections: not multishot"
            );
        } else {
            assert!(
                accepts >= BURST as u64,
                "{accepts} accept(2) calls for {BURST} connections"
            );
        }
    });
}

#[test]
fn dropping_the_server_while_connections_arrive_leaks_no_descriptor() {
    let _serial = serial();
    on_each_backend(|backend| {
        let fds_before_loop = fd_count();
        let lp = new_loop(backend);
        let fds_at_start = fd_count();
        for round in 0..5 {
            let listener =
                TcpListener::bind_with("127.0.0.1:0", ListenOptions::new().backlog(1024)).unwrap();
            let addr: SocketAddr = listener.local_addr().unwrap();
            let log = Rc::new(Log::default());
            let stop = Arc::new(AtomicBool::new(false));
            let s = stop.clone();
            // Connects as fast as it can until told to stop or refused (the listener closed),
            // keeping every connection open.
            let client = thread::spawn(move || {
                let mut streams = Vec::new();
                while !s.load(Ordering::Relaxed) && streams.len() < 3000 {
                    match TcpStream::connect(addr) {
                        Ok(c) => streams.push(c),
                        Err(_) => break,
                    }
                }
                streams
            });
            lp.run_until_complete(async {
                let server = ringloop::spawn(serve(listener, echo(&log)));
                let threshold = 10 + round * 20;
                let status = || format!("made {}", log.made.get());
                wait_for("connections", status, || log.made.get() >= threshold).await;
                // Connections are still arriving: some are in the accept's sink, some
                // completing in the kernel, some in the backlog.
                server.cancel();
                let _ = server.await;
                assert_eq!(log.lost.get(), log.made.get(), "connection_lost for each");
                stop.store(true, Ordering::Relaxed);
                let streams = client.join().expect("client thread");
                drop(streams);
                // Closes ride in the loop's next submissions: let them land.
                let status = || format!("{} open, {fds_at_start} at the start", fd_count());
                wait_for("descriptors closed", status, || fd_count() == fds_at_start).await;
            });
            drop(log);
        }
        assert_eq!(fd_count(), fds_at_start);
        drop(lp);
        assert_eq!(
            fd_count(),
            fds_before_loop,
            "the loop left descriptors open"
        );
    });
}

#[test]
fn an_accept_refused_with_einval_falls_back_to_single_shot() {
    let _serial = serial();
    on_each_backend(|backend| {
        // A connected (not listening) TCP socket: accept(2) on it fails with EINVAL, which is
        // also what a kernel without multishot accept answers to the multishot flag.
        let peer = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let stream = TcpStream::connect(peer.local_addr().unwrap()).unwrap();
        let not_listening = std::net::TcpListener::from(std::os::fd::OwnedFd::from(stream));
        let listener = TcpListener::from_std(not_listening).unwrap();
        let lp = new_loop(backend);
        let log = Rc::new(Log::default());
        let before = lp.stats();
        let result = lp.run_until_complete(serve(listener, echo(&log)));
        let e = result.expect_err("accepting on a socket that does not listen");
        assert_eq!(e.raw_os_error(), Some(libc::EINVAL), "{e}");
        let accepts = lp.stats().accepts_submitted - before.accepts_submitted;
        if lp.backend() == Backend::IoUring {
            assert_eq!(accepts, 2, "one multishot accept, then one single-shot");
        } else {
            assert_eq!(accepts, 1);
        }
        assert_eq!(log.made.get(), 0);
    });
}

// ---------------------------------------------------------------------------------------
// Descriptor exhaustion, in a child with a low RLIMIT_NOFILE
// ---------------------------------------------------------------------------------------

const CHILD: &str = "RINGLOOP_SERVE_EMFILE_CHILD";
const EMFILE_TEST: &str = "serve_under_emfile_backs_off_lets_timers_run_and_resumes";
/// The child's descriptor limit.
const LIMIT: usize = 64;
/// Connections the child closes to make room.
const FREED: usize = 10;
const TICK: Duration = Duration::from_millis(10);
const WINDOW_TICKS: u64 = 100;

#[test]
fn serve_under_emfile_backs_off_lets_timers_run_and_resumes() {
    if std::env::var_os(CHILD).is_some() {
        emfile_child();
        return;
    }
    let _serial = serial();
    FdLimitedChild {
        test: EMFILE_TEST,
        child_var: CHILD,
        limit: LIMIT,
        // More connections than the child can ever accept: the rest wait in the backlog.
        clients: LIMIT + FREED + 16,
        port_marker: "SERVE-EMFILE PORT ",
        ok_marker: "SERVE-EMFILE OK",
    }
    .run_on_each_backend();
}

/// In the child, under the descriptor limit, on the backend `RINGLOOP_BACKEND` names.
fn emfile_child() {
    let stat = std::fs::File::open("/proc/self/stat").unwrap();
    let lp = EventLoop::new().unwrap();
    let listener =
        TcpListener::bind_with("127.0.0.1:0", ListenOptions::new().backlog(512)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let room = LIMIT - fds_below(LIMIT);
    println!("SERVE-EMFILE PORT {port}");

    let log = Rc::new(Log::default());
    let ticks = Rc::new(Cell::new(0u64));
    lp.run_until_complete(async {
        let server = ringloop::spawn(serve(listener, echo(&log)));
        let t = ticks.clone();
        let timer = ringloop::spawn(async move {
            loop {
                ringloop::sleep(TICK).await;
                t.set(t.get() + 1);
            }
        });
        let made = || log.made.get();
        let status = || format!("{} made of {room}", log.made.get());
        wait_for("accepting every free descriptor", status, || made() >= room).await;
        assert_eq!(made(), room, "accepted more than the limit allows");
        let t0 = ticks.get();
        wait_until("timer ticks", || ticks.get() >= t0 + 20).await;

        let start_ticks = ticks.get();
        let (wall0, cpu0, iter0) = (Instant::now(), cpu_time(&stat), lp.stats().iterations);
        let window = || ticks.get() >= start_ticks + WINDOW_TICKS;
        wait_until("the timer during exhaustion", window).await;
        let (wall, cpu, iterations) = (
            wall0.elapsed(),
            cpu_time(&stat) - cpu0,
            lp.stats().iterations - iter0,
        );
        println!(
            "SERVE-EMFILE window ({:?}): {iterations} loop iterations, cpu {cpu:?} over wall \
             {wall:?}, {} made (room {room}), {} accepts submitted",
            lp.backend(),
            made(),
            lp.stats().accepts_submitted
        );
        assert_eq!(made(), room, "accepted beyond the descriptor limit");
        assert!(
            cpu.as_secs_f64() < 0.5 * wall.as_secs_f64(),
            "the loop burned {cpu:?} of CPU in {wall:?} of exhaustion"
        );
        assert!(
            iterations < 20 * WINDOW_TICKS,
            "{iterations} loop iterations for {WINDOW_TICKS} timer ticks: spinning"
        );

        // Close some connections: accepting resumes, exactly that many more.
        let closing: Vec<Transport> = log.transports.borrow_mut().drain(..FREED).collect();
        for t in &closing {
            t.close();
        }
        drop(closing);
        let status = || format!("{} made, {} lost", log.made.get(), log.lost.get());
        wait_for("accepting to resume", status, || made() >= room + FREED).await;
        let t1 = ticks.get();
        wait_until("timer ticks", || ticks.get() >= t1 + 20).await;
        assert_eq!(made(), room + FREED);
        println!(
            "SERVE-EMFILE OK: made {room}, freed {FREED}, made {} in all",
            made()
        );
        server.cancel();
        let _ = server.await;
        timer.cancel();
    });
}
