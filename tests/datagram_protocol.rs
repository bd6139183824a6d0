//! `net::create_datagram_endpoint`: datagram protocols on UDP, on each backend. Ports
//! CPython's `test_asyncio` datagram tests: `test_create_datagram_endpoint` (a server
//! answering `resp:` + the datagram, `MyDatagramProto`'s state machine: made, datagrams,
//! lost), `test_create_datagram_endpoint_noaddr_nofamily` (no address is an error), and
//! the ICMP "port unreachable" on a connected endpoint reaching `error_received`.

mod support;

use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;

use ringloop::ExceptionKind;
use ringloop::net::{DatagramProtocol, DatagramTransport, UdpSocket, create_datagram_endpoint};
use support::{for_each_backend, guard, record_exceptions, wait_until};

/// What a datagram protocol saw, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ev {
    Made,
    Datagram(Vec<u8>, SocketAddr),
    Error(io::ErrorKind),
    Lost(Option<String>),
}

/// Records its callbacks; answers `resp:` + each datagram when `answer` is set, and
/// panics on datagrams starting with `panic_on`.
#[derive(Default)]
struct Rec {
    events: Vec<Ev>,
    transport: Option<DatagramTransport>,
    answer: bool,
    panic_on: Option<&'static [u8]>,
    panic_in_made: bool,
}

type Shared = Rc<RefCell<Rec>>;

fn rec(answer: bool) -> Shared {
    Rc::new(RefCell::new(Rec {
        answer,
        ..Rec::default()
    }))
}

impl Rec {
    fn datagrams(&self) -> Vec<Vec<u8>> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Ev::Datagram(d, _) => Some(d.clone()),
                _ => None,
            })
            .collect()
    }

    fn errors(&self) -> Vec<io::ErrorKind> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Ev::Error(k) => Some(*k),
                _ => None,
            })
            .collect()
    }

    fn lost(&self) -> Option<Option<String>> {
        self.events.iter().find_map(|e| match e {
            Ev::Lost(err) => Some(err.clone()),
            _ => None,
        })
    }
}

impl DatagramProtocol for Rec {
    fn connection_made(&mut self, transport: DatagramTransport) {
        assert!(self.events.is_empty(), "connection_made comes first");
        self.events.push(Ev::Made);
        self.transport = Some(transport);
        if self.panic_in_made {
            panic!("not today");
        }
    }

    fn datagram_received(&mut self, data: &[u8], addr: SocketAddr) {
        assert_eq!(self.events.first(), Some(&Ev::Made));
        assert!(self.lost().is_none(), "no datagram after connection_lost");
        if let Some(bad) = self.panic_on
            && data.starts_with(bad)
        {
            panic!("bad datagram {:?}", String::from_utf8_lossy(data));
        }
        self.events.push(Ev::Datagram(data.to_vec(), addr));
        if self.answer {
            let mut reply = b"resp:".to_vec();
            reply.extend_from_slice(data);
            self.transport.as_ref().unwrap().send_to(&reply, addr);
        }
    }

    fn error_received(&mut self, error: io::Error) {
        self.events.push(Ev::Error(error.kind()));
    }

    fn connection_lost(&mut self, error: Option<io::Error>) {
        assert!(self.lost().is_none(), "connection_lost once");
        self.events.push(Ev::Lost(error.map(|e| e.to_string())));
    }
}

/// Held by the tests that bind UDP ports around a port left closed on purpose, so none
/// of them binds the closed port while another counts on nobody listening there.
static CLOSED_PORT: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn closed_port_guard() -> std::sync::MutexGuard<'static, ()> {
    CLOSED_PORT.lock().unwrap_or_else(|e| e.into_inner())
}

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

#[test]
fn a_server_endpoint_answers_a_connected_client_endpoint() {
    let _fds = support::shared_fds();
    for_each_backend(|lp| {
        lp.run_until_complete(guard("echo", async {
            let (server_t, server) = create_datagram_endpoint(|| rec(true), loopback(), None)
                .await
                .unwrap();
            let server_addr = server_t.local_addr().unwrap();
            let (client_t, client) = create_datagram_endpoint(|| rec(false), None, server_addr)
                .await
                .unwrap();
            assert_eq!(client_t.peer_addr().unwrap(), server_addr);
            assert_eq!(
                server_t.peer_addr().unwrap_err().kind(),
                io::ErrorKind::NotConnected
            );
            // connection_made ran before the endpoints were returned.
            assert_eq!(server.borrow().events, [Ev::Made]);
            let payloads: Vec<Vec<u8>> = (0..20u8).map(|i| vec![i; 1 + i as usize * 50]).collect();
            for p in &payloads {
                client_t.send(p);
            }
            wait_until("the answers", || {
                client.borrow().datagrams().len() == payloads.len()
            })
            .await;
            let client_addr = client_t.local_addr().unwrap();
            let expected: Vec<Vec<u8>> = payloads
                .iter()
                .map(|p| [&b"resp:"[..], p].concat())
                .collect();
            assert_eq!(
                client.borrow().datagrams(),
                expected,
                "whole, exact, in order"
            );
            assert_eq!(server.borrow().datagrams(), payloads);
            for e in &server.borrow().events[1..] {
                assert!(matches!(e, Ev::Datagram(_, from) if *from == client_addr));
            }
            for e in &client.borrow().events[1..] {
                assert!(matches!(e, Ev::Datagram(_, from) if *from == server_addr));
            }
            client_t.close();
            server_t.close();
            wait_until("both lost", || {
                client.borrow().lost().is_some() && server.borrow().lost().is_some()
            })
            .await;
            assert_eq!(client.borrow().lost(), Some(None));
            assert_eq!(server.borrow().lost(), Some(None));
        }))
    });
}

#[test]
fn a_connected_endpoint_gets_error_received_for_an_unreachable_port_and_goes_on() {
    let _fds = support::shared_fds();
    let _ports = closed_port_guard();
    for_each_backend(|lp| {
        lp.run_until_complete(guard("icmp", async {
            // A port nobody listens on: bound, then closed.
            let closed = std::net::UdpSocket::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap();
            let (transport, client) = create_datagram_endpoint(|| rec(false), None, closed)
                .await
                .unwrap();
            // The kernel answers the first datagram with ICMP "port unreachable"; a
            // connected socket reports it on its next operation.
            let deadline = std::time::Instant::now() + support::HANG;
            while client.borrow().errors().is_empty() {
                assert!(std::time::Instant::now() < deadline, "no error_received");
                transport.send(b"anyone?");
                ringloop::sleep(std::time::Duration::from_millis(2)).await;
            }
            assert_eq!(
                client.borrow().errors()[0],
                io::ErrorKind::ConnectionRefused
            );
            assert!(
                !transport.is_closing(),
                "an error does not close the endpoint"
            );
            assert!(client.borrow().lost().is_none());
            transport.close();
            wait_until("lost", || client.borrow().lost().is_some()).await;
            assert_eq!(client.borrow().lost(), Some(None));
        }))
    });
}

#[test]
fn a_panicking_datagram_received_is_reported_and_the_endpoint_goes_on() {
    let _fds = support::shared_fds();
    for_each_backend(|lp| {
        let reports = record_exceptions(lp);
        lp.run_until_complete(guard("panic", async {
            let make = || {
                Rc::new(RefCell::new(Rec {
                    answer: true,
                    panic_on: Some(b"BAD"),
                    ..Rec::default()
                }))
            };
            let (server_t, server) = create_datagram_endpoint(make, loopback(), None)
                .await
                .unwrap();
            let to = server_t.local_addr().unwrap();
            let client = UdpSocket::bind("127.0.0.1:0").unwrap();
            client.send_to(b"BAD one", to).await.0.unwrap();
            client.send_to(b"good one", to).await.0.unwrap();
            let (got, buf) = client.recv_from(Vec::with_capacity(64)).await;
            assert_eq!(&buf[..got.unwrap().0], b"resp:good one");
            assert_eq!(server.borrow().datagrams(), [b"good one".to_vec()]);
            assert!(!server_t.is_closing());
            assert!(server.borrow().lost().is_none());
            server_t.close();
            wait_until("lost", || server.borrow().lost().is_some()).await;
        }));
        let reports = reports.borrow();
        assert_eq!(reports.len(), 1, "{reports:?}");
        assert_eq!(reports[0].0, ExceptionKind::CallbackPanicked);
        assert_eq!(
            reports[0].1,
            "ringloop::net::create_datagram_endpoint: DatagramProtocol::datagram_received \
             panicked: bad datagram \"BAD one\""
        );
    });
}

#[test]
fn a_panicking_connection_made_loses_the_endpoint_with_the_error() {
    let _fds = support::shared_fds();
    for_each_backend(|lp| {
        let reports = record_exceptions(lp);
        lp.run_until_complete(guard("made panics", async {
            let make = || {
                Rc::new(RefCell::new(Rec {
                    panic_in_made: true,
                    ..Rec::default()
                }))
            };
            let (transport, r) = create_datagram_endpoint(make, loopback(), None)
                .await
                .unwrap();
            assert!(transport.is_closing());
            wait_until("lost", || r.borrow().lost().is_some()).await;
            assert_eq!(
                r.borrow().lost(),
                Some(Some(
                    "DatagramProtocol::connection_made panicked: not today".into()
                ))
            );
        }));
        assert_eq!(reports.borrow().len(), 1);
    });
}

#[test]
fn close_and_abort_end_the_endpoint_once_and_nothing_arrives_after() {
    let _fds = support::shared_fds();
    for_each_backend(|lp| {
        lp.run_until_complete(guard("close", async {
            let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
            for abort in [false, true] {
                let (transport, r) = create_datagram_endpoint(|| rec(false), loopback(), None)
                    .await
                    .unwrap();
                let to = transport.local_addr().unwrap();
                sender.send_to(b"before", to).await.0.unwrap();
                wait_until("the datagram", || r.borrow().datagrams().len() == 1).await;
                if abort {
                    transport.abort();
                } else {
                    transport.close();
                }
                assert!(transport.is_closing());
                transport.send_to(b"ignored", sender.local_addr().unwrap());
                wait_until("lost", || r.borrow().lost().is_some()).await;
                // The socket is closed: a datagram to it is refused or dropped, never delivered.
                let _ = sender.send_to(b"after", to).await;
                support::yield_times(10).await;
                assert_eq!(
                    r.borrow().events,
                    [
                        Ev::Made,
                        Ev::Datagram(b"before".to_vec(), sender.local_addr().unwrap()),
                        Ev::Lost(None)
                    ],
                    "abort: {abort}"
                );
            }
            // Nothing was sent after close or abort.
            let waited = ringloop::timeout(
                std::time::Duration::from_millis(20),
                sender.recv_from(Vec::with_capacity(16)),
            )
            .await;
            assert!(waited.is_err());
        }))
    });
}

/// A connected endpoint sends only to its peer (asyncio's `ValueError`): `send_to` its
/// own peer works, another address is refused with a panic that says what to do.
#[test]
fn a_connected_endpoint_refuses_send_to_another_address() {
    let _fds = support::shared_fds();
    let _ports = closed_port_guard();
    for_each_backend(|lp| {
        lp.run_until_complete(guard("connected send_to", async {
            let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
            let other = UdpSocket::bind("127.0.0.1:0").unwrap();
            let peer_addr = peer.local_addr().unwrap();
            let (transport, _r) = create_datagram_endpoint(|| rec(false), None, peer_addr)
                .await
                .unwrap();
            transport.send_to(b"to the peer", peer_addr);
            // Other tests' datagrams may reach a reused port: take ours, by its sender.
            let ours = transport.local_addr().unwrap();
            let mut buf = Vec::with_capacity(32);
            let got = loop {
                let (got, b) = peer.recv_from(buf).await;
                let (n, from) = got.unwrap();
                if from == ours {
                    break b[..n].to_vec();
                }
                buf = b;
            };
            assert_eq!(got, b"to the peer");
            let wrong = other.local_addr().unwrap();
            let refused = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                transport.send_to(b"elsewhere", wrong)
            }))
            .unwrap_err();
            let msg = support::panic_message(&*refused);
            assert!(
                msg.contains("connected") && msg.contains("send(data)"),
                "{msg}"
            );
            transport.close();
        }))
    });
}

#[test]
fn send_on_an_endpoint_with_no_remote_address_reaches_error_received() {
    let _fds = support::shared_fds();
    for_each_backend(|lp| {
        lp.run_until_complete(guard("no remote", async {
            let (transport, r) = create_datagram_endpoint(|| rec(false), loopback(), None)
                .await
                .unwrap();
            transport.send(b"where to?");
            wait_until("error_received", || !r.borrow().errors().is_empty()).await;
            assert!(!transport.is_closing());
            transport.close();
        }))
    });
}

#[test]
fn neither_address_or_a_panicking_factory_is_an_error() {
    let _fds = support::shared_fds();
    for_each_backend(|lp| {
        let reports = record_exceptions(lp);
        lp.run_until_complete(async {
            let err = create_datagram_endpoint(|| rec(false), None, None)
                .await
                .err()
                .unwrap();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
            let err =
                create_datagram_endpoint(|| -> Shared { panic!("no protocol") }, loopback(), None)
                    .await
                    .err()
                    .unwrap();
            assert_eq!(
                err.to_string(),
                "the protocol factory panicked: no protocol"
            );
            ringloop::yield_now().await;
        });
        assert_eq!(reports.borrow().len(), 1);
    });
}

#[test]
fn the_loop_closing_loses_an_endpoint_with_none() {
    let _fds = support::shared_fds();
    support::on_each_backend(|backend| {
        let lp = support::new_loop(backend);
        let r = lp.run_until_complete(async {
            let (_transport, r) = create_datagram_endpoint(|| rec(false), loopback(), None)
                .await
                .unwrap();
            r
        });
        assert_eq!(r.borrow().events, [Ev::Made]);
        drop(lp);
        assert_eq!(r.borrow().events, [Ev::Made, Ev::Lost(None)]);
    });
}
