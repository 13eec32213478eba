//! Worker records and the load-classified worker sets that placement reads in O(1).
//! A worker is `idle` below its thread count, `saturated` above it, and has `free slots` below threads + slack.

use super::fx::FxSet;
use super::task::{TaskId, WIdx};
use std::collections::{HashMap, VecDeque};
use tessera_core::key::TaskKey;
use tessera_core::wire::{WorkerMetrics, WorkerRegistration};

/// A set of worker slots with O(1) insert, remove, membership and indexed access.
#[derive(Debug, Default)]
pub struct IndexedSet {
    items: Vec<WIdx>,
    pos: Vec<u32>,
}

const ABSENT: u32 = u32::MAX;

impl IndexedSet {
    /// Members, in no particular order.
    #[inline]
    pub fn items(&self) -> &[WIdx] {
        &self.items
    }

    /// Number of members.
    #[inline]
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether the set is empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Whether `w` is a member.
    #[inline]
    pub fn contains(&self, w: WIdx) -> bool {
        self.pos.get(w as usize).is_some_and(|&p| p != ABSENT)
    }

    /// Add `w` (no-op when present).
    pub fn insert(&mut self, w: WIdx) {
        if self.contains(w) {
            return;
        }
        if self.pos.len() <= w as usize {
            self.pos.resize(w as usize + 1, ABSENT);
        }
        self.pos[w as usize] = self.items.len() as u32;
        self.items.push(w);
    }

    /// Remove `w` (no-op when absent).
    pub fn remove(&mut self, w: WIdx) {
        if !self.contains(w) {
            return;
        }
        let p = self.pos[w as usize] as usize;
        self.items.swap_remove(p);
        if let Some(&moved) = self.items.get(p) {
            self.pos[moved as usize] = p as u32;
        }
        self.pos[w as usize] = ABSENT;
    }

    /// Insert or remove `w` so that membership equals `member`.
    #[inline]
    pub fn set(&mut self, w: WIdx, member: bool) {
        if member {
            self.insert(w);
        } else {
            self.remove(w);
        }
    }
}

/// Everything the scheduler knows about one live worker.
#[derive(Debug)]
pub struct WorkerRecord {
    /// Its registration.
    pub reg: WorkerRegistration,
    /// Kernel threads, at least 1.
    pub threads: u32,
    /// Latest heartbeat figures.
    pub metrics: WorkerMetrics,
    /// Time of its last message, in the caller's milliseconds.
    pub last_seen: u64,
    /// Tasks assigned to it and not finished (each task's `pos` hints at its index here).
    pub processing: Vec<TaskId>,
    /// Key hash of each task in `processing`, same order: finds a finished task without
    /// probing the key index.
    pub processing_hash: Vec<u64>,
    /// Tasks whose result it holds.
    pub has_what: FxSet<TaskId>,
    /// Root tasks reserved for it, in the order it should run them (co-assignment run).
    pub reserved: VecDeque<TaskId>,
    /// Steal requests sent to it and not answered.
    pub outgoing_steals: u32,
    /// Steal requests made on its behalf and not answered.
    pub incoming_steals: u32,
    /// Keys to release on it, flushed as one `Release` command per transition.
    pub release_buf: Vec<TaskKey>,
}

impl WorkerRecord {
    /// A fresh record for a registration.
    pub fn new(reg: WorkerRegistration, now_ms: u64) -> Self {
        WorkerRecord {
            threads: reg.threads.max(1),
            reg,
            metrics: WorkerMetrics::default(),
            last_seen: now_ms,
            processing: Vec::new(),
            processing_hash: Vec::new(),
            has_what: FxSet::default(),
            reserved: VecDeque::new(),
            outgoing_steals: 0,
            incoming_steals: 0,
            release_buf: Vec::new(),
        }
    }
}

/// The worker slots and the load classes placement picks from.
#[derive(Debug, Default)]
pub struct Workers {
    /// Records by slot (`WorkerId`); `None` once the worker is gone.
    pub slots: Vec<Option<WorkerRecord>>,
    /// Data address -> slot, for live workers.
    pub by_addr: HashMap<String, WIdx>,
    /// Live workers.
    pub live: IndexedSet,
    /// Live workers with fewer processing tasks than threads.
    pub idle: IndexedSet,
    /// Live workers with more processing tasks than threads.
    pub saturated: IndexedSet,
    /// Live workers with fewer processing tasks than threads + root slack.
    pub free_slots: IndexedSet,
    /// Sum of live workers' threads.
    pub total_threads: u64,
    /// Rotation counter for cheap candidate picks.
    pub rr: usize,
}

impl Workers {
    /// The live record in slot `w`.
    #[inline]
    pub fn get(&self, w: WIdx) -> Option<&WorkerRecord> {
        self.slots.get(w as usize).and_then(|s| s.as_ref())
    }

    /// The live record in slot `w`, mutably.
    #[inline]
    pub fn get_mut(&mut self, w: WIdx) -> Option<&mut WorkerRecord> {
        self.slots.get_mut(w as usize).and_then(|s| s.as_mut())
    }

    /// Whether slot `w` holds a live worker.
    #[inline]
    pub fn is_live(&self, w: WIdx) -> bool {
        self.get(w).is_some()
    }

    /// Slot of a live worker id given on the wire.
    pub fn slot_of(&self, id: u64) -> Option<WIdx> {
        let w = u32::try_from(id).ok()?;
        self.is_live(w).then_some(w)
    }

    /// Data address of a live worker.
    #[inline]
    pub fn addr(&self, w: WIdx) -> &str {
        self.get(w).map_or("", |r| r.reg.data_address.as_str())
    }

    /// Recompute `w`'s load classes after its processing count changed.
    pub fn refresh(&mut self, w: WIdx, root_slack: usize) {
        let Some(rec) = self.get(w) else {
            return;
        };
        let n = rec.processing.len();
        let threads = rec.threads as usize;
        self.idle.set(w, n < threads);
        self.saturated.set(w, n > threads);
        self.free_slots
            .set(w, n < threads.saturating_add(root_slack));
    }

    /// Add a live worker; returns its slot.
    pub fn add(&mut self, rec: WorkerRecord, root_slack: usize) -> WIdx {
        let w = u32::try_from(self.slots.len()).expect("fewer than 2^32 workers");
        self.by_addr.insert(rec.reg.data_address.clone(), w);
        self.total_threads += u64::from(rec.threads);
        self.slots.push(Some(rec));
        self.live.insert(w);
        self.refresh(w, root_slack);
        w
    }

    /// Take a worker out of every set and return its record.
    pub fn take(&mut self, w: WIdx) -> Option<WorkerRecord> {
        let rec = self.slots.get_mut(w as usize)?.take()?;
        if self.by_addr.get(&rec.reg.data_address) == Some(&w) {
            self.by_addr.remove(&rec.reg.data_address);
        }
        self.total_threads -= u64::from(rec.threads);
        self.live.remove(w);
        self.idle.remove(w);
        self.saturated.remove(w);
        self.free_slots.remove(w);
        Some(rec)
    }

    /// Estimated time until a new task could start on `w`, in microseconds.
    #[inline]
    pub fn occupancy_us(&self, w: WIdx, avg_task_us: f64) -> f64 {
        self.get(w).map_or(f64::INFINITY, |r| {
            r.processing.len() as f64 * avg_task_us / f64::from(r.threads)
        })
    }

    /// A cheap guess at the least-loaded worker: rotate through the idle workers,
    /// or, when none is idle, take the less busy of two rotating picks.
    pub fn pick_light(&mut self) -> Option<WIdx> {
        self.rr = self.rr.wrapping_add(1);
        if !self.idle.is_empty() {
            let items = self.idle.items();
            return Some(items[self.rr % items.len()]);
        }
        let items = self.live.items();
        if items.is_empty() {
            return None;
        }
        let a = items[self.rr % items.len()];
        let b = items[self.rr.wrapping_mul(7).wrapping_add(3) % items.len()];
        let load = |w: WIdx| {
            self.get(w).map_or(f64::INFINITY, |r| {
                r.processing.len() as f64 / f64::from(r.threads)
            })
        };
        Some(if load(b) < load(a) { b } else { a })
    }
}
