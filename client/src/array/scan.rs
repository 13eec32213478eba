//! Scans along an axis (`cumsum`, `cumprod`, `nancumsum`, `nancumprod`) as dask does them:
//! each output chunk is one task scanning its input chunk from a carry, and the carries
//! form a sequential chain of small tasks (carry into chunk j = total of chunk j-1 + its carry).

use super::chunks::{chunk_shape, grid_counts, grid_indices};
use super::lower::{LowerNode, TaskSink, nbytes};
use super::{Array, Node, NodeKind};
use std::sync::Arc;
use tessera_core::key::Tokenizer;
use tessera_core::ops::{Op, ScanKind};
use tessera_core::{Error, Result, TaskKey};

impl Array {
    /// Running sum along `axis` (bool and ints accumulate in int64, wrapping).
    pub fn cumsum(&self, axis: usize) -> Array {
        Array::from_result(self.try_scan(ScanKind::Sum, axis))
    }
    /// Running product along `axis`.
    pub fn cumprod(&self, axis: usize) -> Array {
        Array::from_result(self.try_scan(ScanKind::Prod, axis))
    }
    /// Running sum along `axis`, NaN counted as zero.
    pub fn nancumsum(&self, axis: usize) -> Array {
        Array::from_result(self.try_scan(ScanKind::NanSum, axis))
    }
    /// Running product along `axis`, NaN counted as one.
    pub fn nancumprod(&self, axis: usize) -> Array {
        Array::from_result(self.try_scan(ScanKind::NanProd, axis))
    }

    /// A scan of `kind` along `axis`, returning a build error at once.
    pub fn try_scan(&self, kind: ScanKind, axis: usize) -> Result<Array> {
        let node = self.node()?;
        if axis >= node.shape.len() {
            return Err(Error::shape(format!(
                "{}: axis {axis} is out of bounds for an array of shape {:?} ({} axes)",
                kind.name(),
                node.shape,
                node.shape.len()
            )));
        }
        let name = Tokenizer::new(kind.name())
            .str(&node.name)
            .value(&kind)
            .u64(axis as u64)
            .finish();
        Ok(Array::from_node(Node {
            name,
            shape: node.shape.clone(),
            chunks: node.chunks.clone(),
            dtype: node.dtype.sum_result(),
            kind: NodeKind::Custom {
                inputs: vec![node.clone()],
                lowering: Box::new(Scan { kind, axis }),
            },
        }))
    }
}

struct Scan {
    kind: ScanKind,
    axis: usize,
}

impl LowerNode for Scan {
    fn lower(&self, node: &Node, inputs: &[Arc<Node>], tasks: &mut TaskSink<'_>) {
        let input = &inputs[0];
        let carry_name = Tokenizer::new(&format!("{}-carry", self.kind.name()))
            .str(&node.name)
            .finish();
        let carry_op = Op::ScanCarry {
            kind: self.kind,
            axis: self.axis,
        };
        let scan_op = Op::Scan {
            kind: self.kind,
            axis: self.axis,
        };
        for ix in grid_indices(&grid_counts(&node.chunks)) {
            let j = ix[self.axis];
            let mut shape = chunk_shape(&node.chunks, &ix);
            let hint = nbytes(node, &shape);
            let mut scan_inputs = vec![TaskKey::chunk(&input.name, &ix)];
            if j > 0 {
                // The carry into chunk j: total of chunk j-1 along the axis plus its carry.
                let mut prev = ix.clone();
                prev[self.axis] = j - 1;
                let mut carry_inputs = vec![TaskKey::chunk(&input.name, &prev)];
                if j > 1 {
                    carry_inputs.push(TaskKey::chunk(&carry_name, &prev));
                }
                shape[self.axis] = 1;
                let key = TaskKey::chunk(&carry_name, &ix);
                tasks.push(key.clone(), &carry_op, carry_inputs, nbytes(node, &shape));
                scan_inputs.push(key);
            }
            tasks.push(TaskKey::chunk(&node.name, &ix), &scan_op, scan_inputs, hint);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::array::random;
    use tessera_core::DType;

    #[test]
    fn one_scan_task_per_chunk_plus_a_carry_chain() {
        let a = random::<f64>(&[10, 6], &[3, 4], 1);
        let c = a.cumsum(0);
        assert_eq!(c.shape().unwrap(), &[10, 6]);
        let stats = c.graph_stats().unwrap();
        // 8 random + 8 scans + carries into rows 1..4 for both column blocks (3 x 2).
        assert_eq!(stats.tasks_after, 8 + 8 + 6);
        assert!(a.cumsum(2).check().is_err());
        assert_eq!(
            crate::array::ones::<bool>(&[3], &[2])
                .cumprod(0)
                .dtype()
                .unwrap(),
            DType::I64
        );
    }
}
