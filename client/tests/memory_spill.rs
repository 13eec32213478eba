//! A 2 GiB array persisted on two workers limited to 256 MiB each: the workers spill to
//! local Arrow IPC files, reductions over the spilled chunks give the same answer as
//! the same reductions computed without storing anything, and each worker's peak
//! resident memory (VmHWM, read from /proc) stays under the limit plus a stated margin.

mod common;

use ndarray::Array1;
use tessera::array::random;

const LIMIT: u64 = 256 << 20;
/// What a worker process takes beyond its stored results: the binary, the runtime,
/// DataFusion's and rayon's threads, and the chunk a kernel is producing (32 MiB).
const MARGIN: u64 = 128 << 20;

/// Peak resident memory of process `pid`, in bytes.
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("VmHWM in /proc/PID/status");
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib << 10
}

#[test]
fn two_gib_on_256_mib_workers_spills_and_stays_under_the_limit() {
    let cluster = common::cluster_with_memory(2, LIMIT);
    let client = cluster.client().unwrap();
    let n = 16384usize; // 16384^2 f64 = 2 GiB, in 64 chunks of 32 MiB
    let x = random::<f64>(&[n, n], &[2048, 2048], 11);

    // Without storing: chunks are generated, reduced and dropped.
    let want: Array1<f64> = client.compute(&x.sum_axis(0)).unwrap();
    let kept = client.persist(&x).unwrap();
    let got: Array1<f64> = client.compute(&kept.sum_axis(0)).unwrap();
    assert_eq!(got, want, "column sums over spilled chunks differ");
    let mean: ndarray::Array0<f64> = client.compute(&kept.mean()).unwrap();
    let mean = mean.into_scalar();
    assert!(
        (mean - 0.5).abs() < 1e-3,
        "mean of uniform [0, 1) values is {mean}"
    );

    let info = client.cluster_info().unwrap();
    let spilled: u64 = info
        .workers
        .iter()
        .map(|w| w.metrics.spilled_bytes_total)
        .sum();
    assert!(
        spilled >= (1u64 << 30),
        "only {} MiB were spilled",
        spilled >> 20
    );
    for pid in cluster.worker_pids() {
        let peak = peak_rss(pid);
        eprintln!(
            "worker {pid}: peak RSS {} MiB (limit {} MiB); {} MiB spilled in all",
            peak >> 20,
            LIMIT >> 20,
            spilled >> 20
        );
        assert!(
            peak < LIMIT + MARGIN,
            "worker {pid} peaked at {} MiB, past the {} MiB limit plus {} MiB",
            peak >> 20,
            LIMIT >> 20,
            MARGIN >> 20
        );
    }
}
