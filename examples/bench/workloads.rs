//! The core workloads, written once and shared by the bench example (`mod workloads;`)
//! and the criterion bench `benches/core.rs` (`#[path = "../examples/bench/workloads.rs"]`):
//! the executor seam [`Exec`], its four implementations (ringloop on either backend,
//! tokio's current-thread runtime with a `LocalSet`, monoio on its io_uring driver with
//! timers), and the same futures run on each: spawning, yielding, a wake ping-pong
//! through a small waker-based channel, timeouts around ready futures and sleeps.
//!
//! Nothing here refers to the rest of either crate, so that both can include it.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::{Future, poll_fn};
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use ringloop::Backend;

// ---------------------------------------------------------------------------------------
// The executor seam
// ---------------------------------------------------------------------------------------

/// What a workload needs from a runtime. Static methods are called from inside a running
/// loop; `block_on` drives one run.
pub(crate) trait Exec: Sized + 'static {
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

/// A spawned task's handle yielding the task's output (a failed task is a bug in the
/// workload: it panics). A plain struct, so a workload that keeps many handles
/// (`spawn_many`) pays for each what the runtime's own handle costs: an `async` block
/// around the handle would hold the handle and its own state besides, about doubling
/// the memory per handle and the time of `spawn_many` (measured on ringloop: 90 against
/// 47 ms for 1M tasks). monoio's handle yields the output itself and needs none.
pub(crate) struct Expect<H>(H);

impl<H, T, E> Future for Expect<H>
where
    H: Future<Output = Result<T, E>> + Unpin,
    E: std::fmt::Debug,
{
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        Pin::new(&mut self.0)
            .poll(cx)
            .map(|result| result.expect("a spawned task failed"))
    }
}

/// A ringloop event loop (either backend, any builder settings).
pub(crate) struct Ringloop {
    pub(crate) lp: ringloop::EventLoop,
}

impl Ringloop {
    /// A loop on `backend` with the default builder otherwise.
    pub(crate) fn new(backend: Backend) -> io::Result<Ringloop> {
        let lp = ringloop::EventLoop::builder().backend(backend).build()?;
        Ok(Ringloop { lp })
    }
}

impl Exec for Ringloop {
    fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.lp.run_until_complete(future)
    }

    fn spawn<F>(future: F) -> impl Future<Output = F::Output> + 'static
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        Expect(ringloop::spawn(future))
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

/// tokio's current-thread runtime (I/O and time enabled) with a `LocalSet`.
pub(crate) struct Tokio {
    pub(crate) rt: tokio::runtime::Runtime,
    pub(crate) local: tokio::task::LocalSet,
    /// What stops a server running on this runtime (the bench's `Rt::stop`).
    pub(crate) stop: Arc<tokio::sync::Notify>,
}

impl Tokio {
    pub(crate) fn new() -> io::Result<Tokio> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(Tokio {
            rt,
            local: tokio::task::LocalSet::new(),
            stop: Arc::new(tokio::sync::Notify::new()),
        })
    }
}

impl Exec for Tokio {
    fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.local.block_on(&self.rt, future)
    }

    fn spawn<F>(future: F) -> impl Future<Output = F::Output> + 'static
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        Expect(tokio::task::spawn_local(future))
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

type MonoioRuntime = monoio::Runtime<monoio::time::TimeDriver<monoio::IoUringDriver>>;

/// monoio's runtime on its io_uring driver, timers enabled. (`block_on` takes the
/// runtime mutably; runs never nest.)
pub(crate) struct Monoio {
    rt: RefCell<MonoioRuntime>,
}

impl Monoio {
    pub(crate) fn new() -> io::Result<Monoio> {
        let rt = monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
            .enable_timer()
            .build()?;
        Ok(Monoio {
            rt: RefCell::new(rt),
        })
    }
}

impl Exec for Monoio {
    fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.rt.borrow_mut().block_on(future)
    }

    fn spawn<F>(future: F) -> impl Future<Output = F::Output> + 'static
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        monoio::spawn(future)
    }

    fn yield_now() -> impl Future<Output = ()> {
        // monoio has no `yield_now`: wake the task and return `Pending` once, which puts
        // it at the back of the run queue (what tokio's does).
        let mut yielded = false;
        poll_fn(move |cx| {
            if yielded {
                Poll::Ready(())
            } else {
                yielded = true;
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        })
    }

    fn sleep(duration: Duration) -> impl Future<Output = ()> {
        monoio::time::sleep(duration)
    }

    async fn timeout<F: Future>(duration: Duration, future: F) -> Option<F::Output> {
        monoio::time::timeout(duration, future).await.ok()
    }
}

// ---------------------------------------------------------------------------------------
// A small single-threaded channel, the same code on every runtime
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

fn store_waker(slot: &mut Option<Waker>, waker: &Waker) {
    match slot {
        Some(w) if w.will_wake(waker) => {}
        slot => *slot = Some(waker.clone()),
    }
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
                store_waker(&mut chan.tx_waker, cx.waker());
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
                store_waker(&mut chan.rx_waker, cx.waker());
                Poll::Pending
            }
        })
        .await
    }
}

// ---------------------------------------------------------------------------------------
// Workloads
// ---------------------------------------------------------------------------------------

/// Spawns `n` tasks that return at once, then awaits each: the sum of their outputs,
/// `n * (n - 1) / 2`.
pub(crate) async fn spawn_many<R: Exec>(n: u64) -> u64 {
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

/// `tasks` tasks yielding `yields` times each: `tasks * yields`.
pub(crate) async fn yield_many<R: Exec>(tasks: u64, yields: u64) -> u64 {
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

/// `pairs` producer/consumer pairs passing `messages` each through a capacity-1 channel
/// (a wake ping-pong): `pairs * messages * (messages - 1) / 2`.
pub(crate) async fn channel_pairs<R: Exec>(pairs: u64, messages: u64) -> u64 {
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

/// `n` timeouts of 1 s around ready futures, awaited in sequence: `n * (n - 1) / 2`.
pub(crate) async fn timeout_many<R: Exec>(n: u64) -> u64 {
    let mut sum = 0;
    for i in 0..n {
        let out = R::timeout(Duration::from_secs(1), std::future::ready(i)).await;
        sum += out.expect("a ready future never times out");
    }
    sum
}

/// A task per delay, each sleeping that long, all awaited: how many.
pub(crate) async fn sleep_many<R: Exec>(delays: Rc<[Duration]>) -> usize {
    let handles: Vec<_> = delays.iter().map(|&d| R::spawn(R::sleep(d))).collect();
    let n = handles.len();
    for handle in handles {
        handle.await;
    }
    n
}

/// `n` fixed-seed (xorshift64) random delays, whole multiples of `step` from 0 to `span`.
pub(crate) fn random_delays(n: usize, span: Duration, step: Duration) -> Rc<[Duration]> {
    let steps = (span.as_nanos() / step.as_nanos().max(1)) as u64;
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            step * (state % (steps + 1)) as u32
        })
        .collect()
}

/// `n` delays spread evenly over `span`, in ascending order: `span * (i + 1) / n`.
pub(crate) fn spread_delays(n: usize, span: Duration) -> Rc<[Duration]> {
    let span = span.as_nanos() as u64;
    (0..n as u64)
        .map(|i| Duration::from_nanos(span * (i + 1) / n as u64))
        .collect()
}
