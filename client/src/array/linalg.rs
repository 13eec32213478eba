//! Linear algebra: `tensordot`, `matmul` and `dot` as blockwise contractions (one partial
//! product per output block and contracted block, then a tree sum), and `norm`.

use super::chunks::{chunk_shape, grid_counts, grid_indices};
use super::lower::{LowerNode, TaskSink, nbytes};
use super::reduce::DEFAULT_SPLIT_EVERY;
use super::{Array, Node, NodeKind};
use std::sync::Arc;
use tessera_core::key::Tokenizer;
use tessera_core::ops::{BinaryOp, Expr, Op};
use tessera_core::{DType, Error, Result, TaskKey};

pub use super::linalg_norm::{NormOrd, norm, try_norm};

/// NumPy's `tensordot(a, b, (axes_a, axes_b))`: sum the products over axes `axes_a[i]` of
/// `a` paired with `axes_b[i]` of `b`. The result has `a`'s other axes, then `b`'s.
///
/// Each output block is the sum over the contracted blocks of one partial product (a fast
/// local matmul on the worker), combined by a tree of fan-in [`DEFAULT_SPLIT_EVERY`].
/// Contracted chunk boundaries are aligned by rechunking the smaller operand. The dtype
/// follows NumPy's promotion (`int32 . int32` is `int32`, wrapping; `bool . bool` is the
/// logical "any pair both true").
pub fn tensordot(a: &Array, b: &Array, axes_a: &[usize], axes_b: &[usize]) -> Array {
    Array::from_result(try_tensordot(a, b, axes_a, axes_b))
}

/// [`tensordot`], returning a build error at once.
pub fn try_tensordot(a: &Array, b: &Array, axes_a: &[usize], axes_b: &[usize]) -> Result<Array> {
    try_tensordot_split(a, b, axes_a, axes_b, DEFAULT_SPLIT_EVERY)
}

/// [`tensordot`] with an explicit fan-in (at least 2) for the sum over contracted blocks.
pub fn try_tensordot_split(
    a: &Array,
    b: &Array,
    axes_a: &[usize],
    axes_b: &[usize],
    split_every: usize,
) -> Result<Array> {
    let (na, nb) = (a.node()?, b.node()?);
    check_axes("first", axes_a, &na.shape)?;
    check_axes("second", axes_b, &nb.shape)?;
    if axes_a.len() != axes_b.len() {
        return Err(Error::shape(format!(
            "tensordot: {} axes {axes_a:?} of the first operand (shape {:?}) are paired with {} axes {axes_b:?} of the second (shape {:?})",
            axes_a.len(),
            na.shape,
            axes_b.len(),
            nb.shape
        )));
    }
    for (&i, &j) in axes_a.iter().zip(axes_b) {
        if na.shape[i] != nb.shape[j] {
            return Err(Error::shape(format!(
                "tensordot: shape-mismatch for sum: axis {i} of shape {:?} has length {} but axis {j} of shape {:?} has length {}",
                na.shape, na.shape[i], nb.shape, nb.shape[j]
            )));
        }
    }
    if split_every < 2 {
        return Err(Error::other(format!(
            "split_every must be at least 2, got {split_every}"
        )));
    }
    // Align the contracted chunk boundaries: rechunk the operand with fewer elements.
    let (mut na, mut nb) = (na.clone(), nb.clone());
    if axes_a
        .iter()
        .zip(axes_b)
        .any(|(&i, &j)| na.chunks[i] != nb.chunks[j])
    {
        let size = |n: &Node| n.shape.iter().product::<usize>();
        if size(&nb) <= size(&na) {
            let mut grid = nb.chunks.clone();
            for (&i, &j) in axes_a.iter().zip(axes_b) {
                grid[j] = na.chunks[i].clone();
            }
            nb = Array::wrap(nb).rechunk_grid(grid).node()?.clone();
        } else {
            let mut grid = na.chunks.clone();
            for (&i, &j) in axes_a.iter().zip(axes_b) {
                grid[i] = nb.chunks[j].clone();
            }
            na = Array::wrap(na).rechunk_grid(grid).node()?.clone();
        }
    }
    let dtype = DType::promote(na.dtype, nb.dtype);
    let free = |n: &Node, axes: &[usize]| -> Vec<usize> {
        (0..n.shape.len()).filter(|x| !axes.contains(x)).collect()
    };
    let (free_a, free_b) = (free(&na, axes_a), free(&nb, axes_b));
    let shape = free_a
        .iter()
        .map(|&i| na.shape[i])
        .chain(free_b.iter().map(|&j| nb.shape[j]))
        .collect();
    let chunks = free_a
        .iter()
        .map(|&i| na.chunks[i].clone())
        .chain(free_b.iter().map(|&j| nb.chunks[j].clone()))
        .collect();
    let name = Tokenizer::new("tensordot")
        .str(&na.name)
        .str(&nb.name)
        .value(&axes_a)
        .value(&axes_b)
        .value(&dtype)
        .u64(split_every as u64)
        .finish();
    Ok(Array::from_node(Node {
        name,
        shape,
        chunks,
        dtype,
        kind: NodeKind::Custom {
            inputs: vec![na, nb],
            lowering: Box::new(Contraction {
                axes_a: axes_a.to_vec(),
                axes_b: axes_b.to_vec(),
                free_a,
                free_b,
                dtype,
                split_every,
            }),
        },
    }))
}

fn check_axes(which: &str, axes: &[usize], shape: &[usize]) -> Result<()> {
    let mut seen = vec![false; shape.len()];
    for &ax in axes {
        if ax >= shape.len() {
            return Err(Error::shape(format!(
                "tensordot: axis {ax} is out of bounds for the {which} operand of shape {shape:?} ({} axes)",
                shape.len()
            )));
        }
        if std::mem::replace(&mut seen[ax], true) {
            return Err(Error::shape(format!(
                "tensordot: axis {ax} is repeated in {axes:?} for the {which} operand of shape {shape:?}"
            )));
        }
    }
    Ok(())
}

impl Array {
    /// NumPy's `a @ b` for 1-d and 2-d operands: a 1-d left operand is a row vector and a
    /// 1-d right operand a column vector, whose added axis is dropped from the result.
    /// Operands with more than 2 axes (batched matmul) are refused.
    pub fn matmul(&self, other: &Array) -> Array {
        Array::from_result(self.try_matmul(other))
    }

    /// [`Array::matmul`], returning a build error at once.
    pub fn try_matmul(&self, other: &Array) -> Result<Array> {
        let (sa, sb) = (self.shape()?, other.shape()?);
        const SIG: &str = "gufunc signature (n?,k),(k,m?)->(n?,m?)";
        for (k, s) in [sa, sb].iter().enumerate() {
            if s.is_empty() {
                return Err(Error::shape(format!(
                    "matmul: input operand {k} does not have enough dimensions (has 0, {SIG} requires 1)"
                )));
            }
            if s.len() > 2 {
                return Err(Error::shape(format!(
                    "matmul: batched operands are not supported: shapes {sa:?} and {sb:?} (at most 2 axes each)"
                )));
            }
        }
        let ka = sa.len() - 1;
        let kb = 0;
        if sa[ka] != sb[kb] {
            return Err(Error::shape(format!(
                "matmul: input operand 1 has a mismatch in its core dimension 0, with {SIG} (size {} is different from {}): shapes {sa:?} and {sb:?}",
                sb[kb], sa[ka]
            )));
        }
        try_tensordot(self, other, &[ka], &[kb])
    }

    /// NumPy's `dot`: the product of two scalars (0-d arrays), the inner product of two
    /// vectors, the matrix product of two matrices, and in general a sum over the last
    /// axis of `self` and the second-to-last of `other` (the last if it is 1-d).
    pub fn dot(&self, other: &Array) -> Array {
        Array::from_result(self.try_dot(other))
    }

    /// [`Array::dot`], returning a build error at once.
    pub fn try_dot(&self, other: &Array) -> Result<Array> {
        let (sa, sb) = (self.shape()?, other.shape()?);
        if sa.is_empty() || sb.is_empty() {
            return self.try_binary(BinaryOp::Mul, other);
        }
        let ka = sa.len() - 1;
        let kb = sb.len().saturating_sub(2);
        if sa[ka] != sb[kb] {
            return Err(Error::shape(format!(
                "dot: shapes {sa:?} and {sb:?} not aligned: {} (dim {ka}) != {} (dim {kb})",
                sa[ka], sb[kb]
            )));
        }
        try_tensordot(self, other, &[ka], &[kb])
    }
}

/// Tasks of a contraction: per output block, one `Contract` per contracted block, summed
/// by `Elementwise` adds of up to `split_every` inputs.
struct Contraction {
    axes_a: Vec<usize>,
    axes_b: Vec<usize>,
    free_a: Vec<usize>,
    free_b: Vec<usize>,
    dtype: DType,
    split_every: usize,
}

impl Contraction {
    /// The chunk index of an operand with free axes `free` and contracted `axes`.
    fn operand_index(free: &[usize], axes: &[usize], out: &[usize], c: &[usize]) -> Vec<usize> {
        let mut ix = vec![0; free.len() + axes.len()];
        for (&f, &o) in free.iter().zip(out) {
            ix[f] = o;
        }
        for (&a, &k) in axes.iter().zip(c) {
            ix[a] = k;
        }
        ix
    }
}

/// `Input(0) + Input(1) + ... + Input(n - 1)`.
fn sum_expr(n: usize) -> Expr {
    (1..n).fold(Expr::Input(0), |acc, i| {
        Expr::Binary(BinaryOp::Add, Box::new(acc), Box::new(Expr::Input(i)))
    })
}

impl LowerNode for Contraction {
    fn lower(&self, node: &Node, inputs: &[Arc<Node>], tasks: &mut TaskSink<'_>) {
        let (a, b) = (&inputs[0], &inputs[1]);
        let contracted: Vec<usize> = self.axes_a.iter().map(|&i| a.chunks[i].len()).collect();
        let blocks = grid_indices(&contracted);
        let partial_name = Tokenizer::new("tensordot-partial").str(&node.name).finish();
        let op = Op::Contract {
            axes_a: self.axes_a.clone(),
            axes_b: self.axes_b.clone(),
            dtype: self.dtype,
        };
        let nfa = self.free_a.len();
        for out_ix in grid_indices(&grid_counts(&node.chunks)) {
            let shape = chunk_shape(&node.chunks, &out_ix);
            let hint = nbytes(node, &shape);
            let out_key = TaskKey::chunk(&node.name, &out_ix);
            let mut level = Vec::with_capacity(blocks.len());
            for c in &blocks {
                let ia = Self::operand_index(&self.free_a, &self.axes_a, &out_ix[..nfa], c);
                let ib = Self::operand_index(&self.free_b, &self.axes_b, &out_ix[nfa..], c);
                let key = if blocks.len() == 1 {
                    out_key.clone()
                } else {
                    let mut ix = out_ix.clone();
                    ix.extend_from_slice(c);
                    TaskKey::chunk(&partial_name, &ix)
                };
                let deps = vec![TaskKey::chunk(&a.name, &ia), TaskKey::chunk(&b.name, &ib)];
                tasks.push(key.clone(), &op, deps, hint);
                level.push(key);
            }
            let mut depth = 0u64;
            while level.len() > 1 {
                depth += 1;
                let last = level.len() <= self.split_every;
                let combine_name = Tokenizer::new("tensordot-sum")
                    .str(&node.name)
                    .u64(depth)
                    .finish();
                let mut next = Vec::with_capacity(level.len().div_ceil(self.split_every));
                for (g, group) in level.chunks(self.split_every).enumerate() {
                    if group.len() == 1 {
                        next.push(group[0].clone());
                        continue;
                    }
                    let key = if last {
                        out_key.clone()
                    } else {
                        let mut ix = out_ix.clone();
                        ix.push(g);
                        TaskKey::chunk(&combine_name, &ix)
                    };
                    let sum = Op::Elementwise {
                        expr: sum_expr(group.len()),
                        shape: shape.clone(),
                    };
                    tasks.push(key.clone(), &sum, group.to_vec(), hint);
                    next.push(key);
                }
                level = next;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::array::{ones, random};

    #[test]
    fn shapes_dtypes_and_errors_follow_numpy() {
        let a = random::<f64>(&[5, 4], &[2, 3], 1);
        let b = random::<f32>(&[4, 3], &[3, 2], 2);
        let c = a.matmul(&b);
        assert_eq!(c.shape().unwrap(), &[5, 3]);
        assert_eq!(c.dtype().unwrap(), DType::F64);
        assert_eq!(c.chunks().unwrap(), &vec![vec![2, 2, 1], vec![2, 1]]);
        let v = ones::<i32>(&[4], &[4]);
        assert_eq!(a.matmul(&v).shape().unwrap(), &[5]);
        assert_eq!(v.matmul(&b).shape().unwrap(), &[3]);
        assert_eq!(v.matmul(&v).shape().unwrap(), &[] as &[usize]);
        assert_eq!(v.matmul(&v).dtype().unwrap(), DType::I32);
        let e = b.matmul(&a).check().unwrap_err().to_string();
        assert!(
            e.contains("core dimension 0") && e.contains("size 5 is different from 3"),
            "{e}"
        );
        assert!(e.contains("[4, 3]") && e.contains("[5, 4]"), "{e}");
        let s = ones::<f64>(&[], &[]);
        assert!(
            s.matmul(&a)
                .check()
                .unwrap_err()
                .to_string()
                .contains("operand 0")
        );
        let t = ones::<f64>(&[2, 5, 4], &[1, 1, 1]);
        assert!(
            t.matmul(&b)
                .check()
                .unwrap_err()
                .to_string()
                .contains("batched")
        );
        let e = a.dot(&a).check().unwrap_err().to_string();
        assert!(e.contains("not aligned") && e.contains("[5, 4]"), "{e}");
        assert_eq!(s.dot(&a).shape().unwrap(), &[5, 4]);
        assert_eq!(t.dot(&b).shape().unwrap(), &[2, 5, 3]);
        let e = tensordot(&a, &b, &[0], &[0])
            .check()
            .unwrap_err()
            .to_string();
        assert!(e.contains("[5, 4]") && e.contains("[4, 3]"), "{e}");
        assert!(tensordot(&a, &b, &[2], &[0]).check().is_err());
        assert!(tensordot(&a, &b, &[1, 1], &[0, 0]).check().is_err());
        assert!(tensordot(&a, &b, &[1], &[]).check().is_err());
        assert!(try_tensordot_split(&a, &b, &[1], &[0], 1).is_err());
    }

    #[test]
    fn lowering_sums_partials_in_a_tree() {
        let a = random::<f64>(&[4, 40], &[4, 2], 1);
        let b = random::<f64>(&[40, 4], &[3, 4], 2);
        let c = try_tensordot_split(&a, &b, &[1], &[0], 4).unwrap();
        let l = crate::array::lower::lower_nodes(c.node().unwrap());
        l.graph.validate(&|_| false).unwrap();
        let count = |l: &crate::array::lower::Lowered, name: &str| {
            let ops = l.graph.tasks.iter().map(|t| t.decode_op().unwrap());
            ops.filter(|op| op.name() == name).count()
        };
        // 20 contracted blocks (b was rechunked to a's boundaries): 20 partials, 5 + 1 + 1 sums.
        assert_eq!(count(&l, "contract"), 20);
        assert_eq!(count(&l, "elementwise"), 7);
        assert_eq!(l.outputs.len(), 1);
        let one = a.rechunk(&[4, 40]).matmul(&b);
        let l = crate::array::lower::lower_nodes(one.node().unwrap());
        assert_eq!(count(&l, "contract"), 1);
        assert_eq!(count(&l, "elementwise"), 0);
    }
}
