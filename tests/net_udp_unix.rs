//! UDP and Unix-domain sockets on the ring (issue 3): echo over each, datagram
//! truncation, Unix listeners on a path, pairs, and split halves. Every test runs on
//! each backend.

mod support;

use std::net::Shutdown;
use std::path::PathBuf;

use ringloop::net::{IoBuf, UdpSocket, UnixListener, UnixStream};
use support::{for_each_backend, guard};

/// A socket path unique to this process and test, removed when dropped.
struct TempPath(PathBuf);

impl TempPath {
    fn new(name: &str) -> TempPath {
        let path =
            std::env::temp_dir().join(format!("ringloop-{}-{name}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        TempPath(path)
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn udp_echo_with_send_to_and_recv_from() {
    for_each_backend(|lp| {
        lp.run_until_complete(async {
            let server = UdpSocket::bind("127.0.0.1:0").unwrap();
            let server_addr = server.local_addr().unwrap();
            let echo = ringloop::spawn(async move {
                for _ in 0..3 {
                    let (res, buf) = server.recv_from(Vec::with_capacity(1500)).await;
                    let (n, from) = res.expect("recv_from");
                    assert_eq!(buf.len(), n);
                    let (res, _) = server.send_to(buf, from).await;
                    assert_eq!(res.expect("send_to"), n);
                }
            });
            let client = UdpSocket::bind("127.0.0.1:0").unwrap();
            for msg in [&b"one"[..], b"two two", b""] {
                let (res, _) = client.send_to(msg.to_vec(), server_addr).await;
                assert_eq!(res.unwrap(), msg.len());
                let (res, buf) = guard("echo", client.recv_from(Vec::with_capacity(1500))).await;
                let (n, from) = res.unwrap();
                assert_eq!(from, server_addr);
                assert_eq!(&buf[..n], msg);
            }
            echo.await.expect("echo task");
        });
    });
}

#[test]
fn udp_echo_with_connected_send_and_recv() {
    for_each_backend(|lp| {
        lp.run_until_complete(async {
            let a = UdpSocket::bind("127.0.0.1:0").unwrap();
            let b = UdpSocket::bind("127.0.0.1:0").unwrap();
            a.connect(b.local_addr().unwrap()).unwrap();
            b.connect(a.local_addr().unwrap()).unwrap();
            assert_eq!(a.peer_addr().unwrap(), b.local_addr().unwrap());

            let (res, _) = a.send(b"ping".to_vec()).await;
            assert_eq!(res.unwrap(), 4);
            let (res, buf) = guard("recv", b.recv(Vec::with_capacity(64))).await;
            assert_eq!(&buf[..res.unwrap()], b"ping");
            let (res, _) = b.send(b"pong".to_vec()).await;
            res.unwrap();
            let (res, buf) = guard("recv", a.recv(vec![0u8; 64].into_boxed_slice())).await;
            assert_eq!(&buf[..res.unwrap()], b"pong");

            // A connected socket takes only its peer's datagrams.
            let stranger = UdpSocket::bind("127.0.0.1:0").unwrap();
            let (res, _) = stranger
                .send_to(b"not for you".to_vec(), a.local_addr().unwrap())
                .await;
            res.unwrap();
            let (res, _) = b.send(b"from b".to_vec()).await;
            res.unwrap();
            let (res, buf) = guard("recv", a.recv(Vec::with_capacity(64))).await;
            assert_eq!(&buf[..res.unwrap()], b"from b");
        });
    });
}

#[test]
fn datagrams_are_truncated_to_the_buffer_capacity() {
    for_each_backend(|lp| {
        lp.run_until_complete(async {
            let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
            let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
            let to = rx.local_addr().unwrap();
            let long: Vec<u8> = (0..100u8).collect();
            for _ in 0..2 {
                let (res, _) = tx.send_to(long.clone(), to).await;
                assert_eq!(res.unwrap(), 100);
            }
            let (res, _) = tx.send_to(b"next".to_vec(), to).await;
            res.unwrap();

            // recvmsg into 10 bytes: the first 10 arrive, the rest of the datagram is gone.
            let (res, buf) = guard("recv_from", rx.recv_from(Vec::with_capacity(10))).await;
            let (n, from) = res.unwrap();
            assert_eq!(from, tx.local_addr().unwrap());
            assert_eq!(n, 10);
            assert_eq!(buf, &long[..10]);
            assert_eq!(
                buf.capacity(),
                10,
                "the buffer never grows past its capacity"
            );

            // A slice view truncates the same way (recv on a connected socket).
            rx.connect(tx.local_addr().unwrap()).unwrap();
            let (res, slice) = guard("recv", rx.recv(vec![0u8; 32].slice(4..9))).await;
            assert_eq!(res.unwrap(), 5);
            assert_eq!(&slice.into_inner()[..10], &[0, 0, 0, 0, 0, 1, 2, 3, 4, 0]);

            // The next datagram is whole: truncation discarded only the long ones' tails.
            let (res, buf) = guard("recv", rx.recv(Vec::with_capacity(64))).await;
            assert_eq!(&buf[..res.unwrap()], b"next");
        });
    });
}

async fn echo_once(stream: UnixStream) {
    let mut buf = Vec::with_capacity(256);
    loop {
        buf.clear();
        let (res, b) = stream.read(buf).await;
        let n = res.expect("server read");
        if n == 0 {
            return;
        }
        let (res, b) = stream.write_all(b).await;
        res.expect("server write");
        buf = b;
    }
}

#[test]
fn unix_echo_through_a_path() {
    for_each_backend(|lp| {
        let path = TempPath::new("echo");
        lp.run_until_complete(async {
            let listener = UnixListener::bind(&path.0).expect("bind the socket path");
            assert_eq!(
                listener.local_addr().unwrap().as_pathname(),
                Some(path.0.as_path())
            );
            let server = ringloop::spawn(async move {
                // Two clients, one after the other.
                for _ in 0..2 {
                    let stream = listener.accept().await.expect("accept");
                    echo_once(stream).await;
                }
            });
            for msg in ["first client", "second client"] {
                let client = UnixStream::connect(&path.0).await.expect("connect");
                let (res, _) = client.write_all(msg.as_bytes().to_vec()).await;
                res.unwrap();
                client.shutdown(Shutdown::Write).await.unwrap();
                let (res, buf) = guard(
                    "echo",
                    client.read_exact(Vec::with_capacity(msg.len()).slice(..msg.len())),
                )
                .await;
                res.expect("echo");
                assert_eq!(buf.into_inner(), msg.as_bytes());
                let (res, _) = client.read(Vec::with_capacity(8)).await;
                assert_eq!(res.unwrap(), 0, "EOF after the echo");
            }
            guard("server", server).await.expect("server task");
        });
    });
}

#[test]
fn unix_connect_to_a_missing_path_fails() {
    for_each_backend(|lp| {
        let path = TempPath::new("missing");
        lp.run_until_complete(async {
            let err = UnixStream::connect(&path.0)
                .await
                .expect_err("nobody listens there");
            assert_eq!(err.kind(), std::io::ErrorKind::NotFound, "{err:?}");
        });
    });
}

#[test]
fn unix_echo_through_a_pair() {
    for_each_backend(|lp| {
        lp.run_until_complete(async {
            let (a, b) = UnixStream::pair().unwrap();
            let server = ringloop::spawn(echo_once(b));
            let mut expected = Vec::new();
            for i in 0..50u32 {
                let msg = format!("message {i}\n").into_bytes();
                expected.extend_from_slice(&msg);
                let (res, _) = a.write_all(msg).await;
                res.unwrap();
            }
            a.shutdown(Shutdown::Write).await.unwrap();
            let mut got = Vec::new();
            loop {
                let (res, buf) = guard("echo", a.read(Vec::with_capacity(100))).await;
                match res.unwrap() {
                    0 => break,
                    n => got.extend_from_slice(&buf[..n]),
                }
            }
            assert_eq!(got, expected);
            server.await.expect("server task");
        });
    });
}

#[test]
fn unix_split_halves_work_from_two_tasks() {
    for_each_backend(|lp| {
        const ROUNDS: u32 = 100;
        lp.run_until_complete(async {
            let (a, b) = UnixStream::pair().unwrap();
            let server = ringloop::spawn(echo_once(b));
            let (reader, writer) = a.into_split();
            let writing = ringloop::spawn(async move {
                for i in 0..ROUNDS {
                    let (res, _) = writer.write_all(i.to_be_bytes().to_vec()).await;
                    res.expect("write half");
                    if i % 5 == 0 {
                        ringloop::yield_now().await;
                    }
                }
                // Dropping the write half shuts it down: the echo server sees EOF.
            });
            let reading = ringloop::spawn(async move {
                let mut got = Vec::new();
                for _ in 0..ROUNDS {
                    let (res, buf) = reader.read_exact(vec![0u8; 4]).await;
                    res.expect("read half");
                    got.push(u32::from_be_bytes(buf[..].try_into().unwrap()));
                }
                // Then EOF, once the server saw ours and closed.
                let (res, _) = reader.read(Vec::with_capacity(4)).await;
                assert_eq!(res.unwrap(), 0);
                got
            });
            writing.await.expect("writer task");
            let got = guard("reader", reading).await.expect("reader task");
            assert_eq!(got, (0..ROUNDS).collect::<Vec<_>>());
            server.await.expect("server task");
        });
    });
}
