//! Performance reports: one self-contained HTML file (inline CSS and SVG, no scripts or
//! outside assets) with the task stream, time per operation, transfers and worker memory.

use std::collections::BTreeMap;
use std::fmt::Write;
use tessera_core::wire::WorkerSummary;
use tessera_scheduler::state::observe::{ComputationProgress, TaskRun, WorkerHistory};

/// Most task rectangles drawn (the per-operation table still counts every run).
const MAX_RECTS: usize = 20_000;

/// Everything a report shows, as fetched from the scheduler's API.
#[derive(Clone, Debug, Default)]
pub struct ReportData {
    /// The scheduler's address.
    pub scheduler: String,
    /// Wall time the report covers, in seconds.
    pub wall_seconds: f64,
    /// Start and end on the scheduler's clock (milliseconds since it started).
    pub start_ms: u64,
    /// See `start_ms`.
    pub end_ms: u64,
    /// Task runs in the window, oldest first.
    pub runs: Vec<TaskRun>,
    /// Runs in the window that the scheduler no longer had.
    pub runs_skipped: u64,
    /// Workers at the end.
    pub workers: Vec<WorkerSummary>,
    /// Worker samples (filtered to the window when drawn).
    pub history: Vec<WorkerHistory>,
    /// Computations submitted in the window.
    pub computations: Vec<ComputationProgress>,
}

/// Escape text for HTML.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn color(group: &str) -> String {
    let h = group
        .bytes()
        .fold(0u32, |h, c| h.wrapping_mul(31).wrapping_add(u32::from(c)));
    format!("hsl({}, 62%, 52%)", h % 360)
}

fn mib(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0))
}

/// Per operation group: runs, total and longest kernel time, result bytes.
#[derive(Default)]
struct OpStats {
    runs: u64,
    total_us: u64,
    max_us: u64,
    bytes: u64,
}

fn op_stats(runs: &[TaskRun]) -> BTreeMap<&str, OpStats> {
    let mut ops: BTreeMap<&str, OpStats> = BTreeMap::new();
    for r in runs {
        let s = ops.entry(r.group.as_str()).or_default();
        s.runs += 1;
        s.total_us += r.duration_us;
        s.max_us = s.max_us.max(r.duration_us);
        s.bytes += r.nbytes;
    }
    ops
}

fn task_stream_svg(out: &mut String, d: &ReportData) {
    let timed: Vec<&TaskRun> = d.runs.iter().filter(|r| r.start_us > 0).collect();
    let Some(t0) = timed.iter().map(|r| r.start_us).min() else {
        out.push_str("<p>No timed task runs.</p>");
        return;
    };
    let t1 = timed
        .iter()
        .map(|r| r.start_us + r.duration_us)
        .max()
        .unwrap_or(t0)
        .max(t0 + 1);
    let mut bands: Vec<(u64, u32)> = timed.iter().map(|r| (r.worker, r.thread)).collect();
    for w in &d.workers {
        bands.extend((0..w.registration.threads).map(|t| (w.id, t)));
    }
    bands.sort_unstable();
    bands.dedup();
    let band_h = 14.0;
    let (left, width) = (160.0, 1100.0);
    let height = bands.len() as f64 * band_h + 20.0;
    let scale = (width - left) / (t1 - t0) as f64;
    let _ = write!(
        out,
        r#"<svg class="stream" viewBox="0 0 {width} {height}" width="{width}" height="{height}">"#
    );
    let name = |id: u64| {
        d.workers.iter().find(|w| w.id == id).map_or_else(
            || format!("worker {id}"),
            |w| w.registration.data_address.clone(),
        )
    };
    for (i, (w, t)) in bands.iter().enumerate() {
        let _ = write!(
            out,
            r#"<text x="2" y="{:.1}">{} #{t}</text>"#,
            i as f64 * band_h + 11.0,
            esc(&name(*w))
        );
    }
    for r in timed.iter().take(MAX_RECTS) {
        let Ok(i) = bands.binary_search(&(r.worker, r.thread)) else {
            continue;
        };
        let _ = write!(
            out,
            r#"<rect x="{:.2}" y="{:.1}" width="{:.2}" height="{:.1}" fill="{}"><title>{} on {} #{}: {} µs</title></rect>"#,
            left + (r.start_us - t0) as f64 * scale,
            i as f64 * band_h + 1.0,
            (r.duration_us as f64 * scale).max(0.5),
            band_h - 2.0,
            color(&r.group),
            esc(&r.key),
            esc(&name(r.worker)),
            r.thread,
            r.duration_us
        );
    }
    let _ = write!(
        out,
        r#"<text x="{left}" y="{:.1}">0 s</text><text x="{:.1}" y="{:.1}" text-anchor="end">{:.3} s</text></svg>"#,
        height - 4.0,
        width - 2.0,
        height - 4.0,
        (t1 - t0) as f64 / 1e6
    );
    if timed.len() > MAX_RECTS {
        let _ = write!(
            out,
            "<p>First {MAX_RECTS} of {} runs drawn.</p>",
            timed.len()
        );
    }
}

fn memory_svg(out: &mut String, d: &ReportData) {
    let series: Vec<(&WorkerHistory, Vec<(u64, u64)>)> = d
        .history
        .iter()
        .map(|h| {
            let pts = h
                .samples
                .iter()
                .filter(|s| s.at_ms + 1_000 >= d.start_ms && s.at_ms <= d.end_ms + 1_000)
                .map(|s| (s.at_ms, s.process_memory))
                .collect();
            (h, pts)
        })
        .filter(|(_, p): &(_, Vec<_>)| !p.is_empty())
        .collect();
    let max = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|x| x.1))
        .max()
        .unwrap_or(1)
        .max(1);
    let (t0, t1) = (d.start_ms.saturating_sub(1_000), d.end_ms + 1_000);
    let (w, h) = (1100.0, 200.0);
    let _ = write!(
        out,
        r#"<svg class="memory" viewBox="0 0 {w} {h}" width="{w}" height="{h}">"#
    );
    for (i, (hist, pts)) in series.iter().enumerate() {
        let points: Vec<String> = pts
            .iter()
            .map(|(t, m)| {
                format!(
                    "{:.1},{:.1}",
                    (t.saturating_sub(t0)) as f64 / (t1 - t0).max(1) as f64 * w,
                    h - 10.0 - *m as f64 / max as f64 * (h - 30.0)
                )
            })
            .collect();
        let c = format!("hsl({}, 60%, 50%)", i * 67 % 360);
        let _ = write!(
            out,
            r#"<polyline fill="none" stroke="{c}" stroke-width="2" points="{}"><title>{}</title></polyline><text x="4" y="{}" fill="{c}">{} (peak {})</text>"#,
            points.join(" "),
            esc(&hist.address),
            14 + i * 14,
            esc(&hist.address),
            mib(pts.iter().map(|p| p.1).max().unwrap_or(0))
        );
    }
    out.push_str("</svg>");
}

/// The report as one HTML document.
pub fn render(d: &ReportData) -> String {
    let mut o = String::new();
    let ops = op_stats(&d.runs);
    let busy: u64 = ops.values().map(|s| s.total_us).sum();
    o.push_str(r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Tessera performance report</title><style>"#);
    o.push_str(
        "body{font-family:system-ui,sans-serif;margin:1.5em;color:#1d232a;background:#fff}\
         @media (prefers-color-scheme: dark){body{color:#e2e6ea;background:#15181c}}\
         table{border-collapse:collapse}td,th{padding:.2em .7em;border-bottom:1px solid #8884;text-align:left}\
         td.n{text-align:right;font-variant-numeric:tabular-nums}svg text{font-size:10px;fill:currentColor}\
         .bar{display:inline-block;height:.8em}",
    );
    o.push_str("</style></head><body><h1>Tessera performance report</h1>");
    let _ = write!(
        o,
        "<p>Scheduler {} · {:.2} s wall time · {} task runs ({} not kept) · {} kernel-seconds · {} workers</p>",
        esc(&d.scheduler),
        d.wall_seconds,
        d.runs.len(),
        d.runs_skipped,
        busy as f64 / 1e6,
        d.workers.len()
    );
    o.push_str("<h2>Task stream</h2>");
    task_stream_svg(&mut o, d);
    o.push_str("<h2>Time per operation</h2><table id=\"ops\"><tr><th>operation</th><th>runs</th><th>total</th><th>mean</th><th>longest</th><th>result bytes</th><th>share</th></tr>");
    for (name, s) in &ops {
        let share = s.total_us as f64 / busy.max(1) as f64;
        let _ = write!(
            o,
            r#"<tr class="op" data-op="{n}"><td><span class="bar" style="width:.8em;background:{c}"></span> {n}</td><td class="n">{}</td><td class="n">{:.3} s</td><td class="n">{:.1} µs</td><td class="n">{} µs</td><td class="n">{}</td><td><span class="bar" style="width:{:.1}em;background:{c}"></span> {:.1}%</td></tr>"#,
            s.runs,
            s.total_us as f64 / 1e6,
            s.total_us as f64 / s.runs.max(1) as f64,
            s.max_us,
            mib(s.bytes),
            share * 20.0,
            share * 100.0,
            n = esc(name),
            c = color(name)
        );
    }
    o.push_str("</table><h2>Workers and transfers</h2><table id=\"workers\"><tr><th>worker</th><th>threads</th><th>tasks run here</th><th>sent in window</th><th>received in window</th><th>memory limit</th></tr>");
    for w in &d.workers {
        let runs = d.runs.iter().filter(|r| r.worker == w.id).count();
        let hist = d.history.iter().find(|h| h.worker == w.id);
        let first = hist.and_then(|h| {
            h.samples
                .iter()
                .rev()
                .find(|s| s.at_ms <= d.start_ms)
                .or(h.samples.first())
        });
        let (sent0, recv0) = first.map_or((0, 0), |s| (s.bytes_sent, s.bytes_received));
        let _ = write!(
            o,
            r#"<tr class="worker" data-address="{a}"><td>{a}</td><td class="n">{}</td><td class="n">{runs}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td></tr>"#,
            w.registration.threads,
            mib(w.metrics.bytes_sent.saturating_sub(sent0)),
            mib(w.metrics.bytes_received.saturating_sub(recv0)),
            mib(w.registration.memory_limit),
            a = esc(&w.registration.data_address)
        );
    }
    o.push_str("</table><h2>Worker memory over time</h2>");
    memory_svg(&mut o, d);
    o.push_str("<h2>Computations</h2><table><tr><th>#</th><th>tasks</th><th>done</th><th>erred</th><th>groups</th></tr>");
    for c in &d.computations {
        let groups: Vec<String> = c
            .groups
            .iter()
            .map(|g| format!("{} {}/{}", esc(&g.name), g.done, g.total))
            .collect();
        let _ = write!(
            o,
            r#"<tr><td>{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td>{}</td></tr>"#,
            c.seq,
            c.total,
            c.done,
            c.erred,
            groups.join(", ")
        );
    }
    o.push_str("</table></body></html>\n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_core::wire::{WorkerMetrics, WorkerRegistration};

    fn run(seq: u64, group: &str, worker: u64, start: u64) -> TaskRun {
        TaskRun {
            seq,
            key: format!("{group}-abc:{seq}"),
            group: group.to_string(),
            worker,
            thread: 0,
            start_us: start,
            duration_us: 100,
            nbytes: 8,
        }
    }

    #[test]
    fn the_report_names_every_worker_and_operation_and_escapes_text() {
        let worker = |id: u64, addr: &str| WorkerSummary {
            id,
            registration: WorkerRegistration {
                data_address: addr.to_string(),
                threads: 1,
                memory_limit: 1 << 30,
                pid: 1,
                name: addr.to_string(),
                metrics_address: String::new(),
                held: Vec::new(),
            },
            metrics: WorkerMetrics::default(),
            processing: 0,
            held_keys: 0,
        };
        let d = ReportData {
            runs: vec![run(0, "ones", 0, 1_000), run(1, "a<b", 1, 1_050)],
            workers: vec![worker(0, "127.0.0.1:1"), worker(1, "127.0.0.1:2")],
            ..Default::default()
        };
        let html = render(&d);
        assert!(html.contains(r#"data-op="ones""#));
        assert!(html.contains(r#"data-op="a&lt;b""#));
        assert!(!html.contains("a<b"));
        assert!(html.contains(r#"data-address="127.0.0.1:1""#));
        assert!(html.contains(r#"data-address="127.0.0.1:2""#));
        assert_eq!(html.matches("<rect ").count(), 2);
        assert!(!html.contains("<script"), "self-contained, no scripts");
    }
}
