//! The worker's result store: the chunks and table partitions it holds, keyed by task
//! key, with memory accounting.
//! Thread-safe; read by the Flight service and the executor, written by finished tasks.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use tessera_core::{TaskKey, Value};

/// Results held by this worker.
#[derive(Default)]
pub struct ChunkStore {
    chunks: Mutex<HashMap<TaskKey, Value>>,
    bytes: AtomicU64,
}

impl ChunkStore {
    /// Store a result under `key` (replacing an older copy).
    pub fn put(&self, key: TaskKey, chunk: impl Into<Value>) {
        let chunk = chunk.into();
        let added = chunk.nbytes() as u64;
        let old = self.lock().insert(key, chunk);
        self.bytes.fetch_add(added, Ordering::Relaxed);
        if let Some(old) = old {
            self.bytes.fetch_sub(old.nbytes() as u64, Ordering::Relaxed);
        }
    }

    /// The result under `key`, if held (cheap: Arrow buffers are shared, not copied).
    pub fn get(&self, key: &TaskKey) -> Option<Value> {
        self.lock().get(key).cloned()
    }

    /// Whether `key` is held.
    pub fn contains(&self, key: &TaskKey) -> bool {
        self.lock().contains_key(key)
    }

    /// Drop the chunks under `keys` (unknown keys are ignored).
    pub fn remove(&self, keys: &[TaskKey]) {
        let mut chunks = self.lock();
        for key in keys {
            if let Some(old) = chunks.remove(key) {
                self.bytes.fetch_sub(old.nbytes() as u64, Ordering::Relaxed);
            }
        }
    }

    /// Bytes held.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Number of chunks held.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<TaskKey, Value>> {
        // A panic while holding this lock cannot leave the map inconsistent
        // (every operation is a single insert or remove), so poisoning is ignored.
        self.chunks.lock().unwrap_or_else(|p| p.into_inner())
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
}
