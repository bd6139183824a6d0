//! Core workloads, generic over [`Rt`]: the same futures on every runtime. Spawning,
//! yielding, a wake ping-pong through a small waker-based channel, timeouts around
//! ready futures and many sleeps; each figure is the median of several runs.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use ringloop::Backend;

use crate::cpu::thread_cpu_time;
use crate::report::count;
use crate::runtime::{RUNTIMES, Ringloop, Rt, Runtime, Tokio};
use crate::{Plan, Progress};

/// A small single-threaded channel, the same code on every runtime.
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
    let handles: Vec<_> = delays.iter().map(|&d| R::spawn(R::sleep(d))).collect();
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

#[derive(Clone, Copy, Debug)]
pub(crate) enum CoreWorkload {
    Spawn,
    Yield,
    Wake,
    Timeout,
    Sleep,
}

pub(crate) const CORE_WORKLOADS: [CoreWorkload; 5] = [
    CoreWorkload::Spawn,
    CoreWorkload::Yield,
    CoreWorkload::Wake,
    CoreWorkload::Timeout,
    CoreWorkload::Sleep,
];

impl CoreWorkload {
    pub(crate) fn name(self, plan: &Plan) -> String {
        match self {
            CoreWorkload::Spawn => format!("spawn {} tasks, await each", count(plan.spawn_tasks)),
            CoreWorkload::Yield => format!(
                "{} tasks × {} yield_now",
                count(plan.yield_tasks),
                count(plan.yields_per_task)
            ),
            CoreWorkload::Wake => format!(
                "wake ping-pong: {} channel pairs × {} messages",
                count(plan.channel_pairs),
                count(plan.messages_per_pair)
            ),
            CoreWorkload::Timeout => {
                format!("{} timeouts around ready futures", count(plan.timeouts))
            }
            CoreWorkload::Sleep => format!(
                "{} sleeps of 0–{} ms (thread CPU time)",
                count(plan.sleep_tasks as u64),
                plan.sleep_max_ms
            ),
        }
    }

    /// One run on `rt`: wall time (CPU time for sleeps); the result is checked.
    fn run<R: Rt>(self, rt: &R, plan: &Plan) -> Duration {
        let start = Instant::now();
        match self {
            CoreWorkload::Spawn => {
                let n = plan.spawn_tasks;
                let sum = rt.block_on(spawn_many::<R>(n));
                assert_eq!(sum, n * (n - 1) / 2, "spawn: wrong sum");
            }
            CoreWorkload::Yield => {
                let (t, y) = (plan.yield_tasks, plan.yields_per_task);
                assert_eq!(
                    rt.block_on(yield_many::<R>(t, y)),
                    t * y,
                    "yield: wrong count"
                );
            }
            CoreWorkload::Wake => {
                let (p, m) = (plan.channel_pairs, plan.messages_per_pair);
                let sum = rt.block_on(channel_pairs::<R>(p, m));
                assert_eq!(sum, p * (m * (m - 1) / 2), "wake: wrong sum");
            }
            CoreWorkload::Timeout => {
                let n = plan.timeouts;
                let sum = rt.block_on(timeout_many::<R>(n));
                assert_eq!(sum, n * (n - 1) / 2, "timeout: wrong sum");
            }
            CoreWorkload::Sleep => {
                let delays = random_delays(plan.sleep_tasks, plan.sleep_max_ms);
                let cpu = thread_cpu_time();
                let n = rt.block_on(sleep_many::<R>(delays));
                assert_eq!(n, plan.sleep_tasks, "sleep: wrong count");
                return thread_cpu_time() - cpu;
            }
        }
        start.elapsed()
    }
}

/// One warm-up run, then the median of `plan.core_runs` runs.
fn core_median<R: Rt>(rt: &R, workload: CoreWorkload, plan: &Plan) -> Duration {
    workload.run(rt, plan);
    let mut runs: Vec<Duration> = (0..plan.core_runs)
        .map(|_| workload.run(rt, plan))
        .collect();
    runs.sort();
    runs[runs.len() / 2]
}

/// Core results: `[workload][runtime]`, `None` where the runtime is unavailable.
pub(crate) type CoreResults = Vec<[Option<Duration>; 3]>;

pub(crate) fn run_core(plan: &Plan, available: &[bool; 3], progress: &Progress) -> CoreResults {
    let uring = available[0]
        .then(|| Ringloop::new(Backend::IoUring).ok())
        .flatten();
    let epoll = available[1]
        .then(|| Ringloop::new(Backend::Epoll).ok())
        .flatten();
    let tokio = available[2].then(|| Tokio::new().ok()).flatten();
    CORE_WORKLOADS
        .iter()
        .map(|&workload| {
            let mut row = [None; 3];
            for runtime in RUNTIMES {
                progress.step(format!(
                    "core: {} on {}",
                    workload.name(plan),
                    runtime.label()
                ));
                row[runtime.index()] = match runtime {
                    Runtime::IoUring => uring.as_ref().map(|rt| core_median(rt, workload, plan)),
                    Runtime::Epoll => epoll.as_ref().map(|rt| core_median(rt, workload, plan)),
                    Runtime::Tokio => tokio.as_ref().map(|rt| core_median(rt, workload, plan)),
                };
            }
            row
        })
        .collect()
}
