//! Tessera's scheduler: a pure task-state machine (placement, queuing, stealing, recovery)
//! wrapped by a tonic service and an HTTP server (dashboard, JSON API, `/metrics`).

pub mod http;
pub mod service;
pub mod state;
pub use state::{Outputs, SchedulerConfig, SchedulerState};
