//! Snapshot types the observation layer hands to the HTTP server and the JSON API.
//! Plain serializable values: building one copies out of the state, reading one locks nothing.

use serde::{Deserialize, Serialize};
use tessera_core::wire::{ClientId, WorkerId};

/// One finished task run, as shown in the task stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskRun {
    /// Position in the stream (increasing, never reused).
    pub seq: u64,
    /// The task's key.
    pub key: String,
    /// Its operation group (the key's part before the first `-`).
    pub group: String,
    /// The worker that ran it.
    pub worker: WorkerId,
    /// The kernel thread on that worker.
    pub thread: u32,
    /// Start, in microseconds since the Unix epoch (0 when the worker did not say).
    pub start_us: u64,
    /// Run time in microseconds.
    pub duration_us: u64,
    /// Bytes of the result.
    pub nbytes: u64,
}

/// Task runs after a cursor, with how many were skipped to stay within the limit.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamSlice {
    /// The cursor to ask from next time (one past the last run recorded so far).
    pub next_seq: u64,
    /// Runs after the requested cursor that are not in `runs` (evicted from the ring, or
    /// older than the newest `limit`).
    pub skipped: u64,
    /// The runs, oldest first.
    pub runs: Vec<TaskRun>,
}

/// Progress of one operation group within a computation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupProgress {
    /// The group's name (`add`, `random`, ...).
    pub name: String,
    /// Tasks of this group in the computation.
    pub total: u64,
    /// Of those, computed.
    pub done: u64,
    /// Of those, erred.
    pub erred: u64,
    /// Of those, forgotten before they finished (cancelled by their client).
    pub cancelled: u64,
    /// Kernel time spent on them so far, in microseconds.
    pub busy_us: u64,
}

/// One submitted computation and how far it has got.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComputationProgress {
    /// Scheduler-wide computation number (increasing).
    pub seq: u64,
    /// The submitting client.
    pub client: ClientId,
    /// The client's submission id.
    pub submission: u64,
    /// When it was submitted, in milliseconds since the scheduler started.
    pub submitted_ms: u64,
    /// When its last task finished, if it has.
    pub finished_ms: Option<u64>,
    /// New tasks it added.
    pub total: u64,
    /// Of those, computed.
    pub done: u64,
    /// Of those, erred.
    pub erred: u64,
    /// Of those, cancelled.
    pub cancelled: u64,
    /// Whether a graph view is kept for it (see [`GraphView`]).
    pub has_graph: bool,
    /// Per operation group, in order of first appearance in the graph.
    pub groups: Vec<GroupProgress>,
}

/// A task failure as the dashboard lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorRecord {
    /// The task where it happened.
    pub key: String,
    /// Its operation group.
    pub group: String,
    /// Data address of the worker that reported it (empty when none did).
    pub worker: String,
    /// What went wrong.
    pub message: String,
    /// When, in milliseconds since the scheduler started.
    pub at_ms: u64,
}

/// One worker figure sample, taken from a heartbeat.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerSample {
    /// When, in milliseconds since the scheduler started.
    pub at_ms: u64,
    /// Resident memory of the worker process.
    pub process_memory: u64,
    /// Bytes held in its chunk store.
    pub stored_bytes: u64,
    /// Bytes it has served since start.
    pub bytes_sent: u64,
    /// Bytes it has received since start.
    pub bytes_received: u64,
}

/// The recent samples of one worker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerHistory {
    /// The worker's id.
    pub worker: WorkerId,
    /// Its data address.
    pub address: String,
    /// Samples, oldest first.
    pub samples: Vec<WorkerSample>,
}

/// A node of a small computation's graph.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GraphNode {
    /// The task's key.
    pub key: String,
    /// Its operation group.
    pub group: String,
    /// Its state now (`waiting`, `processing`, `memory`, ...; `forgotten` once dropped).
    pub state: String,
}

/// The graph of a computation small enough to draw.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GraphView {
    /// The computation.
    pub computation: u64,
    /// Its tasks, in submission order.
    pub nodes: Vec<GraphNode>,
    /// Edges `(input, dependent)` as indices into `nodes`.
    pub edges: Vec<(u32, u32)>,
}
