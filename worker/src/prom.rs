//! The worker's Prometheus metrics: a per-operation task-duration histogram recorded as
//! kernels finish, and gauges and counters read from the worker's own counters at scrape time.

use crate::metrics::{Counters, process_memory};
use crate::shuffle::ShuffleBuffers;
use crate::store::ChunkStore;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tessera_core::key::TaskKey;

type OpLabels = Vec<(String, String)>;
type DurationFamily = Family<OpLabels, Histogram, fn() -> Histogram>;

fn new_histogram() -> Histogram {
    // 1 µs .. ~4 s in factors of 4.
    Histogram::new(exponential_buckets(1e-6, 4.0, 12))
}

/// Task durations by operation group, for the whole process (one worker per process).
fn durations() -> &'static DurationFamily {
    static FAMILY: OnceLock<DurationFamily> = OnceLock::new();
    FAMILY.get_or_init(|| Family::new_with_constructor(new_histogram as fn() -> Histogram))
}

/// Record that a task's kernel ran for `elapsed` (called by the executor).
pub fn task_ran(key: &TaskKey, elapsed: Duration) {
    durations()
        .get_or_create(&vec![("op".to_string(), key.group().to_string())])
        .observe(elapsed.as_secs_f64());
}

/// What the worker's `/metrics` reads.
#[derive(Clone)]
pub struct WorkerGauges {
    /// Task and transfer counters.
    pub counters: Arc<Counters>,
    /// The chunk store.
    pub store: Arc<ChunkStore>,
    /// Shuffle buffers.
    pub shuffles: Arc<ShuffleBuffers>,
    /// Memory limit in bytes.
    pub memory_limit: u64,
}

fn gauge(r: &mut Registry, name: &str, help: &str, value: u64) {
    let g: Gauge = Gauge::default();
    g.set(value.min(i64::MAX as u64) as i64);
    r.register(name, help, g);
}

fn counter(r: &mut Registry, name: &str, help: &str, value: u64) {
    let c: Counter = Counter::default();
    c.inc_by(value);
    r.register(name, help, c);
}

/// Encode the worker's metrics now, in OpenMetrics text.
pub fn render(g: &WorkerGauges) -> Result<String, std::fmt::Error> {
    let c = &g.counters;
    let mut r = Registry::with_prefix("tessera_worker");
    gauge(
        &mut r,
        "process_memory_bytes",
        "Resident memory of the worker process",
        process_memory(),
    );
    gauge(
        &mut r,
        "memory_limit_bytes",
        "The worker's memory limit",
        g.memory_limit,
    );
    gauge(
        &mut r,
        "stored_bytes",
        "Bytes of results held in memory by the store",
        g.store.bytes(),
    );
    gauge(
        &mut r,
        "spilled_bytes",
        "Bytes (in memory terms) of stored results spilled to local disk now",
        g.store.spilled_bytes(),
    );
    gauge(
        &mut r,
        "stored_chunks",
        "Chunks held in the store",
        g.store.len() as u64,
    );
    gauge(
        &mut r,
        "shuffle_buffer_bytes",
        "Bytes held in shuffle buffers",
        g.shuffles.bytes(),
    );
    gauge(
        &mut r,
        "tasks_executing",
        "Tasks running on the kernel pool",
        Counters::get(&c.executing),
    );
    gauge(
        &mut r,
        "tasks_queued",
        "Tasks waiting for inputs or a thread",
        Counters::get(&c.queued),
    );
    gauge(
        &mut r,
        "transfer_rate_bytes_per_second",
        "Measured peer-fetch rate",
        c.transfer_rate(),
    );
    counter(
        &mut r,
        "spill_written_bytes",
        "Bytes spilled to local disk since start",
        g.store.spilled_total(),
    );
    counter(
        &mut r,
        "tasks_executed",
        "Tasks completed since start",
        Counters::get(&c.tasks_done),
    );
    counter(
        &mut r,
        "sent_bytes",
        "Bytes served to peers and clients",
        Counters::get(&c.bytes_sent),
    );
    counter(
        &mut r,
        "received_bytes",
        "Bytes fetched from peers or put by clients",
        Counters::get(&c.bytes_received),
    );
    counter(
        &mut r,
        "shuffle_received_bytes",
        "Bytes of shuffle pieces accepted",
        g.shuffles.received(),
    );
    r.register(
        "task_duration_seconds",
        "Kernel run time per task, by operation group",
        durations().clone(),
    );
    let mut out = String::new();
    encode(&mut out, &r)?;
    Ok(out)
}
