//! All 22 TPC-H queries on a 3-worker cluster of real processes, each compared with
//! DataFusion single-node on the same Parquet files (exact for integers, decimals and
//! strings, relative 1e-9 for floats, in the query's order).
//!
//! Scale factor 0.1 by default (`TESSERA_TPCH_SF` overrides it, e.g. 1 for the release
//! check in the README); `TESSERA_TPCH_QUERY=3,5` runs only those queries.

mod common;
mod tables_support;

use std::time::Instant;
use tables_support::*;
use tessera::table::Context;

fn selected_queries() -> Vec<usize> {
    match std::env::var("TESSERA_TPCH_QUERY") {
        Ok(list) => list
            .split(',')
            .map(|q| {
                q.trim()
                    .parse()
                    .expect("TESSERA_TPCH_QUERY holds query numbers")
            })
            .collect(),
        Err(_) => (1..=22).collect(),
    }
}

#[test]
fn tpch_queries_match_datafusion_single_node() {
    let sf: f64 = std::env::var("TESSERA_TPCH_SF")
        .ok()
        .map(|s| s.parse().expect("TESSERA_TPCH_SF is a number"))
        .unwrap_or(0.1);
    let dir = tpch_data(sf, 3);
    let cluster = common::cluster(3);
    let client = cluster.client().unwrap();
    let ctx = Context::with_partitions(&client, 3).unwrap();
    for t in TABLES {
        ctx.register_parquet(t, dir.join(t).to_str().unwrap())
            .unwrap();
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let reference = runtime.block_on(reference_session(&dir));
    let mut failures = Vec::new();
    for q in selected_queries() {
        let sql = tpch_query(q);
        let started = Instant::now();
        let got = ctx.sql(&sql).and_then(|df| df.collect());
        let took = started.elapsed();
        let started = Instant::now();
        let want = runtime
            .block_on(async { reference.sql(&sql).await?.collect().await })
            .expect("single-node DataFusion runs the query");
        let reference_took = started.elapsed();
        match got {
            Err(e) => failures.push(format!("q{q}: {e}")),
            Ok(got) => {
                let ordered = sql.to_lowercase().contains("order by");
                if let Err(d) = compare(&got, &want, ordered) {
                    failures.push(format!("q{q}: {d}"));
                }
            }
        }
        eprintln!(
            "q{q}: tessera {:.3}s, datafusion single-node {:.3}s",
            took.as_secs_f64(),
            reference_took.as_secs_f64()
        );
    }
    assert!(
        failures.is_empty(),
        "failing queries:\n{}",
        failures.join("\n")
    );
}
