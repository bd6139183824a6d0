//! The report, in markdown: the environment, the core, echo and HTTP tables, and the
//! targets; the files, processes, services and pool echo tables are `system.rs`'s.

mod system;

use std::fmt::Write as _;
use std::time::Duration;

use crate::Plan;
use crate::core::{CORE_WORKLOADS, CoreResults, CoreWorkload};
use crate::echo::{ECHO_SERVERS, EchoResults, EchoRow, EchoServer, conns_label};
use crate::files::FileResults;
use crate::http::{HttpResults, HttpRow};
use crate::measure::{Figures, MAX_RETRIES};
use crate::memory::MemoryResults;
use crate::pool_echo::PoolResults;
use crate::processes::ProcessResults;
use crate::runtime::{CORE_RUNTIMES, RUNTIMES, Runtime};
use crate::services::ServiceResults;
use crate::timers::{TimerResults, TimerWorkload};

pub(crate) struct Environment {
    pub(crate) kernel: String,
    pub(crate) cpus: usize,
    pub(crate) descriptions: [Result<String, String>; 4],
    pub(crate) pinning: String,
    pub(crate) cpu_source: &'static str,
    pub(crate) quick: bool,
    /// The descriptor limit, as raised at the start.
    pub(crate) nofile: String,
}

/// Above this share of a window spent on other work on a benchmark core, the report
/// warns that the machine was not quiet.
pub(crate) const OTHER_LOAD_WARNING: f64 = 0.05;

pub(crate) fn count(n: u64) -> String {
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

/// What every part measured.
pub(crate) struct Results {
    pub(crate) core: CoreResults,
    pub(crate) timers: TimerResults,
    pub(crate) echo: EchoResults,
    pub(crate) http: HttpResults,
    pub(crate) latency: crate::latency::LatencyResults,
    pub(crate) files: FileResults,
    pub(crate) processes: ProcessResults,
    pub(crate) services: ServiceResults,
    pub(crate) pool_echo: PoolResults,
    pub(crate) memory: MemoryResults,
    /// The share of the machine's CPU time that went to other work during each of the
    /// last four parts.
    pub(crate) other_load: OtherLoad,
}

/// The share of the machine's CPU time that went to anything but the bench during a
/// part (`cpu::other_load`), for the parts measured without echo's per-window retries.
pub(crate) struct OtherLoad {
    pub(crate) files: Option<f64>,
    pub(crate) processes: Option<f64>,
    pub(crate) services: Option<f64>,
    pub(crate) pool_echo: Option<f64>,
}

pub(crate) fn report(env: &Environment, plan: &Plan, results: &Results) -> String {
    let (core, echo, http) = (&results.core, &results.echo, &results.http);
    let mut md = String::new();
    let w = &mut md;
    let _ = writeln!(
        w,
        "## ringloop benchmark{}",
        if env.quick { " (quick run)" } else { "" }
    );
    let _ = writeln!(w);
    let _ = writeln!(
        w,
        "- kernel {}, {} CPUs, {}",
        env.kernel, env.cpus, env.nofile
    );
    for runtime in CORE_RUNTIMES {
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
         connection (`write_all` then `read_exact`), `TCP_NODELAY`; {}; the servers of a \
         case run side by side, measured in interleaved rounds, except where both ends of \
         every server's connections do not fit this process's descriptor limit (10,000 \
         connections): there each server runs alone in turn, the client in a child \
         process",
        env.pinning
    );
    let _ = writeln!(
        w,
        "- echo servers: {}, {} and {} run the stream server (an accept loop spawning one \
         echo task per connection, `read` then `write_all`); {} and {} run ringloop's \
         protocol/transport server (`net::serve` with an echo `Protocol`: `data_received` \
         writes the data back through the `Transport`) on io_uring and on epoll, with \
         `Builder::fixed_files({})` (on io_uring its connections name their slot of the \
         ring's registered-file table: {}; epoll ignores it)",
        EchoServer::IoUring.label(),
        EchoServer::Epoll.label(),
        EchoServer::Tokio.label(),
        EchoServer::Protocol.label(),
        EchoServer::ProtocolEpoll.label(),
        crate::echo::PROTOCOL_FIXED_FILES,
        if crate::echo::protocol_table_granted() {
            "granted here"
        } else {
            "**not granted here** (kernel before 6.13, or too low a descriptor limit), so \
             its sockets go by descriptor"
        },
    );
    let _ = writeln!(
        w,
        "- CPU time per thread from {}; echo figures are medians over {} interleaved \
         window(s) of {:.1} s per server (a window where other work took over {:.0} % of \
         a benchmark core is measured again, up to {MAX_RETRIES} times, within {} s in all), \
         core figures medians of {} runs interleaved across the runtimes after a warm-up run on each",
        env.cpu_source,
        plan.echo_rounds,
        plan.echo_window.as_secs_f64(),
        OTHER_LOAD_WARNING * 100.0,
        plan.echo_retry_budget.as_secs(),
        plan.core_runs
    );
    let _ = writeln!(
        w,
        "- HTTP: hyper's hello-world server (`hyper::server::conn::http1`, keep-alive, a \
         `service_fn` answering 200 \"Hello, world!\", no timer), the same code on each \
         runtime (ringloop's `TcpStream` through tokio's I/O traits and `TokioIo`), \
         threads placed as for echo; load generator: {}; medians over {} interleaved \
         window(s) of {:.1} s per server, with echo's retries within {} s in all",
        http.generator,
        plan.echo_rounds,
        http.window.as_secs_f64(),
        plan.http_retry_budget.as_secs(),
    );
    let other = echo
        .iter()
        .flat_map(|(_, row)| row)
        .chain(http.rows.iter().flat_map(|(_, row)| row))
        .filter_map(|f| f.as_ref().ok()?.other_load)
        .fold(0.0f64, f64::max);
    if other > OTHER_LOAD_WARNING {
        let _ = writeln!(
            w,
            "- **warning**: other work took up to {:.0} % of a benchmark core during an echo \
             or HTTP window: this machine was not quiet, and the throughput figures are \
             disturbed",
            other * 100.0
        );
    }
    let _ = writeln!(w);

    core_table(w, plan, core);
    timer_table(w, plan, &results.timers);

    echo_table(
        w,
        "Echo throughput (round trips/s, higher is better)",
        echo,
        |f| f.rate,
        rate_label,
    );
    echo_table(
        w,
        "Echo server CPU per round trip (µs, lower is better)",
        echo,
        |f| f.server_us,
        |v| format!("{v:.2}"),
    );
    let _ = writeln!(
        w,
        "Echo by connections (1 KiB): [echo-scaling.svg](echo-scaling.svg)\n\n\
         ![echo server CPU per round trip and throughput by connections](echo-scaling.svg)\n"
    );
    loop_table(w, echo);
    http_table(w, http);
    http_loop_table(w, http);
    targets(w, echo, http);
    let _ = writeln!(w);
    latency_table(w, plan, &results.latency);
    let other = &results.other_load;
    system::files_table(w, plan, &results.files, other.files);
    system::processes_table(w, plan, &results.processes, other.processes);
    system::services_table(w, plan, &results.services, other.services);
    system::pool_echo_table(w, plan, &results.pool_echo, other.pool_echo);
    memory_table(w, plan, &results.memory);
    md
}

/// Latency at low load: one connection's round trips, with and without busy polling.
fn latency_table(w: &mut String, plan: &Plan, latency: &crate::latency::LatencyResults) {
    use crate::latency::LatencyServer;
    let _ = writeln!(
        w,
        "### Latency at low load: 1 connection × 1 KiB ping-pong (µs, lower is better)"
    );
    let _ = writeln!(w);
    let _ = writeln!(
        w,
        "The server on its own thread (on the server CPU when pinned), a blocking `std` \
         client on this thread; {} timed round trips after a warm-up. `busy_poll`: the \
         loop polls its ring for that long before blocking (`Builder::busy_poll`).",
        count(plan.latency_round_trips as u64),
    );
    let _ = writeln!(w);
    let _ = writeln!(
        w,
        "| server | p50 | p99 | server CPU per round trip | p50 / tokio | CPU / tokio |"
    );
    let _ = writeln!(w, "|---|---:|---:|---:|---:|---:|");
    let tokio = latency
        .iter()
        .find(|(s, _)| *s == LatencyServer::Tokio)
        .and_then(|(_, r)| r.as_ref().ok().copied());
    let us = |d: std::time::Duration| d.as_secs_f64() * 1e6;
    for (server, result) in latency {
        match result {
            Ok(l) => {
                let _ = writeln!(
                    w,
                    "| {} | {:.1} | {:.1} | {:.2} | {} | {} |",
                    server.label(),
                    us(l.p50),
                    us(l.p99),
                    us(l.server_cpu),
                    ratio(Some(us(l.p50)), tokio.map(|t| us(t.p50))),
                    ratio(Some(us(l.server_cpu)), tokio.map(|t| us(t.server_cpu))),
                );
            }
            Err(e) => {
                let _ = writeln!(w, "| {} | {e} | | | | |", server.label());
            }
        }
    }
    let _ = writeln!(w);
}

/// The core workloads: a column per runtime (monoio's too), then the ratios to tokio's
/// and to monoio's, and the spawn target.
fn core_table(w: &mut String, plan: &Plan, core: &CoreResults) {
    let _ = writeln!(w, "### Core workloads (time, lower is better)");
    let _ = writeln!(w);
    let _ = writeln!(
        w,
        "| workload | {} | io_uring / tokio | epoll / tokio | io_uring / monoio | epoll / monoio |",
        CORE_RUNTIMES.map(Runtime::label).join(" | ")
    );
    let _ = writeln!(w, "|---|{}", "---:|".repeat(CORE_RUNTIMES.len() + 4));
    for (workload, row) in CORE_WORKLOADS.iter().zip(core) {
        let secs = row.map(|d| d.map(|d| d.as_secs_f64()));
        let [u, e, t, m] = [
            Runtime::IoUring,
            Runtime::Epoll,
            Runtime::Tokio,
            Runtime::Monoio,
        ]
        .map(|rt| secs[rt.index()]);
        let _ = writeln!(
            w,
            "| {} | {} | {} | {} | {} | {} |",
            workload.name(plan),
            row.map(|d| cell(d.map(duration_label))).join(" | "),
            ratio(u, t),
            ratio(e, t),
            ratio(u, m),
            ratio(e, m),
        );
    }
    let _ = writeln!(w);
    if let Some(row) = CORE_WORKLOADS
        .iter()
        .position(|w| matches!(w, CoreWorkload::Spawn))
        .map(|i| &core[i])
    {
        let secs = |rt: Runtime| row[rt.index()].map(|d| d.as_secs_f64());
        let (u, m) = (secs(Runtime::IoUring), secs(Runtime::Monoio));
        let met = u.zip(m).map(|(u, m)| u <= 0.8 * m);
        let _ = writeln!(
            w,
            "- Target: spawn + join on ringloop-io_uring ≤ 0.8 × monoio's ({}): {}",
            ratio(u, m),
            verdict(met)
        );
        let _ = writeln!(w);
    }
}

/// The timer workloads: CPU time and CPU per timer per runtime, the ratios, and the
/// issue's timer targets.
fn timer_table(w: &mut String, plan: &Plan, timers: &TimerResults) {
    let _ = writeln!(
        w,
        "### Timers (the thread's CPU time for the whole run, and per timer; lower is better)"
    );
    let _ = writeln!(w);
    let _ = writeln!(
        w,
        "A task per timer sleeps once; all are awaited. Medians of {} run(s) interleaved \
         across the runtimes (their order rotated each run){}. Each \
         runtime with its default settings (ringloop: the default builder, so its \
         default `timer_slack`; a timer never fires early).",
        plan.timer_runs,
        if plan.timer_warmup {
            ", after a warm-up run on each"
        } else {
            ""
        }
    );
    let _ = writeln!(w);
    let _ = writeln!(
        w,
        "| workload | {} | {} | io_uring / tokio | epoll / tokio | io_uring / monoio |",
        CORE_RUNTIMES.map(Runtime::label).join(" | "),
        CORE_RUNTIMES
            .map(|rt| format!("{} ns/timer", rt.short()))
            .join(" | "),
    );
    let _ = writeln!(w, "|---|{}", "---:|".repeat(2 * CORE_RUNTIMES.len() + 3));
    for (workload, row) in timers {
        let n = workload.timers(plan) as f64;
        let secs = row.map(|d| d.map(|d| d.as_secs_f64()));
        let at = |rt: Runtime| secs[rt.index()];
        let _ = writeln!(
            w,
            "| {} | {} | {} | {} | {} | {} |",
            workload.name(plan),
            row.map(|d| cell(d.map(duration_label))).join(" | "),
            secs.map(|s| cell(s.map(|s| format!("{:.0}", s * 1e9 / n))))
                .join(" | "),
            ratio(at(Runtime::IoUring), at(Runtime::Tokio)),
            ratio(at(Runtime::Epoll), at(Runtime::Tokio)),
            ratio(at(Runtime::IoUring), at(Runtime::Monoio)),
        );
    }
    let _ = writeln!(w);
    for (workload, row) in timers {
        let (what, bound) = match workload {
            TimerWorkload::Dense => ("dense", 0.45),
            TimerWorkload::Sparse => ("sparse", 1.0),
            TimerWorkload::Scaling(_) => continue,
        };
        let secs = |rt: Runtime| row[rt.index()].map(|d| d.as_secs_f64());
        for runtime in [Runtime::IoUring, Runtime::Epoll] {
            let (r, t) = (secs(runtime), secs(Runtime::Tokio));
            let _ = writeln!(
                w,
                "- Target: {what} timers' CPU on {} ≤ {bound:.2} × tokio's ({}): {}",
                runtime.label(),
                ratio(r, t),
                verdict(r.zip(t).map(|(r, t)| r <= bound * t)),
            );
        }
    }
    let _ = writeln!(w);
    let _ = writeln!(
        w,
        "CPU per timer by number of timers: [timer-scaling.svg](timer-scaling.svg)\n\n\
         ![CPU per timer by number of timers](timer-scaling.svg)\n"
    );
}

/// The ratio columns of the echo throughput and CPU tables: numerator / denominator.
const ECHO_RATIOS: [(EchoServer, EchoServer); 4] = [
    (EchoServer::IoUring, EchoServer::Epoll),
    (EchoServer::Epoll, EchoServer::Tokio),
    (EchoServer::Protocol, EchoServer::Tokio),
    (EchoServer::Protocol, EchoServer::IoUring),
];

fn fig(row: &EchoRow, server: EchoServer) -> Option<Figures> {
    row[server.index()].as_ref().ok().copied()
}

/// An echo table of `value`: a column per server, then the [`ECHO_RATIOS`].
fn echo_table(
    w: &mut String,
    title: &str,
    echo: &EchoResults,
    value: fn(&Figures) -> f64,
    label: fn(f64) -> String,
) {
    let columns: Vec<String> = ECHO_SERVERS
        .iter()
        .map(|server| server.label().to_string())
        .chain(
            ECHO_RATIOS
                .iter()
                .map(|(a, b)| format!("{} / {}", a.short(), b.short())),
        )
        .collect();
    let _ = writeln!(w, "### {title}");
    let _ = writeln!(w);
    let _ = writeln!(w, "| case | {} |", columns.join(" | "));
    let _ = writeln!(w, "|---|{}", "---:|".repeat(columns.len()));
    for (case, row) in echo {
        let values = ECHO_SERVERS.map(|server| fig(row, server).map(|f| value(&f)));
        let cells: Vec<String> = values
            .iter()
            .map(|v| cell(v.map(label)))
            .chain(
                ECHO_RATIOS
                    .iter()
                    .map(|(a, b)| ratio(values[a.index()], values[b.index()])),
            )
            .collect();
        let _ = writeln!(w, "| {} | {} |", case.name(), cells.join(" | "));
    }
    let _ = writeln!(w);
}

/// The server loops' counters per round trip, and how busy each thread was.
fn loop_table(w: &mut String, echo: &EchoResults) {
    let _ = writeln!(
        w,
        "### Echo server loop per round trip, and how busy each thread was"
    );
    let _ = writeln!(w);
    let _ = writeln!(
        w,
        "From the server loop's `stats()`: `io_uring_enter` calls, `epoll_wait` calls, and \
         the epoll loop's syscalls (its waits plus one per operation attempt, `EAGAIN`s \
         included). None counts the recv/send calls a server makes directly, without the \
         driver: the try-first I/O of the stream servers on both backends, and the \
         protocol server's reads and sends on epoll. Busy is a thread's CPU time over wall \
         time: a thread near 100 % is saturated, and a saturated client bounds the \
         throughput. Other is the CPU time on the server's or the client's core that went \
         to anything else (other processes, steal), the larger of the two: above a few % \
         the throughput is disturbed; CPU per round trip much less."
    );
    let _ = writeln!(w);
    type Counter = fn(&Figures) -> Option<f64>;
    let waits: Counter = |f| f.waits_per_rt;
    let syscalls: Counter = |f| f.syscalls_per_rt;
    let counters = [
        (EchoServer::IoUring, "enters", waits),
        (EchoServer::Epoll, "waits", waits),
        (EchoServer::Epoll, "syscalls", syscalls),
        (EchoServer::Protocol, "enters", waits),
        (EchoServer::ProtocolEpoll, "waits", waits),
        (EchoServer::ProtocolEpoll, "syscalls", syscalls),
    ];
    let servers = ECHO_SERVERS.map(EchoServer::short).join(" / ");
    let _ = writeln!(
        w,
        "| case | {} | server busy ({servers}) | client busy | other |",
        counters
            .map(|(server, name, _)| format!("{} {name}/rt", server.short()))
            .join(" | "),
    );
    let _ = writeln!(w, "|---|{}", "---:|".repeat(counters.len() + 3));
    for (case, row) in echo {
        let per = counters.map(|(server, _, f)| {
            cell(
                fig(row, server)
                    .and_then(|x| f(&x))
                    .map(|v| format!("{v:.3}")),
            )
        });
        let busy = |f: Counter| {
            ECHO_SERVERS
                .map(|server| {
                    cell(
                        fig(row, server)
                            .and_then(|x| f(&x))
                            .map(|v| format!("{:.0}", v * 100.0)),
                    )
                })
                .join(" / ")
                + " %"
        };
        let _ = writeln!(
            w,
            "| {} | {} | {} | {} | {} |",
            case.name(),
            per.join(" | "),
            busy(|f| Some(f.server_busy)),
            busy(|f| Some(f.client_busy)),
            busy(|f| f.other_load),
        );
    }
    let _ = writeln!(w);
}

fn verdict(ok: Option<bool>) -> &'static str {
    match ok {
        Some(true) => "met",
        Some(false) => "**missed**",
        None => "n/a",
    }
}

/// The targets: echo at 100 and 1000 connections × 1 KiB, HTTP at 100
/// connections.
fn targets(w: &mut String, echo: &EchoResults, http: &HttpResults) {
    let _ = writeln!(
        w,
        "### Targets (echo: 100 and 1000 connections × 1 KiB; HTTP: 100 connections)"
    );
    let _ = writeln!(w);
    for (case, row) in echo {
        if case.size != 1024 || !matches!(case.conns, 100 | 1000) {
            continue;
        }
        let (u, e, t) = (
            fig(row, EchoServer::IoUring),
            fig(row, EchoServer::Epoll),
            fig(row, EchoServer::Tokio),
        );
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
        if case.conns == 100 {
            protocol_targets(w, &case.name(), row);
        }
    }
    http_targets(w, http);
}

/// The protocol server against tokio's and ringloop-io_uring's stream servers: CPU per
/// round trip at most `bound` × theirs, throughput no lower.
fn protocol_targets(w: &mut String, case: &str, row: &EchoRow) {
    let p = fig(row, EchoServer::Protocol);
    let others = [(EchoServer::Tokio, 0.85), (EchoServer::IoUring, 0.95)]
        .map(|(other, bound)| (other.label(), bound, fig(row, other)));
    let cpu = others.map(|(other, bound, o)| {
        let met = p.zip(o).map(|(p, o)| p.server_us <= bound * o.server_us);
        format!(
            "protocol CPU/rt ≤ {bound:.2} × {other}'s ({}): {}",
            ratio(p.map(|f| f.server_us), o.map(|f| f.server_us)),
            verdict(met),
        )
    });
    let throughput = others.map(|(other, _, o)| {
        let met = p.zip(o).map(|(p, o)| p.rate >= o.rate);
        format!(
            "protocol throughput ≥ {other}'s ({}): {}",
            ratio(p.map(|f| f.rate), o.map(|f| f.rate)),
            verdict(met),
        )
    });
    let _ = writeln!(
        w,
        "- {case}, {}: {}; {}",
        EchoServer::Protocol.label(),
        cpu.join("; "),
        throughput.join("; ")
    );
}

fn http_fig(row: &HttpRow, runtime: Runtime) -> Option<Figures> {
    row[runtime.index()].as_ref().ok().copied()
}

/// The ratio columns of the HTTP table: numerator / denominator.
const HTTP_RATIOS: [(Runtime, Runtime); 2] = [
    (Runtime::IoUring, Runtime::Tokio),
    (Runtime::Epoll, Runtime::Tokio),
];

/// Requests per second and server CPU per request side by side, then their ratios.
fn http_table(w: &mut String, http: &HttpResults) {
    let _ = writeln!(
        w,
        "### HTTP/1.1 hello world (hyper): requests/s (higher is better) and server CPU \
         per request (µs, lower is better)"
    );
    let _ = writeln!(w);
    let columns: Vec<String> = RUNTIMES
        .iter()
        .map(|rt| format!("{} req/s", rt.label()))
        .chain(RUNTIMES.iter().map(|rt| format!("{} µs/req", rt.label())))
        .chain(HTTP_RATIOS.iter().flat_map(|(a, b)| {
            [
                format!("{} / {} CPU/req", a.short(), b.short()),
                format!("{} / {} req/s", a.short(), b.short()),
            ]
        }))
        .collect();
    let _ = writeln!(w, "| connections | {} |", columns.join(" | "));
    let _ = writeln!(w, "|---|{}", "---:|".repeat(columns.len()));
    for (conns, row) in &http.rows {
        let figs = RUNTIMES.map(|rt| http_fig(row, rt));
        let rate = figs.map(|f| f.map(|f| f.rate));
        let cpu = figs.map(|f| f.map(|f| f.server_us));
        let cells: Vec<String> = rate
            .iter()
            .map(|v| cell(v.map(rate_label)))
            .chain(cpu.iter().map(|v| cell(v.map(|v| format!("{v:.2}")))))
            .chain(HTTP_RATIOS.iter().flat_map(|(a, b)| {
                [
                    ratio(cpu[a.index()], cpu[b.index()]),
                    ratio(rate[a.index()], rate[b.index()]),
                ]
            }))
            .collect();
        let _ = writeln!(w, "| {} | {} |", conns_label(*conns), cells.join(" | "));
    }
    let _ = writeln!(w);
}

/// The HTTP server loops' counters per request, and how busy each thread was.
fn http_loop_table(w: &mut String, http: &HttpResults) {
    let _ = writeln!(
        w,
        "### HTTP server loop per request, and how busy each thread was"
    );
    let _ = writeln!(w);
    let _ = writeln!(
        w,
        "As for echo. Client busy is the load generator's CPU time over wall time: hyper's \
         client thread, or wrk's process (from `/proc/self/stat`, 10 ms ticks). A client \
         near 100 % bounds the requests per second; the server's CPU per request still \
         tells which server does less work."
    );
    let _ = writeln!(w);
    type Counter = fn(&Figures) -> Option<f64>;
    let waits: Counter = |f| f.waits_per_rt;
    let syscalls: Counter = |f| f.syscalls_per_rt;
    let counters = [
        (Runtime::IoUring, "enters", waits),
        (Runtime::Epoll, "waits", waits),
        (Runtime::Epoll, "syscalls", syscalls),
    ];
    let runtimes = RUNTIMES.map(Runtime::short).join(" / ");
    let _ = writeln!(
        w,
        "| connections | {} | server busy ({runtimes}) | client busy | other |",
        counters
            .map(|(rt, name, _)| format!("{} {name}/req", rt.short()))
            .join(" | "),
    );
    let _ = writeln!(w, "|---|{}", "---:|".repeat(counters.len() + 3));
    for (conns, row) in &http.rows {
        let per = counters.map(|(rt, _, f)| {
            cell(
                http_fig(row, rt)
                    .and_then(|x| f(&x))
                    .map(|v| format!("{v:.3}")),
            )
        });
        let busy = |f: Counter| {
            RUNTIMES
                .map(|rt| {
                    cell(
                        http_fig(row, rt)
                            .and_then(|x| f(&x))
                            .map(|v| format!("{:.0}", v * 100.0)),
                    )
                })
                .join(" / ")
                + " %"
        };
        let _ = writeln!(
            w,
            "| {} | {} | {} | {} | {} |",
            conns_label(*conns),
            per.join(" | "),
            busy(|f| Some(f.server_busy)),
            busy(|f| Some(f.client_busy)),
            busy(|f| f.other_load),
        );
    }
    let _ = writeln!(w);
}

/// HTTP/1.1 at 100 connections: ringloop-io_uring's server CPU per request at most
/// 0.95 × tokio's, its requests per second no lower than tokio's.
fn http_targets(w: &mut String, http: &HttpResults) {
    for (conns, row) in &http.rows {
        if *conns != 100 {
            continue;
        }
        let (u, t) = (
            http_fig(row, Runtime::IoUring),
            http_fig(row, Runtime::Tokio),
        );
        let cpu = u.zip(t).map(|(u, t)| u.server_us <= 0.95 * t.server_us);
        let thr = u.zip(t).map(|(u, t)| u.rate >= t.rate);
        let _ = writeln!(
            w,
            "- HTTP/1.1 at 100 connections: {}'s server CPU per request ≤ 0.95 × {}'s ({}): \
             {}; requests per second ≥ {}'s ({}): {}",
            Runtime::IoUring.label(),
            Runtime::Tokio.label(),
            ratio(u.map(|f| f.server_us), t.map(|f| f.server_us)),
            verdict(cpu),
            Runtime::Tokio.label(),
            ratio(u.map(|f| f.rate), t.map(|f| f.rate)),
            verdict(thr),
        );
    }
}

/// Server RSS per idle connection, with the ratio to tokio's stream server and the
/// issue's target for the protocol server.
fn memory_table(w: &mut String, plan: &Plan, memory: &MemoryResults) {
    let _ = writeln!(
        w,
        "### Memory per idle connection ({} connections, lower is better)",
        count(plan.memory_conns as u64)
    );
    let _ = writeln!(w);
    let _ = writeln!(
        w,
        "Each server runs alone in a child process (the bench re-executed with \
         `--rss-server`). After a warm-up of a few connections, the child's `VmRSS` is read, \
         then {} connections each make one 64-byte round trip and stay open and idle, and \
         `VmRSS` is read again: per connection = the difference / {}. The stream servers \
         hold a task and its 16 KiB read buffer per connection (pages the kernel has not \
         been made to touch are not resident); the kernel's socket memory is not counted.",
        count(plan.memory_conns as u64),
        count(plan.memory_conns as u64),
    );
    let _ = writeln!(w);
    let _ = writeln!(
        w,
        "| server | RSS before | RSS with the connections | per connection | / tokio |"
    );
    let _ = writeln!(w, "|---|---:|---:|---:|---:|");
    let mib = |b: u64| format!("{:.1} MiB", b as f64 / (1 << 20) as f64);
    let per = |server: EchoServer| memory[server.index()].as_ref().ok().map(|m| m.per_conn());
    for server in ECHO_SERVERS {
        let m = memory[server.index()].as_ref();
        let _ = writeln!(
            w,
            "| {} | {} | {} | {} | {} |",
            server.label(),
            cell(m.ok().map(|m| mib(m.before))),
            cell(m.ok().map(|m| mib(m.after))),
            match m {
                Ok(m) => format!("{:.1} KiB", m.per_conn() / 1024.0),
                Err(e) => format!("n/a ({e})"),
            },
            ratio(per(server), per(EchoServer::Tokio)),
        );
    }
    let _ = writeln!(w);
    let (p, t) = (per(EchoServer::Protocol), per(EchoServer::Tokio));
    let _ = writeln!(
        w,
        "- Target: the protocol server's RSS per idle connection ≤ 0.25 × tokio's stream \
         server's ({}): {}",
        ratio(p, t),
        verdict(p.zip(t).map(|(p, t)| p <= 0.25 * t)),
    );
    let _ = writeln!(w);
}
