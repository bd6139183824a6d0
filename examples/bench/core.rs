//! Core workloads (`workloads.rs`, generic over [`Exec`]): the same futures on every
//! runtime, monoio included. Spawning, yielding, a wake ping-pong through a small
//! waker-based channel and timeouts around ready futures; each figure is the median of
//! several runs. (Sleeps are `timers.rs`'s.)

use std::time::{Duration, Instant};

use ringloop::Backend;

use crate::report::count;
use crate::runtime::{Available, CORE_RUNTIMES, Monoio, Ringloop, Runtime, Tokio};
use crate::workloads::{Exec, channel_pairs, spawn_many, timeout_many, yield_many};
use crate::{Plan, Progress};

#[derive(Clone, Copy, Debug)]
pub(crate) enum CoreWorkload {
    Spawn,
    Yield,
    Wake,
    Timeout,
}

pub(crate) const CORE_WORKLOADS: [CoreWorkload; 4] = [
    CoreWorkload::Spawn,
    CoreWorkload::Yield,
    CoreWorkload::Wake,
    CoreWorkload::Timeout,
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
        }
    }

    /// One run on `rt`: wall time; the result is checked.
    fn run<R: Exec>(self, rt: &R, plan: &Plan) -> Duration {
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
        }
        start.elapsed()
    }
}

/// The median of `runs`.
fn median_of(mut runs: Vec<Duration>) -> Option<Duration> {
    runs.sort();
    runs.get(runs.len() / 2).copied()
}

/// Core results: `[workload][runtime]` (by [`Runtime::index`], over
/// [`CORE_RUNTIMES`]), `None` where the runtime is unavailable.
pub(crate) type CoreResults = Vec<[Option<Duration>; 4]>;

/// The core workloads' runtimes, each built once (`None`: unavailable).
pub(crate) struct CoreRuntimes {
    uring: Option<Ringloop>,
    epoll: Option<Ringloop>,
    tokio: Option<Tokio>,
    monoio: Option<Monoio>,
}

impl CoreRuntimes {
    pub(crate) fn new(available: &Available) -> CoreRuntimes {
        let on = |runtime: Runtime| available[runtime.index()];
        CoreRuntimes {
            uring: on(Runtime::IoUring)
                .then(|| Ringloop::new(Backend::IoUring).ok())
                .flatten(),
            epoll: on(Runtime::Epoll)
                .then(|| Ringloop::new(Backend::Epoll).ok())
                .flatten(),
            tokio: on(Runtime::Tokio).then(|| Tokio::new().ok()).flatten(),
            monoio: on(Runtime::Monoio).then(|| Monoio::new().ok()).flatten(),
        }
    }

    /// `f` on `runtime`, or `None` where it is unavailable.
    pub(crate) fn with<T>(&self, runtime: Runtime, f: &impl RunOn<T>) -> Option<T> {
        match runtime {
            Runtime::IoUring => self.uring.as_ref().map(|rt| f.run(rt)),
            Runtime::Epoll => self.epoll.as_ref().map(|rt| f.run(rt)),
            Runtime::Tokio => self.tokio.as_ref().map(|rt| f.run(rt)),
            Runtime::Monoio => self.monoio.as_ref().map(|rt| f.run(rt)),
        }
    }
}

/// Something to run on any [`Exec`] (a generic closure).
pub(crate) trait RunOn<T> {
    fn run<R: Exec>(&self, rt: &R) -> T;
}

/// One run of a workload.
struct Once<'a>(CoreWorkload, &'a Plan);

impl RunOn<Duration> for Once<'_> {
    fn run<R: Exec>(&self, rt: &R) -> Duration {
        self.0.run(rt, self.1)
    }
}

pub(crate) fn run_core(plan: &Plan, available: &Available, progress: &Progress) -> CoreResults {
    let runtimes = CoreRuntimes::new(available);
    CORE_WORKLOADS
        .iter()
        .map(|&workload| {
            // A warm-up run on every runtime first, then the measured runs interleaved
            // (one on each runtime per round): neither the allocator's state (the first
            // big burst in the process pays for fresh pages and moves glibc's mmap
            // threshold) nor a noisy moment favours whichever runtime runs later.
            let once = Once(workload, plan);
            for runtime in CORE_RUNTIMES {
                progress.step(format!(
                    "core: {} on {}",
                    workload.name(plan),
                    runtime.label()
                ));
                runtimes.with(runtime, &once);
            }
            let mut samples: [Vec<Duration>; 4] = Default::default();
            for _ in 0..plan.core_runs {
                for runtime in CORE_RUNTIMES {
                    if let Some(d) = runtimes.with(runtime, &once) {
                        samples[runtime.index()].push(d);
                    }
                }
            }
            samples.map(median_of)
        })
        .collect()
}
