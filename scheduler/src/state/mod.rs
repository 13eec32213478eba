//! The scheduler's pure state machine: every task's state, every worker's load, and the decisions.
//! No I/O: each call takes messages in and returns the worker commands and client events to send.
//!
//! Layout: `task` and `worker` hold the records, `transitions` the task life cycle,
//! `placement` worker choice, root-task queuing and stealing, `intake` graph validation,
//! `workers_api` and `clients_api` the public entry points, `invariants` the consistency check,
//! `observe` and `observe_api` what the dashboard sees.
//!
//! Decisions worth knowing when driving it:
//! - A submitted key the scheduler already knows is reused as it is (waiting, processing,
//!   in memory, or released with lineage). A key that is *erred* and appears again in a
//!   submitted graph is retried from scratch (its failure count reset), so a computation
//!   after a transient failure can succeed; an erred key that is only *wanted* (not in the
//!   graph) is reported as erred again.
//! - `InMemory` is sent to each wanting client every time a wanted key (re)enters memory,
//!   e.g. again after it was lost with a worker and recomputed; clients should treat it as
//!   "current holders".
//! - When an input is lost, tasks that were processing on it go back to waiting without a
//!   command to their worker; a worker may therefore finish a task the scheduler has
//!   re-placed, or receive a second `Compute` for a key. Finishing twice is harmless: the
//!   key is deterministic, an extra holder is accepted, and a result nobody needs is
//!   answered with `Release`.

mod clients_api;
mod fx;
mod intake;
mod invariants;
mod key_index;
pub mod observe;
mod observe_api;
mod placement;
mod shuffle;
mod small;
mod task;
mod transitions;
mod worker;
mod workers_api;

#[cfg(test)]
mod tests;

use self::fx::FxMap;
pub use self::observe::RunTiming;
use self::task::{STATE_NAMES, State, TaskId, TaskTable, WIdx};
use self::worker::Workers;
use std::collections::{BTreeMap, HashMap};
use tessera_core::key::TaskKey;
use tessera_core::wire::{
    ClientEvent, ClientId, ClusterInfo, WorkerCommand, WorkerId, WorkerSummary,
};

/// Assumed duration of a task before any has finished (Dask uses the same half second).
const DEFAULT_TASK_US: f64 = 500_000.0;
/// Assumed transfer rate between workers before any is measured, in bytes per
/// microsecond (100 MB/s); heartbeats then carry the workers' measured rates.
const BYTES_PER_US: f64 = 100.0;
/// Longest run of consecutive root tasks reserved for one worker at a time.
const MAX_RUN: u64 = 64;
/// Times a task may fail to fetch its inputs before it is erred (guards against a livelock
/// when a holder is alive for the scheduler but unreachable for its peers).
const MAX_FETCH_RETRIES: u32 = 20;
/// Queued root work a worker is handed beyond its threads, in microseconds of estimated
/// run time: tiny tasks get more slots (a round trip per slot would idle the worker),
/// large ones stay at `root_slack` (memory is what root withholding protects).
const ROOT_WORK_TARGET_US: f64 = 2_000.0;
/// Upper bound of the adaptive root slack.
const MAX_ROOT_SLACK: usize = 256;
/// Most steal requests issued by one call.
const STEAL_BUDGET: usize = 64;
/// Saturated workers probed per thief when looking for a victim.
const VICTIM_PROBES: usize = 8;

/// Tunables of the scheduling policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchedulerConfig {
    /// A task that was processing on this many workers that died is erred.
    pub allowed_failures: u32,
    /// Root tasks handed to a worker at once: its threads plus this slack. When tasks
    /// turn out to take microseconds the slack grows (up to 256) so that about 2 ms of
    /// root work is queued per worker; it never goes below this value.
    pub root_slack: usize,
    /// Whether idle workers steal queued tasks from saturated ones.
    pub work_stealing: bool,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            allowed_failures: 3,
            root_slack: 2,
            work_stealing: true,
        }
    }
}

/// Messages produced by one transition, for the service to route.
#[derive(Default, Debug)]
pub struct Outputs {
    /// Commands for workers, in order per worker.
    pub to_workers: Vec<(WorkerId, WorkerCommand)>,
    /// Events for clients, in order per client.
    pub to_clients: Vec<(ClientId, ClientEvent)>,
}

impl Outputs {
    /// Whether there is nothing to send.
    pub fn is_empty(&self) -> bool {
        self.to_workers.is_empty() && self.to_clients.is_empty()
    }

    /// Append another batch after this one.
    pub fn extend(&mut self, other: Outputs) {
        self.to_workers.extend(other.to_workers);
        self.to_clients.extend(other.to_clients);
    }
}

/// An unanswered steal request.
#[derive(Clone, Copy, Debug)]
struct Steal {
    victim: WIdx,
    thief: WIdx,
}

/// A connected client and its references to keys.
#[derive(Debug, Default)]
struct ClientRecord {
    wants: FxMap<TaskId, u32>,
}

/// The whole scheduler state. See the module docs for the policy.
#[derive(Debug)]
pub struct SchedulerState {
    config: SchedulerConfig,
    tasks: TaskTable,
    workers: Workers,
    clients: FxMap<ClientId, ClientRecord>,
    next_client: ClientId,
    /// Root tasks not reserved by any worker, by priority.
    root_queue: BTreeMap<u64, TaskId>,
    /// Root tasks sitting in workers' reserved runs.
    reserved_total: usize,
    /// Ready tasks with inputs waiting for any worker to connect.
    no_worker: Vec<TaskId>,
    steals: FxMap<TaskId, Steal>,
    /// Tasks whose neededness may have changed; examined before each call returns.
    dirty: Vec<TaskId>,
    /// Workers with a non-empty `release_buf`.
    release_workers: Vec<WIdx>,
    out: Outputs,
    next_priority: u64,
    avg_task_us: f64,
    /// Transfer rate used for placement, bytes per microsecond: a moving average of the
    /// rates workers measure, [`BYTES_PER_US`] until the first report.
    bytes_per_us: f64,
    /// Root slack in force: `config.root_slack`, raised while tasks are tiny.
    root_slack: usize,
    tasks_completed: u64,
    workers_lost: u64,
    /// (worker address, what happened) while results are being lost, for error messages.
    loss_context: Option<(String, String)>,
    // Scratch space reused by placement to avoid allocating per decision.
    mark: Vec<u32>,
    local_bytes: Vec<u64>,
    epoch: u32,
    touched: Vec<WIdx>,
    scratch_deps: Vec<TaskId>,
    scratch_workers: Vec<WIdx>,
    /// Shuffles by internal id (see [`shuffle`]).
    shuffles: FxMap<u32, shuffle::ShuffleRecord>,
    /// Internal shuffle id by the client's shuffle id.
    shuffle_ids: HashMap<String, u32>,
    next_shuffle: u32,
    /// Shuffles to restart before the current call returns.
    restart_queue: Vec<u32>,
    /// What the dashboard shows (see [`observe`]).
    observer: observe::Observer,
}

impl SchedulerState {
    /// An empty scheduler.
    pub fn new(config: SchedulerConfig) -> Self {
        let root_slack = config.root_slack;
        SchedulerState {
            config,
            tasks: TaskTable::default(),
            workers: Workers::default(),
            clients: FxMap::default(),
            next_client: 1,
            root_queue: BTreeMap::new(),
            reserved_total: 0,
            no_worker: Vec::new(),
            steals: FxMap::default(),
            dirty: Vec::new(),
            release_workers: Vec::new(),
            out: Outputs::default(),
            next_priority: 0,
            avg_task_us: DEFAULT_TASK_US,
            bytes_per_us: BYTES_PER_US,
            root_slack,
            tasks_completed: 0,
            workers_lost: 0,
            loss_context: None,
            mark: Vec::new(),
            local_bytes: Vec::new(),
            epoch: 0,
            touched: Vec::new(),
            scratch_deps: Vec::new(),
            scratch_workers: Vec::new(),
            shuffles: FxMap::default(),
            shuffle_ids: HashMap::new(),
            next_shuffle: 0,
            restart_queue: Vec::new(),
            observer: observe::Observer::default(),
        }
    }

    /// The policy in force.
    pub fn config(&self) -> &SchedulerConfig {
        &self.config
    }

    /// Data addresses of the workers holding each key (empty when not in memory or unknown).
    pub fn who_has(&self, keys: &[TaskKey]) -> Vec<Vec<String>> {
        keys.iter()
            .map(|k| match self.tasks.get(k) {
                Some(t) => self.holder_addrs(t),
                None => Vec::new(),
            })
            .collect()
    }

    /// Everything in `ClusterInfo` except `scheduler_bytes_received` (left 0 for the service).
    pub fn cluster_info(&self) -> ClusterInfo {
        let workers = self
            .workers
            .slots
            .iter()
            .enumerate()
            .filter_map(|(w, slot)| {
                slot.as_ref().map(|r| WorkerSummary {
                    id: w as WorkerId,
                    registration: r.reg.clone(),
                    metrics: r.metrics.clone(),
                    processing: r.processing.len() as u64,
                    held_keys: r.has_what.len() as u64,
                })
            })
            .collect();
        let tasks_by_state = STATE_NAMES
            .iter()
            .enumerate()
            .skip(1) // "free" slots are not tasks
            .map(|(i, name)| ((*name).to_string(), self.tasks.counts[i]))
            .collect();
        ClusterInfo {
            workers,
            scheduler_bytes_received: 0,
            tasks_by_state,
            tasks_completed: self.tasks_completed,
            workers_lost: self.workers_lost,
            dashboard_address: String::new(),
        }
    }

    /// Data address of a live worker.
    pub fn data_address(&self, id: WorkerId) -> Option<&str> {
        let w = self.workers.slot_of(id)?;
        Some(self.workers.addr(w))
    }

    /// Number of tasks the scheduler tracks (all states).
    pub fn task_count(&self) -> usize {
        self.tasks.live_count()
    }

    /// Data addresses of a task's holders.
    fn holder_addrs(&self, t: TaskId) -> Vec<String> {
        self.tasks.recs[t as usize]
            .holders
            .as_slice()
            .iter()
            .map(|&h| self.workers.addr(h).to_string())
            .collect()
    }

    /// Finish a public call: settle consequences and hand over the accumulated messages.
    fn finish_call(&mut self) -> Outputs {
        self.run_queued_restarts();
        self.drain_dirty();
        self.fill_roots();
        self.balance();
        self.flush_releases();
        self.emit_progress();
        std::mem::take(&mut self.out)
    }

    /// Turn the per-worker release buffers into one `Release` command each.
    fn flush_releases(&mut self) {
        for w in std::mem::take(&mut self.release_workers) {
            if let Some(rec) = self.workers.get_mut(w)
                && !rec.release_buf.is_empty()
            {
                let keys = std::mem::take(&mut rec.release_buf);
                self.out
                    .to_workers
                    .push((WorkerId::from(w), WorkerCommand::Release(keys)));
            }
        }
    }

    /// Name of a task's state (for tests and diagnostics).
    pub fn state_name(&self, key: &TaskKey) -> Option<&'static str> {
        let t = self.tasks.get(key)?;
        Some(STATE_NAMES[self.tasks.recs[t as usize].state.idx()])
    }

    /// Whether a key is in memory somewhere.
    pub fn is_in_memory(&self, key: &TaskKey) -> bool {
        self.tasks
            .get(key)
            .is_some_and(|t| self.tasks.recs[t as usize].state == State::Memory)
    }
}
