//! What the scheduler observes for the dashboard: task runs, progress per computation and
//! group, errors and worker samples, kept in bounded buffers inside the pure state machine.
//!
//! Everything here is fed by [`super::SchedulerState`] as transitions happen and costs O(1)
//! per event (amortized); snapshots for the HTTP layer are built by `observe_api` on demand,
//! so a 100,000-task graph costs the dashboard nothing until someone looks.

mod progress;
mod stream;
pub mod views;

use self::progress::{Computation, Computations, SmallGraph};
use self::stream::{RunRecord, TaskStream};

use super::task::TaskId;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use tessera_core::key::TaskKey;
use tessera_core::wire::{ClientId, SubmissionProgress, WorkerId, WorkerMetrics};

pub use self::views::*;

/// A kept graph: its computation number, task keys, and edges as key indices.
pub(crate) type KeptGraph<'a> = (u64, &'a [TaskKey], &'a [(u32, u32)]);

/// Task runs kept for the task stream and performance reports.
pub const STREAM_CAPACITY: usize = 100_000;
/// Errors kept.
pub const ERROR_CAPACITY: usize = 100;
/// Samples kept per worker (at the default 500 ms heartbeat, ten minutes).
pub const SAMPLE_CAPACITY: usize = 1_200;
/// Least time between two samples of one worker, in milliseconds.
const SAMPLE_EVERY_MS: u64 = 200;
/// Least time between two progress events for one computation, in milliseconds.
pub const PROGRESS_EVERY_MS: u64 = 100;
/// Largest computation whose graph is kept for drawing.
pub const GRAPH_LIMIT: usize = 500;

const NONE: u32 = u32::MAX;
const COUNTED: u8 = 1;

/// What is known of one task slot: its computation, group and whether it was counted.
#[derive(Clone, Copy, Debug)]
struct TaskObs {
    comp: u32,
    slot: u32,
    group: u32,
    flags: u8,
}

const EMPTY: TaskObs = TaskObs {
    comp: NONE,
    slot: NONE,
    group: NONE,
    flags: 0,
};

/// Recent figures of one worker.
#[derive(Debug)]
struct History {
    address: String,
    samples: VecDeque<WorkerSample>,
}

/// How a worker says a run went: when it started, on which thread, for how long.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunTiming {
    /// Start in microseconds since the Unix epoch (0 when unknown).
    pub started_unix_us: u64,
    /// Kernel thread index.
    pub thread: u32,
    /// Run time in microseconds.
    pub duration_us: u64,
}

/// Whole-run counters, for `/metrics`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ObservedTotals {
    /// Graph submissions accepted.
    pub submissions: u64,
    /// Submissions refused.
    pub refused: u64,
    /// Task runs reported by workers (a recomputed task counts each time).
    pub runs: u64,
    /// Tasks erred (including dependents of a failed task).
    pub erred: u64,
}

/// The observation buffers. See the module docs.
#[derive(Debug)]
pub struct Observer {
    now_ms: u64,
    groups: Vec<Arc<str>>,
    group_ids: HashMap<Arc<str>, u32>,
    stream: TaskStream,
    comps: Computations,
    tasks: Vec<TaskObs>,
    errors: VecDeque<ErrorRecord>,
    history: BTreeMap<WorkerId, History>,
    dirty: Vec<u64>,
    totals: ObservedTotals,
}

impl Default for Observer {
    fn default() -> Self {
        Observer::new(STREAM_CAPACITY)
    }
}

impl Observer {
    /// Empty buffers; the task stream keeps `stream_capacity` runs.
    pub fn new(stream_capacity: usize) -> Self {
        Observer {
            now_ms: 0,
            groups: Vec::new(),
            group_ids: HashMap::new(),
            stream: TaskStream::new(stream_capacity),
            comps: Computations::default(),
            tasks: Vec::new(),
            errors: VecDeque::new(),
            history: BTreeMap::new(),
            dirty: Vec::new(),
            totals: ObservedTotals::default(),
        }
    }

    /// Advance the clock (milliseconds since the scheduler started; never goes back).
    pub fn tick(&mut self, now_ms: u64) {
        self.now_ms = self.now_ms.max(now_ms);
    }

    /// The latest clock reading.
    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    /// Whole-run counters.
    pub fn totals(&self) -> ObservedTotals {
        self.totals
    }

    /// Interned id of a key's group.
    fn group_of(&mut self, key: &TaskKey) -> u32 {
        let name = key.group();
        if let Some(&g) = self.group_ids.get(name) {
            return g;
        }
        let name: Arc<str> = name.into();
        let g = self.groups.len() as u32;
        self.groups.push(name.clone());
        self.group_ids.insert(name, g);
        g
    }

    /// Name of an interned group.
    pub(crate) fn group_name(&self, g: u32) -> String {
        self.groups
            .get(g as usize)
            .map_or_else(String::new, |s| s.to_string())
    }

    fn obs_mut(&mut self, t: TaskId) -> &mut TaskObs {
        let i = t as usize;
        if self.tasks.len() <= i {
            self.tasks.resize(i + 1, EMPTY);
        }
        &mut self.tasks[i]
    }

    /// A refused submission.
    pub fn refused(&mut self) {
        self.totals.refused += 1;
    }

    /// An accepted submission that added `fresh` tasks (`graph` when small enough to
    /// draw); returns its computation number.
    pub fn submitted(
        &mut self,
        client: ClientId,
        submission: u64,
        fresh: &[(TaskId, TaskKey)],
        graph: Option<Vec<(u32, u32)>>,
    ) -> u64 {
        self.totals.submissions += 1;
        let seq = self.comps.next_seq();
        let mut comp = Computation {
            seq,
            client,
            submission,
            submitted_ms: self.now_ms,
            ..Default::default()
        };
        let mut last: Option<(u32, u32)> = None; // (group, slot) of the previous task
        for (t, key) in fresh {
            let g = match last {
                Some((g, _)) if &*self.groups[g as usize] == key.group() => g,
                _ => self.group_of(key),
            };
            let slot = match last {
                Some((lg, ls)) if lg == g => ls,
                _ => comp.group_slot(g),
            };
            last = Some((g, slot));
            comp.groups[slot as usize].total += 1;
            *self.obs_mut(*t) = TaskObs {
                comp: seq as u32,
                slot,
                group: g,
                flags: 0,
            };
        }
        if let Some(edges) = graph.filter(|_| fresh.len() <= GRAPH_LIMIT) {
            comp.graph = Some(SmallGraph {
                keys: fresh.iter().map(|(_, k)| k.clone()).collect(),
                edges,
            });
        }
        if fresh.is_empty() {
            comp.finished_ms = Some(self.now_ms);
        }
        self.comps.push(comp);
        seq
    }

    /// A task slot was (re)used for a task that belongs to no computation (scattered data).
    pub fn unowned(&mut self, t: TaskId) {
        *self.obs_mut(t) = EMPTY;
    }

    /// The computation a task belongs to, if it is still kept, with the task's group slot.
    fn owner(&mut self, t: TaskId) -> Option<(&mut Computation, usize, &mut TaskObs)> {
        let o = self.tasks.get_mut(t as usize)?;
        if o.comp == NONE {
            return None;
        }
        let comp = self.comps.get_mut(u64::from(o.comp))?;
        Some((comp, o.slot as usize, o))
    }

    fn mark_dirty(&mut self, seq: u64) {
        if let Some(c) = self.comps.get_mut(seq)
            && !c.dirty
        {
            c.dirty = true;
            self.dirty.push(seq);
        }
    }

    /// A run that a worker reported and the scheduler accepted.
    pub fn finished(
        &mut self,
        t: TaskId,
        key: &TaskKey,
        worker: WorkerId,
        timing: RunTiming,
        nbytes: u64,
    ) {
        let duration_us = timing.duration_us;
        self.totals.runs += 1;
        let now = self.now_ms;
        let mut group = self.tasks.get(t as usize).map_or(NONE, |o| o.group);
        let mut dirty = None;
        if let Some((comp, slot, o)) = self.owner(t) {
            let g = &mut comp.groups[slot];
            g.busy_us += duration_us;
            if o.flags & COUNTED == 0 {
                o.flags |= COUNTED;
                g.done += 1;
                if comp.is_complete() {
                    comp.finished_ms = Some(now);
                }
                dirty = Some(comp.seq);
            }
        }
        if let Some(seq) = dirty {
            self.mark_dirty(seq);
        }
        if group == NONE {
            group = self.group_of(key);
        }
        self.stream.push(RunRecord {
            key: key.clone(),
            group,
            worker,
            thread: timing.thread,
            start_us: timing.started_unix_us,
            duration_us,
            nbytes,
        });
    }

    /// A task entered the erred state.
    pub fn erred(&mut self, t: TaskId) {
        self.totals.erred += 1;
        self.settle(t, |g| g.erred += 1);
    }

    /// A task slot was freed; a task that never finished counts as cancelled.
    pub fn forgotten(&mut self, t: TaskId) {
        self.settle(t, |g| g.cancelled += 1);
        if let Some(o) = self.tasks.get_mut(t as usize) {
            *o = EMPTY;
        }
    }

    fn settle(&mut self, t: TaskId, count: impl FnOnce(&mut progress::GroupCounts)) {
        let now = self.now_ms;
        let mut dirty = None;
        if let Some((comp, slot, o)) = self.owner(t)
            && o.flags & COUNTED == 0
        {
            o.flags |= COUNTED;
            count(&mut comp.groups[slot]);
            if comp.is_complete() {
                comp.finished_ms = Some(now);
            }
            dirty = Some(comp.seq);
        }
        if let Some(seq) = dirty {
            self.mark_dirty(seq);
        }
    }

    /// A failure at its origin (dependents erred with it are not listed again).
    pub fn error(&mut self, key: &TaskKey, worker: &str, message: &str) {
        if self.errors.len() == ERROR_CAPACITY {
            self.errors.pop_front();
        }
        self.errors.push_back(ErrorRecord {
            key: key.to_string(),
            group: key.group().to_string(),
            worker: worker.to_string(),
            message: message.to_string(),
            at_ms: self.now_ms,
        });
    }

    /// A heartbeat's figures.
    pub fn heartbeat(&mut self, worker: WorkerId, address: &str, m: &WorkerMetrics) {
        let now = self.now_ms;
        let h = self.history.entry(worker).or_insert_with(|| History {
            address: address.to_string(),
            samples: VecDeque::new(),
        });
        if h.samples
            .back()
            .is_some_and(|s| now.saturating_sub(s.at_ms) < SAMPLE_EVERY_MS)
        {
            return;
        }
        if h.samples.len() == SAMPLE_CAPACITY {
            h.samples.pop_front();
        }
        h.samples.push_back(WorkerSample {
            at_ms: now,
            process_memory: m.process_memory,
            stored_bytes: m.stored_bytes,
            bytes_sent: m.bytes_sent,
            bytes_received: m.bytes_received,
        });
    }

    /// Progress events due now: computations with news whose last event is at least
    /// [`PROGRESS_EVERY_MS`] old, or that just completed.
    pub fn due_progress(&mut self) -> Vec<(ClientId, SubmissionProgress)> {
        if self.dirty.is_empty() {
            return Vec::new();
        }
        let now = self.now_ms;
        let mut out = Vec::new();
        let mut still = Vec::new();
        for seq in std::mem::take(&mut self.dirty) {
            let Some(c) = self.comps.get_mut(seq) else {
                continue;
            };
            let due = c.finished_ms.is_some()
                || c.sent_ms
                    .is_none_or(|s| now.saturating_sub(s) >= PROGRESS_EVERY_MS);
            if due {
                c.dirty = false;
                c.sent_ms = Some(now);
                out.push((c.client, c.client_progress()));
            } else {
                still.push(seq);
            }
        }
        self.dirty = still;
        self.comps.trim();
        out
    }

    /// Task runs with sequence number `>= since`, at most the newest `limit`.
    pub fn stream_since(&self, since: u64, limit: usize) -> StreamSlice {
        self.stream.since(since, limit, |g| self.group_name(g))
    }

    /// At most `limit` runs after `since`, spread evenly over them (the live view).
    pub fn stream_sample(&self, since: u64, limit: usize) -> StreamSlice {
        self.stream
            .sample_since(since, limit, |g| self.group_name(g))
    }

    /// The computations kept, oldest first, the newest `limit`.
    pub fn computations(&self, limit: usize) -> Vec<ComputationProgress> {
        let name = |g: u32| self.group_name(g);
        let mut v: Vec<_> = self
            .comps
            .iter()
            .rev()
            .take(limit)
            .map(|c| c.view(&name))
            .collect();
        v.reverse();
        v
    }

    /// Recent errors, oldest first.
    pub fn errors(&self) -> Vec<ErrorRecord> {
        self.errors.iter().cloned().collect()
    }

    /// Recent samples of every worker seen, by worker id.
    pub fn histories(&self) -> Vec<WorkerHistory> {
        self.history
            .iter()
            .map(|(&worker, h)| WorkerHistory {
                worker,
                address: h.address.clone(),
                samples: h.samples.iter().copied().collect(),
            })
            .collect()
    }

    /// The kept graph of computation `seq` (the newest one with a graph when `None`):
    /// its number, keys and edges.
    pub(crate) fn graph(&self, seq: Option<u64>) -> Option<KeptGraph<'_>> {
        let c = match seq {
            Some(s) => self.comps.get(s)?,
            None => self.comps.iter().rev().find(|c| c.graph.is_some())?,
        };
        let g = c.graph.as_ref()?;
        Some((c.seq, &g.keys, &g.edges))
    }

    /// A worker left. Its samples stay for performance reports, unless histories of more
    /// than 1,024 workers are kept (a churning cluster), when they are dropped.
    pub fn worker_removed(&mut self, worker: WorkerId) {
        if self.history.len() > 1024 {
            self.history.remove(&worker);
        }
    }

    /// Computations kept (for tests of trimming).
    #[cfg(test)]
    pub(crate) fn computation_count(&self) -> usize {
        self.comps.iter().count()
    }
}
