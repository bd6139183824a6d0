//! HTTP/1.1: hyper's hello-world server on each runtime, each on its own (pinned)
//! thread as the echo servers are, and one load generator for all of them: `wrk` when
//! it is on `PATH`, else hyper's HTTP/1.1 client on tokio current_thread ([`Load`]).
//! The servers of a case run side by side and are measured in interleaved rounds, with
//! echo's window, retries and figures (`measure.rs`).
//!
//! The server is the same code on every runtime, the one of hyper's `hello` example:
//! an accept loop spawning one task per connection that runs
//! `hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream),
//! service_fn(hello))`, keep-alive on, no timer (so no header-read timeout, as in the
//! example), `hello` answering 200 "Hello, world!". ringloop's `TcpStream` goes to
//! hyper through tokio's I/O traits (feature `tokio-io`) and hyper-util's `TokioIo`.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Bytes, Incoming};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HOST, HeaderValue};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::cpu::ThreadClock;
use crate::echo::{Client, conns_label};
use crate::measure::{Figures, Generator, Sample, Server, figures, measure, measure_retrying};
use crate::runtime::{RUNTIMES, Ringloop, Rt, Runtime, Tokio};
use crate::{Plan, Progress};

/// The body of every response.
const HELLO: &str = "Hello, world!";

/// hyper's hello-world service.
async fn hello(_req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(
        HELLO.as_bytes(),
    ))))
}

/// Starts the HTTP server on `listener` (inside the running loop).
fn http_server<R: Rt>(listener: R::Listener)
where
    R::Stream: AsyncRead + AsyncWrite + Unpin,
{
    R::spawn_detached(accept_loop::<R>(listener));
}

async fn accept_loop<R: Rt>(listener: R::Listener)
where
    R::Stream: AsyncRead + AsyncWrite + Unpin,
{
    loop {
        match R::accept(&listener).await {
            Ok(stream) => R::spawn_detached(async move {
                // A client that closes mid-request (wrk does, when its run ends) ends the
                // connection with an error; the client reports the errors that matter.
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service_fn(hello))
                    .await;
            }),
            Err(e) => {
                eprintln!("\nbench: http server: accept failed: {e}");
                return;
            }
        }
    }
}

fn start_server(runtime: Runtime, cpu: Option<usize>) -> io::Result<Server> {
    let name = format!("{}-http", runtime.label());
    match runtime.backend() {
        Some(backend) => Server::start(
            name,
            cpu,
            move || Ringloop::new(backend),
            http_server::<Ringloop>,
        ),
        None => Server::start(name, cpu, Tokio::new, http_server::<Tokio>),
    }
}

// ---------------------------------------------------------------------------------------
// The load generator: wrk, or hyper's client
// ---------------------------------------------------------------------------------------

/// The HTTP load generator, the same for every server.
pub(crate) enum Load {
    /// `wrk` at this path (found on `PATH`), one thread: `wrk -t1 -c<N> -d<window>
    /// --latency`. It runs as a child process, so on the CPU the main thread is pinned
    /// to (a child inherits its parent thread's affinity). Its durations are whole
    /// seconds, and it opens its connections afresh in every run.
    Wrk(PathBuf),
    /// hyper's HTTP/1.1 client (keep-alive) on tokio current_thread, on the main
    /// thread: one task per connection sending `GET /` back-to-back, each response
    /// read whole and checked. Its connections stay open through a case's windows.
    Hyper,
}

impl Load {
    /// `wrk` when it is on `PATH`, else hyper's client. Nothing is installed.
    pub(crate) fn find() -> Load {
        use std::os::unix::fs::PermissionsExt;
        let path = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&path)
            .map(|dir| dir.join("wrk"))
            .find(|wrk| {
                wrk.metadata()
                    .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            })
            .map_or(Load::Hyper, Load::Wrk)
    }

    /// For the report.
    pub(crate) fn describe(&self) -> String {
        match self {
            Load::Wrk(path) => format!(
                "wrk ({}), `wrk -t1 -c<N> -d<window> --latency`, its Requests/sec",
                path.display()
            ),
            Load::Hyper => "hyper's HTTP/1.1 client (keep-alive) on tokio current_thread (wrk \
                            is not on PATH): one task per connection sending `GET /` \
                            back-to-back, responses counted"
                .to_string(),
        }
    }

    /// The warm-up and the window this generator runs: wrk's are whole seconds.
    fn windows(&self, plan: &Plan) -> (Duration, Duration) {
        match self {
            Load::Wrk(_) => (wrk_window(plan.echo_warmup), wrk_window(plan.echo_window)),
            Load::Hyper => (plan.echo_warmup, plan.echo_window),
        }
    }

    /// Opens the connections a window runs on (none for wrk, which opens its own).
    fn connect(&self, client: &Client, addr: SocketAddr, conns: usize) -> io::Result<Vec<Conn>> {
        match self {
            Load::Wrk(_) => Ok(Vec::new()),
            Load::Hyper => client.block_on(async {
                let mut out = Vec::with_capacity(conns);
                for _ in 0..conns {
                    let stream = tokio::net::TcpStream::connect(addr).await?;
                    stream.set_nodelay(true)?;
                    let (sender, conn) =
                        hyper::client::conn::http1::handshake(TokioIo::new(stream))
                            .await
                            .map_err(io::Error::other)?;
                    let driver = tokio::task::spawn_local(async move {
                        let _ = conn.await;
                    });
                    out.push(Conn { sender, driver });
                }
                Ok(out)
            }),
        }
    }

    /// Runs `conns` connections against `addr` for `window`: how many responses came
    /// back and in how long.
    fn drive(
        &self,
        client: &Client,
        addr: SocketAddr,
        conns: usize,
        open: &mut Vec<Conn>,
        window: Duration,
    ) -> Result<(u64, Duration), String> {
        match self {
            Load::Wrk(path) => wrk(path, addr, conns, window),
            Load::Hyper => hyper_drive(client, addr, open, window),
        }
    }

    fn generator<'a>(&self, clock: &'a ThreadClock) -> Generator<'a> {
        match self {
            Load::Wrk(_) => Generator::Child,
            Load::Hyper => Generator::Thread(clock),
        }
    }
}

/// A window in whole seconds, at least one.
fn wrk_window(window: Duration) -> Duration {
    Duration::from_secs(window.as_secs_f64().round().max(1.0) as u64)
}

fn wrk(
    path: &Path,
    addr: SocketAddr,
    conns: usize,
    window: Duration,
) -> Result<(u64, Duration), String> {
    let output = Command::new(path)
        .args([
            "-t1".to_string(),
            format!("-c{conns}"),
            format!("-d{}s", window.as_secs()),
            "--latency".to_string(),
            format!("http://{addr}/"),
        ])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("wrk: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(format!(
            "wrk: {}: {}{}",
            output.status,
            stdout.trim(),
            stderr.trim()
        ));
    }
    parse_wrk(&stdout)
}

/// Requests and the time they took from wrk's report: `<n> requests in <t>, ...` and
/// `Requests/sec: <rate>` (the time is `n / rate`, wrk's own, unrounded).
fn parse_wrk(out: &str) -> Result<(u64, Duration), String> {
    let field = |key: &str| {
        out.lines()
            .find_map(|line| line.trim().strip_prefix(key))
            .map(str::trim)
    };
    if let Some(n) = field("Non-2xx or 3xx responses:") {
        return Err(format!("wrk: {n} responses were not 2xx or 3xx"));
    }
    if let Some(errors) = field("Socket errors:") {
        eprintln!("\nbench: http: wrk's socket errors: {errors}");
    }
    let rate: f64 = field("Requests/sec:")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("wrk: no Requests/sec in its output: {out}"))?;
    let requests: u64 = out
        .lines()
        .find_map(|line| line.trim().split_once(" requests in ")?.0.parse().ok())
        .ok_or_else(|| format!("wrk: no request count in its output: {out}"))?;
    if rate <= 0.0 || requests == 0 {
        return Err(format!("wrk: no request completed: {out}"));
    }
    Ok((requests, Duration::from_secs_f64(requests as f64 / rate)))
}

/// One keep-alive connection of hyper's client and the task driving it.
struct Conn {
    sender: SendRequest<Empty<Bytes>>,
    driver: tokio::task::JoinHandle<()>,
}

fn hyper_drive(
    client: &Client,
    addr: SocketAddr,
    open: &mut Vec<Conn>,
    window: Duration,
) -> Result<(u64, Duration), String> {
    let host = HeaderValue::from_str(&addr.to_string()).expect("an address is a valid Host");
    let taken = std::mem::take(open);
    let start = Instant::now();
    let until = start + window;
    let ended = client.block_on(async move {
        let tasks: Vec<_> = taken
            .into_iter()
            .map(|conn| tokio::task::spawn_local(requests_until(conn, host.clone(), until)))
            .collect();
        let mut ended = Vec::with_capacity(tasks.len());
        for task in tasks {
            ended.push(task.await);
        }
        ended
    });
    let elapsed = start.elapsed();
    let mut responses = 0;
    let mut error = None;
    for end in ended {
        match end {
            Ok(Ok((conn, n))) => {
                open.push(conn);
                responses += n;
            }
            Ok(Err(e)) => error = Some(e),
            Err(e) => error = Some(format!("a client task failed: {e}")),
        }
    }
    match error {
        Some(e) => Err(e),
        None => Ok((responses, elapsed)),
    }
}

/// Requests on one connection, back-to-back, until `until`.
async fn requests_until(
    mut conn: Conn,
    host: HeaderValue,
    until: Instant,
) -> Result<(Conn, u64), String> {
    let failed = |e: hyper::Error| format!("hyper client: {e}");
    let mut n = 0;
    while Instant::now() < until {
        conn.sender.ready().await.map_err(failed)?;
        let request = Request::get("/")
            .header(HOST, host.clone())
            .body(Empty::new())
            .expect("a valid request");
        let response = conn.sender.send_request(request).await.map_err(failed)?;
        if response.status() != StatusCode::OK {
            return Err(format!("status {}", response.status()));
        }
        let body = response.into_body().collect().await.map_err(failed)?;
        if body.to_bytes() != HELLO.as_bytes() {
            return Err("the response body is not \"Hello, world!\"".to_string());
        }
        n += 1;
    }
    Ok((conn, n))
}

/// Closes the client's connections (dropping a sender ends its connection once idle)
/// and waits, briefly, for their tasks to finish.
fn close(client: &Client, open: Vec<Conn>) {
    client.block_on(async move {
        let drivers: Vec<_> = open.into_iter().map(|conn| conn.driver).collect();
        let all = async {
            for driver in drivers {
                let _ = driver.await;
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(2), all).await;
    });
}

// ---------------------------------------------------------------------------------------
// Cases and measurement
// ---------------------------------------------------------------------------------------

/// A case's figures on each runtime (indexed by [`Runtime::index`]), with why a runtime
/// had none.
pub(crate) type HttpRow = [Result<Figures, String>; RUNTIMES.len()];

pub(crate) struct HttpResults {
    /// The load generator, described.
    pub(crate) generator: String,
    /// The measured window.
    pub(crate) window: Duration,
    /// `(connections, figures)` per case.
    pub(crate) rows: Vec<(usize, HttpRow)>,
}

/// The progress steps [`run_http`] takes.
pub(crate) fn http_steps(plan: &Plan) -> usize {
    plan.http_conns.len() * RUNTIMES.len() * (1 + plan.echo_rounds)
}

pub(crate) fn run_http(
    plan: &Plan,
    available: &[bool; 4],
    server_cpu: Option<usize>,
    load: &Load,
    progress: &Progress,
) -> HttpResults {
    let mut retry_budget = plan.http_retry_budget;
    let (warmup, window) = load.windows(plan);
    let client = Client::new();
    let client_clock = ThreadClock::current();
    let cores = server_cpu.map(|cpu| (cpu, 0));
    let mut rows = Vec::new();
    for &conns in plan.http_conns {
        let case = conns_label(conns);
        let mut setups: Vec<Result<(Server, Vec<Conn>), String>> = Vec::new();
        for runtime in RUNTIMES {
            progress.step(format!("http {case}: start {}", runtime.label()));
            if !available[runtime.index()] {
                setups.push(Err("unavailable".to_string()));
                continue;
            }
            let setup = start_server(runtime, server_cpu)
                .and_then(|server| {
                    let open = load.connect(&client, server.addr, conns)?;
                    Ok((server, open))
                })
                .map_err(|e| e.to_string())
                .and_then(|(server, mut open)| {
                    load.drive(&client, server.addr, conns, &mut open, warmup)?;
                    Ok((server, open))
                })
                .map_err(|e| format!("{}: {e}", runtime.label()));
            if let Err(e) = &setup {
                eprintln!("\nbench: http {case}: {e}");
            }
            setups.push(setup);
        }
        let mut samples: [Vec<Sample>; RUNTIMES.len()] = Default::default();
        for round in 0..plan.echo_rounds {
            for runtime in RUNTIMES {
                progress.step(format!(
                    "http {case}: {} round {}/{}",
                    runtime.label(),
                    round + 1,
                    plan.echo_rounds
                ));
                let Ok((server, open)) = &mut setups[runtime.index()] else {
                    continue;
                };
                let generator = load.generator(&client_clock);
                let addr = server.addr;
                let measured = measure_retrying(window, &mut retry_budget, progress, || {
                    measure(server, generator, cores, || {
                        load.drive(&client, addr, conns, open, window)
                    })
                });
                match measured {
                    Ok(sample) => samples[runtime.index()].push(sample),
                    Err(e) => {
                        eprintln!("\nbench: http {case}: {}: {e}", runtime.label());
                        setups[runtime.index()] = Err(format!("{}: {e}", runtime.label()));
                    }
                }
            }
        }
        let row = RUNTIMES.map(|runtime| match &setups[runtime.index()] {
            Ok(_) => Ok(figures(runtime, &samples[runtime.index()])),
            Err(e) => Err(e.clone()),
        });
        // Close the client's connections first, then stop the servers.
        for (server, open) in setups.into_iter().flatten() {
            close(&client, open);
            drop(server);
        }
        rows.push((conns, row));
    }
    HttpResults {
        generator: load.describe(),
        window,
        rows,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrk_output_parses() {
        let out = "Running 1s test @ http://127.0.0.1:4000/
  1 threads and 100 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.20ms  200.00us   5.00ms   90.00%
    Req/Sec    80.00k     1.00k   82.00k    70.00%
  Latency Distribution
     50%    1.18ms
     99%    2.00ms
  80000 requests in 1.00s, 7.00MB read
Requests/sec:  79800.50
Transfer/sec:      6.98MB
";
        let (n, wall) = parse_wrk(out).unwrap();
        assert_eq!(n, 80000);
        assert!((wall.as_secs_f64() - 80000.0 / 79800.5).abs() < 1e-9);
        let bad = out.replace("Transfer/sec", "Non-2xx or 3xx responses: 3\nTransfer/sec");
        assert!(parse_wrk(&bad).is_err());
    }
}
