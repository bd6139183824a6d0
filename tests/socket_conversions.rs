//! Every socket type converts to and from its std type, exposes its descriptor, and
//! carries the common socket options; a socket taken out with `into_std` and brought
//! back with `from_std` keeps working on both backends (its readiness registration is
//! made afresh for the new owner).

mod support;

use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::time::Duration;

use ringloop::net::{TcpListener, TcpStream, UdpSocket, UnixListener, UnixStream};
use support::{for_each_backend, guard, shared_fds};

#[test]
fn streams_leave_for_std_and_come_back() {
    let _fds = shared_fds();
    for_each_backend(|lp| {
        lp.run_until_complete(async {
            let (a, b) = UnixStream::pair().expect("socketpair");
            // A read that waits, so the descriptor is registered with this loop.
            let waited = ringloop::timeout(Duration::from_millis(5), a.read(vec![0; 8])).await;
            assert!(waited.is_err());
            let raw = a.as_raw_fd();
            assert_eq!(a.as_fd().as_raw_fd(), raw);
            let mut std_a = a.into_std();
            assert_eq!(std_a.as_raw_fd(), raw, "the same descriptor");
            std_a.set_nonblocking(false).expect("blocking");
            let (sent, _) = b.write_all(b"to std".to_vec()).await;
            sent.expect("write");
            let mut got = [0u8; 6];
            std_a.read_exact(&mut got).expect("a blocking read");
            assert_eq!(&got, b"to std");
            // Back into the loop: it waits for readiness again, under a new owner.
            let a = UnixStream::from_std(std_a).expect("from_std");
            let reader = ringloop::spawn(async move { a.read(Vec::with_capacity(8)).await });
            ringloop::sleep(Duration::from_millis(2)).await;
            let (sent, _) = b.write_all(b"back".to_vec()).await;
            sent.expect("write");
            let (n, buf) = guard("a read after from_std", reader).await.expect("task");
            assert_eq!(n.expect("read"), 4);
            assert_eq!(buf, b"back");
        });
    });
}

#[test]
fn listeners_and_udp_sockets_leave_for_std_and_come_back() {
    let _fds = shared_fds();
    for_each_backend(|lp| {
        let backend = lp.backend();
        lp.run_until_complete(async {
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
            let addr = listener.local_addr().expect("address");
            let std_listener = listener.into_std();
            let listener = TcpListener::from_std(std_listener).expect("from_std");
            let mut client = std::net::TcpStream::connect(addr).expect("connect");
            let (stream, _) = guard("accept", listener.accept()).await.expect("accept");
            let (sent, _) = stream.write_all(b"hi".to_vec()).await;
            sent.expect("write");
            let mut got = [0u8; 2];
            client.read_exact(&mut got).expect("read");
            assert_eq!(&got, b"hi");

            let dir = std::env::temp_dir().join(format!("ringloop-conv-{}", std::process::id()));
            std::fs::create_dir_all(&dir).expect("dir");
            let path = dir.join(format!("{backend:?}.sock"));
            let _ = std::fs::remove_file(&path);
            let unix = UnixListener::bind(&path).expect("bind unix");
            let unix = UnixListener::from_std(unix.into_std()).expect("from_std");
            let mut peer = std::os::unix::net::UnixStream::connect(&path).expect("connect");
            let accepted = guard("unix accept", unix.accept()).await.expect("accept");
            peer.write_all(b"u").expect("write");
            let (n, _) = accepted.read(Vec::with_capacity(4)).await;
            assert_eq!(n.expect("read"), 1);
            let _ = std::fs::remove_dir_all(&dir);

            let udp = UdpSocket::bind("127.0.0.1:0").expect("bind udp");
            let raw = udp.as_raw_fd();
            let std_udp = udp.into_std();
            assert_eq!(std_udp.as_raw_fd(), raw);
            let udp = UdpSocket::from_std(std_udp).expect("from_std");
            let me = udp.local_addr().expect("address");
            let (sent, _) = udp.send_to(b"ping".to_vec(), me).await;
            sent.expect("send");
            let (got, _) = guard("udp recv", udp.recv_from(vec![0; 8])).await;
            assert_eq!(got.expect("recv").0, 4);
        });
    });
}

#[test]
fn stream_socket_options_are_set_and_read_back() {
    let _fds = shared_fds();
    for_each_backend(|lp| {
        lp.run_until_complete(async {
            let (client, _server) = support::tcp_pair().await;
            client.set_keepalive(true).expect("keepalive");
            assert!(client.keepalive().expect("read keepalive"));
            client.set_keepalive(false).expect("keepalive off");
            assert!(!client.keepalive().expect("read keepalive"));
            assert_eq!(client.linger().expect("linger"), None);
            client
                .set_linger(Some(Duration::from_millis(1500)))
                .expect("linger");
            assert_eq!(
                client.linger().expect("linger"),
                Some(Duration::from_secs(2)),
                "rounded up to whole seconds"
            );
            client.set_linger(None).expect("no linger");
            client.set_ttl(42).expect("ttl");
            assert_eq!(client.ttl().expect("ttl"), 42);
            client.set_send_buffer_size(64 * 1024).expect("sndbuf");
            assert!(client.send_buffer_size().expect("sndbuf") >= 64 * 1024);
            client.set_recv_buffer_size(64 * 1024).expect("rcvbuf");
            assert!(client.recv_buffer_size().expect("rcvbuf") >= 64 * 1024);
            client.set_nodelay(true).expect("nodelay");
            assert!(client.nodelay().expect("nodelay"));
            let udp = UdpSocket::bind("127.0.0.1:0").expect("bind udp");
            udp.set_broadcast(true).expect("broadcast");
            assert!(udp.broadcast().expect("broadcast"));
            udp.set_ttl(7).expect("ttl");
            assert_eq!(udp.ttl().expect("ttl"), 7);
        });
    });
}

#[test]
fn a_tcp_stream_leaves_for_std_with_its_bytes_in_order() {
    let _fds = shared_fds();
    for_each_backend(|lp| {
        lp.run_until_complete(async {
            let (client, server) = support::tcp_pair().await;
            let (sent, _) = client.write_all(b"abc".to_vec()).await;
            sent.expect("write");
            let mut std_server = server.into_std();
            std_server.set_nonblocking(false).expect("blocking");
            let mut got = [0u8; 3];
            std_server.read_exact(&mut got).expect("read");
            assert_eq!(&got, b"abc");
            std_server.write_all(b"xyz").expect("write back");
            let (read, buf) = guard("read back", client.read_exact(Vec::with_capacity(3))).await;
            read.expect("read");
            assert_eq!(buf, b"xyz");
            let back = TcpStream::from_std(std_server).expect("from_std");
            assert_eq!(
                back.peer_addr().expect("peer"),
                client.local_addr().expect("local")
            );
        });
    });
}
