//! The chart, hand-written SVG: echo throughput and server CPU per round trip (a group
//! of bars per case and a bar per echo server), then HTTP requests per second and
//! server CPU per request side by side (a bar per runtime), then the files, processes
//! and services figures as ratios to tokio's (a bar per runtime, tokio's at 1).

use std::fmt::Write as _;

use crate::echo::{ECHO_SERVERS, conns_label, echo_cases};
use crate::files::FILE_WORKLOADS;
use crate::measure::Figures;
use crate::report::{Environment, Results};
use crate::runtime::RUNTIMES;
use crate::services::PerRoundTrip;

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

/// A panel's place and its series (label and colour per bar of a group).
struct Frame<'a> {
    left: f64,
    top: f64,
    width: f64,
    series: &'a [(&'static str, &'static str)],
}

/// One panel of grouped bars: a group per case, a bar per series (`values[case][bar]`).
fn panel(
    svg: &mut String,
    frame: &Frame<'_>,
    title: &str,
    values: &[Vec<Option<f64>>],
    labels: &[String],
    fmt: fn(f64) -> String,
) {
    const HEIGHT: f64 = 220.0;
    let Frame {
        left,
        top,
        width,
        series,
    } = *frame;
    let max = values
        .iter()
        .flatten()
        .flatten()
        .fold(0.0f64, |a, &b| a.max(b));
    // Headroom for the value labels, which stand upright above the bars.
    let (ymax, step) = axis(max * 1.15);
    let y = |v: f64| top + HEIGHT - v / ymax * HEIGHT;
    let _ = writeln!(
        svg,
        r#"<text x="{left}" y="{}" class="title">{title}</text>"#,
        top - 12.0
    );
    let mut v = 0.0;
    while v <= ymax + step / 2.0 {
        let _ = writeln!(
            svg,
            r##"<line x1="{left}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            left + width,
            left - 6.0,
            y(v) + 4.0,
            tick_label(v, step),
            y = y(v),
        );
        v += step;
    }
    let group = width / values.len().max(1) as f64;
    let bars = series.len() as f64;
    let bar = group * 0.8 / bars;
    for (i, (row, label)) in values.iter().zip(labels).enumerate() {
        let x0 = left + i as f64 * group + group * 0.1;
        for (j, &(name, colour)) in series.iter().enumerate() {
            let x = x0 + j as f64 * bar;
            match row[j] {
                Some(value) => {
                    let _ = writeln!(
                        svg,
                        r#"<rect x="{x:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{} {label}: {}</title></rect>"#,
                        y(value),
                        bar - 1.0,
                        top + HEIGHT - y(value),
                        colour,
                        name,
                        fmt(value),
                    );
                    let (tx, ty) = (x + bar / 2.0 + 3.0, y(value) - 3.0);
                    let _ = writeln!(
                        svg,
                        r#"<text x="{tx:.1}" y="{ty:.1}" transform="rotate(-90 {tx:.1} {ty:.1})" class="value">{}</text>"#,
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
            x0 + bars * bar / 2.0,
            top + HEIGHT + 16.0
        );
    }
    let _ = writeln!(
        svg,
        r##"<line x1="{left}" x2="{}" y1="{b}" y2="{b}" stroke="#333"/>"##,
        left + width,
        b = top + HEIGHT
    );
}

/// `values` over tokio's (the last), per runtime.
fn to_tokio(values: [Option<f64>; 3]) -> Vec<Option<f64>> {
    values
        .iter()
        .map(|v| Some(v.as_ref()? / values[2].filter(|&t| t > 0.0)?))
        .collect()
}

/// The files, processes and services panels: ratios to tokio's figures.
fn system_panels(svg: &mut String, results: &Results) {
    let series = RUNTIMES.map(|rt| (rt.label(), rt.colour()));
    let frame = |left| Frame {
        left,
        top: 1010.0,
        width: 390.0,
        series: &series,
    };
    let _ = writeln!(
        svg,
        r#"<text x="70" y="965" font-size="13">Files, processes and services, each runtime's figure over tokio's (tokio = 1)</text>"#
    );
    let files: Vec<Vec<Option<f64>>> = results.files.rates.iter().map(|r| to_tokio(*r)).collect();
    let labels: Vec<String> = FILE_WORKLOADS
        .iter()
        .map(|w| {
            w.name()
                .replace("4 KiB random reads, ", "reads ")
                .replace(" sequential", "")
        })
        .collect();
    let times = |v: &[PerRoundTrip; 3]| {
        v.each_ref()
            .map(|d| d.as_ref().ok().map(|d| d.as_secs_f64()))
    };
    let others = vec![
        to_tokio(times(&results.processes.totals)),
        to_tokio(times(&results.services.remote)),
        to_tokio(times(&results.services.blocking)),
    ];
    let other_labels = [
        "process spawn+wait",
        "Remote::spawn rt",
        "spawn_blocking rt",
    ]
    .map(str::to_string);
    let x = |v: f64| format!("{v:.2}×");
    panel(
        svg,
        &frame(70.0),
        "Files: throughput / tokio::fs's (higher is better)",
        &files,
        &labels,
        x,
    );
    panel(
        svg,
        &frame(560.0),
        "Processes, services: time / tokio's (lower is better)",
        &others,
        &other_labels,
        x,
    );
}

pub(crate) fn chart(env: &Environment, results: &Results) -> String {
    let (echo, http) = (&results.echo, &results.http);
    let labels: Vec<String> = echo_cases().iter().map(|c| c.short()).collect();
    let echo_values = |f: fn(&Figures) -> f64| -> Vec<Vec<Option<f64>>> {
        echo.iter()
            .map(|row| row.iter().map(|r| r.as_ref().ok().map(f)).collect())
            .collect()
    };
    let echo_series = ECHO_SERVERS.map(|server| (server.label(), server.colour()));
    let http_labels: Vec<String> = http.rows.iter().map(|(c, _)| conns_label(*c)).collect();
    let http_values = |f: fn(&Figures) -> f64| -> Vec<Vec<Option<f64>>> {
        http.rows
            .iter()
            .map(|(_, row)| row.iter().map(|r| r.as_ref().ok().map(f)).collect())
            .collect()
    };
    let http_series = RUNTIMES.map(|rt| (rt.label(), rt.colour()));
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="980" height="1270" viewBox="0 0 980 1270" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(
        svg,
        "<style>.title {{ font-size: 14px; font-weight: bold; }} .value {{ font-size: 8px; fill: #444; }}</style>"
    );
    let _ = writeln!(svg, r#"<rect width="980" height="1270" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="70" y="22" font-size="13">Loopback TCP echo, linux {} ({} CPUs): server on the runtime under test, same tokio client for all</text>"#,
        env.kernel, env.cpus
    );
    // Legend (the runtimes' colours are the same in the HTTP panels).
    for (i, (label, colour)) in echo_series.iter().enumerate() {
        let x = 70.0 + i as f64 * 180.0;
        let _ = writeln!(
            svg,
            r#"<rect x="{x}" y="34" width="12" height="12" fill="{colour}"/><text x="{}" y="44">{label}</text>"#,
            x + 17.0,
        );
    }
    let echo_frame = |top| Frame {
        left: 70.0,
        top,
        width: 880.0,
        series: &echo_series,
    };
    panel(
        &mut svg,
        &echo_frame(85.0),
        "Throughput (round trips/s, higher is better)",
        &echo_values(|f| f.rate),
        &labels,
        |v| tick_label(v, 1.0),
    );
    panel(
        &mut svg,
        &echo_frame(375.0),
        "Server CPU per round trip (µs, lower is better)",
        &echo_values(|f| f.server_us),
        &labels,
        |v| format!("{v:.1}"),
    );
    let _ = writeln!(
        svg,
        r#"<text x="70" y="655" font-size="13">HTTP/1.1 hello world (hyper server, keep-alive) on each runtime, same load generator for all</text>"#
    );
    let http_frame = |left| Frame {
        left,
        top: 700.0,
        width: 390.0,
        series: &http_series,
    };
    panel(
        &mut svg,
        &http_frame(70.0),
        "Requests/s (higher is better)",
        &http_values(|f| f.rate),
        &http_labels,
        |v| tick_label(v, 1.0),
    );
    panel(
        &mut svg,
        &http_frame(560.0),
        "Server CPU per request (µs, lower is better)",
        &http_values(|f| f.server_us),
        &http_labels,
        |v| format!("{v:.1}"),
    );
    system_panels(&mut svg, results);
    let _ = writeln!(svg, "</svg>");
    svg
}
