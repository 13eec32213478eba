//! The full consistency check of the scheduler state, run by tests after every transition.
//! It recomputes every counter and cross-reference from scratch; O(tasks + edges + workers).

use super::SchedulerState;
use super::task::{Holders, N_STATES, State, TaskId};
use std::collections::HashMap;

macro_rules! ensure {
    ($cond:expr, $($arg:tt)*) => {
        if !$cond {
            return Err(format!($($arg)*));
        }
    };
}

impl SchedulerState {
    /// Full consistency check; tests call it after every transition.
    pub fn check_invariants(&self) -> Result<(), String> {
        self.check_tables()?;
        self.check_edges()?;
        self.check_task_states()?;
        self.check_containers()?;
        self.check_workers()?;
        self.check_clients()?;
        self.check_shuffles()?;
        ensure!(self.dirty.is_empty(), "dirty list not drained");
        ensure!(self.out.is_empty(), "outputs not handed over");
        ensure!(self.release_workers.is_empty(), "releases not flushed");
        ensure!(self.loss_context.is_none(), "loss context left set");
        Ok(())
    }

    /// Shuffle records point at live tasks tagged with them; a running shuffle's owners are
    /// live and cover its partitions; restricted tasks are unpack tasks of a running shuffle,
    /// restricted to their partition's owner, and only ever processing there.
    fn check_shuffles(&self) -> Result<(), String> {
        let recs = &self.tasks.recs;
        ensure!(
            self.shuffle_ids.len() == self.shuffles.len(),
            "{} shuffle ids for {} shuffles",
            self.shuffle_ids.len(),
            self.shuffles.len()
        );
        ensure!(
            self.restart_queue.is_empty(),
            "shuffle restarts left queued"
        );
        let mut restricted = 0usize;
        for (&sid, sh) in self.shuffles.iter() {
            ensure!(
                self.shuffle_ids.get(&sh.id) == Some(&sid),
                "shuffle {} not indexed by its id",
                sh.id
            );
            let members = sh
                .transfers
                .iter()
                .chain([&sh.barrier])
                .chain(sh.outputs.iter().map(|(_, t)| t));
            for &t in members {
                let r = &recs[t as usize];
                ensure!(
                    r.state != State::Free,
                    "shuffle {} holds a forgotten task",
                    sh.id
                );
                ensure!(
                    r.shuffle == Some(sid),
                    "task {} of shuffle {} is tagged {:?}",
                    r.key,
                    sh.id,
                    r.shuffle
                );
            }
            if sh.running() {
                ensure!(sh.attempt > 0, "shuffle {} runs attempt 0", sh.id);
                let mut start = 0u64;
                for &(end, w) in &sh.owners {
                    ensure!(
                        self.workers.is_live(w),
                        "shuffle {} has dead owner {w}",
                        sh.id
                    );
                    ensure!(
                        end > start || (end == 0 && sh.partitions == 0),
                        "shuffle {} owner runs are not increasing",
                        sh.id
                    );
                    start = end;
                }
                ensure!(
                    start == sh.partitions,
                    "shuffle {} owners cover {start} of {} partitions",
                    sh.id,
                    sh.partitions
                );
                for &(p, t) in &sh.outputs {
                    ensure!(
                        recs[t as usize].restrict == sh.owner(p),
                        "unpack {} of partition {p} restricted to {:?}, owner {:?}",
                        recs[t as usize].key,
                        recs[t as usize].restrict,
                        sh.owner(p)
                    );
                }
                restricted += sh.outputs.len();
            }
        }
        let mut seen = 0usize;
        for r in recs.iter() {
            if r.state == State::Free {
                continue;
            }
            if let Some(sid) = r.shuffle {
                ensure!(
                    self.shuffles.contains_key(&sid),
                    "task {} tagged with unknown shuffle {sid}",
                    r.key
                );
            }
            if let Some(w) = r.restrict {
                seen += 1;
                ensure!(
                    self.workers.is_live(w),
                    "task {} restricted to dead worker {w}",
                    r.key
                );
                if let State::Processing(p) = r.state {
                    ensure!(
                        p == w,
                        "task {} restricted to {w} is processing on {p}",
                        r.key
                    );
                }
            }
        }
        ensure!(
            seen == restricted,
            "{seen} restricted tasks, {restricted} unpack tasks of running shuffles"
        );
        Ok(())
    }

    fn check_tables(&self) -> Result<(), String> {
        let recs = &self.tasks.recs;
        let mut counts = [0u64; N_STATES];
        for (id, r) in recs.iter().enumerate() {
            counts[r.state.idx()] += 1;
            let mapped = self.tasks.get(&r.key);
            if r.state != State::Free {
                ensure!(
                    mapped == Some(id as TaskId),
                    "task {} not indexed at {id}",
                    r.key
                );
            }
        }
        ensure!(
            counts == self.tasks.counts,
            "state counters {:?} != {:?}",
            self.tasks.counts,
            counts
        );
        ensure!(
            self.tasks.index.len() == self.tasks.live_count(),
            "index holds {} keys for {} live tasks",
            self.tasks.index.len(),
            self.tasks.live_count()
        );
        let mut seen = vec![false; recs.len()];
        for &f in self.tasks.free_list() {
            ensure!(
                recs[f as usize].state == State::Free,
                "free list holds live slot {f}"
            );
            ensure!(!seen[f as usize], "free list holds {f} twice");
            seen[f as usize] = true;
        }
        ensure!(
            self.tasks.free_list().len() as u64 == counts[State::Free.idx()],
            "free list length mismatch"
        );
        Ok(())
    }

    fn check_edges(&self) -> Result<(), String> {
        let recs = &self.tasks.recs;
        let n = recs.len();
        let mut live_deps = vec![0u32; n];
        let mut needers = vec![0u32; n];
        let mut edges: HashMap<(TaskId, TaskId), i64> = HashMap::new();
        for (d, r) in recs.iter().enumerate() {
            if r.state == State::Free {
                continue;
            }
            for &i in r.inputs.iter() {
                ensure!(
                    (i as usize) < n,
                    "task {} has input id {i} out of range",
                    r.key
                );
                ensure!(
                    recs[i as usize].state != State::Free,
                    "task {} reads a forgotten task",
                    r.key
                );
                live_deps[i as usize] += 1;
                if r.state.is_pending() {
                    needers[i as usize] += 1;
                }
                *edges.entry((i, d as TaskId)).or_default() += 1;
            }
        }
        for (i, r) in recs.iter().enumerate() {
            if r.state == State::Free {
                continue;
            }
            ensure!(
                r.live_dependents == live_deps[i],
                "task {}: live_dependents {} != {}",
                r.key,
                r.live_dependents,
                live_deps[i]
            );
            ensure!(
                r.needers == needers[i],
                "task {}: needers {} != {}",
                r.key,
                r.needers,
                needers[i]
            );
            for d in r.dependents.iter() {
                if self.tasks.is_live(*d) {
                    *edges.entry((i as TaskId, d.id)).or_default() -= 1;
                }
            }
        }
        if let Some(((i, d), c)) = edges.iter().find(|(_, c)| **c != 0) {
            return Err(format!(
                "edge {} -> {} counted {c} more times in inputs than in dependents",
                recs[*i as usize].key, recs[*d as usize].key
            ));
        }
        Ok(())
    }

    fn check_task_states(&self) -> Result<(), String> {
        let recs = &self.tasks.recs;
        for (t, r) in recs.iter().enumerate() {
            let t = t as TaskId;
            if r.state == State::Free {
                continue;
            }
            let k = &r.key;
            let inputs_in_memory = r
                .inputs
                .iter()
                .all(|&i| recs[i as usize].state == State::Memory);
            ensure!(
                r.holders.is_empty() == (r.state != State::Memory),
                "task {k} in {:?} has holders {:?}",
                r.state,
                r.holders
            );
            if let Holders::Many(v) = &r.holders {
                ensure!(
                    v.len() >= 2,
                    "task {k}: Holders::Many with {} entries",
                    v.len()
                );
            }
            ensure!(
                r.reserved_by.is_none() || r.state == State::Queued,
                "task {k} in {:?} is reserved",
                r.state
            );
            if r.state.is_pending() || r.state == State::Memory {
                ensure!(
                    r.is_needed(),
                    "task {k} in {:?} is not needed by anyone",
                    r.state
                );
            }
            match &r.state {
                State::Released => {
                    ensure!(!r.is_needed(), "task {k} is released but needed");
                    ensure!(
                        !r.who_wants.is_empty() || r.live_dependents > 0,
                        "task {k} is released and unreferenced but not forgotten"
                    );
                }
                State::Erred(_) => ensure!(
                    !r.who_wants.is_empty() || r.live_dependents > 0,
                    "task {k} is erred and unreferenced but not forgotten"
                ),
                State::Waiting => {
                    let missing = r
                        .inputs
                        .iter()
                        .filter(|&&i| recs[i as usize].state != State::Memory)
                        .count() as u32;
                    ensure!(missing > 0, "task {k} is waiting with all inputs in memory");
                    ensure!(
                        r.waiting_on == missing,
                        "task {k}: waiting_on {} != {missing}",
                        r.waiting_on
                    );
                    for &i in r.inputs.iter() {
                        let s = &recs[i as usize].state;
                        ensure!(
                            *s == State::Memory || s.is_pending(),
                            "task {k} waits on {} which is {:?}",
                            recs[i as usize].key,
                            s
                        );
                    }
                }
                State::Queued => {
                    ensure!(r.inputs.is_empty(), "queued task {k} has inputs");
                    match r.reserved_by {
                        None => ensure!(
                            self.root_queue.get(&r.priority) == Some(&t),
                            "queued task {k} is not in the root queue"
                        ),
                        Some(w) => ensure!(
                            self.workers
                                .get(w)
                                .is_some_and(|wr| wr.reserved.contains(&t)),
                            "queued task {k} is not in worker {w}'s run"
                        ),
                    }
                }
                State::NoWorker => {
                    ensure!(inputs_in_memory, "no-worker task {k} lacks inputs");
                    ensure!(
                        self.workers.live.is_empty(),
                        "task {k} is no-worker but workers exist"
                    );
                    ensure!(
                        self.no_worker.get(r.pos as usize) == Some(&t),
                        "no-worker task {k} misplaced"
                    );
                }
                State::Processing(w) => {
                    ensure!(inputs_in_memory, "processing task {k} lacks inputs");
                    let wr = self.workers.get(*w);
                    ensure!(wr.is_some(), "task {k} processing on dead worker {w}");
                    ensure!(
                        wr.is_some_and(|wr| wr.processing.iter().filter(|&&x| x == t).count() == 1),
                        "task {k} not listed exactly once on worker {w}"
                    );
                }
                State::Memory => {
                    for &h in r.holders.as_slice() {
                        ensure!(
                            self.workers
                                .get(h)
                                .is_some_and(|wr| wr.has_what.contains(&t)),
                            "task {k} held by {h}, which does not list it"
                        );
                    }
                }
                State::Free => {}
            }
        }
        Ok(())
    }

    fn check_containers(&self) -> Result<(), String> {
        let recs = &self.tasks.recs;
        for (&p, &t) in &self.root_queue {
            let r = &recs[t as usize];
            ensure!(
                r.state == State::Queued,
                "root queue holds {} in {:?}",
                r.key,
                r.state
            );
            ensure!(
                r.priority == p && r.reserved_by.is_none(),
                "root queue entry for {} stale",
                r.key
            );
        }
        let mut reserved = 0;
        for &w in self.workers.live.items() {
            let Some(wr) = self.workers.get(w) else {
                return Err(format!("live set holds dead worker {w}"));
            };
            for &t in &wr.reserved {
                let r = &recs[t as usize];
                ensure!(
                    r.reserved_by == Some(w),
                    "worker {w}'s run holds {} reserved by {:?}",
                    r.key,
                    r.reserved_by
                );
                reserved += 1;
            }
        }
        ensure!(
            reserved == self.reserved_total,
            "reserved_total {} != {reserved}",
            self.reserved_total
        );
        ensure!(
            (self.root_queue.len() + reserved) as u64 == self.tasks.counts[State::Queued.idx()],
            "queued tasks not all in a queue"
        );
        ensure!(
            self.no_worker.len() as u64 == self.tasks.counts[State::NoWorker.idx()],
            "no-worker list length mismatch"
        );
        for (&t, s) in &self.steals {
            ensure!(
                recs[t as usize].state == State::Processing(s.victim),
                "steal of {} from {} but it is {:?}",
                recs[t as usize].key,
                s.victim,
                recs[t as usize].state
            );
        }
        Ok(())
    }

    fn check_workers(&self) -> Result<(), String> {
        let recs = &self.tasks.recs;
        let ws = &self.workers;
        let mut processing = 0u64;
        let mut threads = 0u64;
        let mut live = 0;
        for (w, slot) in ws.slots.iter().enumerate() {
            let w = w as u32;
            let Some(wr) = slot else {
                ensure!(
                    !ws.live.contains(w)
                        && !ws.idle.contains(w)
                        && !ws.saturated.contains(w)
                        && !ws.free_slots.contains(w),
                    "dead worker {w} still in a load set"
                );
                continue;
            };
            live += 1;
            threads += u64::from(wr.threads);
            processing += wr.processing.len() as u64;
            ensure!(
                ws.by_addr.get(&wr.reg.data_address) == Some(&w),
                "worker {w} not indexed by address"
            );
            ensure!(
                wr.processing.len() == wr.processing_hash.len(),
                "worker {w}: processing hashes out of step"
            );
            for (&t, &h) in wr.processing.iter().zip(&wr.processing_hash) {
                let r = &recs[t as usize];
                ensure!(
                    h == self.tasks.index.hash(&r.key),
                    "worker {w}: wrong hash for {}",
                    r.key
                );
                ensure!(
                    r.state == State::Processing(w),
                    "worker {w} lists {} as processing but it is {:?}",
                    r.key,
                    r.state
                );
            }
            for &t in &wr.has_what {
                let r = &recs[t as usize];
                ensure!(
                    r.state == State::Memory && r.holders.contains(w),
                    "worker {w} lists {} as held but it is {:?}",
                    r.key,
                    r.state
                );
            }
            let n = wr.processing.len();
            let th = wr.threads as usize;
            ensure!(ws.live.contains(w), "worker {w} not in live set");
            ensure!(
                ws.idle.contains(w) == (n < th),
                "worker {w} idle class wrong"
            );
            ensure!(
                ws.saturated.contains(w) == (n > th),
                "worker {w} saturated class wrong"
            );
            ensure!(
                ws.free_slots.contains(w) == (n < th + self.root_slack),
                "worker {w} free-slot class wrong"
            );
            let out = self.steals.values().filter(|s| s.victim == w).count() as u32;
            let inc = self.steals.values().filter(|s| s.thief == w).count() as u32;
            ensure!(
                wr.outgoing_steals == out,
                "worker {w}: outgoing steals {} != {out}",
                wr.outgoing_steals
            );
            ensure!(
                wr.incoming_steals == inc,
                "worker {w}: incoming steals {} != {inc}",
                wr.incoming_steals
            );
            ensure!(
                wr.release_buf.is_empty(),
                "worker {w} has unflushed releases"
            );
        }
        ensure!(ws.live.len() == live, "live set size mismatch");
        ensure!(ws.by_addr.len() == live, "address index size mismatch");
        ensure!(ws.total_threads == threads, "total threads mismatch");
        ensure!(
            processing == self.tasks.counts[State::Processing(0).idx()],
            "processing lists hold {processing} tasks, counters say {}",
            self.tasks.counts[State::Processing(0).idx()]
        );
        Ok(())
    }

    fn check_clients(&self) -> Result<(), String> {
        let recs = &self.tasks.recs;
        let mut refs = 0usize;
        for (&c, cr) in &self.clients {
            for (&t, &n) in &cr.wants {
                let r = &recs[t as usize];
                ensure!(n > 0, "client {c} holds a zero reference");
                ensure!(r.state != State::Free, "client {c} wants a forgotten task");
                ensure!(
                    r.who_wants.contains(&c),
                    "task {} does not list client {c}",
                    r.key
                );
                refs += 1;
            }
        }
        let mut listed = 0usize;
        for r in recs.iter().filter(|r| r.state != State::Free) {
            for (i, c) in r.who_wants.iter().enumerate() {
                ensure!(
                    !r.who_wants[..i].contains(c),
                    "task {} lists client {c} twice",
                    r.key
                );
                ensure!(
                    self.clients.contains_key(c),
                    "task {} wanted by unknown client {c}",
                    r.key
                );
                listed += 1;
            }
        }
        ensure!(
            refs == listed,
            "client references {refs} != task listings {listed}"
        );
        Ok(())
    }
}
