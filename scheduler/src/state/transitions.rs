//! The task life cycle: state changes with their bookkeeping, results entering and leaving memory,
//! lineage recomputation, error propagation, and releasing or forgetting what nobody needs.

use super::task::{Holders, State, TaskId, WIdx};
use super::{MAX_ROOT_SLACK, ROOT_WORK_TARGET_US, SchedulerState};
use std::sync::Arc;
use tessera_core::error::TaskError;
use tessera_core::wire::{ClientEvent, ComputeTask, InputLocation, WorkerCommand, WorkerId};

impl SchedulerState {
    /// Change a task's state, keeping the state counters and its inputs' `needers` in step.
    /// Containers (processing lists, queues) are the caller's business: see [`Self::detach`].
    pub(super) fn set_state(&mut self, t: TaskId, new: State) {
        let ti = t as usize;
        let rec = &mut self.tasks.recs[ti];
        let was_pending = rec.state.is_pending();
        let now_pending = new.is_pending();
        self.tasks.counts[rec.state.idx()] -= 1;
        self.tasks.counts[new.idx()] += 1;
        rec.state = new;
        if was_pending != now_pending {
            for k in 0..self.tasks.recs[ti].inputs.len() {
                let i = self.tasks.recs[ti].inputs[k];
                let inp = &mut self.tasks.recs[i as usize];
                if now_pending {
                    inp.needers += 1;
                } else {
                    inp.needers -= 1;
                    if inp.needers == 0 {
                        self.dirty.push(i);
                    }
                }
            }
        }
    }

    /// Take a task out of whatever container its state puts it in (a worker's processing
    /// list, the root queue or a reserved run, the no-worker list). The state is unchanged.
    pub(super) fn detach(&mut self, t: TaskId) {
        match self.tasks.recs[t as usize].state {
            State::Processing(w) => self.remove_from_processing(t, w),
            State::Queued => self.unqueue_root(t),
            State::NoWorker => {
                let pos = self.tasks.recs[t as usize].pos as usize;
                self.tasks.recs[t as usize].pos = u32::MAX;
                if self.no_worker.get(pos) == Some(&t) {
                    self.no_worker.swap_remove(pos);
                    if let Some(&moved) = self.no_worker.get(pos) {
                        self.tasks.recs[moved as usize].pos = pos as u32;
                    }
                }
            }
            _ => {}
        }
    }

    fn remove_from_processing(&mut self, t: TaskId, w: WIdx) {
        let hint = std::mem::replace(&mut self.tasks.recs[t as usize].pos, u32::MAX) as usize;
        if let Some(rec) = self.workers.get_mut(w) {
            // The hint is exact unless an earlier removal moved `t`; the moved task's hint is
            // deliberately not rewritten (that would touch a cold record on every removal).
            let pos = if rec.processing.get(hint) == Some(&t) {
                Some(hint)
            } else {
                rec.processing.iter().position(|&x| x == t)
            };
            if let Some(pos) = pos {
                rec.processing.swap_remove(pos);
                rec.processing_hash.swap_remove(pos);
            }
            self.workers.refresh(w, self.root_slack);
        }
        self.clear_steal(t);
    }

    /// Forget an unanswered steal request for `t`, if any.
    pub(super) fn clear_steal(&mut self, t: TaskId) {
        if let Some(s) = self.steals.remove(&t) {
            if let Some(v) = self.workers.get_mut(s.victim) {
                v.outgoing_steals -= 1;
            }
            if let Some(th) = self.workers.get_mut(s.thief) {
                th.incoming_steals -= 1;
            }
        }
    }

    fn unqueue_root(&mut self, t: TaskId) {
        let rec = &mut self.tasks.recs[t as usize];
        match rec.reserved_by.take() {
            Some(w) => {
                if let Some(wr) = self.workers.get_mut(w)
                    && let Some(p) = wr.reserved.iter().position(|&x| x == t)
                {
                    wr.reserved.remove(p);
                    self.reserved_total -= 1;
                }
            }
            None => {
                self.root_queue.remove(&rec.priority);
            }
        }
    }

    /// Put a task whose inputs are all in memory where it can run: root tasks into the
    /// queue, others on the best worker (or the no-worker list when there is none).
    pub(super) fn make_ready(&mut self, t: TaskId) {
        if self.tasks.recs[t as usize].inputs.is_empty() {
            self.set_state(t, State::Queued);
            let rec = &mut self.tasks.recs[t as usize];
            rec.reserved_by = None;
            self.root_queue.insert(rec.priority, t);
            return;
        }
        if !self.shuffle_placeable(t) {
            // An unpack task whose shuffle buffers are gone: it waits for the restart
            // queued by `shuffle_placeable` (run before this call returns).
            if self.tasks.recs[t as usize].state != State::Waiting {
                self.set_state(t, State::Waiting);
            }
            self.recount_waiting(t);
            return;
        }
        match self.decide_worker(t) {
            Some(w) => self.assign(t, w),
            None => {
                self.set_state(t, State::NoWorker);
                self.tasks.recs[t as usize].pos = self.no_worker.len() as u32;
                self.no_worker.push(t);
            }
        }
    }

    /// Assign a ready, detached task to a live worker and emit its `Compute`.
    pub(super) fn assign(&mut self, t: TaskId, w: WIdx) {
        let Some(wr) = self.workers.get_mut(w) else {
            tracing::error!(worker = w, "assign to a dead worker; re-placing");
            self.make_ready(t);
            return;
        };
        self.tasks.recs[t as usize].pos = wr.processing.len() as u32;
        wr.processing.push(t);
        wr.processing_hash
            .push(self.tasks.index.hash(&self.tasks.recs[t as usize].key));
        self.workers.refresh(w, self.root_slack);
        self.set_state(t, State::Processing(w));
        if let Some(sid) = self.shuffle_of(t) {
            self.ensure_shuffle_started(sid);
        }
        let cmd = self.compute_command(t);
        self.out
            .to_workers
            .push((WorkerId::from(w), WorkerCommand::Compute(cmd)));
    }

    fn compute_command(&self, t: TaskId) -> ComputeTask {
        let rec = &self.tasks.recs[t as usize];
        ComputeTask {
            key: rec.key.clone(),
            op: rec.op.as_deref().map(<[u8]>::to_vec).unwrap_or_default(),
            inputs: rec
                .inputs
                .iter()
                .map(|&i| {
                    let r = &self.tasks.recs[i as usize];
                    InputLocation {
                        key: r.key.clone(),
                        holders: r
                            .holders
                            .as_slice()
                            .iter()
                            .map(|&h| self.workers.addr(h).to_string())
                            .collect(),
                        nbytes: r.nbytes,
                    }
                })
                .collect(),
            shuffle: self
                .shuffle_of(t)
                .and_then(|sid| self.shuffle_assignment(sid)),
        }
    }

    /// A result for `t` is now held by worker `w` (a finished task or scattered data), and `t`
    /// was not in memory. `duration_us` is `Some` for a computed result.
    pub(super) fn accept_result(
        &mut self,
        t: TaskId,
        w: WIdx,
        nbytes: u64,
        duration_us: Option<u64>,
    ) {
        self.detach(t);
        let rec = &mut self.tasks.recs[t as usize];
        rec.nbytes = nbytes;
        rec.holders = Holders::One(w);
        rec.failures = 0;
        rec.fetch_retries = 0;
        if let Some(wr) = self.workers.get_mut(w) {
            wr.has_what.insert(t);
        }
        self.set_state(t, State::Memory);
        if let Some(d) = duration_us {
            self.tasks_completed += 1;
            // The default is a guess for when nothing has run yet (Dask's 0.5 s); the
            // first measurement replaces it, later ones move the average smoothly.
            if self.tasks_completed == 1 {
                self.avg_task_us = d as f64;
            } else {
                self.avg_task_us += (d as f64 - self.avg_task_us) * 0.05;
            }
            self.adapt_root_slack();
        }
        self.notify_in_memory(t);
        let mut deps = std::mem::take(&mut self.scratch_deps);
        self.tasks.live_dependents_into(t, &mut deps);
        for &d in &deps {
            let dr = &mut self.tasks.recs[d as usize];
            if dr.state == State::Waiting {
                dr.waiting_on -= 1;
                if dr.waiting_on == 0 {
                    self.make_ready(d);
                }
            }
        }
        self.scratch_deps = deps;
        self.dirty.push(t);
        self.maybe_finish_shuffle(t);
    }

    /// Send `InMemory` for `t` to every client that wants it.
    pub(super) fn notify_in_memory(&mut self, t: TaskId) {
        let rec = &self.tasks.recs[t as usize];
        if rec.who_wants.is_empty() {
            return;
        }
        let holders = self.holder_addrs(t);
        let (key, nbytes) = (rec.key.clone(), rec.nbytes);
        for &c in &rec.who_wants {
            let ev = ClientEvent::InMemory {
                key: key.clone(),
                holders: holders.clone(),
                nbytes,
            };
            self.out.to_clients.push((c, ev));
        }
    }

    /// Add a holder to a task already in memory.
    pub(super) fn add_holder(&mut self, t: TaskId, w: WIdx) {
        if self.tasks.recs[t as usize].holders.insert(w)
            && let Some(wr) = self.workers.get_mut(w)
        {
            wr.has_what.insert(t);
        }
    }

    /// Queue a `Release` of `t`'s key on worker `w`.
    pub(super) fn queue_release(&mut self, w: WIdx, t: TaskId) {
        let key = self.tasks.recs[t as usize].key.clone();
        if let Some(wr) = self.workers.get_mut(w) {
            if wr.release_buf.is_empty() {
                self.release_workers.push(w);
            }
            wr.release_buf.push(key);
        }
    }

    /// First half of losing a result: `t` had holders and now has none; it becomes released.
    /// Several results lost together must all be marked before [`Self::after_lost`] runs on any.
    pub(super) fn mark_lost(&mut self, t: TaskId) {
        debug_assert!(self.tasks.recs[t as usize].holders.is_empty());
        self.set_state(t, State::Released);
    }

    /// Second half of losing a result: pending dependents wait again, and `t` is recomputed
    /// from its lineage if anything still needs it.
    pub(super) fn after_lost(&mut self, t: TaskId) {
        let mut deps = std::mem::take(&mut self.scratch_deps);
        self.tasks.live_dependents_into(t, &mut deps);
        for &d in &deps {
            match self.tasks.recs[d as usize].state {
                State::Waiting => self.recount_waiting(d),
                State::Queued | State::NoWorker | State::Processing(_) => {
                    self.detach(d);
                    self.set_state(d, State::Waiting);
                    self.recount_waiting(d);
                }
                _ => {}
            }
        }
        self.scratch_deps = deps;
        if self.tasks.recs[t as usize].is_needed() {
            self.activate(t);
        } else {
            self.dirty.push(t);
        }
    }

    /// Recompute `waiting_on` of a waiting task from its inputs' states.
    pub(super) fn recount_waiting(&mut self, t: TaskId) {
        let rec = &self.tasks.recs[t as usize];
        let n = rec
            .inputs
            .iter()
            .filter(|&&i| self.tasks.recs[i as usize].state != State::Memory)
            .count() as u32;
        self.tasks.recs[t as usize].waiting_on = n;
    }

    /// A released task became needed: make it (and, recursively, its released inputs) waiting,
    /// ready or erred. Iterative, so long lineage chains cannot overflow the stack.
    pub(super) fn activate(&mut self, root: TaskId) {
        let mut stack = vec![root];
        while let Some(t) = stack.pop() {
            let rec = &self.tasks.recs[t as usize];
            if rec.state != State::Released || !rec.is_needed() {
                continue;
            }
            if rec.op.is_none() {
                self.err_lost_data(t);
                continue;
            }
            self.set_state(t, State::Waiting);
            let mut waiting = 0u32;
            let mut erred: Option<Arc<TaskError>> = None;
            for k in 0..self.tasks.recs[t as usize].inputs.len() {
                let i = self.tasks.recs[t as usize].inputs[k];
                match &self.tasks.recs[i as usize].state {
                    State::Memory => {}
                    State::Erred(e) => erred = Some(e.clone()),
                    State::Released => {
                        waiting += 1;
                        stack.push(i);
                    }
                    State::Free => {
                        erred = Some(Arc::new(TaskError {
                            key: self.tasks.recs[t as usize].key.to_string(),
                            worker: "scheduler".into(),
                            message: "an input of this task was forgotten by the scheduler \
                                      (internal error)"
                                .into(),
                        }));
                    }
                    _ => waiting += 1,
                }
            }
            if let Some(e) = erred {
                self.err(t, e);
                continue;
            }
            self.tasks.recs[t as usize].waiting_on = waiting;
            if waiting == 0 {
                self.make_ready(t);
            }
        }
    }

    /// Err a needed task whose data was scattered (no lineage) and lost with its worker.
    fn err_lost_data(&mut self, t: TaskId) {
        let (worker, why) = match &self.loss_context {
            Some((addr, why)) => (addr.clone(), why.clone()),
            None => (
                "scheduler".to_string(),
                "its worker was lost earlier".to_string(),
            ),
        };
        let e = TaskError {
            key: self.tasks.recs[t as usize].key.to_string(),
            worker,
            message: format!(
                "the data of this key was scattered by a client and is lost: {why}; scattered \
                 data has no lineage and cannot be recomputed"
            ),
        };
        self.err(t, Arc::new(e));
    }

    /// Err `root` and every pending task downstream of it, all with the same origin error.
    pub(super) fn err(&mut self, root: TaskId, e: Arc<TaskError>) {
        let mut stack = vec![root];
        while let Some(t) = stack.pop() {
            match self.tasks.recs[t as usize].state {
                State::Memory | State::Erred(_) | State::Free => continue,
                State::Released if t != root => continue,
                _ => {}
            }
            self.detach(t);
            self.set_state(t, State::Erred(e.clone()));
            self.observer.erred(t);
            if t == root {
                let key = self.tasks.recs[t as usize].key.clone();
                self.observer.error(&key, &e.worker, &e.message);
            }
            let rec = &self.tasks.recs[t as usize];
            for &c in &rec.who_wants {
                let ev = ClientEvent::Erred {
                    key: rec.key.clone(),
                    error: (*e).clone(),
                };
                self.out.to_clients.push((c, ev));
            }
            self.dirty.push(t);
            let mut deps = Vec::new();
            self.tasks.live_dependents_into(t, &mut deps);
            stack.extend(
                deps.into_iter()
                    .filter(|&d| self.tasks.recs[d as usize].state.is_pending()),
            );
        }
    }

    /// Drop a result nobody needs: `Release` it on its holders.
    fn release_memory(&mut self, t: TaskId) {
        let holders = std::mem::take(&mut self.tasks.recs[t as usize].holders);
        for &h in holders.as_slice() {
            if let Some(wr) = self.workers.get_mut(h) {
                wr.has_what.remove(&t);
            }
            self.queue_release(h, t);
        }
        self.set_state(t, State::Released);
    }

    /// Forget a record nobody references: its slot is freed and its inputs re-examined.
    fn forget(&mut self, t: TaskId) {
        self.forget_shuffle_member(t);
        for k in 0..self.tasks.recs[t as usize].inputs.len() {
            let i = self.tasks.recs[t as usize].inputs[k];
            self.tasks.recs[i as usize].live_dependents -= 1;
            self.tasks.maybe_compact(i);
            self.dirty.push(i);
        }
        self.observer.forgotten(t);
        self.tasks.free_slot(t);
    }

    /// Release, cancel or forget every dirty task that nobody needs any more.
    pub(super) fn drain_dirty(&mut self) {
        while let Some(t) = self.dirty.pop() {
            let rec = &self.tasks.recs[t as usize];
            if rec.state == State::Free {
                continue;
            }
            if !rec.is_needed() {
                match rec.state {
                    State::Memory => self.release_memory(t),
                    State::Waiting | State::Queued | State::NoWorker | State::Processing(_) => {
                        // The worker may still run it; its result will be answered with Release.
                        self.detach(t);
                        self.set_state(t, State::Released);
                    }
                    _ => {}
                }
            }
            let rec = &self.tasks.recs[t as usize];
            if matches!(rec.state, State::Released | State::Erred(_))
                && rec.who_wants.is_empty()
                && rec.live_dependents == 0
            {
                self.forget(t);
            }
        }
    }

    /// Bytes of `t`'s inputs that worker `w` does not hold.
    pub(super) fn missing_bytes(&self, t: TaskId, w: WIdx) -> u64 {
        self.tasks.recs[t as usize]
            .inputs
            .iter()
            .map(|&i| &self.tasks.recs[i as usize])
            .filter(|r| !r.holders.contains(w))
            .map(|r| r.nbytes)
            .sum()
    }

    /// Re-derive the root slack from the average task duration (a power of two between
    /// `config.root_slack` and [`MAX_ROOT_SLACK`]); when it changes, every worker's free
    /// slots are recomputed. Changes are rare: the average moves slowly and is quantized.
    fn adapt_root_slack(&mut self) {
        let wanted = (ROOT_WORK_TARGET_US / self.avg_task_us.max(1.0)) as usize;
        let slack = wanted
            .checked_next_power_of_two()
            .unwrap_or(MAX_ROOT_SLACK)
            .min(MAX_ROOT_SLACK)
            .max(self.config.root_slack);
        if slack != self.root_slack {
            self.root_slack = slack;
            let live: Vec<WIdx> = self.workers.live.items().to_vec();
            for w in live {
                self.workers.refresh(w, slack);
            }
        }
    }

    /// Estimated transfer time of `bytes`, in microseconds, at the measured rate.
    #[inline]
    pub(super) fn transfer_us(&self, bytes: u64) -> f64 {
        bytes as f64 / self.bytes_per_us
    }

    /// Fold a worker's measured transfer rate (bytes per second) into the placement rate.
    pub(super) fn observe_transfer_rate(&mut self, bytes_per_sec: u64) {
        if bytes_per_sec == 0 {
            return;
        }
        // 1 MB/s to 100 GB/s: a report outside that is a measurement artifact.
        let rate = (bytes_per_sec as f64 / 1e6).clamp(1.0, 100_000.0);
        self.bytes_per_us += (rate - self.bytes_per_us) * 0.2;
    }
}
