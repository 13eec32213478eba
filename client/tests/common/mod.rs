//! Shared helpers for the integration tests: clusters of real processes on 127.0.0.1.
//! Every cluster is stopped when its handle is dropped.

#![allow(dead_code)]

pub mod http;
pub mod procs;
pub mod raw_grpc;

use std::time::Duration;
use tessera::LocalCluster;

/// A cluster of `workers` real worker processes from the freshly built `tessera` binary.
pub fn cluster(workers: usize) -> LocalCluster {
    cluster_threads(workers, 1)
}

/// A cluster of `workers` worker processes with `threads` kernel threads each.
pub fn cluster_threads(workers: usize, threads: usize) -> LocalCluster {
    LocalCluster::builder()
        .workers(workers)
        .threads_per_worker(threads)
        .memory_limit(2 << 30)
        .worker_timeout(Duration::from_secs(5))
        .executable(env!("CARGO_BIN_EXE_tessera"))
        .build()
        .expect("local cluster starts")
}

/// A cluster of `workers` single-threaded worker processes, each limited to
/// `memory_limit` bytes (the memory tests: spilling and pausing).
pub fn cluster_with_memory(workers: usize, memory_limit: u64) -> LocalCluster {
    LocalCluster::builder()
        .workers(workers)
        .threads_per_worker(1)
        .memory_limit(memory_limit)
        .worker_timeout(Duration::from_secs(20))
        .executable(env!("CARGO_BIN_EXE_tessera"))
        .build()
        .expect("local cluster starts")
}

/// Largest absolute difference between two float arrays of equal shape (NaN equals NaN).
pub fn max_abs_diff<D: ndarray::Dimension>(
    a: &ndarray::Array<f64, D>,
    b: &ndarray::Array<f64, D>,
) -> f64 {
    assert_eq!(a.shape(), b.shape(), "shapes differ");
    a.iter()
        .zip(b.iter())
        .map(|(x, y)| {
            if x.is_nan() && y.is_nan() {
                0.0
            } else {
                (x - y).abs()
            }
        })
        .fold(0.0, f64::max)
}
