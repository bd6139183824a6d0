//! Zero-copy sends (`Builder::send_zc`): TCP writes at or above the threshold go out as
//! `IORING_OP_SEND_ZC` on io_uring (two completions: the result, then the kernel's
//! notification that it let go of the buffer) and as plain sends on epoll. Every byte
//! arrives in order whatever the sizes; a write dropped in flight leaks nothing and the
//! loop closes; under injected faults (short sends, delays, reordering) the bytes still
//! arrive whole. Unix sockets, which refuse zero-copy sends, keep copying.

mod support;

use std::time::Duration;

use ringloop::net::{TcpListener, TcpStream, UnixStream};
use ringloop::{Backend, EventLoop};
use support::{backends, exclusive_fds, fd_count, guard, pattern, shared_fds};

/// A loop on `backend` that sends every TCP write of `min` bytes or more zero-copy.
fn zc_loop(backend: Backend, min: usize) -> EventLoop {
    EventLoop::builder()
        .backend(backend)
        .send_zc(Some(min))
        .build()
        .unwrap_or_else(|e| panic!("a loop on {backend:?}: {e}"))
}

/// A connected TCP pair on the running loop.
async fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("local_addr");
    let client = TcpStream::connect(addr).await.expect("connect");
    let (server, _) = listener.accept().await.expect("accept");
    (client, server)
}

/// Writes of every size, small ones copied and large ones zero-copy, interleaved:
/// the reader sees exactly the bytes written, in order, on both backends.
#[test]
fn zero_copy_writes_arrive_whole_and_in_order() {
    let _fds = shared_fds();
    for backend in backends() {
        let lp = zc_loop(backend, 64 * 1024);
        let sizes = [1usize, 70_000, 1000, 300 * 1024, 65_536, 1 << 20, 17];
        let total: usize = sizes.iter().sum();
        let data = pattern(total, 7);
        let back = lp.run_until_complete(guard("zero-copy writes", async {
            let (client, server) = tcp_pair().await;
            let reader = ringloop::spawn(async move {
                let (res, buf) = server.read_exact(vec![0u8; total]).await;
                res.expect("read_exact");
                buf
            });
            let mut at = 0;
            for (i, &size) in sizes.iter().enumerate() {
                let chunk = data[at..at + size].to_vec();
                if i % 2 == 0 {
                    let (res, _) = client.write_all(chunk).await;
                    res.expect("write_all");
                } else {
                    // One `write`, then the rest: a short zero-copy send goes on from
                    // where it stopped.
                    let (n, chunk) = client.write(chunk).await;
                    let n = n.expect("write");
                    let (res, _) = client.write_all(chunk[n..].to_vec()).await;
                    res.expect("write_all of the rest");
                }
                at += size;
            }
            reader.await.expect("reader")
        }));
        assert_eq!(back.len(), data.len(), "{backend:?}");
        assert!(back == data, "{backend:?}: the bytes differ");
    }
}

/// A zero-copy write dropped while the kernel holds its buffer (the peer reads
/// nothing, so the write waits): the buffer stays with the loop until the kernel lets
/// go, the stream and the loop close, and no descriptor is left behind.
#[test]
fn a_dropped_zero_copy_write_leaks_nothing() {
    let _fds = exclusive_fds();
    let before = fd_count();
    for backend in backends() {
        let lp = zc_loop(backend, 1024);
        lp.run_until_complete(guard("a dropped zero-copy write", async {
            let (client, server) = tcp_pair().await;
            // Far more than the socket buffers hold: the write cannot finish.
            let big = vec![3u8; 64 << 20];
            let written = ringloop::timeout(Duration::from_millis(50), client.write_all(big)).await;
            assert!(
                written.is_err(),
                "{backend:?}: 64 MiB fit in the socket buffers"
            );
            // The peer still gets a consistent prefix, then the end.
            drop(client);
            let (res, buf) = server.read(vec![0u8; 4096]).await;
            let n = res.expect("read after the dropped write");
            assert!(buf[..n].iter().all(|&b| b == 3), "{backend:?}");
        }));
        drop(lp);
    }
    assert_eq!(fd_count(), before, "descriptors leaked");
}

/// Under injected faults (short sends, delays, reordered and failed turns) zero-copy
/// writes still deliver every byte in order.
#[cfg(feature = "fault-injection")]
#[test]
fn zero_copy_writes_survive_injected_faults() {
    let _fds = shared_fds();
    for seed in 1..=3u64 {
        let lp = EventLoop::builder()
            .backend(Backend::IoUring)
            .send_zc(Some(1))
            .fault_injection(seed, ringloop::FaultPlan::chaos())
            .build();
        let Ok(lp) = lp else { continue };
        let data = pattern(600 * 1024, seed);
        let total = data.len();
        let back = lp.run_until_complete(guard("zero-copy writes under faults", async {
            let (client, server) = tcp_pair().await;
            let reader = ringloop::spawn(async move {
                let (res, buf) = server.read_exact(vec![0u8; total]).await;
                res.expect("read_exact");
                buf
            });
            for chunk in data.chunks(100 * 1024) {
                let (res, _) = client.write_all(chunk.to_vec()).await;
                res.expect("write_all");
            }
            reader.await.expect("reader")
        }));
        assert!(back == data, "seed {seed}: the bytes differ");
    }
}

/// Unix sockets refuse zero-copy sends: their writes keep copying, whatever the
/// threshold, and arrive whole.
#[test]
fn unix_stream_writes_ignore_the_zero_copy_threshold() {
    let _fds = shared_fds();
    for backend in backends() {
        let lp = zc_loop(backend, 1);
        let data = pattern(256 * 1024, 3);
        let total = data.len();
        let back = lp.run_until_complete(guard("unix writes", async {
            let (a, b) = UnixStream::pair().expect("pair");
            let reader = ringloop::spawn(async move {
                let (res, buf) = b.read_exact(vec![0u8; total]).await;
                res.expect("read_exact");
                buf
            });
            let (res, _) = a.write_all(data.clone()).await;
            res.expect("write_all");
            reader.await.expect("reader")
        }));
        assert!(back == data, "{backend:?}: the bytes differ");
    }
}
