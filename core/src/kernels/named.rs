//! A process-wide table of functions by name, shared by the kernel and call registries,
//! and the guard that turns a panic inside a user function into an error for its task.

use crate::error::{Error, Result};
use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, OnceLock, RwLock};

/// Functions of type `F` by name, created on first use.
pub(crate) struct Named<F: ?Sized> {
    table: OnceLock<RwLock<HashMap<String, Arc<F>>>>,
}

impl<F: ?Sized> Named<F> {
    /// An empty table (usable in a `static`).
    pub const fn new() -> Self {
        Named {
            table: OnceLock::new(),
        }
    }

    fn table(&self) -> &RwLock<HashMap<String, Arc<F>>> {
        self.table.get_or_init(Default::default)
    }

    /// Add `f` under `name`, replacing what was there.
    pub fn insert(&self, name: &str, f: Arc<F>) {
        let mut map = self.table().write().unwrap_or_else(|e| e.into_inner());
        map.insert(name.to_string(), f);
    }

    /// Remove `name`; whether it was there.
    pub fn remove(&self, name: &str) -> bool {
        let mut map = self.table().write().unwrap_or_else(|e| e.into_inner());
        map.remove(name).is_some()
    }

    /// The function under `name`.
    pub fn get(&self, name: &str) -> Option<Arc<F>> {
        let map = self.table().read().unwrap_or_else(|e| e.into_inner());
        map.get(name).cloned()
    }

    /// Every name, sorted.
    pub fn names(&self) -> Vec<String> {
        let map = self.table().read().unwrap_or_else(|e| e.into_inner());
        let mut names: Vec<String> = map.keys().cloned().collect();
        names.sort();
        names
    }
}

/// The text of a panic payload (a `&str` or `String` message, else a placeholder).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_string())
}

/// Run `f`, turning a panic into an error `"{what} panicked: ..."`.
pub(crate) fn guarded<T>(what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(payload) => Err(Error::other(format!(
            "{what} panicked: {}",
            panic_message(payload.as_ref())
        ))),
    }
}
