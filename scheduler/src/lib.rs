//! Tessera's scheduler: a pure task-state machine (placement, queuing, stealing, recovery)
//! that a tonic service wraps; the state machine does no I/O and never touches chunk bytes.

pub mod service;
pub mod state;
pub use state::{Outputs, SchedulerConfig, SchedulerState};
