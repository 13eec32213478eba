//! `/api/events`: live dashboard updates as server-sent events, one `update` every half second.
//! Each carries aggregates (workers, progress, errors) and the task runs since the previous
//! event, thinned to an even sample when there are more than the page can draw.

use crate::service::SchedulerService;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use serde::Serialize;
use std::convert::Infallible;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tessera_core::wire::WorkerSummary;

use crate::state::observe::{ComputationProgress, ErrorRecord, StreamSlice};

/// Time between two updates.
const EVERY: Duration = Duration::from_millis(500);
/// Most task runs in one update: an even sample of the runs since the previous update
/// (the rest are counted as skipped). The page keeps 5,000 and draws about 1,000 columns.
const RUNS_PER_UPDATE: usize = 500;
/// Computations and errors in one update.
const PROGRESS_PER_UPDATE: usize = 8;
const ERRORS_PER_UPDATE: usize = 20;

/// One update.
#[derive(Serialize)]
pub(super) struct Update {
    /// Scheduler's wall clock, microseconds since the Unix epoch (the task stream's axis).
    now_us: u64,
    workers: Vec<WorkerSummary>,
    tasks_by_state: Vec<(String, u64)>,
    tasks_completed: u64,
    progress: Vec<ComputationProgress>,
    errors: Vec<ErrorRecord>,
    stream: StreamSlice,
}

/// Build the update for a client whose stream cursor is `since`.
pub(super) fn update(s: &SchedulerService, since: u64) -> Update {
    let now_us = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64);
    s.read(|st| {
        let info = st.cluster_info();
        let mut errors = st.recent_errors();
        errors.drain(..errors.len().saturating_sub(ERRORS_PER_UPDATE));
        Update {
            now_us,
            workers: info.workers,
            tasks_by_state: info.tasks_by_state,
            tasks_completed: info.tasks_completed,
            progress: st.progress(PROGRESS_PER_UPDATE),
            errors,
            stream: st.task_stream_sample(since, RUNS_PER_UPDATE),
        }
    })
}

pub(super) async fn events(
    State(s): State<SchedulerService>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    s.sse_clients_add(1);
    let guard = SseGuard(s.clone());
    let tick = tokio::time::interval(EVERY);
    let stream =
        futures::stream::unfold((guard, tick, 0u64), |(guard, mut tick, since)| async move {
            tick.tick().await;
            let started = Instant::now();
            let u = update(&guard.0, since);
            let next = u.stream.next_seq;
            let event = match serde_json::to_string(&u) {
                Ok(json) => {
                    guard
                        .0
                        .metrics()
                        .dashboard_update_bytes
                        .inc_by(json.len() as u64);
                    Event::default().event("update").data(json)
                }
                Err(e) => Event::default().event("error").data(e.to_string()),
            };
            let metrics = guard.0.metrics();
            metrics
                .dashboard_update_seconds
                .observe(started.elapsed().as_secs_f64());
            Some((Ok(event), (guard, tick, next)))
        });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// Counts a connected event stream for as long as it lives.
struct SseGuard(SchedulerService);

impl Drop for SseGuard {
    fn drop(&mut self) {
        self.0.sse_clients_add(-1);
    }
}
