//! `/metrics` on the scheduler, in Prometheus (OpenMetrics) text: tasks by state, workers,
//! submissions, runs, errors, and the scheduling-latency histogram the service records.

use crate::service::SchedulerService;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The OpenMetrics text content type.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Metrics the service records as it runs (the rest are read from the state at scrape time).
#[derive(Clone, Debug)]
pub struct SchedulerMetrics {
    /// Seconds the state machine took per incoming message batch (worker events, a
    /// submission, a release): the scheduler's decision latency.
    pub batch_seconds: Histogram,
    /// Seconds spent building and encoding each live dashboard update (what an open
    /// dashboard costs the scheduler, measured as wall time: an upper bound on its CPU).
    pub dashboard_update_seconds: Histogram,
    /// Bytes of live dashboard updates encoded.
    pub dashboard_update_bytes: Counter,
}

impl Default for SchedulerMetrics {
    fn default() -> Self {
        SchedulerMetrics {
            // 1 µs .. ~4 s in factors of 4.
            batch_seconds: Histogram::new(exponential_buckets(1e-6, 4.0, 12)),
            // 10 µs .. ~2.6 s in factors of 4.
            dashboard_update_seconds: Histogram::new(exponential_buckets(1e-5, 4.0, 10)),
            dashboard_update_bytes: Counter::default(),
        }
    }
}

fn counter(registry: &mut Registry, name: &str, help: &str, value: u64) {
    let c: Counter = Counter::default();
    c.inc_by(value);
    registry.register(name, help, c);
}

fn gauge(registry: &mut Registry, name: &str, help: &str, value: i64) {
    let g: Gauge = Gauge::default();
    g.set(value);
    registry.register(name, help, g);
}

/// Encode the scheduler's metrics now.
pub fn render(s: &SchedulerService) -> Result<String, std::fmt::Error> {
    let (info, totals) = s.read(|st| (st.cluster_info(), st.observed_totals()));
    let mut r = Registry::with_prefix("tessera_scheduler");
    let by_state = Family::<Vec<(String, String)>, Gauge>::default();
    for (state, n) in &info.tasks_by_state {
        by_state
            .get_or_create(&vec![("state".to_string(), state.clone())])
            .set(*n as i64);
    }
    r.register("tasks", "Tasks the scheduler tracks, by state", by_state);
    gauge(
        &mut r,
        "workers",
        "Connected workers",
        info.workers.len() as i64,
    );
    let threads: u64 = info
        .workers
        .iter()
        .map(|w| w.registration.threads as u64)
        .sum();
    gauge(
        &mut r,
        "worker_threads",
        "Kernel threads over all workers",
        threads as i64,
    );
    gauge(
        &mut r,
        "dashboard_clients",
        "Dashboard pages connected for live updates",
        s.sse_clients(),
    );
    counter(
        &mut r,
        "tasks_completed",
        "Task results accepted since start",
        info.tasks_completed,
    );
    counter(
        &mut r,
        "task_runs",
        "Task runs reported by workers since start",
        totals.runs,
    );
    counter(
        &mut r,
        "tasks_erred",
        "Tasks that erred since start",
        totals.erred,
    );
    counter(
        &mut r,
        "graph_submissions",
        "Graph submissions accepted",
        totals.submissions,
    );
    counter(
        &mut r,
        "graph_submissions_refused",
        "Graph submissions refused",
        totals.refused,
    );
    counter(
        &mut r,
        "workers_lost",
        "Workers declared dead since start",
        info.workers_lost,
    );
    counter(
        &mut r,
        "control_bytes_received",
        "Bytes of control messages decoded",
        tessera_core::rpc::bytes_decoded(),
    );
    r.register(
        "batch_seconds",
        "Time the state machine takes per incoming message batch (scheduling latency)",
        s.metrics().batch_seconds.clone(),
    );
    r.register(
        "dashboard_update_seconds",
        "Time spent building and encoding each live dashboard update",
        s.metrics().dashboard_update_seconds.clone(),
    );
    r.register(
        "dashboard_update_bytes",
        "Bytes of live dashboard updates encoded",
        s.metrics().dashboard_update_bytes.clone(),
    );
    let mut out = String::new();
    encode(&mut out, &r)?;
    Ok(out)
}

pub(super) async fn scrape(State(s): State<SchedulerService>) -> Response {
    match render(&s) {
        Ok(text) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "cannot encode metrics\n").into_response(),
    }
}
