//! Chaos: a 3-worker cluster runs TPC-H joins and the array example side by side while a
//! chaos thread SIGKILLs a random worker every 2-4 s and starts a replacement.
//!
//! Two computations are always in flight (a table query and an array example, each
//! taking long enough that kills land among running tasks and held intermediates).
//! Every result is checked (tables against DataFusion single-node on the same Parquet
//! files, arrays against ndarray) and every computation is bounded by a watchdog that
//! fails the test instead of hanging it. The chaos schedule comes from a seeded RNG whose
//! seed is printed; `TESSERA_CHAOS_SEED=N` replays it and `TESSERA_CHAOS_SECS` sets how
//! long the computations run (default 60 s).

mod common;
mod tables_support;

use datafusion::arrow::record_batch::RecordBatch;
use ndarray::{Array1, Array2, Axis};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tables_support::*;
use tessera::LocalCluster;
use tessera::array::random;
use tessera::table::Context;

/// Longest one computation may take, chaos included, before the test fails as hung.
const WATCHDOG: Duration = Duration::from_secs(90);

/// Side of the square random array of the array example.
const N: usize = 1200;

/// Chunk side of the array example (an 8 x 8 grid).
const CHUNK: usize = 150;

/// TPC-H scale factor of the table queries (the data the other table tests use).
const TPCH_SF: f64 = 0.1;

/// Seeds of the arrays the example cycles through (their references are computed
/// before the chaos starts).
const ARRAY_SEEDS: [u64; 3] = [11, 12, 13];

/// The table computations: TPC-H q3 and q5, and a lineitem-orders join with a groupby.
const TABLE_QUERIES: [(&str, Option<usize>); 3] = [
    ("q3", Some(3)),
    ("q5", Some(5)),
    ("lineitem-orders join", None),
];

const JOIN_SQL: &str = "SELECT o_orderpriority, count(*) AS n, \
        sum(l_extendedprice * (1 - l_discount)) AS revenue, max(l_shipdate) AS last_ship \
     FROM lineitem JOIN orders ON l_orderkey = o_orderkey \
     WHERE o_orderstatus <> 'P' \
     GROUP BY o_orderpriority ORDER BY o_orderpriority";

/// SplitMix64: a tiny seeded generator for the chaos schedule.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(s) => s
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={s:?} is not a valid value")),
        Err(_) => default,
    }
}

/// What the chaos thread did.
#[derive(Debug, Default)]
struct ChaosReport {
    kills: usize,
    started: usize,
    error: Option<String>,
}

/// What the computations did.
#[derive(Debug, Default)]
struct Counts {
    tables: usize,
    arrays: usize,
    /// Computations during which a worker was killed.
    hit: usize,
    slowest: Duration,
}

impl Counts {
    /// Count one checked computation; print it when a kill landed during it or it was slow.
    fn note(&mut self, name: &str, took: Duration, hit: bool, since: Instant) {
        self.slowest = self.slowest.max(took);
        self.hit += usize::from(hit);
        if hit || took > Duration::from_secs(5) {
            eprintln!(
                "chaos: {name} right in {:.2}s at {:.1}s{}",
                took.as_secs_f64(),
                since.elapsed().as_secs_f64(),
                if hit { ", through a kill" } else { "" }
            );
        }
    }
}

/// Kill a random live worker every 2-4 s and start a replacement, until `stop`.
fn chaos(
    cluster: &mut LocalCluster,
    seed: u64,
    stop: &AtomicBool,
    kills: &AtomicUsize,
) -> ChaosReport {
    let mut rng = Rng(seed);
    let mut report = ChaosReport::default();
    // Indices (in start order, as `kill_worker` takes them) of the workers alive now.
    let mut alive: Vec<usize> = (0..cluster.worker_pids().len()).collect();
    'outer: while !stop.load(Ordering::Relaxed) {
        let pause = Duration::from_millis(2000 + rng.below(2001));
        let until = Instant::now() + pause;
        while Instant::now() < until {
            if stop.load(Ordering::Relaxed) {
                break 'outer;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let victim = alive.remove(rng.below(alive.len() as u64) as usize);
        let pid = cluster.worker_pids()[victim];
        if let Err(e) = cluster.kill_worker(victim) {
            report.error = Some(format!("killing worker {victim} (pid {pid}): {e}"));
            break;
        }
        report.kills += 1;
        kills.store(report.kills, Ordering::SeqCst);
        eprintln!(
            "chaos: killed worker {victim} (pid {pid}) after {pause:?}; kill {}",
            report.kills
        );
        let index = cluster.worker_pids().len();
        if let Err(e) = cluster.add_worker() {
            report.error = Some(format!("starting replacement worker {index}: {e}"));
            break;
        }
        report.started += 1;
        alive.push(index);
    }
    report
}

/// A computation running on its own thread, watched: waiting for it longer than
/// [`WATCHDOG`] fails the test (the stuck thread is left behind, and the cluster it
/// talks to is killed on drop).
struct Watched<T> {
    what: String,
    started: Instant,
    kills_before: usize,
    rx: mpsc::Receiver<T>,
}

impl<T: Send + 'static> Watched<T> {
    fn start(what: &str, kills: &AtomicUsize, f: impl FnOnce() -> T + Send + 'static) -> Self {
        let (tx, rx) = mpsc::channel();
        let kills_before = kills.load(Ordering::SeqCst);
        std::thread::Builder::new()
            .name(format!("chaos-{what}"))
            .spawn(move || {
                let _ = tx.send(f());
            })
            .unwrap();
        Watched {
            what: what.to_string(),
            started: Instant::now(),
            kills_before,
            rx,
        }
    }

    /// The result, how long it took, and whether a worker was killed meanwhile.
    fn wait(self, kills: &AtomicUsize) -> (T, Duration, bool) {
        let left = WATCHDOG.saturating_sub(self.started.elapsed());
        match self.rx.recv_timeout(left) {
            Ok(v) => (
                v,
                self.started.elapsed(),
                kills.load(Ordering::SeqCst) != self.kills_before,
            ),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                panic!(
                    "{} did not finish within {WATCHDOG:?}: hung under chaos",
                    self.what
                )
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => panic!("{} panicked", self.what),
        }
    }
}

fn table_sql(query: Option<usize>) -> String {
    match query {
        Some(q) => tpch_query(q),
        None => JOIN_SQL.to_string(),
    }
}

#[test]
fn tpch_joins_and_the_array_example_survive_random_worker_kills() {
    let seed: u64 = env_or(
        "TESSERA_CHAOS_SEED",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
            % 1_000_000,
    );
    let secs: u64 = env_or("TESSERA_CHAOS_SECS", 60);
    eprintln!(
        "chaos: seed {seed} (TESSERA_CHAOS_SEED={seed} replays it), {secs} s of computations"
    );

    let dir = tpch_data(TPCH_SF, 3);
    let mut cluster = LocalCluster::builder()
        .workers(3)
        .threads_per_worker(1)
        .memory_limit(1 << 30)
        .worker_timeout(Duration::from_secs(5))
        .worker_metrics(false)
        .executable(env!("CARGO_BIN_EXE_tessera"))
        .build()
        .expect("local cluster starts");
    let client = cluster.client().unwrap();
    let ctx = Context::with_partitions(&client, 3).unwrap();
    for t in TABLES {
        ctx.register_parquet(t, dir.join(t).to_str().unwrap())
            .unwrap();
    }

    // References, before any chaos: DataFusion single-node for the tables, ndarray on
    // the same random values for the array example.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let reference = runtime.block_on(reference_session(&dir));
    let table_refs: Vec<(String, bool, Vec<RecordBatch>)> = TABLE_QUERIES
        .iter()
        .map(|(_, q)| {
            let sql = table_sql(*q);
            let want = runtime
                .block_on(async { reference.sql(&sql).await?.collect().await })
                .expect("single-node DataFusion runs the query");
            let ordered = sql.to_lowercase().contains("order by");
            (sql, ordered, want)
        })
        .collect();
    let array_refs: Vec<Array1<f64>> = ARRAY_SEEDS
        .iter()
        .map(|&s| {
            let xs: Array2<f64> = client
                .compute(&random::<f64>(&[N, N], &[CHUNK, CHUNK], s))
                .unwrap();
            (&xs + &xs.t()).mean_axis(Axis(0)).unwrap()
        })
        .collect();

    let stop = Arc::new(AtomicBool::new(false));
    let kills = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let (counts, report) = std::thread::scope(|s| {
        let (chaos_stop, chaos_kills) = (stop.clone(), kills.clone());
        let cluster = &mut cluster;
        let chaos_thread = s.spawn(move || chaos(cluster, seed, &chaos_stop, &chaos_kills));
        // Stop the chaos whatever happens below, so that the scope can end.
        struct StopOnDrop(Arc<AtomicBool>);
        impl Drop for StopOnDrop {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Relaxed);
            }
        }
        let _stop_guard = StopOnDrop(stop.clone());
        let mut counts = Counts::default();
        let mut round = 0usize;
        while started.elapsed() < Duration::from_secs(secs) {
            // The array example runs beside the table query.
            let which = round % ARRAY_SEEDS.len();
            let c = client.clone();
            let x = random::<f64>(&[N, N], &[CHUNK, CHUNK], ARRAY_SEEDS[which]);
            let z = (&x + &x.t()).mean_axis(0);
            let array = Watched::start("array example", &kills, move || {
                c.compute::<f64, ndarray::Ix1>(&z)
            });

            let (name, _) = TABLE_QUERIES[round % TABLE_QUERIES.len()];
            let (sql, ordered, want) = &table_refs[round % TABLE_QUERIES.len()];
            let (c, q) = (ctx.clone(), sql.clone());
            let table = Watched::start(name, &kills, move || c.sql(&q).and_then(|df| df.collect()));
            let (got, took, hit) = table.wait(&kills);
            let got = got.unwrap_or_else(|e| panic!("{name} failed under chaos: {e}"));
            compare(&got, want, *ordered)
                .unwrap_or_else(|d| panic!("{name} is wrong under chaos: {d}"));
            counts.tables += 1;
            counts.note(name, took, hit, started);

            let (v, took, hit) = array.wait(&kills);
            let v = v.unwrap_or_else(|e| panic!("the array example failed under chaos: {e}"));
            let worst = common::max_abs_diff(&v, &array_refs[which]);
            assert!(
                worst < 1e-12,
                "the array example is wrong under chaos: difference {worst}"
            );
            counts.arrays += 1;
            counts.note("array example", took, hit, started);
            round += 1;
        }
        stop.store(true, Ordering::Relaxed);
        let report = chaos_thread.join().expect("the chaos thread panicked");
        (counts, report)
    });
    let elapsed = started.elapsed();
    if let Some(e) = &report.error {
        panic!("chaos failed: {e}");
    }
    eprintln!(
        "chaos: seed {seed}: {} kills survived ({} replacements started), {} results checked \
         ({} TPC-H, {} array; {} of them ran through a kill), slowest {:.2}s, in {:.1}s",
        report.kills,
        report.started,
        counts.tables + counts.arrays,
        counts.tables,
        counts.arrays,
        counts.hit,
        counts.slowest.as_secs_f64(),
        elapsed.as_secs_f64()
    );
    assert!(
        report.kills >= 1,
        "the chaos thread never killed a worker in {elapsed:?}"
    );

    // The cluster is whole again and still computes.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let info = client.cluster_info().unwrap();
        if info.workers.len() == 3 && info.workers_lost as usize >= report.kills {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "after the chaos: {} workers, {} lost (expected 3 and {})",
            info.workers.len(),
            info.workers_lost,
            report.kills
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let x = random::<f64>(&[N, N], &[CHUNK, CHUNK], ARRAY_SEEDS[0]);
    let c = client.clone();
    let (v, _, _) = Watched::start("final array example", &kills, move || {
        c.compute::<f64, ndarray::Ix1>(&(&x + &x.t()).mean_axis(0))
    })
    .wait(&kills);
    let v = v.unwrap();
    assert!(common::max_abs_diff(&v, &array_refs[0]) < 1e-12);
}
