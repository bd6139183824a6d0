//! `net::serve`: protocols and transports, on each backend. Clients are plain blocking
//! std sockets on threads of their own; the server runs on the test thread's loop.

mod support;

use std::cell::{Cell, RefCell};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::rc::Rc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use ringloop::net::{Protocol, Transport, WriteBufferLimits, serve};
use ringloop::sync::Event;
use ringloop::{Backend, EventLoop, spawn};
use support::{local_listener, new_loop, on_each_backend};

#[global_allocator]
static ALLOC: testkit::CountingAlloc = testkit::CountingAlloc::new();

/// Runs the server made by `factory` on a loop built by `builder` until `client`
/// (given the server's address, on its own thread) returns; then drops the server.
fn with_server<P, F, T>(
    builder: &ringloop::Builder,
    factory: F,
    client: impl FnOnce(SocketAddr) -> T + Send + 'static,
) -> T
where
    P: Protocol,
    F: FnMut() -> P + 'static,
    T: Send + 'static,
{
    with_server_until(builder, factory, client, || true)
}

/// [`with_server`], keeping the server running after the client finished until `settled`
/// holds (the server may not have seen the client's last end-of-file yet), for at most
/// ten seconds.
fn with_server_until<P, F, T>(
    builder: &ringloop::Builder,
    factory: F,
    client: impl FnOnce(SocketAddr) -> T + Send + 'static,
    settled: impl Fn() -> bool + 'static,
) -> T
where
    P: Protocol,
    F: FnMut() -> P + 'static,
    T: Send + 'static,
{
    let ev = builder.build().unwrap();
    let listener = local_listener();
    let addr = listener.local_addr().unwrap();
    let handle: JoinHandle<T> = thread::spawn(move || client(addr));
    ev.run_until_complete(async move {
        let server = spawn(serve(listener, factory));
        while !handle.is_finished() {
            ringloop::sleep(Duration::from_millis(2)).await;
        }
        for _ in 0..5000 {
            if settled() {
                break;
            }
            ringloop::sleep(Duration::from_millis(2)).await;
        }
        server.cancel();
        let _ = server.await;
        handle.join().expect("client thread")
    })
}

/// A builder of loops on `backend`, otherwise with the defaults.
fn default_builder(backend: Backend) -> ringloop::Builder {
    let mut builder = EventLoop::builder();
    builder.backend(backend);
    builder
}

/// Echoes, and records the callbacks it saw.
#[derive(Default)]
struct Log {
    made: Cell<u32>,
    lost: Cell<u32>,
    lost_with_error: Cell<u32>,
    eof: Cell<u32>,
    paused: Cell<u32>,
    resumed: Cell<u32>,
    bytes: Cell<usize>,
}

struct Echo {
    log: Rc<Log>,
    transport: Option<Transport>,
    keep_open_on_eof: bool,
}

impl Echo {
    fn new(log: &Rc<Log>) -> Echo {
        Echo {
            log: log.clone(),
            transport: None,
            keep_open_on_eof: false,
        }
    }
}

impl Protocol for Echo {
    fn connection_made(&mut self, transport: Transport) {
        self.log.made.set(self.log.made.get() + 1);
        self.transport = Some(transport);
    }

    fn data_received(&mut self, data: &[u8]) {
        self.log.bytes.set(self.log.bytes.get() + data.len());
        self.transport.as_ref().unwrap().write(data);
    }

    fn eof_received(&mut self) -> bool {
        self.log.eof.set(self.log.eof.get() + 1);
        if self.keep_open_on_eof {
            let t = self.transport.as_ref().unwrap();
            t.write(b"bye");
            t.close();
        }
        self.keep_open_on_eof
    }

    fn connection_lost(&mut self, error: Option<io::Error>) {
        self.log.lost.set(self.log.lost.get() + 1);
        if error.is_some() {
            self.log
                .lost_with_error
                .set(self.log.lost_with_error.get() + 1);
        }
    }

    fn pause_writing(&mut self) {
        self.log.paused.set(self.log.paused.get() + 1);
    }

    fn resume_writing(&mut self) {
        self.log.resumed.set(self.log.resumed.get() + 1);
    }
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn echo_round_trips(addr: SocketAddr, size: usize, rounds: usize, seed: u8) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_nodelay(true).unwrap();
    let msg = pattern(size, seed);
    let mut back = vec![0; size];
    for _ in 0..rounds {
        s.write_all(&msg).unwrap();
        s.read_exact(&mut back).unwrap();
        assert_eq!(back, msg);
    }
}

#[test]
fn protocol_echo_round_trips_and_callbacks_once() {
    on_each_backend(|backend| {
        // Writes sent at once (the default), and as driver operations only (on io_uring: one
        // send SQE per write).
        let mut sqe_writes = default_builder(backend);
        sqe_writes.try_first_io(false);
        for builder in [default_builder(backend), sqe_writes] {
            echo_round_trips_and_callbacks_once(&builder);
        }
    });
}

fn echo_round_trips_and_callbacks_once(builder: &ringloop::Builder) {
    let log = Rc::new(Log::default());
    let l = log.clone();
    let seen = log.clone();
    with_server_until(
        builder,
        move || Echo::new(&l),
        |addr| {
            let clients: Vec<_> = (0..8u8)
                .map(|i| {
                    thread::spawn(move || echo_round_trips(addr, 1000 + i as usize * 700, 50, i))
                })
                .collect();
            for c in clients {
                c.join().unwrap();
            }
            // A large message crosses many buffers and partial sends.
            echo_round_trips(addr, 1 << 20, 2, 99);
        },
        move || seen.lost.get() == 9,
    );
    assert_eq!(log.made.get(), 9);
    assert_eq!(
        log.lost.get(),
        9,
        "connection_lost exactly once per connection"
    );
    assert_eq!(log.eof.get(), 9, "every client closed with an end-of-file");
}

#[test]
fn protocol_buffer_ring_exhaustion_recovers_without_losing_data() {
    on_each_backend(|backend| {
        // 4 provided buffers of 64 bytes for 40 connections sending 8 KiB each at once.
        let mut builder = default_builder(backend);
        builder.recv_buffers(4, 64);
        let log = Rc::new(Log::default());
        let l = log.clone();
        with_server(
            &builder,
            move || Echo::new(&l),
            |addr| {
                let clients: Vec<_> = (0..40u8)
                    .map(|i| thread::spawn(move || echo_round_trips(addr, 8192, 5, i)))
                    .collect();
                for c in clients {
                    c.join().unwrap();
                }
            },
        );
        assert_eq!(log.bytes.get(), 40 * 8192 * 5);
        assert_eq!(log.lost.get(), 40);
    });
}

/// Writes `total` bytes on connection, respecting pause_writing / resume_writing.
struct Producer {
    log: Rc<Log>,
    transport: Option<Transport>,
    data: Rc<Vec<u8>>,
    written: usize,
    paused: bool,
    max_buffered: Rc<Cell<usize>>,
}

impl Producer {
    fn produce(&mut self) {
        let t = self.transport.clone().unwrap();
        let total = self.data.len();
        while !self.paused && self.written < total {
            let n = 4096.min(total - self.written);
            t.write(&self.data[self.written..self.written + n]);
            self.written += n;
            // pause_writing arrives after this callback returns; watch the size.
            self.max_buffered
                .set(self.max_buffered.get().max(t.get_write_buffer_size()));
            if t.get_write_buffer_size() > t.get_write_buffer_limits().high {
                break;
            }
        }
        if self.written == total {
            t.close();
        }
    }
}

impl Protocol for Producer {
    fn connection_made(&mut self, transport: Transport) {
        transport.set_write_buffer_limits(64 * 1024, 16 * 1024);
        assert_eq!(
            transport.get_write_buffer_limits(),
            WriteBufferLimits {
                high: 64 * 1024,
                low: 16 * 1024
            }
        );
        self.transport = Some(transport);
        self.produce();
    }

    fn data_received(&mut self, _data: &[u8]) {}

    fn pause_writing(&mut self) {
        self.log.paused.set(self.log.paused.get() + 1);
        self.paused = true;
    }

    fn resume_writing(&mut self) {
        self.log.resumed.set(self.log.resumed.get() + 1);
        self.paused = false;
        self.produce();
    }

    fn connection_lost(&mut self, error: Option<io::Error>) {
        assert!(error.is_none(), "{error:?}");
        self.log.lost.set(self.log.lost.get() + 1);
    }
}

#[test]
fn protocol_backpressure_through_the_water_marks() {
    on_each_backend(|backend| {
        const TOTAL: usize = 8 << 20;
        let log = Rc::new(Log::default());
        let max_buffered = Rc::new(Cell::new(0));
        let (l, m) = (log.clone(), max_buffered.clone());
        let data = Rc::new(pattern(TOTAL, 7));
        let got = with_server(
            &default_builder(backend),
            move || Producer {
                log: l.clone(),
                transport: None,
                data: data.clone(),
                written: 0,
                paused: false,
                max_buffered: m.clone(),
            },
            |addr| {
                let mut s = std::net::TcpStream::connect(addr).unwrap();
                // A slow reader first, so the server's buffer fills.
                thread::sleep(Duration::from_millis(100));
                let mut all = Vec::new();
                s.read_to_end(&mut all).unwrap();
                all
            },
        );
        assert_eq!(got.len(), TOTAL);
        assert!(got == pattern(TOTAL, 7), "data intact");
        assert!(log.paused.get() >= 1, "pause_writing was called");
        assert_eq!(log.paused.get(), log.resumed.get());
        assert_eq!(log.lost.get(), 1);
        assert!(
            max_buffered.get() <= 64 * 1024 + 4096,
            "{}",
            max_buffered.get()
        );
    });
}

/// Pauses reading after each message and resumes a little later.
struct Pauser {
    transport: Option<Transport>,
    received: Rc<RefCell<Vec<u8>>>,
    paused: Rc<Cell<bool>>,
    violations: Rc<Cell<u32>>,
}

impl Protocol for Pauser {
    fn connection_made(&mut self, transport: Transport) {
        self.transport = Some(transport);
    }

    fn data_received(&mut self, data: &[u8]) {
        if self.paused.get() {
            self.violations.set(self.violations.get() + 1);
        }
        self.received.borrow_mut().extend_from_slice(data);
        let t = self.transport.clone().unwrap();
        t.pause_reading();
        assert!(!t.is_reading());
        self.paused.set(true);
        let paused = self.paused.clone();
        spawn(async move {
            ringloop::sleep(Duration::from_millis(3)).await;
            paused.set(false);
            t.resume_reading();
        });
    }

    fn connection_lost(&mut self, _error: Option<io::Error>) {
        self.transport = None;
    }
}

#[test]
fn protocol_pause_and_resume_reading() {
    on_each_backend(|backend| {
        let received = Rc::new(RefCell::new(Vec::new()));
        let violations = Rc::new(Cell::new(0));
        let (r, v) = (received.clone(), violations.clone());
        let sent = with_server(
            &default_builder(backend),
            move || Pauser {
                transport: None,
                received: r.clone(),
                paused: Rc::new(Cell::new(false)),
                violations: v.clone(),
            },
            |addr| {
                let mut s = std::net::TcpStream::connect(addr).unwrap();
                let data = pattern(300_000, 3);
                for chunk in data.chunks(10_000) {
                    s.write_all(chunk).unwrap();
                    thread::sleep(Duration::from_millis(1));
                }
                s.shutdown(Shutdown::Write).unwrap();
                let mut rest = Vec::new();
                s.read_to_end(&mut rest).unwrap();
                data
            },
        );
        assert_eq!(violations.get(), 0, "data_received while paused");
        assert!(*received.borrow() == sent, "data intact and in order");
    });
}

/// Writes forever; the peer vanishes.
struct Flood {
    log: Rc<Log>,
    transport: Option<Transport>,
}

impl Protocol for Flood {
    fn connection_made(&mut self, transport: Transport) {
        self.log.made.set(self.log.made.get() + 1);
        self.transport = Some(transport);
    }

    fn data_received(&mut self, data: &[u8]) {
        // Every byte from the peer asks for 64 KiB back.
        let t = self.transport.as_ref().unwrap();
        for _ in 0..data.len() {
            t.write(&[0x55; 65536]);
        }
    }

    fn connection_lost(&mut self, error: Option<io::Error>) {
        self.log.lost.set(self.log.lost.get() + 1);
        if error.is_some() {
            self.log
                .lost_with_error
                .set(self.log.lost_with_error.get() + 1);
        }
        // Writes after the loss are ignored.
        self.transport.as_ref().unwrap().write(b"late");
    }
}

#[test]
fn protocol_peer_vanishing_mid_stream_loses_the_connection_once() {
    on_each_backend(|backend| {
        let log = Rc::new(Log::default());
        let l = log.clone();
        with_server(
            &default_builder(backend),
            move || Flood {
                log: l.clone(),
                transport: None,
            },
            |addr| {
                for _ in 0..5 {
                    let mut s = std::net::TcpStream::connect(addr).unwrap();
                    s.write_all(&[1; 32]).unwrap();
                    let mut buf = [0; 1000];
                    s.read_exact(&mut buf).unwrap();
                    // Closing with unread data pending resets the connection (RFC 2525).
                    drop(s);
                }
                thread::sleep(Duration::from_millis(100));
            },
        );
        assert_eq!(log.made.get(), 5);
        assert_eq!(log.lost.get(), 5, "connection_lost exactly once each");
        assert!(log.lost_with_error.get() >= 1, "a reset shows as an error");
    });
}

#[test]
fn protocol_eof_received_false_closes_true_keeps_writing() {
    on_each_backend(|backend| {
        for keep_open in [false, true] {
            let log = Rc::new(Log::default());
            let l = log.clone();
            let got = with_server(
                &default_builder(backend),
                move || Echo {
                    keep_open_on_eof: keep_open,
                    ..Echo::new(&l)
                },
                |addr| {
                    let mut s = std::net::TcpStream::connect(addr).unwrap();
                    s.write_all(b"abc").unwrap();
                    s.shutdown(Shutdown::Write).unwrap();
                    let mut all = Vec::new();
                    s.read_to_end(&mut all).unwrap();
                    all
                },
            );
            let expected: &[u8] = if keep_open { b"abcbye" } else { b"abc" };
            assert_eq!(got, expected, "keep_open={keep_open}");
            assert_eq!((log.eof.get(), log.lost.get()), (1, 1));
            assert_eq!(log.lost_with_error.get(), 0);
        }
    });
}

/// The end of the stream arriving right behind the data, while the server waits for
/// readiness: on epoll both can come as one edge, which a short read drains of data
/// only; the EOF must still be seen (it once waited for an edge that never came).
#[test]
fn protocol_sees_an_eof_that_arrives_with_the_data() {
    on_each_backend(|backend| {
        for round in 0..20 {
            let log = Rc::new(Log::default());
            let l = log.clone();
            let got = with_server(
                &default_builder(backend),
                move || Echo::new(&l),
                |addr| {
                    let mut s = std::net::TcpStream::connect(addr).unwrap();
                    // A hang becomes an error here instead of a stuck test.
                    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                    // Let the server drain the empty socket and wait for readiness.
                    thread::sleep(Duration::from_millis(5));
                    s.write_all(b"abc").unwrap();
                    s.shutdown(Shutdown::Write).unwrap();
                    let mut all = Vec::new();
                    s.read_to_end(&mut all).map(|_| all)
                },
            );
            let got =
                got.unwrap_or_else(|e| panic!("round {round}: no EOF seen by the server: {e}"));
            assert_eq!(got, b"abc", "round {round}");
            assert_eq!((log.eof.get(), log.lost.get()), (1, 1), "round {round}");
        }
    });
}

/// Echoes, and reads this thread's allocation count at two round trips.
struct Counting {
    transport: Option<Transport>,
    rounds: Rc<Cell<u64>>,
    marks: Rc<RefCell<Vec<u64>>>,
    done: Rc<Event>,
}

const WARM: u64 = 2000;
const MEASURED: u64 = 5000;

impl Protocol for Counting {
    fn connection_made(&mut self, transport: Transport) {
        self.transport = Some(transport);
    }

    fn data_received(&mut self, data: &[u8]) {
        self.transport.as_ref().unwrap().write(data);
        let n = self.rounds.get() + 1;
        self.rounds.set(n);
        if n == WARM || n == WARM + MEASURED {
            self.marks
                .borrow_mut()
                .push(testkit::CountingAlloc::thread_allocations());
            if n == WARM + MEASURED {
                self.done.set();
            }
        }
    }
}

#[test]
fn protocol_echo_allocates_nothing_per_round_trip_once_warm() {
    on_each_backend(|backend| {
        let ev = new_loop(backend);
        let listener = local_listener();
        let addr = listener.local_addr().unwrap();
        let client = thread::spawn(move || {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.set_nodelay(true).unwrap();
            let msg = [7u8; 1024];
            let mut back = [0u8; 1024];
            for _ in 0..WARM + MEASURED {
                s.write_all(&msg).unwrap();
                s.read_exact(&mut back).unwrap();
            }
        });
        let rounds = Rc::new(Cell::new(0));
        let marks = Rc::new(RefCell::new(Vec::with_capacity(2)));
        let done = Rc::new(Event::new());
        let (r, m, d) = (rounds.clone(), marks.clone(), done.clone());
        ev.run_until_complete(async move {
            let server = spawn(serve(listener, move || Counting {
                transport: None,
                rounds: r.clone(),
                marks: m.clone(),
                done: d.clone(),
            }));
            done.wait().await;
            client.join().unwrap();
            server.cancel();
            let _ = server.await;
        });
        // Only exact 1 KiB messages count as round trips if they arrive whole; a split one
        // only moves the marks, which are read inside the callbacks anyway.
        let marks = marks.borrow();
        assert_eq!(marks.len(), 2);
        let per_round = (marks[1] - marks[0]) as f64 / MEASURED as f64;
        println!(
            "{:?}: {} allocations over {MEASURED} round trips once warm",
            ev.backend(),
            marks[1] - marks[0]
        );
        assert_eq!(
            marks[1], marks[0],
            "allocations in steady state ({per_round} per round trip)"
        );
    });
}
