//! When and where a task ran: wall-clock start, kernel thread and duration, as the
//! scheduler's task stream and the worker's duration histogram want them.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A run in progress.
#[derive(Clone, Copy, Debug)]
pub struct RunClock {
    started: Instant,
    started_unix_us: u64,
    thread: u32,
}

/// A finished run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunInfo {
    /// Start in microseconds since the Unix epoch.
    pub started_unix_us: u64,
    /// Index of the rayon thread it ran on (0 off the pool).
    pub thread: u32,
    /// Run time in microseconds.
    pub duration_us: u64,
}

/// Microseconds since the Unix epoch (0 if the clock is before it).
pub fn unix_now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

impl RunClock {
    /// Start timing on the current thread.
    pub fn start() -> Self {
        RunClock {
            started: Instant::now(),
            started_unix_us: unix_now_us(),
            thread: rayon::current_thread_index().unwrap_or(0) as u32,
        }
    }

    /// Stop timing.
    pub fn stop(self) -> RunInfo {
        RunInfo {
            started_unix_us: self.started_unix_us,
            thread: self.thread,
            duration_us: self.started.elapsed().as_micros() as u64,
        }
    }
}

impl RunInfo {
    /// The run time as a `Duration`.
    pub fn elapsed(&self) -> Duration {
        Duration::from_micros(self.duration_us)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_on_the_pool_names_its_thread_and_start() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let before = unix_now_us();
        let run = pool.install(|| {
            let clock = RunClock::start();
            std::thread::sleep(Duration::from_millis(2));
            clock.stop()
        });
        assert!(run.thread < 2);
        assert!(run.started_unix_us >= before);
        assert!(run.duration_us >= 2_000, "{run:?}");
        assert_eq!(run.elapsed(), Duration::from_micros(run.duration_us));
    }
}
