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

    /// The newest `limit` runs with sequence number `>= since`.
    pub fn since(
        &self,
        since: u64,
        limit: usize,
        group_name: impl Fn(u32) -> String,
    ) -> StreamSlice {
        let next = self.next_seq();
        let from = since.clamp(self.first_seq, next);
        let available = (next - from) as usize;
        let take = available.min(limit);
        let start = (next - take as u64 - self.first_seq) as usize;
        let runs = self
            .runs
            .range(start..)
            .enumerate()
            .map(|(i, r)| TaskRun {
                seq: self.first_seq + (start + i) as u64,
                key: r.key.to_string(),
                group: group_name(r.group),
                worker: r.worker,
                thread: r.thread,
                start_us: r.start_us,
                duration_us: r.duration_us,
                nbytes: r.nbytes,
            })
            .collect();
        StreamSlice {
            next_seq: next,
            skipped: next.saturating_sub(since.min(next)) - take as u64,
            runs,
        }
    }
}
