//! The worker's memory guard: past a fraction of the memory limit (Dask's `pause`,
//! 0.8) a kernel thread spills what it can and waits before starting its next task.

use crate::metrics::process_memory;
use crate::store::ChunkStore;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The default fraction of the memory limit past which no new task starts.
pub const DEFAULT_MEMORY_PAUSE: f64 = 0.8;

/// How long a paused thread sleeps between looks at the process memory.
const POLL: Duration = Duration::from_millis(20);

/// With nothing left to spill, how long to wait for other tasks to free memory.
const GIVE_UP: Duration = Duration::from_millis(200);

/// Least time between two warnings that memory stays high.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// Holds kernel threads back while the process uses too much memory.
pub struct MemoryGuard {
    store: Arc<ChunkStore>,
    pause_above: u64,
    paused: AtomicBool,
    last_warning: std::sync::Mutex<Option<Instant>>,
    /// Resident memory, read from /proc (replaceable in tests).
    resident: Box<dyn Fn() -> u64 + Send + Sync>,
}

impl MemoryGuard {
    /// A guard pausing past `pause` (a fraction) of `memory_limit` bytes of resident
    /// memory, spilling `store` to make room.
    pub fn new(store: Arc<ChunkStore>, memory_limit: u64, pause: f64) -> MemoryGuard {
        MemoryGuard::with_probe(store, memory_limit, pause, process_memory)
    }

    fn with_probe(
        store: Arc<ChunkStore>,
        memory_limit: u64,
        pause: f64,
        resident: impl Fn() -> u64 + Send + Sync + 'static,
    ) -> MemoryGuard {
        MemoryGuard {
            store,
            pause_above: (memory_limit as f64 * pause.clamp(0.0, 1.0)) as u64,
            paused: AtomicBool::new(false),
            last_warning: std::sync::Mutex::new(None),
            resident: Box::new(resident),
        }
    }

    /// Whether a thread is waiting for memory now (reported in heartbeats).
    pub fn paused(&self) -> bool {
        self.paused.load(Ordering::Relaxed)
    }

    fn warn_stuck(&self) {
        let mut last = self.last_warning.lock().unwrap_or_else(|p| p.into_inner());
        if last.is_none_or(|t| t.elapsed() > WARN_EVERY) {
            *last = Some(Instant::now());
            tracing::warn!(
                resident = (self.resident)(),
                pause_above = self.pause_above,
                "memory stays past the pause line with nothing left to spill; starting tasks anyway"
            );
        }
    }

    /// Block the calling kernel thread until resident memory is under the pause line.
    /// While over it, every value the store holds in memory is spilled and freed memory
    /// is handed back to the OS. When nothing is left to spill and memory still does not
    /// fall, waiting cannot help: the task starts after a warning rather than never.
    pub fn wait_for_room(&self) {
        if (self.resident)() <= self.pause_above {
            return;
        }
        let started = Instant::now();
        self.paused.store(true, Ordering::Relaxed);
        loop {
            self.store.spill_all();
            trim_heap();
            if (self.resident)() <= self.pause_above {
                break;
            }
            if self.store.bytes() == 0 && started.elapsed() > GIVE_UP {
                self.warn_stuck();
                break;
            }
            std::thread::sleep(POLL);
        }
        self.paused.store(false, Ordering::Relaxed);
        if started.elapsed() > Duration::from_millis(100) {
            tracing::info!(
                waited_ms = started.elapsed().as_millis() as u64,
                "resumed after pausing for memory"
            );
        }
    }
}

/// Keep freed chunk memory for reuse instead of returning it to the OS at once, on
/// workers with at least 1 GiB. glibc serves blocks over its mmap threshold, and every
/// block of a thread's own arena (heaps of at most 64 MiB, unmapped when empty), with
/// fresh pages: each chunk a kernel made cost a page fault per 4 KiB, and the array
/// example spent half its time in the kernel (2.5 s; 1.4 s with this). All threads
/// share the main heap, blocks up to 32 MiB (glibc's largest threshold) come from it, and
/// up to 256 MiB (at most an eighth of the limit) of free heap is kept; past the pause
/// line the memory guard still trims it. Call it before the process starts threads: the
/// arena limit binds only threads that have not allocated yet. Smaller workers keep
/// glibc's defaults.
pub fn tune_allocator(memory_limit: u64) {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if memory_limit >= 1 << 30 {
        let keep = (memory_limit / 8).min(256 << 20) as libc::c_int;
        // SAFETY: mallopt only sets allocator parameters; invalid values are refused
        // (it returns 0) without effect.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 1);
            libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
            libc::mallopt(libc::M_TRIM_THRESHOLD, keep);
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    let _ = memory_limit;
}

/// Return freed heap pages to the OS (glibc keeps them otherwise, and the process
/// looks bigger than what it holds).
fn trim_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{ArrayD, IxDyn};
    use std::sync::atomic::AtomicU64;
    use tessera_core::{Chunk, TaskKey};

    #[test]
    fn under_the_line_nothing_waits_or_spills() {
        let store = Arc::new(ChunkStore::with_spill(None, u64::MAX).unwrap());
        store.put(
            TaskKey::new("a"),
            Chunk::from_ndarray(ArrayD::from_elem(IxDyn(&[8]), 1.0f64)),
        );
        let guard = MemoryGuard::with_probe(store.clone(), 1000, 0.8, || 500);
        guard.wait_for_room();
        assert_eq!(store.spilled_bytes(), 0);
    }

    #[test]
    fn over_the_line_it_spills_and_resumes_when_memory_falls() {
        let store = Arc::new(ChunkStore::with_spill(None, u64::MAX).unwrap());
        let c = Chunk::from_ndarray(ArrayD::from_elem(IxDyn(&[64]), 1.0f64));
        store.put(TaskKey::new("a"), c.clone());
        store.put(TaskKey::new("b"), c.clone());
        // Resident memory falls under the line on the third look.
        let looks = Arc::new(AtomicU64::new(0));
        let l = looks.clone();
        let guard = MemoryGuard::with_probe(store.clone(), 1000, 0.8, move || {
            if l.fetch_add(1, Ordering::Relaxed) < 2 {
                900
            } else {
                100
            }
        });
        guard.wait_for_room();
        assert!(!guard.paused());
        assert_eq!(store.bytes(), 0);
        assert_eq!(store.spilled_bytes(), 2 * c.nbytes() as u64);
    }

    #[test]
    fn with_nothing_to_spill_it_gives_up_waiting() {
        let store = Arc::new(ChunkStore::with_spill(None, u64::MAX).unwrap());
        let guard = MemoryGuard::with_probe(store, 1000, 0.8, || 999);
        let started = Instant::now();
        guard.wait_for_room();
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
