//! End-to-end tiny tasks per second through a 2-worker LocalCluster: a sum over
//! one-element chunks (every task is microseconds of work), beside Dask's figure.

use std::time::Instant;
use tessera::array;
use tessera_benches::{dask_python, report, run_python_peer};

fn main() -> tessera::Result<()> {
    tessera::entry_hook();
    let n: usize = tessera_benches::env_usize("TINY_TASKS_N", 50_000);
    let cluster = tessera_benches::two_worker_cluster()?;
    let client = cluster.client()?;
    let mut times = Vec::new();
    let mut tasks = 0;
    for run in 0..3 {
        let x = &array::ones::<f64>(&[n], &[1]) + run as f64;
        let s = x.sum();
        let before = client.cluster_info()?.tasks_completed;
        let t = Instant::now();
        let v: ndarray::Array0<f64> = client.compute(&s)?;
        times.push(t.elapsed());
        assert_eq!(v.into_scalar(), (n as f64) * (1.0 + run as f64));
        tasks = client.cluster_info()?.tasks_completed - before;
    }
    let median = tessera_benches::median(times);
    println!(
        "tiny tasks: {tasks} tasks in {:.3}s -> {:.0} tasks/s end to end (median of 3, 2 workers x 1 thread)",
        median.as_secs_f64(),
        tasks as f64 / median.as_secs_f64()
    );
    let dask_n = n.min(5_000);
    if let Some(py) = dask_python()
        && let Some(d) = run_python_peer(&py, "tiny_tasks_dask.py", &[dask_n.to_string()])
    {
        // Dask runs a smaller graph (it is slow at this); compare rates.
        let dask_tasks = (dask_n as f64) * (tasks as f64 / n as f64);
        let dask_rate = dask_tasks / d.as_secs_f64();
        println!(
            "tiny tasks: dask ~{dask_tasks:.0} tasks in {:.3}s -> {dask_rate:.0} tasks/s",
            d.as_secs_f64()
        );
        println!(
            "tiny tasks: tessera / dask rate = {:.1}x",
            tasks as f64 / median.as_secs_f64() / dask_rate
        );
    } else {
        report("tiny tasks", median, "dask", None);
    }
    Ok(())
}
