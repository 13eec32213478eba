//! Graph intake: one pass that validates a submitted graph (as `TaskGraph::validate` would) and
//! resolves every key and input to an id, so that inserting the graph needs no second lookup.

use super::SchedulerState;
use super::fx::KeyBuild;
use super::key_index::HashIndex;
use super::task::TaskId;
use std::collections::HashMap;
use tessera_core::graph::TaskGraph;
use tessera_core::key::TaskKey;

/// Where one input of a submitted task is.
#[derive(Clone, Copy, Debug)]
pub(super) enum InputRef {
    /// Another task of the same graph, by position.
    Local(u32),
    /// A task the scheduler already knows.
    Known(TaskId),
    /// A key scattered with this submission, by position in its scattered list (known once
    /// the scattered keys are inserted).
    Scattered(u32),
}

/// A validated graph, resolved against the scheduler's tasks.
#[derive(Debug)]
pub(super) struct Resolved {
    /// For each graph task, where its key already is (`Known` or `Scattered`), or `None` when new.
    pub known: Vec<Option<InputRef>>,
    /// Inputs of all graph tasks, concatenated in graph order.
    pub inputs: Vec<InputRef>,
    /// Each graph task's key hash in the task index.
    pub hashes: Vec<u64>,
}

impl SchedulerState {
    /// Check that keys are unique, that every input (and every wanted key) is in the graph,
    /// scattered, or known to the scheduler, and that the graph has no cycle; resolve keys
    /// and inputs on the way.
    pub(super) fn resolve_graph(
        &self,
        graph: &TaskGraph,
        scattered: &HashMap<&TaskKey, u32, KeyBuild>,
        wanted: &[TaskKey],
    ) -> Result<Resolved, String> {
        // Phases keep each loop small so the CPU overlaps the hash-table cache misses.
        let n = graph.tasks.len();
        let index = &self.tasks.index;
        let hashes: Vec<u64> = graph.tasks.iter().map(|t| index.hash(&t.key)).collect();
        let mut local: HashIndex<&TaskKey> = HashIndex::with_build(index.build());
        local.reserve(n);
        let key_of = |j: u32| &graph.tasks[j as usize].key;
        for (i, (t, &h)) in graph.tasks.iter().zip(&hashes).enumerate() {
            if local
                .try_insert_hashed(h, &t.key, i as u32, key_of)
                .is_err()
            {
                return Err(format!("graph holds key {} twice", t.key));
            }
        }
        let known: Vec<Option<InputRef>> = if self.tasks.index.is_empty() && scattered.is_empty() {
            vec![None; n]
        } else {
            graph
                .tasks
                .iter()
                .zip(&hashes)
                .map(|(t, &h)| match self.tasks.get_hashed(h, &t.key) {
                    Some(id) => Some(InputRef::Known(id)),
                    None => scattered.get(&t.key).map(|&s| InputRef::Scattered(s)),
                })
                .collect()
        };
        let input_hashes: Vec<u64> = graph
            .tasks
            .iter()
            .flat_map(|t| t.inputs.iter())
            .map(|k| index.hash(k))
            .collect();
        let mut inputs = Vec::with_capacity(input_hashes.len());
        let mut topological = true;
        let mut at = 0;
        for (i, t) in graph.tasks.iter().enumerate() {
            for k in &t.inputs {
                let h = input_hashes[at];
                at += 1;
                let r = if let Some(j) = local.get_hashed(h, k, key_of) {
                    topological &= (j as usize) < i;
                    InputRef::Local(j)
                } else if let Some(id) = self.tasks.get_hashed(h, k) {
                    InputRef::Known(id)
                } else if let Some(&s) = scattered.get(k) {
                    InputRef::Scattered(s)
                } else {
                    return Err(format!(
                        "task {} reads {}, which is neither in the graph nor held by the cluster",
                        t.key, k
                    ));
                };
                inputs.push(r);
            }
        }
        for k in wanted {
            let h = index.hash(k);
            if local.get_hashed(h, k, key_of).is_none()
                && self.tasks.get_hashed(h, k).is_none()
                && !scattered.contains_key(k)
            {
                return Err(format!(
                    "wanted key {k} is neither in the graph nor known to the scheduler"
                ));
            }
        }
        if !topological && has_cycle(graph, &inputs) {
            return Err("graph has a cycle".to_string());
        }
        Ok(Resolved {
            known,
            inputs,
            hashes,
        })
    }
}

/// Kahn's algorithm over the graph-local edges (only needed when tasks are not listed
/// inputs-first).
fn has_cycle(graph: &TaskGraph, inputs: &[InputRef]) -> bool {
    let n = graph.tasks.len();
    let mut pending = vec![0u32; n];
    let mut dependents: Vec<Vec<u32>> = vec![Vec::new(); n];
    let mut at = 0;
    for (i, t) in graph.tasks.iter().enumerate() {
        for r in &inputs[at..at + t.inputs.len()] {
            if let InputRef::Local(j) = *r {
                pending[i] += 1;
                dependents[j as usize].push(i as u32);
            }
        }
        at += t.inputs.len();
    }
    let mut ready: Vec<u32> = (0..n as u32)
        .filter(|&i| pending[i as usize] == 0)
        .collect();
    let mut done = 0;
    while let Some(i) = ready.pop() {
        done += 1;
        for &d in &dependents[i as usize] {
            pending[d as usize] -= 1;
            if pending[d as usize] == 0 {
                ready.push(d);
            }
        }
    }
    done != n
}
