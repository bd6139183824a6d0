//! The benchmark: ringloop on io_uring, ringloop on epoll and tokio's current-thread
//! runtime (with a `LocalSet`), running the very same futures.
//!
//! `cargo run --release --example bench [-- --quick] [-- --out DIR]`
//!
//! Two parts, each run on the three runtimes:
//!
//! 1. **Core workloads** on the main thread: spawn N tasks that return at once and await
//!    each; T tasks yielding Y times each; producer/consumer pairs passing messages
//!    through a capacity-1, waker-based channel (a wake ping-pong); N `timeout`s around
//!    ready futures; N tasks sleeping 0–100 ms (figure: the thread's CPU time, since the
//!    wall time is the longest sleep). Figure: the median of several runs.
//! 2. **Loopback TCP echo**, 1, 100 and 1000 connections × 64 B, 1 KiB and 16 KiB. The
//!    server (an accept loop spawning one echo task per connection, 16 KiB read buffer)
//!    runs on the runtime under test, on its own thread, pinned to CPU 1 with `taskset`
//!    where the machine has two CPUs. The load generator is one fixed client for all
//!    three servers (tokio current_thread, one task per connection doing
//!    `write_all(msg)` then `read_exact`) on the main thread, pinned to CPU 0. The three
//!    servers of a case run side by side and are measured in interleaved rounds, so a
//!    drift of the machine hits them alike. Figures: round trips per second, the server
//!    thread's CPU time per round trip (from `/proc/self/task/<tid>/schedstat`), and for
//!    ringloop its loop's waits (`io_uring_enter` or `epoll_wait`) and syscalls per round
//!    trip from `stats()`. On a small machine the client can be the bottleneck; the
//!    server's CPU per round trip still tells which server does less work. The CPU time
//!    of the two pinned cores (`/proc/stat`) that went to anything but the two threads
//!    is reported too: a window where it exceeds 5 % was disturbed by other work, and is
//!    measured again while a retry budget lasts; the report warns if any stayed so.
//!
//! A progress bar runs on stderr. The report (markdown) goes to stdout and to
//! `<out>/bench.md`, the chart to `<out>/bench.svg` (default `target/bench`). A backend
//! that cannot be built here is reported as unavailable and its cells read "n/a".

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::future::{Future, poll_fn};
use std::io::{self, IsTerminal, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::task::{Poll, Waker};
use std::thread;
use std::time::{Duration, Instant};

use ringloop::Backend;

const USAGE: &str = "usage: cargo run --release --example bench [-- [--quick] [--out DIR]]

  --quick     a ~30 s smoke run with smaller workloads
  --out DIR   where bench.md and bench.svg go (default target/bench)";

// ---------------------------------------------------------------------------------------
// Options and sizes
// ---------------------------------------------------------------------------------------

struct Options {
    quick: bool,
    out: PathBuf,
}

fn parse_options() -> Options {
    let mut options = Options {
        quick: false,
        out: PathBuf::from("target/bench"),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => options.quick = true,
            "--out" => match args.next() {
                Some(dir) => options.out = PathBuf::from(dir),
                None => usage_error("--out needs a directory"),
            },
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            // `cargo bench` passes `--bench` to every target; ignore it.
            "--bench" => {}
            other => match other.strip_prefix("--out=") {
                Some(dir) => options.out = PathBuf::from(dir),
                None => usage_error(&format!("unknown argument {other:?}")),
            },
        }
    }
    options
}

fn usage_error(message: &str) -> ! {
    eprintln!("bench: {message}\n{USAGE}");
    std::process::exit(2);
}

/// How big each workload is and how long each echo measurement lasts.
struct Plan {
    spawn_tasks: u64,
    yield_tasks: u64,
    yields_per_task: u64,
    channel_pairs: u64,
    messages_per_pair: u64,
    timeouts: u64,
    sleep_tasks: usize,
    sleep_max_ms: u64,
    /// Measured runs per core workload and runtime (after one warm-up run).
    core_runs: usize,
    /// Interleaved measurement rounds per echo case and runtime.
    echo_rounds: usize,
    echo_warmup: Duration,
    echo_window: Duration,
    /// Total time that may go to measuring disturbed windows again.
    echo_retry_budget: Duration,
}

impl Plan {
    fn full() -> Plan {
        Plan {
            spawn_tasks: 1_000_000,
            yield_tasks: 1_000,
            yields_per_task: 1_000,
            channel_pairs: 1_000,
            messages_per_pair: 1_000,
            timeouts: 1_000_000,
            sleep_tasks: 200_000,
            sleep_max_ms: 100,
            core_runs: 5,
            echo_rounds: 3,
            echo_warmup: Duration::from_millis(300),
            echo_window: Duration::from_millis(1000),
            echo_retry_budget: Duration::from_secs(40),
        }
    }

    fn quick() -> Plan {
        Plan {
            spawn_tasks: 100_000,
            yield_tasks: 200,
            yields_per_task: 500,
            channel_pairs: 200,
            messages_per_pair: 500,
            timeouts: 100_000,
            sleep_tasks: 20_000,
            sleep_max_ms: 50,
            core_runs: 2,
            echo_rounds: 1,
            echo_warmup: Duration::from_millis(100),
            echo_window: Duration::from_millis(300),
            echo_retry_budget: Duration::from_secs(5),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Runtimes
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Runtime {
    IoUring,
    Epoll,
    Tokio,
}

const RUNTIMES: [Runtime; 3] = [Runtime::IoUring, Runtime::Epoll, Runtime::Tokio];

impl Runtime {
    fn label(self) -> &'static str {
        match self {
            Runtime::IoUring => "ringloop-io_uring",
            Runtime::Epoll => "ringloop-epoll",
            Runtime::Tokio => "tokio",
        }
    }

    fn index(self) -> usize {
        match self {
            Runtime::IoUring => 0,
            Runtime::Epoll => 1,
            Runtime::Tokio => 2,
        }
    }

    /// The ringloop backend, or `None` for tokio.
    fn backend(self) -> Option<Backend> {
        match self {
            Runtime::IoUring => Some(Backend::IoUring),
            Runtime::Epoll => Some(Backend::Epoll),
            Runtime::Tokio => None,
        }
    }

    /// Chart colour.
    fn colour(self) -> &'static str {
        match self {
            Runtime::IoUring => "#d1495b",
            Runtime::Epoll => "#edae49",
            Runtime::Tokio => "#00798c",
        }
    }
}

/// What a workload and the echo server need from a runtime. Static methods are called
/// from inside a running loop.
trait Rt: Sized + 'static {
    type Listener: 'static;
    type Stream: 'static;
    /// Stops [`Rt::run_until_stopped`] from another thread.
    type Stopper: Clone + Send + Sync + 'static;

    fn block_on<F: Future>(&self, future: F) -> F::Output;

    /// Spawns on the running loop; the returned future yields the task's output.
    fn spawn<F>(future: F) -> impl Future<Output = F::Output> + 'static
    where
        F: Future + 'static,
        F::Output: 'static;

    fn spawn_detached<F: Future<Output = ()> + 'static>(future: F);

    fn yield_now() -> impl Future<Output = ()>;

    fn sleep(duration: Duration) -> impl Future<Output = ()>;

    /// `Some(output)` when `future` finished in time.
    fn timeout<F: Future>(duration: Duration, future: F)
    -> impl Future<Output = Option<F::Output>>;

    /// Runs spawned tasks until [`Rt::stop`]; can be called again after.
    fn run_until_stopped(&self);

    fn stopper(&self) -> Self::Stopper;

    fn stop(stopper: &Self::Stopper);

    /// The loop's counters, where the runtime has them.
    fn stats(&self) -> Option<ringloop::Stats>;

    fn bind() -> io::Result<Self::Listener>;

    fn local_addr(listener: &Self::Listener) -> io::Result<SocketAddr>;

    /// Accepts a connection and sets `TCP_NODELAY` on it.
    fn accept(listener: &Self::Listener) -> impl Future<Output = io::Result<Self::Stream>>;

    /// Reads what is there, up to `buf.len()`.
    fn read(
        stream: &mut Self::Stream,
        buf: Box<[u8]>,
    ) -> impl Future<Output = (io::Result<usize>, Box<[u8]>)>;

    /// Writes all of `buf[..len]`.
    fn write_all(
        stream: &mut Self::Stream,
        buf: Box<[u8]>,
        len: usize,
    ) -> impl Future<Output = (io::Result<()>, Box<[u8]>)>;
}

struct Ringloop {
    lp: ringloop::EventLoop,
}

impl Ringloop {
    fn new(backend: Backend) -> io::Result<Ringloop> {
        let lp = ringloop::EventLoop::builder().backend(backend).build()?;
        Ok(Ringloop { lp })
    }
}

impl Rt for Ringloop {
    type Listener = ringloop::net::TcpListener;
    type Stream = ringloop::net::TcpStream;
    type Stopper = ringloop::Remote;

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

    fn yield_now() -> impl Future<Output = ()> {
        ringloop::yield_now()
    }

    fn sleep(duration: Duration) -> impl Future<Output = ()> {
        ringloop::sleep(duration)
    }

    async fn timeout<F: Future>(duration: Duration, future: F) -> Option<F::Output> {
        ringloop::timeout(duration, future).await.ok()
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

    fn bind() -> io::Result<Self::Listener> {
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

    async fn read(stream: &mut Self::Stream, buf: Box<[u8]>) -> (io::Result<usize>, Box<[u8]>) {
        stream.read(buf).await
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

struct Tokio {
    rt: tokio::runtime::Runtime,
    local: tokio::task::LocalSet,
    stop: Arc<tokio::sync::Notify>,
}

impl Tokio {
    fn new() -> io::Result<Tokio> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(Tokio {
            rt,
            local: tokio::task::LocalSet::new(),
            stop: Arc::new(tokio::sync::Notify::new()),
        })
    }
}

impl Rt for Tokio {
    type Listener = tokio::net::TcpListener;
    type Stream = tokio::net::TcpStream;
    type Stopper = Arc<tokio::sync::Notify>;

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

    fn yield_now() -> impl Future<Output = ()> {
        tokio::task::yield_now()
    }

    fn sleep(duration: Duration) -> impl Future<Output = ()> {
        tokio::time::sleep(duration)
    }

    async fn timeout<F: Future>(duration: Duration, future: F) -> Option<F::Output> {
        tokio::time::timeout(duration, future).await.ok()
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

    fn bind() -> io::Result<Self::Listener> {
        let std = std::net::TcpListener::bind("127.0.0.1:0")?;
        std.set_nonblocking(true)?;
        tokio::net::TcpListener::from_std(std)
    }

    fn local_addr(listener: &Self::Listener) -> io::Result<SocketAddr> {
        listener.local_addr()
    }

    async fn accept(listener: &Self::Listener) -> io::Result<Self::Stream> {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }

    async fn read(stream: &mut Self::Stream, mut buf: Box<[u8]>) -> (io::Result<usize>, Box<[u8]>) {
        use tokio::io::AsyncReadExt;
        let res = stream.read(&mut buf).await;
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

/// One line per runtime: what it runs on, or why it cannot be built here.
fn probe(runtime: Runtime) -> Result<String, String> {
    match runtime.backend() {
        Some(backend) => match Ringloop::new(backend) {
            Ok(rt) => Ok(rt.lp.backend_description()),
            Err(e) => Err(e.to_string()),
        },
        None => match Tokio::new() {
            Ok(_) => Ok("current_thread runtime + LocalSet (epoll through mio)".to_string()),
            Err(e) => Err(e.to_string()),
        },
    }
}

// ---------------------------------------------------------------------------------------
// Threads: CPU time and placement
// ---------------------------------------------------------------------------------------

/// Reads one thread's CPU time from `/proc`, from any thread of the process.
#[derive(Clone, Debug)]
struct ThreadClock {
    tid: String,
}

/// Whether `/proc/<tid>/schedstat` (nanoseconds) works here; else `stat`'s clock ticks.
fn schedstat_works() -> bool {
    static WORKS: OnceLock<bool> = OnceLock::new();
    *WORKS.get_or_init(|| {
        // Burn a little CPU so that a working counter cannot read zero.
        let start = Instant::now();
        let mut x = 0u64;
        while start.elapsed() < Duration::from_millis(2) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        std::fs::read_to_string("/proc/thread-self/schedstat")
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
            .is_some_and(|ns| ns > 0)
    })
}

impl ThreadClock {
    /// The calling thread's clock.
    fn current() -> ThreadClock {
        // `/proc/thread-self` links to `<pid>/task/<tid>`.
        let tid = std::fs::read_link("/proc/thread-self")
            .ok()
            .and_then(|link| Some(link.file_name()?.to_str()?.to_string()))
            .expect("/proc/thread-self names the calling thread");
        ThreadClock { tid }
    }

    fn read(&self) -> Duration {
        if schedstat_works() {
            let path = format!("/proc/self/task/{}/schedstat", self.tid);
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let ns = text.split_whitespace().next().and_then(|f| f.parse().ok());
            Duration::from_nanos(ns.unwrap_or(0))
        } else {
            // utime and stime are fields 14 and 15, counted after the `(comm)` field,
            // in USER_HZ (100 on Linux) ticks.
            let path = format!("/proc/self/task/{}/stat", self.tid);
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let after_comm = text.rsplit_once(')').map_or("", |(_, rest)| rest);
            let fields: Vec<u64> = after_comm
                .split_whitespace()
                .skip(11)
                .take(2)
                .filter_map(|f| f.parse().ok())
                .collect();
            Duration::from_millis(fields.iter().sum::<u64>() * 10)
        }
    }
}

/// How long `cpu` has been busy (user, system, interrupts, steal: anything but idle and
/// I/O wait), from `/proc/stat`, in USER_HZ (100 on Linux) ticks.
fn cpu_busy(cpu: usize) -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let label = format!("cpu{cpu}");
    let line = stat
        .lines()
        .find(|line| line.split_whitespace().next() == Some(label.as_str()))?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal ...
    let busy: u64 = [0, 1, 2, 5, 6, 7]
        .iter()
        .filter_map(|&i| fields.get(i))
        .sum();
    Some(Duration::from_millis(busy * 10))
}

/// The calling thread's CPU time.
fn thread_cpu_time() -> Duration {
    ThreadClock::current().read()
}

/// Pins the calling thread to `cpu` with `taskset` (no `unsafe` needed): `Err` says why
/// it could not.
fn pin_current_thread(cpu: usize) -> Result<(), String> {
    let tid = ThreadClock::current().tid;
    let status = Command::new("taskset")
        .args(["-p", "-c", &cpu.to_string(), &tid])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("taskset: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("taskset -p -c {cpu} {tid}: {status}"))
    }
}

// ---------------------------------------------------------------------------------------
// Progress bar
// ---------------------------------------------------------------------------------------

struct ProgressState {
    step: usize,
    total: usize,
    label: String,
}

/// A progress bar on stderr, redrawn by its own thread; plain lines when stderr is not
/// a terminal.
struct Progress {
    state: Arc<Mutex<ProgressState>>,
    done: Arc<AtomicBool>,
    tty: bool,
    start: Instant,
    thread: Option<thread::JoinHandle<()>>,
}

impl Progress {
    fn start(total: usize) -> Progress {
        let state = Arc::new(Mutex::new(ProgressState {
            step: 0,
            total,
            label: "starting".to_string(),
        }));
        let done = Arc::new(AtomicBool::new(false));
        let tty = io::stderr().is_terminal();
        let start = Instant::now();
        let thread = tty.then(|| {
            let state = state.clone();
            let done = done.clone();
            thread::Builder::new()
                .name("bench-progress".to_string())
                .spawn(move || {
                    while !done.load(Ordering::Relaxed) {
                        draw(&state.lock().expect("progress state"), start);
                        thread::sleep(Duration::from_millis(100));
                    }
                })
                .expect("spawn the progress thread")
        });
        Progress {
            state,
            done,
            tty,
            start,
            thread,
        }
    }

    /// Starts the next step, named `label`.
    fn step(&self, label: String) {
        let mut state = self.state.lock().expect("progress state");
        state.step += 1;
        state.label = label;
        if !self.tty {
            eprintln!(
                "[{:>3}/{}] {:>5.1}s {}",
                state.step,
                state.total,
                self.start.elapsed().as_secs_f64(),
                state.label
            );
        }
    }

    /// Adds `note` to the current step's label.
    fn note(&self, note: &str) {
        let mut state = self.state.lock().expect("progress state");
        let label = format!("{} ({note})", state.label);
        state.label = label;
        if !self.tty {
            eprintln!("        {note}");
        }
    }

    fn finish(mut self) {
        self.done.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
            eprint!("\r\x1b[K");
        }
        eprintln!("bench: done in {:.0} s", self.start.elapsed().as_secs_f64());
    }
}

fn draw(state: &ProgressState, start: Instant) {
    const WIDTH: usize = 30;
    let done = state.step.saturating_sub(1).min(state.total);
    let filled = WIDTH * done / state.total.max(1);
    let elapsed = start.elapsed().as_secs();
    let mut stderr = io::stderr().lock();
    let _ = write!(
        stderr,
        "\r\x1b[K[{}{}] {:>3}/{} {:>2}:{:02} {}",
        "#".repeat(filled),
        ".".repeat(WIDTH - filled),
        state.step,
        state.total,
        elapsed / 60,
        elapsed % 60,
        // Kept short enough not to wrap, which would break the redraw.
        state.label.chars().take(70).collect::<String>()
    );
    let _ = stderr.flush();
}

// ---------------------------------------------------------------------------------------
// Core workloads (generic: the same futures on every runtime)
// ---------------------------------------------------------------------------------------

/// A small single-threaded channel, the same code on every runtime.
struct Chan<T> {
    buf: VecDeque<T>,
    cap: usize,
    rx_waker: Option<Waker>,
    tx_waker: Option<Waker>,
    tx_alive: bool,
}

struct Sender<T>(Rc<RefCell<Chan<T>>>);
struct Receiver<T>(Rc<RefCell<Chan<T>>>);

fn channel<T>(cap: usize) -> (Sender<T>, Receiver<T>) {
    let chan = Rc::new(RefCell::new(Chan {
        buf: VecDeque::with_capacity(cap),
        cap,
        rx_waker: None,
        tx_waker: None,
        tx_alive: true,
    }));
    (Sender(chan.clone()), Receiver(chan))
}

fn store_waker(slot: &mut Option<Waker>, waker: &Waker) {
    match slot {
        Some(w) if w.will_wake(waker) => {}
        slot => *slot = Some(waker.clone()),
    }
}

impl<T> Sender<T> {
    /// Waits for room, then queues `value` and wakes the receiver.
    async fn send(&self, value: T) {
        let mut value = Some(value);
        poll_fn(|cx| {
            let mut chan = self.0.borrow_mut();
            if chan.buf.len() < chan.cap {
                chan.buf.push_back(value.take().expect("sent once"));
                let waker = chan.rx_waker.take();
                drop(chan);
                if let Some(w) = waker {
                    w.wake();
                }
                Poll::Ready(())
            } else {
                store_waker(&mut chan.tx_waker, cx.waker());
                Poll::Pending
            }
        })
        .await
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut chan = self.0.borrow_mut();
        chan.tx_alive = false;
        let waker = chan.rx_waker.take();
        drop(chan);
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<T> Receiver<T> {
    /// The next value; `None` once the sender is gone and the buffer is empty.
    async fn recv(&self) -> Option<T> {
        poll_fn(|cx| {
            let mut chan = self.0.borrow_mut();
            if let Some(value) = chan.buf.pop_front() {
                let waker = chan.tx_waker.take();
                drop(chan);
                if let Some(w) = waker {
                    w.wake();
                }
                Poll::Ready(Some(value))
            } else if !chan.tx_alive {
                Poll::Ready(None)
            } else {
                store_waker(&mut chan.rx_waker, cx.waker());
                Poll::Pending
            }
        })
        .await
    }
}

async fn spawn_many<R: Rt>(n: u64) -> u64 {
    let mut handles = Vec::with_capacity(n as usize);
    for i in 0..n {
        handles.push(R::spawn(async move { i }));
    }
    let mut sum = 0;
    for handle in handles {
        sum += handle.await;
    }
    sum
}

async fn yield_many<R: Rt>(tasks: u64, yields: u64) -> u64 {
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            R::spawn(async move {
                for _ in 0..yields {
                    R::yield_now().await;
                }
                yields
            })
        })
        .collect();
    let mut total = 0;
    for handle in handles {
        total += handle.await;
    }
    total
}

async fn channel_pairs<R: Rt>(pairs: u64, messages: u64) -> u64 {
    let mut consumers = Vec::with_capacity(pairs as usize);
    let mut producers = Vec::with_capacity(pairs as usize);
    for _ in 0..pairs {
        let (tx, rx) = channel::<u64>(1);
        producers.push(R::spawn(async move {
            for i in 0..messages {
                tx.send(i).await;
            }
        }));
        consumers.push(R::spawn(async move {
            let mut sum = 0;
            while let Some(v) = rx.recv().await {
                sum += v;
            }
            sum
        }));
    }
    for producer in producers {
        producer.await;
    }
    let mut total = 0;
    for consumer in consumers {
        total += consumer.await;
    }
    total
}

async fn timeout_many<R: Rt>(n: u64) -> u64 {
    let mut sum = 0;
    for i in 0..n {
        let out = R::timeout(Duration::from_secs(1), std::future::ready(i)).await;
        sum += out.expect("a ready future never times out");
    }
    sum
}

async fn sleep_many<R: Rt>(delays: Rc<[Duration]>) -> usize {
    let handles: Vec<_> = delays.iter().map(|&d| R::spawn(R::sleep(d))).collect();
    let n = handles.len();
    for handle in handles {
        handle.await;
    }
    n
}

/// Fixed-seed xorshift64 delays in 0..=`max_ms` milliseconds.
fn random_delays(n: usize, max_ms: u64) -> Rc<[Duration]> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            Duration::from_millis(state % (max_ms + 1))
        })
        .collect()
}

#[derive(Clone, Copy, Debug)]
enum CoreWorkload {
    Spawn,
    Yield,
    Wake,
    Timeout,
    Sleep,
}

const CORE_WORKLOADS: [CoreWorkload; 5] = [
    CoreWorkload::Spawn,
    CoreWorkload::Yield,
    CoreWorkload::Wake,
    CoreWorkload::Timeout,
    CoreWorkload::Sleep,
];

impl CoreWorkload {
    fn name(self, plan: &Plan) -> String {
        match self {
            CoreWorkload::Spawn => format!("spawn {} tasks, await each", count(plan.spawn_tasks)),
            CoreWorkload::Yield => format!(
                "{} tasks × {} yield_now",
                count(plan.yield_tasks),
                count(plan.yields_per_task)
            ),
            CoreWorkload::Wake => format!(
                "wake ping-pong: {} channel pairs × {} messages",
                count(plan.channel_pairs),
                count(plan.messages_per_pair)
            ),
            CoreWorkload::Timeout => {
                format!("{} timeouts around ready futures", count(plan.timeouts))
            }
            CoreWorkload::Sleep => format!(
                "{} sleeps of 0–{} ms (thread CPU time)",
                count(plan.sleep_tasks as u64),
                plan.sleep_max_ms
            ),
        }
    }

    /// One run on `rt`: wall time (CPU time for sleeps); the result is checked.
    fn run<R: Rt>(self, rt: &R, plan: &Plan) -> Duration {
        let start = Instant::now();
        match self {
            CoreWorkload::Spawn => {
                let n = plan.spawn_tasks;
                let sum = rt.block_on(spawn_many::<R>(n));
                assert_eq!(sum, n * (n - 1) / 2, "spawn: wrong sum");
            }
            CoreWorkload::Yield => {
                let (t, y) = (plan.yield_tasks, plan.yields_per_task);
                assert_eq!(
                    rt.block_on(yield_many::<R>(t, y)),
                    t * y,
                    "yield: wrong count"
                );
            }
            CoreWorkload::Wake => {
                let (p, m) = (plan.channel_pairs, plan.messages_per_pair);
                let sum = rt.block_on(channel_pairs::<R>(p, m));
                assert_eq!(sum, p * (m * (m - 1) / 2), "wake: wrong sum");
            }
            CoreWorkload::Timeout => {
                let n = plan.timeouts;
                let sum = rt.block_on(timeout_many::<R>(n));
                assert_eq!(sum, n * (n - 1) / 2, "timeout: wrong sum");
            }
            CoreWorkload::Sleep => {
                let delays = random_delays(plan.sleep_tasks, plan.sleep_max_ms);
                let cpu = thread_cpu_time();
                let n = rt.block_on(sleep_many::<R>(delays));
                assert_eq!(n, plan.sleep_tasks, "sleep: wrong count");
                return thread_cpu_time() - cpu;
            }
        }
        start.elapsed()
    }
}

/// One warm-up run, then the median of `plan.core_runs` runs.
fn core_median<R: Rt>(rt: &R, workload: CoreWorkload, plan: &Plan) -> Duration {
    workload.run(rt, plan);
    let mut runs: Vec<Duration> = (0..plan.core_runs)
        .map(|_| workload.run(rt, plan))
        .collect();
    runs.sort();
    runs[runs.len() / 2]
}

/// Core results: `[workload][runtime]`, `None` where the runtime is unavailable.
type CoreResults = Vec<[Option<Duration>; 3]>;

fn run_core(plan: &Plan, available: &[bool; 3], progress: &Progress) -> CoreResults {
    let uring = available[0]
        .then(|| Ringloop::new(Backend::IoUring).ok())
        .flatten();
    let epoll = available[1]
        .then(|| Ringloop::new(Backend::Epoll).ok())
        .flatten();
    let tokio = available[2].then(|| Tokio::new().ok()).flatten();
    CORE_WORKLOADS
        .iter()
        .map(|&workload| {
            let mut row = [None; 3];
            for runtime in RUNTIMES {
                progress.step(format!(
                    "core: {} on {}",
                    workload.name(plan),
                    runtime.label()
                ));
                row[runtime.index()] = match runtime {
                    Runtime::IoUring => uring.as_ref().map(|rt| core_median(rt, workload, plan)),
                    Runtime::Epoll => epoll.as_ref().map(|rt| core_median(rt, workload, plan)),
                    Runtime::Tokio => tokio.as_ref().map(|rt| core_median(rt, workload, plan)),
                };
            }
            row
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Echo: the server (generic), on its own thread
// ---------------------------------------------------------------------------------------

/// The server's read buffer.
const SERVER_BUF: usize = 16 * 1024;

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
    /// builds.
    fn start<R: Rt>(
        name: &str,
        cpu: Option<usize>,
        make: impl FnOnce() -> io::Result<R> + Send + 'static,
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
                    rt.block_on(async { R::spawn_detached(accept_loop::<R>(listener)) });
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
                // Dropping the runtime cancels the accept loop and any echo task left.
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

fn start_server(runtime: Runtime, cpu: Option<usize>) -> io::Result<Server> {
    match runtime.backend() {
        Some(backend) => Server::start(runtime.label(), cpu, move || Ringloop::new(backend)),
        None => Server::start(runtime.label(), cpu, Tokio::new),
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
struct EchoCase {
    conns: usize,
    size: usize,
}

fn echo_cases() -> Vec<EchoCase> {
    let mut cases = Vec::new();
    for conns in [1, 100, 1000] {
        for size in [64, 1024, 16 * 1024] {
            cases.push(EchoCase { conns, size });
        }
    }
    cases
}

impl EchoCase {
    fn name(self) -> String {
        format!("{} × {}", conns_label(self.conns), size_label(self.size))
    }

    fn short(self) -> String {
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

/// A case's figures on one runtime, over its rounds.
#[derive(Clone, Copy, Debug)]
struct EchoFigures {
    /// Median over rounds of round trips per second.
    rate: f64,
    /// Median over rounds of server CPU µs per round trip.
    server_us: f64,
    /// Server and client CPU time over wall time, all rounds.
    server_busy: f64,
    client_busy: f64,
    /// The largest share of a window that went to other work on a benchmark core.
    other_load: Option<f64>,
    /// Per round trip over all rounds; `None` for tokio.
    waits_per_rt: Option<f64>,
    syscalls_per_rt: Option<f64>,
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

/// Echo results: `[case][runtime]`, with why a runtime had none.
type EchoResults = Vec<[Result<EchoFigures, String>; 3]>;

/// Measurements of one window repeated at most, when other work disturbed it.
const MAX_RETRIES: usize = 2;

/// Whether other work took more than [`OTHER_LOAD_WARNING`] of a benchmark core.
fn disturbed(sample: &Sample) -> bool {
    sample
        .other
        .is_some_and(|other| other.as_secs_f64() > OTHER_LOAD_WARNING * sample.wall.as_secs_f64())
}

fn run_echo(
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
        // The three servers of a case run side by side (idle ones block in the kernel)
        // and are measured in interleaved rounds.
        let mut setups: Vec<Result<(Server, Vec<ClientConn>), String>> = Vec::new();
        for runtime in RUNTIMES {
            progress.step(format!("echo {}: start {}", case.name(), runtime.label()));
            if !available[runtime.index()] {
                setups.push(Err("unavailable".to_string()));
                continue;
            }
            let setup = start_server(runtime, server_cpu)
                .and_then(|server| {
                    let mut conns = client.connect(server.addr, case.conns, case.size)?;
                    client.drive(&mut conns, plan.echo_warmup);
                    Ok((server, conns))
                })
                .map_err(|e| format!("{}: {e}", runtime.label()));
            if let Err(e) = &setup {
                eprintln!("\nbench: echo {}: {e}", case.name());
            }
            setups.push(setup);
        }
        let mut samples: [Vec<Sample>; 3] = Default::default();
        for round in 0..plan.echo_rounds {
            for runtime in RUNTIMES {
                progress.step(format!(
                    "echo {}: {} round {}/{}",
                    case.name(),
                    runtime.label(),
                    round + 1,
                    plan.echo_rounds
                ));
                let Ok((server, conns)) = &mut setups[runtime.index()] else {
                    continue;
                };
                let cores = server_cpu.map(|server| (server, 0));
                let mut sample = measure(
                    &client,
                    &client_clock,
                    server,
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
                        server,
                        conns,
                        plan.echo_window,
                        cores,
                    );
                }
                samples[runtime.index()].push(sample);
            }
        }
        let row = RUNTIMES.map(|runtime| match &setups[runtime.index()] {
            Ok(_) => Ok(figures(runtime, &samples[runtime.index()])),
            Err(e) => Err(e.clone()),
        });
        // Close the client's connections first, so that the servers' echo tasks see
        // end-of-file, and let the client's runtime run the closes; then stop the servers.
        let servers: Vec<Server> = setups
            .into_iter()
            .filter_map(|setup| setup.ok().map(|(server, _conns)| server))
            .collect();
        client.block_on(tokio::task::yield_now());
        drop(servers);
        results.push(row);
    }
    results
}

// ---------------------------------------------------------------------------------------
// The report (markdown)
// ---------------------------------------------------------------------------------------

struct Environment {
    kernel: String,
    cpus: usize,
    descriptions: [Result<String, String>; 3],
    pinning: String,
    cpu_source: &'static str,
    quick: bool,
}

/// Above this share of a window spent on other work on a benchmark core, the report
/// warns that the machine was not quiet.
const OTHER_LOAD_WARNING: f64 = 0.05;

fn count(n: u64) -> String {
    if n >= 1_000_000 && n % 1_000_000 == 0 {
        format!("{}M", n / 1_000_000)
    } else if n >= 1_000 && n % 1_000 == 0 {
        format!("{}k", n / 1_000)
    } else {
        n.to_string()
    }
}

fn duration_label(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 1.0 {
        format!("{s:.2} s")
    } else if s >= 1e-3 {
        format!("{:.1} ms", s * 1e3)
    } else {
        format!("{:.1} µs", s * 1e6)
    }
}

fn rate_label(rate: f64) -> String {
    if rate >= 1e6 {
        format!("{:.2} M", rate / 1e6)
    } else {
        format!("{:.1} k", rate / 1e3)
    }
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
        _ => "n/a".to_string(),
    }
}

fn cell(value: Option<String>) -> String {
    value.unwrap_or_else(|| "n/a".to_string())
}

fn report(env: &Environment, plan: &Plan, core: &CoreResults, echo: &EchoResults) -> String {
    let mut md = String::new();
    let w = &mut md;
    let _ = writeln!(
        w,
        "## ringloop benchmark{}",
        if env.quick { " (quick run)" } else { "" }
    );
    let _ = writeln!(w);
    let _ = writeln!(w, "- kernel {}, {} CPUs", env.kernel, env.cpus);
    for runtime in RUNTIMES {
        let line = match &env.descriptions[runtime.index()] {
            Ok(d) => d.clone(),
            Err(e) => format!("**unavailable**: {e}"),
        };
        let _ = writeln!(w, "- {}: {line}", runtime.label());
    }
    let _ = writeln!(
        w,
        "- echo: the server runs on the runtime under test on its own thread; the load \
         generator is the same tokio current_thread client for every server, one task per \
         connection (`write_all` then `read_exact`), `TCP_NODELAY`; {}",
        env.pinning
    );
    let _ = writeln!(
        w,
        "- CPU time per thread from {}; echo figures are medians over {} interleaved \
         window(s) of {:.1} s per runtime (a window where other work took over {:.0} % of \
         a benchmark core is measured again, up to {MAX_RETRIES} times, within {} s in all), \
         core figures medians of {} runs",
        env.cpu_source,
        plan.echo_rounds,
        plan.echo_window.as_secs_f64(),
        OTHER_LOAD_WARNING * 100.0,
        plan.echo_retry_budget.as_secs(),
        plan.core_runs
    );
    let other = echo
        .iter()
        .flatten()
        .filter_map(|f| f.as_ref().ok()?.other_load)
        .fold(0.0f64, f64::max);
    if other > OTHER_LOAD_WARNING {
        let _ = writeln!(
            w,
            "- **warning**: other work took up to {:.0} % of a benchmark core during an echo \
             window: this machine was not quiet, and the throughput figures are disturbed",
            other * 100.0
        );
    }
    let _ = writeln!(w);

    // Core workloads.
    let _ = writeln!(w, "### Core workloads (time, lower is better)");
    let _ = writeln!(w);
    let _ = writeln!(
        w,
        "| workload | ringloop-io_uring | ringloop-epoll | tokio | io_uring / tokio | epoll / tokio |"
    );
    let _ = writeln!(w, "|---|---:|---:|---:|---:|---:|");
    for (workload, row) in CORE_WORKLOADS.iter().zip(core) {
        let secs = row.map(|d| d.map(|d| d.as_secs_f64()));
        let _ = writeln!(
            w,
            "| {} | {} | {} | {} | {} | {} |",
            workload.name(plan),
            cell(row[0].map(duration_label)),
            cell(row[1].map(duration_label)),
            cell(row[2].map(duration_label)),
            ratio(secs[0], secs[2]),
            ratio(secs[1], secs[2]),
        );
    }
    let _ = writeln!(w);

    let cases = echo_cases();
    let fig = |row: &[Result<EchoFigures, String>; 3], rt: Runtime| {
        row[rt.index()].as_ref().ok().copied()
    };

    let _ = writeln!(w, "### Echo throughput (round trips/s, higher is better)");
    let _ = writeln!(w);
    let _ = writeln!(
        w,
        "| case | ringloop-io_uring | ringloop-epoll | tokio | io_uring / epoll | epoll / tokio |"
    );
    let _ = writeln!(w, "|---|---:|---:|---:|---:|---:|");
    for (case, row) in cases.iter().zip(echo) {
        let rate = RUNTIMES.map(|rt| fig(row, rt).map(|f| f.rate));
        let _ = writeln!(
            w,
            "| {} | {} | {} | {} | {} | {} |",
            case.name(),
            cell(rate[0].map(rate_label)),
            cell(rate[1].map(rate_label)),
            cell(rate[2].map(rate_label)),
            ratio(rate[0], rate[1]),
            ratio(rate[1], rate[2]),
        );
    }
    let _ = writeln!(w);

    let _ = writeln!(
        w,
        "### Echo server CPU per round trip (µs, lower is better)"
    );
    let _ = writeln!(w);
    let _ = writeln!(
        w,
        "| case | ringloop-io_uring | ringloop-epoll | tokio | io_uring / epoll | epoll / tokio |"
    );
    let _ = writeln!(w, "|---|---:|---:|---:|---:|---:|");
    for (case, row) in cases.iter().zip(echo) {
        let us = RUNTIMES.map(|rt| fig(row, rt).map(|f| f.server_us));
        let _ = writeln!(
            w,
            "| {} | {} | {} | {} | {} | {} |",
            case.name(),
            cell(us[0].map(|v| format!("{v:.2}"))),
            cell(us[1].map(|v| format!("{v:.2}"))),
            cell(us[2].map(|v| format!("{v:.2}"))),
            ratio(us[0], us[1]),
            ratio(us[1], us[2]),
        );
    }
    let _ = writeln!(w);

    let _ = writeln!(
        w,
        "### Echo server loop per round trip, and how busy each thread was"
    );
    let _ = writeln!(w);
    let _ = writeln!(
        w,
        "From the server loop's `stats()`: `io_uring_enter` calls (the io_uring loop's only \
         syscalls), `epoll_wait` calls, and the epoll loop's syscalls (its waits plus one per \
         operation attempt, `EAGAIN`s included). Busy is a thread's CPU time over wall \
         time: a thread near 100 % is saturated, and a saturated client bounds the \
         throughput. Other is the CPU time on the server's or the client's core that went \
         to anything else (other processes, steal), the larger of the two: above a few % \
         the throughput is disturbed; CPU per round trip much less."
    );
    let _ = writeln!(w);
    let _ = writeln!(
        w,
        "| case | io_uring enters/rt | epoll waits/rt | epoll syscalls/rt | \
         server busy (io_uring / epoll / tokio) | client busy | other |"
    );
    let _ = writeln!(w, "|---|---:|---:|---:|---:|---:|---:|");
    for (case, row) in cases.iter().zip(echo) {
        let per = |rt: Runtime, f: fn(&EchoFigures) -> Option<f64>| {
            cell(fig(row, rt).and_then(|x| f(&x)).map(|v| format!("{v:.3}")))
        };
        let busy = |f: fn(&EchoFigures) -> Option<f64>| {
            RUNTIMES
                .map(|rt| {
                    cell(
                        fig(row, rt)
                            .and_then(|x| f(&x))
                            .map(|v| format!("{:.0}", v * 100.0)),
                    )
                })
                .join(" / ")
                + " %"
        };
        let _ = writeln!(
            w,
            "| {} | {} | {} | {} | {} | {} | {} |",
            case.name(),
            per(Runtime::IoUring, |f| f.waits_per_rt),
            per(Runtime::Epoll, |f| f.waits_per_rt),
            per(Runtime::Epoll, |f| f.syscalls_per_rt),
            busy(|f| Some(f.server_busy)),
            busy(|f| Some(f.client_busy)),
            busy(|f| f.other_load),
        );
    }
    let _ = writeln!(w);

    // The issue's targets.
    let _ = writeln!(w, "### Targets (100 and 1000 connections × 1 KiB)");
    let _ = writeln!(w);
    for (case, row) in cases.iter().zip(echo) {
        if case.size != 1024 || case.conns < 100 {
            continue;
        }
        let (u, e, t) = (
            fig(row, Runtime::IoUring),
            fig(row, Runtime::Epoll),
            fig(row, Runtime::Tokio),
        );
        let verdict = |ok: Option<bool>| match ok {
            Some(true) => "met",
            Some(false) => "**missed**",
            None => "n/a",
        };
        let cpu = u.zip(e).map(|(u, e)| u.server_us <= 0.95 * e.server_us);
        let thr = u.zip(e).map(|(u, e)| u.rate >= e.rate);
        let near = e.zip(t).map(|(e, t)| {
            (e.rate / t.rate - 1.0).abs() <= 0.05 && (e.server_us / t.server_us - 1.0).abs() <= 0.05
        });
        let _ = writeln!(
            w,
            "- {}: io_uring CPU/rt ≤ 0.95 × epoll's ({}): {}; io_uring throughput ≥ epoll's \
             ({}): {}; epoll within 5 % of tokio on both (throughput {}, CPU {}): {}",
            case.name(),
            ratio(u.map(|f| f.server_us), e.map(|f| f.server_us)),
            verdict(cpu),
            ratio(u.map(|f| f.rate), e.map(|f| f.rate)),
            verdict(thr),
            ratio(e.map(|f| f.rate), t.map(|f| f.rate)),
            ratio(e.map(|f| f.server_us), t.map(|f| f.server_us)),
            verdict(near),
        );
    }
    md
}

// ---------------------------------------------------------------------------------------
// The chart (hand-written SVG)
// ---------------------------------------------------------------------------------------

/// A round axis maximum at or above `max` and its tick step (1, 2 or 5 × 10^k).
fn axis(max: f64) -> (f64, f64) {
    if max.is_nan() || max <= 0.0 {
        return (1.0, 0.2);
    }
    let raw = max / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|&s| s >= raw)
        .unwrap_or(10.0 * mag);
    ((max / step).ceil() * step, step)
}

fn tick_label(v: f64, step: f64) -> String {
    if v >= 1e6 {
        format!("{}M", trim(v / 1e6))
    } else if v >= 1e3 {
        format!("{}k", trim(v / 1e3))
    } else if step < 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.0}")
    }
}

fn trim(v: f64) -> String {
    let s = format!("{v:.1}");
    s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
}

/// One panel of grouped bars at vertical offset `top`: a group per case, a bar per runtime.
fn panel(
    svg: &mut String,
    top: f64,
    title: &str,
    values: &[[Option<f64>; 3]],
    labels: &[String],
    fmt: fn(f64) -> String,
) {
    const LEFT: f64 = 70.0;
    const WIDTH: f64 = 880.0;
    const HEIGHT: f64 = 220.0;
    let max = values
        .iter()
        .flatten()
        .flatten()
        .fold(0.0f64, |a, &b| a.max(b));
    let (ymax, step) = axis(max);
    let y = |v: f64| top + HEIGHT - v / ymax * HEIGHT;
    let _ = writeln!(
        svg,
        r#"<text x="{LEFT}" y="{}" class="title">{title}</text>"#,
        top - 12.0
    );
    let mut v = 0.0;
    while v <= ymax + step / 2.0 {
        let _ = writeln!(
            svg,
            r##"<line x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            LEFT + WIDTH,
            LEFT - 6.0,
            y(v) + 4.0,
            tick_label(v, step),
            y = y(v),
        );
        v += step;
    }
    let group = WIDTH / values.len().max(1) as f64;
    let bar = group * 0.8 / 3.0;
    for (i, (row, label)) in values.iter().zip(labels).enumerate() {
        let x0 = LEFT + i as f64 * group + group * 0.1;
        for runtime in RUNTIMES {
            let x = x0 + runtime.index() as f64 * bar;
            match row[runtime.index()] {
                Some(value) => {
                    let _ = writeln!(
                        svg,
                        r#"<rect x="{x:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{} {label}: {}</title></rect>"#,
                        y(value),
                        bar - 1.0,
                        top + HEIGHT - y(value),
                        runtime.colour(),
                        runtime.label(),
                        fmt(value),
                    );
                    let _ = writeln!(
                        svg,
                        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" class="value">{}</text>"#,
                        x + bar / 2.0,
                        y(value) - 3.0,
                        fmt(value),
                    );
                }
                None => {
                    let _ = writeln!(
                        svg,
                        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" class="value">n/a</text>"#,
                        x + bar / 2.0,
                        top + HEIGHT - 3.0,
                    );
                }
            }
        }
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{label}</text>"#,
            x0 + 1.5 * bar,
            top + HEIGHT + 16.0
        );
    }
    let _ = writeln!(
        svg,
        r##"<line x1="{LEFT}" x2="{}" y1="{b}" y2="{b}" stroke="#333"/>"##,
        LEFT + WIDTH,
        b = top + HEIGHT
    );
}

fn chart(env: &Environment, echo: &EchoResults) -> String {
    let cases = echo_cases();
    let labels: Vec<String> = cases.iter().map(|c| c.short()).collect();
    let value = |f: fn(&EchoFigures) -> f64| -> Vec<[Option<f64>; 3]> {
        echo.iter()
            .map(|row| RUNTIMES.map(|rt| row[rt.index()].as_ref().ok().map(f)))
            .collect()
    };
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="980" height="640" viewBox="0 0 980 640" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(
        svg,
        "<style>.title {{ font-size: 14px; font-weight: bold; }} .value {{ font-size: 8px; fill: #444; }}</style>"
    );
    let _ = writeln!(svg, r#"<rect width="980" height="640" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="70" y="22" font-size="13">Loopback TCP echo, linux {} ({} CPUs): server on the runtime under test, same tokio client for all</text>"#,
        env.kernel, env.cpus
    );
    // Legend.
    for runtime in RUNTIMES {
        let x = 70.0 + runtime.index() as f64 * 180.0;
        let _ = writeln!(
            svg,
            r#"<rect x="{x}" y="34" width="12" height="12" fill="{}"/><text x="{}" y="44">{}</text>"#,
            runtime.colour(),
            x + 17.0,
            runtime.label()
        );
    }
    panel(
        &mut svg,
        85.0,
        "Throughput (round trips/s, higher is better)",
        &value(|f| f.rate),
        &labels,
        |v| tick_label(v, 1.0),
    );
    panel(
        &mut svg,
        375.0,
        "Server CPU per round trip (µs, lower is better)",
        &value(|f| f.server_us),
        &labels,
        |v| format!("{v:.1}"),
    );
    let _ = writeln!(svg, "</svg>");
    svg
}

// ---------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------

fn write_outputs(out: &Path, md: &str, svg: &str) -> io::Result<()> {
    std::fs::create_dir_all(out)?;
    std::fs::write(out.join("bench.md"), md)?;
    std::fs::write(out.join("bench.svg"), svg)?;
    Ok(())
}

fn main() {
    let options = parse_options();
    let plan = if options.quick {
        Plan::quick()
    } else {
        Plan::full()
    };
    if cfg!(debug_assertions) {
        eprintln!("bench: this is a debug build; run with --release for real figures");
    }

    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".to_string());
    let cpus = thread::available_parallelism().map_or(1, |n| n.get());
    let descriptions = RUNTIMES.map(probe);
    let available = descriptions.each_ref().map(Result::is_ok);
    for runtime in RUNTIMES {
        if let Err(e) = &descriptions[runtime.index()] {
            eprintln!("bench: {} is unavailable here: {e}", runtime.label());
        }
    }

    // The load generator (and the core workloads) on CPU 0, the servers on CPU 1.
    let (pinning, server_cpu) = if cpus < 2 {
        ("threads not pinned (one CPU)".to_string(), None)
    } else {
        match pin_current_thread(0) {
            Ok(()) => (
                "server thread pinned to CPU 1, load generator to CPU 0 (taskset)".to_string(),
                Some(1),
            ),
            Err(e) => (format!("threads not pinned ({e})"), None),
        }
    };
    let env = Environment {
        kernel,
        cpus,
        descriptions,
        pinning,
        cpu_source: if schedstat_works() {
            "/proc/self/task/<tid>/schedstat (ns)"
        } else {
            "/proc/self/task/<tid>/stat (10 ms ticks)"
        },
        quick: options.quick,
    };

    let steps = CORE_WORKLOADS.len() * RUNTIMES.len()
        + echo_cases().len() * RUNTIMES.len() * (1 + plan.echo_rounds);
    let progress = Progress::start(steps);
    let core = run_core(&plan, &available, &progress);
    let echo = run_echo(&plan, &available, server_cpu, &progress);
    progress.finish();

    let md = report(&env, &plan, &core, &echo);
    let svg = chart(&env, &echo);
    println!("{md}");
    match write_outputs(&options.out, &md, &svg) {
        Ok(()) => eprintln!(
            "bench: wrote {} and {}",
            options.out.join("bench.md").display(),
            options.out.join("bench.svg").display()
        ),
        Err(e) => {
            eprintln!("bench: cannot write to {}: {e}", options.out.display());
            std::process::exit(1);
        }
    }
}
