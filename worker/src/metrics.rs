//! Counters a worker keeps about itself and reports in heartbeats.
//! Lock-free atomics, plus the process's resident memory read from /proc.

use std::sync::atomic::{AtomicU64, Ordering};

/// Transfer and task counters.
#[derive(Default)]
pub struct Counters {
    /// Bytes served over Flight (to peers and clients).
    pub bytes_sent: AtomicU64,
    /// Bytes fetched from peers or put by clients.
    pub bytes_received: AtomicU64,
    /// Tasks completed.
    pub tasks_done: AtomicU64,
    /// Tasks running on the pool.
    pub executing: AtomicU64,
    /// Tasks assigned and not yet running.
    pub queued: AtomicU64,
    /// Bytes fetched from peers (for the transfer rate).
    pub fetched_bytes: AtomicU64,
    /// Microseconds spent in peer fetches (for the transfer rate).
    pub fetch_micros: AtomicU64,
}

impl Counters {
    /// Measured fetch rate in bytes per second, 0 before any fetch. Concurrent fetches
    /// overlap, so this is a per-stream rate: a conservative estimate for placement.
    pub fn transfer_rate(&self) -> u64 {
        let micros = Self::get(&self.fetch_micros);
        if micros == 0 {
            return 0;
        }
        (Self::get(&self.fetched_bytes) as f64 * 1e6 / micros as f64) as u64
    }
}

impl Counters {
    /// Add to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Subtract from a counter, never below zero.
    pub fn sub(counter: &AtomicU64, n: u64) {
        let _ = counter.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
            Some(v.saturating_sub(n))
        });
    }

    /// Read a counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// Resident set size of this process in bytes (0 where /proc is unavailable).
pub fn process_memory() -> u64 {
    let Ok(statm) = std::fs::read_to_string("/proc/self/statm") else {
        return 0;
    };
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages * page.max(0) as u64
}

#[cfg(test)]
mod tests {
    #[test]
    fn rss_is_positive_on_linux() {
        assert!(super::process_memory() > 0);
    }
}
