//! `read_buffered` (issue 15 item 3): stream reads into the loop's buffers — a multishot
//! receive into the provided-buffer ring on io_uring, readiness into spare buffers on
//! epoll. Every byte arrives once and in order however the reader holds its buffers;
//! end-of-file is an empty buffer; a dropped stream or future leaves nothing in flight,
//! no buffer held and no descriptor open; a reset is `ConnectionReset`; the same under
//! the fault backend. Counts and contents, never timings.

mod support;

use std::io;
use std::time::Duration;

use ringloop::net::{RecvBuf, TcpStream, UnixStream};
use ringloop::{Backend, EventLoop};
use support::{
    exclusive_fds, fd_count, for_each_backend, guard, on_each_backend, pattern, poll_once,
    settle_io, shared_fds, task_panic_message, tcp_pair,
};

/// A loop on `backend` whose ring has `count` buffers of `size` bytes.
fn loop_with_ring(backend: Backend, count: u16, size: u32) -> EventLoop {
    EventLoop::builder()
        .backend(backend)
        .recv_buffers(count, size)
        .build()
        .unwrap_or_else(|e| panic!("building a loop on {backend:?}: {e}"))
}

/// Where a buffer came from, per its `Debug` ("ring", "spare" or "eof").
fn source(buf: &RecvBuf) -> String {
    let debug = format!("{buf:?}");
    let start = debug
        .find("from: \"")
        .expect("RecvBuf's Debug names its source")
        + 7;
    debug[start..].split('"').next().unwrap().to_string()
}

/// FNV-1a, a checksum that notices reordered bytes.
fn checksum(bytes: impl IntoIterator<Item = u8>) -> u64 {
    bytes.into_iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Reads with `read` until end-of-file, dropping each buffer after copying it out;
/// returns the bytes and how many buffers carried them.
async fn drain<F, Fut>(mut read: F) -> io::Result<(Vec<u8>, usize)>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = io::Result<RecvBuf>>,
{
    let mut out = Vec::new();
    let mut reads = 0;
    loop {
        let buf = read().await?;
        if buf.is_empty() {
            return Ok((out, reads));
        }
        reads += 1;
        out.extend_from_slice(&buf);
    }
}

#[test]
fn a_mebibyte_streams_through_exactly_over_tcp_and_unix() {
    let _fds = shared_fds();
    for_each_backend(|lp| {
        lp.run_until_complete(async {
            let data = pattern(1 << 20, 15);
            let expected = checksum(data.iter().copied());

            let (client, server) = tcp_pair().await;
            let sent = data.clone();
            let writer = ringloop::spawn(async move {
                client.write_all(sent).await.0.expect("write");
            });
            let (got, reads) = guard("tcp read_buffered", drain(|| server.read_buffered()))
                .await
                .expect("read");
            writer.await.unwrap();
            assert_eq!(got.len(), data.len());
            assert_eq!(checksum(got.iter().copied()), expected);
            assert!(got == data, "bytes differ");
            assert!(reads > 1, "1 MiB came in {reads} buffer(s)");

            let (a, b) = UnixStream::pair().unwrap();
            let sent = data.clone();
            let writer = ringloop::spawn(async move {
                a.write_all(sent).await.0.expect("write");
            });
            let (got, _) = guard("unix read_buffered", drain(|| b.read_buffered()))
                .await
                .expect("read");
            writer.await.unwrap();
            assert!(got == data, "bytes differ over a Unix stream");
        });
    });
}

#[test]
fn a_read_half_reads_buffered_while_the_write_half_writes() {
    let _fds = shared_fds();
    for_each_backend(|lp| {
        lp.run_until_complete(async {
            let (client, server) = tcp_pair().await;
            let (reader, writer) = server.into_split();
            let echo = ringloop::spawn(async move {
                loop {
                    let buf = reader.read_buffered().await.expect("read");
                    if buf.is_empty() {
                        return;
                    }
                    writer.write_all(buf.to_vec()).await.0.expect("echo");
                }
            });
            let data = pattern(200_000, 3);
            let sent = data.clone();
            let (client_r, client_w) = client.into_split();
            let send = ringloop::spawn(async move {
                client_w.write_all(sent).await.0.expect("write");
            });
            let (res, back) = guard(
                "the echo",
                client_r.read_exact(Vec::with_capacity(data.len())),
            )
            .await;
            res.expect("echoed");
            assert!(back == data, "echo differs");
            send.await.unwrap(); // drops the write half: the echo sees end-of-file
            guard("the echo's end", echo).await.unwrap();
        });
    });
}

#[test]
fn a_received_buffer_is_written_as_it_is_and_a_dropped_write_gives_it_back() {
    let _fds = shared_fds();
    on_each_backend(|backend| {
        let lp = loop_with_ring(backend, 4, 4096);
        lp.run_until_complete(async {
            // An echo that copies nothing: each received buffer is written back whole.
            let (client, server) = tcp_pair().await;
            let echo = ringloop::spawn(async move {
                loop {
                    let buf = server.read_buffered().await.expect("read");
                    if buf.is_empty() {
                        return;
                    }
                    let len = buf.len();
                    let (res, buf) = server.write_all(buf).await;
                    res.expect("echo");
                    assert_eq!(buf.len(), len, "the buffer comes back with the result");
                }
            });
            let data = pattern(300_000, 11);
            let (client_r, client_w) = client.into_split();
            let sent = data.clone();
            let send = ringloop::spawn(async move {
                client_w.write_all(sent).await.0.expect("write");
            });
            let (res, back) = guard(
                "the echo",
                client_r.read_exact(Vec::with_capacity(data.len())),
            )
            .await;
            res.expect("echoed");
            assert!(back == data, "echo differs");
            send.await.unwrap();
            guard("the echo's end", echo).await.unwrap();

            // Writes of received buffers dropped in flight (the peer not reading, so the
            // kernel may still hold them): the driver keeps each buffer until the
            // kernel is done, then gives it back to the ring.
            let (a, b) = UnixStream::pair().unwrap();
            let (c, d) = UnixStream::pair().unwrap();
            a.write_all(vec![5u8; 3000]).await.0.unwrap();
            let mut blocked = 0;
            for _ in 0..1000 {
                if blocked == 8 {
                    break;
                }
                let buf = guard("read", b.read_buffered()).await.unwrap();
                a.write_all(vec![5u8; buf.len()]).await.0.unwrap();
                let mut write = Box::pin(c.write_all(buf));
                if poll_once(&mut write).await.is_pending() {
                    blocked += 1;
                }
                drop(write);
            }
            assert!(blocked > 0, "the unread peer never filled up");
            drop((c, d, a, b));
            settle_io(&lp).await;
            let stats = lp.stats();
            assert_eq!(stats.buffers_held, 0, "{stats:?}");
            // All four ring buffers are back.
            let (a, b) = UnixStream::pair().unwrap();
            a.write_all(vec![6u8; 4 * 4096]).await.0.unwrap();
            let mut held = Vec::new();
            let mut got = 0;
            while got < 4 * 4096 {
                let buf = guard("read", b.read_buffered()).await.unwrap();
                got += buf.len();
                held.push(buf);
            }
            if backend == Backend::IoUring {
                let ring = held.iter().take(4).filter(|b| source(b) == "ring").count();
                assert_eq!(ring, 4, "{held:?}");
            }
        });
    });
}

#[test]
fn end_of_file_is_an_empty_buffer_every_time_after() {
    let _fds = shared_fds();
    for_each_backend(|lp| {
        lp.run_until_complete(async {
            let (a, b) = UnixStream::pair().unwrap();
            a.write_all(b"last").await.0.unwrap();
            drop(a);
            let first = guard("data", b.read_buffered()).await.unwrap();
            assert_eq!(&first[..], b"last");
            for _ in 0..3 {
                let eof = guard("end-of-file", b.read_buffered()).await.unwrap();
                assert!(eof.is_empty(), "after end-of-file: {eof:?}");
            }
        });
    });
}

#[test]
fn a_reader_holding_every_buffer_loses_nothing() {
    let _fds = shared_fds();
    on_each_backend(|backend| {
        // Four ring buffers of 4 KiB; the reader holds all 256 KiB before looking.
        let lp = loop_with_ring(backend, 4, 4096);
        lp.run_until_complete(async {
            let data = pattern(256 * 1024, 7);
            let (client, server) = tcp_pair().await;
            let sent = data.clone();
            let writer = ringloop::spawn(async move {
                client.write_all(sent).await.0.expect("write");
            });
            let mut held = Vec::new();
            loop {
                let buf = guard("a read with the ring dry", server.read_buffered())
                    .await
                    .expect("read");
                if buf.is_empty() {
                    break;
                }
                held.push(buf);
            }
            writer.await.unwrap();
            let got: Vec<u8> = held.iter().flat_map(|b| b.iter().copied()).collect();
            assert!(got == data, "bytes lost or reordered");
            let ring = held.iter().filter(|b| source(b) == "ring").count();
            let spare = held.iter().filter(|b| source(b) == "spare").count();
            if backend == Backend::IoUring {
                // The ring gave what it had, and the reads went on without it.
                assert_eq!(ring, 4, "{held:?}");
                assert!(spare > 0, "{held:?}");
            } else {
                assert_eq!((ring, spare), (0, held.len()));
            }
            // Given back, the ring's buffers serve the next stream.
            drop(held);
            let (a, b) = UnixStream::pair().unwrap();
            a.write_all(b"again").await.0.unwrap();
            let buf = guard("a read after the buffers came back", b.read_buffered())
                .await
                .unwrap();
            assert_eq!(&buf[..], b"again");
            let expected = if backend == Backend::IoUring {
                "ring"
            } else {
                "spare"
            };
            assert_eq!(source(&buf), expected);
        });
    });
}

#[test]
fn dropped_streams_and_futures_leave_nothing_behind() {
    let _fds = exclusive_fds();
    let before = fd_count();
    on_each_backend(|backend| {
        let lp = loop_with_ring(backend, 4, 4096);
        lp.run_until_complete(async {
            // A stream dropped with the multishot armed and buffers received but not
            // handed out, while the reader still holds one.
            let (client, server) = tcp_pair().await;
            client.write_all(vec![1u8; 1000]).await.0.unwrap();
            let held = guard("first read", server.read_buffered()).await.unwrap();
            client.write_all(vec![2u8; 3 * 4096]).await.0.unwrap();
            // Let the kernel receive into the ring meanwhile.
            support::yield_times(8).await;
            drop(server);
            assert!(held.iter().all(|&x| x == 1));
            drop(held);
            // A stream dropped while a read_buffered was waiting on it.
            let (client2, server2) = tcp_pair().await;
            let mut pending = Box::pin(server2.read_buffered());
            assert!(poll_once(&mut pending).await.is_pending());
            drop(pending);
            drop(server2);
            // The peers stay open (no end-of-file ends the multishots): only the
            // streams' own drops can have ended them.
            settle_io(&lp).await;
            let stats = lp.stats();
            assert_eq!(stats.ops_in_flight, 0, "{stats:?}");
            assert_eq!(stats.buffers_held, 0, "{stats:?}");
            drop((client, client2));
            // Every ring buffer came back: a fresh reader gets four of them in a row.
            let (a, b) = UnixStream::pair().unwrap();
            a.write_all(vec![3u8; 4 * 4096]).await.0.unwrap();
            let mut got = Vec::new();
            let mut held = Vec::new();
            while got.len() < 4 * 4096 {
                let buf = guard("a read on a fresh stream", b.read_buffered())
                    .await
                    .unwrap();
                got.extend_from_slice(&buf);
                held.push(buf);
            }
            let ring = held.iter().take(4).filter(|b| source(b) == "ring").count();
            if backend == Backend::IoUring {
                assert_eq!(ring, 4, "a ring buffer was not given back: {held:?}");
            }
            drop((a, b, held));
            settle_io(&lp).await;
        });
        drop(lp);
    });
    assert_eq!(fd_count(), before, "descriptors leaked");
}

#[test]
fn a_dropped_read_buffered_future_loses_no_bytes() {
    let _fds = shared_fds();
    for_each_backend(|lp| {
        lp.run_until_complete(async {
            let (a, b) = UnixStream::pair().unwrap();
            let mut expected = Vec::new();
            let mut got = Vec::new();
            for round in 0..50u8 {
                // Dropped after one poll, or cut short by a timeout, perhaps with data
                // on its way or already received.
                let mut read = Box::pin(b.read_buffered());
                if let std::task::Poll::Ready(buf) = poll_once(&mut read).await {
                    got.extend_from_slice(&buf.unwrap());
                    continue;
                }
                if round % 2 == 0 {
                    let chunk = vec![round; 100 + usize::from(round)];
                    a.write_all(chunk.clone()).await.0.unwrap();
                    expected.extend_from_slice(&chunk);
                }
                if round % 3 == 0 {
                    drop(read);
                } else if let Ok(buf) = ringloop::timeout(Duration::from_micros(1), read).await {
                    got.extend_from_slice(&buf.unwrap());
                }
            }
            drop(a);
            let (rest, _) = guard("the rest", drain(|| b.read_buffered()))
                .await
                .unwrap();
            got.extend_from_slice(&rest);
            assert!(got == expected, "bytes lost or reordered");
        });
    });
}

#[test]
fn a_buffer_may_outlive_its_stream_and_its_loop() {
    let _fds = shared_fds();
    on_each_backend(|backend| {
        let lp = support::new_loop(backend);
        let buf = lp.run_until_complete(async {
            let (a, b) = UnixStream::pair().unwrap();
            a.write_all(b"kept").await.0.unwrap();
            guard("read", b.read_buffered()).await.unwrap()
        });
        drop(lp);
        assert_eq!(&buf[..], b"kept");
        drop(buf);
    });
}

#[test]
fn a_stream_reads_buffered_on_a_later_loop_once_the_first_closed() {
    let _fds = shared_fds();
    on_each_backend(|backend| {
        let (a, b) = UnixStream::pair().unwrap();
        let first = support::new_loop(backend);
        first.run_until_complete(async {
            a.write_all(b"one").await.0.unwrap();
            let buf = guard("read on the first loop", b.read_buffered())
                .await
                .unwrap();
            assert_eq!(&buf[..], b"one");
        });
        if backend == Backend::IoUring {
            // While the first loop is open (its multishot armed on the stream), another
            // loop may not read the stream this way.
            let second = support::new_loop(backend);
            let refused = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                second.run_until_complete(async {
                    let _ = b.read_buffered().await;
                })
            }));
            let msg = support::panic_message(&*refused.expect_err("another open loop"));
            assert!(msg.contains("another event loop"), "{msg}");
        }
        drop(first);
        let third = support::new_loop(backend);
        third.run_until_complete(async {
            a.write_all(b"two").await.0.unwrap();
            let buf = guard("read on a later loop", b.read_buffered())
                .await
                .unwrap();
            assert_eq!(&buf[..], b"two");
        });
    });
}

#[test]
fn a_reset_peer_is_connection_reset() {
    let _fds = shared_fds();
    for_each_backend(|lp| {
        let peer = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = peer.local_addr().unwrap();
        let (armed_tx, armed_rx) = std::sync::mpsc::channel::<()>();
        let peer_thread = std::thread::spawn(move || {
            let (conn, _) = peer.accept().unwrap();
            let mut one = [0u8; 1];
            assert_eq!(conn.peek(&mut one).unwrap(), 1);
            armed_rx.recv().unwrap();
            // Closed with unread bytes: the kernel answers with a reset.
            drop(conn);
        });
        lp.run_until_complete(async move {
            let client = TcpStream::connect(addr).await.expect("connect");
            client.write_all(b"unread".to_vec()).await.0.unwrap();
            // The read is waiting (the multishot armed on io_uring) when the reset comes.
            let mut read = Box::pin(client.read_buffered());
            assert!(poll_once(&mut read).await.is_pending());
            armed_tx.send(()).unwrap();
            let err = guard("a read on a reset connection", read)
                .await
                .expect_err("a reset connection cannot read Ok");
            assert_eq!(err.kind(), io::ErrorKind::ConnectionReset, "{err:?}");
        });
        peer_thread.join().unwrap();
    });
}

#[test]
fn a_plain_read_after_read_buffered_panics_saying_why() {
    let _fds = shared_fds();
    for_each_backend(|lp| {
        lp.run_until_complete(async {
            let (a, b) = UnixStream::pair().unwrap();
            a.write_all(b"xy").await.0.unwrap();
            let b = std::rc::Rc::new(b);
            let first = guard("read", b.read_buffered()).await.unwrap();
            assert!(!first.is_empty());
            let reader = b.clone();
            let task = ringloop::spawn(async move {
                let _ = reader.read(Vec::with_capacity(8)).await;
            });
            let msg = task_panic_message(task.await.expect_err("a plain read must panic"));
            assert!(
                msg.contains("keep reading this stream with read_buffered"),
                "{msg}"
            );
            // Two readers waiting at once: the second is refused.
            let mut waiting = Box::pin(b.read_buffered());
            assert!(poll_once(&mut waiting).await.is_pending());
            let reader = b.clone();
            let task = ringloop::spawn(async move {
                let _ = reader.read_buffered().await;
            });
            let msg = task_panic_message(task.await.expect_err("a second reader must panic"));
            assert!(msg.contains("one task at a time"), "{msg}");
            // The first reader is unharmed.
            a.write_all(b"z").await.0.unwrap();
            let buf = guard("the first reader", waiting).await.unwrap();
            assert_eq!(&buf[..], b"z");
        });
    });
}

#[test]
fn a_poll_style_read_after_read_buffered_panics_too() {
    let _fds = shared_fds();
    for_each_backend(|lp| {
        lp.run_until_complete(async {
            let (a, mut b) = UnixStream::pair().unwrap();
            a.write_all(b"ab").await.0.unwrap();
            let task = ringloop::spawn(async move {
                let first = b.read_buffered().await.expect("read");
                assert!(!first.is_empty());
                let mut buf = [0u8; 8];
                let _ = tokio::io::AsyncReadExt::read(&mut b, &mut buf).await;
            });
            let msg = task_panic_message(task.await.expect_err("AsyncRead must panic"));
            assert!(
                msg.contains("keep reading this stream with read_buffered"),
                "{msg}"
            );
        });
    });
}

#[cfg(feature = "fault-injection")]
mod under_faults {
    use super::*;
    use ringloop::FaultPlan;

    #[test]
    fn byte_exact_and_nothing_left_under_chaos() {
        let _fds = exclusive_fds();
        let before = fd_count();
        on_each_backend(|backend| {
            for seed in [1u64, 0x5eed_cafe, 0xdead_beef_0bad_f00d] {
                let lp = EventLoop::builder()
                    .backend(backend)
                    .recv_buffers(8, 4096)
                    .fault_injection(seed, FaultPlan::chaos())
                    .build()
                    .unwrap();
                lp.run_until_complete(async {
                    let data = pattern(256 * 1024, seed);
                    let (client, server) = tcp_pair().await;
                    let sent = data.clone();
                    let writer = ringloop::spawn(async move {
                        client.write_all(sent).await.0.expect("write");
                    });
                    // Every fourth buffer is held to the end: the ring runs dry too.
                    let mut got = Vec::new();
                    let mut held = Vec::new();
                    let mut reads = 0;
                    loop {
                        let buf = guard("read_buffered under chaos", server.read_buffered())
                            .await
                            .unwrap_or_else(|e| panic!("{backend:?} seed {seed:#x}: {e}"));
                        if buf.is_empty() {
                            break;
                        }
                        got.extend_from_slice(&buf);
                        reads += 1;
                        if reads % 4 == 0 {
                            held.push(buf);
                        }
                    }
                    writer.await.unwrap();
                    assert!(got == data, "{backend:?} seed {seed:#x}: bytes differ");
                    // A stream dropped with its multishot armed and data on its way.
                    let (client, server) = tcp_pair().await;
                    client.write_all(vec![9u8; 20_000]).await.0.unwrap();
                    let first = guard("read", server.read_buffered()).await.unwrap();
                    assert!(!first.is_empty() && first.iter().all(|&x| x == 9));
                    drop((server, client, held, first));
                    settle_io(&lp).await;
                    let stats = lp.stats();
                    assert_eq!(stats.ops_in_flight, 0, "{backend:?} seed {seed:#x}");
                    assert_eq!(stats.buffers_held, 0, "{backend:?} seed {seed:#x}");
                });
            }
        });
        assert_eq!(fd_count(), before, "descriptors leaked");
    }
}
