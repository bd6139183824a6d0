//! The benchmark: ringloop on io_uring, ringloop on epoll and tokio's current-thread
//! runtime (with a `LocalSet`), running the very same futures; monoio (its io_uring
//! driver, timers on) joins them in the core workloads and the timers.
//!
//! `cargo run --release --example bench [-- --quick] [-- --out DIR]` (options parsed with
//! `clap`; `--help` lists them).
//!
//! Nine parts, run on the three runtimes (the first two also on monoio; echo and
//! memory also on ringloop's protocol server; pool echo on ringloop-io_uring alone):
//!
//! 1. **Core workloads** (`workloads.rs`, shared with `benches/core.rs`) on the main
//!    thread: spawn N tasks that return at once and await each; T tasks yielding Y
//!    times each; producer/consumer pairs passing messages through a capacity-1,
//!    waker-based channel (a wake ping-pong); N `timeout`s around ready futures.
//!    Figure: the median of several runs, with ratios to tokio's and to monoio's and
//!    the spawn target (≤ 0.8 × monoio's).
//! 2. **Timers** (`timers.rs`): a task per timer sleeps once, all awaited; figure: the
//!    thread's CPU time (the wall time is the longest sleep) and CPU per timer, medians
//!    of 3 runs after a warm-up. Dense: 200k sleeps of 0–100 ms (whole ms); sparse: 20k
//!    sleeps spread evenly over 1 s; scaling: 10k, 100k and 1M random µs sleeps within
//!    1 s (the 1M-timer workload, and the points of `timer-scaling.svg`). ringloop with
//!    its default builder. Targets: dense ≤ 0.45 × tokio's CPU, sparse ≤ tokio's.
//! 3. **Loopback TCP echo**, 1, 100 and 1000 connections × 64 B, 1 KiB and 16 KiB, and
//!    10 and 10,000 connections × 1 KiB (the points of `echo-scaling.svg`, server CPU per
//!    round trip and throughput by connections). Five servers: the stream server (an
//!    accept loop spawning one echo task per connection, 16 KiB read buffer) on each of
//!    the three runtimes, and ringloop's protocol/transport server (`ringloop::net::serve`
//!    with an echo `Protocol` whose `data_received` writes the data back, on a loop
//!    built with `Builder::fixed_files(16384)`), `ringloop-protocol` on io_uring and
//!    `ringloop-protocol-epoll` on epoll (which ignores the table). Each runs on
//!    its own thread, pinned to CPU 1 with `taskset` where the machine has two CPUs. The
//!    load generator is one fixed client for all servers (tokio current_thread, one task
//!    per connection doing `write_all(msg)` then `read_exact`) on the main thread, pinned
//!    to CPU 0. The servers of a case run side by side and are measured in interleaved
//!    rounds, so a drift of the machine hits them alike. Figures: round trips per second,
//!    the server thread's CPU time per round trip (from
//!    `/proc/self/task/<tid>/schedstat`), and for ringloop its loop's waits
//!    (`io_uring_enter` or `epoll_wait`) and syscalls per round trip from `stats()`. On a
//!    small machine the client can be the bottleneck; the server's CPU per round trip
//!    still tells which server does less work. The CPU time of the two pinned cores
//!    (`/proc/stat`) that went to anything but the two threads is reported too: a window
//!    where it exceeds 5 % was disturbed by other work, and is measured again while a
//!    retry budget lasts; the report warns if any stayed so. A case side by side holds
//!    both ends of every server's connections open at once (1000 connections: some
//!    10,000 descriptors): the bench raises `RLIMIT_NOFILE`'s soft limit to the hard one
//!    at the start (through the `rlimit` crate), and the hard one too where a case needs
//!    more and the process may. A case that still does not fit (10,000 connections:
//!    some 100,000 descriptors) runs its servers one at a time, each alone against the
//!    same client code in a child process (the bench re-executed with a hidden
//!    `--echo-client`, its CPU time read from `/proc/<pid>`), so that each process
//!    holds one end of each connection.
//! 4. **HTTP/1.1**, 1, 100 and 1000 connections: hyper's hello-world server
//!    (`hyper::server::conn::http1`, keep-alive, a `service_fn` answering 200 "Hello,
//!    world!"), the same code on ringloop-io_uring, ringloop-epoll and tokio (ringloop's
//!    `TcpStream` through tokio's I/O traits and hyper-util's `TokioIo`), each server on
//!    its own thread placed as the echo servers are. The load generator, the same for
//!    all, is `wrk -t1 -c<N> -d<window> --latency` when `wrk` is on `PATH` (never
//!    installed by the bench; windows rounded to whole seconds), else hyper's HTTP/1.1
//!    client on tokio current_thread (one task per connection sending `GET /`
//!    back-to-back on a keep-alive connection), on CPU 0; the report says which ran.
//!    Interleaved rounds and disturbance retries as for echo. Figures: requests per
//!    second and the server thread's CPU time per request, side by side, with the ratios
//!    io_uring / tokio and epoll / tokio, and the target at 100 connections
//!    (io_uring's CPU per request ≤ 0.95 × tokio's, requests per second ≥ tokio's),
//!    reported as met or missed, never asserted.
//!
//! The next four parts run on the main thread unpinned (the blocking pools' threads
//! inherit its CPUs), each measured in interleaved rounds after a warm-up; the report
//! gives each a table with ratios to tokio, the issues' targets as met or missed (never
//! asserted), and the share of the machine's CPU time other work took meanwhile
//! (`/proc/stat`), with a warning above 5 %. The chart shows them as ratios to tokio.
//!
//! 5. **Files** (issue 13): a file in the output directory (256 MiB), written once with
//!    std and removed at the end; then 4 KiB random reads from the page cache at queue
//!    depth 1 and 32 (that many tasks, each reading in a loop) for 0.5 s windows
//!    (reads/s and MiB/s), and 1 MiB sequential writes of the whole file (MiB/s, page
//!    cache; several passes per round, each after an untimed sync so none inherits
//!    another's writeback). ringloop-io_uring's `fs::File` goes through the ring,
//!    ringloop-epoll's through its blocking pool; tokio does what `tokio::fs` does,
//!    `FileExt::read_at` / `write_all_at` inside `tokio::task::spawn_blocking`. Targets:
//!    QD32 reads ≥ 3 × tokio::fs's throughput, writes ≥ tokio::fs's.
//! 6. **Processes** (issue 13): spawn `true` and await its exit, 1,000 in a row
//!    (`ringloop::process::Command`, a pidfd; `tokio::process::Command`). Figure: the
//!    total time and the time per spawn. Target: ≤ tokio::process's time.
//! 7. **Services** (issue 12): cross-thread round trips awaited one after the other. A
//!    loop on thread A awaits `Remote::spawn` on a `LoopPool` loop on thread B (tokio: a
//!    current_thread runtime on A awaits `Handle::spawn` onto a multi_thread runtime with
//!    one worker; also, for reference, onto a current_thread runtime on its own thread),
//!    A pinned to CPU 1 and B to CPU 0 where the machine has two; and a loop awaiting
//!    `spawn_blocking` (tokio's `task::spawn_blocking`). Figures: µs per round trip,
//!    and thread A's CPU time per remote round trip (ringloop's loop A spins for a
//!    pending answer, `Builder::remote_spin`; also measured with the spin off).
//!    Targets: remote spawn ≤ 0.8 × tokio's, spawn_blocking ≤ tokio's.
//! 8. **One loop per core** (issue 12): echo at 100 connections × 1 KiB on a `LoopPool`
//!    of two ringloop-io_uring loops (each its own listener on one port,
//!    `SO_REUSEPORT`, pinned one per CPU) next to a pool of one, driven by echo's client
//!    (unpinned: on a 2-CPU machine it shares the cores with the loops). Figures: round
//!    trips per second, connections and busy time per loop, the loops' CPU per round trip.
//! 9. **Memory per connection** (`memory.rs`, issue 15): each echo server alone in a
//!    child process (the bench re-executing itself with a hidden `--rss-server`); its
//!    `VmRSS` before and with 10,000 idle connections (each made one 64-byte round
//!    trip), and the difference per connection. Target: the protocol server's ≤ 0.25 ×
//!    tokio's stream server's.
//!
//! `--quick` (a smoke run of about 40 s on a 2-CPU machine, some 50 s with wrk) runs
//! smaller core workloads (2 runs each); the timers once each without a warm-up (dense
//! 20k within 50 ms, sparse as in the full run, scaling 10k and 100k within 250 ms);
//! echo at 1, 100 and 1000 connections only, every case for one 0.3 s window per server
//! after a 0.1 s warm-up, and HTTP at 1 and 100 connections with the same windows (wrk:
//! 1 s each), with small retry budgets; then a 64 MiB file with one round of 0.2 s read
//! windows, 200 process spawns per runtime, 2,000 round trips per runtime and kind, one
//! 0.3 s pool echo window per pool, and 1,000 connections per server for memory. The
//! full run takes some 8 minutes there: the core workloads about 15 s; the timers about
//! 2 minutes (5 runs each, the 1M-timer runs a few seconds each); echo 55 server × case pairs ×
//! (0.3 s warm-up + 3 windows of 1 s) ≈ 3 minutes, plus up to 40 s of retries; HTTP 9
//! pairs × 3.3 s ≈ 30 s (with wrk 9 × 4 s ≈ 36 s), plus up to 15 s of retries; files
//! about 20 s (3 rounds, each with 4 synced write passes per runtime); processes about 2 s; services about 8 s (3 rounds of 10,000
//! round trips); pool echo about 7 s (3 windows of 1 s per pool); memory about 10 s.
//!
//! An `indicatif` progress bar runs on stderr (plain lines when stderr is not a
//! terminal). The report (markdown) goes to stdout and to `<out>/bench.md`, the charts
//! (drawn with `plotters`) to `<out>/bench.svg`, `<out>/echo-scaling.svg` and
//! `<out>/timer-scaling.svg`, which the report links (default `target/bench`). A
//! runtime that cannot be built here is reported as unavailable and its cells read
//! "n/a".

mod chart;
mod core;
mod cpu;
mod echo;
mod files;
mod http;
mod latency;
mod measure;
mod memory;
mod pool_echo;
mod processes;
mod report;
mod runtime;
mod services;
mod timers;
mod workloads;

use std::io::{self, IsTerminal};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use clap::Parser as _;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::chart::{chart, echo_scaling_chart, timer_scaling_chart};
use crate::core::{CORE_WORKLOADS, run_core};
use crate::cpu::{other_load, pin_current_thread, schedstat_works, unpin_current_thread};
use crate::echo::{ECHO_SERVERS, echo_cases, run_echo};
use crate::files::{file_steps, run_files};
use crate::http::{Load, http_steps, run_http};
use crate::latency::{latency_steps, run_latency};
use crate::memory::{memory_steps, raise_nofile, run_memory};
use crate::pool_echo::{pool_echo_steps, run_pool_echo};
use crate::processes::{process_steps, run_processes};
use crate::report::{Environment, OtherLoad, Results, report};
use crate::runtime::{CORE_RUNTIMES, probe};
use crate::services::{run_services, service_steps};
use crate::timers::{run_timers, timer_steps};

// ---------------------------------------------------------------------------------------
// Options and sizes
// ---------------------------------------------------------------------------------------

/// ringloop's benchmark: io_uring vs epoll vs tokio (and monoio in the core workloads).
#[derive(clap::Parser)]
#[command(name = "bench")]
struct Options {
    /// A smoke run (under a minute) with smaller workloads (HTTP at 1 and 100
    /// connections, echo without the 10 and 10,000 connection points).
    #[arg(long)]
    quick: bool,
    /// Where bench.md and the charts (bench.svg, echo-scaling.svg, timer-scaling.svg) go.
    #[arg(long, value_name = "DIR", default_value = "target/bench")]
    out: PathBuf,
    /// The memory part's child: serve with this echo server and answer `rss` on stdin.
    #[arg(long, value_name = "SERVER", hide = true)]
    rss_server: Option<String>,
    /// Echo's client for a case the bench cannot hold both ends of in one process.
    #[arg(long, num_args = 3, value_names = ["ADDR", "CONNS", "SIZE"], hide = true)]
    echo_client: Option<Vec<String>>,
    /// `cargo bench` passes `--bench` to every target; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

/// How big each workload is and how long each echo and HTTP measurement lasts.
struct Plan {
    spawn_tasks: u64,
    yield_tasks: u64,
    yields_per_task: u64,
    channel_pairs: u64,
    messages_per_pair: u64,
    timeouts: u64,
    /// The dense timer workload: this many sleeps of 0..=`sleep_max_ms` whole ms.
    sleep_tasks: usize,
    sleep_max_ms: u64,
    /// The sparse timer workload: this many sleeps spread evenly over `sparse_span`.
    sparse_timers: usize,
    sparse_span: Duration,
    /// The timer scaling points: this many random µs sleeps within `timer_span` each.
    timer_counts: &'static [usize],
    timer_span: Duration,
    /// Measured runs per timer workload and runtime, after a warm-up run if
    /// `timer_warmup`.
    timer_runs: usize,
    timer_warmup: bool,
    /// Measured runs per core workload and runtime (after one warm-up run).
    core_runs: usize,
    /// Timed round trips of the latency part, per server.
    latency_round_trips: usize,
    /// Connections of the echo cases at 1 KiB besides 1, 100 and 1000 (the scaling
    /// chart's further points).
    echo_scaling: &'static [usize],
    /// Interleaved measurement rounds per echo case and runtime.
    echo_rounds: usize,
    echo_warmup: Duration,
    echo_window: Duration,
    /// Total time that may go to measuring disturbed echo windows again.
    echo_retry_budget: Duration,
    /// Connections per HTTP case. The HTTP windows are the echo ones (rounds, warm-up,
    /// window), rounded up to whole seconds for wrk.
    http_conns: &'static [usize],
    /// Total time that may go to measuring disturbed HTTP windows again.
    http_retry_budget: Duration,
    /// The files part's file, in bytes (a whole number of MiB).
    file_size: u64,
    /// Interleaved rounds of the files part (each: every read window and a whole-file
    /// write per runtime).
    file_rounds: usize,
    file_window: Duration,
    /// Per read depth and runtime, once, before the rounds.
    file_warmup: Duration,
    /// Processes spawned and waited for per runtime, in `process_rounds` rounds.
    process_spawns: u64,
    process_rounds: usize,
    /// Round trips per round, per runtime (a tenth of that to warm up).
    remote_round_trips: u64,
    blocking_round_trips: u64,
    service_rounds: usize,
    /// Idle connections per server in the memory part.
    memory_conns: usize,
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
            sparse_timers: 20_000,
            sparse_span: Duration::from_secs(1),
            timer_counts: &[10_000, 100_000, 1_000_000],
            timer_span: Duration::from_secs(1),
            timer_runs: 5,
            timer_warmup: true,
            core_runs: 5,
            latency_round_trips: 20_000,
            echo_scaling: &[10, 10_000],
            echo_rounds: 3,
            echo_warmup: Duration::from_millis(300),
            echo_window: Duration::from_millis(1000),
            echo_retry_budget: Duration::from_secs(40),
            http_conns: &[1, 100, 1000],
            http_retry_budget: Duration::from_secs(15),
            file_size: 256 << 20,
            file_rounds: 3,
            file_window: Duration::from_millis(500),
            file_warmup: Duration::from_millis(100),
            process_spawns: 1_000,
            process_rounds: 5,
            remote_round_trips: 10_000,
            blocking_round_trips: 10_000,
            service_rounds: 3,
            memory_conns: 10_000,
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
            sparse_timers: 20_000,
            sparse_span: Duration::from_secs(1),
            timer_counts: &[10_000, 100_000],
            timer_span: Duration::from_millis(250),
            timer_runs: 1,
            timer_warmup: false,
            core_runs: 2,
            latency_round_trips: 3_000,
            echo_scaling: &[],
            echo_rounds: 1,
            echo_warmup: Duration::from_millis(100),
            echo_window: Duration::from_millis(300),
            echo_retry_budget: Duration::from_secs(5),
            http_conns: &[1, 100],
            http_retry_budget: Duration::from_secs(2),
            file_size: 64 << 20,
            file_rounds: 1,
            file_window: Duration::from_millis(200),
            file_warmup: Duration::from_millis(50),
            process_spawns: 200,
            process_rounds: 2,
            remote_round_trips: 2_000,
            blocking_round_trips: 2_000,
            service_rounds: 1,
            memory_conns: 1_000,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Progress bar
// ---------------------------------------------------------------------------------------

/// The run's progress on stderr: an `indicatif` bar on a terminal, plain lines
/// otherwise.
struct Progress {
    bar: ProgressBar,
    tty: bool,
    /// The current step's label.
    label: Mutex<String>,
    start: Instant,
}

impl Progress {
    fn start(total: usize) -> Progress {
        let tty = io::stderr().is_terminal();
        let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("[{bar:30}] {pos:>3}/{len} {elapsed:>4} {wide_msg}")
                .expect("a valid progress template")
                .progress_chars("#>."),
        );
        if tty {
            bar.enable_steady_tick(Duration::from_millis(100));
        }
        Progress {
            bar,
            tty,
            label: Mutex::new(String::new()),
            start: Instant::now(),
        }
    }

    /// Starts the next step, named `label` (the bar counts the steps done).
    fn step(&self, label: String) {
        let mut current = self.label.lock().expect("progress label");
        if !current.is_empty() {
            self.bar.inc(1);
        }
        if !self.tty {
            eprintln!(
                "[{:>3}/{}] {:>5.1}s {label}",
                self.bar.position() + 1,
                self.bar.length().unwrap_or(0),
                self.start.elapsed().as_secs_f64(),
            );
        }
        self.bar.set_message(label.clone());
        *current = label;
    }

    /// Adds `note` to the current step's label.
    fn note(&self, note: &str) {
        let mut current = self.label.lock().expect("progress label");
        *current = format!("{current} ({note})");
        self.bar.set_message(current.clone());
        if !self.tty {
            eprintln!("        {note}");
        }
    }

    fn finish(self) {
        self.bar.finish_and_clear();
        eprintln!("bench: done in {:.0} s", self.start.elapsed().as_secs_f64());
    }
}

// ---------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------

/// Writes each `(file name, text)` into `out`.
fn write_outputs(out: &Path, files: &[(&str, &str)]) -> io::Result<()> {
    std::fs::create_dir_all(out)?;
    for (name, text) in files {
        std::fs::write(out.join(name), text)?;
    }
    Ok(())
}

fn main() {
    let options = Options::parse();
    if let Some(label) = &options.rss_server {
        memory::serve_child(label);
    }
    if let Some(args) = &options.echo_client {
        echo::client_child(args);
    }
    let plan = if options.quick {
        Plan::quick()
    } else {
        Plan::full()
    };
    if cfg!(debug_assertions) {
        eprintln!("bench: this is a debug build; run with --release for real figures");
    }

    let nofile = raise_nofile()
        .map(|n| format!("RLIMIT_NOFILE {n} (soft limit raised to the hard one)"))
        .unwrap_or_else(|e| format!("RLIMIT_NOFILE not raised: {e}"));
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".to_string());
    let cpus = thread::available_parallelism().map_or(1, |n| n.get());
    let descriptions = CORE_RUNTIMES.map(probe);
    let available = descriptions.each_ref().map(Result::is_ok);
    for runtime in CORE_RUNTIMES {
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
        nofile,
    };

    let load = Load::find();
    let steps = CORE_WORKLOADS.len() * CORE_RUNTIMES.len()
        + timer_steps(&plan)
        + echo_cases(&plan).len() * ECHO_SERVERS.len() * (1 + plan.echo_rounds)
        + http_steps(&plan)
        + latency_steps()
        + file_steps(&plan)
        + process_steps(&plan)
        + service_steps(&plan)
        + pool_echo_steps(&plan)
        + memory_steps();
    let progress = Progress::start(steps);
    let core = run_core(&plan, &available, &progress);
    let timers = run_timers(&plan, &available, &progress);
    let echo = run_echo(&plan, &available, server_cpu, &progress);
    let http = run_http(&plan, &available, server_cpu, &load, &progress);
    let latency = run_latency(&plan, available[0], server_cpu, &progress);
    // The rest runs unpinned (the blocking pools' threads inherit this thread's CPUs);
    // the services' threads A and B and the pool echo's loops pin themselves.
    if let Err(e) = unpin_current_thread() {
        eprintln!("\nbench: cannot unpin the main thread: {e}");
    }
    let (files, files_other) = other_load(|| run_files(&plan, &available, &options.out, &progress));
    let (processes, processes_other) = other_load(|| run_processes(&plan, &available, &progress));
    let (services, services_other) =
        other_load(|| run_services(&plan, &available, server_cpu, &progress));
    let (pool_echo, pool_echo_other) =
        other_load(|| run_pool_echo(&plan, available[0], server_cpu.is_some(), &progress));
    let memory = run_memory(&plan, &available, &progress);
    progress.finish();

    let results = Results {
        core,
        timers,
        echo,
        http,
        latency,
        files,
        processes,
        services,
        pool_echo,
        memory,
        other_load: OtherLoad {
            files: files_other,
            processes: processes_other,
            services: services_other,
            pool_echo: pool_echo_other,
        },
    };
    let md = report(&env, &plan, &results);
    println!("{md}");
    let charts = [
        ("bench.svg", chart(&env, &results)),
        ("echo-scaling.svg", echo_scaling_chart(&results)),
        ("timer-scaling.svg", timer_scaling_chart(&plan, &results)),
    ];
    let mut files = vec![("bench.md", md.as_str())];
    for (name, svg) in &charts {
        match svg {
            Ok(svg) => files.push((name, svg.as_str())),
            Err(e) => eprintln!("bench: cannot draw {name}: {e}"),
        }
    }
    match write_outputs(&options.out, &files) {
        Ok(()) => eprintln!(
            "bench: wrote {} in {}",
            files
                .iter()
                .map(|(name, _)| *name)
                .collect::<Vec<_>>()
                .join(", "),
            options.out.display()
        ),
        Err(e) => {
            eprintln!("bench: cannot write to {}: {e}", options.out.display());
            std::process::exit(1);
        }
    }
}
