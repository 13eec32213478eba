//! Rechunking: the same values with new chunk boundaries. Each output chunk is assembled
//! from the pieces of the input chunks it overlaps (used to align operands of a binary op).

use super::chunks::{ChunkGrid, normalize_chunks, offsets, validate_grid};
use super::{Array, Node, NodeKind};
use std::sync::Arc;
use tessera_core::key::Tokenizer;
use tessera_core::ops::Piece;
use tessera_core::{Result, TaskKey};

/// A node with `node`'s values split along `grid`.
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

impl Array {
    /// The same array split into blocks of `chunks`.
    pub fn rechunk(&self, chunks: &[usize]) -> Array {
        Array::from_result((|| {
            let node = self.node()?;
            let grid = normalize_chunks(&node.shape, chunks)?;
            Ok(Array::wrap(rechunk_node(node, grid)?))
        })())
    }

    /// The same array split along explicit per-axis chunk lengths.
    pub fn rechunk_grid(&self, grid: ChunkGrid) -> Array {
        Array::from_result((|| Ok(Array::wrap(rechunk_node(self.node()?, grid)?)))())
    }
}

/// For one output chunk, the input chunks it needs and the pieces to copy.
pub(crate) fn rechunk_pieces(
    input: &Node,
    output_grid: &ChunkGrid,
    index: &[usize],
) -> (Vec<TaskKey>, Vec<Piece>) {
    // Per axis: the (input chunk index, source range, destination offset) overlaps.
    let per_axis: Vec<Vec<(usize, std::ops::Range<usize>, usize)>> = (0..index.len())
        .map(|axis| {
            let out_off = offsets(&output_grid[axis]);
            let (lo, hi) = (out_off[index[axis]], out_off[index[axis] + 1]);
            let in_off = offsets(&input.chunks[axis]);
            let mut v = Vec::new();
            for c in 0..input.chunks[axis].len() {
                let (s, e) = (in_off[c], in_off[c + 1]);
                let (a, b) = (s.max(lo), e.min(hi));
                if a < b || (lo == hi && s == lo && c == 0) {
                    v.push((c, (a - s)..(b.max(a) - s), a - lo));
                }
            }
            v
        })
        .collect();
    let mut keys = Vec::new();
    let mut pieces = Vec::new();
    let counts: Vec<usize> = per_axis.iter().map(|v| v.len()).collect();
    for combo in super::chunks::grid_indices(&counts) {
        let in_index: Vec<usize> = combo
            .iter()
            .enumerate()
            .map(|(a, &k)| per_axis[a][k].0)
            .collect();
        keys.push(TaskKey::chunk(&input.name, &in_index));
        pieces.push(Piece {
            input: keys.len() - 1,
            source: combo
                .iter()
                .enumerate()
                .map(|(a, &k)| per_axis[a][k].1.clone())
                .collect(),
            offset: combo
                .iter()
                .enumerate()
                .map(|(a, &k)| per_axis[a][k].2)
                .collect(),
        });
    }
    (keys, pieces)
}
