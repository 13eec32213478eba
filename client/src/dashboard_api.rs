//! The client's side of the dashboard: `dashboard_link`, progress hooks, and performance
//! reports built from the scheduler's JSON API (plain HTTP/1 GETs with hyper).

use crate::client::Client;
use crate::report::{ReportData, render};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;
use tessera_core::wire::{SubmissionProgress, WorkerSummary};
use tessera_core::{Error, Result};
use tessera_scheduler::state::observe::{ComputationProgress, StreamSlice, WorkerHistory};

/// GET `path` from `addr` and decode the JSON answer.
pub async fn get_json<T: DeserializeOwned>(addr: &str, path: &str) -> Result<T> {
    let fail = |e: String| Error::Cluster(format!("dashboard GET http://{addr}{path}: {e}"));
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| fail(e.to_string()))?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| fail(e.to_string()))?;
    tokio::spawn(conn);
    let request = hyper::Request::get(path)
        .header(hyper::header::HOST, addr)
        .body(Empty::<Bytes>::new())
        .map_err(|e| fail(e.to_string()))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| fail(e.to_string()))?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| fail(e.to_string()))?
        .to_bytes();
    if !status.is_success() {
        return Err(fail(format!(
            "status {status}: {}",
            String::from_utf8_lossy(&body).trim()
        )));
    }
    serde_json::from_slice(&body).map_err(|e| fail(format!("bad JSON: {e}")))
}

/// The part of `/api/cluster` a report needs.
#[derive(Deserialize)]
struct ClusterHead {
    stream_next_seq: u64,
    uptime_ms: u64,
}

/// A performance report being recorded: started by [`Client::start_report`].
pub struct ReportRecorder {
    client: Client,
    address: String,
    start_seq: u64,
    start_ms: u64,
    started: Instant,
}

impl ReportRecorder {
    /// Stop recording and write the report to `path`.
    pub fn stop(self, path: impl AsRef<Path>) -> Result<()> {
        let address = self.address.clone();
        let since = self.start_seq;
        let data = self.client.block_on(async move {
            let stream: StreamSlice = get_json(
                &address,
                &format!("/api/tasks/stream?since={since}&limit=100000"),
            )
            .await?;
            let workers: Vec<WorkerSummary> = get_json(&address, "/api/workers").await?;
            let history: Vec<WorkerHistory> = get_json(&address, "/api/workers/history").await?;
            let progress: Vec<ComputationProgress> =
                get_json(&address, "/api/progress?limit=64").await?;
            let head: ClusterHead = get_json(&address, "/api/cluster").await?;
            Ok::<_, Error>((stream, workers, history, progress, head))
        })?;
        let (stream, workers, history, progress, head) = data;
        let report = ReportData {
            scheduler: self.client.scheduler_address().to_string(),
            wall_seconds: self.started.elapsed().as_secs_f64(),
            start_ms: self.start_ms,
            end_ms: head.uptime_ms,
            runs: stream.runs,
            runs_skipped: stream.skipped,
            workers,
            history,
            computations: progress
                .into_iter()
                .filter(|c| c.submitted_ms >= self.start_ms)
                .collect(),
        };
        std::fs::write(path.as_ref(), render(&report)).map_err(|e| {
            Error::other(format!(
                "cannot write the report {}: {e}",
                path.as_ref().display()
            ))
        })
    }
}

impl Client {
    /// `http://host:port/` of the scheduler's dashboard, or `None` when it serves none.
    pub fn dashboard_link(&self) -> Result<Option<String>> {
        let a = self.cluster_info()?.dashboard_address;
        Ok((!a.is_empty()).then(|| format!("http://{a}/")))
    }

    fn dashboard_address(&self) -> Result<String> {
        let a = self.cluster_info()?.dashboard_address;
        if a.is_empty() {
            return Err(Error::Cluster(
                "the scheduler serves no dashboard (started with --dashboard-address off)".into(),
            ));
        }
        Ok(a)
    }

    /// Call `hook` with every progress event of this client's submissions (from the
    /// client's session thread: keep it short). The Python progress bar uses this.
    pub fn on_progress(&self, hook: impl Fn(&SubmissionProgress) + Send + Sync + 'static) {
        self.inner.progress.add_hook(Arc::new(hook));
    }

    /// The latest progress of this client's newest submission that reported any.
    pub fn progress(&self) -> Option<SubmissionProgress> {
        self.inner.progress.newest()
    }

    /// A mark for [`Client::progress_since`]: the number the next submission will get.
    pub fn progress_mark(&self) -> u64 {
        self.inner
            .next_submission
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Progress summed over this client's submissions made since `mark` (one call such
    /// as a table `collect` may submit several graphs); `None` until one reports.
    pub fn progress_since(&self, mark: u64) -> Option<SubmissionProgress> {
        self.inner.progress.since(mark)
    }

    /// Turn the client's own `indicatif` progress bars on or off (a host that draws its
    /// own bar, such as the Python package, turns them off).
    pub fn set_progress_bars(&self, enabled: bool) {
        self.inner.progress.set_bars(enabled);
    }

    /// Start recording a performance report (see [`Client::performance_report`]).
    pub fn start_report(&self) -> Result<ReportRecorder> {
        let address = self.dashboard_address()?;
        let a = address.clone();
        let head: ClusterHead = self.block_on(async move { get_json(&a, "/api/cluster").await })?;
        Ok(ReportRecorder {
            client: self.clone(),
            address,
            start_seq: head.stream_next_seq,
            start_ms: head.uptime_ms,
            started: Instant::now(),
        })
    }

    /// Run `f` and write a self-contained HTML performance report of what the cluster did
    /// meanwhile to `path`: the task stream, time per operation, transfer volume and
    /// worker memory over time. The report is written even when `f` fails.
    pub fn performance_report<R>(
        &self,
        path: impl AsRef<Path>,
        f: impl FnOnce() -> Result<R>,
    ) -> Result<R> {
        let recorder = self.start_report()?;
        let result = f();
        // Let the workers' last heartbeats (memory, transfer) reach the scheduler.
        std::thread::sleep(std::time::Duration::from_millis(600));
        recorder.stop(path)?;
        result
    }
}
