//! The state machine's side of observation: feeding the [`Observer`] from transitions, and
//! the read-only snapshots (task stream, progress, errors, samples, graphs) the HTTP layer serves.

use super::SchedulerState;
use super::observe::{
    ComputationProgress, ErrorRecord, GRAPH_LIMIT, GraphNode, GraphView, ObservedTotals, Observer,
    RunTiming, StreamSlice, WorkerHistory,
};
use super::task::{TaskId, WIdx};
use tessera_core::key::TaskKey;
use tessera_core::wire::{ClientEvent, ClientId, WorkerId};

impl SchedulerState {
    /// Advance the observation clock (milliseconds since the scheduler started). The
    /// service calls it before feeding client messages, which carry no time.
    pub fn observe_tick(&mut self, now_ms: u64) {
        self.observer.tick(now_ms);
    }

    /// The observation buffers (read-only).
    pub fn observer(&self) -> &Observer {
        &self.observer
    }

    /// Whole-run counters of submissions, runs and errors.
    pub fn observed_totals(&self) -> ObservedTotals {
        self.observer.totals()
    }

    /// Task runs from cursor `since`, at most the newest `limit`.
    pub fn task_stream(&self, since: u64, limit: usize) -> StreamSlice {
        self.observer.stream_since(since, limit)
    }

    /// At most `limit` task runs after `since`, spread evenly over them (the dashboard's
    /// live task stream, which cannot draw every run of a fast computation).
    pub fn task_stream_sample(&self, since: u64, limit: usize) -> StreamSlice {
        self.observer.stream_sample(since, limit)
    }

    /// Progress of the newest `limit` computations, oldest first.
    pub fn progress(&self, limit: usize) -> Vec<ComputationProgress> {
        self.observer.computations(limit)
    }

    /// Recent task errors, oldest first.
    pub fn recent_errors(&self) -> Vec<ErrorRecord> {
        self.observer.errors()
    }

    /// Recent memory and transfer samples per worker.
    pub fn worker_history(&self) -> Vec<WorkerHistory> {
        self.observer.histories()
    }

    /// The graph of computation `seq` (the newest drawable one when `None`), with each
    /// task's current state; `None` when that computation was too large to keep.
    pub fn graph_view(&self, seq: Option<u64>) -> Option<GraphView> {
        let (computation, keys, edges) = self.observer.graph(seq)?;
        let nodes = keys
            .iter()
            .map(|k| GraphNode {
                key: k.to_string(),
                group: k.group().to_string(),
                state: self.state_name(k).unwrap_or("forgotten").to_string(),
            })
            .collect();
        Some(GraphView {
            computation,
            nodes,
            edges: edges.to_vec(),
        })
    }

    /// Record an accepted submission of `fresh` new tasks (their inputs already linked).
    pub(super) fn observe_submission(&mut self, client: ClientId, id: u64, fresh: &[TaskId]) {
        let graph = (fresh.len() <= GRAPH_LIMIT).then(|| {
            let node: std::collections::HashMap<TaskId, u32> = fresh
                .iter()
                .enumerate()
                .map(|(i, &t)| (t, i as u32))
                .collect();
            let mut edges = Vec::new();
            for (j, &t) in fresh.iter().enumerate() {
                for &i in self.tasks.recs[t as usize].inputs.iter() {
                    if let Some(&n) = node.get(&i) {
                        edges.push((n, j as u32));
                    }
                }
            }
            edges
        });
        let keyed: Vec<(TaskId, TaskKey)> = fresh
            .iter()
            .map(|&t| (t, self.tasks.recs[t as usize].key.clone()))
            .collect();
        self.observer.submitted(client, id, &keyed, graph);
    }

    /// Record a run the scheduler accepted.
    pub(super) fn observe_run(&mut self, t: TaskId, w: WIdx, nbytes: u64, timing: RunTiming) {
        let key = self.tasks.recs[t as usize].key.clone();
        self.observer
            .finished(t, &key, WorkerId::from(w), timing, nbytes);
    }

    /// Queue the progress events that are due for connected clients.
    pub(super) fn emit_progress(&mut self) {
        for (client, p) in self.observer.due_progress() {
            if self.clients.contains_key(&client) {
                self.out.to_clients.push((client, ClientEvent::Progress(p)));
            }
        }
    }
}
