//! The scheduler's HTTP server: the dashboard page, its JSON API under `/api/`, live updates
//! over server-sent events, and `/metrics` in Prometheus text format.
//!
//! The server only reads: each request takes the service lock long enough to copy a
//! snapshot out of the state machine's observation buffers (see `state::observe`), then
//! serializes outside the lock. Bounded limits on every list keep a snapshot cheap.

mod api;
pub mod metrics;
mod sse;

use crate::service::SchedulerService;
use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tessera_core::{Error, Result};

const INDEX_HTML: &str = include_str!("assets/index.html");
const DASHBOARD_JS: &str = include_str!("assets/dashboard.js");
const DASHBOARD_CSS: &str = include_str!("assets/dashboard.css");

/// The routes, over a service handle.
pub fn router(service: SchedulerService) -> Router {
    Router::new()
        .route(
            "/",
            get(|| async { page(INDEX_HTML, "text/html; charset=utf-8") }),
        )
        .route(
            "/static/dashboard.js",
            get(|| async { page(DASHBOARD_JS, "text/javascript; charset=utf-8") }),
        )
        .route(
            "/static/dashboard.css",
            get(|| async { page(DASHBOARD_CSS, "text/css; charset=utf-8") }),
        )
        .route("/metrics", get(metrics::scrape))
        .route("/api/events", get(sse::events))
        .merge(api::routes())
        .fallback(not_found)
        .with_state(service)
}

fn page(body: &'static str, content_type: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "not found\n").into_response()
}

/// Bind `addr` and serve the dashboard in the background; returns the bound address.
pub async fn spawn(
    service: SchedulerService,
    addr: std::net::SocketAddr,
) -> Result<std::net::SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| Error::Cluster(format!("cannot bind the dashboard on {addr}: {e}")))?;
    let bound = listener
        .local_addr()
        .map_err(|e| Error::Cluster(format!("no local address for the dashboard: {e}")))?;
    let app = router(service);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!("dashboard server stopped: {e}");
        }
    });
    Ok(bound)
}
