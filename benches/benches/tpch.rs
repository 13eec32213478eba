//! TPC-H queries 1, 3, 5, 6, 9 and 18 on a 2-worker x 1-thread cluster, beside DataFusion
//! single-node on the same 2 cores and dask.dataframe on a 2-worker LocalCluster, all on the
//! same Parquet files from the same run (medians of 3). `TPCH_SF` sets the scale factor
//! (default 1), `TPCH_QUERIES=1,6` picks queries; DuckDB runs too when its Python module is
//! importable by the benchmark interpreter.

use std::time::Duration;
use tessera::table::Context;
use tessera_benches::{dask_python, report, run_python_peer, time_runs};

fn main() -> tessera::Result<()> {
    tessera::entry_hook();
    let sf: f64 = std::env::var("TPCH_SF")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    let queries: Vec<usize> = std::env::var("TPCH_QUERIES")
        .unwrap_or_else(|_| "1,3,5,6,9,18".into())
        .split(',')
        .filter_map(|q| q.trim().parse().ok())
        .collect();
    let root = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    println!(
        "== generating TPC-H SF {sf} (cached under {})",
        root.display()
    );
    let dir = tessera::tpch::generate(&root, sf, 8)?;
    let cluster = tessera_benches::two_worker_cluster()?;
    let client = cluster.client()?;
    let ctx = Context::with_partitions(&client, 2)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let single = datafusion::prelude::SessionContext::new_with_config(
        datafusion::prelude::SessionConfig::new().with_target_partitions(2),
    );
    for t in tessera::tpch::TABLES {
        let path = dir.join(t);
        let path = path.to_string_lossy();
        ctx.register_parquet(t, &path)?;
        runtime
            .block_on(single.register_parquet(t, &*path, Default::default()))
            .expect("register");
    }
    let dask = dask_python();
    for q in queries {
        let sql = tessera::tpch::query(q)?;
        println!("== q{q}");
        let (tessera_time, rows) = time_runs(3, || {
            ctx.sql(sql)
                .and_then(|df| df.collect())
                .map(|b| b.iter().map(|b| b.num_rows()).sum::<usize>())
        });
        let rows = rows?;
        let (single_time, _) = time_runs(3, || {
            runtime
                .block_on(async { single.sql(sql).await?.collect().await })
                .expect("single-node DataFusion runs the query")
        });
        println!("  {rows} rows");
        report(
            &format!("q{q} vs DataFusion single-node (2 partitions)"),
            tessera_time,
            "datafusion",
            Some(single_time),
        );
        let peer: Option<Duration> = dask.as_ref().and_then(|py| {
            run_python_peer(
                py,
                "tpch_dask.py",
                &[dir.to_string_lossy().into_owned(), q.to_string()],
            )
        });
        report(
            &format!("q{q} vs dask.dataframe"),
            tessera_time,
            "dask",
            peer,
        );
        let duck = dask.as_ref().and_then(|py| {
            run_python_peer(
                py,
                "tpch_duckdb.py",
                &[dir.to_string_lossy().into_owned(), sql.to_string()],
            )
        });
        if duck.is_some() {
            report(&format!("q{q} vs duckdb"), tessera_time, "duckdb", duck);
        }
    }
    Ok(())
}
