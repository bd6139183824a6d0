//! Dropped and crowded operations (issue 3): reads dropped at random points leave
//! nothing in flight and no buffer held; a ring of 8 entries carries 100,000 operations
//! without losing one; normal traffic counts no stray completion. Counts, never timings.
//! Every test runs on each backend (on epoll, "the ring" is the readiness path with the
//! same entry limit).

mod support;

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

use ringloop::EventLoop;
use ringloop::net::ops::{Recv, SendOp};
use ringloop::net::{IoBuf, IoBufMut, Op, TcpStream, UnixStream};
use support::{bump, on_each_backend, poll_once, settle_io, tcp_pair};

/// xorshift64: a fixed seed makes every run drop at the same points.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// TCP and Unix streams alike.
trait Duplex: 'static {
    fn read<B: IoBufMut>(&self, buf: B) -> Op<'_, Recv<B>>;
    fn write<B: IoBuf>(&self, buf: B) -> Op<'_, SendOp<B>>;
}

impl Duplex for TcpStream {
    fn read<B: IoBufMut>(&self, buf: B) -> Op<'_, Recv<B>> {
        TcpStream::read(self, buf)
    }
    fn write<B: IoBuf>(&self, buf: B) -> Op<'_, SendOp<B>> {
        TcpStream::write(self, buf)
    }
}

impl Duplex for UnixStream {
    fn read<B: IoBufMut>(&self, buf: B) -> Op<'_, Recv<B>> {
        UnixStream::read(self, buf)
    }
    fn write<B: IoBuf>(&self, buf: B) -> Op<'_, SendOp<B>> {
        UnixStream::write(self, buf)
    }
}

async fn write_all<S: Duplex>(s: &S, mut buf: Vec<u8>) {
    let mut sent = 0;
    while sent < buf.len() {
        let end = buf.len();
        let (res, slice) = s.write(buf.slice(sent..end)).await;
        buf = slice.into_inner();
        sent += res.expect("write");
    }
}

/// Where the drops landed.
#[derive(Default, Debug)]
struct Tally {
    never_polled: Cell<usize>,
    in_flight: Cell<usize>,
    completed: Cell<usize>,
}

/// Makes one read of buffer `buf` on `a` and drops it at the point `mode` picks.
async fn drop_one_read<S: Duplex, B: IoBufMut>(
    lp: &EventLoop,
    a: &S,
    b: &S,
    buf: B,
    rng: &mut XorShift,
    tally: &Tally,
) {
    match rng.below(4) {
        // Before the first poll: never reaches the kernel.
        0 => {
            drop(a.read(buf));
            bump(&tally.never_polled);
        }
        // In flight: submitted, maybe a few loop turns, then dropped.
        1 | 2 => {
            let mut op = a.read(buf);
            let first = poll_once(&mut op).await;
            assert!(
                first.is_pending(),
                "a read completed before the loop turned"
            );
            for _ in 0..rng.below(3) {
                ringloop::yield_now().await;
            }
            let held = lp.stats().buffers_held;
            drop(op);
            if lp.stats().buffers_held > held {
                bump(&tally.in_flight);
            } else {
                bump(&tally.completed);
            }
        }
        // Completed but not polled again: data is there, the loop reaps the completion,
        // and the future is dropped holding it.
        _ => {
            let len = 1 + rng.below(48) as usize;
            write_all(b, vec![0xab; len]).await;
            let mut op = a.read(buf);
            assert!(poll_once(&mut op).await.is_pending());
            // Two loop turns: the read reaches the kernel and its completion is reaped.
            ringloop::yield_now().await;
            ringloop::yield_now().await;
            let held = lp.stats().buffers_held;
            drop(op);
            if lp.stats().buffers_held > held {
                bump(&tally.in_flight);
            } else {
                bump(&tally.completed);
            }
        }
    }
}

async fn drop_reads<S: Duplex>(
    lp: &EventLoop,
    a: Rc<S>,
    b: Rc<S>,
    count: usize,
    seed: u64,
    tally: Rc<Tally>,
) {
    let mut rng = XorShift(seed);
    for _ in 0..count {
        let cap = 1 + rng.below(256) as usize;
        // Vary the buffer type: each is held by the loop in its own way.
        match rng.below(3) {
            0 => drop_one_read(lp, &*a, &*b, Vec::with_capacity(cap), &mut rng, &tally).await,
            1 => {
                let boxed = vec![0u8; cap].into_boxed_slice();
                drop_one_read(lp, &*a, &*b, boxed, &mut rng, &tally).await
            }
            _ => {
                let mut v = Vec::with_capacity(cap + 8);
                v.extend_from_slice(b"prefix");
                let slice = v.slice(6..cap + 8);
                drop_one_read(lp, &*a, &*b, slice, &mut rng, &tally).await
            }
        }
    }
}

#[test]
fn reads_dropped_at_random_points_leave_nothing_in_flight_or_held() {
    on_each_backend(|backend| {
        let total = env_count("RINGLOOP_DROPS", 100_000);
        const UNIX_PAIRS: usize = 6;
        const TCP_PAIRS: usize = 2;
        let per_task = total.div_ceil(UNIX_PAIRS + TCP_PAIRS);
        // Every read must reach the driver (these are drops of in-flight operations), so
        // no read may finish early by trying the syscall first.
        let lp = EventLoop::builder()
            .backend(backend)
            .try_first_io(false)
            .build()
            .unwrap();
        let tally = Rc::new(Tally::default());
        lp.run_until_complete(async {
            let mut tasks = Vec::new();
            let mut keep = Vec::new();
            for i in 0..UNIX_PAIRS {
                let (a, b) = UnixStream::pair().unwrap();
                let (a, b) = (Rc::new(a), Rc::new(b));
                keep.push((Some((a.clone(), b.clone())), None));
                let lp = &lp;
                let tally = tally.clone();
                tasks.push(Box::pin(async move {
                    drop_reads(lp, a, b, per_task, 0x9e37_79b9 + i as u64, tally).await
                }) as Pin<Box<dyn Future<Output = ()>>>);
            }
            for i in 0..TCP_PAIRS {
                let (a, b) = tcp_pair().await;
                let (a, b) = (Rc::new(a), Rc::new(b));
                keep.push((None, Some((a.clone(), b.clone()))));
                let lp = &lp;
                let tally = tally.clone();
                tasks.push(Box::pin(async move {
                    drop_reads(lp, a, b, per_task, 0x1234_5678 + i as u64, tally).await
                }));
            }
            // The tasks borrow the loop, so they run as one gathered future here.
            ringloop::gather(tasks).await;

            // A few loop turns for the cancels to come back, with the sockets still open.
            settle_io(&lp).await;
            let stats = lp.stats();
            assert_eq!(stats.ops_in_flight, 0, "{stats:?}");
            assert_eq!(stats.buffers_held, 0, "{stats:?}");

            // And again once the sockets are closed.
            drop(keep);
            settle_io(&lp).await;
            let stats = lp.stats();
            assert_eq!(
                (stats.ops_in_flight, stats.buffers_held),
                (0, 0),
                "{stats:?}"
            );
            assert_eq!(stats.stray_completions, 0, "{stats:?}");
        });
        let t = &*tally;
        let (never, flight, done) = (t.never_polled.get(), t.in_flight.get(), t.completed.get());
        println!("dropped: {never} before polling, {flight} in flight, {done} completed");
        assert_eq!(never + flight + done, per_task * (UNIX_PAIRS + TCP_PAIRS));
        if total >= 1000 {
            assert!(
                never > 0 && flight > 0 && done > 0,
                "every drop point was hit"
            );
        }
    });
}

#[test]
fn a_ring_of_8_entries_loses_none_of_100_000_operations() {
    on_each_backend(|backend| {
        let total = env_count("RINGLOOP_RING_OPS", 100_000);
        const PAIRS: usize = 32;
        // Each message is one write and at least one read.
        let per_pair = total.div_ceil(2 * PAIRS);
        // Every operation goes through the 8-entry ring: none finishes by trying first.
        let lp = EventLoop::builder()
            .backend(backend)
            .ring_entries(8)
            .try_first_io(false)
            .build()
            .unwrap();
        let before = lp.stats();
        let received = Rc::new(Cell::new(0usize));
        lp.run_until_complete(async {
            let mut tasks = Vec::new();
            for pair in 0..PAIRS {
                let (a, b) = UnixStream::pair().unwrap();
                let writer = ringloop::spawn(async move {
                    for seq in 0..per_pair {
                        let mut msg = Vec::with_capacity(8);
                        msg.extend_from_slice(&(pair as u32).to_le_bytes());
                        msg.extend_from_slice(&(seq as u32).to_le_bytes());
                        let (res, _) = a.write_all(msg).await;
                        res.expect("write");
                    }
                });
                let received = received.clone();
                let reader = ringloop::spawn(async move {
                    let mut buf = vec![0u8; 8].into_boxed_slice();
                    for seq in 0..per_pair {
                        let (res, b2) = b.read_exact(buf).await;
                        buf = b2;
                        res.expect("read");
                        let got_pair = u32::from_le_bytes(buf[..4].try_into().unwrap());
                        let got_seq = u32::from_le_bytes(buf[4..].try_into().unwrap());
                        assert_eq!((got_pair, got_seq), (pair as u32, seq as u32));
                        received.set(received.get() + 1);
                    }
                });
                tasks.push(writer);
                tasks.push(reader);
            }
            for t in tasks {
                t.await.expect("task");
            }
            settle_io(&lp).await;
        });
        let after = lp.stats();
        assert_eq!(received.get(), per_pair * PAIRS, "messages lost");
        let sqes = after.sqes_submitted - before.sqes_submitted;
        assert!(
            sqes as usize >= 2 * per_pair * PAIRS,
            "only {sqes} SQEs reached the kernel"
        );
        assert_eq!((after.ops_in_flight, after.buffers_held), (0, 0));
        assert_eq!(after.stray_completions, 0);
        println!(
            "{sqes} SQEs in {} io_uring_enter calls",
            after.io_uring_enters - before.io_uring_enters
        );
    });
}

#[test]
fn normal_traffic_counts_no_stray_completions() {
    on_each_backend(|backend| {
        let lp = support::new_loop(backend);
        let log = Rc::new(RefCell::new(Vec::new()));
        lp.run_until_complete(async {
            let (a, b) = tcp_pair().await;
            let (quiet, _quiet_peer) = UnixStream::pair().unwrap();
            for i in 0..200u32 {
                // Reads that time out (on a socket that never gets data), reads that
                // complete, reads cancelled and awaited.
                let timed =
                    ringloop::timeout(Duration::from_micros(100), quiet.read(vec![0u8; 16])).await;
                assert!(timed.is_err());
                if i % 2 == 0 {
                    let (res, _) = b.write_all(i.to_le_bytes().to_vec()).await;
                    res.unwrap();
                    let (res, buf) = a.read_exact(vec![0u8; 4]).await;
                    res.unwrap();
                    log.borrow_mut()
                        .push(u32::from_le_bytes(buf[..].try_into().unwrap()));
                }
                let mut op = b.read(vec![0u8; 4]);
                let _ = poll_once(&mut op).await;
                op.cancel();
                let (res, _) = op.await;
                assert_eq!(res.unwrap_err().raw_os_error(), Some(125 /* ECANCELED */));
            }
            // Closing goes through the ring too: settle after the sockets are gone.
            drop((a, b, quiet, _quiet_peer));
            settle_io(&lp).await;
        });
        assert_eq!(*log.borrow(), (0..200).step_by(2).collect::<Vec<u32>>());
        let stats = lp.stats();
        assert_eq!(stats.stray_completions, 0, "{stats:?}");
        assert_eq!((stats.ops_in_flight, stats.buffers_held), (0, 0));
    });
}
