//! Tessera: Dask-style chunked arrays computed on a real multi-process cluster.
//! Build an `Array` expression, connect a `Client` (or start a `LocalCluster`), compute.
//!
//! ```no_run
//! use tessera::{LocalCluster, array};
//! let cluster = LocalCluster::builder().workers(2).build()?;
//! let client = cluster.client()?;
//! let x = array::random::<f64>(&[2_000, 2_000], &[500, 500], 42);
//! let z = (&x + &x.t()).mean_axis(0);
//! let v: ndarray::Array1<f64> = client.compute(&z)?;
//! # Ok::<(), tessera::Error>(())
//! ```

pub mod array;
pub mod calls;
pub mod certs;
pub mod cli;
pub mod client;
pub mod cluster;
pub mod dashboard_api;
pub mod demo;
pub mod futures;
pub mod logging;
pub mod progress;
pub mod report;
pub mod table;
pub mod tpch;

pub use array::Array;
pub use calls::ValueFuture;
pub use client::Client;
pub use cluster::{LocalCluster, LocalClusterBuilder};
pub use dashboard_api::ReportRecorder;
pub use futures::{ArrayFuture, AsCompleted};
pub use tessera_core::kernels::{register_call, register_kernel};
pub use tessera_core::security::{Security, SecurityFiles};
pub use tessera_core::value::object;
pub use tessera_core::{Chunk, DType, Error, Partition, Result, Scalar, TaskKey, Value};
pub use tessera_worker::session::shipped_code_allowed_here;

/// Call first thing in `main` of a program that starts a `LocalCluster` with
/// [`LocalClusterBuilder::current_exe`]: when this process was started as a scheduler or
/// worker, it runs that role (with the kernels this program registered) and exits;
/// otherwise it returns at once.
pub fn entry_hook() {
    if std::env::var_os(cluster::ENTRY_ENV).is_none() {
        return;
    }
    let args = std::env::args_os();
    let cli = match <cli::Cli as clap::Parser>::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    logging::init(cli.log_format);
    match cli::run(cli) {
        Ok(()) => std::process::exit(0),
        Err(e) => {
            eprintln!("tessera: {e}");
            std::process::exit(1);
        }
    }
}

/// Logs on stderr as `logging::init` sets them up, in the format `TESSERA_LOG_FORMAT`
/// names (`text`, the default, or `json`).
pub fn init_logging() {
    logging::init(logging::LogFormat::from_env());
}
