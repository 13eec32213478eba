//! A join and a groupby whose shuffles hold more than a worker's memory limit: the
//! workers spill stored shuffle outputs to local Arrow IPC files, read them back for
//! the consumers, and the answers match DataFusion single-node.

mod common;
mod tables_support;

use std::time::{Duration, Instant};
use tables_support::*;
use tessera::table::Context;

/// Each worker may hold 12 MiB of results in memory (60% of 20 MiB).
const MEMORY_LIMIT: u64 = 20 << 20;

/// Queries whose shuffles carry the strings of lineitem and orders (SF 0.1: about
/// 25 MiB for the join, 20 MiB for the groupby), well past one worker's target.
const QUERIES: [(&str, &str); 2] = [
    (
        "join",
        "SELECT o_orderpriority, count(*) AS n, \
                sum(length(l_comment) + length(o_comment)) AS chars, \
                max(l_comment) AS last_l, min(o_comment) AS first_o \
         FROM lineitem JOIN orders ON l_orderkey = o_orderkey \
         GROUP BY o_orderpriority ORDER BY o_orderpriority",
    ),
    (
        "groupby",
        "SELECT count(*) AS groups, sum(n) AS rows, max(n) AS most \
         FROM (SELECT l_comment, count(*) AS n FROM lineitem GROUP BY l_comment)",
    ),
];

fn spilled_total(client: &tessera::Client) -> u64 {
    client
        .cluster_info()
        .unwrap()
        .workers
        .iter()
        .map(|w| w.metrics.spilled_bytes_total)
        .sum()
}

#[test]
fn shuffles_past_the_memory_limit_spill_and_answer_right() {
    let dir = tpch_data(0.1, 3);
    let cluster = common::cluster_with_memory(2, MEMORY_LIMIT);
    let client = cluster.client().unwrap();
    let ctx = Context::with_partitions(&client, 4).unwrap();
    for t in ["lineitem", "orders"] {
        ctx.register_parquet(t, dir.join(t).to_str().unwrap())
            .unwrap();
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let reference = runtime.block_on(reference_session(&dir));
    for (name, sql) in QUERIES {
        let before = spilled_total(&client);
        let got = ctx
            .sql(sql)
            .and_then(|df| df.collect())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let want = runtime
            .block_on(async { reference.sql(sql).await?.collect().await })
            .unwrap();
        compare(&got, &want, true).unwrap_or_else(|d| panic!("{name}: {d}"));
        // Heartbeats carry the spill counters; wait for the ones after the query.
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut spilled = spilled_total(&client) - before;
        while spilled == 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
            spilled = spilled_total(&client) - before;
        }
        assert!(
            spilled > MEMORY_LIMIT / 2,
            "{name}: the workers spilled only {spilled} bytes"
        );
        eprintln!("{name}: right answer, {} MiB spilled", spilled >> 20);
    }
}
