//! Loopback TCP echo: ringloop against tokio's current-thread runtime with a `LocalSet`,
//! running the very same client and server code.
//!
//! Each case is one criterion group (`echo_<conns>c_<size>`) holding `ringloop`,
//! `ringloop-notry` (try-first stream I/O off), `protocol` (`net::serve`), `tokio-io`
//! (the stream server through the tokio I/O traits), `buffered` (the stream server on
//! `read_buffered`, echoing each received buffer as it is) and `tokio`, so the report
//! shows them side by side; the figure is round trips per second
//! (criterion's elements/s).
//!
//! Setup, per case and runtime, outside the timed region:
//!
//! - the **server** runs on the runtime under test in its own thread (pinned to CPU 1 when
//!   the machine has two): an accept loop spawning one echo task per connection, which
//!   reads what is there (a 16 KiB buffer) and writes it back;
//! - the **client** runs on the same runtime type in the bench thread (pinned to CPU 0)
//!   and opens the connections once; `TCP_NODELAY` is on at both ends.
//!
//! A timed iteration is one `run_until_complete` (`block_on`) in which every connection's
//! task (with one connection, the main future itself) does a fixed number of round trips:
//! `write_all(msg)`, then `read_exact` of the message's length. The payload is checked
//! after the last round trip.
//!
//! After each runtime's criterion run, a separate pass (outside criterion) runs a fixed
//! number of iterations and the end of the group prints, per runtime, round trips per
//! second and the process's CPU time per round trip (client and server thread together,
//! a figure that suffers less from a busy machine than wall time); for ringloop also the
//! `io_uring_enter` calls, loop iterations and SQEs per round trip on the server and the
//! client, from the loops' `stats()` read before and after the pass.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};

/// The server's read buffer.
const SERVER_BUF: usize = 16 * 1024;

/// Timed iterations of the separate `stats()` pass.
const STATS_ITERATIONS: u64 = 20;

// ---------------------------------------------------------------------------------------
// The runtime seam
// ---------------------------------------------------------------------------------------

/// What the client and server need from a runtime. Static methods are called from inside
/// a running loop. Buffers are owned and handed back, ringloop's way; tokio's side just
/// borrows them for the call.
trait Rt: Sized + 'static {
    const NAME: &'static str;

    type Listener: 'static;
    type Stream: 'static;
    /// Stops [`Rt::run_until_stopped`] from another thread.
    type Stopper: Clone + Send + 'static;

    fn new() -> Self;

    fn block_on<F: Future>(&self, future: F) -> F::Output;

    /// Spawns on the running loop; the returned future yields the task's output.
    fn spawn<F>(future: F) -> impl Future<Output = F::Output> + 'static
    where
        F: Future + 'static,
        F::Output: 'static;

    /// Spawns a task nobody waits for.
    fn spawn_detached<F: Future<Output = ()> + 'static>(future: F);

    /// Runs spawned tasks until [`Rt::stop`] is called; can be called again after.
    fn run_until_stopped(&self);

    fn stopper(&self) -> Self::Stopper;

    fn stop(stopper: &Self::Stopper);

    /// The loop's counters, where the runtime has them.
    fn stats(&self) -> Option<ringloop::Stats>;

    fn bind() -> impl Future<Output = io::Result<Self::Listener>>;

    fn local_addr(listener: &Self::Listener) -> io::Result<SocketAddr>;

    /// Accepts a connection and sets `TCP_NODELAY` on it.
    fn accept(listener: &Self::Listener) -> impl Future<Output = io::Result<Self::Stream>>;

    /// Connects and sets `TCP_NODELAY`.
    fn connect(addr: SocketAddr) -> impl Future<Output = io::Result<Self::Stream>>;

    /// Reads what is available, up to `buf.len()`.
    fn read(
        stream: &mut Self::Stream,
        buf: Box<[u8]>,
    ) -> impl Future<Output = (io::Result<usize>, Box<[u8]>)>;

    /// Fills all of `buf`.
    fn read_exact(
        stream: &mut Self::Stream,
        buf: Box<[u8]>,
    ) -> impl Future<Output = (io::Result<()>, Box<[u8]>)>;

    /// Writes all of `buf[..len]`.
    fn write_all(
        stream: &mut Self::Stream,
        buf: Box<[u8]>,
        len: usize,
    ) -> impl Future<Output = (io::Result<()>, Box<[u8]>)>;

    /// Starts the echo server on `listener` (called inside the running loop): by default
    /// the stream server, an accept loop spawning one echo task per connection.
    fn start_server(listener: Self::Listener) {
        Self::spawn_detached(accept_loop::<Self>(listener));
    }
}

/// Which server a ringloop column runs.
const STREAM: u8 = 0;
/// The protocol server (`net::serve` with an echo protocol).
const PROTOCOL: u8 = 1;
/// The stream server through the `tokio-io` traits (`AsyncReadExt` / `AsyncWriteExt` on
/// a ringloop `TcpStream`), as hyper and codecs use a ringloop socket.
const TRAITS: u8 = 2;
/// The stream server reading with `read_buffered` (a multishot receive into the loop's
/// provided-buffer ring on io_uring) and writing each received buffer back as it is.
const BUFFERED: u8 = 3;

/// ringloop, with try-first stream I/O on (`ringloop`, the default) or off
/// (`ringloop-notry`, `Builder::try_first_io(false)`); `SERVER` picks the server: the
/// stream server (a task per connection, owned buffers), the protocol server, the
/// stream server through the tokio I/O traits (`tokio-io`), or the stream server on
/// `read_buffered` (`buffered`). The client is the same
/// stream client.
struct Ringloop<const TRY_FIRST: bool, const SERVER: u8> {
    lp: ringloop::EventLoop,
}

/// The protocol server's echo: writes back what arrives.
struct EchoProtocol {
    transport: Option<ringloop::net::Transport>,
}

impl ringloop::net::Protocol for EchoProtocol {
    fn connection_made(&mut self, transport: ringloop::net::Transport) {
        self.transport = Some(transport);
    }

    fn data_received(&mut self, data: &[u8]) {
        if let Some(t) = &self.transport {
            t.write(data);
        }
    }
}

impl<const TRY_FIRST: bool, const SERVER: u8> Rt for Ringloop<TRY_FIRST, SERVER> {
    const NAME: &'static str = if SERVER == PROTOCOL {
        "protocol"
    } else if SERVER == TRAITS {
        "tokio-io"
    } else if SERVER == BUFFERED {
        "buffered"
    } else if TRY_FIRST {
        "ringloop"
    } else {
        "ringloop-notry"
    };

    fn start_server(listener: Self::Listener) {
        if SERVER == PROTOCOL {
            let server = ringloop::net::serve(listener, || EchoProtocol { transport: None });
            Self::spawn_detached(async move {
                if let Err(e) = server.await {
                    eprintln!("echo bench: protocol server: {e}");
                }
            });
        } else if SERVER == TRAITS {
            Self::spawn_detached(async move {
                loop {
                    match Self::accept(&listener).await {
                        Ok(stream) => Self::spawn_detached(echo_through_traits(stream)),
                        Err(_) => return,
                    }
                }
            });
        } else if SERVER == BUFFERED {
            Self::spawn_detached(async move {
                loop {
                    match Self::accept(&listener).await {
                        Ok(stream) => Self::spawn_detached(echo_buffered(stream)),
                        Err(_) => return,
                    }
                }
            });
        } else {
            Self::spawn_detached(accept_loop::<Self>(listener));
        }
    }

    type Listener = ringloop::net::TcpListener;
    type Stream = ringloop::net::TcpStream;
    type Stopper = ringloop::Remote;

    fn new() -> Self {
        let lp = ringloop::EventLoop::builder()
            .try_first_io(TRY_FIRST)
            .build()
            .expect("ringloop event loop");
        Ringloop::<TRY_FIRST, SERVER> { lp }
    }

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.lp.run_until_complete(future)
    }

    fn spawn<F>(future: F) -> impl Future<Output = F::Output> + 'static
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let task = ringloop::spawn(future);
        async move { task.await.expect("ringloop task failed") }
    }

    fn spawn_detached<F: Future<Output = ()> + 'static>(future: F) {
        drop(ringloop::spawn(future));
    }

    fn run_until_stopped(&self) {
        self.lp.run_forever();
    }

    fn stopper(&self) -> ringloop::Remote {
        self.lp.remote()
    }

    fn stop(stopper: &ringloop::Remote) {
        stopper.stop();
    }

    fn stats(&self) -> Option<ringloop::Stats> {
        Some(self.lp.stats())
    }

    async fn bind() -> io::Result<Self::Listener> {
        ringloop::net::TcpListener::bind("127.0.0.1:0")
    }

    fn local_addr(listener: &Self::Listener) -> io::Result<SocketAddr> {
        listener.local_addr()
    }

    async fn accept(listener: &Self::Listener) -> io::Result<Self::Stream> {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }

    async fn connect(addr: SocketAddr) -> io::Result<Self::Stream> {
        let stream = ringloop::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }

    async fn read(stream: &mut Self::Stream, buf: Box<[u8]>) -> (io::Result<usize>, Box<[u8]>) {
        stream.read(buf).await
    }

    async fn read_exact(stream: &mut Self::Stream, buf: Box<[u8]>) -> (io::Result<()>, Box<[u8]>) {
        stream.read_exact(buf).await
    }

    async fn write_all(
        stream: &mut Self::Stream,
        buf: Box<[u8]>,
        len: usize,
    ) -> (io::Result<()>, Box<[u8]>) {
        use ringloop::net::IoBuf;
        let (res, view) = stream.write_all(buf.slice(..len)).await;
        (res, view.into_inner())
    }
}

/// The echo of one connection on `read_buffered`: each buffer the loop received into is
/// written back whole, then returns to the loop.
async fn echo_buffered(stream: ringloop::net::TcpStream) {
    loop {
        match stream.read_buffered().await {
            Ok(buf) if !buf.is_empty() => {
                if stream.write_all(buf).await.0.is_err() {
                    return;
                }
            }
            _ => return,
        }
    }
}

/// The echo of one connection through the tokio I/O traits on a ringloop stream.
async fn echo_through_traits(mut stream: ringloop::net::TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; SERVER_BUF];
    loop {
        match AsyncReadExt::read(&mut stream, &mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if AsyncWriteExt::write_all(&mut stream, &buf[..n])
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
    }
}

struct Tokio {
    rt: tokio::runtime::Runtime,
    local: tokio::task::LocalSet,
    stop: Arc<tokio::sync::Notify>,
}

impl Rt for Tokio {
    const NAME: &'static str = "tokio";

    type Listener = tokio::net::TcpListener;
    type Stream = tokio::net::TcpStream;
    type Stopper = Arc<tokio::sync::Notify>;

    fn new() -> Self {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        Tokio {
            rt,
            local: tokio::task::LocalSet::new(),
            stop: Arc::new(tokio::sync::Notify::new()),
        }
    }

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.local.block_on(&self.rt, future)
    }

    fn spawn<F>(future: F) -> impl Future<Output = F::Output> + 'static
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let task = tokio::task::spawn_local(future);
        async move { task.await.expect("tokio task failed") }
    }

    fn spawn_detached<F: Future<Output = ()> + 'static>(future: F) {
        drop(tokio::task::spawn_local(future));
    }

    fn run_until_stopped(&self) {
        // `notify_one` before the wait leaves a permit, so a stop is never lost.
        self.block_on(self.stop.notified());
    }

    fn stopper(&self) -> Self::Stopper {
        self.stop.clone()
    }

    fn stop(stopper: &Self::Stopper) {
        stopper.notify_one();
    }

    fn stats(&self) -> Option<ringloop::Stats> {
        None
    }

    async fn bind() -> io::Result<Self::Listener> {
        tokio::net::TcpListener::bind("127.0.0.1:0").await
    }

    fn local_addr(listener: &Self::Listener) -> io::Result<SocketAddr> {
        listener.local_addr()
    }

    async fn accept(listener: &Self::Listener) -> io::Result<Self::Stream> {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }

    async fn connect(addr: SocketAddr) -> io::Result<Self::Stream> {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }

    async fn read(stream: &mut Self::Stream, mut buf: Box<[u8]>) -> (io::Result<usize>, Box<[u8]>) {
        use tokio::io::AsyncReadExt;
        let res = stream.read(&mut buf).await;
        (res, buf)
    }

    async fn read_exact(
        stream: &mut Self::Stream,
        mut buf: Box<[u8]>,
    ) -> (io::Result<()>, Box<[u8]>) {
        use tokio::io::AsyncReadExt;
        let res = stream.read_exact(&mut buf).await.map(drop);
        (res, buf)
    }

    async fn write_all(
        stream: &mut Self::Stream,
        buf: Box<[u8]>,
        len: usize,
    ) -> (io::Result<()>, Box<[u8]>) {
        use tokio::io::AsyncWriteExt;
        let res = stream.write_all(&buf[..len]).await;
        (res, buf)
    }
}

// ---------------------------------------------------------------------------------------
// CPU placement
// ---------------------------------------------------------------------------------------

/// Pins the calling thread to `cpu` when the machine has more than one; best effort.
fn pin_to_cpu(cpu: usize) {
    let cpus = thread::available_parallelism().map_or(1, |n| n.get());
    if cpus < 2 {
        return;
    }
    // SAFETY: `cpu_set_t` is plain data for which all zeroes is a valid (empty) set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid cpu_set_t and `cpu % cpus` is far below CPU_SETSIZE.
    unsafe { libc::CPU_SET(cpu % cpus, &mut set) };
    // SAFETY: pid 0 is the calling thread; `set` is valid for the size passed.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) };
    if rc != 0 {
        eprintln!(
            "echo bench: could not pin to CPU {cpu}: {}",
            io::Error::last_os_error()
        );
    }
}

// ---------------------------------------------------------------------------------------
// The server (generic: the same futures on both runtimes)
// ---------------------------------------------------------------------------------------

async fn accept_loop<R: Rt>(listener: R::Listener) {
    loop {
        match R::accept(&listener).await {
            Ok(stream) => R::spawn_detached(echo_conn::<R>(stream)),
            Err(e) => {
                eprintln!("echo bench: {} server: accept failed: {e}", R::NAME);
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
                eprintln!("echo bench: {} server: read failed: {e}", R::NAME);
                return;
            }
        };
        let (res, b) = R::write_all(&mut stream, buf, n).await;
        buf = b;
        if let Err(e) = res {
            eprintln!("echo bench: {} server: write failed: {e}", R::NAME);
            return;
        }
    }
}

enum Command {
    /// The loop's counters and the server thread's CPU time.
    Stats(mpsc::Sender<(Option<ringloop::Stats>, Duration)>),
    Exit,
}

/// A server on its own thread, running the runtime `R`.
struct Server<R: Rt> {
    addr: SocketAddr,
    stopper: R::Stopper,
    commands: mpsc::Sender<Command>,
    thread: Option<thread::JoinHandle<()>>,
}

impl<R: Rt> Server<R> {
    fn start() -> Server<R> {
        let (ready_tx, ready_rx) = mpsc::channel();
        let (commands, command_rx) = mpsc::channel();
        let thread = thread::Builder::new()
            .name(format!("{}-echo-server", R::NAME))
            .spawn(move || {
                pin_to_cpu(1);
                let rt = R::new();
                let listener = rt.block_on(R::bind()).expect("bind the echo server");
                let addr = R::local_addr(&listener).expect("the server's address");
                rt.block_on(async { R::start_server(listener) });
                ready_tx
                    .send((addr, rt.stopper()))
                    .expect("the bench thread waits for the server");
                loop {
                    rt.run_until_stopped();
                    match command_rx.recv() {
                        Ok(Command::Stats(reply)) => {
                            let _ =
                                reply.send((rt.stats(), cpu_time(libc::CLOCK_THREAD_CPUTIME_ID)));
                        }
                        Ok(Command::Exit) | Err(_) => break,
                    }
                }
                // Dropping the runtime cancels the accept loop and any echo task left.
            })
            .expect("spawn the server thread");
        let (addr, stopper) = ready_rx.recv().expect("the server started");
        Server {
            addr,
            stopper,
            commands,
            thread: Some(thread),
        }
    }

    /// The server loop's counters, read between two runs of its loop (the client must
    /// be idle).
    fn stats(&self) -> (Option<ringloop::Stats>, Duration) {
        let (tx, rx) = mpsc::channel();
        R::stop(&self.stopper);
        self.commands
            .send(Command::Stats(tx))
            .expect("the server thread is alive");
        rx.recv().expect("the server answers")
    }
}

impl<R: Rt> Drop for Server<R> {
    fn drop(&mut self) {
        R::stop(&self.stopper);
        let _ = self.commands.send(Command::Exit);
        let Some(thread) = self.thread.take() else {
            return;
        };
        if thread.join().is_err() && !thread::panicking() {
            panic!("the {} echo server thread panicked", R::NAME);
        }
    }
}

// ---------------------------------------------------------------------------------------
// The client (generic)
// ---------------------------------------------------------------------------------------

struct Conn<R: Rt> {
    stream: R::Stream,
    msg: Box<[u8]>,
    reply: Box<[u8]>,
}

async fn connect_all<R: Rt>(addr: SocketAddr, conns: usize, msg_len: usize) -> Vec<Conn<R>> {
    let mut out = Vec::with_capacity(conns);
    for i in 0..conns {
        let stream = R::connect(addr).await.expect("connect to the echo server");
        let msg: Box<[u8]> = (0..msg_len).map(|j| (i * 31 + j * 7) as u8).collect();
        out.push(Conn {
            stream,
            msg,
            reply: vec![0u8; msg_len].into_boxed_slice(),
        });
    }
    out
}

/// `rounds` round trips on one connection; the echo is checked at the end.
async fn round_trips<R: Rt>(mut conn: Conn<R>, rounds: u64) -> Conn<R> {
    let len = conn.msg.len();
    for _ in 0..rounds {
        let (res, msg) = R::write_all(&mut conn.stream, conn.msg, len).await;
        conn.msg = msg;
        res.expect("client write");
        let (res, reply) = R::read_exact(&mut conn.stream, conn.reply).await;
        conn.reply = reply;
        res.expect("client read");
    }
    assert!(conn.reply == conn.msg, "the echo differs from the message");
    conn
}

/// Every connection does `rounds` round trips, concurrently.
async fn all_round_trips<R: Rt>(conns: Vec<Conn<R>>, rounds: u64) -> Vec<Conn<R>> {
    if conns.len() == 1 {
        let conn = conns.into_iter().next().expect("one connection");
        return vec![round_trips(conn, rounds).await];
    }
    let tasks: Vec<_> = conns
        .into_iter()
        .map(|conn| R::spawn(round_trips(conn, rounds)))
        .collect();
    let mut out = Vec::with_capacity(tasks.len());
    for task in tasks {
        out.push(task.await);
    }
    out
}

/// Runs `iters` timed iterations; wall time of the runs only.
fn timed<R: Rt>(rt: &R, conns: &mut Vec<Conn<R>>, rounds: u64, iters: u64) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let taken = std::mem::take(conns);
        let start = Instant::now();
        *conns = rt.block_on(all_round_trips(taken, rounds));
        total += start.elapsed();
    }
    total
}

// ---------------------------------------------------------------------------------------
// Benches
// ---------------------------------------------------------------------------------------

struct Case {
    conns: usize,
    msg_len: usize,
    /// Round trips per connection per timed iteration.
    rounds: u64,
}

/// Loop counters over the separate pass.
#[derive(Clone, Copy)]
struct Counts {
    enters: u64,
    iterations: u64,
    sqes: u64,
    polls: u64,
}

impl Counts {
    fn between(before: ringloop::Stats, after: ringloop::Stats) -> Counts {
        Counts {
            enters: after.io_uring_enters - before.io_uring_enters,
            iterations: after.iterations - before.iterations,
            sqes: after.sqes_submitted - before.sqes_submitted,
            polls: after.tasks_polled - before.tasks_polled,
        }
    }
}

/// What the separate pass saw, printed at the end of the group.
struct Pass {
    runtime: &'static str,
    round_trips: u64,
    wall: Duration,
    /// CPU time of the whole process (client and server thread) over the pass.
    cpu: Duration,
    /// CPU time of the server thread alone over the pass.
    server_cpu: Duration,
    /// Server and client loop counters, where the runtime has them.
    loops: Option<(Counts, Counts)>,
}

/// CPU time consumed by the whole process.
fn process_cpu_time() -> Duration {
    cpu_time(libc::CLOCK_PROCESS_CPUTIME_ID)
}

/// CPU time on one of the CPU-time clocks (the process's, the calling thread's).
fn cpu_time(clock: libc::clockid_t) -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the process and thread CPU-time clocks
    // are always supported on Linux.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime({clock}) failed");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Benches `case` on `R` into `group`, then runs the separate pass.
fn bench_runtime<R: Rt>(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    case: &Case,
) -> Pass {
    let server = Server::<R>::start();
    let rt = R::new();
    let mut conns = rt.block_on(connect_all::<R>(server.addr, case.conns, case.msg_len));
    group.bench_function(R::NAME, |b| {
        b.iter_custom(|iters| timed(&rt, &mut conns, case.rounds, iters))
    });

    // The separate pass: a fixed count of iterations between two snapshots.
    let (server_before, server_cpu_before) = server.stats();
    let client_before = rt.stats();
    let cpu_before = process_cpu_time();
    let wall = timed(&rt, &mut conns, case.rounds, STATS_ITERATIONS);
    let cpu = process_cpu_time() - cpu_before;
    let (server_after, server_cpu_after) = server.stats();
    let server_cpu = server_cpu_after - server_cpu_before;
    let loops = match (server_before, client_before) {
        (Some(server_before), Some(client_before)) => {
            let server_after = server_after.expect("server stats");
            let client_after = rt.stats().expect("client stats");
            Some((
                Counts::between(server_before, server_after),
                Counts::between(client_before, client_after),
            ))
        }
        _ => None,
    };

    // Close the client's connections first, so that the server's echo tasks see EOF and
    // finish, then let the client loop run the closes; then stop the server.
    drop(conns);
    rt.block_on(async {});
    drop(server);
    Pass {
        runtime: R::NAME,
        round_trips: STATS_ITERATIONS * case.rounds * case.conns as u64,
        wall,
        cpu,
        server_cpu,
        loops,
    }
}

fn report(name: &str, pass: &Pass) {
    let rt = pass.round_trips as f64;
    eprintln!(
        "{name}: {} pass: {} round trips, {:.0} rt/s, {:.2} us CPU per round trip \
         (client + server), server {:.2} us CPU per round trip",
        pass.runtime,
        pass.round_trips,
        rt / pass.wall.as_secs_f64(),
        pass.cpu.as_secs_f64() * 1e6 / rt,
        pass.server_cpu.as_secs_f64() * 1e6 / rt,
    );
    let Some((server, client)) = &pass.loops else {
        return;
    };
    let per = |s: &Counts| {
        format!(
            "io_uring_enter per round trip: {:.3}, iterations per round trip: {:.3}, \
             SQEs per enter: {:.2}, task polls per round trip: {:.2}",
            s.enters as f64 / rt,
            s.iterations as f64 / rt,
            s.sqes as f64 / s.enters.max(1) as f64,
            s.polls as f64 / rt,
        )
    };
    eprintln!(
        "{name}: server io_uring_enter per round trip: {:.3}",
        server.enters as f64 / rt
    );
    eprintln!("{name}:   server {}", per(server));
    eprintln!("{name}:   client {}", per(client));
}

fn echo_case(c: &mut Criterion, case: Case) {
    let size = if case.msg_len % 1024 == 0 {
        format!("{}KiB", case.msg_len / 1024)
    } else {
        format!("{}B", case.msg_len)
    };
    let name = format!("echo_{}c_{size}", case.conns);
    let mut group = c.benchmark_group(&name);
    group.sampling_mode(SamplingMode::Flat);
    group.throughput(Throughput::Elements(case.rounds * case.conns as u64));
    let passes = [
        bench_runtime::<Ringloop<true, STREAM>>(&mut group, &case),
        bench_runtime::<Ringloop<false, STREAM>>(&mut group, &case),
        bench_runtime::<Ringloop<true, PROTOCOL>>(&mut group, &case),
        bench_runtime::<Ringloop<true, TRAITS>>(&mut group, &case),
        bench_runtime::<Ringloop<true, BUFFERED>>(&mut group, &case),
        bench_runtime::<Tokio>(&mut group, &case),
    ];
    group.finish();
    for pass in &passes {
        report(&name, pass);
    }
}

fn echo_1c_1k(c: &mut Criterion) {
    echo_case(
        c,
        Case {
            conns: 1,
            msg_len: 1024,
            rounds: 2000,
        },
    );
}

fn echo_1c_16k(c: &mut Criterion) {
    echo_case(
        c,
        Case {
            conns: 1,
            msg_len: 16 * 1024,
            rounds: 2000,
        },
    );
}

fn echo_100c_1k(c: &mut Criterion) {
    echo_case(
        c,
        Case {
            conns: 100,
            msg_len: 1024,
            rounds: 40,
        },
    );
}

fn echo_100c_16k(c: &mut Criterion) {
    echo_case(
        c,
        Case {
            conns: 100,
            msg_len: 16 * 1024,
            rounds: 20,
        },
    );
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

fn main_setup() {
    pin_to_cpu(0);
}

fn benches() {
    main_setup();
    echo_benches();
}

criterion_group! {
    name = echo_benches;
    config = config();
    targets = echo_1c_1k, echo_1c_16k, echo_100c_1k, echo_100c_16k
}
criterion_main!(benches);
