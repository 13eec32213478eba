//! Rechunking: the same values with new chunk boundaries, either as one assemble task per
//! output chunk or through the worker-to-worker shuffle service (transfer, barrier, unpack).
//!
//! Which one ([`RechunkMethod::Auto`]): when every output chunk lies inside one input chunk
//! (a split) or every input chunk lies inside one output chunk (a merge), each element is
//! fetched at most once by assemble tasks, which are then the cheapest graph; the implicit
//! rechunks that align the operands of a binary operation always use them. Otherwise (rows
//! to columns, any crossing boundaries) assemble tasks would fetch every overlapping input
//! chunk *whole* for every output chunk, so [`Array::rechunk`] goes through the shuffle:
//! one transfer per input chunk cuts it into the pieces each output needs and pushes them
//! to the output's owner, and each owner assembles its outputs from its local buffer.
//! Every element crosses the network at most once and no task holds more than its input
//! chunk plus its pieces.

use super::chunks::{
    ChunkGrid, chunk_shape, grid_counts, grid_indices, linear_index, normalize_chunks, offsets,
    validate_grid,
};
use super::lower::{LowerNode, TaskSink, nbytes};
use super::{Array, Node, NodeKind};
use std::ops::Range;
use std::sync::Arc;
use tessera_core::key::Tokenizer;
use tessera_core::ops::{Op, Piece};
use tessera_core::shuffle::{Merge, PlacedPiece, RegionPiece, ShuffleSpec, Split};
use tessera_core::{Result, TaskKey};

/// How [`Array::rechunk_with`] moves the data.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RechunkMethod {
    /// Assemble tasks for pure splits and merges, the shuffle otherwise (module docs).
    #[default]
    Auto,
    /// One assemble task per output chunk, fetching every input chunk it overlaps.
    Tasks,
    /// The worker-to-worker shuffle service.
    Shuffle,
}

/// A node with `node`'s values split along `grid`, as assemble tasks (the implicit
/// rechunk that aligns operands).
pub(crate) fn rechunk_node(node: &Arc<Node>, grid: ChunkGrid) -> Result<Arc<Node>> {
    validate_grid(&node.shape, &grid)?;
    if grid == node.chunks {
        return Ok(node.clone());
    }
    let name = Tokenizer::new("rechunk")
        .str(&node.name)
        .value(&grid)
        .finish();
    Ok(Arc::new(Node {
        name,
        shape: node.shape.clone(),
        chunks: grid,
        dtype: node.dtype,
        kind: NodeKind::Rechunk {
            input: node.clone(),
        },
    }))
}

/// A node with `node`'s values split along `grid`, moved as `method` says.
fn rechunk_node_with(
    node: &Arc<Node>,
    grid: ChunkGrid,
    method: RechunkMethod,
) -> Result<Arc<Node>> {
    validate_grid(&node.shape, &grid)?;
    if grid == node.chunks {
        return Ok(node.clone());
    }
    let shuffle = match method {
        RechunkMethod::Tasks => false,
        RechunkMethod::Shuffle => true,
        RechunkMethod::Auto => crosses(&node.chunks, &grid),
    };
    if !shuffle {
        return rechunk_node(node, grid);
    }
    let name = Tokenizer::new("rechunk")
        .str(&node.name)
        .value(&grid)
        .str("shuffle")
        .finish();
    Ok(Arc::new(Node {
        name,
        shape: node.shape.clone(),
        chunks: grid,
        dtype: node.dtype,
        kind: NodeKind::Custom {
            inputs: vec![node.clone()],
            lowering: Box::new(ShuffleRechunk),
        },
    }))
}

/// Whether boundaries cross: some output chunk reads several input chunks *and* some input
/// chunk feeds several output chunks (neither a pure split nor a pure merge).
fn crosses(from: &ChunkGrid, to: &ChunkGrid) -> bool {
    // Per axis: is every `inner` boundary also an `outer` boundary?
    let refines = |inner: &[usize], outer: &[usize]| {
        let a = offsets(inner);
        offsets(outer).iter().all(|b| a.binary_search(b).is_ok())
    };
    let split = from.iter().zip(to).all(|(f, t)| refines(t, f));
    let merge = from.iter().zip(to).all(|(f, t)| refines(f, t));
    !(split || merge)
}

impl Array {
    /// The same array split into blocks of `chunks` (the last block of an axis may be
    /// shorter). Crossing boundaries go through the worker-to-worker shuffle (module docs);
    /// the same chunks give back this very array.
    pub fn rechunk(&self, chunks: &[usize]) -> Array {
        self.rechunk_with(chunks, RechunkMethod::Auto)
    }

    /// [`Array::rechunk`] with an explicit method.
    pub fn rechunk_with(&self, chunks: &[usize], method: RechunkMethod) -> Array {
        Array::from_result(self.try_rechunk_with(chunks, method))
    }

    /// [`Array::rechunk_with`], returning a bad chunk spec at once.
    pub fn try_rechunk_with(&self, chunks: &[usize], method: RechunkMethod) -> Result<Array> {
        let node = self.node()?;
        let grid = normalize_chunks(&node.shape, chunks)?;
        Ok(Array::wrap(rechunk_node_with(node, grid, method)?))
    }

    /// The same array split along explicit per-axis chunk lengths.
    pub fn rechunk_grid(&self, grid: ChunkGrid) -> Array {
        Array::from_result((|| {
            Ok(Array::wrap(rechunk_node_with(
                self.node()?,
                grid,
                RechunkMethod::Auto,
            )?))
        })())
    }
}

/// One overlap of an input chunk with an output chunk.
struct Overlap {
    /// Index of the input chunk.
    input: Vec<usize>,
    /// Region of the input chunk.
    source: Vec<Range<usize>>,
    /// Where it lands in the output chunk.
    offset: Vec<usize>,
}

/// The input chunks that output chunk `index` of `output_grid` overlaps, in C order.
fn overlaps(input: &ChunkGrid, output_grid: &ChunkGrid, index: &[usize]) -> Vec<Overlap> {
    // Per axis: the (input chunk index, source range, destination offset) overlaps.
    let per_axis: Vec<Vec<(usize, Range<usize>, usize)>> = (0..index.len())
        .map(|axis| {
            let out_off = offsets(&output_grid[axis]);
            let (lo, hi) = (out_off[index[axis]], out_off[index[axis] + 1]);
            let in_off = offsets(&input[axis]);
            let mut v = Vec::new();
            for c in 0..input[axis].len() {
                let (s, e) = (in_off[c], in_off[c + 1]);
                let (a, b) = (s.max(lo), e.min(hi));
                if a < b || (lo == hi && s == lo && c == 0) {
                    v.push((c, (a - s)..(b.max(a) - s), a - lo));
                }
            }
            v
        })
        .collect();
    let counts: Vec<usize> = per_axis.iter().map(|v| v.len()).collect();
    grid_indices(&counts)
        .into_iter()
        .map(|combo| {
            let pick = |a: usize| &per_axis[a][combo[a]];
            Overlap {
                input: (0..combo.len()).map(|a| pick(a).0).collect(),
                source: (0..combo.len()).map(|a| pick(a).1.clone()).collect(),
                offset: (0..combo.len()).map(|a| pick(a).2).collect(),
            }
        })
        .collect()
}

/// For one output chunk, the input chunks it needs and the pieces to copy.
pub(crate) fn rechunk_pieces(
    input: &Node,
    output_grid: &ChunkGrid,
    index: &[usize],
) -> (Vec<TaskKey>, Vec<Piece>) {
    let mut keys = Vec::new();
    let mut pieces = Vec::new();
    for o in overlaps(&input.chunks, output_grid, index) {
        keys.push(TaskKey::chunk(&input.name, &o.input));
        pieces.push(Piece {
            input: keys.len() - 1,
            source: o.source,
            offset: o.offset,
        });
    }
    (keys, pieces)
}

/// The shuffle lowering: a transfer per input chunk, one barrier, an unpack per output chunk.
/// Partition `p` is output chunk `p` in C order; source `s` is input chunk `s` in C order.
struct ShuffleRechunk;

impl LowerNode for ShuffleRechunk {
    fn lower(&self, node: &Node, inputs: &[Arc<Node>], tasks: &mut TaskSink<'_>) {
        let input = &inputs[0];
        let in_counts = grid_counts(&input.chunks);
        let out_counts = grid_counts(&node.chunks);
        let n_in: usize = in_counts.iter().product();
        let mut sends: Vec<Vec<RegionPiece>> = (0..n_in).map(|_| Vec::new()).collect();
        let mut unpacks = Vec::new();
        for out_ix in grid_indices(&out_counts) {
            let partition = linear_index(&out_counts, &out_ix) as u64;
            let mut placed = Vec::new();
            for o in overlaps(&input.chunks, &node.chunks, &out_ix) {
                if o.source.iter().any(|r| r.is_empty()) {
                    continue; // an empty piece carries nothing
                }
                let source = linear_index(&in_counts, &o.input);
                placed.push(PlacedPiece {
                    source: source as u64,
                    extent: o.source.iter().map(|r| r.len()).collect(),
                    offset: o.offset,
                });
                sends[source].push(RegionPiece {
                    partition,
                    region: o.source,
                });
            }
            unpacks.push((out_ix, partition, placed));
        }
        let transfer_name = Tokenizer::new("rechunk_transfer").str(&node.name).finish();
        let barrier = TaskKey::chunk(
            &Tokenizer::new("rechunk_barrier").str(&node.name).finish(),
            &[0],
        );
        let shuffle = node.name.clone();
        let mut transfers = Vec::with_capacity(n_in);
        for (in_ix, split) in grid_indices(&in_counts).into_iter().zip(sends) {
            let key = TaskKey::chunk(&transfer_name, &in_ix);
            let op = Op::ShuffleTransfer {
                shuffle: shuffle.clone(),
                source: linear_index(&in_counts, &in_ix) as u64,
                split: Split::Regions(split),
            };
            tasks.push(
                key.clone(),
                &op,
                vec![TaskKey::chunk(&input.name, &in_ix)],
                0,
            );
            transfers.push(key);
        }
        let op = Op::ShuffleBarrier {
            shuffle: shuffle.clone(),
        };
        tasks.push(barrier.clone(), &op, transfers.clone(), 0);
        let mut outputs = Vec::with_capacity(unpacks.len());
        for (out_ix, partition, pieces) in unpacks {
            let shape = chunk_shape(&node.chunks, &out_ix);
            let hint = nbytes(node, &shape);
            let op = Op::ShuffleUnpack {
                shuffle: shuffle.clone(),
                partition,
                merge: Merge::Assemble {
                    shape,
                    dtype: node.dtype,
                    pieces,
                },
            };
            let key = TaskKey::chunk(&node.name, &out_ix);
            tasks.push(key.clone(), &op, vec![barrier.clone()], hint);
            outputs.push((partition, key));
        }
        tasks.shuffle(ShuffleSpec {
            id: shuffle,
            partitions: out_counts.iter().product::<usize>() as u64,
            transfers,
            barrier,
            outputs,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::array::lower::lower;
    use crate::array::random;

    #[test]
    fn crossing_rechunks_shuffle_and_splits_or_merges_do_not() {
        let x = random::<f64>(&[12, 12], &[3, 12], 1);
        let cols = x.rechunk(&[12, 3]);
        let l = lower(cols.node().unwrap());
        l.graph.validate(&|_| false).unwrap();
        assert_eq!(l.shuffles.len(), 1);
        let s = &l.shuffles[0];
        assert_eq!(
            (s.transfers.len(), s.outputs.len(), s.partitions),
            (4, 4, 4)
        );
        // 4 random + 4 transfers + 1 barrier + 4 unpacks.
        assert_eq!(l.graph.len(), 13);
        for (method, shuffles) in [(RechunkMethod::Tasks, 0), (RechunkMethod::Shuffle, 1)] {
            let l = lower(x.rechunk_with(&[12, 3], method).node().unwrap());
            assert_eq!(l.shuffles.len(), shuffles);
        }
        // A split (rows of 3 into rows of 1) and a merge (into one chunk) use tasks.
        for chunks in [[1, 12], [12, 12], [3, 6]] {
            let l = lower(x.rechunk(&chunks).node().unwrap());
            assert!(l.shuffles.is_empty(), "{chunks:?}");
        }
        // Same chunks: the very same array.
        assert_eq!(
            x.rechunk(&[3, 12]).node().unwrap().name,
            x.node().unwrap().name
        );
        assert!(x.try_rechunk_with(&[0, 3], RechunkMethod::Shuffle).is_err());
        assert!(x.try_rechunk_with(&[3], RechunkMethod::Shuffle).is_err());
    }

    #[test]
    fn pieces_cover_every_output_exactly_once() {
        let x = random::<f64>(&[7, 5], &[3, 2], 1);
        let y = x.rechunk_with(&[2, 3], RechunkMethod::Shuffle);
        let l = lower(y.node().unwrap());
        let mut covered = 0usize;
        for t in &l.graph.tasks {
            if let Op::ShuffleUnpack { merge, .. } = t.decode_op().unwrap() {
                let Merge::Assemble { pieces, .. } = merge;
                covered += pieces
                    .iter()
                    .map(|p| p.extent.iter().product::<usize>())
                    .sum::<usize>();
            }
        }
        assert_eq!(covered, 35);
    }
}
