//! Processes (issue 13): spawn `true` and await its exit, one process after the other,
//! `Plan::process_spawns` times: `ringloop::process::Command` (the exit awaited through
//! a pidfd) on both backends, `tokio::process::Command` on a current_thread runtime.
//! The spawns are split into interleaved rounds, so a drift of the machine hits every
//! runtime alike; the figure is the total over the rounds.

use std::io;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::runtime::{RUNTIMES, Runtime, rotated};
use crate::{Plan, Progress};

/// The program spawned: it exits at once, successfully.
pub(crate) const PROGRAM: &str = "true";

/// Spawns before the measured rounds, per runtime.
pub(crate) const WARMUP_SPAWNS: u64 = 10;

/// The processes part's figures.
pub(crate) struct ProcessResults {
    /// Processes spawned and waited for on each runtime (the warm-up not counted).
    pub(crate) spawns: u64,
    /// The time they took in all, or why the runtime has none.
    pub(crate) totals: [Result<Duration, String>; 3],
}

/// A runtime to spawn from.
enum Spawner {
    Ringloop(ringloop::EventLoop),
    Tokio(tokio::runtime::Runtime),
}

impl Spawner {
    fn new(runtime: Runtime) -> io::Result<Spawner> {
        match runtime.backend() {
            Some(backend) => Ok(Spawner::Ringloop(
                ringloop::EventLoop::builder().backend(backend).build()?,
            )),
            None => Ok(Spawner::Tokio(
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?,
            )),
        }
    }

    /// Spawns `n` processes one after the other, awaiting each one's exit: how long it
    /// took.
    fn spawn_wait(&self, n: u64) -> io::Result<Duration> {
        let start = Instant::now();
        match self {
            Spawner::Ringloop(lp) => lp.run_until_complete(async {
                for _ in 0..n {
                    let status = ringloop::process::Command::new(PROGRAM)
                        .stdin(Stdio::null())
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .spawn()?
                        .wait()
                        .await?;
                    check(status)?;
                }
                Ok::<(), io::Error>(())
            })?,
            Spawner::Tokio(rt) => rt.block_on(async {
                for _ in 0..n {
                    let status = tokio::process::Command::new(PROGRAM)
                        .stdin(Stdio::null())
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .spawn()?
                        .wait()
                        .await?;
                    check(status)?;
                }
                Ok::<(), io::Error>(())
            })?,
        }
        Ok(start.elapsed())
    }
}

fn check(status: std::process::ExitStatus) -> io::Result<()> {
    if status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "`{PROGRAM}` exited with {status}"
        )))
    }
}

/// Progress steps of [`run_processes`].
pub(crate) fn process_steps(plan: &Plan) -> usize {
    RUNTIMES.len() * plan.process_rounds
}

pub(crate) fn run_processes(
    plan: &Plan,
    available: &[bool; 4],
    progress: &Progress,
) -> ProcessResults {
    let rounds = plan.process_rounds.max(1) as u64;
    let per_round = plan.process_spawns / rounds;
    let spawners = RUNTIMES.map(|runtime| {
        if !available[runtime.index()] {
            return Err("unavailable".to_string());
        }
        let spawner = Spawner::new(runtime).map_err(|e| e.to_string())?;
        spawner
            .spawn_wait(WARMUP_SPAWNS)
            .map_err(|e| format!("spawning `{PROGRAM}`: {e}"))?;
        Ok(spawner)
    });
    let mut totals = RUNTIMES.map(|runtime| match &spawners[runtime.index()] {
        Ok(_) => Ok(Duration::ZERO),
        Err(e) => {
            eprintln!("\nbench: processes on {}: {e}", runtime.label());
            Err(e.clone())
        }
    });
    for round in 0..rounds {
        for runtime in rotated(round as usize) {
            progress.step(format!(
                "processes: {per_round} × spawn + wait `{PROGRAM}` on {}, round {}/{rounds}",
                runtime.label(),
                round + 1,
            ));
            let (Ok(spawner), Ok(total)) =
                (&spawners[runtime.index()], &mut totals[runtime.index()])
            else {
                continue;
            };
            match spawner.spawn_wait(per_round) {
                Ok(took) => *total += took,
                Err(e) => {
                    let e = format!("spawning `{PROGRAM}`: {e}");
                    eprintln!("\nbench: processes on {}: {e}", runtime.label());
                    totals[runtime.index()] = Err(e);
                }
            }
        }
    }
    ProcessResults {
        spawns: per_round * rounds,
        totals,
    }
}
