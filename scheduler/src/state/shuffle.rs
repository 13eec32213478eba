//! Shuffles in the scheduler: which tasks form each shuffle, who owns its output partitions,
//! and restarting the whole shuffle (new owners, higher attempt) when a participant is lost.
//!
//! A shuffle is a layer of transfer tasks, one barrier reading all of them, and unpack tasks
//! reading only the barrier (see `tessera_core::shuffle`). It *starts* when its first task is
//! assigned: the live workers, in id order, get contiguous, even runs of partitions, and each
//! unpack task is restricted to its partition's owner (`TaskRecord::restrict`, honoured by
//! placement and never stolen). Every shuffle task's `Compute` carries the attempt and the
//! owner map. It *finishes* when every unpack task is in memory: the owners are told to drop
//! their buffers and the restrictions are lifted. It *restarts* when an owner dies, when a
//! task reports that the attempt is broken (a piece missing, an owner unreachable), or when
//! an unpack task must run again after the buffers are gone: transfer and barrier results
//! are dropped, every worker forgets the old attempt, and the transfers run again; results
//! of superseded attempts are ignored. After [`MAX_SHUFFLE_RESTARTS`] restarts the shuffle's
//! barrier is erred, and with it every task downstream.

use super::SchedulerState;
use super::task::{State, TaskId, WIdx};
use std::sync::Arc;
use tessera_core::error::TaskError;
use tessera_core::key::TaskKey;
use tessera_core::shuffle::{OwnerRange, ShuffleAssignment, ShuffleSpec, spread_owners};
use tessera_core::wire::{WorkerCommand, WorkerId};

/// Restarts after which a shuffle is given up (its barrier erred).
pub const MAX_SHUFFLE_RESTARTS: u32 = 8;

/// One shuffle the scheduler tracks.
#[derive(Debug)]
pub struct ShuffleRecord {
    /// The shuffle's id, as the client named it.
    pub id: String,
    /// Number of output partitions.
    pub partitions: u64,
    /// Transfer tasks.
    pub transfers: Vec<TaskId>,
    /// The barrier task.
    pub barrier: TaskId,
    /// Unpack tasks with their partitions.
    pub outputs: Vec<(u64, TaskId)>,
    /// Current (or last) attempt; 0 before the first start.
    pub attempt: u64,
    /// While an attempt runs: runs of partitions `(end, owner)`; empty otherwise.
    pub owners: Vec<(u64, WIdx)>,
    /// Restarts so far.
    pub restarts: u32,
}

impl ShuffleRecord {
    /// Whether an attempt is running (owners assigned, buffers live on the owners).
    pub fn running(&self) -> bool {
        !self.owners.is_empty()
    }

    /// Owner of `partition` in the running attempt.
    pub fn owner(&self, partition: u64) -> Option<WIdx> {
        let i = self.owners.partition_point(|&(end, _)| end <= partition);
        self.owners.get(i).map(|&(_, w)| w)
    }
}

impl SchedulerState {
    /// Register the shuffles of a submission whose tasks are now inserted. A spec whose id is
    /// already tracked is the same shuffle submitted again and is skipped; a spec that does
    /// not match the graph (unknown keys, wrong edges, tasks of another shuffle, partitions
    /// out of range) is ignored with a warning: its tasks then run as plain tasks, which
    /// only fails those tasks, never the scheduler.
    pub(super) fn register_shuffles(&mut self, specs: Vec<ShuffleSpec>) {
        for spec in specs {
            if self.shuffle_ids.contains_key(&spec.id) {
                continue;
            }
            match self.resolve_shuffle(&spec) {
                Ok((transfers, barrier, outputs)) => {
                    let sid = self.next_shuffle;
                    self.next_shuffle = self.next_shuffle.wrapping_add(1);
                    for &t in transfers.iter().chain([&barrier]) {
                        self.tasks.recs[t as usize].shuffle = Some(sid);
                    }
                    for &(_, t) in &outputs {
                        self.tasks.recs[t as usize].shuffle = Some(sid);
                    }
                    self.shuffle_ids.insert(spec.id.clone(), sid);
                    self.shuffles.insert(
                        sid,
                        ShuffleRecord {
                            id: spec.id,
                            partitions: spec.partitions,
                            transfers,
                            barrier,
                            outputs,
                            attempt: 0,
                            owners: Vec::new(),
                            restarts: 0,
                        },
                    );
                }
                Err(why) => tracing::warn!(shuffle = %spec.id, %why, "shuffle spec ignored"),
            }
        }
    }

    #[allow(clippy::type_complexity)]
    fn resolve_shuffle(
        &self,
        spec: &ShuffleSpec,
    ) -> Result<(Vec<TaskId>, TaskId, Vec<(u64, TaskId)>), String> {
        let id = |k: &TaskKey| {
            let t = self
                .tasks
                .get(k)
                .ok_or_else(|| format!("unknown key {k}"))?;
            if self.tasks.recs[t as usize].shuffle.is_some() {
                return Err(format!("{k} already belongs to a shuffle"));
            }
            Ok(t)
        };
        let transfers = spec
            .transfers
            .iter()
            .map(id)
            .collect::<Result<Vec<_>, _>>()?;
        let barrier = id(&spec.barrier)?;
        let mut sorted = transfers.clone();
        sorted.sort_unstable();
        let mut inputs: Vec<TaskId> = self.tasks.recs[barrier as usize]
            .inputs
            .iter()
            .copied()
            .collect();
        inputs.sort_unstable();
        if sorted != inputs {
            return Err("the barrier's inputs are not the transfers".into());
        }
        let mut outputs = Vec::with_capacity(spec.outputs.len());
        for (p, k) in &spec.outputs {
            let t = id(k)?;
            if *p >= spec.partitions {
                return Err(format!("{k} is partition {p} of {}", spec.partitions));
            }
            if self.tasks.recs[t as usize].inputs.as_slice() != [barrier] {
                return Err(format!("{k} does not read exactly the barrier"));
            }
            outputs.push((*p, t));
        }
        let mut all: Vec<TaskId> = transfers.clone();
        all.push(barrier);
        all.extend(outputs.iter().map(|&(_, t)| t));
        all.sort_unstable();
        if all.windows(2).any(|w| w[0] == w[1]) {
            return Err("a task appears twice in the shuffle".into());
        }
        Ok((transfers, barrier, outputs))
    }

    /// The live shuffle `t` belongs to, if any.
    pub(super) fn shuffle_of(&self, t: TaskId) -> Option<u32> {
        let sid = self.tasks.recs[t as usize].shuffle?;
        self.shuffles.contains_key(&sid).then_some(sid)
    }

    /// Start an attempt of shuffle `sid` if none is running: owners from the live workers,
    /// restrictions on the unpack tasks.
    pub(super) fn ensure_shuffle_started(&mut self, sid: u32) {
        let mut live: Vec<WIdx> = self.workers.live.items().to_vec();
        live.sort_unstable();
        let Some(rec) = self.shuffles.get_mut(&sid) else {
            return;
        };
        if rec.running() || live.is_empty() {
            return;
        }
        rec.attempt += 1;
        rec.owners = spread_owners(rec.partitions, &live);
        if rec.owners.is_empty() {
            // No partitions at all: any worker "owns" the empty range.
            rec.owners.push((0, live[0]));
        }
        let restrictions: Vec<(TaskId, Option<WIdx>)> = rec
            .outputs
            .iter()
            .map(|&(p, t)| (t, rec.owner(p)))
            .collect();
        tracing::debug!(shuffle = %rec.id, attempt = rec.attempt, owners = rec.owners.len(), "shuffle started");
        for (t, w) in restrictions {
            self.tasks.recs[t as usize].restrict = w;
        }
    }

    /// The assignment a shuffle task's `Compute` carries.
    pub(super) fn shuffle_assignment(&self, sid: u32) -> Option<ShuffleAssignment> {
        let rec = self.shuffles.get(&sid)?;
        Some(ShuffleAssignment {
            id: rec.id.clone(),
            attempt: rec.attempt,
            owners: rec
                .owners
                .iter()
                .map(|&(end, w)| OwnerRange {
                    end,
                    address: self.workers.addr(w).to_string(),
                })
                .collect(),
        })
    }

    /// After an unpack task entered memory: finish the shuffle when all of them are.
    pub(super) fn maybe_finish_shuffle(&mut self, t: TaskId) {
        let Some(sid) = self.shuffle_of(t) else {
            return;
        };
        let rec = &self.shuffles[&sid];
        if !rec.running() || !rec.outputs.iter().any(|&(_, o)| o == t) {
            return;
        }
        if rec
            .outputs
            .iter()
            .any(|&(_, o)| self.tasks.recs[o as usize].state != State::Memory)
        {
            return;
        }
        self.stop_shuffle(sid);
    }

    /// End the running attempt of `sid`: owners drop their buffers, restrictions are lifted.
    fn stop_shuffle(&mut self, sid: u32) {
        let Some(rec) = self.shuffles.get_mut(&sid) else {
            return;
        };
        let owners = std::mem::take(&mut rec.owners);
        let (id, attempt) = (rec.id.clone(), rec.attempt);
        let outputs: Vec<TaskId> = rec.outputs.iter().map(|&(_, t)| t).collect();
        let mut told: Vec<WIdx> = owners.iter().map(|&(_, w)| w).collect();
        told.dedup();
        for w in told {
            if self.workers.is_live(w) {
                self.out.to_workers.push((
                    WorkerId::from(w),
                    WorkerCommand::ForgetShuffle {
                        id: id.clone(),
                        attempt,
                    },
                ));
            }
        }
        for t in outputs {
            self.tasks.recs[t as usize].restrict = None;
        }
    }

    /// Whether unpack task `t` may be placed now. An unpack whose shuffle is not running
    /// (its buffers are gone) cannot run: the shuffle is queued for a restart instead.
    pub(super) fn shuffle_placeable(&mut self, t: TaskId) -> bool {
        let Some(sid) = self.shuffle_of(t) else {
            return true;
        };
        let rec = &self.shuffles[&sid];
        if rec.barrier == t || rec.transfers.contains(&t) || rec.running() {
            return true;
        }
        if !self.restart_queue.contains(&sid) {
            self.restart_queue.push(sid);
        }
        false
    }

    /// Restart the shuffles queued while placing tasks.
    pub(super) fn run_queued_restarts(&mut self) {
        while let Some(sid) = self.restart_queue.pop() {
            self.restart_shuffle(
                sid,
                "an output had to be recomputed after the shuffle ended",
            );
        }
    }

    /// Restart every running shuffle that worker `w` owns partitions of (it is gone).
    pub(super) fn restart_shuffles_owned_by(&mut self, w: WIdx, why: &str) {
        let mut hit: Vec<u32> = self
            .shuffles
            .iter()
            .filter(|(_, r)| r.owners.iter().any(|&(_, o)| o == w))
            .map(|(&sid, _)| sid)
            .collect();
        hit.sort_unstable();
        for sid in hit {
            self.restart_shuffle(sid, why);
        }
    }

    /// Throw away the current attempt of `sid` and run its transfers again.
    pub(super) fn restart_shuffle(&mut self, sid: u32, why: &str) {
        let Some(rec) = self.shuffles.get_mut(&sid) else {
            return;
        };
        rec.restarts += 1;
        let (id, attempt, restarts) = (rec.id.clone(), rec.attempt, rec.restarts);
        let barrier = rec.barrier;
        let mut members = rec.transfers.clone();
        members.push(barrier);
        tracing::info!(shuffle = %id, attempt, restarts, why, "restarting shuffle");
        self.stop_shuffle(sid);
        // Every worker forgets the attempt: transfers may have pushed to any owner.
        for &w in self.workers.live.items() {
            self.out.to_workers.push((
                WorkerId::from(w),
                WorkerCommand::ForgetShuffle {
                    id: id.clone(),
                    attempt,
                },
            ));
        }
        // Results of the attempt are dropped; running tasks of it are re-placed.
        let mut lost = Vec::new();
        let mut replaced = Vec::new();
        for &t in &members {
            match self.tasks.recs[t as usize].state {
                State::Memory => {
                    let holders = std::mem::take(&mut self.tasks.recs[t as usize].holders);
                    for &h in holders.as_slice() {
                        if let Some(wr) = self.workers.get_mut(h) {
                            wr.has_what.remove(&t);
                        }
                        self.queue_release(h, t);
                    }
                    self.mark_lost(t);
                    lost.push(t);
                }
                State::Processing(_) | State::NoWorker | State::Queued => {
                    self.detach(t);
                    self.set_state(t, State::Waiting);
                    replaced.push(t);
                }
                _ => {}
            }
        }
        for &t in &replaced {
            self.recount_waiting(t);
        }
        if restarts > MAX_SHUFFLE_RESTARTS {
            // Given up: the transfers and the barrier err (their results are dropped above,
            // so `err` reaches them), and with them every pending task downstream.
            let e = Arc::new(TaskError {
                key: self.tasks.recs[barrier as usize].key.to_string(),
                worker: "scheduler".into(),
                message: format!(
                    "shuffle {id} was restarted {MAX_SHUFFLE_RESTARTS} times and is given up \
                     (last reason: {why})"
                ),
            });
            for &t in &members {
                self.err(t, e.clone());
            }
            self.flush_releases();
            return;
        }
        // The releases must reach workers before any new `Compute` of the same keys.
        self.flush_releases();
        // The barrier first: its pending dependents wait again and it re-activates the
        // transfers it needs.
        lost.sort_unstable_by_key(|&t| (t != barrier, self.tasks.recs[t as usize].priority));
        for &t in &lost {
            self.after_lost(t);
        }
        for t in replaced {
            let r = &self.tasks.recs[t as usize];
            if r.state == State::Waiting && r.waiting_on == 0 {
                self.make_ready(t);
            }
        }
    }

    /// Whether a shuffle task's report for `attempt` is about the current attempt.
    pub(super) fn shuffle_attempt_current(&self, t: TaskId, attempt: u64) -> Option<bool> {
        let sid = self.shuffle_of(t)?;
        let rec = &self.shuffles[&sid];
        Some(rec.running() && rec.attempt == attempt)
    }

    /// A shuffle task finished for a superseded attempt: its result is ignored, and the
    /// copy `w` stored is released unless `w` holds or runs the task for the current
    /// attempt (a `Release` sent now reaches `w` before any later `Compute` of the key).
    pub(super) fn drop_stale_shuffle_result(&mut self, w: WIdx, key: &TaskKey, attempt: u64) {
        tracing::debug!(%key, attempt, "result of a superseded shuffle attempt ignored");
        let Some(t) = self.tasks.get(key) else {
            return;
        };
        let r = &self.tasks.recs[t as usize];
        if r.state != State::Processing(w) && !r.holders.contains(w) {
            self.queue_release(w, t);
            self.flush_releases();
        }
    }

    /// A shuffle task failed because its attempt is broken: restart the shuffle, if the
    /// report is about the current attempt and the task is still processing there.
    pub(super) fn on_shuffle_failed(&mut self, w: WIdx, key: &TaskKey, attempt: u64, msg: String) {
        let Some(t) = self.tasks.get(key) else {
            return;
        };
        if self.tasks.recs[t as usize].state != State::Processing(w) {
            return;
        }
        match (self.shuffle_of(t), self.shuffle_attempt_current(t, attempt)) {
            (Some(sid), Some(true)) => {
                let why = format!("{key} on {}: {msg}", self.workers.addr(w));
                self.restart_shuffle(sid, &why);
            }
            (Some(_), _) => {
                tracing::debug!(%key, attempt, "failure of a superseded shuffle attempt ignored")
            }
            (None, _) => {
                // Not (or no longer) a shuffle task: an ordinary failure.
                self.on_failed(w, key, msg, &[]);
            }
        }
    }

    /// A task of a shuffle is being forgotten: an unpack task leaves its shuffle; the
    /// barrier takes the whole record with it (its unpack tasks are gone by then, as they
    /// read it, and its transfers are left as plain released tasks).
    pub(super) fn forget_shuffle_member(&mut self, t: TaskId) {
        let Some(sid) = self.shuffle_of(t) else {
            return;
        };
        self.tasks.recs[t as usize].shuffle = None;
        self.tasks.recs[t as usize].restrict = None;
        let rec = self.shuffles.get_mut(&sid).expect("checked by shuffle_of");
        if rec.barrier != t {
            rec.outputs.retain(|&(_, o)| o != t);
            return;
        }
        self.stop_shuffle(sid);
        if let Some(rec) = self.shuffles.remove(&sid) {
            self.shuffle_ids.remove(&rec.id);
            for t in rec.transfers {
                self.tasks.recs[t as usize].shuffle = None;
            }
            for (_, t) in rec.outputs {
                self.tasks.recs[t as usize].shuffle = None;
                self.tasks.recs[t as usize].restrict = None;
            }
        }
        self.restart_queue.retain(|&s| s != sid);
    }
}
