//! The JSON API under `/api/`: cluster summary, workers and their history, the task stream,
//! progress per computation, recent errors and small graphs. Documented in the README.

use crate::service::SchedulerService;
use axum::Json;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use tessera_core::wire::{ClusterInfo, WorkerSummary};

/// Largest `limit` of `/api/tasks/stream`.
pub const MAX_STREAM_LIMIT: usize = 100_000;
/// Default `limit` of `/api/tasks/stream`.
const DEFAULT_STREAM_LIMIT: usize = 10_000;
/// Default and largest `limit` of `/api/progress`.
const DEFAULT_PROGRESS: usize = 16;
const MAX_PROGRESS: usize = 64;

pub(super) fn routes() -> Router<SchedulerService> {
    Router::new()
        .route("/api/cluster", get(cluster))
        .route("/api/workers", get(workers))
        .route("/api/workers/history", get(history))
        .route("/api/tasks/stream", get(stream))
        .route("/api/progress", get(progress))
        .route("/api/errors", get(errors))
        .route("/api/graph", get(graph))
}

/// `/api/cluster`: the `ClusterInfo` call's answer plus run totals.
#[derive(Serialize)]
struct ClusterView {
    #[serde(flatten)]
    info: ClusterInfo,
    submissions: u64,
    submissions_refused: u64,
    task_runs: u64,
    tasks_erred: u64,
    stream_next_seq: u64,
    uptime_ms: u64,
}

async fn cluster(State(s): State<SchedulerService>) -> Json<ClusterView> {
    let (info, totals, next) = s.read(|st| {
        (
            st.cluster_info(),
            st.observed_totals(),
            st.task_stream(u64::MAX, 0).next_seq,
        )
    });
    let info = s.complete_info(info);
    Json(ClusterView {
        info,
        submissions: totals.submissions,
        submissions_refused: totals.refused,
        task_runs: totals.runs,
        tasks_erred: totals.erred,
        stream_next_seq: next,
        uptime_ms: s.uptime_ms(),
    })
}

async fn workers(State(s): State<SchedulerService>) -> Json<Vec<WorkerSummary>> {
    Json(s.read(|st| st.cluster_info().workers))
}

async fn history(State(s): State<SchedulerService>) -> Response {
    Json(s.read(|st| st.worker_history())).into_response()
}

#[derive(Deserialize)]
struct StreamQuery {
    since: Option<u64>,
    limit: Option<usize>,
}

async fn stream(State(s): State<SchedulerService>, Query(q): Query<StreamQuery>) -> Response {
    let limit = q
        .limit
        .unwrap_or(DEFAULT_STREAM_LIMIT)
        .min(MAX_STREAM_LIMIT);
    let since = q.since.unwrap_or(0);
    Json(s.read(|st| st.task_stream(since, limit))).into_response()
}

#[derive(Deserialize)]
struct LimitQuery {
    limit: Option<usize>,
}

async fn progress(State(s): State<SchedulerService>, Query(q): Query<LimitQuery>) -> Response {
    let limit = q.limit.unwrap_or(DEFAULT_PROGRESS).min(MAX_PROGRESS);
    Json(s.read(|st| st.progress(limit))).into_response()
}

async fn errors(State(s): State<SchedulerService>) -> Response {
    Json(s.read(|st| st.recent_errors())).into_response()
}

#[derive(Deserialize)]
struct GraphQuery {
    computation: Option<u64>,
}

async fn graph(State(s): State<SchedulerService>, Query(q): Query<GraphQuery>) -> Response {
    match s.read(|st| st.graph_view(q.computation)) {
        Some(g) => Json(g).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            "no graph kept for that computation (none yet, or too large to draw)\n",
        )
            .into_response(),
    }
}
