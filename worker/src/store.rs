//! The worker's result store: the chunks and table partitions it holds, keyed by task
//! key, with memory accounting and spilling of the least recently used values to disk.
//! Thread-safe; read by the Flight service and the executor, written by finished tasks.

use crate::spill::{SpillDir, SpillFile};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tessera_core::{Result, TaskKey, Value};

/// Results held by this worker, in memory or spilled to local Arrow IPC files.
#[derive(Default)]
pub struct ChunkStore {
    inner: Mutex<Slots>,
    spill: Option<Spill>,
    /// Held by the one thread that is spilling; others leave the work to it.
    spilling: Mutex<()>,
    spilled_total: AtomicU64,
}

/// Where and past how many in-memory bytes values are spilled.
struct Spill {
    dir: SpillDir,
    target: u64,
}

#[derive(Default)]
struct Slots {
    slots: HashMap<TaskKey, Slot>,
    /// Bytes of the values held in memory.
    memory: u64,
    /// Bytes (in memory terms) of the values spilled to disk.
    disk: u64,
    /// Use counter: the slot with the smallest stamp is the least recently used.
    clock: u64,
    /// Keys of the values in memory by use stamp, oldest first: finds the next value
    /// to spill without scanning every slot.
    by_use: BTreeMap<u64, TaskKey>,
}

/// A held value. Sizes are recorded when the value is first stored: a value read back
/// from a spill file may report other buffer sizes (IPC buffers are padded and shared
/// between columns), and the accounting must stay consistent.
enum Slot {
    Memory {
        value: Value,
        used: u64,
        nbytes: u64,
    },
    Disk {
        file: Arc<SpillFile>,
        nbytes: u64,
    },
}

impl Slots {
    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    fn insert(&mut self, key: TaskKey, value: Value, nbytes: u64) {
        let used = self.tick();
        self.memory += nbytes;
        let slot = Slot::Memory {
            value,
            used,
            nbytes,
        };
        self.by_use.insert(used, key.clone());
        if let Some(old) = self.slots.insert(key, slot) {
            self.forget(old);
        }
    }

    fn forget(&mut self, slot: Slot) {
        match slot {
            Slot::Memory { nbytes, used, .. } => {
                self.memory -= nbytes;
                self.by_use.remove(&used);
            }
            Slot::Disk { nbytes, .. } => self.disk -= nbytes,
        }
    }

    /// The least recently used value in memory, with its use stamp and size.
    fn coldest(&self) -> Option<(TaskKey, Value, u64, u64)> {
        let (_, key) = self.by_use.first_key_value()?;
        match self.slots.get(key)? {
            Slot::Memory {
                value,
                used,
                nbytes,
            } => Some((key.clone(), value.clone(), *used, *nbytes)),
            Slot::Disk { .. } => None,
        }
    }
}

impl ChunkStore {
    /// A store that spills its least recently used values into a fresh directory under
    /// `parent` (the OS temp directory if `None`) while more than `target` bytes are in
    /// memory.
    pub fn with_spill(parent: Option<&std::path::Path>, target: u64) -> Result<ChunkStore> {
        Ok(ChunkStore {
            spill: Some(Spill {
                dir: SpillDir::create(parent)?,
                target,
            }),
            ..ChunkStore::default()
        })
    }

    /// Store a result under `key` (replacing an older copy), then spill past the target.
    pub fn put(&self, key: TaskKey, chunk: impl Into<Value>) {
        let value = chunk.into();
        let nbytes = value.nbytes() as u64;
        self.lock().insert(key, value, nbytes);
        self.spill_past_target();
    }

    /// The result under `key`, if held (cheap for values in memory: Arrow buffers are
    /// shared, not copied). A spilled value is read back, and kept in memory again if
    /// it fits under the target; a spill file that cannot be read is an error.
    pub fn get(&self, key: &TaskKey) -> Result<Option<Value>> {
        let (file, nbytes) = {
            let mut slots = self.lock();
            let now = slots.tick();
            match slots.slots.get_mut(key) {
                None => return Ok(None),
                Some(Slot::Memory { value, used, .. }) => {
                    let was = std::mem::replace(used, now);
                    let value = value.clone();
                    slots.by_use.remove(&was);
                    slots.by_use.insert(now, key.clone());
                    return Ok(Some(value));
                }
                Some(Slot::Disk { file, nbytes }) => (file.clone(), *nbytes),
            }
        };
        let value = match file.read() {
            Ok(v) => v,
            Err(e) => {
                // The value is lost here; dropping it makes the worker report it
                // missing, so the scheduler recomputes it from lineage.
                let mut slots = self.lock();
                let same_file = matches!(slots.slots.get(key), Some(Slot::Disk { file: f, .. }) if Arc::ptr_eq(f, &file));
                if same_file && let Some(old) = slots.slots.remove(key) {
                    slots.forget(old);
                }
                return Err(e);
            }
        };
        let target = self.spill.as_ref().map_or(u64::MAX, |s| s.target);
        let mut slots = self.lock();
        let same_file = matches!(slots.slots.get(key), Some(Slot::Disk { file: f, .. }) if Arc::ptr_eq(f, &file));
        if same_file && slots.memory + nbytes <= target {
            slots.insert(key.clone(), value.clone(), nbytes);
        }
        Ok(Some(value))
    }

    /// Size in memory of the value under `key`, if held (without reading it back).
    pub fn nbytes(&self, key: &TaskKey) -> Option<u64> {
        self.lock().slots.get(key).map(|s| match s {
            Slot::Memory { nbytes, .. } | Slot::Disk { nbytes, .. } => *nbytes,
        })
    }

    /// Every held key with its size in memory (spilled values included): what a worker
    /// reports when it registers again with a scheduler.
    pub fn held(&self) -> Vec<(TaskKey, u64)> {
        self.lock()
            .slots
            .iter()
            .map(|(k, s)| match s {
                Slot::Memory { nbytes, .. } | Slot::Disk { nbytes, .. } => (k.clone(), *nbytes),
            })
            .collect()
    }

    /// Whether `key` is held (in memory or on disk).
    pub fn contains(&self, key: &TaskKey) -> bool {
        self.lock().slots.contains_key(key)
    }

    /// Drop the values under `keys`, deleting their spill files (unknown keys are
    /// ignored).
    pub fn remove(&self, keys: &[TaskKey]) {
        let mut slots = self.lock();
        for key in keys {
            if let Some(old) = slots.slots.remove(key) {
                slots.forget(old);
            }
        }
    }

    /// Bytes held in memory.
    pub fn bytes(&self) -> u64 {
        self.lock().memory
    }

    /// Bytes (as they take in memory) currently spilled to disk.
    pub fn spilled_bytes(&self) -> u64 {
        self.lock().disk
    }

    /// Bytes spilled to disk since the worker started (a counter).
    pub fn spilled_total(&self) -> u64 {
        self.spilled_total.load(Ordering::Relaxed)
    }

    /// Number of values held (in memory or on disk).
    pub fn len(&self) -> usize {
        self.lock().slots.len()
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Spill least recently used values until the memory held is under the target.
    fn spill_past_target(&self) {
        if let Some(spill) = &self.spill {
            self.spill_down_to(spill.target);
        }
    }

    /// Spill every value held in memory (the worker is short of memory).
    pub fn spill_all(&self) {
        self.spill_down_to(0);
    }

    /// Whether the value under `key` is on disk (reading it back takes I/O).
    pub fn is_spilled(&self, key: &TaskKey) -> bool {
        matches!(self.lock().slots.get(key), Some(Slot::Disk { .. }))
    }

    /// Spill least recently used values until at most `limit` bytes are in memory.
    /// Files are written outside the lock; a value that changed meanwhile keeps its
    /// new state and the file is dropped. A failed write (a full disk) is logged and
    /// the value stays in memory: nothing is lost.
    fn spill_down_to(&self, limit: u64) {
        let Some(spill) = &self.spill else { return };
        let Ok(_one_spiller) = self.spilling.try_lock() else {
            return;
        };
        loop {
            let (key, value, used, nbytes) = {
                let slots = self.lock();
                if slots.memory <= limit {
                    return;
                }
                match slots.coldest() {
                    Some(victim) => victim,
                    None => return,
                }
            };
            let file = match spill.dir.write(&value) {
                Ok(f) => Arc::new(f),
                Err(e) => {
                    tracing::warn!(%key, "cannot spill, keeping the value in memory: {e}");
                    return;
                }
            };
            let mut slots = self.lock();
            let unchanged =
                matches!(slots.slots.get(&key), Some(Slot::Memory { used: u, .. }) if *u == used);
            if unchanged {
                slots.by_use.remove(&used);
                slots.slots.insert(key, Slot::Disk { file, nbytes });
                slots.memory -= nbytes;
                slots.disk += nbytes;
                self.spilled_total.fetch_add(nbytes, Ordering::Relaxed);
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, Slots> {
        // A panic while holding this lock cannot leave the map inconsistent (every
        // operation updates the map and the byte counts together), so poisoning is
        // ignored.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{ArrayD, IxDyn};
    use tessera_core::Chunk;

    #[test]
    fn accounting_follows_puts_and_removes() {
        let store = ChunkStore::default();
        let c = Chunk::from_ndarray(ArrayD::from_elem(IxDyn(&[10]), 1.0f64));
        store.put(TaskKey::new("a"), c.clone());
        store.put(TaskKey::new("b"), c.clone());
        assert_eq!(store.bytes(), 2 * c.nbytes() as u64);
        store.put(TaskKey::new("a"), c.clone());
        assert_eq!(store.bytes(), 2 * c.nbytes() as u64);
        store.remove(&[TaskKey::new("a"), TaskKey::new("zzz")]);
        assert_eq!(store.bytes(), c.nbytes() as u64);
        assert_eq!(store.len(), 1);
    }

    #[test]
    fn least_recently_used_values_spill_and_come_back() {
        let c = Chunk::from_ndarray(ArrayD::from_shape_fn(IxDyn(&[100]), |i| i[0] as f64));
        let n = c.nbytes() as u64;
        // Room for two chunks in memory.
        let store = ChunkStore::with_spill(None, 2 * n).unwrap();
        for k in ["a", "b", "c", "d"] {
            store.put(TaskKey::new(k), c.clone());
        }
        assert_eq!(store.len(), 4);
        assert_eq!(store.bytes(), 2 * n);
        assert_eq!(store.spilled_bytes(), 2 * n);
        assert_eq!(store.spilled_total(), 2 * n);
        // "a" was the coldest: it is on disk, and reads back equal.
        let a = store.get(&TaskKey::new("a")).unwrap().unwrap();
        let a = a.into_chunk("test").unwrap();
        assert_eq!(
            a.to_ndarray::<f64>().unwrap(),
            c.to_ndarray::<f64>().unwrap()
        );
        // No room to keep it in memory again.
        assert_eq!(store.bytes(), 2 * n);
        store.remove(&[TaskKey::new("c"), TaskKey::new("d")]);
        assert_eq!(store.bytes(), 0);
        // Now "a" fits and is held in memory once read.
        store.get(&TaskKey::new("a")).unwrap().unwrap();
        assert_eq!(store.bytes(), n);
        assert_eq!(store.spilled_bytes(), n);
        store.remove(&[TaskKey::new("a"), TaskKey::new("b")]);
        assert!(store.is_empty());
        assert_eq!((store.bytes(), store.spilled_bytes()), (0, 0));
    }

    #[test]
    fn a_recently_read_value_stays_in_memory() {
        let c = Chunk::from_ndarray(ArrayD::from_elem(IxDyn(&[64]), 3i32));
        let n = c.nbytes() as u64;
        let store = ChunkStore::with_spill(None, 2 * n).unwrap();
        store.put(TaskKey::new("a"), c.clone());
        store.put(TaskKey::new("b"), c.clone());
        store.get(&TaskKey::new("a")).unwrap();
        store.put(TaskKey::new("c"), c.clone());
        // "b" was the least recently used.
        assert_eq!(store.spilled_bytes(), n);
        let slots = store.lock();
        assert!(matches!(
            slots.slots.get(&TaskKey::new("b")),
            Some(Slot::Disk { .. })
        ));
        assert!(matches!(
            slots.slots.get(&TaskKey::new("a")),
            Some(Slot::Memory { .. })
        ));
    }

    #[test]
    fn without_spilling_everything_stays_in_memory() {
        let c = Chunk::from_ndarray(ArrayD::from_elem(IxDyn(&[64]), 1i32));
        let store = ChunkStore::default();
        for i in 0..10 {
            store.put(TaskKey::new(format!("k{i}")), c.clone());
        }
        assert_eq!(store.bytes(), 10 * c.nbytes() as u64);
        assert_eq!(store.spilled_bytes(), 0);
    }
}
