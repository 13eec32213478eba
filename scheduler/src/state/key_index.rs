//! The key -> task id index, keyed by a seeded 64-bit hash of the key instead of the key string,
//! so probes never chase key pointers; the rare true hash collision lives in a small side map.

use super::fx::KeyBuild;
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use tessera_core::key::TaskKey;

/// Passes a precomputed, well-mixed 64-bit hash through unchanged.
#[derive(Default, Clone, Copy)]
pub struct PassHasher(u64);

impl Hasher for PassHasher {
    fn write(&mut self, bytes: &[u8]) {
        // Only u64 hashes are ever written; fold anything else in defensively.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.0 = i;
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

/// A map from key hashes to ids that verifies hits with a caller-supplied key lookup.
///
/// `primary` holds the first id seen for each hash; a different key with the same 64-bit
/// hash (practically never, the hash is seeded per process) goes to `colliding`.
#[derive(Debug)]
pub struct HashIndex<K> {
    build: KeyBuild,
    primary: HashMap<u64, u32, BuildHasherDefault<PassHasher>>,
    colliding: HashMap<K, u32>,
}

impl<K> Default for HashIndex<K> {
    fn default() -> Self {
        HashIndex {
            build: KeyBuild::default(),
            primary: HashMap::default(),
            colliding: HashMap::new(),
        }
    }
}

impl<K: std::hash::Hash + Eq + Clone + std::borrow::Borrow<TaskKey>> HashIndex<K> {
    /// An empty index hashing with `build`'s secrets.
    pub fn with_build(build: KeyBuild) -> Self {
        HashIndex {
            build,
            primary: HashMap::default(),
            colliding: HashMap::new(),
        }
    }

    /// The key's hash under this index's secrets.
    #[inline]
    pub fn hash(&self, key: &TaskKey) -> u64 {
        let mut h = self.build.build_hasher();
        std::hash::Hash::hash(key, &mut h);
        h.finish()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.primary.len() + self.colliding.len()
    }

    /// Whether the index is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Make room for `n` more entries.
    pub fn reserve(&mut self, n: usize) {
        self.primary.reserve(n);
    }

    /// Look a key up given its hash; `key_of(id)` returns the key stored for an id.
    #[inline]
    pub fn get_hashed<'k>(
        &self,
        h: u64,
        key: &TaskKey,
        key_of: impl Fn(u32) -> &'k TaskKey,
    ) -> Option<u32> {
        let id = *self.primary.get(&h)?;
        if key_of(id) == key {
            return Some(id);
        }
        self.colliding.get(key).copied()
    }

    /// Insert `key` unless it is present; `Err(id)` names the id already stored for it.
    /// Needs no key comparison unless the hash is already taken, so loops of these overlap
    /// their cache misses well.
    pub fn try_insert_hashed<'k>(
        &mut self,
        h: u64,
        key: K,
        id: u32,
        key_of: impl Fn(u32) -> &'k TaskKey,
    ) -> Result<(), u32> {
        match self.primary.entry(h) {
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(id);
                Ok(())
            }
            std::collections::hash_map::Entry::Occupied(e) => {
                let other = *e.get();
                if key_of(other) == key.borrow() {
                    return Err(other);
                }
                if let Some(&other) = self.colliding.get(key.borrow()) {
                    return Err(other);
                }
                self.colliding.insert(key, id);
                Ok(())
            }
        }
    }

    /// Insert a key known to be absent; `key` is only called on a hash collision.
    pub fn insert_hashed(&mut self, h: u64, key: impl FnOnce() -> K, id: u32) {
        match self.primary.entry(h) {
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(id);
            }
            std::collections::hash_map::Entry::Occupied(e) => {
                debug_assert_ne!(*e.get(), id);
                self.colliding.insert(key(), id);
            }
        }
    }

    /// Remove `key`, stored under `id`.
    pub fn remove(&mut self, key: &TaskKey, id: u32) {
        let h = self.hash(key);
        if self.primary.get(&h) == Some(&id) {
            self.primary.remove(&h);
            // Promote a colliding key with the same hash, if any.
            if !self.colliding.is_empty() {
                let promote = self
                    .colliding
                    .iter()
                    .find(|(k, _)| self.hash((*k).borrow()) == h)
                    .map(|(k, &v)| (k.clone(), v));
                if let Some((k, v)) = promote {
                    self.colliding.retain(|kk, _| *kk != k);
                    self.primary.insert(h, v);
                }
            }
        } else {
            self.colliding.remove(key);
        }
    }

    /// The secrets this index hashes with (to build a compatible index).
    pub fn build(&self) -> KeyBuild {
        self.build
    }
}
