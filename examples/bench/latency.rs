//! Latency at low load (issue 15 item 4): one connection, 1 KiB ping-pong. The server
//! runs on a ringloop-io_uring loop without and with `Builder::busy_poll`, and on tokio's
//! current_thread runtime, in a thread of its own (pinned to the server CPU when the
//! threads are pinned); the client is a plain blocking `std` socket on this thread.
//! Each round trip is timed; the figures are its median and 99th percentile, and the
//! server thread's CPU time per round trip.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use ringloop::Backend;

use crate::cpu::{ThreadClock, pin_current_thread};
use crate::{Plan, Progress};

/// The message size.
const SIZE: usize = 1024;
/// Round trips before the measured ones.
const WARMUP: usize = 500;
/// How long the busy-polling server spins before blocking.
pub(crate) const SPIN: Duration = Duration::from_micros(50);

/// The servers measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LatencyServer {
    IoUring,
    IoUringBusyPoll,
    Tokio,
}

pub(crate) const LATENCY_SERVERS: [LatencyServer; 3] = [
    LatencyServer::IoUring,
    LatencyServer::IoUringBusyPoll,
    LatencyServer::Tokio,
];

impl LatencyServer {
    pub(crate) fn label(self) -> String {
        match self {
            LatencyServer::IoUring => "ringloop-io_uring".to_string(),
            LatencyServer::IoUringBusyPoll => {
                format!("ringloop-io_uring, busy_poll({} µs)", SPIN.as_micros())
            }
            LatencyServer::Tokio => "tokio".to_string(),
        }
    }
}

/// One server's figures.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Latency {
    pub(crate) p50: Duration,
    pub(crate) p99: Duration,
    /// The server thread's CPU time per round trip.
    pub(crate) server_cpu: Duration,
}

pub(crate) type LatencyResults = Vec<(LatencyServer, Result<Latency, String>)>;

pub(crate) fn latency_steps() -> usize {
    LATENCY_SERVERS.len()
}

/// An echo server on its own thread: its address and its thread's clock; it serves one
/// connection and ends when the client closes it.
fn start(server: LatencyServer, cpu: Option<usize>) -> io::Result<(SocketAddr, ThreadClock)> {
    let (tx, rx) = mpsc::channel();
    thread::Builder::new()
        .name("bench-latency-server".to_string())
        .spawn(move || {
            if let Some(cpu) = cpu {
                let _ = pin_current_thread(cpu);
            }
            let clock = ThreadClock::current();
            match server {
                LatencyServer::Tokio => tokio_server(tx, clock),
                _ => ringloop_server(server == LatencyServer::IoUringBusyPoll, tx, clock),
            }
        })?;
    rx.recv()
        .map_err(|_| io::Error::other("the latency server died starting"))?
}

type Ready = mpsc::Sender<io::Result<(SocketAddr, ThreadClock)>>;

fn ringloop_server(busy: bool, ready: Ready, clock: ThreadClock) {
    let mut builder = ringloop::EventLoop::builder();
    builder.backend(Backend::IoUring);
    if busy {
        builder.busy_poll(SPIN);
    }
    let lp = match builder.build() {
        Ok(lp) => lp,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    lp.run_until_complete(async {
        let listener = match ringloop::net::TcpListener::bind("127.0.0.1:0") {
            Ok(l) => l,
            Err(e) => {
                let _ = ready.send(Err(e));
                return;
            }
        };
        let addr = listener.local_addr().expect("a bound listener's address");
        let _ = ready.send(Ok((addr, clock)));
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        let _ = stream.set_nodelay(true);
        let mut buf = Vec::with_capacity(SIZE);
        loop {
            buf.clear();
            let (n, b) = stream.read(buf).await;
            match n {
                Ok(n) if n > 0 => {}
                _ => return,
            }
            let (w, b) = stream.write_all(b).await;
            if w.is_err() {
                return;
            }
            buf = b;
        }
    });
}

fn tokio_server(ready: Ready, clock: ThreadClock) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    rt.block_on(async {
        let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
            Ok(l) => l,
            Err(e) => {
                let _ = ready.send(Err(e));
                return;
            }
        };
        let addr = listener.local_addr().expect("a bound listener's address");
        let _ = ready.send(Ok((addr, clock)));
        let Ok((mut stream, _)) = listener.accept().await else {
            return;
        };
        let _ = stream.set_nodelay(true);
        let mut buf = vec![0u8; SIZE];
        loop {
            match stream.read(&mut buf).await {
                Ok(n) if n > 0 => {
                    if stream.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
                _ => return,
            }
        }
    });
}

/// `rounds` timed round trips against `server`.
fn measure(server: LatencyServer, cpu: Option<usize>, rounds: usize) -> io::Result<Latency> {
    let (addr, clock) = start(server, cpu)?;
    let mut stream = TcpStream::connect(addr)?;
    stream.set_nodelay(true)?;
    let msg = vec![7u8; SIZE];
    let mut back = vec![0u8; SIZE];
    let mut round_trip = |stream: &mut TcpStream| -> io::Result<Duration> {
        let start = Instant::now();
        stream.write_all(&msg)?;
        stream.read_exact(&mut back)?;
        Ok(start.elapsed())
    };
    for _ in 0..WARMUP {
        round_trip(&mut stream)?;
    }
    let cpu_before = clock.read();
    let mut times = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        times.push(round_trip(&mut stream)?);
    }
    let server_cpu = clock.read().saturating_sub(cpu_before) / rounds as u32;
    if back != msg {
        return Err(io::Error::other("the echo came back different"));
    }
    drop(stream); // the server ends with the connection
    times.sort();
    Ok(Latency {
        p50: times[times.len() / 2],
        p99: times[times.len() * 99 / 100],
        server_cpu,
    })
}

/// The latency part. `server_cpu`: where the servers run when threads are pinned.
pub(crate) fn run_latency(
    plan: &Plan,
    io_uring: bool,
    server_cpu: Option<usize>,
    progress: &Progress,
) -> LatencyResults {
    LATENCY_SERVERS
        .iter()
        .map(|&server| {
            progress.step(format!("latency: 1 connection on {}", server.label()));
            let result = if server != LatencyServer::Tokio && !io_uring {
                Err("io_uring unavailable".to_string())
            } else {
                measure(server, server_cpu, plan.latency_round_trips).map_err(|e| {
                    eprintln!("\nbench: latency on {}: {e}", server.label());
                    e.to_string()
                })
            };
            (server, result)
        })
        .collect()
}
