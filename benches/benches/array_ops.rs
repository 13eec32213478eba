//! Issue 3's array benchmarks, each on a fresh 2-worker x 1-thread cluster beside
//! single-threaded ndarray and Dask's LocalCluster from the same run (medians of 3 runs):
//! `(x @ x.T).sum()`, `x[::2, 1::3].std(axis=0)`, and a row-to-column-chunk rechunk with
//! each worker's peak memory. `ARRAY_OPS=matmul,slice_std,rechunk` picks workloads;
//! `MATMUL_N`, `SLICE_N`, `RECHUNK_N` set sizes.

use ndarray::{Array2, Axis, s};
use rand::{Rng, SeedableRng};
use std::time::Duration;
use tessera::array::{self, Array};
use tessera_benches::{dask_python, env_usize, peak_rss, report, run_python_peer, time_runs};

/// Memory limit per worker for these runs (the rechunk must stay within it).
const WORKER_MEMORY: u64 = 6 << 30;

fn main() -> tessera::Result<()> {
    tessera::entry_hook();
    let chosen = std::env::var("ARRAY_OPS").unwrap_or_else(|_| "matmul,slice_std,rechunk".into());
    let dask = dask_python();
    for workload in chosen.split(',') {
        let (n, chunk) = match workload {
            "matmul" => (env_usize("MATMUL_N", 6_000), 1_000),
            "slice_std" => {
                let n = env_usize("SLICE_N", 20_000);
                (n, (n / 10).max(1))
            }
            "rechunk" => {
                let n = env_usize("RECHUNK_N", 20_000);
                (n, (n / 10).max(1))
            }
            other => {
                println!("unknown workload {other:?}: choose matmul, slice_std, rechunk");
                continue;
            }
        };
        println!("== {workload}: N = {n}, chunk {chunk}, 2 workers x 1 thread");
        let tessera_time = run_tessera(workload, n, chunk)?;
        let nd_time = run_ndarray(workload, n, chunk);
        report(
            &format!("{workload} vs single-threaded ndarray"),
            tessera_time,
            "ndarray",
            Some(nd_time),
        );
        let peer = dask.as_ref().and_then(|py| {
            run_python_peer(
                py,
                "array_ops_dask.py",
                &[workload.to_string(), n.to_string(), chunk.to_string()],
            )
        });
        report(
            &format!("{workload} vs dask (2 workers x 1 thread)"),
            tessera_time,
            "dask",
            peer,
        );
    }
    Ok(())
}

/// The workload as a Tessera expression over a fresh random array.
fn expression(workload: &str, n: usize, chunk: usize, seed: u64) -> Array {
    match workload {
        "matmul" => {
            let x = array::random::<f64>(&[n, n], &[chunk, chunk], seed);
            x.matmul(&x.t()).sum()
        }
        "slice_std" => {
            let x = array::random::<f64>(&[n, n], &[chunk, chunk], seed);
            x.index(&[
                array::Idx::range(None, None, 2),
                array::Idx::range(Some(1), None, 3),
            ])
            .std_axis(0, 0)
        }
        _ => {
            let x = array::random::<f64>(&[n, n], &[chunk, n], seed);
            x.rechunk(&[n, chunk])
        }
    }
}

fn run_tessera(workload: &str, n: usize, chunk: usize) -> tessera::Result<Duration> {
    let cluster = tessera::LocalCluster::builder()
        .workers(2)
        .threads_per_worker(1)
        .memory_limit(WORKER_MEMORY)
        .current_exe()
        .build()?;
    let client = cluster.client()?;
    let mut seed = 42;
    let (time, checksum) = time_runs(3, || {
        seed += 1;
        let expr = expression(workload, n, chunk, seed);
        if workload == "rechunk" {
            // Keep the whole result on the workers until it is complete, as Dask's
            // persist + wait does, then release it.
            let future = client.submit(&expr).expect("submit");
            future.wait().expect("rechunk");
            0.0
        } else {
            let v: ndarray::ArrayD<f64> = client.compute(&expr).expect("compute");
            v.sum()
        }
    });
    let peaks: Vec<String> = peak_rss(&cluster.worker_pids())
        .iter()
        .map(|b| format!("{:.0}", *b as f64 / (1 << 20) as f64))
        .collect();
    println!(
        "  tessera checksum {checksum:.6}; peak worker memory MB: {} (limit {} MB)",
        peaks.join(" "),
        WORKER_MEMORY >> 20
    );
    Ok(time)
}

fn run_ndarray(workload: &str, n: usize, chunk: usize) -> Duration {
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(7);
    let x = Array2::from_shape_simple_fn((n, n), || rng.random::<f64>());
    let (time, checksum) = time_runs(3, || match workload {
        "matmul" => x.dot(&x.t()).sum(),
        "slice_std" => x.slice(s![..;2, 1..;3]).std_axis(Axis(0), 0.0).sum(),
        _ => {
            // Single-node "rechunk": copy the array into column blocks.
            let blocks: Vec<Array2<f64>> = (0..n.div_ceil(chunk))
                .map(|j| {
                    x.slice(s![.., j * chunk..((j + 1) * chunk).min(n)])
                        .to_owned()
                })
                .collect();
            blocks.iter().map(|b| b[[0, 0]]).sum()
        }
    });
    println!("  ndarray checksum {checksum:.6} (array generated outside the timing)");
    time
}
