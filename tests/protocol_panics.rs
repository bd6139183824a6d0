//! Panics in the user code the protocol server calls (the hardening issue, items 3 and
//! 4): a panic in the protocol factory or in any protocol callback costs that one
//! connection, never the server; it reaches the loop's exception handler once, naming
//! the callback; the protocol hears `connection_lost(Some(error))`. Tearing the server
//! down survives panicking callbacks too: every connection is closed, on both backends.
//!
//! Clients are the loop's own `TcpStream`s, on the same loop as the server.

mod support;

use std::cell::{Cell, RefCell};
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::os::fd::OwnedFd;
use std::rc::Rc;
use std::time::Duration;

use ringloop::net::{Protocol, TcpListener, TcpStream, Transport, serve};
use ringloop::sync::Event;
use ringloop::{EventLoop, ExceptionKind, TaskError};

use support::{guard, local_listener, wait_until};

/// Where the victim connection's user code panics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Where {
    Factory,
    ConnectionMade,
    DataReceived,
    EofReceived,
    ConnectionLost,
    PauseWriting,
    ResumeWriting,
    /// The protocol's destructor, once the server let go of it.
    Drop,
}

impl Where {
    /// How the exception handler's report names the code that panicked.
    fn named(self) -> &'static str {
        match self {
            Where::Factory => "protocol factory",
            Where::ConnectionMade => "Protocol::connection_made",
            Where::DataReceived => "Protocol::data_received",
            Where::EofReceived => "Protocol::eof_received",
            Where::ConnectionLost => "Protocol::connection_lost",
            Where::PauseWriting => "Protocol::pause_writing",
            Where::ResumeWriting => "Protocol::resume_writing",
            Where::Drop => "protocol's Drop",
        }
    }

    /// Whether the victim's connection fails with the panic as its error (rather than
    /// having closed normally before its user code panicked, or never having had a
    /// protocol).
    fn fails_the_connection(self) -> bool {
        !matches!(self, Where::Factory | Where::ConnectionLost | Where::Drop)
    }
}

/// Bigger than what loopback sockets take at once: writing it leaves most of it buffered.
const FLOOD: usize = 16 << 20;

#[derive(Default)]
struct Log {
    made: Cell<u32>,
    /// What the other connections' `connection_lost` got: `None`, or the error's text.
    lost: RefCell<Vec<Option<String>>>,
    /// The same for the victim.
    victim_lost: RefCell<Vec<Option<String>>>,
    /// Callbacks other than `connection_lost` made to a protocol after it panicked.
    after_panic: RefCell<Vec<Where>>,
    /// What reached the exception handler.
    reports: RefCell<Vec<(ExceptionKind, String)>>,
}

impl Log {
    fn listen(self: &Rc<Log>, lp: &EventLoop) {
        let log = self.clone();
        lp.set_exception_handler(move |report| {
            log.reports
                .borrow_mut()
                .push((report.kind(), report.message().to_string()));
        });
    }
}

/// Echoes; the victim panics where told (and floods, for the write-buffer callbacks).
struct Proto {
    log: Rc<Log>,
    transport: Option<Transport>,
    panic_in: Option<Where>,
    panicked: bool,
}

impl Proto {
    fn panics_in(&self, at: Where) -> bool {
        self.panic_in == Some(at)
    }

    /// Called first by every callback but `connection_lost`: notes a call made after
    /// this protocol panicked, and panics if `at` is where to.
    fn enter(&mut self, at: Where) {
        if self.panicked {
            self.log.after_panic.borrow_mut().push(at);
        }
        if self.panics_in(at) {
            self.panicked = true;
            panic!("test panic in {at:?}");
        }
    }
}

impl Protocol for Proto {
    fn connection_made(&mut self, transport: Transport) {
        self.log.made.set(self.log.made.get() + 1);
        self.enter(Where::ConnectionMade);
        self.transport = Some(transport);
    }

    fn data_received(&mut self, data: &[u8]) {
        self.enter(Where::DataReceived);
        let transport = self.transport.as_ref().expect("connection_made came first");
        if self.panics_in(Where::PauseWriting) || self.panics_in(Where::ResumeWriting) {
            transport.write(&vec![7; FLOOD]);
        } else {
            transport.write(data);
        }
    }

    fn eof_received(&mut self) -> bool {
        self.enter(Where::EofReceived);
        false
    }

    fn connection_lost(&mut self, error: Option<io::Error>) {
        let seen = error.map(|e| e.to_string());
        if self.panic_in.is_some() {
            self.log.victim_lost.borrow_mut().push(seen);
        } else {
            self.log.lost.borrow_mut().push(seen);
        }
        if self.panics_in(Where::ConnectionLost) {
            panic!("test panic in connection_lost");
        }
    }

    fn pause_writing(&mut self) {
        if self.panics_in(Where::PauseWriting) {
            // Owe a resume_writing as well: a protocol that panicked must not get it.
            let transport = self.transport.as_ref().expect("connection_made came first");
            transport.set_write_buffer_limits(usize::MAX, usize::MAX);
        }
        self.enter(Where::PauseWriting);
    }

    fn resume_writing(&mut self) {
        self.enter(Where::ResumeWriting);
    }
}

impl Drop for Proto {
    fn drop(&mut self) {
        if self.panics_in(Where::Drop) && !std::thread::panicking() {
            panic!("test panic in the protocol's Drop");
        }
    }
}

/// A protocol factory whose `victim`-th protocol (counting from 0) panics in `at`; the
/// factory itself panics making it when `at` is [`Where::Factory`].
fn factory(log: &Rc<Log>, victim: u32, at: Where) -> impl FnMut() -> Proto + 'static {
    let log = log.clone();
    let mut calls = 0;
    move || {
        let is_victim = calls == victim;
        calls += 1;
        if is_victim && at == Where::Factory {
            panic!("test panic in the protocol factory");
        }
        Proto {
            log: log.clone(),
            transport: None,
            panic_in: (is_victim && at != Where::Factory).then_some(at),
            panicked: false,
        }
    }
}

async fn connect(addr: SocketAddr) -> TcpStream {
    guard("connecting", TcpStream::connect(addr))
        .await
        .expect("connecting to the server")
}

/// One echo round trip.
async fn echo(stream: &TcpStream, msg: &[u8]) {
    let (res, _) = guard("writing", stream.write_all(msg.to_vec())).await;
    res.expect("writing to the server");
    let (res, back) = guard("the echo", stream.read_exact(Vec::with_capacity(msg.len()))).await;
    res.expect("the server echoes");
    assert_eq!(back, msg);
}

/// Reads until the connection ends: end-of-file, or a reset. Returns the bytes read.
async fn read_until_closed(stream: &TcpStream) -> usize {
    let mut total = 0;
    let mut buf = Vec::with_capacity(64 * 1024);
    loop {
        buf.clear();
        let (res, back) = stream.read(buf).await;
        buf = back;
        match res {
            Ok(0) => return total,
            Ok(n) => total += n,
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return total,
            Err(e) => panic!("reading until the connection ends: {e}"),
        }
    }
}

/// Lets the loop run a few iterations, so that a report queued late arrives.
async fn settle() {
    for _ in 0..5 {
        ringloop::sleep(Duration::from_millis(1)).await;
    }
}

/// The one report the exception handler got, naming `at`.
fn assert_reported_once(log: &Log, at: Where) {
    let reports = log.reports.borrow();
    assert_eq!(reports.len(), 1, "one report for one panic: {reports:?}");
    let (kind, message) = &reports[0];
    assert_eq!(*kind, ExceptionKind::CallbackPanicked);
    assert!(
        message.contains(at.named()) && message.contains("test panic in"),
        "the report names the callback and carries the panic's message: {message:?}"
    );
}

/// A panic in `at` on one connection, with a connection before it and one after it.
fn a_panic_costs_only_its_connection(at: Where) {
    // Taken before `for_each_backend` makes the loops: they hold descriptors too.
    let _fds = support::shared_fds();
    support::for_each_backend(|lp| {
        let log = Rc::new(Log::default());
        log.listen(lp);
        lp.run_until_complete(async {
            let listener = local_listener();
            let addr = listener.local_addr().unwrap();
            let server = ringloop::spawn(serve(listener, factory(&log, 1, at)));
            let before = connect(addr).await;
            echo(&before, b"first").await;

            let victim = connect(addr).await;
            match at {
                Where::Factory | Where::ConnectionMade => {}
                Where::DataReceived | Where::PauseWriting | Where::ResumeWriting => {
                    let (res, _) = guard("writing", victim.write_all(b"go".to_vec())).await;
                    res.unwrap();
                }
                Where::EofReceived | Where::ConnectionLost | Where::Drop => {
                    guard("half-closing", victim.shutdown(Shutdown::Write))
                        .await
                        .unwrap();
                }
            }
            guard("the victim's connection to end", read_until_closed(&victim)).await;

            // The server goes on: the connection made before still echoes, a new one is
            // accepted and echoes too.
            echo(&before, b"still served").await;
            let after = connect(addr).await;
            echo(&after, b"accepting goes on").await;
            assert!(!server.is_done(), "the server stopped: {at:?}");
            wait_until("the panic's report", || !log.reports.borrow().is_empty()).await;

            server.cancel();
            let result = server.await;
            assert!(
                matches!(result, Err(TaskError::Cancelled)),
                "the server ended by its cancel, not a panic: {result:?}"
            );
            guard("end-of-file after the server", read_until_closed(&before)).await;
            guard("end-of-file after the server", read_until_closed(&after)).await;
            settle().await;
        });

        assert_reported_once(&log, at);
        assert_eq!(
            *log.after_panic.borrow(),
            [],
            "a protocol that panicked gets connection_lost only"
        );
        let made = if at == Where::Factory { 2 } else { 3 };
        assert_eq!(log.made.get(), made, "connection_made per protocol");
        let victim_lost = log.victim_lost.borrow();
        if at == Where::Factory {
            assert!(victim_lost.is_empty(), "no protocol, no callback");
        } else if at.fails_the_connection() {
            assert_eq!(
                victim_lost.len(),
                1,
                "connection_lost once: {victim_lost:?}"
            );
            let error = victim_lost[0].as_deref().expect("lost with an error");
            assert!(
                error.contains("panicked") && error.contains(at.named()),
                "the error says which callback panicked: {error:?}"
            );
        } else {
            // Closed normally (the client's end-of-file) before its user code panicked.
            assert_eq!(*victim_lost, [None], "connection_lost once");
        }
        assert_eq!(
            *log.lost.borrow(),
            [None, None],
            "the other connections closed normally, with the server"
        );
    });
}

#[test]
fn protocol_factory_panic_closes_that_connection_and_accepting_goes_on() {
    a_panic_costs_only_its_connection(Where::Factory);
}

#[test]
fn protocol_connection_made_panic_costs_only_its_connection() {
    a_panic_costs_only_its_connection(Where::ConnectionMade);
}

#[test]
fn protocol_data_received_panic_costs_only_its_connection() {
    a_panic_costs_only_its_connection(Where::DataReceived);
}

#[test]
fn protocol_eof_received_panic_costs_only_its_connection() {
    a_panic_costs_only_its_connection(Where::EofReceived);
}

#[test]
fn protocol_connection_lost_panic_is_reported_and_the_server_goes_on() {
    a_panic_costs_only_its_connection(Where::ConnectionLost);
}

#[test]
fn protocol_pause_writing_panic_costs_only_its_connection() {
    a_panic_costs_only_its_connection(Where::PauseWriting);
}

#[test]
fn protocol_resume_writing_panic_costs_only_its_connection() {
    a_panic_costs_only_its_connection(Where::ResumeWriting);
}

#[test]
fn protocol_drop_panic_is_reported_and_the_server_goes_on() {
    a_panic_costs_only_its_connection(Where::Drop);
}

/// Connects `n` clients and makes sure each is served.
async fn served_clients(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    let mut clients = Vec::new();
    for i in 0..n {
        let client = connect(addr).await;
        echo(&client, format!("client {i}").as_bytes()).await;
        clients.push(client);
    }
    clients
}

#[test]
fn dropping_the_server_while_connection_lost_panics_closes_every_connection() {
    // Taken before `for_each_backend` makes the loops: they hold descriptors too.
    let _fds = support::exclusive_fds();
    support::for_each_backend(|lp| {
        let fds_at_start = support::fd_count();
        let log = Rc::new(Log::default());
        log.listen(lp);
        lp.run_until_complete(async {
            let listener = local_listener();
            let addr = listener.local_addr().unwrap();
            // The first connection's protocol panics in connection_lost: the first one the
            // teardown gets to.
            let server = ringloop::spawn(serve(listener, factory(&log, 0, Where::ConnectionLost)));
            let clients = served_clients(addr, 4).await;
            server.cancel();
            let result = server.await;
            assert!(
                matches!(result, Err(TaskError::Cancelled)),
                "the server ended by its cancel, not a panic: {result:?}"
            );
            for client in &clients {
                guard("end-of-file after the server", read_until_closed(client)).await;
            }
            drop(clients);
            wait_until("every descriptor closed", || {
                support::fd_count() == fds_at_start
            })
            .await;
            settle().await;
        });
        assert_eq!(support::fd_count(), fds_at_start);
        assert_reported_once(&log, Where::ConnectionLost);
        assert_eq!(*log.victim_lost.borrow(), [None]);
        assert_eq!(*log.lost.borrow(), [None, None, None]);
    });
}

#[test]
fn a_server_stopped_by_an_accept_error_closes_its_connections() {
    // Taken before `for_each_backend` makes the loops: they hold descriptors too.
    let _fds = support::shared_fds();
    support::for_each_backend(|lp| {
        let log = Rc::new(Log::default());
        log.listen(lp);
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = std_listener.local_addr().unwrap();
        // Another handle on the listening socket, to shut it down under the server:
        // accept(2) then fails with EINVAL, which stops the server.
        let twin = std::net::TcpStream::from(OwnedFd::from(std_listener.try_clone().unwrap()));
        let listener = TcpListener::from_std(std_listener).unwrap();
        let outcome: Rc<RefCell<Option<io::Result<()>>>> = Rc::default();
        let release = Rc::new(Event::new());
        lp.run_until_complete(async {
            // The completed serve future is kept, not dropped, until `release`.
            let (out, hold) = (outcome.clone(), release.clone());
            let log2 = log.clone();
            let server = ringloop::spawn(async move {
                let mut serving = Box::pin(serve(listener, factory(&log2, u32::MAX, Where::Drop)));
                let result = (&mut serving).await;
                *out.borrow_mut() = Some(result);
                hold.wait().await;
                drop(serving);
            });
            let clients = served_clients(addr, 3).await;
            twin.shutdown(Shutdown::Both).unwrap();
            wait_until("the server to stop", || outcome.borrow().is_some()).await;
            let result = outcome.borrow_mut().take().unwrap();
            assert!(result.is_err(), "accepting failed: {result:?}");
            // The serve future is still alive, and will never be polled again: its
            // connections are closed already.
            for client in &clients {
                guard(
                    "end-of-file after the server stopped",
                    read_until_closed(client),
                )
                .await;
            }
            assert_eq!(*log.lost.borrow(), [None, None, None]);
            release.set();
            guard("the server task", server).await.unwrap();
        });
        assert!(
            log.reports.borrow().is_empty(),
            "{:?}",
            log.reports.borrow()
        );
    });
}

/// Panics when dropped (outside a panic).
struct PanicOnDrop;

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("test panic in the factory's Drop");
        }
    }
}

#[test]
fn dropping_the_server_whose_factory_panics_in_drop_closes_every_connection() {
    let _fds = support::shared_fds();
    support::for_each_backend(|lp| {
        let log = Rc::new(Log::default());
        log.listen(lp);
        lp.run_until_complete(async {
            let listener = local_listener();
            let addr = listener.local_addr().unwrap();
            let mut make = factory(&log, u32::MAX, Where::Drop);
            let bomb = PanicOnDrop;
            let server = ringloop::spawn(serve(listener, move || {
                let _owned = &bomb;
                make()
            }));
            let clients = served_clients(addr, 2).await;
            server.cancel();
            let result = server.await;
            assert!(
                matches!(result, Err(TaskError::Cancelled)),
                "the server ended by its cancel, not a panic: {result:?}"
            );
            for client in &clients {
                guard("end-of-file after the server", read_until_closed(client)).await;
            }
            settle().await;
        });
        let reports = log.reports.borrow();
        assert_eq!(reports.len(), 1, "one report for one panic: {reports:?}");
        assert!(
            reports[0].1.contains("protocol factory's Drop"),
            "{reports:?}"
        );
        assert_eq!(*log.lost.borrow(), [None, None]);
    });
}
