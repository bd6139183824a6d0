//! The report's tables for the parts on what the loop does besides one socket server:
//! files, processes, services (cross-thread round trips) and echo on a pool of loops,
//! each with its ratios and the issues' targets, reported as met or missed.

use std::fmt::Write as _;
use std::time::Duration;

use super::{OTHER_LOAD_WARNING, cell, count, duration_label, rate_label, ratio, verdict};
use crate::Plan;
use crate::echo::conns_label;
use crate::files::{FILE_WORKLOADS, FileResults, FileWorkload};
use crate::pool_echo::{POOL_CONNS, POOL_LOOPS, POOL_SIZE, PoolResults};
use crate::processes::{PROGRAM, ProcessResults, WARMUP_SPAWNS};
use crate::runtime::{RUNTIMES, Runtime};
use crate::services::{PerRoundTrip, ServiceResults};

const MIB: f64 = (1 << 20) as f64;

/// The header of a table with a column per runtime (tokio's named `tokio`), then the
/// ratios io_uring / tokio and epoll / tokio.
fn header(w: &mut String, first: &str, tokio: &str) {
    let _ = writeln!(
        w,
        "| {first} | {} | {} | {tokio} | io_uring / {tokio} | epoll / {tokio} |",
        Runtime::IoUring.label(),
        Runtime::Epoll.label(),
    );
    let _ = writeln!(w, "|---|---:|---:|---:|---:|---:|");
}

/// A row: `label(value)` per runtime, then the ratios of the values.
fn row(w: &mut String, name: &str, values: [Option<f64>; 3], label: impl Fn(f64) -> String) {
    let _ = writeln!(
        w,
        "| {name} | {} | {} | {} | {} | {} |",
        cell(values[0].map(&label)),
        cell(values[1].map(&label)),
        cell(values[2].map(&label)),
        ratio(values[0], values[2]),
        ratio(values[1], values[2]),
    );
}

/// How much of the machine other work took during the part, with a warning above
/// [`OTHER_LOAD_WARNING`].
fn other_line(w: &mut String, other: Option<f64>) {
    let Some(other) = other else {
        return;
    };
    if other > OTHER_LOAD_WARNING {
        let _ = writeln!(
            w,
            "- **warning**: other work (other processes, steal) took {:.0} % of the machine's CPU time during this \
             part: the figures are disturbed",
            other * 100.0
        );
    } else {
        let _ = writeln!(
            w,
            "- other work (other processes, steal) took {:.0} % of the machine's CPU time during this part",
            other * 100.0
        );
    }
}

/// `a ≤ bound × b` (or `a ≥ bound × b` when `at_least`), with the ratio.
fn target(a: Option<f64>, b: Option<f64>, bound: f64, at_least: bool) -> String {
    let met = a.zip(b).map(|(a, b)| {
        if at_least {
            a >= bound * b
        } else {
            a <= bound * b
        }
    });
    format!("{} ({})", verdict(met), ratio(a, b))
}

pub(super) fn files_table(w: &mut String, plan: &Plan, files: &FileResults, other: Option<f64>) {
    let _ = writeln!(
        w,
        "### Files: a {} MiB file, 4 KiB random reads from the page cache and 1 MiB \
         sequential writes (throughput, higher is better)",
        files.size >> 20
    );
    let _ = writeln!(w);
    let jobs = |rt: Runtime| {
        let two = |v: Option<f64>| cell(v.map(|v| format!("{v:.2}")));
        format!(
            "{} per read, {} per write",
            two(files.blocking_per_read[rt.index()]),
            two(files.blocking_per_write[rt.index()])
        )
    };
    let _ = writeln!(
        w,
        "{}: `fs::File::read_at` / `write_all_at`; {}: the same calls, which it runs on its \
         blocking pool; tokio::fs: `FileExt::read_at` / `write_all_at` inside \
         `tokio::task::spawn_blocking` (what every `tokio::fs::File` call does, here \
         without its seek and its copy into the file's own buffer), on a current_thread \
         runtime. QD32: 32 tasks, each reading in a loop; QD1: one. Medians over {} \
         interleaved round(s), the runtimes' order rotated each round: reads for {:.1} s \
         windows; writes of the whole file to the \
         page cache, {} passes per runtime per round (each a sample, the median over \
         them), each after a sync of the file (untimed: every pass starts from clean \
         pages, with no other pass's writeback under way); the file is removed at the \
         end. ringloop-io_uring \
         writes as `fs::File` routes them: tried on the loop without blocking \
         (`RWF_NOWAIT`), else on its blocking pool, not io_uring's io-wq threads (a file \
         system that refuses nonblocking buffered writes, as ext4 does). ringloop's \
         blocking-pool jobs: io_uring {}; epoll {}.",
        Runtime::IoUring.label(),
        Runtime::Epoll.label(),
        plan.file_rounds,
        plan.file_window.as_secs_f64(),
        crate::files::WRITE_PASSES,
        jobs(Runtime::IoUring),
        jobs(Runtime::Epoll),
    );
    let _ = writeln!(w);
    header(w, "workload", "tokio::fs");
    for (workload, rates) in FILE_WORKLOADS.iter().zip(&files.rates) {
        let bytes = workload.op_bytes() as f64;
        match workload {
            FileWorkload::Reads(_) => row(w, &workload.name(), *rates, |r| {
                format!("{}/s, {:.0} MiB/s", rate_label(r), r * bytes / MIB)
            }),
            FileWorkload::Writes => row(w, &workload.name(), *rates, |r| {
                format!("{:.0} MiB/s", r * bytes / MIB)
            }),
        }
    }
    for e in &files.errors {
        let _ = writeln!(w, "\n- **error**: {e}");
    }
    let _ = writeln!(w);
    let rate = |workload: FileWorkload, rt: Runtime| {
        let i = FILE_WORKLOADS.iter().position(|&x| x == workload)?;
        files.rates.get(i)?[rt.index()]
    };
    let (qd32, writes) = (FileWorkload::Reads(32), FileWorkload::Writes);
    let _ = writeln!(
        w,
        "- target, 4 KiB random reads at QD32: ringloop-io_uring ≥ 3 × tokio::fs's \
         throughput: {}",
        target(
            rate(qd32, Runtime::IoUring),
            rate(qd32, Runtime::Tokio),
            3.0,
            true
        ),
    );
    let _ = writeln!(
        w,
        "- target, sequential 1 MiB writes: ringloop-io_uring ≥ tokio::fs's: {}",
        target(
            rate(writes, Runtime::IoUring),
            rate(writes, Runtime::Tokio),
            1.0,
            true
        ),
    );
    other_line(w, other);
    let _ = writeln!(w);
}

pub(super) fn processes_table(
    w: &mut String,
    plan: &Plan,
    processes: &ProcessResults,
    other: Option<f64>,
) {
    let n = count(processes.spawns);
    let _ = writeln!(
        w,
        "### Processes: spawn + wait `{PROGRAM}`, {n} in a row (time, lower is better)"
    );
    let _ = writeln!(w);
    let _ = writeln!(
        w,
        "`ringloop::process::Command::spawn()` then `Child::wait().await` (a pidfd) on each \
         backend; `tokio::process::Command` on a current_thread runtime; stdio null. The \
         spawns run in {} interleaved rounds, the runtimes' order rotated each round (after \
         {} unmeasured ones per runtime), the \
         time is their total.",
        plan.process_rounds, WARMUP_SPAWNS,
    );
    let _ = writeln!(w);
    let secs = processes
        .totals
        .each_ref()
        .map(|t| t.as_ref().ok().map(Duration::as_secs_f64));
    let per = secs.map(|s| s.map(|s| s / processes.spawns.max(1) as f64));
    header(w, "figure", "tokio::process");
    let time = |s: f64| duration_label(Duration::from_secs_f64(s));
    row(w, "total", secs, time);
    row(w, "per spawn + wait", per, time);
    let _ = writeln!(w);
    let _ = writeln!(
        w,
        "- target, {n} process spawn+wait ≤ tokio::process's time: {} {}; {} {}",
        Runtime::IoUring.label(),
        target(secs[0], secs[2], 1.0, false),
        Runtime::Epoll.label(),
        target(secs[1], secs[2], 1.0, false),
    );
    other_line(w, other);
    let _ = writeln!(w);
}

fn micros(v: &PerRoundTrip) -> Option<f64> {
    v.as_ref().ok().map(|d| d.as_secs_f64() * 1e6)
}

pub(super) fn services_table(
    w: &mut String,
    plan: &Plan,
    services: &ServiceResults,
    other: Option<f64>,
) {
    let _ = writeln!(
        w,
        "### Services: cross-thread round trips (µs per round trip, lower is better)"
    );
    let _ = writeln!(w);
    let _ = writeln!(
        w,
        "Remote spawn: a loop on thread A awaits `remote_b.spawn(|| async {{ i }})` ({} \
         in a row), B a `LoopPool` of one loop on the same backend; tokio: a current_thread \
         runtime on thread A awaits `handle_b.spawn(async {{ i }})`, B a multi_thread \
         runtime with one worker ({}). spawn_blocking: a loop awaits \
         `spawn_blocking(move || i)` ({} in a row), tokio's `tokio::task::spawn_blocking` \
         on a current_thread runtime, unpinned. Medians over {} interleaved round(s).",
        count(plan.remote_round_trips),
        services.placement,
        count(plan.blocking_round_trips),
        plan.service_rounds,
    );
    let _ = writeln!(w);
    header(w, "round trip", "tokio");
    let us = |v: f64| format!("{v:.2}");
    let remote = services.remote.each_ref().map(micros);
    let blocking = services.blocking.each_ref().map(micros);
    let remote_cpu = services.remote_cpu.each_ref().map(micros);
    row(w, "`Remote::spawn` + await from another loop", remote, us);
    row(
        w,
        "thread A's CPU per `Remote::spawn` round trip",
        remote_cpu,
        us,
    );
    row(w, "`spawn_blocking` + await", blocking, us);
    let _ = writeln!(w);
    let _ = writeln!(
        w,
        "For reference, tokio's remote spawn with B a current_thread runtime on its own \
         thread: {} µs per round trip ({}: {} of it).",
        cell(micros(&services.remote_tokio_current).map(us)),
        Runtime::IoUring.label(),
        ratio(remote[0], micros(&services.remote_tokio_current)),
    );
    let (no_spin, no_spin_cpu) = (
        micros(&services.remote_no_spin.0),
        micros(&services.remote_no_spin.1),
    );
    let _ = writeln!(
        w,
        "ringloop's loops run with their default builders: while a `RemoteTask` it awaits \
         (or a `spawn_blocking` job) is pending, loop A polls for up to \
         `Builder::remote_spin` (default 50 µs) before blocking, so an answer that comes \
         within it wakes no parked thread. With that \
         spin off (`remote_spin(Duration::ZERO)`), ringloop-io_uring: {} µs per round \
         trip ({} × tokio's), thread A's CPU {} µs per round trip ({} × tokio's).",
        cell(no_spin.map(us)),
        ratio(no_spin, remote[2]),
        cell(no_spin_cpu.map(us)),
        ratio(no_spin_cpu, remote_cpu[2]),
    );
    let _ = writeln!(w);
    let verdicts = |values: [Option<f64>; 3], bound: f64| {
        RUNTIMES[..2]
            .iter()
            .map(|rt| {
                format!(
                    "{} {}",
                    rt.label(),
                    target(values[rt.index()], values[2], bound, false)
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    let _ = writeln!(
        w,
        "- target, `Remote::spawn` round trip ≤ 0.8 × tokio's `Handle::spawn` round trip: {}",
        verdicts(remote, 0.8)
    );
    let _ = writeln!(
        w,
        "- target, `spawn_blocking` round trip ≤ tokio's: {}",
        verdicts(blocking, 1.0)
    );
    other_line(w, other);
    let _ = writeln!(w);
}

pub(super) fn pool_echo_table(w: &mut String, plan: &Plan, pool: &PoolResults, other: Option<f64>) {
    let _ = writeln!(
        w,
        "### One loop per core: echo at {} × {} on a `LoopPool` of one and of two \
         ringloop-io_uring loops (`SO_REUSEPORT`)",
        conns_label(POOL_CONNS),
        if POOL_SIZE % 1024 == 0 {
            format!("{} KiB", POOL_SIZE / 1024)
        } else {
            format!("{POOL_SIZE} B")
        },
    );
    let _ = writeln!(w);
    let _ = writeln!(
        w,
        "Each loop binds its own listener to the one port and runs echo's stream server; \
         the kernel spreads the connections. Loops {}; the load generator is echo's tokio \
         client on one unpinned thread. On a machine with two CPUs the client shares the \
         cores with the loops: two loops cannot double the throughput there, and the \
         figures say how the work spreads, not how it scales. Medians over {} interleaved \
         window(s) of {:.1} s; busy is a thread's CPU time over wall time.",
        if pool.pinned {
            "pinned one per CPU (`pin_cpus`)"
        } else {
            "not pinned"
        },
        plan.echo_rounds,
        plan.echo_window.as_secs_f64(),
    );
    let _ = writeln!(w);
    let _ = writeln!(
        w,
        "| loops | round trips/s | connections per loop | busy per loop | loops' CPU per \
         round trip (µs) | client busy | round trips/s over one loop's |"
    );
    let _ = writeln!(w, "|---|---:|---:|---:|---:|---:|---:|");
    let one = pool
        .rows
        .first()
        .and_then(|r| r.as_ref().ok())
        .map(|r| r.rate);
    for (loops, row) in POOL_LOOPS.iter().zip(&pool.rows) {
        match row {
            Ok(r) => {
                let per_loop = |v: Vec<String>| v.join(" / ");
                let _ = writeln!(
                    w,
                    "| {} | {} | {} | {} % | {:.2} | {:.0} % | {} |",
                    r.loops,
                    rate_label(r.rate),
                    per_loop(r.conns.iter().map(u64::to_string).collect()),
                    per_loop(r.busy.iter().map(|b| format!("{:.0}", b * 100.0)).collect()),
                    r.server_us,
                    r.client_busy * 100.0,
                    ratio(Some(r.rate), one),
                );
            }
            Err(e) => {
                let _ = writeln!(w, "| {loops} | n/a ({e}) | | | | | |");
            }
        }
    }
    let _ = writeln!(w);
    other_line(w, other);
    let _ = writeln!(w);
}
