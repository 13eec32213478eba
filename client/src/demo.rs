//! `tessera demo`: the embedded default. Starts a local cluster, runs the classic
//! `(x + x.T).mean(axis=0)` example and TPC-H queries, with results and timings.

use crate::array;
use crate::cluster::{LocalCluster, total_memory};
use clap::Args;
use std::time::{Duration, Instant};
use tessera_core::Result;

/// Options of `tessera demo`.
#[derive(Args, Debug, Clone)]
pub struct DemoArgs {
    /// Side of the square random array (default: 20,000, smaller on machines under 16 GiB).
    #[arg(long)]
    pub size: Option<usize>,
    /// Side of a square chunk (default: size / 10).
    #[arg(long)]
    pub chunk: Option<usize>,
    /// Worker processes.
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// Threads per worker.
    #[arg(long, default_value_t = 1)]
    pub threads_per_worker: usize,
    /// TPC-H scale factor of the table example (0 skips it).
    #[arg(long, default_value_t = 0.1)]
    pub tpch_sf: f64,
    /// TPC-H queries to run, comma-separated.
    #[arg(long, default_value = "1,3,5,6,9,18")]
    pub tpch_queries: String,
}

fn default_size() -> usize {
    // x, x.T and their sum in flight: budget about a quarter of memory for one array.
    let budget = total_memory() / 4 / 8;
    ((budget as f64).sqrt() as usize).clamp(1_000, 20_000)
}

/// Run the demo and print what happened.
pub fn run(args: DemoArgs) -> Result<()> {
    let n = args.size.unwrap_or_else(default_size);
    let chunk = args.chunk.unwrap_or((n / 10).max(1));
    println!(
        "tessera demo: starting a local cluster with {} workers x {} thread(s)",
        args.workers, args.threads_per_worker
    );
    let started = Instant::now();
    let cluster = LocalCluster::builder()
        .workers(args.workers)
        .threads_per_worker(args.threads_per_worker)
        .build()?;
    let client = cluster.client()?;
    println!(
        "  scheduler at {} (ready in {:.2?})",
        cluster.scheduler_address(),
        started.elapsed()
    );

    println!(
        "\narray example: x = random(({n}, {n}), chunks=({chunk}, {chunk})); z = (x + x.T).mean(axis=0)"
    );
    let x = array::random::<f64>(&[n, n], &[chunk, chunk], 42);
    let z = (&x + &x.t()).mean_axis(0);
    let before = client.cluster_info()?;
    let t = Instant::now();
    let v: ndarray::Array1<f64> = client.compute(&z)?;
    let wall = t.elapsed();
    let gigabytes = (n as f64) * (n as f64) * 8.0 / 1e9;
    // Let one heartbeat carry the workers' final transfer counters.
    std::thread::sleep(Duration::from_millis(700));
    let after = client.cluster_info()?;
    let received = |info: &tessera_core::wire::ClusterInfo| -> u64 {
        info.workers.iter().map(|w| w.metrics.bytes_received).sum()
    };
    let moved = received(&after).saturating_sub(received(&before));
    let scheduler_bytes = after
        .scheduler_bytes_received
        .saturating_sub(before.scheduler_bytes_received);
    println!(
        "  result: {} values, checksum (sum) = {:.6}, first = {:.6}",
        v.len(),
        v.sum(),
        v.first().copied().unwrap_or(f64::NAN)
    );
    println!(
        "  expected mean of a uniform [0,1) variable: 1.0 for x + x.T; got mean {:.6}",
        v.mean().unwrap_or(f64::NAN)
    );
    println!(
        "  wall time: {wall:.2?} for {:.2} GB of input ({:.2} GB/s)",
        gigabytes,
        gigabytes / wall.as_secs_f64()
    );
    println!(
        "  tasks completed: {}",
        after.tasks_completed.saturating_sub(before.tasks_completed)
    );
    println!(
        "  moved between workers: {:.1} MB; control messages the scheduler read: {:.1} KB",
        moved as f64 / 1e6,
        scheduler_bytes as f64 / 1e3
    );
    for w in &after.workers {
        println!(
            "    worker {} ({}): {} tasks done, received {:.1} MB, sent {:.1} MB",
            w.id,
            w.registration.data_address,
            w.metrics.tasks_done,
            w.metrics.bytes_received as f64 / 1e6,
            w.metrics.bytes_sent as f64 / 1e6
        );
    }
    if args.tpch_sf > 0.0 {
        tpch_example(&client, &args)?;
    }
    println!("\ntotal demo time {:.2?}", started.elapsed());
    Ok(())
}

/// Generate TPC-H, run the chosen queries on the cluster and on DataFusion single-node in
/// this process, and print both timings and the first rows.
fn tpch_example(client: &crate::Client, args: &DemoArgs) -> Result<()> {
    use crate::table::Context;
    let queries: Vec<usize> = args
        .tpch_queries
        .split(',')
        .map(|q| {
            q.trim().parse::<usize>().map_err(|_| {
                tessera_core::Error::other(format!("--tpch-queries: {q:?} is not a number"))
            })
        })
        .collect::<Result<_>>()?;
    let root = std::env::temp_dir().join("tessera-demo");
    std::fs::create_dir_all(&root)
        .map_err(|e| tessera_core::Error::other(format!("{}: {e}", root.display())))?;
    println!("\nTPC-H example: scale factor {}", args.tpch_sf);
    let t = Instant::now();
    let dir = crate::tpch::generate(&root, args.tpch_sf, (args.workers * 2) as i32)?;
    println!("  data in {} ({:.2?})", dir.display(), t.elapsed());
    let ctx = Context::new(client)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.workers * args.threads_per_worker)
        .enable_all()
        .build()
        .map_err(|e| tessera_core::Error::other(e.to_string()))?;
    let single = datafusion::prelude::SessionContext::new_with_config(
        datafusion::prelude::SessionConfig::new()
            .with_target_partitions(args.workers * args.threads_per_worker),
    );
    for table in crate::tpch::TABLES {
        let path = dir.join(table);
        let path = path.to_string_lossy();
        ctx.register_parquet(table, &path)?;
        runtime
            .block_on(single.register_parquet(table, &*path, Default::default()))
            .map_err(|e| tessera_core::Error::Plan(e.to_string()))?;
    }
    for q in queries {
        let sql = crate::tpch::query(q)?;
        let t = Instant::now();
        let batches = ctx.sql(sql)?.collect()?;
        let cluster_time = t.elapsed();
        let t = Instant::now();
        runtime
            .block_on(async { single.sql(sql).await?.collect().await })
            .map_err(|e| tessera_core::Error::Plan(e.to_string()))?;
        let single_time = t.elapsed();
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        println!(
            "  q{q}: {rows} rows in {cluster_time:.2?} on the cluster, {single_time:.2?} on DataFusion single-node ({:.2}x)",
            cluster_time.as_secs_f64() / single_time.as_secs_f64().max(1e-9)
        );
        if let Some(first) = batches.iter().find(|b| b.num_rows() > 0) {
            let head = first.slice(0, first.num_rows().min(3));
            let text = datafusion::arrow::util::pretty::pretty_format_batches(&[head])
                .map_err(|e| tessera_core::Error::other(e.to_string()))?;
            for line in text.to_string().lines() {
                println!("      {line}");
            }
        }
    }
    Ok(())
}
