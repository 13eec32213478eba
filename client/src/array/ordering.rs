//! Order-based operations: `topk` along an axis (per-chunk selections merged in a tree, as
//! dask does) and `bincount` of non-negative integers (per-chunk counts summed in a tree).

use super::chunks::{chunk_shape, grid_counts, grid_indices};
use super::lower::{LowerNode, TaskSink, nbytes};
use super::reduce::DEFAULT_SPLIT_EVERY;
use super::{Array, Node, NodeKind};
use std::sync::Arc;
use tessera_core::key::Tokenizer;
use tessera_core::ops::{BinaryOp, Expr, Op};
use tessera_core::{DType, Error, Result, TaskKey};

impl Array {
    /// The `k` largest elements along `axis` in descending order (`k > 0`), or the `|k|`
    /// smallest in ascending order (`k < 0`), like `dask.array.topk`. NaN counts as the
    /// largest value (NumPy's sort order). The result has `|k|` elements along `axis`, in
    /// one chunk; the other axes keep their chunks.
    pub fn topk(&self, k: i64, axis: usize) -> Array {
        Array::from_result(self.try_topk(k, axis))
    }

    /// [`Array::topk`], returning a build error at once.
    pub fn try_topk(&self, k: i64, axis: usize) -> Result<Array> {
        let node = self.node()?;
        let nd = node.shape.len();
        if axis >= nd {
            return Err(Error::shape(format!(
                "topk: axis {axis} is out of bounds for an array of shape {:?} ({nd} axes)",
                node.shape
            )));
        }
        let n = k.unsigned_abs();
        if k == 0 || n > node.shape[axis] as u64 {
            return Err(Error::shape(format!(
                "topk: k = {k} must be non-zero with |k| at most {} (axis {axis} of shape {:?})",
                node.shape[axis], node.shape
            )));
        }
        let mut shape = node.shape.clone();
        shape[axis] = n as usize;
        let mut chunks = node.chunks.clone();
        chunks[axis] = vec![n as usize];
        let name = Tokenizer::new("topk")
            .str(&node.name)
            .value(&k)
            .u64(axis as u64)
            .finish();
        Ok(Array::from_node(Node {
            name,
            shape,
            chunks,
            dtype: node.dtype,
            kind: NodeKind::Custom {
                inputs: vec![node.clone()],
                lowering: Box::new(TopK { k, axis }),
            },
        }))
    }

    /// Occurrences of each value `0..length` in a non-negative int or bool array (int64,
    /// shape `[length]`, one chunk), like `numpy.bincount(x, minlength=length)` when every
    /// value is below `length`. Tessera needs result shapes when the expression is built,
    /// so, as in dask, the length must be given; a value outside `0..length` errs the
    /// computation, naming the value.
    pub fn bincount(&self, length: usize) -> Array {
        Array::from_result(self.try_bincount(length))
    }

    /// [`Array::bincount`], returning a build error at once.
    pub fn try_bincount(&self, length: usize) -> Result<Array> {
        let node = self.node()?;
        if node.dtype.is_float() {
            return Err(Error::dtype(format!(
                "bincount needs a non-negative int or bool array, got {}",
                node.dtype
            )));
        }
        let name = Tokenizer::new("bincount")
            .str(&node.name)
            .u64(length as u64)
            .finish();
        super::chunks::validate_grid(&[length], &vec![vec![length]])?;
        Ok(Array::from_node(Node {
            name,
            shape: vec![length],
            chunks: vec![vec![length]],
            dtype: DType::I64,
            kind: NodeKind::Custom {
                inputs: vec![node.clone()],
                lowering: Box::new(Bincount { length }),
            },
        }))
    }
}

/// Merge `level` (keys of partial results) `DEFAULT_SPLIT_EVERY` at a time with `op`
/// until at most `DEFAULT_SPLIT_EVERY` are left; the caller runs the last merge.
fn tree(
    node_name: &str,
    mut level: Vec<TaskKey>,
    ix: &[usize],
    op: &Op,
    hint: u64,
    tasks: &mut TaskSink<'_>,
) -> Vec<TaskKey> {
    let mut depth = 0u64;
    while level.len() > DEFAULT_SPLIT_EVERY {
        depth += 1;
        let layer = Tokenizer::new("topk-merge")
            .str(node_name)
            .u64(depth)
            .finish();
        let mut next = Vec::new();
        for (g, group) in level.chunks(DEFAULT_SPLIT_EVERY).enumerate() {
            let mut key_ix = ix.to_vec();
            key_ix.push(g);
            let key = TaskKey::chunk(&layer, &key_ix);
            tasks.push(key.clone(), op, group.to_vec(), hint);
            next.push(key);
        }
        level = next;
    }
    level
}

struct TopK {
    k: i64,
    axis: usize,
}

impl LowerNode for TopK {
    fn lower(&self, node: &Node, inputs: &[Arc<Node>], tasks: &mut TaskSink<'_>) {
        let input = &inputs[0];
        let op = Op::TopK {
            k: self.k,
            axis: self.axis,
        };
        let along = input.chunks[self.axis].len();
        let partial = Tokenizer::new("topk-partial").str(&node.name).finish();
        for ix in grid_indices(&grid_counts(&node.chunks)) {
            let hint = nbytes(node, &chunk_shape(&node.chunks, &ix));
            let raw: Vec<TaskKey> = (0..along)
                .map(|j| {
                    let mut in_ix = ix.clone();
                    in_ix[self.axis] = j;
                    TaskKey::chunk(&input.name, &in_ix)
                })
                .collect();
            let level = if raw.len() <= DEFAULT_SPLIT_EVERY {
                raw
            } else {
                // Select within each chunk first, so merges move at most |k| per lane.
                let selected = raw
                    .into_iter()
                    .enumerate()
                    .map(|(j, key)| {
                        let mut p_ix = ix.clone();
                        p_ix[self.axis] = j;
                        let p = TaskKey::chunk(&partial, &p_ix);
                        tasks.push(p.clone(), &op, vec![key], hint);
                        p
                    })
                    .collect();
                tree(&node.name, selected, &ix, &op, hint, tasks)
            };
            tasks.push(TaskKey::chunk(&node.name, &ix), &op, level, hint);
        }
    }
}

struct Bincount {
    length: usize,
}

impl LowerNode for Bincount {
    fn lower(&self, node: &Node, inputs: &[Arc<Node>], tasks: &mut TaskSink<'_>) {
        let input = &inputs[0];
        let partial = Tokenizer::new("bincount-partial").str(&node.name).finish();
        let op = Op::Bincount {
            length: self.length,
        };
        let hint = 8 * self.length as u64;
        let mut level = Vec::new();
        for ix in grid_indices(&grid_counts(&input.chunks)) {
            let key = TaskKey::chunk(&partial, &ix);
            tasks.push(
                key.clone(),
                &op,
                vec![TaskKey::chunk(&input.name, &ix)],
                hint,
            );
            level.push(key);
        }
        let sum = |n: usize| Op::Elementwise {
            expr: (1..n).fold(Expr::Input(0), |acc, i| {
                Expr::Binary(BinaryOp::Add, Box::new(acc), Box::new(Expr::Input(i)))
            }),
            shape: vec![self.length],
        };
        if level.is_empty() {
            // No chunks at all (a 0-d input has one): zero counts.
            tasks.push(
                TaskKey::chunk(&node.name, &[0]),
                &Op::Full {
                    shape: vec![self.length],
                    value: tessera_core::Scalar::I64(0),
                },
                vec![],
                hint,
            );
            return;
        }
        let mut depth = 0u64;
        while level.len() > DEFAULT_SPLIT_EVERY {
            depth += 1;
            let layer = Tokenizer::new("bincount-sum")
                .str(&node.name)
                .u64(depth)
                .finish();
            level = level
                .chunks(DEFAULT_SPLIT_EVERY)
                .enumerate()
                .map(|(g, group)| {
                    let key = TaskKey::chunk(&layer, &[g]);
                    tasks.push(key.clone(), &sum(group.len()), group.to_vec(), hint);
                    key
                })
                .collect();
        }
        let n = level.len();
        tasks.push(TaskKey::chunk(&node.name, &[0]), &sum(n), level, hint);
    }
}

#[cfg(test)]
mod tests {
    use crate::array::{ones, random};
    use tessera_core::DType;

    #[test]
    fn shapes_and_refusals() {
        let a = random::<f64>(&[10, 6], &[3, 4], 1);
        let t = a.topk(3, 0);
        assert_eq!(t.shape().unwrap(), &[3, 6]);
        assert_eq!(t.chunks().unwrap(), &vec![vec![3], vec![4, 2]]);
        assert_eq!(a.topk(-2, 1).shape().unwrap(), &[10, 2]);
        assert!(a.topk(0, 0).check().is_err());
        assert!(a.topk(11, 0).check().is_err());
        assert!(a.topk(1, 2).check().is_err());
        assert!(a.bincount(4).check().is_err());
        let i = ones::<i32>(&[7], &[2]);
        assert_eq!(i.bincount(3).shape().unwrap(), &[3]);
        assert_eq!(i.bincount(3).dtype().unwrap(), DType::I64);
        let stats = i.bincount(3).graph_stats().unwrap();
        assert_eq!(stats.tasks_after, 4 + 4 + 1);
    }
}
