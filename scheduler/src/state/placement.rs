//! Choosing workers: locality-and-load placement of ready tasks, withheld root tasks handed out
//! in contiguous runs (co-assignment), and work stealing from saturated to idle workers.

use super::task::{State, TaskId, WIdx};
use super::{MAX_RUN, STEAL_BUDGET, SchedulerState, Steal, VICTIM_PROBES};
use tessera_core::wire::{WorkerCommand, WorkerId};

/// Added to a worker's estimated start time while it is paused for memory: a paused
/// worker gets a task only when every candidate is paused.
const PAUSED_PENALTY_US: f64 = 1e12;

impl SchedulerState {
    /// The worker where `t` would start soonest: estimated queue wait (processing tasks over
    /// threads times the mean task duration) plus the time to fetch the input bytes it lacks;
    /// ties go to the worker with fewer processing tasks.
    ///
    /// Candidates are the holders of `t`'s inputs plus one cheap least-loaded pick, so a
    /// decision costs O(holders), not O(workers). `None` when no worker is connected.
    pub(super) fn decide_worker(&mut self, t: TaskId) -> Option<WIdx> {
        if self.workers.live.is_empty() {
            return None;
        }
        if let Some(r) = self.tasks.recs[t as usize].restrict {
            return self.workers.is_live(r).then_some(r);
        }
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.mark.iter_mut().for_each(|m| *m = 0);
            self.epoch = 1;
        }
        let epoch = self.epoch;
        self.touched.clear();
        let mut total = 0u64;
        for &i in self.tasks.recs[t as usize].inputs.iter() {
            let r = &self.tasks.recs[i as usize];
            total += r.nbytes;
            for &h in r.holders.as_slice() {
                let hs = h as usize;
                if self.mark[hs] != epoch {
                    self.mark[hs] = epoch;
                    self.local_bytes[hs] = 0;
                    self.touched.push(h);
                }
                self.local_bytes[hs] += r.nbytes;
            }
        }
        let light = self.workers.pick_light();
        let avg = self.avg_task_us;
        let bytes_per_us = self.bytes_per_us;
        let mut best: Option<(f64, usize, WIdx)> = None;
        let mut consider = |w: WIdx, local: u64| {
            let Some(rec) = self.workers.get(w) else {
                return;
            };
            let n = rec.processing.len();
            let paused = if rec.metrics.paused {
                PAUSED_PENALTY_US
            } else {
                0.0
            };
            let cost = n as f64 * avg / f64::from(rec.threads)
                + total.saturating_sub(local) as f64 / bytes_per_us
                + paused;
            let better = match best {
                None => true,
                Some((bc, bn, bw)) => cost < bc || (cost == bc && (n, w) < (bn, bw)),
            };
            if better {
                best = Some((cost, n, w));
            }
        };
        for &h in &self.touched {
            consider(h, self.local_bytes[h as usize]);
        }
        if let Some(w) = light {
            let local = if self.mark[w as usize] == epoch {
                self.local_bytes[w as usize]
            } else {
                0
            };
            consider(w, local);
        }
        best.map(|(_, _, w)| w)
    }

    /// Hand queued root tasks to every worker with a free slot.
    pub(super) fn fill_roots(&mut self) {
        if self.root_queue.is_empty() && self.reserved_total == 0 {
            return;
        }
        let mut ws = std::mem::take(&mut self.scratch_workers);
        ws.clear();
        ws.extend_from_slice(self.workers.free_slots.items());
        // Paused workers get no root tasks while any live worker is not paused.
        let paused = |w: &WIdx| self.workers.get(*w).is_some_and(|r| r.metrics.paused);
        if ws.iter().any(paused) && !self.workers.live.items().iter().all(paused) {
            ws.retain(|w| !paused(w));
        }
        for &w in &ws {
            self.fill_worker(w);
            if self.root_queue.is_empty() && self.reserved_total == 0 {
                break;
            }
        }
        self.scratch_workers = ws;
    }

    /// Give worker `w` root tasks until it has threads + slack processing tasks.
    fn fill_worker(&mut self, w: WIdx) {
        loop {
            let Some(rec) = self.workers.get(w) else {
                return;
            };
            let slots = (rec.threads as usize).saturating_add(self.root_slack);
            if rec.processing.len() >= slots {
                return;
            }
            let Some(t) = self.next_root(w) else {
                return;
            };
            self.assign(t, w);
        }
    }

    /// The next root task for `w`: from its reserved run, unless the global queue holds an
    /// older one (then a new run is claimed from the queue's head); when both are empty, half
    /// of the largest run reserved by another worker. The task is taken out of its container.
    fn next_root(&mut self, w: WIdx) -> Option<TaskId> {
        let rec = self.workers.get(w)?;
        let own = rec
            .reserved
            .front()
            .map(|&t| self.tasks.recs[t as usize].priority);
        let head = self.root_queue.first_key_value().map(|(&p, _)| p);
        match (own, head) {
            (Some(o), Some(h)) if h < o => self.claim_run(w),
            (None, Some(_)) => self.claim_run(w),
            (None, None) => self.steal_run(w),
            _ => {}
        }
        let t = self.workers.get_mut(w)?.reserved.pop_front()?;
        self.tasks.recs[t as usize].reserved_by = None;
        self.reserved_total -= 1;
        Some(t)
    }

    /// Reserve a run of consecutive root tasks from the head of the global queue for `w`:
    /// its share of the queue by threads (halved, so that late-comers find work), at least
    /// its free slots, at most [`MAX_RUN`].
    fn claim_run(&mut self, w: WIdx) {
        let Some(rec) = self.workers.get(w) else {
            return;
        };
        let threads = u64::from(rec.threads);
        let free = (threads + self.root_slack as u64).saturating_sub(rec.processing.len() as u64);
        let queued = self.root_queue.len() as u64;
        let share = queued * threads / (2 * self.workers.total_threads.max(1));
        let len = share.clamp(1, MAX_RUN).max(free).min(queued);
        let mut run = Vec::with_capacity(len as usize);
        for _ in 0..len {
            let Some((_, t)) = self.root_queue.pop_first() else {
                break;
            };
            self.tasks.recs[t as usize].reserved_by = Some(w);
            run.push(t);
        }
        self.reserved_total += run.len();
        if let Some(rec) = self.workers.get_mut(w) {
            for &t in run.iter().rev() {
                rec.reserved.push_front(t);
            }
        }
    }

    /// Move the later half of the largest run reserved by another worker to `w`.
    fn steal_run(&mut self, w: WIdx) {
        if self.reserved_total == 0 {
            return;
        }
        let victim = self
            .workers
            .live
            .items()
            .iter()
            .copied()
            .filter(|&v| v != w)
            .max_by_key(|&v| self.workers.get(v).map_or(0, |r| r.reserved.len()));
        let Some(v) = victim else {
            return;
        };
        let Some(vr) = self.workers.get_mut(v) else {
            return;
        };
        let n = vr.reserved.len().div_ceil(2);
        if n == 0 {
            return;
        }
        let keep = vr.reserved.len() - n;
        let moved: Vec<TaskId> = vr.reserved.drain(keep..).collect();
        for &t in &moved {
            self.tasks.recs[t as usize].reserved_by = Some(w);
        }
        if let Some(rec) = self.workers.get_mut(w) {
            for &t in moved.iter().rev() {
                rec.reserved.push_front(t);
            }
        }
    }

    /// Work stealing: when no root task is left to hand out, ask saturated workers to give up
    /// queued tasks for idle workers with nothing to do, where fetching the inputs would take
    /// less time than waiting in the victim's queue.
    ///
    /// Runs after every call, so its work is bounded: it probes a rotating window of idle
    /// workers and, for each, a few saturated ones, and stops at the first thief that finds
    /// no victim with tasks to spare.
    pub(super) fn balance(&mut self) {
        if !self.config.work_stealing
            || self.workers.saturated.is_empty()
            || self.workers.idle.is_empty()
            || !self.root_queue.is_empty()
            || self.reserved_total > 0
        {
            return;
        }
        self.workers.rr = self.workers.rr.wrapping_add(1);
        let (idle_n, sat_n) = (self.workers.idle.len(), self.workers.saturated.len());
        let first = self.workers.rr % idle_n;
        let mut vi = self.workers.rr % sat_n;
        let mut budget = STEAL_BUDGET;
        for k in 0..idle_n.min(2 * STEAL_BUDGET) {
            if budget == 0 {
                break;
            }
            let thief = self.workers.idle.items()[(first + k) % idle_n];
            let Some(tr) = self.workers.get(thief) else {
                continue;
            };
            if !tr.processing.is_empty() || tr.incoming_steals > 0 || tr.metrics.paused {
                continue;
            }
            let threads = tr.threads as usize;
            let mut victim = None;
            for _ in 0..sat_n.min(VICTIM_PROBES) {
                let v = self.workers.saturated.items()[vi % sat_n];
                vi += 1;
                let spare = self.workers.get(v).map_or(0, |r| {
                    r.processing
                        .len()
                        .saturating_sub(r.threads as usize + r.outgoing_steals as usize)
                });
                if spare > 0 {
                    victim = Some((v, spare));
                    break;
                }
            }
            let Some((v, spare)) = victim else {
                return;
            };
            budget -= self.steal_from(v, thief, threads.min(spare).min(budget));
        }
    }

    /// Send up to `want` steal requests for `victim`'s most recently assigned tasks on behalf
    /// of `thief`; returns how many were sent. Looks at a bounded number of tasks.
    fn steal_from(&mut self, victim: WIdx, thief: WIdx, want: usize) -> usize {
        let Some(vr) = self.workers.get(victim) else {
            return 0;
        };
        let wait_us = self.workers.occupancy_us(victim, self.avg_task_us);
        let mut chosen = Vec::new();
        for &t in vr.processing.iter().rev().take(4 * want + 16) {
            if chosen.len() == want {
                break;
            }
            if self.steals.contains_key(&t) || self.tasks.recs[t as usize].restrict.is_some() {
                continue;
            }
            if self.transfer_us(self.missing_bytes(t, thief)) < wait_us {
                chosen.push(t);
            }
        }
        for &t in &chosen {
            self.steals.insert(t, Steal { victim, thief });
            if let Some(v) = self.workers.get_mut(victim) {
                v.outgoing_steals += 1;
            }
            if let Some(th) = self.workers.get_mut(thief) {
                th.incoming_steals += 1;
            }
            let key = self.tasks.recs[t as usize].key.clone();
            self.out
                .to_workers
                .push((WorkerId::from(victim), WorkerCommand::Steal(key)));
        }
        chosen.len()
    }

    /// A worker gave back task `t` (stolen): run it on the thief if it is alive, else re-place it.
    pub(super) fn replace_stolen(&mut self, t: TaskId, thief: Option<WIdx>) {
        self.detach(t);
        match thief.filter(|&th| self.workers.is_live(th)) {
            Some(th) => self.assign(t, th),
            None => {
                // Back through the normal path; for a root task this re-queues it by priority.
                debug_assert!(matches!(
                    self.tasks.recs[t as usize].state,
                    State::Processing(_)
                ));
                self.make_ready(t);
            }
        }
    }
}
