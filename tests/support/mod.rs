//! Helpers shared by the integration tests, each written once: loops on each backend,
//! hang guards, settling, recorders, sockets, descriptor counting and child processes.
//! Each test binary includes it with `mod support;` and uses what it needs.
//!
//! A behaviour that can depend on the backend (sockets, timers, waits, other threads,
//! the driver) is tested on every backend within one plain `cargo test`:
//! [`for_each_backend`] hands the test a fresh loop on each, [`on_each_backend`] hands
//! it the backend to build its own loops with, and [`for_each_backend_by_env`] re-runs
//! a test whose code picks its own backend (`ringloop::run`, `EventLoop::new()`) in a
//! child once per backend. A failure names the backend.

#![allow(dead_code)]

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::fs::FileExt;
use std::pin::Pin;
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::sync::{Mutex, MutexGuard, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::task::Poll;
use std::time::{Duration, Instant};

use ringloop::net::{TcpListener, TcpStream};
use ringloop::{Backend, EventLoop, ExceptionKind, Stats, TaskError};

// ---------------------------------------------------------------------------------------
// Backends and loops

/// The backends a behaviour test runs on: io_uring where this machine has it, and epoll
/// always (probed once per test binary).
pub fn backends() -> Vec<Backend> {
    static BACKENDS: OnceLock<Vec<Backend>> = OnceLock::new();
    BACKENDS
        .get_or_init(|| {
            let mut list = Vec::new();
            match EventLoop::builder().backend(Backend::IoUring).build() {
                Ok(_) => list.push(Backend::IoUring),
                Err(e) => eprintln!("io_uring is unavailable here ({e}): testing epoll only"),
            }
            list.push(Backend::Epoll);
            list
        })
        .clone()
}

/// The `RINGLOOP_BACKEND` value that selects `backend` for `Backend::Auto` loops.
pub fn env_value(backend: Backend) -> &'static str {
    match backend {
        Backend::IoUring => "io_uring",
        Backend::Epoll => "epoll",
        Backend::Auto => "auto",
    }
}

/// A loop on `backend`.
pub fn new_loop(backend: Backend) -> EventLoop {
    EventLoop::builder()
        .backend(backend)
        .build()
        .unwrap_or_else(|e| panic!("building a loop on {backend:?}: {e}"))
}

/// A loop on the default backend (`Backend::Auto`, which `RINGLOOP_BACKEND` may
/// override), for the tests that are pure scheduling: no I/O, no timer, no wait.
pub fn default_loop() -> EventLoop {
    EventLoop::new().expect("an event loop can be created here")
}

/// Runs `test` once per backend with a fresh loop, naming the backend if it panics.
///
/// The loop is built before `test` runs, and a loop holds descriptors of its own: a
/// test that counts descriptors takes [`exclusive_fds`], and a test that opens any
/// takes [`shared_fds`], *before* calling this, never inside `test`.
pub fn for_each_backend(mut test: impl FnMut(&EventLoop)) {
    on_each_backend(|backend| test(&new_loop(backend)));
}

/// Runs `test` once per backend, handing it the backend to build its own loops with (a
/// `Builder`'s options, several loops, a loop dropped midway); names the backend if
/// `test` panics. The descriptor locks are taken before calling this, as for
/// [`for_each_backend`].
pub fn on_each_backend(mut test: impl FnMut(Backend)) {
    for backend in backends() {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| test(backend)));
        if let Err(panic) = result {
            eprintln!("the test failed on the {backend:?} backend");
            std::panic::resume_unwind(panic);
        }
    }
}

/// Runs the future `body()` makes to completion on a fresh loop on each backend. A lost
/// wake-up would leave the body waiting forever: the [`HANG`] guard turns that into a
/// failure instead of a hung test run.
pub fn run_on_each_backend<F: Future<Output = ()>>(mut body: impl FnMut() -> F) {
    for_each_backend(|lp| {
        lp.run_until_complete(async {
            ringloop::timeout(HANG, body())
                .await
                .expect("test hung: a waiter was never woken")
        })
    });
}

/// Set in a child started by [`for_each_backend_by_env`]: the test it runs.
const BACKEND_CHILD: &str = "RINGLOOP_TEST_BACKEND_CHILD";

/// For a test whose code picks its own backend and cannot be handed one
/// (`ringloop::run`, `EventLoop::new()`, the example programs): runs the test `test`
/// (the caller's own name) again in a child of this binary once per backend, with
/// `RINGLOOP_BACKEND` naming it, and fails naming the backend if a child fails. In the
/// child, runs `body`.
pub fn for_each_backend_by_env(test: &str, body: impl FnOnce()) {
    if std::env::var(BACKEND_CHILD).is_ok_and(|t| t == test) {
        body();
        return;
    }
    for backend in backends() {
        let var = env_value(backend);
        let out = rerun(test)
            .env(BACKEND_CHILD, test)
            .env("RINGLOOP_BACKEND", var)
            .output()
            .expect("run the test binary as a child");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "the test failed on the {backend:?} backend (a child with RINGLOOP_BACKEND={var}, \
             {}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
            out.status
        );
        assert!(
            stdout.contains("1 passed"),
            "the {backend:?} child ran no test named {test:?}:\n{stdout}"
        );
    }
}

/// The arguments that make this test binary run `test` alone, its output shown.
pub fn rerun_args(test: &str) -> [&str; 4] {
    ["--exact", test, "--nocapture", "--test-threads=1"]
}

/// A command that runs the test `test` of this test binary alone, in a child process.
pub fn rerun(test: &str) -> Command {
    let mut command = Command::new(std::env::current_exe().expect("the test binary's path"));
    command.args(rerun_args(test));
    command
}

// ---------------------------------------------------------------------------------------
// Hangs, waits and settling

/// A hang guard: generous, and its expiry is the failure being tested for.
pub const HANG: Duration = Duration::from_secs(20);

/// Awaits `fut`, panicking with `what` if it takes longer than [`HANG`].
pub async fn guard<F: Future>(what: &str, fut: F) -> F::Output {
    match ringloop::timeout(HANG, fut).await {
        Ok(v) => v,
        Err(_) => panic!("{what} hung for {HANG:?}"),
    }
}

/// Waits until `ready` holds, polling every 2 ms; fails with `status()` after [`HANG`].
pub async fn wait_for(what: &str, status: impl Fn() -> String, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + HANG;
    while !ready() {
        assert!(
            Instant::now() < deadline,
            "hung waiting for {what}: {}",
            status()
        );
        ringloop::sleep(Duration::from_millis(2)).await;
    }
}

/// [`wait_for`] with nothing more to say if it hangs.
pub async fn wait_until(what: &str, ready: impl FnMut() -> bool) {
    wait_for(what, String::new, ready).await;
}

/// Polls `fut` exactly once.
pub async fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut *fut).poll(cx))).await
}

/// Yields `n` times: `n` loop iterations.
pub async fn yield_times(n: usize) {
    for _ in 0..n {
        ringloop::yield_now().await;
    }
}

/// Lets every spawned task run up to its next suspension point. For tasks that only
/// wait on each other or on a `sync` primitive, a few loop iterations are enough.
pub async fn settle_tasks() {
    yield_times(4).await;
}

/// Runs the loop, a millisecond at a time, until `done` holds for its stats; fails
/// naming `what` after [`HANG`].
pub async fn settle_until(lp: &EventLoop, what: &str, done: impl Fn(&Stats) -> bool) {
    let deadline = Instant::now() + HANG;
    loop {
        let stats = lp.stats();
        if done(&stats) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: the loop did not settle in {HANG:?}: {stats:?}"
        );
        ringloop::sleep(Duration::from_millis(1)).await;
    }
}

/// Runs the loop until no operation is in flight (closes and cancels ride the next
/// turns).
pub async fn settle_io(lp: &EventLoop) {
    settle_until(lp, "operations in flight", |s| s.ops_in_flight == 0).await;
}

/// `RINGLOOP_SOAK`: how many times their default sizes the soak tests run (default 1).
pub fn soak_scale() -> usize {
    std::env::var("RINGLOOP_SOAK")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(1)
}

// ---------------------------------------------------------------------------------------
// Recorders and panics

/// What a test saw, in order.
pub type Log<T> = Rc<RefCell<Vec<T>>>;

/// An empty [`Log`].
pub fn log<T>() -> Log<T> {
    Rc::new(RefCell::new(Vec::new()))
}

/// Sets a flag when dropped.
pub struct DropFlag(pub Rc<Cell<bool>>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

/// Adds one to a counter.
pub fn bump(c: &Cell<usize>) {
    c.set(c.get() + 1);
}

/// Installs an exception handler on `lp` that records each report's kind and message.
pub fn record_exceptions(lp: &EventLoop) -> Log<(ExceptionKind, String)> {
    let reports = log();
    let r = reports.clone();
    lp.set_exception_handler(move |ctx| {
        r.borrow_mut().push((ctx.kind(), ctx.message().to_string()))
    });
    reports
}

/// The message of a panic payload.
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "<not a string>".to_string())
}

/// The message of a task's panic.
pub fn task_panic_message(err: TaskError) -> String {
    panic_message(&*err.into_panic())
}

// ---------------------------------------------------------------------------------------
// Sockets

/// A listener on a free loopback port.
pub fn local_listener() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0")
}

/// A fresh, empty directory for a test's files (sockets, data), unique to this process
/// and thread; the test removes it when done.
pub fn socket_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "ringloop-test-{}-{name}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a directory for socket files");
    dir
}

/// A connected loopback TCP pair: (client, server).
pub async fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = local_listener();
    let client = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .expect("connect");
    let (server, _) = listener.accept().await.expect("accept");
    (client, server)
}

/// Reads until end-of-file (or an error).
pub async fn read_to_end(stream: &TcpStream) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = Vec::with_capacity(4096);
    loop {
        buf.clear();
        let (res, b) = stream.read(buf).await;
        buf = b;
        match res? {
            0 => return Ok(out),
            n => out.extend_from_slice(&buf[..n]),
        }
    }
}

/// `len` deterministic, non-repeating-looking bytes (xorshift64*).
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

// ---------------------------------------------------------------------------------------
// The process: one test at a time, descriptors, CPU time

/// For binaries whose tests measure the process (its heap, its CPU) or would crowd two
/// cores: each test holds this, so they run one at a time.
pub fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Tests in one binary share one process, so its descriptor table: tests that count
/// `/proc/self/fd` run alone (write lock), the others together (read lock).
static FD_TABLE: RwLock<()> = RwLock::new(());

/// Taken by tests that open descriptors but do not count them. A loop holds
/// descriptors too: take it before [`for_each_backend`] builds one.
pub fn shared_fds() -> RwLockReadGuard<'static, ()> {
    FD_TABLE.read().unwrap_or_else(|e| e.into_inner())
}

/// Taken by tests that count descriptors: nothing else in the binary opens one
/// meanwhile. Take it before [`for_each_backend`] builds a loop.
pub fn exclusive_fds() -> RwLockWriteGuard<'static, ()> {
    FD_TABLE.write().unwrap_or_else(|e| e.into_inner())
}

/// Open descriptors of this process (the directory handle itself not counted).
pub fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd is readable")
        .count()
        - 1
}

/// Open descriptors below `limit` (the ones that count against `RLIMIT_NOFILE`), not
/// counting the directory handle used to list them.
pub fn fds_below(limit: usize) -> usize {
    let fds: Vec<usize> = std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    // The listing's own descriptor is among them; it was the lowest free one.
    fds.iter().filter(|&&fd| fd < limit).count() - 1
}

/// This process's user + system CPU time, from a `/proc/self/stat` opened in advance
/// (no descriptor can be opened while they are exhausted).
pub fn cpu_time(stat: &std::fs::File) -> Duration {
    let mut buf = [0u8; 1024];
    let n = stat.read_at(&mut buf, 0).expect("read /proc/self/stat");
    let text = std::str::from_utf8(&buf[..n]).unwrap();
    let after_name = &text[text.rfind(')').unwrap() + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 and 15 of stat(5) (utime, stime), in USER_HZ (100) ticks.
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10)
}

/// A test that runs out of descriptors: it re-runs itself in a child of this binary
/// under `prlimit --nofile=limit:limit` (util-linux), with `child_var` set, once per
/// backend (`RINGLOOP_BACKEND` names it; the child builds its loop with
/// `EventLoop::new()`). The child prints `port_marker` and the port it listens on; the
/// parent then opens `clients` connections to it, which wait in its backlog once its
/// descriptors run out, and holds them until the child exits. The parent holds the
/// client ends, so only the child's accepts use its descriptors.
pub struct FdLimitedChild<'a> {
    /// The test's own name.
    pub test: &'a str,
    /// Set in the child.
    pub child_var: &'a str,
    /// The child's descriptor limit.
    pub limit: usize,
    /// Connections the parent opens.
    pub clients: usize,
    /// Printed by the child before its port number.
    pub port_marker: &'a str,
    /// Printed by the child once it got to the end.
    pub ok_marker: &'a str,
}

impl FdLimitedChild<'_> {
    /// Runs the child once per backend and asserts each exits 0 having printed
    /// `ok_marker`. Says so and returns if `prlimit` is not installed.
    pub fn run_on_each_backend(&self) {
        let has_prlimit = Command::new("prlimit")
            .arg("--version")
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if !has_prlimit {
            println!("skipped: `prlimit` (util-linux) is not installed");
            return;
        }
        on_each_backend(|backend| self.run_on(backend));
    }

    fn run_on(&self, backend: Backend) {
        let limit = self.limit;
        let mut child = Command::new("prlimit")
            .arg(format!("--nofile={limit}:{limit}"))
            .arg(std::env::current_exe().unwrap())
            .args(rerun_args(self.test))
            .env(self.child_var, "1")
            .env("RINGLOOP_BACKEND", env_value(backend))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the child under prlimit");
        let mut stderr = child.stderr.take().unwrap();
        let stderr_reader = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s);
            s
        });
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut transcript = String::new();
        let mut port = None;
        let mut line = String::new();
        while stdout.read_line(&mut line).unwrap_or(0) > 0 {
            transcript.push_str(&line);
            // libtest prints the test's name on the same line, before the child's output.
            if let Some((_, p)) = line.trim().split_once(self.port_marker) {
                port = Some(p.trim().parse::<u16>().expect("port number"));
                break;
            }
            line.clear();
        }
        let Some(port) = port else {
            let status = child.wait().unwrap();
            panic!(
                "the child never listened ({status}):\n{transcript}\n{}",
                stderr_reader.join().unwrap()
            );
        };
        // More connections than the child can ever accept: the rest wait in the backlog.
        let clients: Vec<std::net::TcpStream> = (0..self.clients)
            .map(|_| std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect"))
            .collect();
        let mut rest = String::new();
        let _ = stdout.read_to_string(&mut rest);
        transcript.push_str(&rest);
        let status = child.wait().unwrap();
        let stderr = stderr_reader.join().unwrap();
        drop(clients);
        println!("{backend:?}:\n{transcript}");
        assert!(
            status.success(),
            "child failed ({status}):\n{transcript}\n{stderr}"
        );
        assert!(
            transcript.contains(self.ok_marker),
            "the child did not finish:\n{transcript}\n{stderr}"
        );
    }
}
