//! Timers at every density (issue 15 item 2): tasks that each sleep once, all awaited,
//! on the core workloads' four runtimes. The figure is the thread's CPU time for the
//! whole run (the wall time is the longest sleep), and that over the number of timers.
//!
//! - **dense**: many random whole-millisecond sleeps within a short span (200k within
//!   100 ms): the timer structure's cost per insertion and expiry;
//! - **sparse**: few timers per millisecond, 20k sleeps spread evenly over 1 s (one every
//!   50 µs, in deadline order): what the loop pays per wake-up;
//! - **scaling**: 10k to 1M random microsecond sleeps within 1 s: how the cost per timer
//!   grows with the number of timers (the last, 1M, is the 1M-timer workload).
//!
//! Each is run once on each runtime to warm up (not in `--quick`), then measured several
//! times, the runs interleaved across the runtimes; the figure is the median.

use std::rc::Rc;
use std::time::Duration;

use crate::core::{CoreRuntimes, RunOn};
use crate::cpu::thread_cpu_time;
use crate::report::count;
use crate::runtime::{Available, CORE_RUNTIMES};
use crate::workloads::{Exec, random_delays, sleep_many, spread_delays};
use crate::{Plan, Progress};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TimerWorkload {
    Dense,
    Sparse,
    /// The plan's `timer_counts[i]` random sleeps within its `timer_span`.
    Scaling(usize),
}

/// The workloads of a plan: dense, sparse, then the scaling points.
pub(crate) fn timer_workloads(plan: &Plan) -> Vec<TimerWorkload> {
    [TimerWorkload::Dense, TimerWorkload::Sparse]
        .into_iter()
        .chain((0..plan.timer_counts.len()).map(TimerWorkload::Scaling))
        .collect()
}

/// Progress steps of [`run_timers`].
pub(crate) fn timer_steps(plan: &Plan) -> usize {
    timer_workloads(plan).len() * CORE_RUNTIMES.len()
}

fn span_label(span: Duration) -> String {
    if span >= Duration::from_secs(1) && span.subsec_nanos() == 0 {
        format!("{} s", span.as_secs())
    } else {
        format!("{} ms", span.as_millis())
    }
}

impl TimerWorkload {
    /// How many timers.
    pub(crate) fn timers(self, plan: &Plan) -> usize {
        match self {
            TimerWorkload::Dense => plan.sleep_tasks,
            TimerWorkload::Sparse => plan.sparse_timers,
            TimerWorkload::Scaling(i) => plan.timer_counts[i],
        }
    }

    pub(crate) fn name(self, plan: &Plan) -> String {
        let n = count(self.timers(plan) as u64);
        match self {
            TimerWorkload::Dense => {
                format!("dense: {n} sleeps of 0–{} ms (whole ms)", plan.sleep_max_ms)
            }
            TimerWorkload::Sparse => format!(
                "sparse: {n} sleeps spread evenly over {}",
                span_label(plan.sparse_span)
            ),
            TimerWorkload::Scaling(_) => format!(
                "{n} sleeps of 0–{} (random µs)",
                span_label(plan.timer_span)
            ),
        }
    }

    fn delays(self, plan: &Plan) -> Rc<[Duration]> {
        let n = self.timers(plan);
        match self {
            TimerWorkload::Dense => random_delays(
                n,
                Duration::from_millis(plan.sleep_max_ms),
                Duration::from_millis(1),
            ),
            TimerWorkload::Sparse => spread_delays(n, plan.sparse_span),
            TimerWorkload::Scaling(_) => {
                random_delays(n, plan.timer_span, Duration::from_micros(1))
            }
        }
    }
}

/// One run: the thread's CPU time while every sleep runs out.
fn cpu_of_run<R: Exec>(rt: &R, delays: &Rc<[Duration]>) -> Duration {
    let cpu = thread_cpu_time();
    let n = rt.block_on(sleep_many::<R>(delays.clone()));
    let spent = thread_cpu_time() - cpu;
    assert_eq!(n, delays.len(), "sleep: wrong count");
    spent
}

/// One run of a timer workload: the thread's CPU time.
struct TimerRun<'a> {
    delays: &'a Rc<[Duration]>,
}

impl RunOn<Duration> for TimerRun<'_> {
    fn run<R: Exec>(&self, rt: &R) -> Duration {
        cpu_of_run(rt, self.delays)
    }
}

/// Timer results: per workload, the CPU time per runtime (by [`Runtime::index`]).
///
/// [`Runtime::index`]: crate::runtime::Runtime::index
pub(crate) type TimerResults = Vec<(TimerWorkload, [Option<Duration>; 4])>;

pub(crate) fn run_timers(plan: &Plan, available: &Available, progress: &Progress) -> TimerResults {
    let runtimes = CoreRuntimes::new(available);
    timer_workloads(plan)
        .into_iter()
        .map(|workload| {
            let delays = workload.delays(plan);
            let once = TimerRun { delays: &delays };
            // A warm-up run on each runtime, then the runs interleaved across the
            // runtimes, so a burst of other work disturbs one run of each at most.
            for runtime in CORE_RUNTIMES {
                progress.step(format!(
                    "timers: {} on {}",
                    workload.name(plan),
                    runtime.label()
                ));
                if plan.timer_warmup {
                    runtimes.with(runtime, &once);
                }
            }
            let mut runs: [Vec<Duration>; 4] = Default::default();
            for run in 0..plan.timer_runs {
                // The order rotates each run, so no runtime always follows the same one.
                let mut order = CORE_RUNTIMES;
                order.rotate_left(run % CORE_RUNTIMES.len());
                for runtime in order {
                    if let Some(cpu) = runtimes.with(runtime, &once) {
                        runs[runtime.index()].push(cpu);
                    }
                }
            }
            let row = runs.map(|mut runs| {
                runs.sort();
                runs.get(runs.len() / 2).copied()
            });
            (workload, row)
        })
        .collect()
}
