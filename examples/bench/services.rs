//! Services (issue 12): what a service built of several loops and a blocking pool pays
//! for crossing between them, as round trips awaited one after the other.
//!
//! - **Remote spawn**: a loop on thread A awaits `remote_b.spawn(|| async { i })`, work
//!   run on a loop on thread B (a [`ringloop::LoopPool`] of one), N times in a row,
//!   each loop with its default builder (so A spins for the answer before blocking:
//!   `Builder::remote_spin`); also with A's spin off. Thread A's CPU time is reported
//!   next to the time.
//!   tokio's peer: a current_thread runtime on thread A awaits
//!   `handle_b.spawn(async { i })`'s `JoinHandle`, where B is a multi_thread runtime with
//!   one worker; for reference also B as a current_thread runtime on its own thread.
//!   With two CPUs and pinning, A runs on CPU 1 and B on CPU 0 for every runtime.
//! - **spawn_blocking**: a loop awaits `ringloop::spawn_blocking(move || i)` N times in
//!   a row; tokio's peer is `tokio::task::spawn_blocking` on a current_thread runtime.
//!   Unpinned: the pools' threads go where the scheduler puts them.
//!
//! Every runtime is set up first, warmed up, then measured in interleaved rounds; the
//! figure is the median over the rounds of the time per round trip.

use std::io;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use ringloop::Backend;

use crate::cpu::{pin_current_thread, thread_cpu_time};
use crate::measure::median;
use crate::runtime::{RUNTIMES, Runtime};
use crate::{Plan, Progress};

/// Runs `n` round trips, one after the other: how long they took, and the CPU time the
/// awaiting thread spent on them.
type RoundTrips = Box<dyn Fn(u64) -> (Duration, Duration)>;

/// Time per round trip, or why there is none.
pub(crate) type PerRoundTrip = Result<Duration, String>;

/// The services part's figures.
pub(crate) struct ServiceResults {
    /// `Remote::spawn` + await, per runtime (tokio: B multi_thread).
    pub(crate) remote: [PerRoundTrip; 3],
    /// Thread A's CPU time per remote round trip, per runtime.
    pub(crate) remote_cpu: [PerRoundTrip; 3],
    /// tokio with B a current_thread runtime on its own thread.
    pub(crate) remote_tokio_current: PerRoundTrip,
    /// ringloop-io_uring with thread A's spin off (`Builder::remote_spin(0)`): time and
    /// A's CPU per round trip.
    pub(crate) remote_no_spin: (PerRoundTrip, PerRoundTrip),
    /// `spawn_blocking` + await, per runtime.
    pub(crate) blocking: [PerRoundTrip; 3],
    /// Where threads A and B ran.
    pub(crate) placement: String,
}

/// Progress steps of [`run_services`].
pub(crate) fn service_steps(plan: &Plan) -> usize {
    2 + plan.service_rounds * 2
}

/// Runs every setup `warmup` round trips, then `rounds` interleaved rounds of `n`; the
/// median time and awaiting thread's CPU time per round trip of each.
fn interleaved(
    setups: &[Result<RoundTrips, String>],
    n: u64,
    rounds: usize,
    what: &str,
    progress: &Progress,
) -> Vec<(PerRoundTrip, PerRoundTrip)> {
    for setup in setups.iter().flatten() {
        setup((n / 10).max(1));
    }
    let mut samples = vec![(Vec::new(), Vec::new()); setups.len()];
    for round in 0..rounds {
        progress.step(format!("services: {what}, round {}/{rounds}", round + 1));
        for (setup, (times, cpus)) in setups.iter().zip(&mut samples) {
            if let Ok(setup) = setup {
                let (time, cpu) = setup(n);
                times.push(time.as_secs_f64() / n as f64);
                cpus.push(cpu.as_secs_f64() / n as f64);
            }
        }
    }
    setups
        .iter()
        .zip(samples)
        .map(|(setup, (times, cpus))| match setup {
            Ok(_) => (
                Ok(Duration::from_secs_f64(median(times))),
                Ok(Duration::from_secs_f64(median(cpus))),
            ),
            Err(e) => (Err(e.clone()), Err(e.clone())),
        })
        .collect()
}

/// Times `f` and the CPU time this thread spends in it.
fn timed(f: impl FnOnce()) -> (Duration, Duration) {
    let cpu = thread_cpu_time();
    let start = Instant::now();
    f();
    (start.elapsed(), thread_cpu_time().saturating_sub(cpu))
}

fn ringloop_loop(backend: Backend) -> io::Result<ringloop::EventLoop> {
    ringloop::EventLoop::builder().backend(backend).build()
}

fn current_thread() -> io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// A loop here (thread A) awaiting work spawned on a pool loop (thread B); with its
/// `remote_spin` set to `spin` when given (else its default).
fn ringloop_remote(
    backend: Backend,
    pin_b: bool,
    spin: Option<Duration>,
) -> io::Result<RoundTrips> {
    let mut loops = ringloop::EventLoop::builder();
    loops.backend(backend);
    // With `pin_cpus`, loop 0 runs on CPU 0.
    let pool = ringloop::LoopPool::builder()
        .threads(1)
        .pin_cpus(pin_b)
        .loops(loops)
        .build()?;
    let remote = pool.remote(0);
    let mut here = ringloop::EventLoop::builder();
    here.backend(backend);
    if let Some(spin) = spin {
        here.remote_spin(spin);
    }
    let lp = here.build()?;
    Ok(Box::new(move |n| {
        let _b = &pool;
        timed(|| {
            lp.run_until_complete(async {
                for i in 0..n {
                    let x = remote.spawn(move || async move { i }).await;
                    assert_eq!(x.expect("remote work failed"), i);
                }
            })
        })
    }))
}

/// A tokio current_thread runtime on its own thread, until dropped.
struct TokioThread {
    handle: tokio::runtime::Handle,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl TokioThread {
    fn start(cpu: Option<usize>) -> io::Result<TokioThread> {
        let (ready, started) = mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = thread::Builder::new()
            .name("bench-tokio-b".to_string())
            .spawn(move || {
                if let Some(cpu) = cpu {
                    let _ = pin_current_thread(cpu);
                }
                match current_thread() {
                    Ok(rt) => {
                        let _ = ready.send(Ok(rt.handle().clone()));
                        let _ = rt.block_on(stopped);
                    }
                    Err(e) => {
                        let _ = ready.send(Err(e));
                    }
                }
            })?;
        let handle = started
            .recv()
            .map_err(|_| io::Error::other("tokio's thread B died starting"))??;
        Ok(TokioThread {
            handle,
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for TokioThread {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A current_thread runtime here (thread A) awaiting tasks spawned on runtime B: a
/// multi_thread runtime with one worker, or a current_thread runtime on its own thread.
fn tokio_remote(multi_thread: bool, b_cpu: Option<usize>) -> io::Result<RoundTrips> {
    enum B {
        Multi(tokio::runtime::Runtime),
        Current(TokioThread),
    }
    let b = if multi_thread {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .on_thread_start(move || {
                if let Some(cpu) = b_cpu {
                    let _ = pin_current_thread(cpu);
                }
            })
            .build()?;
        B::Multi(rt)
    } else {
        B::Current(TokioThread::start(b_cpu)?)
    };
    let handle = match &b {
        B::Multi(rt) => rt.handle().clone(),
        B::Current(thread) => thread.handle.clone(),
    };
    let a = current_thread()?;
    Ok(Box::new(move |n| {
        let _b = &b;
        timed(|| {
            a.block_on(async {
                for i in 0..n {
                    let x = handle.spawn(async move { i }).await;
                    assert_eq!(x.expect("tokio's remote task failed"), i);
                }
            })
        })
    }))
}

fn ringloop_blocking(backend: Backend) -> io::Result<RoundTrips> {
    let lp = ringloop_loop(backend)?;
    Ok(Box::new(move |n| {
        timed(|| {
            lp.run_until_complete(async {
                for i in 0..n {
                    let x = ringloop::spawn_blocking(move || i).await;
                    assert_eq!(x.expect("a blocking job failed"), i);
                }
            })
        })
    }))
}

fn tokio_blocking() -> io::Result<RoundTrips> {
    let rt = current_thread()?;
    Ok(Box::new(move |n| {
        timed(|| {
            rt.block_on(async {
                for i in 0..n {
                    let x = tokio::task::spawn_blocking(move || i).await;
                    assert_eq!(x.expect("tokio's blocking job failed"), i);
                }
            })
        })
    }))
}

fn setup(
    runtime: Runtime,
    available: &[bool; 4],
    make: impl FnOnce() -> io::Result<RoundTrips>,
) -> Result<RoundTrips, String> {
    if !available[runtime.index()] {
        return Err("unavailable".to_string());
    }
    make().map_err(|e| {
        eprintln!("\nbench: services on {}: {e}", runtime.label());
        e.to_string()
    })
}

/// The services part. `a_cpu`: where thread A runs (B on CPU 0) when the threads are
/// pinned.
pub(crate) fn run_services(
    plan: &Plan,
    available: &[bool; 4],
    a_cpu: Option<usize>,
    progress: &Progress,
) -> ServiceResults {
    let b_cpu = a_cpu.map(|_| 0);
    let placement = match a_cpu {
        Some(a) => format!("thread A pinned to CPU {a}, thread B to CPU 0"),
        None => "threads A and B not pinned".to_string(),
    };

    // Remote spawn, all on thread A (the loops there are not `Send`).
    let mut remote = thread::scope(|scope| {
        let a = thread::Builder::new()
            .name("bench-services-a".to_string())
            .spawn_scoped(scope, move || {
                progress.step("services: start loops A and B".to_string());
                if let Some(cpu) = a_cpu {
                    let _ = pin_current_thread(cpu);
                }
                let mut setups: Vec<Result<RoundTrips, String>> = RUNTIMES
                    .iter()
                    .map(|&runtime| {
                        setup(runtime, available, || match runtime.backend() {
                            Some(backend) => ringloop_remote(backend, b_cpu.is_some(), None),
                            None => tokio_remote(true, b_cpu),
                        })
                    })
                    .collect();
                setups.push(setup(Runtime::Tokio, available, || {
                    tokio_remote(false, b_cpu)
                }));
                setups.push(setup(Runtime::IoUring, available, || {
                    ringloop_remote(Backend::IoUring, b_cpu.is_some(), Some(Duration::ZERO))
                }));
                interleaved(
                    &setups,
                    plan.remote_round_trips,
                    plan.service_rounds,
                    "Remote::spawn round trips",
                    progress,
                )
            })
            .expect("spawn thread A");
        a.join().expect("thread A panicked")
    });
    let remote_no_spin = remote.pop().expect("five setups");
    let remote_tokio_current = remote.pop().expect("five setups").0;

    // spawn_blocking, on this (unpinned) thread.
    progress.step("services: start the spawn_blocking loops".to_string());
    let setups: Vec<Result<RoundTrips, String>> = RUNTIMES
        .iter()
        .map(|&runtime| {
            setup(runtime, available, || match runtime.backend() {
                Some(backend) => ringloop_blocking(backend),
                None => tokio_blocking(),
            })
        })
        .collect();
    let blocking: Vec<PerRoundTrip> = interleaved(
        &setups,
        plan.blocking_round_trips,
        plan.service_rounds,
        "spawn_blocking round trips",
        progress,
    )
    .into_iter()
    .map(|(time, _)| time)
    .collect();
    let three = |v: Vec<PerRoundTrip>| -> [PerRoundTrip; 3] {
        v.try_into()
            .unwrap_or_else(|_| panic!("one result per runtime"))
    };
    let (remote, remote_cpu): (Vec<_>, Vec<_>) = remote.into_iter().unzip();
    ServiceResults {
        remote: three(remote),
        remote_cpu: three(remote_cpu),
        remote_tokio_current,
        remote_no_spin,
        blocking: three(blocking),
        placement,
    }
}
