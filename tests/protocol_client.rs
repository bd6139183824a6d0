//! `net::create_connection` and `net::create_unix_connection`: a protocol driven on a
//! connection the loop made, on each backend. Ports the behaviours of CPython's
//! `test_asyncio/test_events.py` create_connection tests (`test_create_connection`,
//! `test_create_unix_connection`, `test_create_connection_refused` via the mock-free
//! path, and the `MyProto` state machine: made, data, eof, lost, in that order).

mod support;

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::rc::Rc;
use std::thread;

use ringloop::ExceptionKind;
use ringloop::net::{
    Protocol, TcpStream, Transport, UnixListener, create_connection, create_server,
    create_unix_connection,
};
use support::{for_each_backend, guard, local_listener, record_exceptions, wait_until};

/// What a client protocol saw, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ev {
    Made,
    Data(Vec<u8>),
    Eof,
    PauseWriting,
    ResumeWriting,
    /// `connection_lost`, with the error's message if any.
    Lost(Option<String>),
}

/// A client protocol that records its callbacks; returned to the test as
/// `Rc<RefCell<Rec>>`, the handle `create_connection` hands back.
#[derive(Default)]
struct Rec {
    events: Vec<Ev>,
    transport: Option<Transport>,
    /// Written from `connection_made` (asyncio's `MyProto` sends its request there).
    greeting: &'static [u8],
    /// What `eof_received` answers.
    keep_open: bool,
    /// `data_received` panics when the data contains this.
    panic_on: Option<&'static [u8]>,
}

impl Rec {
    fn greeting(greeting: &'static [u8]) -> Rc<RefCell<Rec>> {
        Rc::new(RefCell::new(Rec {
            greeting,
            ..Rec::default()
        }))
    }

    /// All data received, joined.
    fn data(&self) -> Vec<u8> {
        let mut all = Vec::new();
        for ev in &self.events {
            if let Ev::Data(d) = ev {
                all.extend_from_slice(d);
            }
        }
        all
    }

    fn lost(&self) -> Option<&Option<String>> {
        self.events.iter().find_map(|e| match e {
            Ev::Lost(err) => Some(err),
            _ => None,
        })
    }

    /// Whether the last of pause_writing and resume_writing was a pause.
    fn paused(&self) -> bool {
        self.events
            .iter()
            .rev()
            .find(|e| matches!(e, Ev::PauseWriting | Ev::ResumeWriting))
            == Some(&Ev::PauseWriting)
    }

    /// The events with the data calls merged into one (their split is the kernel's),
    /// without the back-pressure calls (whether they come depends on the kernel's
    /// buffers; `Rec` checks that they alternate).
    fn shape(&self) -> Vec<Ev> {
        let mut out: Vec<Ev> = Vec::new();
        for ev in &self.events {
            if matches!(ev, Ev::PauseWriting | Ev::ResumeWriting) {
                continue;
            }
            match (ev, out.last_mut()) {
                (Ev::Data(d), Some(Ev::Data(all))) => all.extend_from_slice(d),
                _ => out.push(ev.clone()),
            }
        }
        out
    }
}

impl Protocol for Rec {
    fn connection_made(&mut self, transport: Transport) {
        assert!(self.events.is_empty(), "connection_made comes first");
        self.events.push(Ev::Made);
        if !self.greeting.is_empty() {
            transport.write(self.greeting);
        }
        self.transport = Some(transport);
    }

    fn data_received(&mut self, data: &[u8]) {
        assert_eq!(self.events.first(), Some(&Ev::Made));
        assert!(
            !self
                .events
                .iter()
                .any(|e| matches!(e, Ev::Eof | Ev::Lost(_))),
            "no data after eof or loss: {:?}",
            self.events
        );
        if let Some(bad) = self.panic_on
            && data.windows(bad.len()).any(|w| w == bad)
        {
            panic!("client protocol refuses {:?}", String::from_utf8_lossy(bad));
        }
        self.events.push(Ev::Data(data.to_vec()));
    }

    fn eof_received(&mut self) -> bool {
        self.events.push(Ev::Eof);
        self.keep_open
    }

    fn pause_writing(&mut self) {
        assert!(!self.paused(), "pause_writing twice: {:?}", self.events);
        self.events.push(Ev::PauseWriting);
    }

    fn resume_writing(&mut self) {
        assert!(
            self.paused(),
            "resume_writing without pause_writing: {:?}",
            self.events
        );
        self.events.push(Ev::ResumeWriting);
    }

    fn connection_lost(&mut self, error: Option<io::Error>) {
        assert!(
            self.lost().is_none(),
            "connection_lost once: {:?}",
            self.events
        );
        self.events.push(Ev::Lost(error.map(|e| e.to_string())));
    }
}

/// A server protocol: echoes.
struct Echo(Option<Transport>);

impl Protocol for Echo {
    fn connection_made(&mut self, transport: Transport) {
        self.0 = Some(transport);
    }
    fn data_received(&mut self, data: &[u8]) {
        self.0.as_ref().unwrap().write(data);
    }
}

/// A plain blocking std server on its own thread: accepts one connection, answers
/// `reply` to whatever arrives first, then closes (asyncio's test servers).
fn std_server(reply: &'static [u8]) -> (std::net::SocketAddr, thread::JoinHandle<Vec<u8>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = [0u8; 256];
        let n = s.read(&mut buf).unwrap();
        s.write_all(reply).unwrap();
        drop(s);
        buf[..n].to_vec()
    });
    (addr, handle)
}

/// Exactly one report reached the exception handler: a caught panic, its message
/// starting with `prefix`.
fn assert_one_report(reports: &support::Log<(ExceptionKind, String)>, prefix: &str) {
    let reports = reports.borrow();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].0, ExceptionKind::CallbackPanicked);
    assert!(reports[0].1.starts_with(prefix), "{reports:?}");
}

#[test]
fn create_connection_echoes_through_a_ringloop_server_in_callback_order() {
    let _fds = support::shared_fds();
    for_each_backend(|lp| {
        lp.run_until_complete(guard("echo", async {
            let server = create_server(local_listener(), || Echo(None));
            let addr = server.local_addr().unwrap();
            let (transport, rec) = create_connection(|| Rec::greeting(b"hello"), addr)
                .await
                .unwrap();
            // connection_made ran before create_connection returned.
            assert_eq!(rec.borrow().events, [Ev::Made]);
            transport.write(b" world");
            wait_until("the echo", || rec.borrow().data() == b"hello world").await;
            transport.close();
            assert!(transport.is_closing());
            wait_until("connection_lost", || rec.borrow().lost().is_some()).await;
            assert_eq!(
                rec.borrow().shape(),
                [Ev::Made, Ev::Data(b"hello world".to_vec()), Ev::Lost(None)]
            );
            server.close();
            server.wait_closed().await;
        }))
    });
}

#[test]
fn create_connection_to_a_plain_std_server_sees_data_then_eof_then_lost() {
    let _fds = support::shared_fds();
    for_each_backend(|lp| {
        let (addr, srv) = std_server(b"HTTP/1.0 200 OK\r\n\r\nbody");
        lp.run_until_complete(guard("std server", async {
            let request = b"GET / HTTP/1.0\r\nHost: example.com\r\n\r\n";
            let (transport, rec) = create_connection(|| Rec::greeting(request), addr)
                .await
                .unwrap();
            wait_until("connection_lost", || rec.borrow().lost().is_some()).await;
            assert_eq!(
                rec.borrow().shape(),
                [
                    Ev::Made,
                    Ev::Data(b"HTTP/1.0 200 OK\r\n\r\nbody".to_vec()),
                    Ev::Eof,
                    Ev::Lost(None)
                ]
            );
            // The eof was not kept open: the transport closed itself.
            assert!(transport.is_closing());
        }));
        assert_eq!(
            srv.join().unwrap(),
            b"GET / HTTP/1.0\r\nHost: example.com\r\n\r\n"
        );
    });
}

#[test]
fn create_connection_resolves_a_host_name() {
    let _fds = support::shared_fds();
    for_each_backend(|lp| {
        lp.run_until_complete(guard("by name", async {
            let server = create_server(local_listener(), || Echo(None));
            let port = server.local_addr().unwrap().port();
            let target = format!("localhost:{port}");
            let (transport, rec) = create_connection(|| Rec::greeting(b"named"), target)
                .await
                .unwrap();
            wait_until("the echo", || rec.borrow().data() == b"named").await;
            assert!(transport.peer_addr().unwrap().ip().is_loopback());
            transport.abort();
            server.close();
            server.abort_clients();
            server.wait_closed().await;
        }))
    });
}

#[test]
fn a_refused_connection_is_an_io_error_of_kind_connection_refused() {
    let _fds = support::shared_fds();
    for_each_backend(|lp| {
        // A port nobody listens on: bound, then closed.
        let addr = local_listener().local_addr().unwrap();
        let called = Rc::new(RefCell::new(false));
        lp.run_until_complete(async {
            let c = called.clone();
            let res = create_connection(
                move || {
                    *c.borrow_mut() = true;
                    Rc::new(RefCell::new(Rec::default()))
                },
                addr,
            )
            .await;
            assert_eq!(res.err().unwrap().kind(), io::ErrorKind::ConnectionRefused);
        });
        assert!(
            !*called.borrow(),
            "no protocol is made for a failed connect"
        );
    });
}

#[test]
fn a_panicking_factory_is_reported_and_returned_as_an_error() {
    let _fds = support::shared_fds();
    for_each_backend(|lp| {
        let reports = record_exceptions(lp);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        lp.run_until_complete(async {
            let res =
                create_connection(|| -> Rc<RefCell<Rec>> { panic!("no protocol today") }, addr)
                    .await;
            let err = res.err().expect("the factory panicked");
            assert_eq!(
                err.to_string(),
                "the protocol factory panicked: no protocol today"
            );
            ringloop::yield_now().await;
        });
        // The socket was closed: the server sees end-of-file.
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(s.read(&mut buf).unwrap(), 0);
        assert_one_report(
            &reports,
            "ringloop::net::create_connection: the protocol factory panicked",
        );
    });
}

#[test]
fn a_protocol_panic_costs_that_connection_only() {
    let _fds = support::shared_fds();
    for_each_backend(|lp| {
        let reports = record_exceptions(lp);
        lp.run_until_complete(guard("panic", async {
            let server = create_server(local_listener(), || Echo(None));
            let addr = server.local_addr().unwrap();
            let make = || {
                Rc::new(RefCell::new(Rec {
                    panic_on: Some(b"BOOM"),
                    ..Rec::default()
                }))
            };
            let (bad_t, bad) = create_connection(make, addr).await.unwrap();
            let (good_t, good) = create_connection(make, addr).await.unwrap();
            bad_t.write(b"BOOM");
            wait_until("the bad one lost", || bad.borrow().lost().is_some()).await;
            assert_eq!(
                bad.borrow().lost(),
                Some(&Some(
                    "Protocol::data_received panicked: client protocol refuses \"BOOM\"".into()
                ))
            );
            assert!(bad_t.is_closing());
            // The other connection goes on.
            good_t.write(b"still here");
            wait_until("the good echo", || good.borrow().data() == b"still here").await;
            assert!(good.borrow().lost().is_none());
            good_t.close();
            wait_until("the good one lost", || good.borrow().lost().is_some()).await;
            assert_eq!(good.borrow().lost(), Some(&None));
            server.close();
            server.wait_closed().await;
        }));
        assert_one_report(
            &reports,
            "ringloop::net::create_connection: Protocol::data_received panicked",
        );
    });
}

/// A client connection (a `Rec` that writes nothing at first) and the ringloop stream
/// of its peer, which reads only when told.
async fn connected_to_a_plain_peer() -> (Transport, Rc<RefCell<Rec>>, TcpStream) {
    let listener = local_listener();
    let addr = listener.local_addr().unwrap();
    let (transport, rec) = create_connection(|| Rec::greeting(b""), addr)
        .await
        .unwrap();
    let (peer, _) = listener.accept().await.unwrap();
    (transport, rec, peer)
}

#[test]
fn close_from_the_client_flushes_then_the_server_sees_eof() {
    let _fds = support::shared_fds();
    for_each_backend(|lp| {
        lp.run_until_complete(guard("close", async {
            let (transport, rec, peer) = connected_to_a_plain_peer().await;
            let big = support::pattern(4 << 20, 7);
            transport.write(&big);
            transport.close();
            transport.write(b"ignored after close");
            // Every byte written before close arrives, then end-of-file.
            let got = support::read_to_end(&peer).await.unwrap();
            assert!(got == big, "got {} of {} bytes", got.len(), big.len());
            wait_until("connection_lost", || rec.borrow().lost().is_some()).await;
            assert_eq!(rec.borrow().shape(), [Ev::Made, Ev::Lost(None)]);
        }))
    });
}

#[test]
fn abort_from_the_client_drops_what_was_not_sent() {
    let _fds = support::shared_fds();
    for_each_backend(|lp| {
        lp.run_until_complete(guard("abort", async {
            let (transport, rec, peer) = connected_to_a_plain_peer().await;
            // Far more than the socket buffers hold while the peer does not read.
            let big = vec![b'x'; 32 << 20];
            transport.write(&big);
            assert!(transport.get_write_buffer_size() > 0);
            transport.abort();
            assert!(transport.is_closing());
            assert_eq!(
                transport.get_write_buffer_size(),
                0,
                "abort dropped the buffer"
            );
            wait_until("connection_lost", || rec.borrow().lost().is_some()).await;
            assert_eq!(rec.borrow().shape(), [Ev::Made, Ev::Lost(None)]);
            // The peer gets less than was written, then the end (or a reset).
            let got = support::read_to_end(&peer).await.unwrap_or_default();
            assert!(got.len() < big.len());
        }))
    });
}

#[test]
fn a_client_writing_to_a_slow_peer_is_paused_then_resumed_and_loses_nothing() {
    let _fds = support::shared_fds();
    for_each_backend(|lp| {
        lp.run_until_complete(guard("back-pressure", async {
            let (transport, rec, peer) = connected_to_a_plain_peer().await;
            // More than the socket buffers take while the peer does not read.
            let big = support::pattern(8 << 20, 3);
            transport.write(&big);
            assert!(transport.get_write_buffer_size() > 64 * 1024);
            // pause_writing is owed by a write made outside a callback: paid at the
            // connection's next turn.
            wait_until("pause_writing", || {
                rec.borrow().events.contains(&Ev::PauseWriting)
            })
            .await;
            let reader = ringloop::spawn(async move { support::read_to_end(&peer).await });
            wait_until("resume_writing", || {
                rec.borrow().events.contains(&Ev::ResumeWriting)
            })
            .await;
            transport.close();
            let got = reader.await.unwrap().unwrap();
            assert!(got == big, "got {} of {} bytes", got.len(), big.len());
            wait_until("connection_lost", || rec.borrow().lost().is_some()).await;
            assert_eq!(
                rec.borrow().events,
                [
                    Ev::Made,
                    Ev::PauseWriting,
                    Ev::ResumeWriting,
                    Ev::Lost(None)
                ]
            );
        }))
    });
}

#[test]
fn eof_received_kept_open_lets_the_client_answer_after_the_peer_half_closed() {
    let _fds = support::shared_fds();
    for_each_backend(|lp| {
        lp.run_until_complete(guard("half close", async {
            let listener = local_listener();
            let addr = listener.local_addr().unwrap();
            let make = || {
                Rc::new(RefCell::new(Rec {
                    keep_open: true,
                    ..Rec::default()
                }))
            };
            let (transport, rec) = create_connection(make, addr).await.unwrap();
            let (peer, _) = listener.accept().await.unwrap();
            peer.write_all(b"question").await.0.unwrap();
            peer.shutdown(std::net::Shutdown::Write).await.unwrap();
            wait_until("eof_received", || rec.borrow().events.contains(&Ev::Eof)).await;
            assert!(!transport.is_closing(), "kept open for writing");
            transport.write(b"answer");
            transport.close();
            let got = support::read_to_end(&peer).await.unwrap();
            assert_eq!(got, b"answer");
            wait_until("connection_lost", || rec.borrow().lost().is_some()).await;
            assert_eq!(
                rec.borrow().shape(),
                [
                    Ev::Made,
                    Ev::Data(b"question".to_vec()),
                    Ev::Eof,
                    Ev::Lost(None)
                ]
            );
        }))
    });
}

#[test]
fn the_loop_closing_loses_a_client_connection_with_none() {
    let _fds = support::shared_fds();
    support::on_each_backend(|backend| {
        let lp = support::new_loop(backend);
        let listener = local_listener();
        let addr = listener.local_addr().unwrap();
        let rec = lp.run_until_complete(async {
            let (_transport, rec) = create_connection(|| Rec::greeting(b""), addr)
                .await
                .unwrap();
            let _peer = listener.accept().await.unwrap();
            rec
        });
        assert_eq!(rec.borrow().events, [Ev::Made]);
        drop(lp);
        assert_eq!(rec.borrow().shape(), [Ev::Made, Ev::Lost(None)]);
    });
}

#[test]
fn create_unix_connection_echoes_through_a_unix_server() {
    let _fds = support::shared_fds();
    for_each_backend(|lp| {
        let dir = support::socket_dir("unix-conn");
        let path = dir.join("echo.sock");
        lp.run_until_complete(guard("unix echo", async {
            let server = create_server(UnixListener::bind(&path).unwrap(), || Echo(None));
            let (transport, rec) = create_unix_connection(|| Rec::greeting(b"over unix"), &path)
                .await
                .unwrap();
            wait_until("the echo", || rec.borrow().data() == b"over unix").await;
            transport.close();
            wait_until("connection_lost", || rec.borrow().lost().is_some()).await;
            assert_eq!(
                rec.borrow().shape(),
                [Ev::Made, Ev::Data(b"over unix".to_vec()), Ev::Lost(None)]
            );
            server.close();
            server.wait_closed().await;
        }));
        std::fs::remove_dir_all(&dir).unwrap();
    });
}

#[test]
fn create_unix_connection_to_a_missing_path_is_not_found() {
    let _fds = support::shared_fds();
    for_each_backend(|lp| {
        let dir = support::socket_dir("unix-missing");
        let path = dir.join("nobody.sock");
        lp.run_until_complete(async {
            let res = create_unix_connection(|| Rc::new(RefCell::new(Rec::default())), &path).await;
            assert_eq!(res.err().unwrap().kind(), io::ErrorKind::NotFound);
        });
        std::fs::remove_dir_all(&dir).unwrap();
    });
}

#[test]
fn a_clone_protocol_is_shared_between_the_loop_and_the_caller() {
    /// A protocol that is itself a handle: clones share the count.
    #[derive(Clone, Default)]
    struct Counter(Rc<RefCell<usize>>);

    impl Protocol for Counter {
        fn connection_made(&mut self, _: Transport) {}
        fn data_received(&mut self, data: &[u8]) {
            *self.0.borrow_mut() += data.len();
        }
    }

    let _fds = support::shared_fds();
    for_each_backend(|lp| {
        lp.run_until_complete(guard("clone", async {
            let listener = local_listener();
            let addr = listener.local_addr().unwrap();
            let (_transport, counter) = create_connection(Counter::default, addr).await.unwrap();
            let (peer, _): (TcpStream, _) = listener.accept().await.unwrap();
            peer.write_all(b"12345").await.0.unwrap();
            wait_until("counted", || *counter.0.borrow() == 5).await;
        }))
    });
}
