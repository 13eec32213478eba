//! Tessera's worker: stores chunks, runs kernels on a rayon pool, serves data over Flight.
//! It registers with the scheduler, runs what it is assigned and reports back in batches.

pub mod executor;
pub mod flight;
mod link;
pub mod memory;
pub mod metrics;
pub mod metrics_http;
pub mod peers;
pub mod prom;
pub mod session;
pub mod shuffle;
pub mod spill;
pub mod store;
pub mod timing;
pub mod transport;

pub use session::{WorkerConfig, run_worker};
