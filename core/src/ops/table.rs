//! Table operations: one partition of a DataFusion plan fragment (a stage), and the
//! bridges between table columns and 1-d array chunks.

use serde::{Deserialize, Serialize};

/// Run partition `partition` of a plan fragment on the worker. The fragment's
/// `StageInputExec` leaves read the task's inputs as `bindings` say.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TableStage {
    /// The fragment, as datafusion-proto bytes.
    #[serde(with = "serde_bytes")]
    pub plan: Vec<u8>,
    /// Which partition of the fragment this task computes.
    pub partition: u32,
    /// When true the fragment's root is a `RepartitionExec`: the task runs partition
    /// `partition` of its input and splits the rows into one bucket per output partition
    /// of the repartition (the producer side of a shuffle).
    pub split: bool,
    /// Which input feeds which leaf partition.
    pub bindings: Vec<StageBinding>,
    /// Where the partition is written instead of being kept, if anywhere.
    pub sink: Option<TableSink>,
}

/// One input of a table task feeding one partition of one leaf.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StageBinding {
    /// Index into the task's inputs.
    pub input: u32,
    /// The leaf (`StageInputExec` id) it feeds.
    pub leaf: u32,
    /// The leaf partition it feeds.
    pub partition: u32,
    /// Only this bucket of the input (the input is a shuffle producer's output).
    pub bucket: Option<u32>,
}

/// Where a table task writes its partition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum TableSink {
    /// A Parquet file at this path (the directory must exist).
    Parquet {
        /// File path, as seen by the workers.
        path: String,
    },
}

impl TableStage {
    /// For each of `n_inputs` inputs, the one bucket the task needs of it, or `None` when
    /// it needs the whole value (several buckets, or an unbucketed input).
    pub fn input_buckets(&self, n_inputs: usize) -> Vec<Option<u32>> {
        let mut wanted: Vec<Option<Option<u32>>> = vec![None; n_inputs];
        for b in &self.bindings {
            if let Some(slot) = wanted.get_mut(b.input as usize) {
                *slot = match *slot {
                    None => Some(b.bucket),
                    Some(prev) if prev == b.bucket => Some(prev),
                    Some(_) => Some(None),
                };
            }
        }
        wanted.into_iter().map(|w| w.flatten()).collect()
    }
}
