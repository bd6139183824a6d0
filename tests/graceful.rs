//! `net::create_server` and the graceful shutdown of its `Server` handle, on each
//! backend: `close` stops accepting at once while established connections run on,
//! `wait_closed` resolves after the last one, `abort_clients` and `close_clients` end
//! them, and nothing a server took in is lost. Clients are plain blocking std sockets on
//! threads of their own; the server runs on the test thread's loop. Every test counts
//! the process's descriptors, so they run one at a time.

mod support;

use std::cell::{Cell, RefCell};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use ringloop::net::{Protocol, Server, Transport, create_server};
use support::{
    exclusive_fds, fd_count, for_each_backend, guard, local_listener, new_loop, on_each_backend,
    pattern, poll_once, settle_io, wait_until, yield_times,
};

/// How long a client thread waits for the server before it fails (its own hang guard).
const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------
// The server side

/// What the protocols of one server saw.
#[derive(Default)]
struct Seen {
    /// Connections taken in (`connection_made`), which also numbers them.
    made: Cell<usize>,
    /// Each `connection_lost`: the connection's number and the error's text.
    lost: RefCell<Vec<(usize, Option<String>)>>,
    /// Complete requests taken in (and answered) by [`Mode::Respond`] protocols.
    requests: Cell<usize>,
    /// The largest write buffer left behind by a response.
    buffered: Cell<usize>,
}

impl Seen {
    /// Every one of the `n` connections was lost exactly once, with no error.
    fn assert_lost_once_each(&self, n: usize) {
        assert_eq!(self.made.get(), n, "connections taken in");
        let mut lost = self.lost.borrow().clone();
        lost.sort();
        let expected: Vec<_> = (0..n).map(|id| (id, None)).collect();
        assert_eq!(
            lost, expected,
            "connection_lost once per connection, with None"
        );
    }
}

#[derive(Clone, Copy)]
enum Mode {
    /// Writes back what arrives.
    Echo,
    /// Answers each 8-byte request (`len: u32`, `seed: u32`, little-endian) with
    /// `pattern(len, seed)`.
    Respond,
}

struct Conn {
    id: usize,
    seen: Rc<Seen>,
    mode: Mode,
    transport: Option<Transport>,
    /// A request not complete yet.
    partial: Vec<u8>,
}

impl Protocol for Conn {
    fn connection_made(&mut self, transport: Transport) {
        self.id = self.seen.made.get();
        self.seen.made.set(self.id + 1);
        self.transport = Some(transport);
    }

    fn data_received(&mut self, data: &[u8]) {
        let t = self.transport.as_ref().expect("connection_made came first");
        match self.mode {
            Mode::Echo => t.write(data),
            Mode::Respond => {
                self.partial.extend_from_slice(data);
                while self.partial.len() >= 8 {
                    let len = u32::from_le_bytes(self.partial[..4].try_into().unwrap());
                    let seed = u32::from_le_bytes(self.partial[4..8].try_into().unwrap());
                    self.partial.drain(..8);
                    self.seen.requests.set(self.seen.requests.get() + 1);
                    t.write(&pattern(len as usize, u64::from(seed)));
                    let buffered = t.get_write_buffer_size();
                    self.seen
                        .buffered
                        .set(self.seen.buffered.get().max(buffered));
                }
            }
        }
    }

    fn connection_lost(&mut self, error: Option<io::Error>) {
        let error = error.map(|e| e.to_string());
        self.seen.lost.borrow_mut().push((self.id, error));
    }
}

/// A protocol factory recording into `seen`.
fn factory(seen: &Rc<Seen>, mode: Mode) -> impl FnMut() -> Conn + 'static {
    let seen = seen.clone();
    move || Conn {
        id: usize::MAX,
        seen: seen.clone(),
        mode,
        transport: None,
        partial: Vec::new(),
    }
}

/// Waits (running the loop) for a client thread to finish, and returns what it returned.
async fn join<T>(client: JoinHandle<T>) -> T {
    wait_until("a client thread to finish", || client.is_finished()).await;
    client.join().expect("the client thread panicked")
}

/// Waits (running the loop) for a message from a client thread.
async fn recv<T>(what: &str, rx: &mpsc::Receiver<T>) -> T {
    let mut got = None;
    wait_until(what, || {
        got = got.take().or_else(|| rx.try_recv().ok());
        got.is_some()
    })
    .await;
    got.expect("received")
}

/// Runs `test` on each backend with a fresh loop, and checks that the process holds as
/// many descriptors afterwards as before (the loop's own are counted in both).
fn with_fd_check(mut test: impl AsyncFnMut()) {
    let _fds = exclusive_fds();
    for_each_backend(|lp| {
        let start = fd_count();
        lp.run_until_complete(async {
            test().await;
            // Closes ride the loop's next submissions.
            settle_io(lp).await;
        });
        assert_eq!(fd_count(), start, "descriptors leaked");
    });
}

// ---------------------------------------------------------------------------------------
// The client side (blocking, on threads of their own)

/// A client connected to `addr`, its reads bounded by [`CLIENT_TIMEOUT`].
fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect to the server");
    s.set_read_timeout(Some(CLIENT_TIMEOUT)).unwrap();
    s.set_nodelay(true).unwrap();
    s
}

/// Sends `msg` and checks it comes back.
fn echo_round(s: &mut TcpStream, msg: &[u8]) {
    s.write_all(msg).expect("send to the echo server");
    let mut back = vec![0; msg.len()];
    s.read_exact(&mut back).expect("the echo comes back");
    assert_eq!(back, msg);
}

/// The request for `pattern(len, seed)`.
fn request(len: u32, seed: u32) -> [u8; 8] {
    let mut r = [0; 8];
    r[..4].copy_from_slice(&len.to_le_bytes());
    r[4..].copy_from_slice(&seed.to_le_bytes());
    r
}

/// How a request ended, seen by its client.
#[derive(Debug, PartialEq, Eq)]
enum Answer {
    /// The whole response arrived, and is right.
    Complete,
    /// The connection ended (end-of-file, a reset, a refused write) before any byte of
    /// the response: the server never took the request in.
    NotStarted,
}

/// Reads the response to a request for `pattern(len, seed)` already sent. A response
/// cut short fails the test: a server that started answering must finish.
fn read_answer(s: &mut TcpStream, len: usize, seed: u32) -> Answer {
    let mut got = Vec::with_capacity(len);
    let mut buf = vec![0; 64 * 1024];
    while got.len() < len {
        match s.read(&mut buf) {
            Ok(0) if got.is_empty() => return Answer::NotStarted,
            Ok(0) => panic!("the response ended after {} of {len} bytes", got.len()),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if got.is_empty() && is_reset(&e) => return Answer::NotStarted,
            Err(e) => panic!(
                "reading a response ({} of {len} bytes so far): {e}",
                got.len()
            ),
        }
    }
    assert_eq!(got.len(), len, "more than the response arrived");
    assert!(
        got == pattern(len, u64::from(seed)),
        "the response is not what was asked for"
    );
    Answer::Complete
}

/// Sends a request for `pattern(len, seed)` and reads its response.
fn ask(s: &mut TcpStream, len: u32, seed: u32) -> Answer {
    match s.write_all(&request(len, seed)) {
        Ok(()) => read_answer(s, len as usize, seed),
        Err(e) if is_reset(&e) => Answer::NotStarted,
        Err(e) => panic!("sending a request: {e}"),
    }
}

fn is_reset(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionAborted
    )
}

/// Reads until the connection ends: the bytes that came, and whether it ended with an
/// end-of-file (`Ok`) or a reset (`Err`). Fails if it does not end.
fn read_until_end(s: &mut TcpStream) -> (usize, Result<(), io::ErrorKind>) {
    let mut total = 0;
    let mut buf = vec![0; 256 * 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return (total, Ok(())),
            Ok(n) => total += n,
            Err(e) if is_reset(&e) => return (total, Err(e.kind())),
            Err(e) => panic!("the connection did not end ({total} bytes read): {e}"),
        }
    }
}

/// A client that connects after `close`: it must be refused, or at least never served.
/// Returns what happened.
fn late_client(addr: SocketAddr) -> String {
    let mut s = match TcpStream::connect(addr) {
        Err(e) => return format!("refused ({e})"),
        Ok(s) => s,
    };
    // Accepted by the kernel before the listener went away: the server must not serve
    // it. A short wait (the hang guard of this check) for an echo that must not come.
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let _ = s.write_all(b"anyone there?");
    let mut buf = [0; 64];
    match s.read(&mut buf) {
        Ok(0) => "connected, then closed unserved".to_string(),
        Ok(n) => panic!("a connection made after close was served: {n} bytes came back"),
        Err(e) if is_reset(&e) => "connected, then reset unserved".to_string(),
        Err(e) => format!("connected, never accepted ({e})"),
    }
}

// ---------------------------------------------------------------------------------------
// Tests

#[test]
fn close_stops_accepting_at_once_while_an_established_connection_keeps_echoing() {
    with_fd_check(async || {
        let seen = Rc::new(Seen::default());
        let server = create_server(local_listener(), factory(&seen, Mode::Echo));
        let addr = server.local_addr().unwrap();
        assert!(server.is_serving());
        let (ready_tx, ready_rx) = mpsc::channel();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let established = thread::spawn(move || {
            let mut s = connect(addr);
            echo_round(&mut s, b"before close");
            ready_tx.send(()).unwrap();
            go_rx.recv().unwrap();
            for i in 0..20 {
                echo_round(&mut s, format!("after close {i}").as_bytes());
            }
        });
        recv("the first echo", &ready_rx).await;

        server.close();
        assert!(!server.is_serving());
        let outcome = join(thread::spawn(move || late_client(addr))).await;
        println!("a client connecting after close: {outcome}");
        assert_eq!(
            seen.made.get(),
            1,
            "a connection was taken in after close ({outcome})"
        );

        go_tx.send(()).unwrap();
        join(established).await;
        guard("wait_closed after the client left", server.wait_closed()).await;
        seen.assert_lost_once_each(1);
        assert!(!server.is_serving());
    });
}

#[test]
fn wait_closed_waits_for_close_and_is_at_once_with_no_connection() {
    with_fd_check(async || {
        let seen = Rc::new(Seen::default());
        let server = create_server(local_listener(), factory(&seen, Mode::Echo));
        let mut before_close = Box::pin(server.wait_closed());
        assert!(poll_once(&mut before_close).await.is_pending());
        yield_times(5).await;
        assert!(
            poll_once(&mut before_close).await.is_pending(),
            "wait_closed resolved before close"
        );

        server.close();
        // Nothing connected: no loop turn needed.
        let mut after_close = Box::pin(server.wait_closed());
        assert!(
            poll_once(&mut after_close).await.is_ready(),
            "with no connection, wait_closed resolves at once"
        );
        guard("the wait_closed made before close", before_close).await;
        server.close(); // idempotent
        guard("a wait_closed made after it resolved", server.wait_closed()).await;
        assert_eq!(seen.made.get(), 0);
    });
}

#[test]
fn wait_closed_resolves_only_after_the_last_client_disconnects() {
    with_fd_check(async || {
        let seen = Rc::new(Seen::default());
        let server = create_server(local_listener(), factory(&seen, Mode::Echo));
        let addr = server.local_addr().unwrap();
        let (ready_tx, ready_rx) = mpsc::channel();
        let mut leave = Vec::new();
        let mut clients = Vec::new();
        for i in 0..2u8 {
            let ready_tx = ready_tx.clone();
            let (leave_tx, leave_rx) = mpsc::channel::<()>();
            leave.push(leave_tx);
            clients.push(thread::spawn(move || {
                let mut s = connect(addr);
                echo_round(&mut s, &[i; 100]);
                ready_tx.send(()).unwrap();
                leave_rx.recv().unwrap();
                // The socket closes here: the server sees the end-of-file.
            }));
        }
        recv("client 0", &ready_rx).await;
        recv("client 1", &ready_rx).await;

        server.close();
        let waiter = ringloop::spawn(server.wait_closed());
        ringloop::sleep(Duration::from_millis(50)).await;
        assert!(!waiter.is_done(), "resolved with two clients connected");

        leave[0].send(()).unwrap();
        join(clients.remove(0)).await;
        wait_until("the first client's connection_lost", || {
            seen.lost.borrow().len() == 1
        })
        .await;
        ringloop::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_done(), "resolved with a client still connected");

        leave[1].send(()).unwrap();
        join(clients.remove(0)).await;
        guard("wait_closed after the last client left", waiter)
            .await
            .unwrap();
        seen.assert_lost_once_each(2);
    });
}

#[test]
fn abort_clients_ends_every_remaining_connection_once() {
    with_fd_check(async || {
        let seen = Rc::new(Seen::default());
        let server = create_server(local_listener(), factory(&seen, Mode::Respond));
        let addr = server.local_addr().unwrap();
        // More than the kernel buffers between the two ends: most of it is still in the
        // server's write buffer when the abort drops it.
        const BIG: u32 = 48 << 20;
        let (ready_tx, ready_rx) = mpsc::channel();
        let mut go = Vec::new();
        let mut clients = Vec::new();
        for i in 0..3u32 {
            let ready_tx = ready_tx.clone();
            let (go_tx, go_rx) = mpsc::channel::<()>();
            go.push(go_tx);
            clients.push(thread::spawn(move || {
                let mut s = connect(addr);
                if i == 0 {
                    // Asks for a large response, and does not read it yet.
                    s.write_all(&request(BIG, 7)).unwrap();
                } else {
                    assert_eq!(ask(&mut s, 1000, i), Answer::Complete);
                }
                ready_tx.send(()).unwrap();
                go_rx.recv().unwrap();
                read_until_end(&mut s)
            }));
        }
        for _ in 0..3 {
            recv("a client", &ready_rx).await;
        }
        wait_until("the large response to fill the write buffer", || {
            seen.buffered.get() > 0
        })
        .await;

        server.close();
        server.abort_clients();
        guard("wait_closed after abort_clients", server.wait_closed()).await;
        seen.assert_lost_once_each(3);

        for go in &go {
            go.send(()).unwrap();
        }
        for (i, client) in clients.into_iter().enumerate() {
            let (bytes, end) = join(client).await;
            println!("client {i}: {bytes} bytes, then {end:?}");
            if i == 0 {
                assert!(
                    bytes < BIG as usize,
                    "the abort dropped nothing of the large response"
                );
            } else {
                assert_eq!(bytes, 0, "client {i} was owed nothing");
            }
        }
    });
}

#[test]
fn a_large_response_in_flight_at_close_is_received_whole() {
    with_fd_check(async || {
        let seen = Rc::new(Seen::default());
        let server = create_server(local_listener(), factory(&seen, Mode::Respond));
        let addr = server.local_addr().unwrap();
        const BIG: u32 = 16 << 20;
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let client = thread::spawn(move || {
            let mut s = connect(addr);
            s.write_all(&request(BIG, 11)).unwrap();
            go_rx.recv().unwrap();
            assert_eq!(read_answer(&mut s, BIG as usize, 11), Answer::Complete);
            // The connection still serves after close.
            assert_eq!(ask(&mut s, 5000, 12), Answer::Complete);
        });
        wait_until("the large response to fill the write buffer", || {
            seen.buffered.get() > 0
        })
        .await;

        server.close();
        go_tx.send(()).unwrap();
        join(client).await;
        guard("wait_closed after the client left", server.wait_closed()).await;
        assert_eq!(seen.requests.get(), 2);
        seen.assert_lost_once_each(1);
    });
}

#[test]
fn close_clients_flushes_what_was_written_then_ends_each_connection() {
    with_fd_check(async || {
        let seen = Rc::new(Seen::default());
        let server = create_server(local_listener(), factory(&seen, Mode::Respond));
        let addr = server.local_addr().unwrap();
        const BIG: u32 = 16 << 20;
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let client = thread::spawn(move || {
            let mut s = connect(addr);
            s.write_all(&request(BIG, 21)).unwrap();
            go_rx.recv().unwrap();
            assert_eq!(read_answer(&mut s, BIG as usize, 21), Answer::Complete);
            read_until_end(&mut s)
        });
        wait_until("the large response to fill the write buffer", || {
            seen.buffered.get() > 0
        })
        .await;

        server.close();
        server.close_clients();
        ringloop::sleep(Duration::from_millis(20)).await;
        assert!(
            seen.lost.borrow().is_empty(),
            "closed before its response was flushed"
        );
        go_tx.send(()).unwrap();
        let (extra, end) = join(client).await;
        assert_eq!(
            (extra, end),
            (0, Ok(())),
            "an end-of-file right after the response"
        );
        guard("wait_closed after close_clients", server.wait_closed()).await;
        seen.assert_lost_once_each(1);
    });
}

/// The request sizes the load clients ask for, 1 byte to 48 KiB.
fn load_len(client: u32, n: u32) -> u32 {
    1 + (client.wrapping_mul(7919) ^ n.wrapping_mul(104_729)) % (48 * 1024)
}

/// How a load client ended.
struct Load {
    /// Requests answered whole.
    completed: usize,
    /// The server ended the connection (between two responses); else the client left.
    ended_by_server: bool,
}

/// Starts `count` clients that send requests in a loop, each counting into `total`,
/// until `stop` is set or the server ends their connection. A response cut short fails
/// the client.
fn load_clients(
    addr: SocketAddr,
    count: u32,
    total: &Arc<AtomicUsize>,
    stop: &Arc<AtomicBool>,
) -> Vec<JoinHandle<Load>> {
    (0..count)
        .map(|c| {
            let (total, stop) = (total.clone(), stop.clone());
            thread::spawn(move || {
                let mut s = connect(addr);
                let mut done = 0;
                while !stop.load(Ordering::Relaxed) {
                    match ask(&mut s, load_len(c, done), c * 1_000_000 + done) {
                        Answer::Complete => {
                            done += 1;
                            total.fetch_add(1, Ordering::Relaxed);
                        }
                        // The server closed the connection between two requests.
                        Answer::NotStarted => {
                            return Load {
                                completed: done as usize,
                                ended_by_server: true,
                            };
                        }
                    }
                }
                // Leaving cleanly: the server sees the end-of-file and closes too.
                s.shutdown(Shutdown::Write).unwrap();
                assert_eq!(read_until_end(&mut s), (0, Ok(())), "a clean end");
                Load {
                    completed: done as usize,
                    ended_by_server: false,
                }
            })
        })
        .collect()
}

const LOAD_CLIENTS: u32 = 20;

#[test]
fn under_load_close_then_wait_closed_completes_every_request() {
    with_fd_check(async || {
        let seen = Rc::new(Seen::default());
        let server = create_server(local_listener(), factory(&seen, Mode::Respond));
        let addr = server.local_addr().unwrap();
        let total = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let clients = load_clients(addr, LOAD_CLIENTS, &total, &stop);
        let n = LOAD_CLIENTS as usize;
        wait_until("every client under way", || {
            seen.made.get() == n && total.load(Ordering::Relaxed) >= 5 * n
        })
        .await;

        server.close();
        let at_close = total.load(Ordering::Relaxed);
        let outcome = join(thread::spawn(move || late_client(addr))).await;
        assert_eq!(seen.made.get(), n, "taken in after close ({outcome})");
        // The established connections are still served.
        wait_until("requests after close", || {
            total.load(Ordering::Relaxed) >= at_close + 10 * n
        })
        .await;
        let mut waiter = Box::pin(server.wait_closed());
        assert!(poll_once(&mut waiter).await.is_pending());

        stop.store(true, Ordering::Relaxed);
        guard("wait_closed once the clients left", waiter).await;
        let mut completed = 0;
        for client in clients {
            let load = join(client).await;
            assert!(!load.ended_by_server, "close() ended a connection");
            completed += load.completed;
        }
        println!("{completed} requests, {} after close", completed - at_close);
        assert_eq!(
            completed,
            seen.requests.get(),
            "every request the server took in was answered whole"
        );
        seen.assert_lost_once_each(n);
    });
}

#[test]
fn under_load_close_clients_loses_no_request_the_server_took_in() {
    with_fd_check(async || {
        let seen = Rc::new(Seen::default());
        let server = create_server(local_listener(), factory(&seen, Mode::Respond));
        let addr = server.local_addr().unwrap();
        let total = Arc::new(AtomicUsize::new(0));
        let never = Arc::new(AtomicBool::new(false));
        let clients = load_clients(addr, LOAD_CLIENTS, &total, &never);
        let n = LOAD_CLIENTS as usize;
        wait_until("every client under way", || {
            seen.made.get() == n && total.load(Ordering::Relaxed) >= 5 * n
        })
        .await;

        server.close();
        server.close_clients();
        guard("wait_closed after close_clients", server.wait_closed()).await;
        // Each client saw its connection end between two responses, never inside one.
        let mut completed = 0;
        for client in clients {
            let load = join(client).await;
            assert!(load.ended_by_server, "the client left on its own");
            completed += load.completed;
        }
        assert_eq!(
            completed,
            seen.requests.get(),
            "every request the server took in was answered whole"
        );
        seen.assert_lost_once_each(n);
    });
}

#[test]
fn a_protocol_may_close_its_own_server() {
    /// Echoes; on `quit` closes the server it belongs to and says goodbye.
    struct Quitter {
        server: Rc<RefCell<Option<Server>>>,
        transport: Option<Transport>,
    }

    impl Protocol for Quitter {
        fn connection_made(&mut self, transport: Transport) {
            self.transport = Some(transport);
        }

        fn data_received(&mut self, data: &[u8]) {
            let t = self.transport.as_ref().unwrap();
            if data == b"quit" {
                let server = self.server.borrow().clone().expect("the handle is there");
                server.close();
                assert!(!server.is_serving());
                t.write(b"bye");
            } else {
                t.write(data);
            }
        }
    }

    with_fd_check(async || {
        let slot: Rc<RefCell<Option<Server>>> = Rc::default();
        let s = slot.clone();
        let server = create_server(local_listener(), move || Quitter {
            server: s.clone(),
            transport: None,
        });
        *slot.borrow_mut() = Some(server.clone());
        let addr = server.local_addr().unwrap();
        let client = thread::spawn(move || {
            let mut s = connect(addr);
            echo_round(&mut s, b"hello");
            s.write_all(b"quit").unwrap();
            let mut bye = [0; 3];
            s.read_exact(&mut bye).unwrap();
            assert_eq!(&bye, b"bye");
            let late = late_client(addr);
            // Still served after its own close.
            echo_round(&mut s, b"still here");
            late
        });
        let late = join(client).await;
        println!("a client connecting after the protocol's close: {late}");
        guard("wait_closed", server.wait_closed()).await;
        // The handle in the protocols' slot would keep the control block alive: no
        // matter, it holds no descriptor.
        slot.borrow_mut().take();
    });
}

#[test]
fn dropping_the_handle_keeps_the_server_serving_until_its_loop_closes() {
    let _fds = exclusive_fds();
    on_each_backend(|backend| {
        let start = fd_count();
        let lost = Rc::new(Cell::new(0));
        let (leave_tx, leave_rx) = mpsc::channel::<()>();
        let client;
        {
            let lp = new_loop(backend);
            let l = lost.clone();
            client = lp.run_until_complete(async move {
                struct Counted(Rc<Cell<usize>>, Option<Transport>);
                impl Protocol for Counted {
                    fn connection_made(&mut self, t: Transport) {
                        self.1 = Some(t);
                    }
                    fn data_received(&mut self, data: &[u8]) {
                        self.1.as_ref().unwrap().write(data);
                    }
                    fn connection_lost(&mut self, _: Option<io::Error>) {
                        self.0.set(self.0.get() + 1);
                    }
                }
                let server = create_server(local_listener(), move || Counted(l.clone(), None));
                let addr = server.local_addr().unwrap();
                drop(server);
                let (ready_tx, ready_rx) = mpsc::channel();
                let client = thread::spawn(move || {
                    let mut s = connect(addr);
                    echo_round(&mut s, b"served without a handle");
                    ready_tx.send(()).unwrap();
                    leave_rx.recv().unwrap();
                    read_until_end(&mut s)
                });
                recv("the echo", &ready_rx).await;
                client
            });
            // The server task is still running: the loop's end closes its connection.
        }
        assert_eq!(lost.get(), 1, "connection_lost when the loop closed");
        leave_tx.send(()).unwrap();
        let (bytes, _) = client.join().unwrap();
        assert_eq!(bytes, 0);
        assert_eq!(fd_count(), start, "descriptors leaked");
    });
}

#[test]
fn a_handle_used_while_the_loop_ends_the_server_is_harmless() {
    /// Echoes; when its connection is lost, uses the server's handle.
    struct Meddler {
        server: Rc<RefCell<Option<Server>>>,
        lost: Rc<Cell<usize>>,
        transport: Option<Transport>,
    }

    impl Protocol for Meddler {
        fn connection_made(&mut self, transport: Transport) {
            self.transport = Some(transport);
        }

        fn data_received(&mut self, data: &[u8]) {
            self.transport.as_ref().unwrap().write(data);
        }

        fn connection_lost(&mut self, _: Option<io::Error>) {
            self.lost.set(self.lost.get() + 1);
            if let Some(server) = self.server.borrow().as_ref() {
                server.close();
                server.abort_clients();
                server.close_clients();
                assert!(!server.is_serving());
            }
        }
    }

    let _fds = exclusive_fds();
    on_each_backend(|backend| {
        let start = fd_count();
        let slot: Rc<RefCell<Option<Server>>> = Rc::default();
        let lost = Rc::new(Cell::new(0));
        let clients;
        {
            let lp = new_loop(backend);
            let (s, l, handle) = (slot.clone(), lost.clone(), slot.clone());
            clients = lp.run_until_complete(async move {
                let server = create_server(local_listener(), move || Meddler {
                    server: s.clone(),
                    lost: l.clone(),
                    transport: None,
                });
                *handle.borrow_mut() = Some(server.clone());
                let addr = server.local_addr().unwrap();
                let (ready_tx, ready_rx) = mpsc::channel();
                let clients: Vec<_> = (0..2)
                    .map(|_| {
                        let ready_tx = ready_tx.clone();
                        thread::spawn(move || {
                            let mut s = connect(addr);
                            echo_round(&mut s, b"hello");
                            ready_tx.send(()).unwrap();
                            read_until_end(&mut s)
                        })
                    })
                    .collect();
                recv("client 0", &ready_rx).await;
                recv("client 1", &ready_rx).await;
                clients
            });
            // The loop closes with the server serving: each connection is closed, and
            // its protocol's use of the handle goes nowhere.
        }
        assert_eq!(lost.get(), 2);
        for client in clients {
            assert_eq!(client.join().unwrap().0, 0);
        }
        let server = slot.borrow_mut().take().unwrap();
        assert!(!server.is_serving());
        drop(server);
        assert_eq!(fd_count(), start, "descriptors leaked");
    });
}
