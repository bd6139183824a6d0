//! Core executor benchmarks: ringloop against tokio's current-thread runtime with a
//! `LocalSet` and monoio (io_uring driver, timers on), running the very same futures.
//!
//! Every workload is written once, generic over `Exec`, in the bench example's
//! `examples/bench/workloads.rs` (included here as a module), and measured on every
//! runtime in one criterion group, so the report shows `workload/ringloop` next to
//! `workload/tokio` and `workload/monoio`. The loop (or runtime) is built once per bench,
//! outside the timed region; each timed iteration is one `run_until_complete`
//! (`block_on`).
//!
//! Workloads:
//!
//! 1. `spawn_1m`: spawn 1M tasks that return at once, then await every handle.
//! 2. `yield_1k_x_1k`: 1000 tasks, each yielding 1000 times.
//! 3. `channel_1k_x_1k`: 1000 producer/consumer pairs passing 1000 messages each through
//!    a capacity-1, waker-based single-threaded channel defined here.
//! 4. `timeout_1m`: 1M `timeout(1 s, ready(i))` awaited in sequence.
//! 5. `sleep_200k_cpu`: 200k tasks sleeping a random 0–100 ms each; the time reported is
//!    the CPU time of the thread (from `/proc`, the bench example's `cpu.rs`), not wall
//!    time.
//! 6. `eager_spawn_1m`: `spawn_1m` on ringloop only, on a loop built with
//!    `eager_tasks(true)` (`ringloop-eager`: every task finishes inside its spawn and is
//!    never queued) next to a plain loop (`ringloop`), in one group.

use std::future::Future;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};

#[allow(dead_code)] // the bench example uses more of it than these benches
#[path = "../examples/bench/cpu.rs"]
mod cpu;
#[allow(dead_code)]
#[path = "../examples/bench/workloads.rs"]
mod workloads;

use cpu::thread_cpu_time;
use workloads::{
    Exec, Monoio, Ringloop, Tokio, channel_pairs, random_delays, sleep_many, spawn_many,
    timeout_many, yield_many,
};

const SPAWN_TASKS: u64 = 1_000_000;
const YIELD_TASKS: u64 = 1_000;
const YIELDS_PER_TASK: u64 = 1_000;
const CHANNEL_PAIRS: u64 = 1_000;
const MESSAGES_PER_PAIR: u64 = 1_000;
const TIMEOUTS: u64 = 1_000_000;
const SLEEP_TASKS: usize = 200_000;
const SLEEP_SPAN: Duration = Duration::from_millis(100);

/// A loop with the default builder (io_uring where the kernel has it).
fn ringloop() -> Ringloop {
    let lp = ringloop::EventLoop::new().expect("ringloop event loop");
    Ringloop { lp }
}

// ---------------------------------------------------------------------------------------
// Timing
// ---------------------------------------------------------------------------------------

/// Runs `make()` to completion `iters` times on `rt`; wall time of the runs only.
fn wall<R: Exec, F: Future>(rt: &R, iters: u64, mut make: impl FnMut() -> F) -> Duration
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
fn cpu<R: Exec, F: Future>(rt: &R, iters: u64, mut make: impl FnMut() -> F) -> Duration
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

/// Registers `workload` for every runtime in one group named `name`.
macro_rules! group {
    ($c:expr, $name:expr, $measure:ident, $workload:ident ( $($arg:expr),* )) => {{
        let mut group = $c.benchmark_group($name);
        group.sampling_mode(SamplingMode::Flat);
        {
            let rt = ringloop();
            group.bench_function("ringloop", |b| {
                b.iter_custom(|iters| $measure(&rt, iters, || $workload::<Ringloop>($($arg),*)))
            });
        }
        {
            let rt = Tokio::new().expect("tokio runtime");
            group.bench_function("tokio", |b| {
                b.iter_custom(|iters| $measure(&rt, iters, || $workload::<Tokio>($($arg),*)))
            });
        }
        {
            let rt = Monoio::new().expect("monoio runtime");
            group.bench_function("monoio", |b| {
                b.iter_custom(|iters| $measure(&rt, iters, || $workload::<Monoio>($($arg),*)))
            });
        }
        group.finish();
    }};
}

fn spawn_1m(c: &mut Criterion) {
    group!(c, "spawn_1m", wall, spawn_many(SPAWN_TASKS));
}

fn eager_spawn_1m(c: &mut Criterion) {
    let mut group = c.benchmark_group("eager_spawn_1m");
    group.sampling_mode(SamplingMode::Flat);
    {
        let lp = ringloop::EventLoop::builder()
            .eager_tasks(true)
            .build()
            .expect("ringloop event loop");
        let rt = Ringloop { lp };
        group.bench_function("ringloop-eager", |b| {
            b.iter_custom(|iters| wall(&rt, iters, || spawn_many::<Ringloop>(SPAWN_TASKS)))
        });
    }
    {
        let rt = ringloop();
        group.bench_function("ringloop", |b| {
            b.iter_custom(|iters| wall(&rt, iters, || spawn_many::<Ringloop>(SPAWN_TASKS)))
        });
    }
    group.finish();
}

fn yield_1k_x_1k(c: &mut Criterion) {
    group!(
        c,
        "yield_1k_x_1k",
        wall,
        yield_many(YIELD_TASKS, YIELDS_PER_TASK)
    );
}

fn channel_1k_x_1k(c: &mut Criterion) {
    group!(
        c,
        "channel_1k_x_1k",
        wall,
        channel_pairs(CHANNEL_PAIRS, MESSAGES_PER_PAIR)
    );
}

fn timeout_1m(c: &mut Criterion) {
    group!(c, "timeout_1m", wall, timeout_many(TIMEOUTS));
}

fn sleep_200k_cpu(c: &mut Criterion) {
    let delays = random_delays(SLEEP_TASKS, SLEEP_SPAN, Duration::from_millis(1));
    group!(c, "sleep_200k_cpu", cpu, sleep_many(delays.clone()));
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
