//! The chart, hand-written SVG: echo throughput and server CPU per round trip, a group
//! of bars per case and a bar per echo server.

use std::fmt::Write as _;

use crate::echo::{ECHO_SERVERS, EchoFigures, EchoResults, echo_cases};
use crate::report::Environment;

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

/// Values per case and server.
type Values = [Option<f64>; ECHO_SERVERS.len()];

/// One panel of grouped bars at vertical offset `top`: a group per case, a bar per server.
fn panel(
    svg: &mut String,
    top: f64,
    title: &str,
    values: &[Values],
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
    // Headroom for the value labels, which stand upright above the bars.
    let (ymax, step) = axis(max * 1.15);
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
    let bars = ECHO_SERVERS.len() as f64;
    let bar = group * 0.8 / bars;
    for (i, (row, label)) in values.iter().zip(labels).enumerate() {
        let x0 = LEFT + i as f64 * group + group * 0.1;
        for server in ECHO_SERVERS {
            let x = x0 + server.index() as f64 * bar;
            match row[server.index()] {
                Some(value) => {
                    let _ = writeln!(
                        svg,
                        r#"<rect x="{x:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{} {label}: {}</title></rect>"#,
                        y(value),
                        bar - 1.0,
                        top + HEIGHT - y(value),
                        server.colour(),
                        server.label(),
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
        r##"<line x1="{LEFT}" x2="{}" y1="{b}" y2="{b}" stroke="#333"/>"##,
        LEFT + WIDTH,
        b = top + HEIGHT
    );
}

pub(crate) fn chart(env: &Environment, echo: &EchoResults) -> String {
    let cases = echo_cases();
    let labels: Vec<String> = cases.iter().map(|c| c.short()).collect();
    let value = |f: fn(&EchoFigures) -> f64| -> Vec<Values> {
        echo.iter()
            .map(|row| ECHO_SERVERS.map(|server| row[server.index()].as_ref().ok().map(f)))
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
    for server in ECHO_SERVERS {
        let x = 70.0 + server.index() as f64 * 180.0;
        let _ = writeln!(
            svg,
            r#"<rect x="{x}" y="34" width="12" height="12" fill="{}"/><text x="{}" y="44">{}</text>"#,
            server.colour(),
            x + 17.0,
            server.label()
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
