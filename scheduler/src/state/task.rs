//! Task records: interned keys, per-task state, and the slot table that recycles ids.
//! Tasks are addressed by dense `u32` ids; a generation number makes stale references detectable.

use super::key_index::HashIndex;
use super::small::SmallList;
use std::sync::Arc;
use tessera_core::error::TaskError;
use tessera_core::key::TaskKey;
use tessera_core::wire::ClientId;

/// Dense index of a task record in [`TaskTable::recs`].
pub type TaskId = u32;
/// Index of a worker slot; equal to its public `WorkerId`.
pub type WIdx = u32;

/// Where a task is in its life.
///
/// `Waiting`, `Queued`, `NoWorker` and `Processing` are the *pending* states: a
/// pending task will produce its result, so it needs its inputs.
#[derive(Clone, Debug, PartialEq)]
pub enum State {
    /// Unused slot.
    Free,
    /// Known (kept for lineage or because it is wanted) but neither computed nor needed now.
    Released,
    /// Needed; some inputs are not in memory yet (`waiting_on` counts them).
    Waiting,
    /// A root task (no inputs) ready to run, held by the scheduler until a worker has a slot.
    Queued,
    /// Ready, but no worker is connected.
    NoWorker,
    /// Assigned to this worker.
    Processing(WIdx),
    /// Result held by the workers in `holders`.
    Memory,
    /// Cannot be computed; the error names the origin task.
    Erred(Arc<TaskError>),
}

/// Number of distinct [`State`] kinds (for counters).
pub const N_STATES: usize = 8;

/// State names as shown in `ClusterInfo::tasks_by_state`, indexed by [`State::idx`].
pub const STATE_NAMES: [&str; N_STATES] = [
    "free",
    "released",
    "waiting",
    "queued",
    "no-worker",
    "processing",
    "memory",
    "erred",
];

impl State {
    /// Whether the task will produce a result (and so needs its inputs).
    #[inline]
    pub fn is_pending(&self) -> bool {
        matches!(
            self,
            State::Waiting | State::Queued | State::NoWorker | State::Processing(_)
        )
    }

    /// Index into [`STATE_NAMES`] and the state counters.
    #[inline]
    pub fn idx(&self) -> usize {
        match self {
            State::Free => 0,
            State::Released => 1,
            State::Waiting => 2,
            State::Queued => 3,
            State::NoWorker => 4,
            State::Processing(_) => 5,
            State::Memory => 6,
            State::Erred(_) => 7,
        }
    }
}

/// A reference from an input to one of its dependents, valid while `generation` matches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DepRef {
    /// The dependent's slot.
    pub id: TaskId,
    /// The slot's generation when the edge was made.
    pub generation: u32,
}

/// The workers holding a task's result; one holder is the common case and needs no allocation.
#[derive(Clone, Debug, Default)]
pub enum Holders {
    /// Nobody holds it.
    #[default]
    Empty,
    /// Exactly one worker.
    One(WIdx),
    /// Two or more workers, without duplicates.
    Many(Vec<WIdx>),
}

impl Holders {
    /// The holders as a slice.
    #[inline]
    pub fn as_slice(&self) -> &[WIdx] {
        match self {
            Holders::Empty => &[],
            Holders::One(w) => std::slice::from_ref(w),
            Holders::Many(v) => v,
        }
    }

    /// Whether nobody holds the result.
    #[inline]
    pub fn is_empty(&self) -> bool {
        matches!(self, Holders::Empty)
    }

    /// Whether `w` holds the result.
    #[inline]
    pub fn contains(&self, w: WIdx) -> bool {
        self.as_slice().contains(&w)
    }

    /// Add `w`; returns false when it was already a holder.
    pub fn insert(&mut self, w: WIdx) -> bool {
        match self {
            Holders::Empty => *self = Holders::One(w),
            Holders::One(x) => {
                if *x == w {
                    return false;
                }
                *self = Holders::Many(vec![*x, w]);
            }
            Holders::Many(v) => {
                if v.contains(&w) {
                    return false;
                }
                v.push(w);
            }
        }
        true
    }

    /// Remove `w`; returns false when it was not a holder.
    pub fn remove(&mut self, w: WIdx) -> bool {
        match self {
            Holders::Empty => false,
            Holders::One(x) => {
                if *x != w {
                    return false;
                }
                *self = Holders::Empty;
                true
            }
            Holders::Many(v) => {
                let Some(pos) = v.iter().position(|&x| x == w) else {
                    return false;
                };
                v.swap_remove(pos);
                if v.len() == 1 {
                    *self = Holders::One(v[0]);
                }
                true
            }
        }
    }
}

/// Everything the scheduler knows about one task.
#[derive(Debug)]
pub struct TaskRecord {
    /// The task's key.
    pub key: TaskKey,
    /// The encoded op; `None` for data scattered by a client (no lineage: cannot be recomputed).
    pub op: Option<Box<[u8]>>,
    /// Input task ids, in the op's order (duplicates allowed).
    pub inputs: SmallList<TaskId, 4>,
    /// Dependents, one entry per occurrence in their inputs; entries whose generation is stale are dead.
    pub dependents: SmallList<DepRef, 2>,
    /// Workers holding the result (non-empty exactly in `Memory`).
    pub holders: Holders,
    /// Clients holding at least one reference to this key.
    pub who_wants: Vec<ClientId>,
    /// Life-cycle state.
    pub state: State,
    /// Result size in bytes (the submitted hint until the task has run).
    pub nbytes: u64,
    /// Submission order; lower runs first among root tasks.
    pub priority: u64,
    /// Slot generation, bumped when the slot is freed.
    pub generation: u32,
    /// In `Waiting`: inputs (with multiplicity) not in memory.
    pub waiting_on: u32,
    /// Pending dependents that read this task (with multiplicity).
    pub needers: u32,
    /// Dependents whose records still exist (with multiplicity).
    pub live_dependents: u32,
    /// In `NoWorker`: position in the no-worker list. In `Processing`: a hint of the position
    /// in the worker's processing list (exact unless another task's removal moved it).
    pub pos: u32,
    /// In `Queued`: the worker whose reserved run holds it, if any.
    pub reserved_by: Option<WIdx>,
    /// Workers that died while this task was processing on them.
    pub failures: u32,
    /// Times a worker could not fetch this task's inputs.
    pub fetch_retries: u32,
    /// The shuffle this task belongs to (a key of `SchedulerState::shuffles`), if any.
    pub shuffle: Option<u32>,
    /// The only worker this task may run on, if restricted (a shuffle's unpack tasks run
    /// on the owner of their partition).
    pub restrict: Option<WIdx>,
}

impl TaskRecord {
    fn new(
        key: TaskKey,
        op: Option<Box<[u8]>>,
        nbytes: u64,
        priority: u64,
        generation: u32,
    ) -> Self {
        TaskRecord {
            key,
            op,
            inputs: SmallList::default(),
            dependents: SmallList::default(),
            holders: Holders::Empty,
            who_wants: Vec::new(),
            state: State::Released,
            nbytes,
            priority,
            generation,
            waiting_on: 0,
            needers: 0,
            live_dependents: 0,
            pos: u32::MAX,
            reserved_by: None,
            failures: 0,
            fetch_retries: 0,
            shuffle: None,
            restrict: None,
        }
    }

    /// Whether some client or pending dependent needs this task's result.
    #[inline]
    pub fn is_needed(&self) -> bool {
        self.needers > 0 || !self.who_wants.is_empty()
    }
}

/// The task slots, the key index, and per-state counters.
#[derive(Debug, Default)]
pub struct TaskTable {
    /// Records by id; freed slots are in state `Free` and listed in `free`.
    pub recs: Vec<TaskRecord>,
    /// Key -> id for every non-free slot.
    pub index: HashIndex<TaskKey>,
    free: Vec<TaskId>,
    /// Number of records in each state, indexed by [`State::idx`].
    pub counts: [u64; N_STATES],
}

impl TaskTable {
    /// Id of a known key.
    #[inline]
    pub fn get(&self, key: &TaskKey) -> Option<TaskId> {
        self.get_hashed(self.index.hash(key), key)
    }

    /// Id of a known key whose index hash is `h`.
    #[inline]
    pub fn get_hashed(&self, h: u64, key: &TaskKey) -> Option<TaskId> {
        self.index
            .get_hashed(h, key, |id| &self.recs[id as usize].key)
    }

    /// Make room for `n` more records without reallocating (or rehashing the index).
    pub fn reserve(&mut self, n: usize) {
        let extra = n.saturating_sub(self.free.len());
        self.recs.reserve(extra);
        self.index.reserve(n);
    }

    /// Create a record in state `Released` (no edges yet) for an unknown key.
    pub fn insert(
        &mut self,
        key: TaskKey,
        op: Option<Box<[u8]>>,
        nbytes: u64,
        priority: u64,
    ) -> TaskId {
        let h = self.index.hash(&key);
        self.insert_hashed(h, key, op, nbytes, priority)
    }

    /// [`Self::insert`] with the key's index hash already computed.
    pub fn insert_hashed(
        &mut self,
        h: u64,
        key: TaskKey,
        op: Option<Box<[u8]>>,
        nbytes: u64,
        priority: u64,
    ) -> TaskId {
        let id = self.insert_unindexed(key, op, nbytes, priority);
        self.index_hashed(h, id);
        id
    }

    /// Create a record without indexing its key; [`Self::index_hashed`] must follow before
    /// the table is used by key. Lets bulk inserts index in a tight loop.
    pub fn insert_unindexed(
        &mut self,
        key: TaskKey,
        op: Option<Box<[u8]>>,
        nbytes: u64,
        priority: u64,
    ) -> TaskId {
        let id = match self.free.pop() {
            Some(id) => {
                let generation = self.recs[id as usize].generation;
                self.recs[id as usize] = TaskRecord::new(key, op, nbytes, priority, generation);
                self.counts[State::Free.idx()] -= 1;
                id
            }
            None => {
                let id = u32::try_from(self.recs.len()).expect("fewer than 2^32 live tasks");
                self.recs
                    .push(TaskRecord::new(key, op, nbytes, priority, 0));
                id
            }
        };
        self.counts[State::Released.idx()] += 1;
        id
    }

    /// Index record `id` under key hash `h` (its key must be absent from the index).
    pub fn index_hashed(&mut self, h: u64, id: TaskId) {
        let recs = &self.recs;
        self.index
            .insert_hashed(h, || recs[id as usize].key.clone(), id);
    }

    /// Free a slot: drop its key from the index and invalidate references to it.
    /// The caller has already detached the record from everything else.
    pub fn free_slot(&mut self, id: TaskId) {
        let rec = &mut self.recs[id as usize];
        self.counts[rec.state.idx()] -= 1;
        self.counts[State::Free.idx()] += 1;
        self.index.remove(&rec.key, id);
        rec.state = State::Free;
        rec.generation = rec.generation.wrapping_add(1);
        rec.op = None;
        rec.inputs = SmallList::default();
        rec.dependents = SmallList::default();
        rec.holders = Holders::Empty;
        rec.who_wants = Vec::new();
        self.free.push(id);
    }

    /// Number of non-free records.
    pub fn live_count(&self) -> usize {
        self.recs.len() - self.free.len()
    }

    /// The free list (for invariant checks).
    pub fn free_list(&self) -> &[TaskId] {
        &self.free
    }

    /// Whether a dependent reference still points at a live record.
    #[inline]
    pub fn is_live(&self, d: DepRef) -> bool {
        let r = &self.recs[d.id as usize];
        r.generation == d.generation && r.state != State::Free
    }

    /// Copy the live dependents of `t` (with multiplicity) into `out`.
    pub fn live_dependents_into(&self, t: TaskId, out: &mut Vec<TaskId>) {
        out.clear();
        out.extend(
            self.recs[t as usize]
                .dependents
                .iter()
                .filter(|d| self.is_live(**d))
                .map(|d| d.id),
        );
    }

    /// Drop dead dependent references of `t` once they outnumber the live ones.
    pub fn maybe_compact(&mut self, t: TaskId) {
        let rec = &self.recs[t as usize];
        if rec.dependents.len() <= 2 * rec.live_dependents as usize + 8 {
            return;
        }
        let mut deps = std::mem::take(&mut self.recs[t as usize].dependents);
        deps.retain(|d| self.is_live(*d));
        self.recs[t as usize].dependents = deps;
    }
}
