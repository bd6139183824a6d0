//! What the echo and HTTP parts share: a server on its own (pinned) thread ([`Server`]),
//! one measured window against it ([`measure`], a [`Sample`]), a window measured again
//! when other work disturbed it ([`measure_retrying`]), and a case's figures over its
//! rounds ([`Figures`]).

use std::io;
use std::net::SocketAddr;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::Progress;
use crate::cpu::{ThreadClock, children_cpu_time, cpu_busy, pin_current_thread};
use crate::report::OTHER_LOAD_WARNING;
use crate::runtime::{Rt, Runtime};

enum ServerCommand {
    Stats(mpsc::Sender<Option<ringloop::Stats>>),
    Exit,
}

/// A server running on its own thread; the handle is the same for every runtime.
pub(crate) struct Server {
    pub(crate) addr: SocketAddr,
    clock: ThreadClock,
    stop: Box<dyn Fn() + Send + Sync>,
    commands: mpsc::Sender<ServerCommand>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Server {
    /// Starts a thread named `name`, pinned to `cpu` (when `Some`), running the runtime
    /// `make` builds, where `serve` starts serving a listener.
    pub(crate) fn start<R: Rt>(
        name: String,
        cpu: Option<usize>,
        make: impl FnOnce() -> io::Result<R> + Send + 'static,
        serve: fn(R::Listener),
    ) -> io::Result<Server> {
        let (ready_tx, ready_rx) = mpsc::channel();
        let (commands, command_rx) = mpsc::channel();
        let thread = thread::Builder::new().name(name).spawn(move || {
            if let Some(cpu) = cpu {
                // Checked once, up front, by the main thread; ignore a late failure.
                let _ = pin_current_thread(cpu);
            }
            let started = make().and_then(|rt| {
                let listener = rt.block_on(async { R::bind() })?;
                let addr = R::local_addr(&listener)?;
                rt.block_on(async { serve(listener) });
                Ok((rt, addr))
            });
            let rt = match started {
                Ok((rt, addr)) => {
                    let stopper = rt.stopper();
                    let stop: Box<dyn Fn() + Send + Sync> = Box::new(move || R::stop(&stopper));
                    let _ = ready_tx.send(Ok((addr, ThreadClock::current(), stop)));
                    rt
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            loop {
                rt.run_until_stopped();
                match command_rx.recv() {
                    Ok(ServerCommand::Stats(reply)) => {
                        let _ = reply.send(rt.stats());
                    }
                    Ok(ServerCommand::Exit) | Err(_) => break,
                }
            }
            // Dropping the runtime cancels the server and any connection task left.
        })?;
        match ready_rx.recv() {
            Ok(Ok((addr, clock, stop))) => Ok(Server {
                addr,
                clock,
                stop,
                commands,
                thread: Some(thread),
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => {
                let _ = thread.join();
                Err(io::Error::other("the server thread died while starting"))
            }
        }
    }

    /// The server loop's counters, read between two runs of its loop.
    fn stats(&self) -> Option<ringloop::Stats> {
        let (tx, rx) = mpsc::channel();
        (self.stop)();
        self.commands
            .send(ServerCommand::Stats(tx))
            .expect("the server thread is alive");
        rx.recv().expect("the server answers")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        (self.stop)();
        let _ = self.commands.send(ServerCommand::Exit);
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
            && !thread::panicking()
        {
            panic!("a server thread panicked");
        }
    }
}

/// One measured window on one server.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Sample {
    /// Round trips (echo) or responses (HTTP) completed.
    round_trips: u64,
    /// The time they took, as the load generator reports it.
    wall: Duration,
    /// The whole measured span, over which CPU times are taken.
    span: Duration,
    server_cpu: Duration,
    /// The load generator's CPU time.
    client_cpu: Duration,
    /// CPU time that went to other work on the server's or the client's core (the
    /// larger of the two), when the threads are pinned.
    other: Option<Duration>,
    /// Server loop counter deltas (ringloop only).
    waits: u64,
    op_syscalls: u64,
    has_stats: bool,
}

impl Sample {
    fn rate(&self) -> f64 {
        self.round_trips as f64 / self.wall.as_secs_f64()
    }

    fn server_us_per_rt(&self) -> f64 {
        self.server_cpu.as_secs_f64() * 1e6 / self.round_trips.max(1) as f64
    }
}

/// A case's figures on one server, over its rounds ("rt": a round trip, or a request).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Figures {
    /// Median over rounds of round trips per second.
    pub(crate) rate: f64,
    /// Median over rounds of server CPU µs per round trip.
    pub(crate) server_us: f64,
    /// Server and client CPU time over wall time, all rounds.
    pub(crate) server_busy: f64,
    pub(crate) client_busy: f64,
    /// The largest share of a window that went to other work on a benchmark core.
    pub(crate) other_load: Option<f64>,
    /// Per round trip over all rounds; `None` for tokio.
    pub(crate) waits_per_rt: Option<f64>,
    pub(crate) syscalls_per_rt: Option<f64>,
}

pub(crate) fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

pub(crate) fn figures(runtime: Runtime, samples: &[Sample]) -> Figures {
    let total = |f: fn(&Sample) -> u64| samples.iter().map(f).sum::<u64>();
    let secs = |f: fn(&Sample) -> Duration| samples.iter().map(f).sum::<Duration>().as_secs_f64();
    let rts = total(|s| s.round_trips).max(1) as f64;
    let span = secs(|s| s.span);
    let per_rt = |n: u64| samples.iter().all(|s| s.has_stats).then(|| n as f64 / rts);
    // On io_uring every syscall of the loop is an io_uring_enter; on epoll the loop
    // makes one syscall per operation attempt on top of its epoll_waits.
    let syscalls = match runtime {
        Runtime::IoUring => total(|s| s.waits),
        _ => total(|s| s.waits) + total(|s| s.op_syscalls),
    };
    Figures {
        rate: median(samples.iter().map(Sample::rate).collect()),
        server_us: median(samples.iter().map(Sample::server_us_per_rt).collect()),
        server_busy: secs(|s| s.server_cpu) / span,
        client_busy: secs(|s| s.client_cpu) / span,
        other_load: samples
            .iter()
            .map(|s| Some(s.other?.as_secs_f64() / s.span.as_secs_f64()))
            .try_fold(0.0f64, |max, x| Some(max.max(x?))),
        waits_per_rt: per_rt(total(|s| s.waits)),
        syscalls_per_rt: per_rt(syscalls),
    }
}

/// Where the load generator runs, and so how its CPU time is read.
#[derive(Clone, Copy)]
pub(crate) enum Generator<'a> {
    /// On a thread of this process: that thread's clock.
    Thread(&'a ThreadClock),
    /// A child process (wrk) that `drive` runs to its end and waits for.
    Child,
}

impl Generator<'_> {
    fn cpu_time(self) -> Duration {
        match self {
            Generator::Thread(clock) => clock.read(),
            Generator::Child => children_cpu_time(),
        }
    }
}

/// One measured window against `server`: `drive` runs the load and returns how many
/// round trips completed in how long. `cores` are the server's and the client's CPUs,
/// when the threads are pinned.
pub(crate) fn measure<E>(
    server: &Server,
    generator: Generator<'_>,
    cores: Option<(usize, usize)>,
    drive: impl FnOnce() -> Result<(u64, Duration), E>,
) -> Result<Sample, E> {
    let before = server.stats();
    let busy = |cores: Option<(usize, usize)>| {
        let (server, client) = cores?;
        Some((cpu_busy(server)?, cpu_busy(client)?))
    };
    let cores_before = busy(cores);
    let server_cpu = server.clock.read();
    let client_cpu = generator.cpu_time();
    let start = Instant::now();
    let driven = drive();
    let span = start.elapsed();
    let client_cpu = generator.cpu_time() - client_cpu;
    let server_cpu = server.clock.read() - server_cpu;
    let cores_after = busy(cores);
    let after = server.stats();
    let (round_trips, wall) = driven?;
    let other = cores_before.zip(cores_after).map(|((s0, c0), (s1, c1))| {
        let server_other = (s1 - s0).saturating_sub(server_cpu);
        let client_other = (c1 - c0).saturating_sub(client_cpu);
        server_other.max(client_other)
    });
    let mut sample = Sample {
        round_trips,
        wall,
        span,
        server_cpu,
        client_cpu,
        other,
        ..Sample::default()
    };
    if let (Some(before), Some(after)) = (before, after) {
        sample.has_stats = true;
        sample.waits = after.io_uring_enters - before.io_uring_enters;
        sample.op_syscalls = after.sqes_submitted - before.sqes_submitted;
    }
    Ok(sample)
}

/// Measurements of one window repeated at most, when other work disturbed it.
pub(crate) const MAX_RETRIES: usize = 2;

/// Whether other work took more than [`OTHER_LOAD_WARNING`] of a benchmark core.
fn disturbed(sample: &Sample) -> bool {
    sample
        .other
        .is_some_and(|other| other.as_secs_f64() > OTHER_LOAD_WARNING * sample.span.as_secs_f64())
}

/// One window measured by `once`, and measured again (up to [`MAX_RETRIES`] times) while
/// other work disturbed it and `retry_budget` still holds a `window`.
pub(crate) fn measure_retrying<E>(
    window: Duration,
    retry_budget: &mut Duration,
    progress: &Progress,
    mut once: impl FnMut() -> Result<Sample, E>,
) -> Result<Sample, E> {
    let mut sample = once()?;
    for _ in 0..MAX_RETRIES {
        if !disturbed(&sample) || *retry_budget < window {
            break;
        }
        *retry_budget -= window;
        progress.note("machine busy, measuring again");
        sample = once()?;
    }
    Ok(sample)
}
