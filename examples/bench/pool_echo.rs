//! One loop per core (issue 12): loopback echo at [`POOL_CONNS`] connections ×
//! [`POOL_SIZE`] bytes on a [`ringloop::LoopPool`] of two ringloop-io_uring loops, each
//! with its own listener on one port (`SO_REUSEPORT`, the kernel spreading the
//! connections), next to a pool of one loop. Each loop accepts and runs echo's stream
//! server (one task per connection). With two CPUs the loops are pinned one per core
//! (`pin_cpus`) and the load generator (echo's tokio client, on this thread) is not: it
//! shares the cores with the loops, so two loops cannot double the throughput here.
//! Both pools run side by side and are measured in interleaved rounds of echo's windows.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ringloop::Backend;
use ringloop::net::{ListenOptions, TcpListener};

use crate::cpu::ThreadClock;
use crate::echo::{Client, ClientConn, echo_conn};
use crate::measure::median;
use crate::runtime::{Ringloop, Rt};
use crate::{Plan, Progress};

pub(crate) const POOL_CONNS: usize = 100;
pub(crate) const POOL_SIZE: usize = 1024;
/// The pools measured: this many loops each.
pub(crate) const POOL_LOOPS: [usize; 2] = [1, 2];

/// One pool's figures.
pub(crate) struct PoolRow {
    pub(crate) loops: usize,
    /// Median over the rounds of round trips per second.
    pub(crate) rate: f64,
    /// Connections each loop accepted.
    pub(crate) conns: Vec<u64>,
    /// Each loop thread's CPU time over wall time, all rounds.
    pub(crate) busy: Vec<f64>,
    /// Median over the rounds of the loops' CPU time (all of them) per round trip, µs.
    pub(crate) server_us: f64,
    /// The load generator's CPU time over wall time, all rounds.
    pub(crate) client_busy: f64,
}

pub(crate) struct PoolResults {
    /// Per entry of [`POOL_LOOPS`], or why that pool has none.
    pub(crate) rows: Vec<Result<PoolRow, String>>,
    /// Whether the loops were pinned one per CPU.
    pub(crate) pinned: bool,
}

/// A pool of loops serving echo on one port.
struct PoolServer {
    /// Stops and joins the loops when dropped.
    _pool: ringloop::LoopPool,
    addr: SocketAddr,
    clocks: Vec<ThreadClock>,
    accepted: Vec<Arc<AtomicU64>>,
}

impl PoolServer {
    fn start(loops: usize, pin: bool) -> io::Result<PoolServer> {
        let mut builder = ringloop::EventLoop::builder();
        builder.backend(Backend::IoUring);
        let pool = ringloop::LoopPool::builder()
            .threads(loops)
            .pin_cpus(pin)
            .loops(builder)
            .build()?;
        let mut addr = SocketAddr::from(([127, 0, 0, 1], 0));
        let mut clocks = Vec::with_capacity(loops);
        let mut accepted = Vec::with_capacity(loops);
        for index in 0..loops {
            let count = Arc::new(AtomicU64::new(0));
            let counter = count.clone();
            // The first loop picks the port, the others bind the same one.
            let (bound, clock) = pool
                .remote(index)
                .spawn(move || async move {
                    let options = ListenOptions::new().reuse_port(true);
                    let listener = TcpListener::bind_with(addr, options)?;
                    let bound = listener.local_addr()?;
                    drop(ringloop::spawn(accept_loop(listener, counter)));
                    Ok::<_, io::Error>((bound, ThreadClock::current()))
                })
                .join()
                .map_err(|e| io::Error::other(format!("loop {index}: {e}")))??;
            addr = bound;
            clocks.push(clock);
            accepted.push(count);
        }
        Ok(PoolServer {
            _pool: pool,
            addr,
            clocks,
            accepted,
        })
    }

    fn cpu(&self) -> Vec<Duration> {
        self.clocks.iter().map(ThreadClock::read).collect()
    }
}

async fn accept_loop(listener: TcpListener, accepted: Arc<AtomicU64>) {
    loop {
        match Ringloop::accept(&listener).await {
            Ok(stream) => {
                accepted.fetch_add(1, Ordering::Relaxed);
                drop(ringloop::spawn(echo_conn::<Ringloop>(stream)));
            }
            Err(e) => {
                eprintln!("\nbench: pool echo: accept failed: {e}");
                return;
            }
        }
    }
}

/// One measured window: round trips, wall time, each loop's CPU time, the client's.
struct Sample {
    round_trips: u64,
    wall: Duration,
    loops_cpu: Vec<Duration>,
    client_cpu: Duration,
}

fn measure(
    server: &PoolServer,
    client: &Client,
    client_clock: &ThreadClock,
    conns: &mut Vec<ClientConn>,
    window: Duration,
) -> Sample {
    let (loops_before, client_before) = (server.cpu(), client_clock.read());
    let (round_trips, wall) = client.drive(conns, window);
    let loops_cpu = server
        .cpu()
        .iter()
        .zip(loops_before)
        .map(|(after, before)| *after - before)
        .collect();
    Sample {
        round_trips,
        wall,
        loops_cpu,
        client_cpu: client_clock.read() - client_before,
    }
}

fn row(server: &PoolServer, samples: &[Sample]) -> PoolRow {
    let wall: f64 = samples.iter().map(|s| s.wall.as_secs_f64()).sum();
    let loops = server.clocks.len();
    let busy = (0..loops)
        .map(|i| {
            samples
                .iter()
                .map(|s| s.loops_cpu[i].as_secs_f64())
                .sum::<f64>()
                / wall
        })
        .collect();
    PoolRow {
        loops,
        rate: median(
            samples
                .iter()
                .map(|s| s.round_trips as f64 / s.wall.as_secs_f64())
                .collect(),
        ),
        conns: server
            .accepted
            .iter()
            .map(|a| a.load(Ordering::Relaxed))
            .collect(),
        busy,
        server_us: median(
            samples
                .iter()
                .map(|s| {
                    let cpu: Duration = s.loops_cpu.iter().sum();
                    cpu.as_secs_f64() * 1e6 / s.round_trips.max(1) as f64
                })
                .collect(),
        ),
        client_busy: samples
            .iter()
            .map(|s| s.client_cpu.as_secs_f64())
            .sum::<f64>()
            / wall,
    }
}

/// Progress steps of [`run_pool_echo`].
pub(crate) fn pool_echo_steps(plan: &Plan) -> usize {
    POOL_LOOPS.len() * (1 + plan.echo_rounds)
}

/// The part: `pin` pins the loops one per CPU (where the machine has two or more).
pub(crate) fn run_pool_echo(
    plan: &Plan,
    io_uring: bool,
    pin: bool,
    progress: &Progress,
) -> PoolResults {
    let client = Client::new();
    let client_clock = ThreadClock::current();
    let mut setups: Vec<Result<(PoolServer, Vec<ClientConn>), String>> = POOL_LOOPS
        .iter()
        .map(|&loops| {
            progress.step(format!("pool echo: start {loops} loop(s), connect"));
            if !io_uring {
                return Err("ringloop-io_uring is unavailable".to_string());
            }
            let setup = PoolServer::start(loops, pin).and_then(|server| {
                let mut conns = client.connect(server.addr, POOL_CONNS, POOL_SIZE)?;
                client.drive(&mut conns, plan.echo_warmup);
                Ok((server, conns))
            });
            setup.map_err(|e| {
                eprintln!("\nbench: pool echo, {loops} loop(s): {e}");
                e.to_string()
            })
        })
        .collect();
    let mut samples: Vec<Vec<Sample>> = POOL_LOOPS.iter().map(|_| Vec::new()).collect();
    for round in 0..plan.echo_rounds {
        for (i, loops) in POOL_LOOPS.iter().enumerate() {
            progress.step(format!(
                "pool echo: {loops} loop(s), round {}/{}",
                round + 1,
                plan.echo_rounds
            ));
            if let Ok((server, conns)) = &mut setups[i] {
                let sample = measure(server, &client, &client_clock, conns, plan.echo_window);
                samples[i].push(sample);
            }
        }
    }
    let rows = setups
        .iter()
        .zip(&samples)
        .map(|(setup, samples)| match setup {
            Ok((server, _)) => Ok(row(server, samples)),
            Err(e) => Err(e.clone()),
        })
        .collect();
    // Close the client's connections first, and let the client's runtime run the
    // closes; then stop the loops.
    let servers: Vec<PoolServer> = setups
        .into_iter()
        .filter_map(|setup| setup.ok().map(|(server, _conns)| server))
        .collect();
    client.block_on(tokio::task::yield_now());
    drop(servers);
    PoolResults { rows, pinned: pin }
}
