//! `net::UnixDatagram`, on each backend: pairs, path and abstract addresses, connected
//! sockets, a dropped receive, the errors a user meets, and the std conversions.

mod support;

use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::os::linux::net::SocketAddrExt;
use std::time::Duration;

use ringloop::net::UnixDatagram;
use support::{for_each_backend, guard, pattern};

#[test]
fn a_pair_carries_whole_datagrams_in_order_byte_for_byte() {
    let _fds = support::shared_fds();
    for_each_backend(|lp| {
        lp.run_until_complete(guard("pair", async {
            let (a, b) = UnixDatagram::pair().unwrap();
            let sizes = [1usize, 1000, 60_000, 3];
            for (i, &len) in sizes.iter().enumerate() {
                let (sent, _) = a.send(pattern(len, i as u64)).await;
                assert_eq!(sent.unwrap(), len);
            }
            let mut buf = Vec::with_capacity(64 * 1024);
            for (i, &len) in sizes.iter().enumerate() {
                buf.clear();
                let (got, back) = b.recv_from(buf).await;
                let (n, from) = got.unwrap();
                assert_eq!(n, len, "datagram {i} whole");
                assert_eq!(
                    &back[..n],
                    &pattern(len, i as u64)[..],
                    "datagram {i} exact"
                );
                assert!(from.is_unnamed());
                buf = back;
            }
            // Both directions.
            b.send(b"back").await.0.unwrap();
            let (n, got) = a.recv(Vec::with_capacity(8)).await;
            assert_eq!(&got[..n.unwrap()], b"back");
        }))
    });
}

#[test]
fn bound_sockets_exchange_datagrams_by_path_and_reply_to_the_sender() {
    let _fds = support::shared_fds();
    for_each_backend(|lp| {
        let dir = support::socket_dir("dgram-paths");
        let (server_path, client_path) = (dir.join("server.sock"), dir.join("client.sock"));
        lp.run_until_complete(guard("paths", async {
            let server = UnixDatagram::bind(&server_path).unwrap();
            let client = UnixDatagram::bind(&client_path).unwrap();
            assert_eq!(
                server.local_addr().unwrap().as_pathname(),
                Some(server_path.as_path())
            );
            let (sent, _) = client.send_to(b"request".to_vec(), &server_path).await;
            assert_eq!(sent.unwrap(), 7);
            let (got, buf) = server.recv_from(Vec::with_capacity(64)).await;
            let (n, from) = got.unwrap();
            assert_eq!(&buf[..n], b"request");
            assert_eq!(from.as_pathname(), Some(client_path.as_path()));
            server.send_to_addr(b"response", &from).await.0.unwrap();
            let (got, buf) = client.recv_from(Vec::with_capacity(64)).await;
            let (n, from) = got.unwrap();
            assert_eq!(&buf[..n], b"response");
            assert_eq!(from.as_pathname(), Some(server_path.as_path()));
            // An unbound sender is unnamed to its receiver.
            let anon = UnixDatagram::unbound().unwrap();
            anon.send_to(b"anon", &server_path).await.0.unwrap();
            let (got, _) = server.recv_from(Vec::with_capacity(64)).await;
            assert!(got.unwrap().1.is_unnamed());
        }));
        std::fs::remove_dir_all(&dir).unwrap();
    });
}

#[test]
fn abstract_names_address_sockets_without_a_file() {
    let _fds = support::shared_fds();
    for_each_backend(|lp| {
        let name = format!(
            "ringloop-test-{}-{:?}-{:?}",
            std::process::id(),
            lp.backend(),
            std::thread::current().id()
        );
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        lp.run_until_complete(guard("abstract", async {
            let server = UnixDatagram::bind_addr(&addr).unwrap();
            let client_name = format!("{name}-client");
            let client_addr =
                std::os::unix::net::SocketAddr::from_abstract_name(client_name.as_bytes()).unwrap();
            let client = UnixDatagram::bind_addr(&client_addr).unwrap();
            client.send_to_addr(b"hidden", &addr).await.0.unwrap();
            let (got, buf) = server.recv_from(Vec::with_capacity(16)).await;
            let (n, from) = got.unwrap();
            assert_eq!(&buf[..n], b"hidden");
            assert_eq!(from.as_abstract_name(), Some(client_name.as_bytes()));
            server.send_to_addr(b"seen", &from).await.0.unwrap();
            let (n, buf) = client.recv(Vec::with_capacity(16)).await;
            assert_eq!(&buf[..n.unwrap()], b"seen");
        }));
    });
}

#[test]
fn a_connected_socket_sends_to_its_peer_and_refuses_other_senders() {
    let _fds = support::shared_fds();
    for_each_backend(|lp| {
        let dir = support::socket_dir("dgram-connected");
        let (a_path, b_path) = (dir.join("a.sock"), dir.join("b.sock"));
        lp.run_until_complete(guard("connected", async {
            let a = UnixDatagram::bind(&a_path).unwrap();
            let b = UnixDatagram::bind(&b_path).unwrap();
            a.connect(&b_path).unwrap();
            assert_eq!(a.peer_addr().unwrap().as_pathname(), Some(b_path.as_path()));
            a.send(b"to b").await.0.unwrap();
            let (got, buf) = b.recv_from(Vec::with_capacity(16)).await;
            let (n, from) = got.unwrap();
            assert_eq!(
                (&buf[..n], from.as_pathname()),
                (&b"to b"[..], Some(a_path.as_path()))
            );
            // A socket connected elsewhere does not take a third party's datagrams.
            let third = UnixDatagram::unbound().unwrap();
            let (res, _) = third.send_to(b"intruder", &a_path).await;
            assert_eq!(res.unwrap_err().kind(), io::ErrorKind::PermissionDenied);
        }));
        std::fs::remove_dir_all(&dir).unwrap();
    });
}

#[test]
fn a_dropped_recv_does_not_lose_the_socket() {
    let _fds = support::shared_fds();
    for_each_backend(|lp| {
        lp.run_until_complete(guard("dropped recv", async {
            let (a, b) = UnixDatagram::pair().unwrap();
            // Nothing comes: the receive is dropped in flight by the timeout.
            let waited =
                ringloop::timeout(Duration::from_millis(5), b.recv(Vec::with_capacity(16))).await;
            assert!(waited.is_err());
            let waited = ringloop::timeout(
                Duration::from_millis(5),
                b.recv_from(Vec::with_capacity(16)),
            )
            .await;
            assert!(waited.is_err());
            // The socket still works, and the next datagram arrives whole.
            a.send(b"after the drop").await.0.unwrap();
            let (got, buf) = b.recv_from(Vec::with_capacity(32)).await;
            assert_eq!(&buf[..got.unwrap().0], b"after the drop");
        }))
    });
}

#[test]
fn errors_name_what_went_wrong() {
    let _fds = support::shared_fds();
    for_each_backend(|lp| {
        let dir = support::socket_dir("dgram-errors");
        let missing = dir.join("nobody.sock");
        lp.run_until_complete(async {
            let socket = UnixDatagram::unbound().unwrap();
            let (res, buf) = socket.send_to(b"lost".to_vec(), &missing).await;
            assert_eq!(res.unwrap_err().kind(), io::ErrorKind::NotFound);
            assert_eq!(buf, b"lost", "the buffer comes back with the error");
            assert_eq!(
                socket.connect(&missing).unwrap_err().kind(),
                io::ErrorKind::NotFound
            );
            // Not connected: send has nowhere to go.
            let (res, _) = socket.send(b"nowhere").await;
            assert_eq!(res.unwrap_err().kind(), io::ErrorKind::NotConnected);
            let long = dir.join("x".repeat(200));
            let (res, _) = socket.send_to(b"long", &long).await;
            assert_eq!(res.unwrap_err().kind(), io::ErrorKind::InvalidInput);
            let taken = dir.join("taken.sock");
            let _first = UnixDatagram::bind(&taken).unwrap();
            assert_eq!(
                UnixDatagram::bind(&taken).unwrap_err().kind(),
                io::ErrorKind::AddrInUse
            );
            // No room at all is refused rather than read as an empty datagram.
            let (a, _b) = UnixDatagram::pair().unwrap();
            let (res, _) = a.recv(Vec::new()).await;
            assert_eq!(res.unwrap_err().kind(), io::ErrorKind::InvalidInput);
        });
        std::fs::remove_dir_all(&dir).unwrap();
    });
}

#[test]
fn a_unix_datagram_socket_leaves_for_std_and_comes_back() {
    let _fds = support::shared_fds();
    for_each_backend(|lp| {
        lp.run_until_complete(guard("conversions", async {
            let (a, b) = UnixDatagram::pair().unwrap();
            let raw = a.as_raw_fd();
            assert_eq!(a.as_fd().as_raw_fd(), raw);
            let std_a = a.into_std();
            assert_eq!(std_a.as_raw_fd(), raw);
            std_a.send(b"from std").unwrap();
            let (n, buf) = b.recv(Vec::with_capacity(16)).await;
            assert_eq!(&buf[..n.unwrap()], b"from std");
            let a = UnixDatagram::from_std(std_a).unwrap();
            b.send(b"to ringloop").await.0.unwrap();
            let (n, buf) = a.recv(Vec::with_capacity(16)).await;
            assert_eq!(&buf[..n.unwrap()], b"to ringloop");
            assert!(format!("{a:?}").starts_with("UnixDatagram"));
        }))
    });
}
