//! Entry points for workers: registration, death and expiry, and the events they report
//! (finished and failed tasks, steal answers, heartbeats).

use super::task::{State, TaskId, WIdx};
use super::worker::WorkerRecord;
use super::{MAX_FETCH_RETRIES, Outputs, RunTiming, SchedulerState};
use std::sync::Arc;
use tessera_core::error::TaskError;
use tessera_core::key::TaskKey;
use tessera_core::wire::{WorkerCommand, WorkerEvent, WorkerId, WorkerRegistration};

impl SchedulerState {
    /// Register a worker. A live worker with the same data address is removed first (the
    /// address can only be bound by one process, so the old one is gone). Results the
    /// worker says it holds (`reg.held`, after it lost its scheduler) are adopted where
    /// they are still useful (see `adopt_held`) and released on the worker
    /// otherwise. Tasks waiting for any worker and queued root tasks are placed at once.
    pub fn add_worker(&mut self, mut reg: WorkerRegistration, now_ms: u64) -> (WorkerId, Outputs) {
        self.observer.tick(now_ms);
        let mut out = Outputs::default();
        if let Some(&old) = self.workers.by_addr.get(&reg.data_address) {
            tracing::warn!(address = %reg.data_address, old, "worker re-registered; removing the old one");
            out = self.remove_worker(
                WorkerId::from(old),
                "a new worker registered with the same data address",
            );
        }
        // The held list is consumed here, not kept (or shown) with the registration.
        let held = std::mem::take(&mut reg.held);
        let w = self
            .workers
            .add(WorkerRecord::new(reg, now_ms), self.root_slack);
        let slots = self.workers.slots.len();
        self.mark.resize(slots, 0);
        self.local_bytes.resize(slots, 0);
        self.adopt_held(w, held);
        for t in std::mem::take(&mut self.no_worker) {
            self.tasks.recs[t as usize].pos = u32::MAX;
            self.make_ready(t);
        }
        out.extend(self.finish_call());
        (WorkerId::from(w), out)
    }

    /// Take the results a (re)registering worker holds. Its list is a snapshot taken for
    /// this new session, after every command of its old one, so it can be trusted as it is:
    /// - a key in memory elsewhere gains this worker as one more holder;
    /// - a key being recomputed (lost with this worker when it was declared dead, so
    ///   waiting, queued or processing again) is in memory here now: the key is
    ///   deterministic, so the held copy is the result, as a late `TaskFinished` would be;
    /// - anything else is released on the worker: keys a restarted scheduler never heard
    ///   of, keys no one needs any more (released, erred, forgotten), and results of shuffle
    ///   tasks that are not in memory (their attempt may have been superseded).
    fn adopt_held(&mut self, w: WIdx, held: Vec<(TaskKey, u64)>) {
        let mut adopted = 0usize;
        for (key, nbytes) in held {
            let Some(t) = self.tasks.get(&key) else {
                self.queue_release_key(w, key);
                continue;
            };
            match self.tasks.recs[t as usize].state {
                State::Memory => {
                    self.add_holder(t, w);
                    adopted += 1;
                }
                State::Waiting | State::Queued | State::NoWorker | State::Processing(_)
                    if self.shuffle_of(t).is_none() =>
                {
                    self.accept_result(t, w, nbytes, None);
                    adopted += 1;
                }
                _ => self.queue_release(w, t),
            }
        }
        if adopted > 0 {
            tracing::info!(
                worker = w,
                adopted,
                "adopted results a returning worker holds"
            );
        }
    }

    /// Queue a `Release` of a key the scheduler does not track on worker `w`.
    fn queue_release_key(&mut self, w: WIdx, key: TaskKey) {
        if let Some(wr) = self.workers.get_mut(w) {
            if wr.release_buf.is_empty() {
                self.release_workers.push(w);
            }
            wr.release_buf.push(key);
        }
    }

    /// Worker died or its stream closed: re-place its processing tasks (erring those that have
    /// now been on `allowed_failures` dead workers), recompute results that lived only there
    /// if something still needs them (from lineage; scattered data cannot be and errs its
    /// dependents), and put its reserved root tasks back in the queue. Unknown ids are ignored.
    pub fn remove_worker(&mut self, id: WorkerId, reason: &str) -> Outputs {
        let Some(w) = self.workers.slot_of(id) else {
            tracing::warn!(worker = id, "remove_worker: unknown worker");
            return Outputs::default();
        };
        let Some(mut rec) = self.workers.take(w) else {
            return Outputs::default();
        };
        self.workers_lost += 1;
        self.observer.worker_removed(id);
        let addr = rec.reg.data_address.clone();
        tracing::info!(worker = id, address = %addr, reason, "removing worker");
        self.loss_context = Some((addr.clone(), format!("worker {addr} died ({reason})")));

        // Every other worker drops its fetches from it and puts to it at once.
        for &other in self.workers.live.items() {
            self.out.to_workers.push((
                WorkerId::from(other),
                WorkerCommand::PeerGone {
                    address: addr.clone(),
                },
            ));
        }
        // Its reserved run goes back to the global queue.
        for t in rec.reserved.drain(..) {
            let r = &mut self.tasks.recs[t as usize];
            r.reserved_by = None;
            self.reserved_total -= 1;
            self.root_queue.insert(r.priority, t);
        }
        // Its processing tasks: count the failure; err those over the limit.
        let processing = std::mem::take(&mut rec.processing);
        rec.processing_hash.clear();
        for &t in &processing {
            self.tasks.recs[t as usize].pos = u32::MAX;
            self.clear_steal(t);
            let r = &mut self.tasks.recs[t as usize];
            r.failures += 1;
            if r.failures >= self.config.allowed_failures {
                let e = TaskError {
                    key: r.key.to_string(),
                    worker: addr.clone(),
                    message: format!(
                        "worker {addr} died while running this task ({reason}); it was \
                         processing on {} workers that died (allowed_failures = {})",
                        r.failures, self.config.allowed_failures
                    ),
                };
                self.err(t, Arc::new(e));
            }
        }
        // Shuffles it owned partitions of start over (their buffers there are gone).
        self.restart_shuffles_owned_by(w, &format!("worker {addr} died ({reason})"));
        // Its results: drop it as a holder everywhere first, then handle what was lost.
        let mut lost = Vec::new();
        for &t in &rec.has_what {
            let r = &mut self.tasks.recs[t as usize];
            r.holders.remove(w);
            if r.holders.is_empty() && r.state == State::Memory {
                lost.push(t);
            }
        }
        lost.sort_unstable_by_key(|&t| self.tasks.recs[t as usize].priority);
        for &t in &lost {
            self.mark_lost(t);
        }
        for &t in &lost {
            self.after_lost(t);
        }
        // Processing tasks that were not erred or sent back to waiting run elsewhere.
        for &t in &processing {
            if self.tasks.recs[t as usize].state == State::Processing(w) {
                self.make_ready(t);
            }
        }
        // Steals on its behalf will be answered by the victims; answers then re-place.
        self.loss_context = None;
        self.finish_call()
    }

    /// Remove every worker whose last message is older than `timeout_ms`.
    pub fn expire_workers(&mut self, now_ms: u64, timeout_ms: u64) -> (Vec<WorkerId>, Outputs) {
        self.observer.tick(now_ms);
        let expired: Vec<WorkerId> = self
            .workers
            .live
            .items()
            .iter()
            .filter(|&&w| {
                self.workers
                    .get(w)
                    .is_some_and(|r| now_ms.saturating_sub(r.last_seen) > timeout_ms)
            })
            .map(|&w| WorkerId::from(w))
            .collect();
        let mut out = Outputs::default();
        for &id in &expired {
            let silent = self
                .workers
                .slot_of(id)
                .and_then(|w| self.workers.get(w))
                .map_or(0, |r| now_ms.saturating_sub(r.last_seen));
            let reason = format!("no message for {silent} ms (timeout {timeout_ms} ms)");
            out.extend(self.remove_worker(id, &reason));
        }
        (expired, out)
    }

    /// Apply a batch of events from one worker, in order. Events naming unknown keys, or
    /// tasks the scheduler no longer expects from this worker, are ignored (a stray result is
    /// answered with `Release`); events from an unknown worker are ignored entirely.
    pub fn handle_worker_events(
        &mut self,
        worker: WorkerId,
        events: Vec<WorkerEvent>,
        now_ms: u64,
    ) -> Outputs {
        let Some(w) = self.workers.slot_of(worker) else {
            tracing::warn!(worker, "events from an unknown worker ignored");
            return Outputs::default();
        };
        if let Some(rec) = self.workers.get_mut(w) {
            rec.last_seen = rec.last_seen.max(now_ms);
        }
        self.observer.tick(now_ms);
        for ev in events {
            match ev {
                WorkerEvent::TaskFinished {
                    key,
                    nbytes,
                    duration_us,
                    started_unix_us,
                    thread,
                } => {
                    let timing = RunTiming {
                        started_unix_us,
                        thread,
                        duration_us,
                    };
                    self.on_finished(w, &key, nbytes, timing)
                }
                WorkerEvent::TaskFailed {
                    key,
                    message,
                    missing_inputs,
                } => self.on_failed(w, &key, message, &missing_inputs),
                WorkerEvent::StealAnswer { key, stolen } => self.on_steal_answer(w, &key, stolen),
                WorkerEvent::ShuffleTaskFinished {
                    key,
                    attempt,
                    nbytes,
                    duration_us,
                    started_unix_us,
                    thread,
                } => {
                    let stale = self
                        .tasks
                        .get(&key)
                        .and_then(|t| self.shuffle_attempt_current(t, attempt))
                        == Some(false);
                    if stale {
                        self.drop_stale_shuffle_result(w, &key, attempt);
                    } else {
                        let timing = RunTiming {
                            started_unix_us,
                            thread,
                            duration_us,
                        };
                        self.on_finished(w, &key, nbytes, timing);
                    }
                }
                WorkerEvent::ShuffleTaskFailed {
                    key,
                    attempt,
                    message,
                } => self.on_shuffle_failed(w, &key, attempt, message),
                WorkerEvent::Heartbeat(m) => {
                    self.observe_transfer_rate(m.transfer_rate);
                    let addr = self.workers.addr(w).to_string();
                    self.observer.heartbeat(WorkerId::from(w), &addr, &m);
                    if let Some(rec) = self.workers.get_mut(w) {
                        rec.metrics = m;
                    }
                }
            }
        }
        self.finish_call()
    }

    /// The task a worker reports on: usually one it is processing, found by key hash in its
    /// (short, hot) processing list; otherwise through the key index.
    fn lookup_from(&self, w: WIdx, key: &TaskKey) -> Option<TaskId> {
        let h = self.tasks.index.hash(key);
        if let Some(wr) = self.workers.get(w) {
            for (i, &ph) in wr.processing_hash.iter().enumerate() {
                let t = wr.processing[i];
                if ph == h && self.tasks.recs[t as usize].key == *key {
                    return Some(t);
                }
            }
        }
        self.tasks.get_hashed(h, key)
    }

    fn on_finished(&mut self, w: WIdx, key: &TaskKey, nbytes: u64, timing: RunTiming) {
        let Some(t) = self.lookup_from(w, key) else {
            tracing::warn!(%key, worker = w, "result for an unknown key; releasing it");
            if let Some(wr) = self.workers.get_mut(w) {
                if wr.release_buf.is_empty() {
                    self.release_workers.push(w);
                }
                wr.release_buf.push(key.clone());
            }
            return;
        };
        match self.tasks.recs[t as usize].state {
            // A duplicate run: the scheduler already has the result. An extra copy is not
            // worth the risk of listing a holder that has since dropped it (there are no
            // sequence numbers to order a late result against an earlier Release).
            State::Memory if self.tasks.recs[t as usize].holders.contains(w) => {}
            State::Memory | State::Released | State::Erred(_) | State::Free => {
                self.queue_release(w, t)
            }
            // Processing here (the normal case) or elsewhere (stolen or re-placed), or back in
            // waiting/queued after a loss: the key is deterministic, so the result is valid.
            _ => {
                self.accept_result(t, w, nbytes, Some(timing.duration_us));
                self.observe_run(t, w, nbytes, timing);
            }
        }
    }

    pub(super) fn on_failed(
        &mut self,
        w: WIdx,
        key: &TaskKey,
        message: String,
        missing: &[TaskKey],
    ) {
        let Some(t) = self.tasks.get(key) else {
            tracing::warn!(%key, worker = w, "failure of an unknown key ignored");
            return;
        };
        if self.tasks.recs[t as usize].state != State::Processing(w) {
            tracing::debug!(%key, worker = w, "failure of a task not processing there ignored");
            return;
        }
        let inputs: Vec<TaskId> = missing
            .iter()
            .filter_map(|k| self.tasks.get(k))
            .filter(|i| self.tasks.recs[t as usize].inputs.contains(i))
            .collect();
        let addr = self.workers.addr(w).to_string();
        if inputs.is_empty() {
            let e = TaskError {
                key: key.to_string(),
                worker: addr,
                message,
            };
            self.err(t, Arc::new(e));
            return;
        }
        let r = &mut self.tasks.recs[t as usize];
        r.fetch_retries += 1;
        if r.fetch_retries > MAX_FETCH_RETRIES {
            let e = TaskError {
                key: key.to_string(),
                worker: addr,
                message: format!(
                    "could not fetch the inputs of this task after {MAX_FETCH_RETRIES} attempts: \
                     {message}"
                ),
            };
            self.err(t, Arc::new(e));
            return;
        }
        // The worker tried every holder it was given: treat the inputs as lost from all of
        // them (releasing any copy that survives, so scheduler and workers agree), and
        // recompute them from lineage; the task waits for them again.
        let mut lost = Vec::new();
        for &i in &inputs {
            if self.tasks.recs[i as usize].state != State::Memory {
                continue;
            }
            let holders = std::mem::take(&mut self.tasks.recs[i as usize].holders);
            for &h in holders.as_slice() {
                if let Some(wr) = self.workers.get_mut(h) {
                    wr.has_what.remove(&i);
                }
                self.queue_release(h, i);
            }
            lost.push(i);
        }
        // Send those releases now, ahead of any `Compute` that recomputes an input on the
        // same worker below (a worker applies commands in order).
        self.flush_releases();
        tracing::info!(%key, worker = %addr, lost = lost.len(), "inputs could not be fetched; recomputing them");
        let why = format!("worker {addr} could not fetch it ({message})");
        self.loss_context = Some((addr, why));
        for &i in &lost {
            self.mark_lost(i);
        }
        for &i in &lost {
            self.after_lost(i);
        }
        self.loss_context = None;
        // If nothing was actually lost (already handled), run the task again where it fits.
        if self.tasks.recs[t as usize].state == State::Processing(w) {
            self.detach(t);
            self.make_ready(t);
        }
    }

    fn on_steal_answer(&mut self, w: WIdx, key: &TaskKey, stolen: bool) {
        let Some(t) = self.tasks.get(key) else {
            return;
        };
        let thief = self
            .steals
            .get(&t)
            .filter(|s| s.victim == w)
            .map(|s| s.thief);
        if thief.is_some() {
            self.clear_steal(t);
        }
        if stolen && self.tasks.recs[t as usize].state == State::Processing(w) {
            self.replace_stolen(t, thief);
        }
    }
}
