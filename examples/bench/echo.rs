//! Loopback TCP echo: the servers ([`EchoServer`]: the stream server generic over [`Rt`]
//! on each runtime, and ringloop's protocol server) each on its own thread, the load
//! generator (one tokio current_thread client, the same for every server), the cases
//! and the measurement of interleaved windows.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::Plan;
use crate::Progress;
use crate::cpu::{ThreadClock, cpu_busy, pin_current_thread};
use crate::report::OTHER_LOAD_WARNING;
use crate::runtime::{Ringloop, Rt, Runtime, Tokio};

/// The stream server's read buffer.
const SERVER_BUF: usize = 16 * 1024;

/// An echo server of the benchmark: a runtime and how it serves. One column of the echo
/// tables and one series of the chart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EchoServer {
    /// The stream server (an accept loop spawning one echo task per connection) on
    /// ringloop's io_uring backend.
    IoUring,
    /// The stream server on ringloop's epoll backend.
    Epoll,
    /// The stream server on tokio.
    Tokio,
    /// ringloop's protocol/transport server (`net::serve` with [`EchoProtocol`]) on
    /// io_uring.
    Protocol,
    /// The protocol server on epoll.
    ProtocolEpoll,
}

pub(crate) const ECHO_SERVERS: [EchoServer; 5] = [
    EchoServer::IoUring,
    EchoServer::Epoll,
    EchoServer::Tokio,
    EchoServer::Protocol,
    EchoServer::ProtocolEpoll,
];

impl EchoServer {
    /// The runtime the server runs on.
    pub(crate) fn runtime(self) -> Runtime {
        match self {
            EchoServer::IoUring | EchoServer::Protocol => Runtime::IoUring,
            EchoServer::Epoll | EchoServer::ProtocolEpoll => Runtime::Epoll,
            EchoServer::Tokio => Runtime::Tokio,
        }
    }

    pub(crate) fn label(self) -> &'static str {
        match self {
            EchoServer::IoUring | EchoServer::Epoll | EchoServer::Tokio => self.runtime().label(),
            EchoServer::Protocol => "ringloop-protocol",
            EchoServer::ProtocolEpoll => "ringloop-protocol-epoll",
        }
    }

    /// The label in ratio and counter column headers.
    pub(crate) fn short(self) -> &'static str {
        match self {
            EchoServer::IoUring => "io_uring",
            EchoServer::Epoll => "epoll",
            EchoServer::Tokio => "tokio",
            EchoServer::Protocol => "protocol",
            EchoServer::ProtocolEpoll => "protocol-epoll",
        }
    }

    pub(crate) fn index(self) -> usize {
        match self {
            EchoServer::IoUring => 0,
            EchoServer::Epoll => 1,
            EchoServer::Tokio => 2,
            EchoServer::Protocol => 3,
            EchoServer::ProtocolEpoll => 4,
        }
    }

    /// Chart colour.
    pub(crate) fn colour(self) -> &'static str {
        match self {
            EchoServer::IoUring | EchoServer::Epoll | EchoServer::Tokio => self.runtime().colour(),
            EchoServer::Protocol => "#5e3c99",
            EchoServer::ProtocolEpoll => "#b2abd2",
        }
    }
}

/// Starts the stream server on `listener` (inside the running loop).
fn stream_server<R: Rt>(listener: R::Listener) {
    R::spawn_detached(accept_loop::<R>(listener));
}

/// Starts the protocol server on `listener` (inside the running loop).
fn protocol_server(listener: ringloop::net::TcpListener) {
    let server = ringloop::net::serve(listener, || EchoProtocol { transport: None });
    Ringloop::spawn_detached(async move {
        if let Err(e) = server.await {
            eprintln!("\nbench: echo server: protocol server failed: {e}");
        }
    });
}

/// The protocol server's echo: writes back what arrives. (`serve` sets `TCP_NODELAY`.)
struct EchoProtocol {
    transport: Option<ringloop::net::Transport>,
}

impl ringloop::net::Protocol for EchoProtocol {
    fn connection_made(&mut self, transport: ringloop::net::Transport) {
        self.transport = Some(transport);
    }

    fn data_received(&mut self, data: &[u8]) {
        if let Some(transport) = &self.transport {
            transport.write(data);
        }
    }
}

async fn accept_loop<R: Rt>(listener: R::Listener) {
    loop {
        match R::accept(&listener).await {
            Ok(stream) => R::spawn_detached(echo_conn::<R>(stream)),
            Err(e) => {
                eprintln!("\nbench: echo server: accept failed: {e}");
                return;
            }
        }
    }
}

/// Echoes until the peer closes.
async fn echo_conn<R: Rt>(mut stream: R::Stream) {
    let mut buf = vec![0u8; SERVER_BUF].into_boxed_slice();
    loop {
        let (res, b) = R::read(&mut stream, buf).await;
        buf = b;
        let n = match res {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) => {
                eprintln!("\nbench: echo server: read failed: {e}");
                return;
            }
        };
        let (res, b) = R::write_all(&mut stream, buf, n).await;
        buf = b;
        if let Err(e) = res {
            eprintln!("\nbench: echo server: write failed: {e}");
            return;
        }
    }
}

enum ServerCommand {
    Stats(mpsc::Sender<Option<ringloop::Stats>>),
    Exit,
}

/// An echo server running on its own thread; the handle is the same for every runtime.
struct Server {
    addr: SocketAddr,
    clock: ThreadClock,
    stop: Box<dyn Fn() + Send + Sync>,
    commands: mpsc::Sender<ServerCommand>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Server {
    /// Starts a server thread pinned to `cpu` (when `Some`) running the runtime `make`
    /// builds, where `serve` starts serving a listener.
    fn start<R: Rt>(
        name: &str,
        cpu: Option<usize>,
        make: impl FnOnce() -> io::Result<R> + Send + 'static,
        serve: fn(R::Listener),
    ) -> io::Result<Server> {
        let (ready_tx, ready_rx) = mpsc::channel();
        let (commands, command_rx) = mpsc::channel();
        let thread = thread::Builder::new()
            .name(format!("{name}-echo"))
            .spawn(move || {
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
                // Dropping the runtime cancels the server and any echo task left.
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
            panic!("an echo server thread panicked");
        }
    }
}

fn start_server(server: EchoServer, cpu: Option<usize>) -> io::Result<Server> {
    let name = server.label();
    let backend = server.runtime().backend();
    let ringloop = move || Ringloop::new(backend.expect("a ringloop server's backend"));
    match server {
        EchoServer::Tokio => Server::start(name, cpu, Tokio::new, stream_server::<Tokio>),
        EchoServer::IoUring | EchoServer::Epoll => {
            Server::start(name, cpu, ringloop, stream_server::<Ringloop>)
        }
        EchoServer::Protocol | EchoServer::ProtocolEpoll => {
            Server::start(name, cpu, ringloop, protocol_server)
        }
    }
}

// ---------------------------------------------------------------------------------------
// Echo: the load generator (tokio current_thread, the same for every server)
// ---------------------------------------------------------------------------------------

struct Client {
    rt: tokio::runtime::Runtime,
    local: tokio::task::LocalSet,
}

struct ClientConn {
    stream: tokio::net::TcpStream,
    msg: Box<[u8]>,
    reply: Box<[u8]>,
}

impl Client {
    fn new() -> Client {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("the client's tokio runtime");
        Client {
            rt,
            local: tokio::task::LocalSet::new(),
        }
    }

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.local.block_on(&self.rt, future)
    }

    fn connect(&self, addr: SocketAddr, conns: usize, size: usize) -> io::Result<Vec<ClientConn>> {
        self.block_on(async {
            let mut out = Vec::with_capacity(conns);
            for i in 0..conns {
                let stream = tokio::net::TcpStream::connect(addr).await?;
                stream.set_nodelay(true)?;
                let msg: Box<[u8]> = (0..size).map(|j| (i * 31 + j * 7) as u8).collect();
                out.push(ClientConn {
                    stream,
                    msg,
                    reply: vec![0u8; size].into_boxed_slice(),
                });
            }
            Ok(out)
        })
    }

    /// Every connection does round trips until `window` has passed; returns how many
    /// and how long it took for the last one to come back.
    fn drive(&self, conns: &mut Vec<ClientConn>, window: Duration) -> (u64, Duration) {
        let taken = std::mem::take(conns);
        let start = Instant::now();
        let until = start + window;
        let (back, round_trips) = self.block_on(async move {
            let tasks: Vec<_> = taken
                .into_iter()
                .map(|conn| tokio::task::spawn_local(round_trips_until(conn, until)))
                .collect();
            let mut back = Vec::with_capacity(tasks.len());
            let mut total = 0;
            for task in tasks {
                let (conn, n) = task.await.expect("a client task panicked");
                back.push(conn);
                total += n;
            }
            (back, total)
        });
        *conns = back;
        (round_trips, start.elapsed())
    }
}

/// Round trips on one connection until `until`; the echo is checked at the end.
async fn round_trips_until(mut conn: ClientConn, until: Instant) -> (ClientConn, u64) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut n = 0;
    while Instant::now() < until {
        conn.stream
            .write_all(&conn.msg)
            .await
            .expect("client write");
        conn.stream
            .read_exact(&mut conn.reply)
            .await
            .expect("client read");
        n += 1;
    }
    assert!(
        n == 0 || conn.reply == conn.msg,
        "the echo differs from the message"
    );
    (conn, n)
}

// ---------------------------------------------------------------------------------------
// Echo: cases and measurement
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
pub(crate) struct EchoCase {
    pub(crate) conns: usize,
    pub(crate) size: usize,
}

pub(crate) fn echo_cases() -> Vec<EchoCase> {
    let mut cases = Vec::new();
    for conns in [1, 100, 1000] {
        for size in [64, 1024, 16 * 1024] {
            cases.push(EchoCase { conns, size });
        }
    }
    cases
}

impl EchoCase {
    pub(crate) fn name(self) -> String {
        format!("{} × {}", conns_label(self.conns), size_label(self.size))
    }

    pub(crate) fn short(self) -> String {
        format!("{}c {}", self.conns, size_label(self.size))
    }
}

fn conns_label(conns: usize) -> String {
    if conns == 1 {
        "1 conn".to_string()
    } else {
        format!("{conns} conns")
    }
}

fn size_label(size: usize) -> String {
    if size % 1024 == 0 {
        format!("{} KiB", size / 1024)
    } else {
        format!("{size} B")
    }
}

/// One measured window on one server.
#[derive(Clone, Copy, Debug, Default)]
struct Sample {
    round_trips: u64,
    wall: Duration,
    server_cpu: Duration,
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

/// A case's figures on one server, over its rounds.
#[derive(Clone, Copy, Debug)]
pub(crate) struct EchoFigures {
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

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

fn figures(runtime: Runtime, samples: &[Sample]) -> EchoFigures {
    let total = |f: fn(&Sample) -> u64| samples.iter().map(f).sum::<u64>();
    let secs = |f: fn(&Sample) -> Duration| samples.iter().map(f).sum::<Duration>().as_secs_f64();
    let rts = total(|s| s.round_trips).max(1) as f64;
    let wall = secs(|s| s.wall);
    let per_rt = |n: u64| samples.iter().all(|s| s.has_stats).then(|| n as f64 / rts);
    // On io_uring every syscall of the loop is an io_uring_enter; on epoll the loop
    // makes one syscall per operation attempt on top of its epoll_waits.
    let syscalls = match runtime {
        Runtime::IoUring => total(|s| s.waits),
        _ => total(|s| s.waits) + total(|s| s.op_syscalls),
    };
    EchoFigures {
        rate: median(samples.iter().map(Sample::rate).collect()),
        server_us: median(samples.iter().map(Sample::server_us_per_rt).collect()),
        server_busy: secs(|s| s.server_cpu) / wall,
        client_busy: secs(|s| s.client_cpu) / wall,
        other_load: samples
            .iter()
            .map(|s| Some(s.other?.as_secs_f64() / s.wall.as_secs_f64()))
            .try_fold(0.0f64, |max, x| Some(max.max(x?))),
        waits_per_rt: per_rt(total(|s| s.waits)),
        syscalls_per_rt: per_rt(syscalls),
    }
}

/// One measured window: `client` drives `conns` against `server`.
fn measure(
    client: &Client,
    client_clock: &ThreadClock,
    server: &Server,
    conns: &mut Vec<ClientConn>,
    window: Duration,
    cores: Option<(usize, usize)>,
) -> Sample {
    let before = server.stats();
    let busy = |cores: Option<(usize, usize)>| {
        let (server, client) = cores?;
        Some((cpu_busy(server)?, cpu_busy(client)?))
    };
    let cores_before = busy(cores);
    let server_cpu = server.clock.read();
    let client_cpu = client_clock.read();
    let (round_trips, wall) = client.drive(conns, window);
    let client_cpu = client_clock.read() - client_cpu;
    let server_cpu = server.clock.read() - server_cpu;
    let cores_after = busy(cores);
    let after = server.stats();
    let other = cores_before.zip(cores_after).map(|((s0, c0), (s1, c1))| {
        let server_other = (s1 - s0).saturating_sub(server_cpu);
        let client_other = (c1 - c0).saturating_sub(client_cpu);
        server_other.max(client_other)
    });
    let mut sample = Sample {
        round_trips,
        wall,
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
    sample
}

/// Echo results: `[case][server]` (indexed by [`EchoServer::index`]), with why a server
/// had none.
pub(crate) type EchoResults = Vec<[Result<EchoFigures, String>; ECHO_SERVERS.len()]>;

/// Measurements of one window repeated at most, when other work disturbed it.
pub(crate) const MAX_RETRIES: usize = 2;

/// Whether other work took more than [`OTHER_LOAD_WARNING`] of a benchmark core.
fn disturbed(sample: &Sample) -> bool {
    sample
        .other
        .is_some_and(|other| other.as_secs_f64() > OTHER_LOAD_WARNING * sample.wall.as_secs_f64())
}

pub(crate) fn run_echo(
    plan: &Plan,
    available: &[bool; 3],
    server_cpu: Option<usize>,
    progress: &Progress,
) -> EchoResults {
    let mut retry_budget = plan.echo_retry_budget;
    let retry_budget = &mut retry_budget;
    let client = Client::new();
    let client_clock = ThreadClock::current();
    let mut results = Vec::new();
    for case in echo_cases() {
        // The servers of a case run side by side (idle ones block in the kernel) and are
        // measured in interleaved rounds.
        let mut setups: Vec<Result<(Server, Vec<ClientConn>), String>> = Vec::new();
        for server in ECHO_SERVERS {
            progress.step(format!("echo {}: start {}", case.name(), server.label()));
            if !available[server.runtime().index()] {
                setups.push(Err("unavailable".to_string()));
                continue;
            }
            let setup = start_server(server, server_cpu)
                .and_then(|handle| {
                    let mut conns = client.connect(handle.addr, case.conns, case.size)?;
                    client.drive(&mut conns, plan.echo_warmup);
                    Ok((handle, conns))
                })
                .map_err(|e| format!("{}: {e}", server.label()));
            if let Err(e) = &setup {
                eprintln!("\nbench: echo {}: {e}", case.name());
            }
            setups.push(setup);
        }
        let mut samples: [Vec<Sample>; ECHO_SERVERS.len()] = Default::default();
        for round in 0..plan.echo_rounds {
            for server in ECHO_SERVERS {
                progress.step(format!(
                    "echo {}: {} round {}/{}",
                    case.name(),
                    server.label(),
                    round + 1,
                    plan.echo_rounds
                ));
                let Ok((handle, conns)) = &mut setups[server.index()] else {
                    continue;
                };
                let cores = server_cpu.map(|cpu| (cpu, 0));
                let mut sample = measure(
                    &client,
                    &client_clock,
                    handle,
                    conns,
                    plan.echo_window,
                    cores,
                );
                // A window disturbed by other work on a benchmark core is measured again,
                // while the run's retry budget lasts.
                for _ in 0..MAX_RETRIES {
                    if !disturbed(&sample) || *retry_budget < plan.echo_window {
                        break;
                    }
                    *retry_budget -= plan.echo_window;
                    progress.note("machine busy, measuring again");
                    sample = measure(
                        &client,
                        &client_clock,
                        handle,
                        conns,
                        plan.echo_window,
                        cores,
                    );
                }
                samples[server.index()].push(sample);
            }
        }
        let row = ECHO_SERVERS.map(|server| match &setups[server.index()] {
            Ok(_) => Ok(figures(server.runtime(), &samples[server.index()])),
            Err(e) => Err(e.clone()),
        });
        // Close the client's connections first, so that the servers' echo tasks see
        // end-of-file, and let the client's runtime run the closes; then stop the servers.
        let servers: Vec<Server> = setups
            .into_iter()
            .filter_map(|setup| setup.ok().map(|(handle, _conns)| handle))
            .collect();
        client.block_on(tokio::task::yield_now());
        drop(servers);
        results.push(row);
    }
    results
}
