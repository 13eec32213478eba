//! `argmin`/`argmax` over one axis or all (a flat C-order index, like NumPy) as tree
//! reductions: per-chunk states carry value and global index; first occurrence and NaN win.

use super::chunks::{chunk_shape, grid_counts, grid_indices, offsets};
use super::lower::{LowerNode, TaskSink};
use super::reduce::DEFAULT_SPLIT_EVERY;
use super::{Array, Node, NodeKind};
use std::sync::Arc;
use tessera_core::key::Tokenizer;
use tessera_core::ops::Op;
use tessera_core::{DType, Error, Result, TaskKey};

impl Array {
    /// Index of the largest element of the flattened array (int64, 0-d). The first
    /// occurrence wins ties; a NaN counts as largest (NumPy). Empty arrays are refused.
    pub fn argmax(&self) -> Array {
        Array::from_result(self.try_argreduce(true, None))
    }
    /// Index along `axis` of the largest element of each lane.
    pub fn argmax_axis(&self, axis: usize) -> Array {
        Array::from_result(self.try_argreduce(true, Some(axis)))
    }
    /// Index of the smallest element of the flattened array (NaN counts as smallest).
    pub fn argmin(&self) -> Array {
        Array::from_result(self.try_argreduce(false, None))
    }
    /// Index along `axis` of the smallest element of each lane.
    pub fn argmin_axis(&self, axis: usize) -> Array {
        Array::from_result(self.try_argreduce(false, Some(axis)))
    }

    /// `argmax` (`max`) or `argmin` over `axis` (all axes when `None`), returning a build
    /// error at once.
    pub fn try_argreduce(&self, max: bool, axis: Option<usize>) -> Result<Array> {
        let node = self.node()?;
        let what = if max { "argmax" } else { "argmin" };
        let nd = node.shape.len();
        if let Some(a) = axis
            && a >= nd
        {
            return Err(Error::shape(format!(
                "{what}: axis {a} is out of bounds for an array of shape {:?} ({nd} axes)",
                node.shape
            )));
        }
        let empty = match axis {
            Some(a) => node.shape[a] == 0,
            None => node.shape.contains(&0),
        };
        if empty {
            return Err(Error::shape(format!(
                "attempt to get {what} of an empty sequence (shape {:?}, axis {axis:?})",
                node.shape
            )));
        }
        let keep: Vec<usize> = match axis {
            Some(a) => (0..nd).filter(|&d| d != a).collect(),
            None => vec![],
        };
        let name = Tokenizer::new(what).str(&node.name).value(&axis).finish();
        Ok(Array::from_node(Node {
            name,
            shape: keep.iter().map(|&a| node.shape[a]).collect(),
            chunks: keep.iter().map(|&a| node.chunks[a].clone()).collect(),
            dtype: DType::I64,
            kind: NodeKind::Custom {
                inputs: vec![node.clone()],
                lowering: Box::new(ArgReduce { max, axis }),
            },
        }))
    }
}

/// Partial states per input chunk, combined `DEFAULT_SPLIT_EVERY` at a time, finalized.
struct ArgReduce {
    max: bool,
    axis: Option<usize>,
}

impl LowerNode for ArgReduce {
    fn lower(&self, node: &Node, inputs: &[Arc<Node>], tasks: &mut TaskSink<'_>) {
        let input = &inputs[0];
        let nd = input.shape.len();
        let in_counts = grid_counts(&input.chunks);
        let reduced: Vec<usize> = match self.axis {
            Some(a) => vec![a],
            None => (0..nd).collect(),
        };
        let kept: Vec<usize> = (0..nd).filter(|d| !reduced.contains(d)).collect();
        let offs: Vec<Vec<usize>> = input.chunks.iter().map(|c| offsets(c)).collect();
        let partial_name = Tokenizer::new("arg-partial").str(&node.name).finish();
        let reduced_counts: Vec<usize> = reduced.iter().map(|&a| in_counts[a]).collect();
        let state_hint = |shape: &[usize]| {
            let n: usize = (0..nd)
                .filter(|d| !reduced.contains(d))
                .map(|d| shape[d])
                .product();
            16 * n as u64
        };
        for out_ix in grid_indices(&grid_counts(&node.chunks)) {
            let mut level: Vec<TaskKey> = Vec::new();
            for red_ix in grid_indices(&reduced_counts) {
                let mut in_ix = vec![0; nd];
                for (k, &a) in kept.iter().enumerate() {
                    in_ix[a] = out_ix[k];
                }
                for (k, &a) in reduced.iter().enumerate() {
                    in_ix[a] = red_ix[k];
                }
                let op = Op::ArgPartial {
                    max: self.max,
                    axis: self.axis,
                    offset: (0..nd).map(|d| offs[d][in_ix[d]]).collect(),
                    array_shape: input.shape.clone(),
                };
                let key = TaskKey::chunk(&partial_name, &in_ix);
                let hint = state_hint(&chunk_shape(&input.chunks, &in_ix));
                tasks.push(
                    key.clone(),
                    &op,
                    vec![TaskKey::chunk(&input.name, &in_ix)],
                    hint,
                );
                level.push(key);
            }
            let hint = state_hint(&chunk_shape(&input.chunks, &vec![0; nd]));
            let combine = Op::ArgCombine {
                max: self.max,
                dtype: input.dtype,
            };
            let mut depth = 0u64;
            while level.len() > 1 {
                depth += 1;
                let name = Tokenizer::new("arg-combine")
                    .str(&node.name)
                    .u64(depth)
                    .finish();
                let mut next = Vec::new();
                for (g, group) in level.chunks(DEFAULT_SPLIT_EVERY).enumerate() {
                    if group.len() == 1 {
                        next.push(group[0].clone());
                        continue;
                    }
                    let mut ix = out_ix.clone();
                    ix.push(g);
                    let key = TaskKey::chunk(&name, &ix);
                    tasks.push(key.clone(), &combine, group.to_vec(), hint);
                    next.push(key);
                }
                level = next;
            }
            let out_hint = 8 * chunk_shape(&node.chunks, &out_ix).iter().product::<usize>() as u64;
            tasks.push(
                TaskKey::chunk(&node.name, &out_ix),
                &Op::ArgFinalize { axis: self.axis },
                level,
                out_hint,
            );
        }
    }
}
