//! The report, in markdown: the environment, the core and echo tables, and the targets.

use std::fmt::Write as _;
use std::time::Duration;

use crate::Plan;
use crate::core::{CORE_WORKLOADS, CoreResults};
use crate::echo::{EchoFigures, EchoResults, MAX_RETRIES, echo_cases};
use crate::runtime::{RUNTIMES, Runtime};

pub(crate) struct Environment {
    pub(crate) kernel: String,
    pub(crate) cpus: usize,
    pub(crate) descriptions: [Result<String, String>; 3],
    pub(crate) pinning: String,
    pub(crate) cpu_source: &'static str,
    pub(crate) quick: bool,
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

pub(crate) fn report(
    env: &Environment,
    plan: &Plan,
    core: &CoreResults,
    echo: &EchoResults,
) -> String {
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
        "From the server loop's `stats()`: `io_uring_enter` calls (not counting the direct \
         recv/send of try-first I/O, which both backends make), `epoll_wait` calls, and the epoll loop's syscalls (its waits plus one per \
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

    // The targets.
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
