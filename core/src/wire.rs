//! Control-plane messages between clients, the scheduler and workers.
//! None of them carries chunk bytes: data moves only over Flight, worker to worker or client.

use crate::error::TaskError;
use crate::graph::TaskGraph;
use crate::key::TaskKey;
use crate::shuffle::{ShuffleAssignment, ShuffleSpec};
use serde::{Deserialize, Serialize};

/// Scheduler-assigned worker number, unique for the scheduler's lifetime.
pub type WorkerId = u64;
/// Scheduler-assigned client number, unique for the scheduler's lifetime.
pub type ClientId = u64;

/// What a worker sends on its session stream.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum WorkerMessage {
    /// First message of every session.
    Register(WorkerRegistration),
    /// Everything that happened since the last batch.
    Batch(Vec<WorkerEvent>),
}

/// A worker introducing itself.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkerRegistration {
    /// Address (`host:port`) of the worker's Flight data service.
    pub data_address: String,
    /// Kernel threads (size of its rayon pool).
    pub threads: u32,
    /// Memory limit in bytes.
    pub memory_limit: u64,
    /// Operating-system process id, for operators and tests.
    pub pid: u32,
    /// Human-readable name (defaults to the data address).
    pub name: String,
    /// Address (`host:port`) of the worker's Prometheus `/metrics` endpoint, empty when
    /// the worker serves none.
    #[serde(default)]
    pub metrics_address: String,
    /// Results the worker already holds, with their sizes in bytes: empty for a new
    /// worker; a worker that lost its scheduler and registers again lists its store, so
    /// that results the scheduler still tracks are not recomputed. The scheduler answers
    /// keys it does not want (unknown to a restarted scheduler, or no longer needed)
    /// with `Release`.
    #[serde(default)]
    pub held: Vec<(TaskKey, u64)>,
}

/// One thing that happened on a worker.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum WorkerEvent {
    /// A task ran and its result is stored on this worker.
    TaskFinished {
        /// The task.
        key: TaskKey,
        /// Bytes of the stored result.
        nbytes: u64,
        /// Kernel run time in microseconds.
        duration_us: u64,
        /// When the kernel started, in microseconds since the Unix epoch (0 if unknown).
        #[serde(default)]
        started_unix_us: u64,
        /// Index of the kernel thread that ran it (0 if unknown).
        #[serde(default)]
        thread: u32,
    },
    /// A task's kernel returned an error or panicked, or an input could not be had.
    TaskFailed {
        /// The task.
        key: TaskKey,
        /// What went wrong.
        message: String,
        /// True when the failure was fetching an input from a peer (the input is
        /// lost, not the task broken): the scheduler recomputes the input instead.
        missing_inputs: Vec<TaskKey>,
    },
    /// The worker gave back a queued task that the scheduler asked to steal.
    StealAnswer {
        /// The task.
        key: TaskKey,
        /// Whether the task was still queued and is now dropped here.
        stolen: bool,
    },
    /// Periodic liveness and load report.
    Heartbeat(WorkerMetrics),
    /// A shuffle task (one whose `ComputeTask` carried a [`ShuffleAssignment`]) finished
    /// for `attempt`; the scheduler ignores results of superseded attempts.
    ShuffleTaskFinished {
        /// The task.
        key: TaskKey,
        /// The shuffle attempt it ran for.
        attempt: u64,
        /// Bytes of the stored result.
        nbytes: u64,
        /// Run time in microseconds.
        duration_us: u64,
        /// When the task started, in microseconds since the Unix epoch (0 if unknown).
        #[serde(default)]
        started_unix_us: u64,
        /// Index of the kernel thread that ran it (0 if unknown).
        #[serde(default)]
        thread: u32,
    },
    /// A shuffle task could not run because the shuffle's state is broken for `attempt`
    /// (an owner unreachable, a piece missing): the scheduler restarts the shuffle.
    ShuffleTaskFailed {
        /// The task.
        key: TaskKey,
        /// The shuffle attempt it ran for.
        attempt: u64,
        /// What went wrong.
        message: String,
    },
}

/// Load and memory figures sent with each heartbeat.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkerMetrics {
    /// Resident memory of the worker process, in bytes.
    pub process_memory: u64,
    /// Bytes of chunks held in the store.
    pub stored_bytes: u64,
    /// Number of chunks held in the store.
    pub stored_chunks: u64,
    /// Tasks running on the rayon pool.
    pub executing: u32,
    /// Tasks waiting for inputs or a thread.
    pub queued: u32,
    /// Bytes served to peers and clients over Flight.
    pub bytes_sent: u64,
    /// Bytes fetched from peers plus bytes put by clients.
    pub bytes_received: u64,
    /// Tasks completed since start.
    pub tasks_done: u64,
    /// Measured peer-fetch rate in bytes per second (bytes fetched over time spent
    /// fetching, since start; 0 until the first fetch).
    pub transfer_rate: u64,
    /// Bytes of shuffle pieces held in this worker's shuffle buffers now.
    #[serde(default)]
    pub shuffle_bytes: u64,
    /// Bytes of shuffle pieces this worker has accepted into its buffers since start
    /// (from peers and from its own transfers).
    #[serde(default)]
    pub shuffle_bytes_received: u64,
    /// Bytes (as they take in memory) of stored results spilled to local disk now.
    #[serde(default)]
    pub spilled_bytes: u64,
    /// Bytes spilled to local disk since the worker started.
    #[serde(default)]
    pub spilled_bytes_total: u64,
    /// Whether the worker is paused for memory (a kernel thread waits for its resident
    /// memory to fall under the pause line): the scheduler gives it no new work.
    #[serde(default)]
    pub paused: bool,
}

/// What the scheduler sends on a worker's session stream.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum SchedulerMessage {
    /// Answer to `Register`.
    Welcome {
        /// The worker's id.
        worker_id: WorkerId,
        /// How often the worker must send a heartbeat, in milliseconds.
        heartbeat_interval_ms: u64,
        /// The scheduler's worker timeout in milliseconds: a worker silent this long is
        /// declared dead, and a worker that hears nothing from the scheduler this long
        /// (not even [`SchedulerMessage::Heartbeat`]) treats it as lost (0: never).
        #[serde(default)]
        worker_timeout_ms: u64,
    },
    /// Commands, in order.
    Batch(Vec<WorkerCommand>),
    /// The scheduler is alive: sent every heartbeat interval, so that a worker notices a
    /// frozen or unreachable scheduler whose connection stays open.
    Heartbeat,
}

/// An instruction to a worker.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum WorkerCommand {
    /// Run a task once its inputs are fetched.
    Compute(ComputeTask),
    /// Drop these stored results (no one needs them any more).
    Release(Vec<TaskKey>),
    /// Give back this task if it has not started (answer with `StealAnswer`).
    Steal(TaskKey),
    /// Drop the shuffle buffers of shuffle `id` for attempts up to `attempt`, and refuse
    /// pieces of those attempts from now on.
    ForgetShuffle {
        /// The shuffle's id.
        id: String,
        /// Highest attempt to drop.
        attempt: u64,
    },
    /// The worker serving data at `address` was declared dead: fail every fetch from it
    /// and put to it now (callers fail over to other holders or to recomputation)
    /// instead of waiting for the connection to time out.
    PeerGone {
        /// The dead worker's data address (`host:port`).
        address: String,
    },
}

/// A task assignment with everything needed to run it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ComputeTask {
    /// The task's key.
    pub key: TaskKey,
    /// The encoded op.
    #[serde(with = "serde_bytes")]
    pub op: Vec<u8>,
    /// Where each input can be fetched, in the op's input order.
    pub inputs: Vec<InputLocation>,
    /// For a task of a shuffle: its attempt and the partition owners.
    #[serde(default)]
    pub shuffle: Option<ShuffleAssignment>,
}

/// Where one input chunk lives.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InputLocation {
    /// The input's key.
    pub key: TaskKey,
    /// Data addresses of workers holding it (may include the assignee).
    pub holders: Vec<String>,
    /// Size in bytes.
    pub nbytes: u64,
}

/// What a client sends on its session stream.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ClientMessage {
    /// Submit a graph and say which keys the client wants.
    Submit(Submission),
    /// The client no longer needs these keys (one reference each).
    Release(Vec<TaskKey>),
}

/// A graph submission.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Submission {
    /// Client-chosen id echoed in the `Submitted` answer.
    pub id: u64,
    /// New tasks (keys the cluster already knows are reused, not recomputed).
    pub graph: TaskGraph,
    /// Keys whose results the client wants kept and reported (one reference each).
    pub wanted: Vec<TaskKey>,
    /// Chunks the client already put on workers over Flight.
    pub scattered: Vec<ScatteredKey>,
    /// The shuffles among the graph's tasks (see [`crate::shuffle`]).
    #[serde(default)]
    pub shuffles: Vec<ShuffleSpec>,
}

/// A chunk a client put on a worker with Flight `DoPut`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScatteredKey {
    /// The chunk's key.
    pub key: TaskKey,
    /// Data address of the worker holding it.
    pub worker: String,
    /// Size in bytes.
    pub nbytes: u64,
}

/// What the scheduler sends on a client's session stream (in batches: each stream
/// message is a `Vec<ClientEvent>`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ClientEvent {
    /// First message of the session.
    Welcome {
        /// The client's id.
        client_id: ClientId,
        /// How often the scheduler sends [`ClientEvent::Heartbeat`], in milliseconds.
        #[serde(default)]
        heartbeat_interval_ms: u64,
        /// A client that hears nothing from the scheduler this long, in milliseconds,
        /// treats it as lost (0: never). The scheduler's worker timeout.
        #[serde(default)]
        timeout_ms: u64,
    },
    /// A submission was accepted (or refused with a reason).
    Submitted {
        /// The submission's id.
        id: u64,
        /// Why it was refused, if it was.
        error: Option<String>,
    },
    /// A wanted key is computed and held by these workers.
    InMemory {
        /// The key.
        key: TaskKey,
        /// Data addresses of workers holding it.
        holders: Vec<String>,
        /// Size in bytes.
        nbytes: u64,
    },
    /// A wanted key cannot be computed.
    Erred {
        /// The key.
        key: TaskKey,
        /// The failure at the origin (which may be an input of this key).
        error: TaskError,
    },
    /// How far one of the client's submissions has got (sent at most every 100 ms while
    /// its tasks finish, and once when the last one does). Counts cover the tasks the
    /// submission added; tasks it reused from earlier computations are not included.
    Progress(SubmissionProgress),
    /// The scheduler is alive: sent every heartbeat interval, so that a client notices a
    /// frozen or unreachable scheduler whose connection stays open.
    Heartbeat,
}

/// Progress of one submission: its new tasks, finished and erred.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmissionProgress {
    /// The submission's id (as the client chose it).
    pub id: u64,
    /// Tasks the submission added to the graph.
    pub total: u64,
    /// Of those, tasks computed.
    pub done: u64,
    /// Of those, tasks erred.
    pub erred: u64,
}

/// Snapshot of the cluster, answered by the scheduler's `ClusterInfo` call.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ClusterInfo {
    /// Live workers.
    pub workers: Vec<WorkerSummary>,
    /// Bytes of control messages the scheduler has decoded since start (proof
    /// that chunk bytes never pass through it).
    pub scheduler_bytes_received: u64,
    /// Tasks the scheduler currently tracks, by state name.
    pub tasks_by_state: Vec<(String, u64)>,
    /// Tasks completed since start.
    pub tasks_completed: u64,
    /// Workers declared dead since start.
    pub workers_lost: u64,
    /// Address (`host:port`) of the scheduler's dashboard HTTP server, empty if none.
    #[serde(default)]
    pub dashboard_address: String,
}

/// One worker as the scheduler sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkerSummary {
    /// The worker's id.
    pub id: WorkerId,
    /// Its registration.
    pub registration: WorkerRegistration,
    /// Its latest heartbeat figures.
    pub metrics: WorkerMetrics,
    /// Tasks assigned to it and not yet finished.
    pub processing: u64,
    /// Keys it holds.
    pub held_keys: u64,
}

/// Empty request or answer body.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Empty {}

/// Ask which workers hold keys.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WhoHasRequest {
    /// The keys.
    pub keys: Vec<TaskKey>,
}

/// Answer to [`WhoHasRequest`]: data addresses per key, in the request's order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WhoHasResponse {
    /// Holders of each requested key (empty when no worker holds it).
    pub holders: Vec<Vec<String>>,
}
