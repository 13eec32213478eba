//! The task stream: a bounded ring of the most recent task runs, addressed by sequence number.
//! Old runs fall off the front; readers ask for runs after a cursor and learn how many they missed.

use super::views::{StreamSlice, TaskRun};
use std::collections::VecDeque;
use tessera_core::key::TaskKey;
use tessera_core::wire::WorkerId;

/// One run as stored: the key is shared with the task table, the group is interned.
#[derive(Clone, Debug)]
pub(super) struct RunRecord {
    pub key: TaskKey,
    pub group: u32,
    pub worker: WorkerId,
    pub thread: u32,
    pub start_us: u64,
    pub duration_us: u64,
    pub nbytes: u64,
}

/// Ring of runs; `first_seq` is the sequence number of the front.
#[derive(Debug)]
pub(super) struct TaskStream {
    runs: VecDeque<RunRecord>,
    capacity: usize,
    first_seq: u64,
}

impl TaskStream {
    pub fn new(capacity: usize) -> Self {
        TaskStream {
            runs: VecDeque::with_capacity(capacity.min(4096)),
            capacity: capacity.max(1),
            first_seq: 0,
        }
    }

    /// Sequence number the next run will get.
    pub fn next_seq(&self) -> u64 {
        self.first_seq + self.runs.len() as u64
    }

    pub fn push(&mut self, run: RunRecord) {
        if self.runs.len() == self.capacity {
            self.runs.pop_front();
            self.first_seq += 1;
        }
        self.runs.push_back(run);
    }

    /// Ring positions of the runs with sequence number `>= since`: `from..end`.
    fn after(&self, since: u64) -> (usize, usize) {
        let next = self.next_seq();
        let from = since.clamp(self.first_seq, next) - self.first_seq;
        (from as usize, self.runs.len())
    }

    /// The newest `limit` runs with sequence number `>= since`.
    pub fn since(
        &self,
        since: u64,
        limit: usize,
        group_name: impl Fn(u32) -> String,
    ) -> StreamSlice {
        let (from, end) = self.after(since);
        let start = end - (end - from).min(limit);
        self.slice(since, (start..end).collect(), group_name)
    }

    /// At most `limit` runs with sequence number `>= since`, spread evenly over all of
    /// them (the newest always included): a live view that stays true to the whole
    /// interval when runs arrive faster than a page can draw them.
    pub fn sample_since(
        &self,
        since: u64,
        limit: usize,
        group_name: impl Fn(u32) -> String,
    ) -> StreamSlice {
        let (from, end) = self.after(since);
        let available = end - from;
        let take = available.min(limit);
        // Pick i of `take` is the run at from + (i + 1) * available / take - 1.
        let picks = (0..take)
            .map(|i| from + ((i + 1) * available) / take - 1)
            .collect();
        self.slice(since, picks, group_name)
    }

    /// The runs at ring positions `picks` (ascending), as a slice after cursor `since`.
    fn slice(
        &self,
        since: u64,
        picks: Vec<usize>,
        group_name: impl Fn(u32) -> String,
    ) -> StreamSlice {
        let next = self.next_seq();
        let taken = picks.len() as u64;
        let runs = picks
            .into_iter()
            .map(|i| {
                let r = &self.runs[i];
                TaskRun {
                    seq: self.first_seq + i as u64,
                    key: r.key.to_string(),
                    group: group_name(r.group),
                    worker: r.worker,
                    thread: r.thread,
                    start_us: r.start_us,
                    duration_us: r.duration_us,
                    nbytes: r.nbytes,
                }
            })
            .collect();
        StreamSlice {
            next_seq: next,
            skipped: next.saturating_sub(since.min(next)) - taken,
            runs,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(capacity: usize, n: u64) -> TaskStream {
        let mut s = TaskStream::new(capacity);
        for i in 0..n {
            s.push(RunRecord {
                key: TaskKey::new(format!("t-{i}")),
                group: 0,
                worker: 0,
                thread: 0,
                start_us: i,
                duration_us: 1,
                nbytes: 0,
            });
        }
        s
    }

    fn seqs(slice: &StreamSlice) -> Vec<u64> {
        slice.runs.iter().map(|r| r.seq).collect()
    }

    #[test]
    fn newest_runs_after_a_cursor_and_the_count_skipped() {
        let s = ring(10, 25); // keeps 15..25
        let all = s.since(0, 100, |_| "g".into());
        assert_eq!(seqs(&all), (15..25).collect::<Vec<_>>());
        assert_eq!((all.next_seq, all.skipped), (25, 15));
        let newest = s.since(18, 3, |_| "g".into());
        assert_eq!(seqs(&newest), vec![22, 23, 24]);
        assert_eq!(newest.skipped, 4);
        assert!(s.since(25, 10, |_| "g".into()).runs.is_empty());
    }

    #[test]
    fn samples_spread_over_the_interval_and_end_at_the_newest() {
        let s = ring(1000, 100);
        let sample = s.sample_since(20, 4, |_| "g".into());
        assert_eq!(seqs(&sample), vec![39, 59, 79, 99]);
        assert_eq!((sample.next_seq, sample.skipped), (100, 76));
        let few = s.sample_since(97, 10, |_| "g".into());
        assert_eq!(seqs(&few), vec![97, 98, 99]);
        assert_eq!(few.skipped, 0);
        for limit in 1..30 {
            let v = seqs(&s.sample_since(0, limit, |_| "g".into()));
            assert_eq!(v.len(), limit);
            assert!(v.windows(2).all(|w| w[0] < w[1]));
            assert_eq!(*v.last().unwrap(), 99);
        }
        assert!(s.sample_since(100, 5, |_| "g".into()).runs.is_empty());
        assert!(s.sample_since(0, 0, |_| "g".into()).runs.is_empty());
    }
}
