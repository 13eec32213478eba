//! Entry points for clients: sessions, graph submission, and references to wanted keys.
//! A key stays computed while some client wants it or some pending task reads it.

use super::fx::{FxSet, KeyBuild};
use super::intake::{InputRef, Resolved};
use super::small::SmallList;
use super::task::{DepRef, State, TaskId};
use super::{ClientRecord, Outputs, SchedulerState};
use std::collections::HashMap;
use tessera_core::graph::TaskGraph;
use tessera_core::key::TaskKey;
use tessera_core::wire::{ClientEvent, ClientId, ScatteredKey, Submission};

impl SchedulerState {
    /// Open a client session; its id is never reused.
    pub fn add_client(&mut self) -> ClientId {
        let id = self.next_client;
        self.next_client += 1;
        self.clients.insert(id, ClientRecord::default());
        id
    }

    /// Client disconnected: drop all its references. Results no one needs any more are
    /// released, and tasks no one needs any more are cancelled and forgotten.
    pub fn remove_client(&mut self, id: ClientId) -> Outputs {
        let Some(rec) = self.clients.remove(&id) else {
            tracing::warn!(client = id, "remove_client: unknown client");
            return Outputs::default();
        };
        for (&t, _) in rec.wants.iter() {
            self.unwant(id, t);
        }
        self.finish_call()
    }

    /// Accept a graph and the client's wanted keys.
    ///
    /// Emits `Submitted { id, error }` to the client first; the submission is refused (and
    /// nothing changes) when the client is unknown, a scattered key names a worker that is
    /// not connected, the graph is invalid (an input neither in the graph, nor scattered,
    /// nor known to the scheduler; a duplicate key; a cycle), or a wanted key is neither in
    /// the graph nor known. Then `InMemory` / `Erred` for wanted keys that are already
    /// final, and `Compute` commands for tasks that are ready.
    pub fn submit(&mut self, client: ClientId, submission: Submission) -> Outputs {
        let Submission {
            id,
            graph,
            wanted,
            scattered,
            shuffles,
        } = submission;
        let resolved = match self.validate_submission(client, &graph, &wanted, &scattered) {
            Ok(r) => r,
            Err(msg) => {
                tracing::info!(client, submission = id, error = %msg, "submission refused");
                self.observer.refused();
                let ev = ClientEvent::Submitted {
                    id,
                    error: Some(msg),
                };
                self.out.to_clients.push((client, ev));
                return self.finish_call();
            }
        };
        self.out
            .to_clients
            .push((client, ClientEvent::Submitted { id, error: None }));

        let mut scattered_ids = Vec::with_capacity(scattered.len());
        for s in scattered {
            let Some(&w) = self.workers.by_addr.get(&s.worker) else {
                scattered_ids.push(TaskId::MAX); // validated above: cannot happen
                continue;
            };
            let t = match self.tasks.get(&s.key) {
                Some(t) => t,
                None => self.new_task(s.key, None, s.nbytes),
            };
            if self.tasks.recs[t as usize].state == State::Memory {
                self.add_holder(t, w);
            } else {
                self.accept_result(t, w, s.nbytes, None);
            }
            scattered_ids.push(t);
        }
        let lookup = |r: InputRef, ids: &[TaskId]| match r {
            InputRef::Local(j) => ids[j as usize],
            InputRef::Known(t) => t,
            InputRef::Scattered(s) => scattered_ids[s as usize],
        };

        // Insert new tasks (keeping graph order as priority), reuse known ones.
        let new_count = resolved.known.iter().filter(|k| k.is_none()).count();
        self.tasks.reserve(new_count);
        let mut ids: Vec<TaskId> = Vec::with_capacity(graph.tasks.len());
        let mut fresh: Vec<(TaskId, usize, usize)> = Vec::new();
        let mut retried = Vec::new();
        let mut at = 0;
        for (j, task) in graph.tasks.into_iter().enumerate() {
            let n_inputs = task.inputs.len();
            match resolved.known[j] {
                Some(r) => {
                    let t = lookup(r, &ids);
                    if matches!(self.tasks.recs[t as usize].state, State::Erred(_)) {
                        // Retry: an erred key submitted again is computed afresh.
                        self.set_state(t, State::Released);
                        let rec = &mut self.tasks.recs[t as usize];
                        rec.failures = 0;
                        rec.fetch_retries = 0;
                        retried.push(t);
                    }
                    self.dirty.push(t);
                    ids.push(t);
                }
                None => {
                    let op = Some(task.op.into_boxed_slice());
                    let p = self.next_priority;
                    self.next_priority += 1;
                    let t = self
                        .tasks
                        .insert_unindexed(task.key, op, task.nbytes_hint, p);
                    fresh.push((t, at, n_inputs));
                    ids.push(t);
                }
            }
            at += n_inputs;
        }
        for (j, &t) in ids.iter().enumerate() {
            if resolved.known[j].is_none() {
                self.tasks.index_hashed(resolved.hashes[j], t);
            }
        }
        let fresh_ids: Vec<TaskId> = fresh.iter().map(|f| f.0).collect();
        for (t, start, len) in fresh {
            let generation = self.tasks.recs[t as usize].generation;
            let inputs: SmallList<TaskId, 4> = resolved.inputs[start..start + len]
                .iter()
                .map(|&r| lookup(r, &ids))
                .collect();
            for &i in inputs.iter() {
                let r = &mut self.tasks.recs[i as usize];
                r.dependents.push(DepRef { id: t, generation });
                r.live_dependents += 1;
            }
            self.tasks.recs[t as usize].inputs = inputs;
            self.dirty.push(t);
        }
        self.observe_submission(client, id, &fresh_ids);
        self.register_shuffles(shuffles);
        // Retried keys that some client (maybe another one) still wants are computed again.
        for t in retried {
            if self.tasks.recs[t as usize].is_needed() {
                self.activate(t);
            }
        }

        let wanted: Vec<TaskId> = wanted.iter().filter_map(|k| self.tasks.get(k)).collect();
        let mut reported = FxSet::default();
        for &t in &wanted {
            if !reported.insert(t) {
                continue;
            }
            let rec = &self.tasks.recs[t as usize];
            let ev = match &rec.state {
                State::Memory => ClientEvent::InMemory {
                    key: rec.key.clone(),
                    holders: self.holder_addrs(t),
                    nbytes: rec.nbytes,
                },
                State::Erred(e) => ClientEvent::Erred {
                    key: rec.key.clone(),
                    error: (**e).clone(),
                },
                _ => continue,
            };
            self.out.to_clients.push((client, ev));
        }
        for &t in &wanted {
            self.want(client, t);
        }
        self.finish_call()
    }

    /// The client drops one reference to each key. Unknown keys, and keys the client does not
    /// want, are ignored.
    pub fn release(&mut self, client: ClientId, keys: Vec<TaskKey>) -> Outputs {
        for k in &keys {
            let Some(t) = self.tasks.get(k) else {
                tracing::debug!(client, key = %k, "release of an unknown key ignored");
                continue;
            };
            let Some(cr) = self.clients.get_mut(&client) else {
                tracing::warn!(client, "release from an unknown client ignored");
                break;
            };
            let Some(n) = cr.wants.get_mut(&t) else {
                continue;
            };
            *n -= 1;
            if *n == 0 {
                cr.wants.remove(&t);
                self.unwant(client, t);
            }
        }
        self.finish_call()
    }

    fn new_task(&mut self, key: TaskKey, op: Option<Box<[u8]>>, nbytes: u64) -> TaskId {
        let p = self.next_priority;
        self.next_priority += 1;
        let t = self.tasks.insert(key, op, nbytes, p);
        self.observer.unowned(t);
        t
    }

    /// Add one reference from `client` to `t`; a released task becomes needed and is computed.
    fn want(&mut self, client: ClientId, t: TaskId) {
        let Some(cr) = self.clients.get_mut(&client) else {
            return;
        };
        let n = cr.wants.entry(t).or_insert(0);
        *n += 1;
        if *n == 1 {
            self.tasks.recs[t as usize].who_wants.push(client);
        }
        if self.tasks.recs[t as usize].state == State::Released {
            self.activate(t);
        }
    }

    /// `client` no longer wants `t` at all (its record has already dropped the reference).
    fn unwant(&mut self, client: ClientId, t: TaskId) {
        let ww = &mut self.tasks.recs[t as usize].who_wants;
        if let Some(p) = ww.iter().position(|&c| c == client) {
            ww.swap_remove(p);
        }
        self.dirty.push(t);
    }

    fn validate_submission(
        &self,
        client: ClientId,
        graph: &TaskGraph,
        wanted: &[TaskKey],
        scattered: &[ScatteredKey],
    ) -> Result<Resolved, String> {
        if !self.clients.contains_key(&client) {
            return Err(format!("unknown client {client}"));
        }
        for s in scattered {
            if !self.workers.by_addr.contains_key(&s.worker) {
                return Err(format!(
                    "scattered key {} names worker {}, which is not a connected worker",
                    s.key, s.worker
                ));
            }
        }
        let scattered_keys: HashMap<&TaskKey, u32, KeyBuild> = scattered
            .iter()
            .enumerate()
            .map(|(i, s)| (&s.key, i as u32))
            .collect();
        self.resolve_graph(graph, &scattered_keys, wanted)
    }
}
