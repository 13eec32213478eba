//! `map_overlap`: run a registered kernel on every block extended by ghost cells from its
//! neighbours (or the array boundary rule), then trim the result back to the block.

use super::chunks::{chunk_shape, grid_counts, grid_indices};
use super::lower::{LowerNode, TaskSink, nbytes};
use super::{Array, Node, NodeKind};
use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;
use tessera_core::key::Tokenizer;
use tessera_core::ops::{GhostEdge, GhostFill, Op, Piece};
use tessera_core::{DType, Error, Result, Scalar, TaskKey};

/// What the ghost cells beyond the array's edges hold (dask's `boundary`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Boundary {
    /// The array mirrored at its edge, edge element included (`[b a | a b c | c b]`).
    Reflect,
    /// The array wrapped around: the last elements before the first.
    Periodic,
    /// A constant, cast to the array's dtype.
    Constant(Scalar),
    /// No ghost cells at the array's edges: edge blocks are extended on inner sides only.
    None,
}

impl Array {
    /// Apply the kernel registered as `kernel` to every block extended by `depth[axis]`
    /// cells on each side of each axis: cells from the neighbouring blocks, and beyond the
    /// array's edges as `boundary` says. The kernel must return a chunk of the extended
    /// block's shape with dtype `dtype`; the result is trimmed back to the block.
    /// A depth larger than the smallest chunk of its axis is refused (rechunk first).
    pub fn map_overlap(
        &self,
        kernel: &str,
        depth: &[usize],
        boundary: Boundary,
        args: &[u8],
        dtype: DType,
    ) -> Array {
        Array::from_result(self.try_map_overlap(kernel, depth, boundary, args, dtype))
    }

    /// [`Array::map_overlap`], returning a build error at once.
    pub fn try_map_overlap(
        &self,
        kernel: &str,
        depth: &[usize],
        boundary: Boundary,
        args: &[u8],
        dtype: DType,
    ) -> Result<Array> {
        let node = self.node()?;
        if kernel.is_empty() || kernel.contains(['-', ':']) {
            return Err(Error::other(format!(
                "kernel name {kernel:?} must be non-empty and contain neither '-' nor ':'"
            )));
        }
        if depth.len() != node.shape.len() {
            return Err(Error::shape(format!(
                "map_overlap: depth {depth:?} has {} entries but the array of shape {:?} has {} axes",
                depth.len(),
                node.shape,
                node.shape.len()
            )));
        }
        for (axis, (&d, lens)) in depth.iter().zip(&node.chunks).enumerate() {
            let smallest = lens.iter().copied().min().unwrap_or(0);
            if d > smallest {
                return Err(Error::Chunks(format!(
                    "map_overlap: depth {d} on axis {axis} is larger than the smallest chunk ({smallest}) of chunks {lens:?} (shape {:?}); rechunk to larger chunks first",
                    node.shape
                )));
            }
        }
        let boundary = match boundary {
            Boundary::Constant(v) => Boundary::Constant(v.cast(node.dtype)),
            b => b,
        };
        let name = Tokenizer::new(kernel)
            .str("overlap")
            .str(&node.name)
            .value(&depth)
            .value(&format!("{boundary:?}"))
            .bytes(args)
            .value(&dtype)
            .finish();
        Ok(Array::from_node(Node {
            name,
            shape: node.shape.clone(),
            chunks: node.chunks.clone(),
            dtype,
            kind: NodeKind::Custom {
                inputs: vec![node.clone()],
                lowering: Box::new(MapOverlap {
                    kernel: kernel.to_string(),
                    args: args.to_vec(),
                    depth: depth.to_vec(),
                    boundary,
                }),
            },
        }))
    }
}

/// Per block: a `Ghost` task building the padded block, the `Kernel` on it, and an
/// `Assemble` trimming the kernel's output back to the block.
struct MapOverlap {
    kernel: String,
    args: Vec<u8>,
    depth: Vec<usize>,
    boundary: Boundary,
}

/// One stretch of a padded block along one axis: real data from input chunk `chunk`
/// (`source` range inside it) or, when `chunk` is `None`, a slab the edge rule fills.
struct Segment {
    chunk: Option<usize>,
    source: Range<usize>,
    offset: usize,
}

impl MapOverlap {
    /// The segments of the padded block at chunk `i` of an axis with chunk `lens` and
    /// ghost width `d`, plus the edges to fill and the block's start inside the padding.
    fn axis_plan(
        &self,
        axis: usize,
        lens: &[usize],
        i: usize,
    ) -> (Vec<Segment>, Vec<GhostEdge>, usize) {
        let d = self.depth[axis];
        let (n, len) = (lens.len(), lens[i]);
        let mut segments = Vec::new();
        let mut edges = Vec::new();
        let fill = match self.boundary {
            Boundary::Reflect => Some(GhostFill::Reflect),
            Boundary::Constant(v) => Some(GhostFill::Constant(v)),
            Boundary::Periodic | Boundary::None => None,
        };
        let mut offset = 0;
        if d > 0 {
            let neighbour = if i > 0 {
                Some(i - 1)
            } else if self.boundary == Boundary::Periodic {
                Some(n - 1)
            } else {
                None
            };
            match (neighbour, fill) {
                (Some(c), _) => segments.push(Segment {
                    chunk: Some(c),
                    source: lens[c] - d..lens[c],
                    offset: 0,
                }),
                (None, Some(fill)) => {
                    segments.push(Segment {
                        chunk: None,
                        source: 0..d,
                        offset: 0,
                    });
                    edges.push(GhostEdge {
                        axis,
                        high: false,
                        width: d,
                        fill,
                    });
                }
                (None, None) => {}
            }
            offset = if neighbour.is_some() || fill.is_some() {
                d
            } else {
                0
            };
        }
        let start = offset;
        segments.push(Segment {
            chunk: Some(i),
            source: 0..len,
            offset,
        });
        if d > 0 {
            let neighbour = if i + 1 < n {
                Some(i + 1)
            } else if self.boundary == Boundary::Periodic {
                Some(0)
            } else {
                None
            };
            match (neighbour, fill) {
                (Some(c), _) => segments.push(Segment {
                    chunk: Some(c),
                    source: 0..d,
                    offset: start + len,
                }),
                (None, Some(fill)) => {
                    segments.push(Segment {
                        chunk: None,
                        source: 0..d,
                        offset: start + len,
                    });
                    edges.push(GhostEdge {
                        axis,
                        high: true,
                        width: d,
                        fill,
                    });
                }
                (None, None) => {}
            }
        }
        (segments, edges, start)
    }
}

impl LowerNode for MapOverlap {
    fn lower(&self, node: &Node, inputs: &[Arc<Node>], tasks: &mut TaskSink<'_>) {
        let input = &inputs[0];
        let ghost_name = Tokenizer::new("ghost").str(&node.name).finish();
        let kernel_name = Tokenizer::new(&self.kernel).str(&node.name).finish();
        let kernel_op = Op::Kernel {
            name: self.kernel.clone(),
            args: self.args.clone(),
        };
        let ndim = node.shape.len();
        for ix in grid_indices(&grid_counts(&node.chunks)) {
            let plans: Vec<_> = (0..ndim)
                .map(|a| self.axis_plan(a, &input.chunks[a], ix[a]))
                .collect();
            let padded: Vec<usize> = plans
                .iter()
                .map(|(segs, _, _)| segs.iter().map(|s| s.source.len()).sum())
                .collect();
            // Every combination of real-data segments is one piece; the same input chunk
            // may feed several pieces (a single chunk wrapping onto itself).
            let mut keys: Vec<TaskKey> = Vec::new();
            let mut position: HashMap<Vec<usize>, usize> = HashMap::new();
            let mut pieces = Vec::new();
            let counts: Vec<usize> = plans.iter().map(|(segs, _, _)| segs.len()).collect();
            for combo in grid_indices(&counts) {
                let segs: Vec<&Segment> = combo
                    .iter()
                    .enumerate()
                    .map(|(a, &k)| &plans[a].0[k])
                    .collect();
                let Some(chunk_ix) = segs.iter().map(|s| s.chunk).collect::<Option<Vec<_>>>()
                else {
                    continue;
                };
                let slot = *position.entry(chunk_ix.clone()).or_insert_with(|| {
                    keys.push(TaskKey::chunk(&input.name, &chunk_ix));
                    keys.len() - 1
                });
                pieces.push(Piece {
                    input: slot,
                    source: segs.iter().map(|s| s.source.clone()).collect(),
                    offset: segs.iter().map(|s| s.offset).collect(),
                });
            }
            let edges: Vec<GhostEdge> = plans.iter().flat_map(|(_, e, _)| e.clone()).collect();
            let ghost_key = TaskKey::chunk(&ghost_name, &ix);
            let ghost_op = Op::Ghost {
                shape: padded.clone(),
                dtype: input.dtype,
                pieces,
                edges,
            };
            let in_hint = padded
                .iter()
                .fold(input.dtype.itemsize() as u64, |acc, &d| {
                    acc.saturating_mul(d as u64)
                });
            tasks.push(ghost_key.clone(), &ghost_op, keys, in_hint);
            let out_hint = nbytes(node, &padded);
            let kernel_key = TaskKey::chunk(&kernel_name, &ix);
            tasks.push(kernel_key.clone(), &kernel_op, vec![ghost_key], out_hint);
            let shape = chunk_shape(&node.chunks, &ix);
            let trim = Op::Assemble {
                shape: shape.clone(),
                dtype: node.dtype,
                pieces: vec![Piece {
                    input: 0,
                    source: plans
                        .iter()
                        .zip(&shape)
                        .map(|((_, _, start), &len)| *start..start + len)
                        .collect(),
                    offset: vec![0; ndim],
                }],
            };
            let hint = nbytes(node, &shape);
            tasks.push(
                TaskKey::chunk(&node.name, &ix),
                &trim,
                vec![kernel_key],
                hint,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::array::random;

    #[test]
    fn depth_and_names_are_checked_when_built() {
        let a = random::<f64>(&[10, 6], &[4, 3], 1);
        let ok = a.map_overlap("k", &[2, 3], Boundary::Reflect, &[], DType::F64);
        assert_eq!(ok.chunks().unwrap(), a.chunks().unwrap());
        let e = a
            .try_map_overlap("k", &[3, 0], Boundary::None, &[], DType::F64)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("depth 3 on axis 0") && e.contains("smallest chunk (2)"),
            "{e}"
        );
        assert!(
            a.try_map_overlap("k", &[1], Boundary::None, &[], DType::F64)
                .is_err()
        );
        assert!(
            a.try_map_overlap("a-b", &[1, 1], Boundary::None, &[], DType::F64)
                .is_err()
        );
        let l = crate::array::lower::lower(ok.node().unwrap());
        l.graph.validate(&|_| false).unwrap();
        // 6 blocks: a ghost, a kernel and a trim each (plus 6 random chunks).
        assert_eq!(l.graph.len(), 6 * 4);
    }
}
