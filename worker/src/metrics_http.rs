//! The worker's optional `/metrics` HTTP endpoint (axum), for Prometheus to scrape.
//! Bound before registration so that its address travels in the worker's registration.

use crate::prom::{WorkerGauges, render};
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::net::SocketAddr;
use tessera_core::{Error, Result};

async fn scrape(State(g): State<WorkerGauges>) -> Response {
    match render(&g) {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "cannot encode metrics\n").into_response(),
    }
}

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "not found; try /metrics\n").into_response()
}

/// Bind `addr` and serve `/metrics` in the background; returns the bound address.
pub async fn spawn(addr: SocketAddr, gauges: WorkerGauges) -> Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| Error::Cluster(format!("cannot bind the metrics endpoint on {addr}: {e}")))?;
    let bound = listener
        .local_addr()
        .map_err(|e| Error::Cluster(format!("no local address for metrics: {e}")))?;
    let app = Router::new()
        .route("/metrics", get(scrape))
        .fallback(not_found)
        .with_state(gauges);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!("worker metrics server stopped: {e}");
        }
    });
    Ok(bound)
}
