//! Core executor benchmarks: ringloop against tokio's current-thread runtime with a
//! `LocalSet`, running the very same futures.
//!
//! Every workload is written once, generic over [`Rt`], and measured on both runtimes in
//! one criterion group, so the report shows `workload/ringloop` next to
//! `workload/tokio`. The loop (or runtime + `LocalSet`) is built once per bench, outside
//! the timed region; each timed iteration is one `run_until_complete` (`block_on`).
//!
//! Workloads:
//!
//! 1. `spawn_1m`: spawn 1M tasks that return at once, then await every handle.
//! 2. `yield_1k_x_1k`: 1000 tasks, each yielding 1000 times.
//! 3. `channel_1k_x_1k`: 1000 producer/consumer pairs passing 1000 messages each through
//!    a capacity-1, waker-based single-threaded channel defined here.
//! 4. `timeout_1m`: 1M `timeout(1 s, ready(i))` awaited in sequence.
//! 6. `eager_spawn_1m`: `spawn_1m` on ringloop only, on a loop built with
//!    `eager_tasks(true)` (`ringloop-eager`: every task finishes inside its spawn and is
//!    never queued) next to a plain loop (`ringloop`), in one group.
//! 5. `sleep_200k_cpu`: 200k tasks sleeping a random 0–100 ms each; the time reported is
//!    the CPU time of the thread (`CLOCK_THREAD_CPUTIME_ID`), not wall time.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::{Future, poll_fn};
use std::hint::black_box;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};

// ---------------------------------------------------------------------------------------
// The runtime seam
// ---------------------------------------------------------------------------------------

/// What a workload needs from a runtime. Static methods are called from inside a running
/// loop; `block_on` drives one timed iteration.
trait Rt {
    const NAME: &'static str;

    fn block_on<F: Future>(&self, future: F) -> F::Output;

    /// Spawns on the running loop; the returned future yields the task's output.
    fn spawn<F>(future: F) -> impl Future<Output = F::Output> + 'static
    where
        F: Future + 'static,
        F::Output: 'static;

    fn yield_now() -> impl Future<Output = ()>;

    fn sleep(duration: Duration) -> impl Future<Output = ()>;

    /// `Some(output)` when `future` finished in time, `None` when the time ran out.
    fn timeout<F: Future>(duration: Duration, future: F)
    -> impl Future<Output = Option<F::Output>>;
}

struct Ringloop {
    lp: ringloop::EventLoop,
}

impl Ringloop {
    fn new() -> Self {
        let lp = ringloop::EventLoop::new().expect("ringloop event loop");
        Ringloop { lp }
    }
}

impl Rt for Ringloop {
    const NAME: &'static str = "ringloop";

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.lp.run_until_complete(future)
    }

    fn spawn<F>(future: F) -> impl Future<Output = F::Output> + 'static
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let task = ringloop::spawn(future);
        async move { task.await.expect("ringloop task failed") }
    }

    fn yield_now() -> impl Future<Output = ()> {
        ringloop::yield_now()
    }

    fn sleep(duration: Duration) -> impl Future<Output = ()> {
        ringloop::sleep(duration)
    }

    async fn timeout<F: Future>(duration: Duration, future: F) -> Option<F::Output> {
        ringloop::timeout(duration, future).await.ok()
    }
}

/// ringloop with `Builder::eager_tasks(true)`: `ringloop::spawn` runs the task's first
/// step at once.
struct RingloopEager {
    lp: ringloop::EventLoop,
}

impl RingloopEager {
    fn new() -> Self {
        let lp = ringloop::EventLoop::builder()
            .eager_tasks(true)
            .build()
            .expect("ringloop event loop");
        RingloopEager { lp }
    }
}

impl Rt for RingloopEager {
    const NAME: &'static str = "ringloop-eager";

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.lp.run_until_complete(future)
    }

    fn spawn<F>(future: F) -> impl Future<Output = F::Output> + 'static
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        <Ringloop as Rt>::spawn(future)
    }

    fn yield_now() -> impl Future<Output = ()> {
        <Ringloop as Rt>::yield_now()
    }

    fn sleep(duration: Duration) -> impl Future<Output = ()> {
        <Ringloop as Rt>::sleep(duration)
    }

    async fn timeout<F: Future>(duration: Duration, future: F) -> Option<F::Output> {
        <Ringloop as Rt>::timeout(duration, future).await
    }
}

struct Tokio {
    rt: tokio::runtime::Runtime,
    local: tokio::task::LocalSet,
}

impl Tokio {
    fn new() -> Self {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("tokio runtime");
        Tokio {
            rt,
            local: tokio::task::LocalSet::new(),
        }
    }
}

impl Rt for Tokio {
    const NAME: &'static str = "tokio";

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.local.block_on(&self.rt, future)
    }

    fn spawn<F>(future: F) -> impl Future<Output = F::Output> + 'static
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let task = tokio::task::spawn_local(future);
        async move { task.await.expect("tokio task failed") }
    }

    fn yield_now() -> impl Future<Output = ()> {
        tokio::task::yield_now()
    }

    fn sleep(duration: Duration) -> impl Future<Output = ()> {
        tokio::time::sleep(duration)
    }

    async fn timeout<F: Future>(duration: Duration, future: F) -> Option<F::Output> {
        tokio::time::timeout(duration, future).await.ok()
    }
}

// ---------------------------------------------------------------------------------------
// A small single-threaded channel, the same code on both runtimes
// ---------------------------------------------------------------------------------------

struct Chan<T> {
    buf: VecDeque<T>,
    cap: usize,
    rx_waker: Option<Waker>,
    tx_waker: Option<Waker>,
    tx_alive: bool,
}

struct Sender<T>(Rc<RefCell<Chan<T>>>);
struct Receiver<T>(Rc<RefCell<Chan<T>>>);

fn channel<T>(cap: usize) -> (Sender<T>, Receiver<T>) {
    let chan = Rc::new(RefCell::new(Chan {
        buf: VecDeque::with_capacity(cap),
        cap,
        rx_waker: None,
        tx_waker: None,
        tx_alive: true,
    }));
    (Sender(chan.clone()), Receiver(chan))
}

impl<T> Sender<T> {
    /// Waits for room, then queues `value` and wakes the receiver.
    async fn send(&self, value: T) {
        let mut value = Some(value);
        poll_fn(|cx| {
            let mut chan = self.0.borrow_mut();
            if chan.buf.len() < chan.cap {
                chan.buf.push_back(value.take().expect("sent once"));
                let waker = chan.rx_waker.take();
                drop(chan);
                if let Some(w) = waker {
                    w.wake();
                }
                Poll::Ready(())
            } else {
                match &mut chan.tx_waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    slot => *slot = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
        })
        .await
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut chan = self.0.borrow_mut();
        chan.tx_alive = false;
        let waker = chan.rx_waker.take();
        drop(chan);
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<T> Receiver<T> {
    /// The next value; `None` once the sender is gone and the buffer is empty.
    async fn recv(&self) -> Option<T> {
        poll_fn(|cx| {
            let mut chan = self.0.borrow_mut();
            if let Some(value) = chan.buf.pop_front() {
                let waker = chan.tx_waker.take();
                drop(chan);
                if let Some(w) = waker {
                    w.wake();
                }
                Poll::Ready(Some(value))
            } else if !chan.tx_alive {
                Poll::Ready(None)
            } else {
                match &mut chan.rx_waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    slot => *slot = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
        })
        .await
    }
}

// ---------------------------------------------------------------------------------------
// Workloads (generic: the same futures on both runtimes)
// ---------------------------------------------------------------------------------------

const SPAWN_TASKS: u64 = 1_000_000;
const YIELD_TASKS: u64 = 1_000;
const YIELDS_PER_TASK: u64 = 1_000;
const CHANNEL_PAIRS: u64 = 1_000;
const MESSAGES_PER_PAIR: u64 = 1_000;
const TIMEOUTS: u64 = 1_000_000;
const SLEEP_TASKS: usize = 200_000;
const SLEEP_MAX_MS: u64 = 100;

async fn spawn_many<R: Rt>(n: u64) -> u64 {
    let mut handles = Vec::with_capacity(n as usize);
    for i in 0..n {
        handles.push(R::spawn(async move { i }));
    }
    let mut sum = 0;
    for handle in handles {
        sum += handle.await;
    }
    sum
}

async fn yield_many<R: Rt>(tasks: u64, yields: u64) -> u64 {
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            R::spawn(async move {
                for _ in 0..yields {
                    R::yield_now().await;
                }
                yields
            })
        })
        .collect();
    let mut total = 0;
    for handle in handles {
        total += handle.await;
    }
    total
}

async fn channel_pairs<R: Rt>(pairs: u64, messages: u64) -> u64 {
    let mut consumers = Vec::with_capacity(pairs as usize);
    let mut producers = Vec::with_capacity(pairs as usize);
    for _ in 0..pairs {
        let (tx, rx) = channel::<u64>(1);
        producers.push(R::spawn(async move {
            for i in 0..messages {
                tx.send(i).await;
            }
        }));
        consumers.push(R::spawn(async move {
            let mut sum = 0;
            while let Some(v) = rx.recv().await {
                sum += v;
            }
            sum
        }));
    }
    for producer in producers {
        producer.await;
    }
    let mut total = 0;
    for consumer in consumers {
        total += consumer.await;
    }
    total
}

async fn timeout_many<R: Rt>(n: u64) -> u64 {
    let mut sum = 0;
    for i in 0..n {
        let out = R::timeout(Duration::from_secs(1), std::future::ready(i)).await;
        sum += out.expect("a ready future never times out");
    }
    sum
}

async fn sleep_many<R: Rt>(delays: Rc<[Duration]>) -> usize {
    let handles: Vec<_> = delays
        .iter()
        .map(|&d| {
            R::spawn(async move {
                R::sleep(d).await;
            })
        })
        .collect();
    let n = handles.len();
    for handle in handles {
        handle.await;
    }
    n
}

/// Fixed-seed xorshift64 delays in 0..=`max_ms` milliseconds.
fn random_delays(n: usize, max_ms: u64) -> Rc<[Duration]> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            Duration::from_millis(state % (max_ms + 1))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Timing
// ---------------------------------------------------------------------------------------

/// CPU time consumed by the calling thread.
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_THREAD_CPUTIME_ID is always
    // supported on Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Runs `make()` to completion `iters` times on `rt`; wall time of the runs only.
fn wall<R: Rt, F: Future>(rt: &R, iters: u64, mut make: impl FnMut() -> F) -> Duration
where
    F::Output: PartialEq + std::fmt::Debug,
{
    let mut total = Duration::ZERO;
    let mut expected = None;
    for _ in 0..iters {
        let future = make();
        let start = Instant::now();
        let out = rt.block_on(future);
        total += start.elapsed();
        check(&mut expected, out);
    }
    total
}

/// Like [`wall`], but measures the thread's CPU time.
fn cpu<R: Rt, F: Future>(rt: &R, iters: u64, mut make: impl FnMut() -> F) -> Duration
where
    F::Output: PartialEq + std::fmt::Debug,
{
    let mut total = Duration::ZERO;
    let mut expected = None;
    for _ in 0..iters {
        let future = make();
        let start = thread_cpu_time();
        let out = rt.block_on(future);
        total += thread_cpu_time() - start;
        check(&mut expected, out);
    }
    total
}

/// Every run of a workload must produce the same result.
fn check<T: PartialEq + std::fmt::Debug>(expected: &mut Option<T>, out: T) {
    let out = black_box(out);
    match expected {
        Some(e) => assert_eq!(*e, out, "a workload's result changed between runs"),
        None => *expected = Some(out),
    }
}

// ---------------------------------------------------------------------------------------
// Benches
// ---------------------------------------------------------------------------------------

/// Registers `workload` for both runtimes in one group named `name`.
macro_rules! pair {
    ($c:expr, $name:expr, $measure:ident, $workload:ident ( $($arg:expr),* )) => {{
        let mut group = $c.benchmark_group($name);
        group.sampling_mode(SamplingMode::Flat);
        {
            let rt = Ringloop::new();
            group.bench_function(<Ringloop as Rt>::NAME, |b| {
                b.iter_custom(|iters| $measure(&rt, iters, || $workload::<Ringloop>($($arg),*)))
            });
        }
        {
            let rt = Tokio::new();
            group.bench_function(<Tokio as Rt>::NAME, |b| {
                b.iter_custom(|iters| $measure(&rt, iters, || $workload::<Tokio>($($arg),*)))
            });
        }
        group.finish();
    }};
}

fn spawn_1m(c: &mut Criterion) {
    pair!(c, "spawn_1m", wall, spawn_many(SPAWN_TASKS));
}

fn eager_spawn_1m(c: &mut Criterion) {
    let mut group = c.benchmark_group("eager_spawn_1m");
    group.sampling_mode(SamplingMode::Flat);
    {
        let rt = RingloopEager::new();
        group.bench_function(<RingloopEager as Rt>::NAME, |b| {
            b.iter_custom(|iters| wall(&rt, iters, || spawn_many::<RingloopEager>(SPAWN_TASKS)))
        });
    }
    {
        let rt = Ringloop::new();
        group.bench_function(<Ringloop as Rt>::NAME, |b| {
            b.iter_custom(|iters| wall(&rt, iters, || spawn_many::<Ringloop>(SPAWN_TASKS)))
        });
    }
    group.finish();
}

fn yield_1k_x_1k(c: &mut Criterion) {
    pair!(
        c,
        "yield_1k_x_1k",
        wall,
        yield_many(YIELD_TASKS, YIELDS_PER_TASK)
    );
}

fn channel_1k_x_1k(c: &mut Criterion) {
    pair!(
        c,
        "channel_1k_x_1k",
        wall,
        channel_pairs(CHANNEL_PAIRS, MESSAGES_PER_PAIR)
    );
}

fn timeout_1m(c: &mut Criterion) {
    pair!(c, "timeout_1m", wall, timeout_many(TIMEOUTS));
}

fn sleep_200k_cpu(c: &mut Criterion) {
    let delays = random_delays(SLEEP_TASKS, SLEEP_MAX_MS);
    pair!(c, "sleep_200k_cpu", cpu, sleep_many(delays.clone()));
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = spawn_1m, eager_spawn_1m, yield_1k_x_1k, channel_1k_x_1k, timeout_1m, sleep_200k_cpu
}
criterion_main!(benches);
