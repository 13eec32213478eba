//! Per-computation progress: which submission each task came with, and counts per group.
//! Finished computations beyond a bound are dropped oldest first; running ones are kept.

use super::views::{ComputationProgress, GroupProgress};
use std::collections::VecDeque;
use tessera_core::wire::{ClientId, SubmissionProgress};

/// Finished computations kept for the dashboard.
const KEEP_FINISHED: usize = 64;

/// Counts of one group within one computation.
#[derive(Clone, Debug, Default)]
pub(super) struct GroupCounts {
    pub group: u32,
    pub total: u64,
    pub done: u64,
    pub erred: u64,
    pub cancelled: u64,
    pub busy_us: u64,
}

/// The graph of a small computation: task keys and edges by index.
#[derive(Clone, Debug, Default)]
pub(super) struct SmallGraph {
    pub keys: Vec<tessera_core::key::TaskKey>,
    pub edges: Vec<(u32, u32)>,
}

/// One submission's record.
#[derive(Clone, Debug, Default)]
pub(super) struct Computation {
    pub seq: u64,
    pub client: ClientId,
    pub submission: u64,
    pub submitted_ms: u64,
    pub finished_ms: Option<u64>,
    pub groups: Vec<GroupCounts>,
    pub graph: Option<SmallGraph>,
    /// When progress was last sent to the client, and whether there is news since.
    pub sent_ms: Option<u64>,
    pub dirty: bool,
}

impl Computation {
    pub fn totals(&self) -> (u64, u64, u64, u64) {
        self.groups.iter().fold((0, 0, 0, 0), |a, g| {
            (
                a.0 + g.total,
                a.1 + g.done,
                a.2 + g.erred,
                a.3 + g.cancelled,
            )
        })
    }

    /// Index of `group` in `groups`, adding it when new.
    pub fn group_slot(&mut self, group: u32) -> u32 {
        match self.groups.iter().position(|g| g.group == group) {
            Some(i) => i as u32,
            None => {
                self.groups.push(GroupCounts {
                    group,
                    ..Default::default()
                });
                (self.groups.len() - 1) as u32
            }
        }
    }

    pub fn is_complete(&self) -> bool {
        let (total, done, erred, cancelled) = self.totals();
        done + erred + cancelled >= total
    }

    pub fn client_progress(&self) -> SubmissionProgress {
        let (total, done, erred, _) = self.totals();
        SubmissionProgress {
            id: self.submission,
            total,
            done,
            erred,
        }
    }

    pub fn view(&self, group_name: &dyn Fn(u32) -> String) -> ComputationProgress {
        let (total, done, erred, cancelled) = self.totals();
        ComputationProgress {
            seq: self.seq,
            client: self.client,
            submission: self.submission,
            submitted_ms: self.submitted_ms,
            finished_ms: self.finished_ms,
            total,
            done,
            erred,
            cancelled,
            has_graph: self.graph.is_some(),
            groups: self
                .groups
                .iter()
                .map(|g| GroupProgress {
                    name: group_name(g.group),
                    total: g.total,
                    done: g.done,
                    erred: g.erred,
                    cancelled: g.cancelled,
                    busy_us: g.busy_us,
                })
                .collect(),
        }
    }
}

/// The computations, addressed by `seq`; `first_seq` is the front's number.
#[derive(Debug, Default)]
pub(super) struct Computations {
    list: VecDeque<Option<Computation>>,
    first_seq: u64,
}

impl Computations {
    pub fn next_seq(&self) -> u64 {
        self.first_seq + self.list.len() as u64
    }

    pub fn push(&mut self, c: Computation) {
        self.list.push_back(Some(c));
        self.trim();
    }

    pub fn get_mut(&mut self, seq: u64) -> Option<&mut Computation> {
        let i = seq.checked_sub(self.first_seq)? as usize;
        self.list.get_mut(i)?.as_mut()
    }

    pub fn get(&self, seq: u64) -> Option<&Computation> {
        let i = seq.checked_sub(self.first_seq)? as usize;
        self.list.get(i)?.as_ref()
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Computation> {
        self.list.iter().flatten()
    }

    /// Drop finished computations beyond [`KEEP_FINISHED`], oldest first, then the
    /// dropped slots at the front.
    pub fn trim(&mut self) {
        let finished = self
            .list
            .iter()
            .flatten()
            .filter(|c| c.finished_ms.is_some())
            .count();
        let mut excess = finished.saturating_sub(KEEP_FINISHED);
        for slot in self.list.iter_mut() {
            if excess == 0 {
                break;
            }
            if slot.as_ref().is_some_and(|c| c.finished_ms.is_some()) {
                *slot = None;
                excess -= 1;
            }
        }
        while matches!(self.list.front(), Some(None)) {
            self.list.pop_front();
            self.first_seq += 1;
        }
    }
}
