//! Selection by lists of positions along one axis (`take`, NumPy's `x[:, [3, 0, 3]]`) and by
//! in-memory boolean masks (`mask_axis`, `select`); every index is known when the array is built.

use super::chunks::{chunk_shape, grid_counts, grid_indices, offsets};
use super::lower::{LowerNode, TaskSink, nbytes};
use super::{Array, Node, NodeKind};
use ndarray::{ArrayBase, Data, Dimension};
use std::sync::Arc;
use tessera_core::key::Tokenizer;
use tessera_core::ops::Op;
use tessera_core::{Error, Result, TaskKey};

/// One output chunk of a take: the input chunks (along the axis) it reads, and for each of
/// its positions, which of those inputs and which position in it.
struct Block {
    sources: Vec<usize>,
    picks: Vec<(usize, usize)>,
}

/// How a take node becomes tasks: one `Take` per output chunk, reading only the input
/// chunks that hold its positions.
struct TakeLowering {
    axis: usize,
    blocks: Vec<Block>,
}

impl LowerNode for TakeLowering {
    fn lower(&self, node: &Node, inputs: &[Arc<Node>], tasks: &mut TaskSink<'_>) {
        let input = &inputs[0];
        for ix in grid_indices(&grid_counts(&node.chunks)) {
            let block = &self.blocks[ix[self.axis]];
            let keys = block
                .sources
                .iter()
                .map(|&c| {
                    let mut in_ix = ix.clone();
                    in_ix[self.axis] = c;
                    TaskKey::chunk(&input.name, &in_ix)
                })
                .collect();
            let hint = nbytes(node, &chunk_shape(&node.chunks, &ix));
            let op = Op::Take {
                axis: self.axis,
                picks: block.picks.clone(),
            };
            tasks.push(TaskKey::chunk(&node.name, &ix), &op, keys, hint);
        }
    }
}

/// Split resolved `positions` along an axis chunked as `lens` into output chunks of at most
/// the largest input chunk's length each.
fn blocks(positions: &[usize], lens: &[usize]) -> Vec<Block> {
    let off = offsets(lens);
    let per_block = lens.iter().copied().max().unwrap_or(1).max(1);
    if positions.is_empty() {
        return vec![Block {
            sources: vec![0],
            picks: vec![],
        }];
    }
    positions
        .chunks(per_block)
        .map(|part| {
            let mut sources: Vec<usize> = Vec::new();
            let picks = part
                .iter()
                .map(|&p| {
                    // The chunk holding `p`: the last whose start is <= p.
                    let c = off.partition_point(|&o| o <= p) - 1;
                    let slot = match sources.iter().position(|&s| s == c) {
                        Some(s) => s,
                        None => {
                            sources.push(c);
                            sources.len() - 1
                        }
                    };
                    (slot, p - off[c])
                })
                .collect();
            Block { sources, picks }
        })
        .collect()
}

/// Check `axis` against `node`'s shape.
fn check_axis(what: &str, node: &Node, axis: usize) -> Result<()> {
    if axis >= node.shape.len() {
        return Err(Error::shape(format!(
            "{what}: axis {axis} is out of bounds for an array of shape {:?} ({} axes)",
            node.shape,
            node.shape.len()
        )));
    }
    Ok(())
}

/// A node gathering `positions` (valid, non-negative) along `axis` of `node`.
fn take_node(node: &Arc<Node>, axis: usize, positions: Vec<usize>) -> Array {
    let blocks = blocks(&positions, &node.chunks[axis]);
    let mut shape = node.shape.clone();
    shape[axis] = positions.len();
    let mut chunks = node.chunks.clone();
    chunks[axis] = blocks.iter().map(|b| b.picks.len()).collect();
    let name = Tokenizer::new("take")
        .str(&node.name)
        .u64(axis as u64)
        .value(&positions)
        .finish();
    Array::from_node(Node {
        name,
        shape,
        chunks,
        dtype: node.dtype,
        kind: NodeKind::Custom {
            inputs: vec![node.clone()],
            lowering: Box::new(TakeLowering { axis, blocks }),
        },
    })
}

impl Array {
    /// NumPy's `np.take(x, indices, axis)` / `x[..., indices, ...]`: the positions
    /// `indices` along `axis`, in order, repeats allowed, negative ones counting from the
    /// end. An out-of-bounds index gives an array carrying the error.
    pub fn take(&self, indices: &[i64], axis: usize) -> Array {
        Array::from_result(self.try_take(indices, axis))
    }

    /// [`Array::take`], returning the error at once.
    ///
    /// The result is chunked along `axis` in runs of the input's largest chunk length;
    /// each output chunk reads only the input chunks that hold its positions.
    pub fn try_take(&self, indices: &[i64], axis: usize) -> Result<Array> {
        let node = self.node()?;
        check_axis("take", node, axis)?;
        let n = node.shape[axis];
        let positions = indices
            .iter()
            .map(|&i| {
                let p = if i < 0 {
                    i as i128 + n as i128
                } else {
                    i as i128
                };
                if p < 0 || p >= n as i128 {
                    Err(Error::shape(format!(
                        "index {i} is out of bounds for axis {axis} with size {n} (shape {:?})",
                        node.shape
                    )))
                } else {
                    Ok(p as usize)
                }
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(take_node(node, axis, positions))
    }

    /// NumPy's `x[..., mask, ...]` with a 1-d boolean `mask` along `axis`: the positions
    /// where `mask` is true. The mask is in memory, so the result's shape is known when it
    /// is built (Dask's unknown chunk sizes never arise).
    pub fn mask_axis(&self, axis: usize, mask: &[bool]) -> Array {
        Array::from_result(self.try_mask_axis(axis, mask))
    }

    /// [`Array::mask_axis`], returning the error at once.
    pub fn try_mask_axis(&self, axis: usize, mask: &[bool]) -> Result<Array> {
        let node = self.node()?;
        check_axis("mask_axis", node, axis)?;
        if mask.len() != node.shape[axis] {
            return Err(Error::shape(format!(
                "boolean index of length {} does not match axis {axis} of length {} (shape {:?})",
                mask.len(),
                node.shape[axis],
                node.shape
            )));
        }
        let positions = mask
            .iter()
            .enumerate()
            .filter_map(|(i, &m)| m.then_some(i))
            .collect();
        Ok(take_node(node, axis, positions))
    }

    /// NumPy's `x[mask]` with an in-memory boolean `mask` of `x`'s shape: the selected
    /// elements, 1-d, in C order.
    ///
    /// Lowered as a reshape to 1-d (rechunking so that every axis but the first is one
    /// chunk, where needed) followed by a take of the selected flat positions.
    pub fn select<S, D>(&self, mask: &ArrayBase<S, D>) -> Array
    where
        S: Data<Elem = bool>,
        D: Dimension,
    {
        Array::from_result(self.try_select(mask))
    }

    /// [`Array::select`], returning the error at once.
    pub fn try_select<S, D>(&self, mask: &ArrayBase<S, D>) -> Result<Array>
    where
        S: Data<Elem = bool>,
        D: Dimension,
    {
        let node = self.node()?;
        if mask.shape() != node.shape.as_slice() {
            return Err(Error::shape(format!(
                "boolean index of shape {:?} does not match the array's shape {:?}",
                mask.shape(),
                node.shape
            )));
        }
        let flat = self.try_reshape(&[-1])?;
        let positions = mask
            .iter()
            .enumerate()
            .filter_map(|(i, &m)| m.then_some(i))
            .collect();
        Ok(take_node(flat.node()?, 0, positions))
    }
}
