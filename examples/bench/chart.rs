//! The charts, drawn with `plotters` (its SVG backend):
//!
//! - [`chart`] (`bench.svg`): echo throughput and server CPU per round trip (a group of
//!   bars per case, a bar per echo server), HTTP requests per second and server CPU per
//!   request (a bar per runtime), and the files, processes and services figures as
//!   ratios to tokio's (tokio's bar at 1);
//! - [`echo_scaling_chart`] (`echo-scaling.svg`): server CPU per round trip and
//!   throughput against the number of connections (1 KiB messages), a line per server;
//! - [`timer_scaling_chart`] (`timer-scaling.svg`): CPU per timer against the number of
//!   timers, a line per runtime.

use std::error::Error;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::Plan;
use crate::echo::{ECHO_SERVERS, conns_label};
use crate::files::FILE_WORKLOADS;
use crate::measure::Figures;
use crate::report::{Environment, Results};
use crate::runtime::{CORE_RUNTIMES, RUNTIMES};
use crate::services::PerRoundTrip;
use crate::timers::TimerWorkload;

type Drawn = Result<(), Box<dyn Error>>;
type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

const FONT: &str = "sans-serif";

/// `#rrggbb` as a colour.
fn rgb(hex: &str) -> RGBColor {
    let byte = |i: usize| u8::from_str_radix(hex.get(i..i + 2).unwrap_or("00"), 16).unwrap_or(0);
    RGBColor(byte(1), byte(3), byte(5))
}

/// An axis label: 12k, 1.5M, 0.25.
fn tick(v: f64) -> String {
    let trim = |v: f64| {
        let s = format!("{v:.1}");
        s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
    };
    if v >= 1e6 {
        format!("{}M", trim(v / 1e6))
    } else if v >= 1e3 {
        format!("{}k", trim(v / 1e3))
    } else if v >= 10.0 || v == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// A count on a logarithmic axis: 1, 10, 100, 1k, 10k, 1M.
fn count_tick(v: f64) -> String {
    if v < 1e3 { format!("{v:.0}") } else { tick(v) }
}

/// A series: its label and colour.
type Series = (&'static str, RGBColor);

/// A row of legend boxes across `area`.
fn legend(area: &Area<'_>, series: &[Series]) -> Drawn {
    for (i, (label, colour)) in series.iter().enumerate() {
        let x = 70 + i as i32 * 180;
        area.draw(&Rectangle::new([(x, 6), (x + 12, 18)], colour.filled()))?;
        area.draw(&Text::new(*label, (x + 17, 6), (FONT, 12)))?;
    }
    Ok(())
}

/// A panel of grouped bars: a group per label, a bar per series (`values[group][bar]`;
/// `None` draws nothing).
fn bars(
    area: &Area<'_>,
    title: &str,
    y_desc: &str,
    series: &[Series],
    labels: &[String],
    values: &[Vec<Option<f64>>],
) -> Drawn {
    // A segment per bar and one for the gap between groups; the label under the
    // middle bar.
    let per_group = series.len() + 1;
    let segments = labels.len().max(1) * per_group;
    let max = values
        .iter()
        .flatten()
        .flatten()
        .fold(0.0f64, |a, &b| a.max(b));
    let top = if max > 0.0 { max * 1.1 } else { 1.0 };
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FONT, 14))
        .margin(8)
        .x_label_area_size(22)
        .y_label_area_size(52)
        .build_cartesian_2d((0..segments).into_segmented(), 0.0..top)?;
    let label_at = |x: &SegmentValue<usize>| match *x {
        SegmentValue::CenterOf(i) if i % per_group == series.len() / 2 => {
            labels.get(i / per_group).cloned().unwrap_or_default()
        }
        _ => String::new(),
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(segments)
        .x_label_formatter(&label_at)
        .y_label_formatter(&|v| tick(*v))
        .y_desc(y_desc)
        .label_style((FONT, 11))
        .draw()?;
    for (j, (_, colour)) in series.iter().enumerate() {
        chart.draw_series(values.iter().enumerate().filter_map(|(g, row)| {
            let v = (*row.get(j)?)?;
            let x = g * per_group + j;
            Some(Rectangle::new(
                [
                    (SegmentValue::Exact(x), 0.0),
                    (SegmentValue::Exact(x + 1), v),
                ],
                colour.filled(),
            ))
        }))?;
    }
    Ok(())
}

/// A line per series over a logarithmic x axis (`points[series]` of (x, y)).
fn lines(
    area: &Area<'_>,
    title: &str,
    (x_desc, y_desc): (&str, &str),
    series: &[Series],
    points: &[Vec<(f64, f64)>],
) -> Drawn {
    let all = || points.iter().flatten();
    let x_min = all().map(|p| p.0).fold(f64::INFINITY, f64::min);
    let x_max = all().map(|p| p.0).fold(0.0f64, f64::max);
    let y_max = all().map(|p| p.1).fold(0.0f64, f64::max);
    let (x_min, x_max) = if x_min.is_finite() && x_max > 0.0 {
        (x_min / 1.5, x_max * 1.5)
    } else {
        (1.0, 10.0)
    };
    let y_top = if y_max > 0.0 { y_max * 1.15 } else { 1.0 };
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FONT, 14))
        .margin(10)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d((x_min..x_max).log_scale(), 0.0..y_top)?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .x_labels(8)
        .x_label_formatter(&|v| count_tick(*v))
        .y_label_formatter(&|v| tick(*v))
        .label_style((FONT, 11))
        .draw()?;
    for ((label, colour), points) in series.iter().zip(points) {
        if points.is_empty() {
            continue;
        }
        let colour = *colour;
        chart
            .draw_series(LineSeries::new(points.clone(), colour.stroke_width(2)))?
            .label(*label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 16, y)], colour.stroke_width(2))
            });
        chart.draw_series(PointSeries::of_element(
            points.clone(),
            4,
            colour.filled(),
            &|c, s, st| Circle::new(c, s, st),
        ))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .label_font((FONT, 11))
        .draw()?;
    Ok(())
}

/// `values` over tokio's (the last), per runtime.
fn to_tokio(values: [Option<f64>; 3]) -> Vec<Option<f64>> {
    values
        .iter()
        .map(|v| Some(v.as_ref()? / values[2].filter(|&t| t > 0.0)?))
        .collect()
}

fn draw_overview(root: &Area<'_>, env: &Environment, results: &Results) -> Drawn {
    let (echo, http) = (&results.echo, &results.http);
    root.fill(&WHITE)?;
    let (head, rest) = root.split_vertically(50);
    head.draw(&Text::new(
        format!(
            "Loopback TCP echo, linux {} ({} CPUs): server on the runtime under test, same tokio client for all",
            env.kernel, env.cpus
        ),
        (70, 2),
        (FONT, 13),
    ))?;
    let echo_series = ECHO_SERVERS.map(|server| (server.label(), rgb(server.colour())));
    legend(&head.split_vertically(22).1, &echo_series)?;
    let (echo_area, rest) = rest.split_vertically(580);
    let (throughput, cpu) = echo_area.split_vertically(290);
    let labels: Vec<String> = echo.iter().map(|(case, _)| case.short()).collect();
    let echo_values = |f: fn(&Figures) -> f64| -> Vec<Vec<Option<f64>>> {
        echo.iter()
            .map(|(_, row)| row.iter().map(|r| r.as_ref().ok().map(f)).collect())
            .collect()
    };
    bars(
        &throughput,
        "Echo throughput (higher is better)",
        "round trips/s",
        &echo_series,
        &labels,
        &echo_values(|f| f.rate),
    )?;
    bars(
        &cpu,
        "Echo server CPU per round trip (lower is better)",
        "µs",
        &echo_series,
        &labels,
        &echo_values(|f| f.server_us),
    )?;

    let (http_area, system_area) = rest.split_vertically(310);
    let (http_head, http_area) = http_area.split_vertically(24);
    let http_series = RUNTIMES.map(|rt| (rt.label(), rgb(rt.colour())));
    http_head.draw(&Text::new(
        "HTTP/1.1 hello world (hyper server, keep-alive) on each runtime, same load generator for all",
        (70, 4),
        (FONT, 13),
    ))?;
    let http_labels: Vec<String> = http.rows.iter().map(|(c, _)| conns_label(*c)).collect();
    let http_values = |f: fn(&Figures) -> f64| -> Vec<Vec<Option<f64>>> {
        http.rows
            .iter()
            .map(|(_, row)| row.iter().map(|r| r.as_ref().ok().map(f)).collect())
            .collect()
    };
    let (left, right) = http_area.split_horizontally(490);
    bars(
        &left,
        "Requests/s (higher is better)",
        "requests/s",
        &http_series,
        &http_labels,
        &http_values(|f| f.rate),
    )?;
    bars(
        &right,
        "Server CPU per request (lower is better)",
        "µs",
        &http_series,
        &http_labels,
        &http_values(|f| f.server_us),
    )?;

    let (system_head, system_area) = system_area.split_vertically(24);
    system_head.draw(&Text::new(
        "Files, processes and services, each runtime's figure over tokio's (tokio = 1)",
        (70, 4),
        (FONT, 13),
    ))?;
    let files: Vec<Vec<Option<f64>>> = results.files.rates.iter().map(|r| to_tokio(*r)).collect();
    let file_labels: Vec<String> = FILE_WORKLOADS
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
    let other_labels =
        ["process spawn+wait", "Remote::spawn", "spawn_blocking"].map(str::to_string);
    let (left, right) = system_area.split_horizontally(490);
    bars(
        &left,
        "Files: throughput / tokio::fs's (higher is better)",
        "× tokio",
        &http_series,
        &file_labels,
        &files,
    )?;
    bars(
        &right,
        "Processes, services: time / tokio's (lower is better)",
        "× tokio",
        &http_series,
        &other_labels,
        &others,
    )?;
    root.present()?;
    Ok(())
}

fn draw_echo_scaling(root: &Area<'_>, results: &Results) -> Drawn {
    root.fill(&WHITE)?;
    let series = ECHO_SERVERS.map(|server| (server.label(), rgb(server.colour())));
    let points = |f: fn(&Figures) -> f64| -> Vec<Vec<(f64, f64)>> {
        ECHO_SERVERS
            .iter()
            .map(|server| {
                results
                    .echo
                    .iter()
                    .filter(|(case, _)| case.size == 1024)
                    .filter_map(|(case, row)| {
                        let figures = row[server.index()].as_ref().ok()?;
                        Some((case.conns as f64, f(figures)))
                    })
                    .collect()
            })
            .collect()
    };
    let (top, bottom) = root.split_vertically(360);
    lines(
        &top,
        "Echo server CPU per round trip by connections, 1 KiB messages (lower is better)",
        ("connections", "µs per round trip"),
        &series,
        &points(|f| f.server_us),
    )?;
    lines(
        &bottom,
        "Echo throughput by connections, 1 KiB messages (higher is better)",
        ("connections", "round trips/s"),
        &series,
        &points(|f| f.rate),
    )?;
    root.present()?;
    Ok(())
}

fn draw_timer_scaling(root: &Area<'_>, plan: &Plan, results: &Results) -> Drawn {
    root.fill(&WHITE)?;
    let series = CORE_RUNTIMES.map(|rt| (rt.label(), rgb(rt.colour())));
    let points: Vec<Vec<(f64, f64)>> = CORE_RUNTIMES
        .iter()
        .map(|rt| {
            results
                .timers
                .iter()
                .filter(|(workload, _)| matches!(workload, TimerWorkload::Scaling(_)))
                .filter_map(|(workload, row)| {
                    let n = workload.timers(plan) as f64;
                    Some((n, row[rt.index()]?.as_secs_f64() * 1e9 / n))
                })
                .collect()
        })
        .collect();
    let span = plan.timer_span;
    lines(
        root,
        &format!(
            "CPU per timer by number of timers, random sleeps within {} ms (lower is better)",
            span.as_millis()
        ),
        ("timers", "ns of thread CPU per timer"),
        &series,
        &points,
    )?;
    root.present()?;
    Ok(())
}

/// Draws `draw` on a `size` SVG: the SVG text, or why it could not be drawn.
fn svg(size: (u32, u32), draw: impl FnOnce(&Area<'_>) -> Drawn) -> Result<String, String> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, size).into_drawing_area();
        draw(&root).map_err(|e| e.to_string())?;
    }
    Ok(out)
}

/// The overview chart (`bench.svg`).
pub(crate) fn chart(env: &Environment, results: &Results) -> Result<String, String> {
    svg((980, 1300), |root| draw_overview(root, env, results))
}

/// Echo by connections (`echo-scaling.svg`).
pub(crate) fn echo_scaling_chart(results: &Results) -> Result<String, String> {
    svg((900, 720), |root| draw_echo_scaling(root, results))
}

/// CPU per timer by timers (`timer-scaling.svg`).
pub(crate) fn timer_scaling_chart(plan: &Plan, results: &Results) -> Result<String, String> {
    svg((900, 400), |root| draw_timer_scaling(root, plan, results))
}
