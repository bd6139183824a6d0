//! The ecosystem's poll-style I/O traits on ringloop streams (features `tokio-io` and
//! `futures-io`): echo through tokio's and futures' extension traits, vectored writes,
//! half-close, a tokio-util codec, a large transfer with back-pressure, polls abandoned
//! mid-wait, and descriptor accounting. Every test runs on io_uring and epoll.

mod support;

use std::io::IoSlice;
use std::rc::Rc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use ringloop::net::{TcpListener, TcpStream, UnixStream};
use support::{exclusive_fds, fd_count, for_each_backend, guard, shared_fds};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::codec::{Framed, LinesCodec};

/// A TCP pair on loopback: (client, server).
async fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address");
    let accept = ringloop::spawn(async move { listener.accept().await });
    let client = TcpStream::connect(addr).await.expect("connect");
    let (server, _) = accept.await.expect("accept task").expect("accept");
    (client, server)
}

#[test]
fn tokio_io_echo_round_trips_over_tcp() {
    let _fds = shared_fds();
    for_each_backend(|lp| {
        lp.run_until_complete(async {
            let (mut client, mut server) = tcp_pair().await;
            let echo = ringloop::spawn(async move {
                let mut buf = vec![0u8; 1024];
                loop {
                    let n = AsyncReadExt::read(&mut server, &mut buf)
                        .await
                        .expect("server read");
                    if n == 0 {
                        return;
                    }
                    AsyncWriteExt::write_all(&mut server, &buf[..n])
                        .await
                        .expect("server write");
                }
            });
            for i in 0..100u32 {
                let message = format!("message {i}");
                AsyncWriteExt::write_all(&mut client, message.as_bytes())
                    .await
                    .expect("write");
                let mut back = vec![0u8; message.len()];
                guard("an echo", AsyncReadExt::read_exact(&mut client, &mut back))
                    .await
                    .expect("read");
                assert_eq!(back, message.as_bytes());
            }
            AsyncWriteExt::shutdown(&mut client)
                .await
                .expect("half-close");
            guard("the echo task", echo).await.expect("echo task");
            let mut rest = Vec::new();
            AsyncReadExt::read_to_end(&mut client, &mut rest)
                .await
                .expect("read to end");
            assert!(
                rest.is_empty(),
                "the server closed after echoing everything"
            );
        });
    });
}

#[test]
fn vectored_writes_send_every_slice_in_order() {
    let _fds = shared_fds();
    for_each_backend(|lp| {
        lp.run_until_complete(async {
            let (mut a, mut b) = UnixStream::pair().expect("socketpair");
            assert!(tokio::io::AsyncWrite::is_write_vectored(&a));
            let slices = [
                IoSlice::new(b"one "),
                IoSlice::new(b""),
                IoSlice::new(b"two "),
                IoSlice::new(b"three"),
            ];
            let mut sent = 0;
            while sent < 13 {
                // A short vectored write is legal: send the rest plainly.
                let n = AsyncWriteExt::write_vectored(&mut a, &slices)
                    .await
                    .expect("writev");
                assert!(n > 0);
                sent += n;
                if sent < 13 {
                    let all = b"one two three";
                    AsyncWriteExt::write_all(&mut a, &all[sent..])
                        .await
                        .expect("rest");
                    sent = 13;
                }
            }
            let mut got = [0u8; 13];
            guard(
                "reading the slices",
                AsyncReadExt::read_exact(&mut b, &mut got),
            )
            .await
            .expect("read");
            assert_eq!(&got, b"one two three");
        });
    });
}

#[test]
fn a_tokio_util_line_codec_runs_over_a_ringloop_stream() {
    let _fds = shared_fds();
    for_each_backend(|lp| {
        lp.run_until_complete(async {
            let (a, b) = UnixStream::pair().expect("socketpair");
            let server = ringloop::spawn(async move {
                let mut lines = Framed::new(b, LinesCodec::new());
                while let Some(line) = lines.next().await {
                    let line = line.expect("a line");
                    lines.send(line.to_uppercase()).await.expect("send a line");
                }
            });
            let mut client = Framed::new(a, LinesCodec::new());
            for word in ["alpha", "beta", "gamma"] {
                client.send(word.to_string()).await.expect("send");
                let answer = guard("an answer", client.next()).await;
                assert_eq!(answer.expect("open").expect("a line"), word.to_uppercase());
            }
            drop(client);
            guard("the codec server", server)
                .await
                .expect("server task");
        });
    });
}

#[test]
fn futures_io_traits_echo_over_a_unix_pair() {
    let _fds = shared_fds();
    for_each_backend(|lp| {
        lp.run_until_complete(async {
            let (mut a, mut b) = UnixStream::pair().expect("socketpair");
            let echo = ringloop::spawn(async move {
                let mut buf = [0u8; 256];
                loop {
                    let n = futures_util::io::AsyncReadExt::read(&mut b, &mut buf)
                        .await
                        .expect("read");
                    if n == 0 {
                        return;
                    }
                    futures_util::io::AsyncWriteExt::write_all(&mut b, &buf[..n])
                        .await
                        .expect("write");
                }
            });
            futures_util::io::AsyncWriteExt::write_all(&mut a, b"ping pong")
                .await
                .expect("write");
            let mut back = [0u8; 9];
            guard(
                "the echo",
                futures_util::io::AsyncReadExt::read_exact(&mut a, &mut back),
            )
            .await
            .expect("read");
            assert_eq!(&back, b"ping pong");
            futures_util::io::AsyncWriteExt::close(&mut a)
                .await
                .expect("close (half-close)");
            guard("the echo task", echo).await.expect("echo task");
        });
    });
}

#[test]
fn a_large_transfer_waits_for_room_and_arrives_whole() {
    let _fds = shared_fds();
    for_each_backend(|lp| {
        lp.run_until_complete(async {
            let (mut client, mut server) = tcp_pair().await;
            const LEN: usize = 8 << 20;
            let data: Rc<Vec<u8>> = Rc::new((0..LEN).map(|i| (i % 251) as u8).collect());
            let sent = data.clone();
            // The writer outruns the reader: its writes must wait for room, not fail.
            let writer = ringloop::spawn(async move {
                AsyncWriteExt::write_all(&mut client, &sent)
                    .await
                    .expect("write 8 MiB");
                AsyncWriteExt::shutdown(&mut client)
                    .await
                    .expect("half-close");
            });
            let mut got = Vec::with_capacity(LEN);
            guard(
                "reading 8 MiB",
                AsyncReadExt::read_to_end(&mut server, &mut got),
            )
            .await
            .expect("read");
            assert_eq!(got.len(), LEN);
            assert!(got == *data, "the bytes arrived changed");
            guard("the writer", writer).await.expect("writer task");
        });
    });
}

#[test]
fn a_read_abandoned_mid_wait_leaves_the_stream_usable_and_nothing_in_flight() {
    let _fds = exclusive_fds();
    let before = fd_count();
    for_each_backend(|lp| {
        lp.run_until_complete(async {
            let (mut a, mut b) = UnixStream::pair().expect("socketpair");
            let mut buf = [0u8; 16];
            // Nothing to read: the read waits for readiness, then is given up.
            let waited = ringloop::timeout(
                Duration::from_millis(10),
                AsyncReadExt::read(&mut a, &mut buf),
            )
            .await;
            assert!(waited.is_err(), "nothing was written");
            AsyncWriteExt::write_all(&mut b, b"late")
                .await
                .expect("write");
            let n = guard("the next read", AsyncReadExt::read(&mut a, &mut buf))
                .await
                .expect("read");
            assert_eq!(&buf[..n], b"late");
            // And a wait still pending when the stream is dropped.
            let waiting = ringloop::spawn(async move {
                let mut buf = [0u8; 16];
                let _ = AsyncReadExt::read(&mut a, &mut buf).await;
            });
            ringloop::sleep(Duration::from_millis(5)).await;
            waiting.cancel();
            let _ = waiting.await;
        });
        // Let the loop settle the cancelled wait and the closes.
        lp.run_until_complete(ringloop::sleep(Duration::from_millis(5)));
        let stats = lp.stats();
        assert_eq!(
            stats.ops_in_flight,
            0,
            "{:?}: a wait left in flight",
            lp.backend()
        );
    });
    assert_eq!(fd_count(), before, "descriptors leaked");
}

#[test]
fn split_halves_read_and_write_from_two_tasks() {
    let _fds = shared_fds();
    for_each_backend(|lp| {
        lp.run_until_complete(async {
            let (client, mut server) = tcp_pair().await;
            let (mut read, mut write) = client.into_split();
            let reader = ringloop::spawn(async move {
                let mut got = Vec::new();
                AsyncReadExt::read_to_end(&mut read, &mut got)
                    .await
                    .expect("read half");
                got
            });
            AsyncWriteExt::write_all(&mut write, b"through the write half")
                .await
                .expect("write half");
            drop(write); // shuts the write direction down
            let mut at_server = Vec::new();
            guard(
                "server read",
                AsyncReadExt::read_to_end(&mut server, &mut at_server),
            )
            .await
            .expect("server read");
            assert_eq!(at_server, b"through the write half");
            AsyncWriteExt::write_all(&mut server, b"and back")
                .await
                .expect("server write");
            drop(server);
            let got = guard("the read half", reader).await.expect("reader");
            assert_eq!(got, b"and back");
        });
    });
}

/// After a short read (the socket emptied), the next poll on io_uring arms the readiness
/// wait without trying the syscall first; data that arrived meanwhile, more data later,
/// and end of file must all still be seen. The same on epoll, which always tries first.
#[test]
fn reads_after_a_short_read_see_data_that_arrived_meanwhile_and_end_of_file() {
    for_each_backend(|lp| {
        lp.run_until_complete(async {
            let (mut a, mut b) = UnixStream::pair().unwrap();
            let mut buf = [0u8; 4096];
            for round in 0..50u8 {
                // One byte: a short read of a 4 KiB buffer.
                AsyncWriteExt::write_all(&mut a, &[round]).await.unwrap();
                let n = guard("a short read", AsyncReadExt::read(&mut b, &mut buf)).await;
                assert_eq!((n.unwrap(), buf[0]), (1, round));
                // Data already there when the next read starts.
                AsyncWriteExt::write_all(&mut a, &[round, round])
                    .await
                    .unwrap();
                let n = guard(
                    "data that came meanwhile",
                    AsyncReadExt::read(&mut b, &mut buf),
                )
                .await;
                assert_eq!(&buf[..n.unwrap()], &[round, round]);
            }
            // Data that comes while the read waits.
            let writer = ringloop::spawn(async move {
                ringloop::sleep(Duration::from_millis(2)).await;
                AsyncWriteExt::write_all(&mut a, b"late").await.unwrap();
                a
            });
            let n = guard(
                "data that comes later",
                AsyncReadExt::read(&mut b, &mut buf),
            )
            .await;
            assert_eq!(&buf[..n.unwrap()], b"late");
            drop(writer.await.unwrap());
            let n = guard("end of file", AsyncReadExt::read(&mut b, &mut buf)).await;
            assert_eq!(n.unwrap(), 0);
        });
    });
}
