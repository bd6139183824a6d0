//! Loopback TCP echo: the servers ([`EchoServer`]: the stream server generic over [`Rt`]
//! on each runtime, and ringloop's protocol server) each on its own thread, the load
//! generator (one tokio current_thread client, the same for every server), the cases
//! and their interleaved rounds (the server thread and the measured window are
//! `measure.rs`'s).

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::cpu::ThreadClock;
use crate::measure::{Figures, Generator, Sample, Server, figures, measure, measure_retrying};
use crate::runtime::{Ringloop, Rt, Runtime, Tokio};
use crate::{Plan, Progress};

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
    /// io_uring, its connections in the ring's registered-file table
    /// ([`PROTOCOL_FIXED_FILES`] slots).
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
            EchoServer::IoUring | EchoServer::Epoll | EchoServer::Tokio => self.runtime().short(),
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

/// The protocol server's registered-file table (`Builder::fixed_files`): a slot for
/// every connection of the largest case (10,000), so that all of them name their slot.
/// The protocol server receives through multishot operations on the ring, which then
/// name the slot (its sends try a syscall first): about 5 % less server CPU per round
/// trip at 100 connections in two scratch A/B runs here. The stream servers keep the
/// default (no table): their reads and writes mostly run as plain syscalls first.
pub(crate) const PROTOCOL_FIXED_FILES: u32 = 16 * 1024;

/// Whether an io_uring loop built as the protocol server's is gets its table here (not
/// before kernel 6.13, nor above `RLIMIT_NOFILE` slots), for the report.
pub(crate) fn protocol_table_granted() -> bool {
    ringloop::EventLoop::builder()
        .backend(ringloop::Backend::IoUring)
        .fixed_files(PROTOCOL_FIXED_FILES)
        .build()
        .is_ok_and(|lp| lp.backend_description().contains("registered-file slots"))
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
pub(crate) async fn echo_conn<R: Rt>(mut stream: R::Stream) {
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

pub(crate) fn start_server(server: EchoServer, cpu: Option<usize>) -> io::Result<Server> {
    let name = format!("{}-echo", server.label());
    let backend = server.runtime().backend();
    let ringloop = move || Ringloop::new(backend.expect("a ringloop server's backend"));
    match server {
        EchoServer::Tokio => Server::start(name, cpu, Tokio::new, stream_server::<Tokio>),
        EchoServer::IoUring | EchoServer::Epoll => {
            Server::start(name, cpu, ringloop, stream_server::<Ringloop>)
        }
        EchoServer::Protocol | EchoServer::ProtocolEpoll => {
            let ringloop = move || {
                let lp = ringloop::EventLoop::builder()
                    .backend(backend.expect("a ringloop server's backend"))
                    .fixed_files(PROTOCOL_FIXED_FILES)
                    .build()?;
                Ok(Ringloop { lp })
            };
            Server::start(name, cpu, ringloop, protocol_server)
        }
    }
}

// ---------------------------------------------------------------------------------------
// Echo: the load generator (tokio current_thread, the same for every server)
// ---------------------------------------------------------------------------------------

/// A tokio current_thread runtime with a `LocalSet`, on the calling thread: where the
/// load generators (echo's, and HTTP's hyper client) run.
pub(crate) struct Client {
    rt: tokio::runtime::Runtime,
    local: tokio::task::LocalSet,
}

pub(crate) struct ClientConn {
    stream: tokio::net::TcpStream,
    msg: Box<[u8]>,
    reply: Box<[u8]>,
}

impl Client {
    pub(crate) fn new() -> Client {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("the client's tokio runtime");
        Client {
            rt,
            local: tokio::task::LocalSet::new(),
        }
    }

    pub(crate) fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.local.block_on(&self.rt, future)
    }

    pub(crate) fn connect(
        &self,
        addr: SocketAddr,
        conns: usize,
        size: usize,
    ) -> io::Result<Vec<ClientConn>> {
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
    pub(crate) fn drive(&self, conns: &mut Vec<ClientConn>, window: Duration) -> (u64, Duration) {
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

/// The cases: 1, 100 and 1000 connections × 64 B, 1 KiB and 16 KiB, and the plan's
/// further scaling points (`echo_scaling`) at 1 KiB, in order of connections.
pub(crate) fn echo_cases(plan: &Plan) -> Vec<EchoCase> {
    let mut cases = Vec::new();
    for conns in [1, 100, 1000] {
        for size in [64, 1024, 16 * 1024] {
            cases.push(EchoCase { conns, size });
        }
    }
    for &conns in plan.echo_scaling {
        cases.push(EchoCase { conns, size: 1024 });
    }
    cases.sort_by_key(|case| (case.conns, case.size));
    cases
}

/// Descriptors a case needs: both ends of every server's connections (the servers of
/// a case run side by side), and some to spare.
fn descriptors(case: EchoCase) -> u64 {
    (ECHO_SERVERS.len() * 2 * case.conns + 256) as u64
}

impl EchoCase {
    pub(crate) fn name(self) -> String {
        format!("{} × {}", conns_label(self.conns), size_label(self.size))
    }

    pub(crate) fn short(self) -> String {
        format!("{}c {}", self.conns, size_label(self.size))
    }
}

pub(crate) fn conns_label(conns: usize) -> String {
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

/// An echo case's figures, per server (indexed by [`EchoServer::index`]), with why a
/// server had none.
pub(crate) type EchoRow = [Result<Figures, String>; ECHO_SERVERS.len()];

/// Echo results: per case, its row.
pub(crate) type EchoResults = Vec<(EchoCase, EchoRow)>;

pub(crate) fn run_echo(
    plan: &Plan,
    available: &[bool; 4],
    server_cpu: Option<usize>,
    progress: &Progress,
) -> EchoResults {
    let mut retry_budget = plan.echo_retry_budget;
    let retry_budget = &mut retry_budget;
    let client = Client::new();
    let mut results = Vec::new();
    for case in echo_cases(plan) {
        let context = Context {
            plan,
            available,
            server_cpu,
            progress,
        };
        // Side by side when this process may hold both ends of every server's
        // connections; else one server at a time against a client in a child process.
        let row = match crate::memory::ensure_nofile(descriptors(case)) {
            Ok(()) => side_by_side(&context, case, &client, retry_budget),
            Err(_) => one_at_a_time(&context, case, retry_budget),
        };
        results.push((case, row));
    }
    results
}

/// What every echo case's run needs.
struct Context<'a> {
    plan: &'a Plan,
    available: &'a [bool; 4],
    server_cpu: Option<usize>,
    progress: &'a Progress,
}

/// The servers of a case run side by side (idle ones block in the kernel) and are
/// measured in interleaved rounds, driven by `client` on this thread.
fn side_by_side(
    context: &Context<'_>,
    case: EchoCase,
    client: &Client,
    retry_budget: &mut Duration,
) -> EchoRow {
    let Context {
        plan,
        available,
        server_cpu,
        progress,
    } = *context;
    let client_clock = ThreadClock::current();
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
            // A window disturbed by other work on a benchmark core is measured again,
            // while the run's retry budget lasts.
            let Ok(sample) = measure_retrying(plan.echo_window, retry_budget, progress, || {
                measure(handle, Generator::Thread(&client_clock), cores, || {
                    Ok::<_, Infallible>(client.drive(conns, plan.echo_window))
                })
            });
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
    row
}

/// Each server of a case alone, its rounds one after the other, driven by the same
/// client code in a child process (the bench re-executed with `--echo-client`), so that
/// this process holds only the server's ends of the connections.
fn one_at_a_time(context: &Context<'_>, case: EchoCase, retry_budget: &mut Duration) -> EchoRow {
    let Context {
        plan,
        available,
        server_cpu,
        progress,
    } = *context;
    ECHO_SERVERS.map(|server| {
        progress.step(format!(
            "echo {}: start {} (client in a child process)",
            case.name(),
            server.label()
        ));
        let mut run = || -> Result<Figures, String> {
            if !available[server.runtime().index()] {
                return Err("unavailable".to_string());
            }
            crate::memory::ensure_nofile(case.conns as u64 + 256)?;
            let handle = start_server(server, server_cpu).map_err(|e| e.to_string())?;
            let mut child = ClientChild::start(handle.addr, case).map_err(|e| e.to_string())?;
            child.go(plan.echo_warmup).map_err(|e| e.to_string())?;
            let clock = ThreadClock::main_thread_of(child.child.id());
            let cores = server_cpu.map(|cpu| (cpu, 0));
            let mut samples = Vec::new();
            for round in 0..plan.echo_rounds {
                progress.step(format!(
                    "echo {}: {} round {}/{}",
                    case.name(),
                    server.label(),
                    round + 1,
                    plan.echo_rounds
                ));
                let sample = measure_retrying(plan.echo_window, retry_budget, progress, || {
                    measure(&handle, Generator::Thread(&clock), cores, || {
                        child.go(plan.echo_window)
                    })
                })
                .map_err(|e| e.to_string())?;
                samples.push(sample);
            }
            // The client's ends close first, then the server stops.
            drop(child);
            drop(handle);
            Ok(figures(server.runtime(), &samples))
        };
        run().map_err(|e| {
            eprintln!("\nbench: echo {}: {}: {e}", case.name(), server.label());
            format!("{}: {e}", server.label())
        })
    })
}

/// Echo's client in a child process: connects, then drives a window per `go`.
struct ClientChild {
    child: std::process::Child,
    stdin: Option<std::process::ChildStdin>,
    stdout: std::io::BufReader<std::process::ChildStdout>,
}

impl ClientChild {
    fn start(addr: SocketAddr, case: EchoCase) -> io::Result<ClientChild> {
        use std::io::BufRead as _;
        use std::process::{Command, Stdio};
        let mut child = Command::new(std::env::current_exe()?)
            .arg("--echo-client")
            .args([
                addr.to_string(),
                case.conns.to_string(),
                case.size.to_string(),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let stdin = child.stdin.take();
        let mut stdout = std::io::BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line)?;
        if line.trim() != "ready" {
            let _ = child.kill();
            let _ = child.wait();
            return Err(io::Error::other(format!(
                "the client child did not connect (said {line:?})"
            )));
        }
        Ok(ClientChild {
            child,
            stdin,
            stdout,
        })
    }

    /// One window: round trips and how long they took.
    fn go(&mut self, window: Duration) -> io::Result<(u64, Duration)> {
        use std::io::{BufRead as _, Write as _};
        let stdin = self.stdin.as_mut().expect("the child's stdin is open");
        writeln!(stdin, "go {}", window.as_nanos())?;
        stdin.flush()?;
        let mut line = String::new();
        self.stdout.read_line(&mut line)?;
        let mut fields = line.split_whitespace().map(str::parse::<u64>);
        match (fields.next(), fields.next()) {
            (Some(Ok(n)), Some(Ok(ns))) => Ok((n, Duration::from_nanos(ns))),
            _ => Err(io::Error::other(format!(
                "the client child said {line:?}, not its round trips"
            ))),
        }
    }
}

impl Drop for ClientChild {
    fn drop(&mut self) {
        // Closing its stdin makes the child close its connections and exit.
        self.stdin.take();
        let _ = self.child.wait();
    }
}

/// The child's side (`--echo-client ADDR CONNS SIZE`): connects, says `ready`, then
/// answers each `go <ns>` with the round trips of a window that long and the time they
/// took (`<round trips> <ns>`), until stdin closes.
pub(crate) fn client_child(args: &[String]) -> ! {
    use std::io::{BufRead as _, Write as _};
    let parsed = match args {
        [addr, conns, size] => addr
            .parse::<SocketAddr>()
            .ok()
            .zip(conns.parse::<usize>().ok())
            .zip(size.parse::<usize>().ok()),
        _ => None,
    };
    let Some(((addr, conns), size)) = parsed else {
        eprintln!("bench: --echo-client ADDR CONNS SIZE, not {args:?}");
        std::process::exit(2);
    };
    let client = Client::new();
    let mut open = match client.connect(addr, conns, size) {
        Ok(open) => open,
        Err(e) => {
            println!("error {e}");
            std::process::exit(1);
        }
    };
    let mut stdout = io::stdout().lock();
    let _ = writeln!(stdout, "ready");
    let _ = stdout.flush();
    for line in io::stdin().lock().lines() {
        let Some(ns) = line
            .ok()
            .and_then(|l| l.strip_prefix("go ")?.trim().parse::<u64>().ok())
        else {
            break;
        };
        let (round_trips, took) = client.drive(&mut open, Duration::from_nanos(ns));
        let _ = writeln!(stdout, "{round_trips} {}", took.as_nanos());
        let _ = stdout.flush();
    }
    drop(open);
    std::process::exit(0);
}
