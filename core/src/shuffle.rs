//! Worker-to-worker shuffles: ids, the owner map, what the three shuffle ops carry, and the
//! pure functions a worker runs for them (cut an input into pieces, assemble a partition).
//!
//! A shuffle moves data from N producers to M output partitions in three task layers:
//! one *transfer* task per input (cuts its input into pieces, one per output partition it
//! feeds, and pushes each piece to the worker that owns that partition), one *barrier*
//! task that depends on every transfer (when it is done, every piece has arrived), and one
//! *unpack* task per output partition, restricted to its owner, which builds the partition
//! from the pieces in that worker's local shuffle buffer. The scheduler decides the owners
//! when a shuffle starts and hands them to the shuffle's tasks ([`ShuffleAssignment`]);
//! when a participant dies the whole shuffle restarts with a higher attempt number and
//! pieces of older attempts are discarded. Pieces travel as Arrow IPC (Flight `DoPut`
//! whose descriptor path is [`PieceHeader::to_path`]), so the same service can carry
//! table partitions (record batches) as well as array pieces.

use crate::chunk::Chunk;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::key::TaskKey;
use crate::ops::{Op, Piece};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::ops::Range;

/// First segment of the Flight descriptor path of a shuffle piece (a chunk put has one
/// segment, the key, so the two never collide).
pub const PIECE_PATH_TAG: &str = "tessera-shuffle";

/// Longest shuffle id accepted off the wire.
pub const MAX_SHUFFLE_ID_BYTES: usize = 256;

/// The shape of one shuffle in a submitted graph, so that the scheduler (which never
/// decodes ops) knows which tasks belong together.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShuffleSpec {
    /// Deterministic id (a token of the shuffle's input and output layout).
    pub id: String,
    /// Number of output partitions (partition ids are `0..partitions`).
    pub partitions: u64,
    /// The transfer tasks, one per input.
    pub transfers: Vec<TaskKey>,
    /// The barrier task: its inputs are exactly `transfers`.
    pub barrier: TaskKey,
    /// The unpack tasks with their partition ids; each reads only `barrier`. Partitions
    /// that nothing needs may have no unpack task (they were culled).
    pub outputs: Vec<(u64, TaskKey)>,
}

/// One contiguous run of partitions owned by one worker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnerRange {
    /// One past the last partition of the run (runs are sorted and start where the
    /// previous one ended, the first at 0).
    pub end: u64,
    /// Data address of the owning worker.
    pub address: String,
}

/// What the scheduler tells a shuffle task when assigning it: which attempt of the
/// shuffle it belongs to and who owns each output partition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShuffleAssignment {
    /// The shuffle's id.
    pub id: String,
    /// Attempt number, starting at 1 and raised on every restart.
    pub attempt: u64,
    /// Owners of the partitions, as contiguous runs covering `0..partitions`.
    pub owners: Vec<OwnerRange>,
}

impl ShuffleAssignment {
    /// Data address of the owner of `partition`, or `None` past the last run.
    pub fn owner(&self, partition: u64) -> Option<&str> {
        let i = self.owners.partition_point(|r| r.end <= partition);
        self.owners.get(i).map(|r| r.address.as_str())
    }
}

/// Identity of one piece in flight: which shuffle attempt, which output partition it
/// belongs to, and which input it was cut from.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PieceHeader {
    /// The shuffle's id.
    pub shuffle: String,
    /// The attempt that produced it.
    pub attempt: u64,
    /// The output partition it belongs to.
    pub partition: u64,
    /// The input (transfer) it was cut from.
    pub source: u64,
}

impl PieceHeader {
    /// The Flight descriptor path that carries this header with a `DoPut`.
    pub fn to_path(&self) -> Vec<String> {
        vec![
            PIECE_PATH_TAG.to_string(),
            self.shuffle.clone(),
            self.attempt.to_string(),
            self.partition.to_string(),
            self.source.to_string(),
        ]
    }

    /// Parse a descriptor path made by [`Self::to_path`]; `Ok(None)` when the path is not a
    /// shuffle piece's, `Err` when it claims to be one but is malformed.
    pub fn from_path(path: &[String]) -> Result<Option<Self>> {
        if path.first().map(String::as_str) != Some(PIECE_PATH_TAG) {
            return Ok(None);
        }
        let bad = || Error::decode(format!("malformed shuffle piece path {path:?}"));
        let [_, shuffle, attempt, partition, source] = path else {
            return Err(bad());
        };
        if shuffle.is_empty() || shuffle.len() > MAX_SHUFFLE_ID_BYTES {
            return Err(bad());
        }
        let num = |s: &String| s.parse::<u64>().map_err(|_| bad());
        Ok(Some(PieceHeader {
            shuffle: shuffle.clone(),
            attempt: num(attempt)?,
            partition: num(partition)?,
            source: num(source)?,
        }))
    }
}

/// How a transfer task cuts its input into pieces.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Split {
    /// Rectangular regions of an array chunk, each destined to one output partition.
    Regions(Vec<RegionPiece>),
}

/// One region of an input chunk and the partition it goes to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionPiece {
    /// The output partition.
    pub partition: u64,
    /// The region of the input chunk, one range per axis.
    pub region: Vec<Range<usize>>,
}

/// How an unpack task builds its partition from the pieces it received.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Merge {
    /// Place array pieces into a chunk of `shape`.
    Assemble {
        /// Shape of the output chunk.
        shape: Vec<usize>,
        /// Element type (every piece has it).
        dtype: DType,
        /// Every piece the partition receives; together they cover the chunk.
        pieces: Vec<PlacedPiece>,
    },
}

impl Merge {
    /// The sources this partition expects a piece from.
    pub fn sources(&self) -> Vec<u64> {
        match self {
            Merge::Assemble { pieces, .. } => pieces.iter().map(|p| p.source).collect(),
        }
    }
}

/// Where one received piece lands in the output chunk.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlacedPiece {
    /// The input (transfer) the piece comes from.
    pub source: u64,
    /// Expected shape of the piece (checked: a piece of another shape is refused).
    pub extent: Vec<usize>,
    /// Position of the piece's first element in the output chunk, per axis.
    pub offset: Vec<usize>,
}

/// Cut `input` into the pieces `split` names, in its order: `(partition, piece)`.
/// Pieces are copies (C-ordered), so the input can be dropped once they are sent.
pub fn split(split: &Split, input: &Chunk) -> Result<Vec<(u64, Chunk)>> {
    let Split::Regions(regions) = split;
    regions
        .iter()
        .map(|r| {
            let shape: Vec<usize> = r
                .region
                .iter()
                .map(|x| x.end.saturating_sub(x.start))
                .collect();
            let op = Op::Assemble {
                shape: shape.clone(),
                dtype: input.dtype(),
                pieces: vec![Piece {
                    input: 0,
                    source: r.region.clone(),
                    offset: vec![0; shape.len()],
                }],
            };
            crate::kernels::execute(&op, std::slice::from_ref(input))
                .map(|c| (r.partition, c))
                .map_err(|e| {
                    Error::shape(format!(
                        "shuffle transfer: cutting region {:?} for partition {} from a chunk \
                         of shape {:?}: {e}",
                        r.region,
                        r.partition,
                        input.shape()
                    ))
                })
        })
        .collect()
}

/// Build a partition from its received pieces (by source). A missing piece is reported
/// as [`Error::Cluster`] naming it (the shuffle must restart, the data is not wrong); a
/// piece of the wrong shape or dtype is refused.
pub fn merge(merge: &Merge, pieces: &HashMap<u64, Chunk>) -> Result<Chunk> {
    let Merge::Assemble {
        shape,
        dtype,
        pieces: placed,
    } = merge;
    let mut inputs = Vec::with_capacity(placed.len());
    let mut layout = Vec::with_capacity(placed.len());
    for (i, p) in placed.iter().enumerate() {
        let chunk = pieces.get(&p.source).ok_or_else(|| {
            Error::Cluster(format!(
                "shuffle unpack: the piece from input {} has not arrived",
                p.source
            ))
        })?;
        if chunk.shape() != p.extent.as_slice() {
            return Err(Error::shape(format!(
                "shuffle unpack: the piece from input {} has shape {:?}, expected {:?}",
                p.source,
                chunk.shape(),
                p.extent
            )));
        }
        inputs.push(chunk.clone());
        layout.push(Piece {
            input: i,
            source: p.extent.iter().map(|&n| 0..n).collect(),
            offset: p.offset.clone(),
        });
    }
    let op = Op::Assemble {
        shape: shape.clone(),
        dtype: *dtype,
        pieces: layout,
    };
    crate::kernels::execute(&op, &inputs)
}

/// The result a transfer or barrier task stores: an empty marker chunk (its data went
/// into the shuffle buffers, not the chunk store).
pub fn marker() -> Chunk {
    Chunk::from_ndarray(ndarray::ArrayD::<bool>::from_elem(
        ndarray::IxDyn(&[0]),
        false,
    ))
}

/// Owners for `partitions` partitions spread evenly and contiguously over `workers`
/// (in the given order): worker `i` owns `[i * p / w, (i + 1) * p / w)`. Workers that
/// would own nothing (more workers than partitions) are left out.
pub fn spread_owners<W: Clone>(partitions: u64, workers: &[W]) -> Vec<(u64, W)> {
    let n = workers.len() as u64;
    if n == 0 {
        return Vec::new();
    }
    let mut runs: Vec<(u64, W)> = Vec::new();
    for (i, w) in workers.iter().enumerate() {
        let i = i as u64;
        let (start, end) = (
            (i as u128 * partitions as u128 / n as u128) as u64,
            ((i + 1) as u128 * partitions as u128 / n as u128) as u64,
        );
        if end > start {
            runs.push((end, w.clone()));
        }
    }
    runs
}

#[cfg(test)]
#[path = "shuffle_tests.rs"]
mod tests;
