//! Deterministic task keys, derived from an operation and its inputs like Dask's tokenize.
//! The same expression built twice gets the same keys, so results can be reused.

use serde::{Deserialize, Serialize};
use std::sync::Arc;
use xxhash_rust::xxh3::Xxh3;

/// Name of one task's output, e.g. `add-6f1c0e9a2b44d1c8a3e0:1,0`.
///
/// The part before the first `-` is the operation group (used for progress and
/// the dashboard), then a token hashing the operation and its inputs, then the
/// chunk index.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TaskKey(Arc<str>);

impl TaskKey {
    /// Wrap an existing key string (as read from the wire or a Flight ticket).
    pub fn new(s: impl Into<Arc<str>>) -> Self {
        TaskKey(s.into())
    }

    /// The key of chunk `index` of the array called `name` (a `group-token` string).
    pub fn chunk(name: &str, index: &[usize]) -> Self {
        let mut s = String::with_capacity(name.len() + 1 + index.len() * 4);
        s.push_str(name);
        s.push(':');
        for (i, ix) in index.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push_str(&ix.to_string());
        }
        TaskKey(s.into())
    }

    /// The key as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The operation group: everything before the first `-`.
    pub fn group(&self) -> &str {
        self.0.split('-').next().unwrap_or(&self.0)
    }
}

impl std::fmt::Debug for TaskKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", &*self.0)
    }
}

impl std::fmt::Display for TaskKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Incremental hasher for array names: feed the operation and its inputs, get `group-token`.
pub struct Tokenizer {
    group: String,
    hasher: Xxh3,
}

impl Tokenizer {
    /// Start a token for an operation in `group` (such as `add` or `random`).
    pub fn new(group: &str) -> Self {
        let mut hasher = Xxh3::new();
        hasher.update(group.as_bytes());
        hasher.update(&[0xff]);
        Tokenizer {
            group: group.to_string(),
            hasher,
        }
    }

    /// Feed raw bytes (length-prefixed so that concatenations cannot collide).
    pub fn bytes(mut self, b: &[u8]) -> Self {
        self.hasher.update(&(b.len() as u64).to_le_bytes());
        self.hasher.update(b);
        self
    }

    /// Feed a string.
    pub fn str(self, s: &str) -> Self {
        self.bytes(s.as_bytes())
    }

    /// Feed a number.
    pub fn u64(self, v: u64) -> Self {
        self.bytes(&v.to_le_bytes())
    }

    /// Feed any serializable value through the codec's canonical encoding.
    pub fn value<T: Serialize>(self, v: &T) -> Self {
        let bytes = crate::codec::encode(v).expect("in-memory values always encode");
        self.bytes(&bytes)
    }

    /// Finish: `group-<20 hex digits>`.
    pub fn finish(self) -> String {
        let h = self.hasher.digest128();
        format!("{}-{:020x}", self.group, h >> 48)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_deterministic_and_distinct() {
        let a = Tokenizer::new("add").str("x").u64(3).finish();
        let b = Tokenizer::new("add").str("x").u64(3).finish();
        let c = Tokenizer::new("add").str("x").u64(4).finish();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.starts_with("add-"));
        let k = TaskKey::chunk(&a, &[1, 0]);
        assert_eq!(k.group(), "add");
        assert!(k.as_str().ends_with(":1,0"));
    }

    #[test]
    fn length_prefix_prevents_concatenation_collisions() {
        let a = Tokenizer::new("g").str("ab").str("c").finish();
        let b = Tokenizer::new("g").str("a").str("bc").finish();
        assert_ne!(a, b);
    }
}
