//! Leak and soak tests (issue 5, item 4): churned connections, a loop dropped with
//! thousands of pending operations, and a million timers leave descriptors and heap
//! where they began. Counts, never timings.
//!
//! The heap is measured exactly: this binary's global allocator is the system's, wrapped
//! in a counter of live bytes and blocks (`testkit::CountingAlloc`; its
//! `unsafe impl GlobalAlloc` lives in `src/sys/alloc.rs`, so this file stays safe). RSS
//! (`/proc/self/statm`) was the alternative: it moves with the allocator's caching and
//! page reuse, so it can only catch leaks of megabytes; live bytes catch one lost buffer.
//!
//! Each test measures the process, so the tests run one at a time (`support::serial`),
//! print nothing between their two measurements (captured output is heap), and warm up
//! first (lazy statics, thread-locals, the backend probe). The small tolerance covers the
//! test harness's own threads, which allocate while a test runs (a finished test's
//! result): a leak of one 8-byte block per connection or timer would exceed it many
//! times over.
//!
//! Sizes scale with `RINGLOOP_SOAK` (a multiplier, default 1): `RINGLOOP_SOAK=10` churns
//! 100,000 connections and cancels ten million timers. Every test runs on each backend,
//! each backend measured on its own (warm-up, before, after).

mod support;

use std::cell::Cell;
use std::future::pending;
use std::io;
use std::net::Shutdown;
use std::rc::Rc;
use std::time::Duration;

use ringloop::EventLoop;
use ringloop::net::{ListenOptions, TcpListener, TcpStream, UnixStream};
use support::{
    bump, fd_count, new_loop, on_each_backend, poll_once, read_to_end, serial, settle_until,
    soak_scale,
};
use testkit::CountingAlloc;

#[global_allocator]
static HEAP: CountingAlloc = CountingAlloc::new();

/// Heap growth tolerated between two measurements (see the module docs).
const SLACK_BYTES: isize = 16 * 1024;
const SLACK_BLOCKS: isize = 64;

/// Open descriptors, live heap bytes and live heap blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Usage {
    fds: usize,
    bytes: isize,
    blocks: isize,
}

fn usage() -> Usage {
    // Count first: the directory listing allocates, and is freed before the heap is read.
    // The fewest of a few counts over ~10 ms: a descriptor some thread holds for an
    // instant (seen once in a count taken just after another test) is no leak, and a
    // leaked one is in every count.
    let fds = (0..5)
        .map(|i| {
            if i > 0 {
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            fd_count()
        })
        .min()
        .expect("five counts");
    Usage {
        fds,
        bytes: HEAP.live_bytes(),
        blocks: HEAP.live_blocks(),
    }
}

/// Asserts that `after` holds the descriptors of `before` and no more heap than the
/// slack; returns the heap difference for the report.
fn assert_back_to(what: &str, before: Usage, after: Usage) -> (isize, isize) {
    let bytes = after.bytes - before.bytes;
    let blocks = after.blocks - before.blocks;
    assert_eq!(
        after.fds, before.fds,
        "{what}: descriptors leaked (before {before:?}, after {after:?})"
    );
    assert!(
        bytes <= SLACK_BYTES && blocks <= SLACK_BLOCKS,
        "{what}: heap grew by {bytes} bytes in {blocks} blocks (before {before:?}, after {after:?})"
    );
    (bytes, blocks)
}

/// How the connections of [`churn`] ended, by kind.
#[derive(Debug, Default)]
struct Endings {
    /// The server closed with the client's bytes unread: the client read a reset.
    server_resets: Cell<usize>,
    /// The client closed with the server's bytes unread.
    client_resets: Cell<usize>,
    /// The client half-closed; the server replied after EOF.
    client_half_closes: Cell<usize>,
    /// The server half-closed; the client still wrote after EOF.
    server_half_closes: Cell<usize>,
    /// Dropped by the client at once.
    dropped: Cell<usize>,
}

impl Endings {
    fn total(&self) -> usize {
        self.server_resets.get()
            + self.client_resets.get()
            + self.client_half_closes.get()
            + self.server_half_closes.get()
            + self.dropped.get()
    }
}

/// The server's side of one connection; the first byte says how it ends.
async fn serve_one(stream: TcpStream) {
    let (res, buf) = stream.read(vec![0u8; 1]).await;
    if !matches!(res, Ok(1)) {
        return;
    }
    match buf[0] {
        // Close with the rest of the request unread: a reset.
        b'R' => {}
        // Write more than the client reads, then close: the client resets.
        b'C' => {
            let _ = stream.write_all(vec![b'x'; 4096]).await;
            let _ = read_to_end(&stream).await;
        }
        // Read to the client's EOF, then reply.
        b'H' => {
            let _ = read_to_end(&stream).await;
            let _ = stream.write_all(b"bye".to_vec()).await;
        }
        // Half-close first, then read what the client still sends.
        b'S' => {
            let _ = stream.shutdown(Shutdown::Write).await;
            let _ = read_to_end(&stream).await;
        }
        other => panic!("unexpected request byte {other}"),
    }
}

/// The client's side of connection `i`.
async fn client_one(addr: std::net::SocketAddr, i: usize, endings: &Endings) {
    let stream = TcpStream::connect(addr).await.expect("connect");
    match i % 5 {
        0 => {
            let (res, _) = stream.write_all(b"RRRRRRRR".to_vec()).await;
            res.expect("write");
            // The server's close answers with a reset, or with EOF if its read took all.
            match read_to_end(&stream).await {
                Err(e) => assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{e}"),
                Ok(rest) => assert!(rest.is_empty()),
            }
            bump(&endings.server_resets);
        }
        1 => {
            let (res, _) = stream.write_all(b"C".to_vec()).await;
            res.expect("write");
            // Wait for the first of the server's bytes, then close with the rest unread.
            let (res, _) = stream.read(vec![0u8; 1]).await;
            assert_eq!(res.expect("read"), 1);
            drop(stream);
            bump(&endings.client_resets);
        }
        2 => {
            let (res, _) = stream.write_all(b"H hello".to_vec()).await;
            res.expect("write");
            stream.shutdown(Shutdown::Write).await.expect("shutdown");
            assert_eq!(read_to_end(&stream).await.expect("reply"), b"bye");
            bump(&endings.client_half_closes);
        }
        3 => {
            let (res, _) = stream.write_all(b"S".to_vec()).await;
            res.expect("write");
            assert_eq!(read_to_end(&stream).await.expect("EOF"), b"");
            // Half-closed by the server: writing still works.
            let (res, _) = stream.write_all(b"after your EOF".to_vec()).await;
            res.expect("write after the peer's half-close");
            bump(&endings.server_half_closes);
        }
        _ => {
            drop(stream);
            bump(&endings.dropped);
        }
    }
}

/// Churns `total` connections through one listener, `concurrent` at a time, every
/// kind of ending in turn; returns once every connection is closed on both sides.
async fn churn(lp: &EventLoop, total: usize, concurrent: usize) -> Endings {
    let listener = Rc::new(
        TcpListener::bind_with("127.0.0.1:0", ListenOptions::new().backlog(1024))
            .expect("bind 127.0.0.1:0"),
    );
    let addr = listener.local_addr().unwrap();
    let accepted = Rc::new(Cell::new(0usize));
    let (l, acc) = (listener.clone(), accepted.clone());
    let server = ringloop::spawn(async move {
        loop {
            let (stream, _) = l.accept().await.expect("accept");
            bump(&acc);
            drop(ringloop::spawn(serve_one(stream)));
        }
    });
    let endings = Rc::new(Endings::default());
    let next = Rc::new(Cell::new(0usize));
    let clients: Vec<_> = (0..concurrent)
        .map(|_| {
            let (endings, next) = (endings.clone(), next.clone());
            ringloop::spawn(async move {
                loop {
                    let i = next.get();
                    if i >= total {
                        return;
                    }
                    next.set(i + 1);
                    client_one(addr, i, &endings).await;
                }
            })
        })
        .collect();
    for c in clients {
        c.await.expect("client task");
    }
    // Connections dropped at once by their client may still wait in the backlog.
    for _ in 0..20_000 {
        if accepted.get() == total {
            break;
        }
        ringloop::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(accepted.get(), total, "every connection accepted once");
    server.cancel();
    assert!(server.await.unwrap_err().is_cancelled());
    drop(listener);
    // Until nothing is in flight and no task but the caller's is live.
    settle_until(lp, "connection churn", |s| {
        s.ops_in_flight == 0 && s.tasks_live <= 1
    })
    .await;
    Rc::try_unwrap(endings).expect("clients are done")
}

#[test]
fn churned_connections_with_resets_and_half_closes_leave_fds_and_heap_where_they_began() {
    const CONCURRENT: usize = 64;
    let total = 10_000 * soak_scale();
    let _serial = serial();
    on_each_backend(|backend| {
        // Warm up: lazy statics, thread-locals, the backend probe, std's networking.
        {
            let lp = new_loop(backend);
            lp.run_until_complete(async { churn(&lp, 500, CONCURRENT).await });
        }
        let before = usage();
        let (endings, stats) = {
            let lp = new_loop(backend);
            let endings = lp.run_until_complete(async { churn(&lp, total, CONCURRENT).await });
            (endings, lp.stats())
        };
        let after = usage();
        let (bytes, blocks) = assert_back_to("connection churn", before, after);
        assert_eq!(endings.total(), total);
        assert_eq!(stats.stray_completions, 0, "{stats:?}");
        assert_eq!(stats.buffers_held, 0, "{stats:?}");
        println!(
            "{total} connections ({endings:?}): fds {} -> {}, heap {bytes:+} bytes / {blocks:+} blocks",
            before.fds, after.fds
        );
    });
}

/// Counts drops of the futures it is part of.
struct DropCount(Rc<Cell<usize>>);

impl Drop for DropCount {
    fn drop(&mut self) {
        bump(&self.0);
    }
}

#[test]
fn a_loop_dropped_with_10_000_pending_reads_closes_everything_and_leaks_nothing() {
    // Idle sockets, each with many reads pending: 500 descriptors carry the reads, far
    // below any descriptor limit.
    const PAIRS: usize = 250;
    let reads = 10_000 * soak_scale();
    let per_socket = reads / (2 * PAIRS);
    let _serial = serial();
    on_each_backend(|backend| {
        {
            // Warm up with the same shapes, dropped the same way.
            let lp = new_loop(backend);
            let (a, b) = UnixStream::pair().unwrap();
            let (a, b) = (Rc::new(a), Rc::new(b));
            lp.run_until_complete(async {
                let listener = TcpListener::bind("127.0.0.1:0").unwrap();
                let _c = TcpStream::connect(listener.local_addr().unwrap()).await;
                let _s = listener.accept().await;
                drop(ringloop::spawn(async move { a.read(vec![0u8; 64]).await }));
                drop(ringloop::spawn(async move { b.read(vec![0u8; 64]).await }));
                ringloop::sleep(Duration::from_millis(1)).await;
            });
        }
        let before = usage();
        let dropped = Rc::new(Cell::new(0usize));
        let completed = Rc::new(Cell::new(0usize));
        let (in_flight, live) = {
            let lp = new_loop(backend);
            // Outside the future: dropped with the loop, not closed in flight before it.
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            lp.run_until_complete(async {
                for pair in 0..PAIRS {
                    // Half Unix pairs, half TCP connections, all idle.
                    let (x, y) = if pair % 2 == 0 {
                        let (x, y) = UnixStream::pair().unwrap();
                        (Sock::Unix(Rc::new(x)), Sock::Unix(Rc::new(y)))
                    } else {
                        let client = TcpStream::connect(addr).await.expect("connect");
                        let (server, _) = listener.accept().await.expect("accept");
                        (Sock::Tcp(Rc::new(client)), Sock::Tcp(Rc::new(server)))
                    };
                    for sock in [x, y] {
                        for _ in 0..per_socket {
                            let (sock, guard, done) =
                                (sock.clone(), DropCount(dropped.clone()), completed.clone());
                            drop(ringloop::spawn(async move {
                                let _guard = guard;
                                let _ = sock.read(vec![0u8; 1024]).await;
                                bump(&done);
                            }));
                        }
                    }
                }
                // Let every read reach the kernel (or its descriptor's wait list).
                for _ in 0..1000 {
                    if lp.stats().ops_in_flight >= 2 * PAIRS * per_socket {
                        break;
                    }
                    ringloop::yield_now().await;
                }
            });
            let stats = lp.stats();
            drop(listener);
            (stats.ops_in_flight, stats.tasks_live)
            // The loop is dropped here, with every read pending.
        };
        let after = usage();
        let pending = 2 * PAIRS * per_socket;
        assert_eq!(in_flight, pending, "every read was pending at the drop");
        assert_eq!(live, pending, "every task was pending at the drop");
        assert_eq!(completed.get(), 0, "no read completed on an idle socket");
        assert_eq!(
            dropped.get(),
            pending,
            "each task's future dropped exactly once"
        );
        // The buffers (10 MiB) and sockets are back only if every operation was drained.
        let (bytes, blocks) = assert_back_to("loop dropped with pending reads", before, after);
        println!(
            "{pending} pending reads dropped with their loop: fds {} -> {}, heap {bytes:+} bytes / {blocks:+} blocks",
            before.fds, after.fds
        );
    });
}

/// A TCP or Unix stream, shared by the tasks reading from it.
#[derive(Clone)]
enum Sock {
    Tcp(Rc<TcpStream>),
    Unix(Rc<UnixStream>),
}

impl Sock {
    async fn read(&self, buf: Vec<u8>) -> io::Result<usize> {
        match self {
            Sock::Tcp(s) => s.read(buf).await.0,
            Sock::Unix(s) => s.read(buf).await.0,
        }
    }
}

/// One round of [`a_million_timers_inserted_and_cancelled_leave_memory_flat`]: `n`
/// timers of each kind, over deadlines from now to beyond the timer wheel and "never",
/// all cancelled or dropped.
async fn timer_round(lp: &EventLoop, n: usize, fired: &Rc<Cell<usize>>) {
    let delay = |i: usize| match i % 4 {
        0 => Duration::from_micros(500 + i as u64),
        1 => Duration::from_millis(100 + i as u64 % 3000),
        2 => Duration::from_secs(3600 + i as u64),
        _ => Duration::MAX,
    };
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let f = fired.clone();
            lp.call_later(delay(i), move || bump(&f))
        })
        .collect();
    for h in &handles {
        assert!(h.cancel());
    }
    drop(handles);
    let mut sleeps: Vec<_> = (0..n)
        .map(|i| Box::pin(ringloop::sleep(delay(i))))
        .collect();
    for s in &mut sleeps {
        assert!(poll_once(s).await.is_pending());
    }
    drop(sleeps);
    let mut timeouts: Vec<_> = (0..n)
        .map(|i| Box::pin(ringloop::timeout(delay(i), pending::<()>())))
        .collect();
    for t in &mut timeouts {
        assert!(poll_once(t).await.is_pending());
    }
    drop(timeouts);
    assert_eq!(lp.stats().timers_pending, 0);
}

#[test]
fn a_million_timers_inserted_and_cancelled_leave_memory_flat() {
    const ROUND: usize = 10_000;
    // Three kinds per round: call_later + cancel, sleeps dropped, timeouts dropped.
    let rounds = 1_000_000 * soak_scale() / (3 * ROUND);
    let _serial = serial();
    on_each_backend(|backend| {
        let fired = Rc::new(Cell::new(0usize));
        let outside = usage();
        let (first, last) = {
            let lp = new_loop(backend);
            lp.run_until_complete(async {
                // The first round sizes the queue's slab and buckets; every later one must
                // reuse them.
                timer_round(&lp, ROUND, &fired).await;
                let first = usage();
                for _ in 1..rounds {
                    timer_round(&lp, ROUND, &fired).await;
                    ringloop::yield_now().await;
                }
                (first, usage())
            })
        };
        let dropped = usage();
        assert_eq!(fired.get(), 0, "a cancelled timer fired");
        let (bytes, blocks) = assert_back_to("timers: later rounds", first, last);
        let (b2, bl2) = assert_back_to("timers: loop dropped", outside, dropped);
        println!(
            "{} timers inserted and cancelled: heap {bytes:+} bytes / {blocks:+} blocks over \
         {rounds} rounds, {b2:+} bytes / {bl2:+} blocks once the loop was dropped",
            3 * ROUND * rounds
        );
    });
}
