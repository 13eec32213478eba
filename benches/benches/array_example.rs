//! The spine issue's example, `(x + x.T).mean(axis=0)` with N = 20,000 and 2,000-chunks on
//! 2 workers x 1 thread, beside single-threaded ndarray and Dask's LocalCluster, same run.

use ndarray::{Array2, Axis};
use rand::{Rng, SeedableRng};
use std::time::Instant;
use tessera::array;
use tessera_benches::{dask_python, report, run_python_peer, time_runs};

fn main() -> tessera::Result<()> {
    tessera::entry_hook();
    let n: usize = tessera_benches::env_usize("ARRAY_EXAMPLE_N", 20_000);
    let chunk = (n / 10).max(1);
    println!("array example: N = {n}, chunks {chunk}, 2 workers x 1 thread");
    let cluster = tessera_benches::two_worker_cluster()?;
    let client = cluster.client()?;
    let mut seed = 42;
    let (tessera_time, checksum) = time_runs(3, || {
        seed += 1;
        let x = array::random::<f64>(&[n, n], &[chunk, chunk], seed);
        let z = (&x + &x.t()).mean_axis(0);
        let v: ndarray::Array1<f64> = client.compute(&z).expect("compute");
        v.sum()
    });
    println!("  tessera checksum {checksum:.6} (expect about {n})");
    drop(client);
    drop(cluster);

    let (ndarray_time, nd_checksum) = time_runs(3, || {
        let t = Instant::now();
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(7);
        let x = Array2::from_shape_simple_fn((n, n), || rng.random::<f64>());
        let v = (&x + &x.t()).mean_axis(Axis(0)).expect("non-empty");
        let _ = t;
        v.sum()
    });
    println!("  ndarray checksum {nd_checksum:.6}");
    report(
        "array example vs single-threaded ndarray",
        tessera_time,
        "ndarray",
        Some(ndarray_time),
    );
    let dask = dask_python().and_then(|py| {
        run_python_peer(
            &py,
            "array_example_dask.py",
            &[n.to_string(), chunk.to_string()],
        )
    });
    report(
        "array example vs dask (2 workers x 1 thread)",
        tessera_time,
        "dask",
        dask,
    );
    Ok(())
}
