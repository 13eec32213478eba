//! Basic indexing (NumPy's `x[1:-1:2, 3, None, ...]`): slices with steps, integer indices
//! that drop an axis, `newaxis`, `...`; each output chunk is one input chunk's slice.

use super::chunks::{chunk_shape, grid_counts, grid_indices, offsets};
use super::lower::{LowerNode, TaskSink, nbytes};
use super::{Array, Node, NodeKind};
use std::sync::Arc;
use tessera_core::key::Tokenizer;
use tessera_core::ops::{Op, Stride};
use tessera_core::{Error, Result, TaskKey};

/// One entry of an index expression, as in `x[a, b, ...]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Idx {
    /// A slice `start:stop:step` with NumPy's semantics: negative positions count from the
    /// end, out-of-range bounds are clamped, a negative step walks backwards and `None`
    /// bounds mean "from the first/last element in the step's direction".
    Range {
        /// First position (inclusive).
        start: Option<isize>,
        /// Bound (exclusive).
        stop: Option<isize>,
        /// Distance between positions; never 0.
        step: isize,
    },
    /// One position, dropping the axis; negative counts from the end.
    At(isize),
    /// A new axis of length 1 (`None` / `np.newaxis`).
    NewAxis,
    /// As many full slices as needed to index every axis (`...`).
    Ellipsis,
}

impl Idx {
    /// The slice `start:stop:step`.
    pub fn range(start: Option<isize>, stop: Option<isize>, step: isize) -> Idx {
        Idx::Range { start, stop, step }
    }

    /// The integer index `i` (drops the axis).
    pub fn at(i: isize) -> Idx {
        Idx::At(i)
    }

    /// `newaxis`: insert an axis of length 1.
    pub fn newaxis() -> Idx {
        Idx::NewAxis
    }

    /// `...`: full slices for all axes not otherwise indexed.
    pub fn ellipsis() -> Idx {
        Idx::Ellipsis
    }

    /// `:`: every element of one axis.
    pub fn full() -> Idx {
        Idx::Range {
            start: None,
            stop: None,
            step: 1,
        }
    }
}

/// A basic index resolved against a shape: a stride on every input axis, and which input
/// axis (or a new axis of length 1, `None`) each output axis is. Input axes absent from
/// `out` were integer-indexed: their stride has length 1 and they are dropped.
///
/// Strides are canonical (length <= 1 has step 1, length 0 starts at 0), so equivalent
/// indices resolve to equal values and build arrays of equal names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Basic {
    pub sel: Vec<Stride>,
    pub out: Vec<Option<usize>>,
}

fn canonical(start: usize, len: usize, step: isize) -> Stride {
    match len {
        0 => Stride {
            start: 0,
            len: 0,
            step: 1,
        },
        1 => Stride {
            start,
            len,
            step: 1,
        },
        _ => Stride { start, len, step },
    }
}

/// NumPy's `PySlice_AdjustIndices`: the stride a slice selects on an axis of length `n`.
fn resolve_range(start: Option<isize>, stop: Option<isize>, step: isize, n: usize) -> Stride {
    let (n, st) = (n as i128, step as i128);
    let clamp = |v: Option<isize>, default: i128, lo: i128, hi: i128| match v {
        None => default,
        Some(v) => {
            let v = v as i128;
            let v = if v < 0 { v + n } else { v };
            v.clamp(lo, hi)
        }
    };
    let (first, len) = if st > 0 {
        let a = clamp(start, 0, 0, n);
        let b = clamp(stop, n, 0, n);
        (a, if b > a { (b - a - 1) / st + 1 } else { 0 })
    } else {
        let a = clamp(start, n - 1, -1, n - 1);
        let b = clamp(stop, -1, -1, n - 1);
        (a, if a > b { (a - b - 1) / -st + 1 } else { 0 })
    };
    canonical(first.max(0) as usize, len as usize, step)
}

/// Resolve `index` against `shape`, or say which entry is wrong.
pub(crate) fn resolve(index: &[Idx], shape: &[usize]) -> Result<Basic> {
    let ndim = shape.len();
    let ellipses = index.iter().filter(|i| **i == Idx::Ellipsis).count();
    if ellipses > 1 {
        return Err(Error::shape(format!(
            "an index can only have a single ellipsis ('...'), got {ellipses} in {index:?}"
        )));
    }
    let consuming = index
        .iter()
        .filter(|i| matches!(i, Idx::Range { .. } | Idx::At(_)))
        .count();
    if consuming > ndim {
        return Err(Error::shape(format!(
            "too many indices for an array of shape {shape:?}: {ndim} axes, {consuming} indexed ({index:?})"
        )));
    }
    let mut sel = Vec::with_capacity(ndim);
    let mut out = Vec::new();
    fn keep(sel: &mut Vec<Stride>, out: &mut Vec<Option<usize>>, s: Stride) {
        out.push(Some(sel.len()));
        sel.push(s);
    }
    for entry in index {
        let axis = sel.len();
        match *entry {
            Idx::Range { start, stop, step } => {
                if step == 0 {
                    return Err(Error::shape(format!(
                        "slice step cannot be zero (axis {axis} of shape {shape:?})"
                    )));
                }
                keep(
                    &mut sel,
                    &mut out,
                    resolve_range(start, stop, step, shape[axis]),
                );
            }
            Idx::At(i) => {
                let n = shape[axis];
                let pos = if i < 0 {
                    i as i128 + n as i128
                } else {
                    i as i128
                };
                if pos < 0 || pos >= n as i128 {
                    return Err(Error::shape(format!(
                        "index {i} is out of bounds for axis {axis} with size {n} (shape {shape:?})"
                    )));
                }
                sel.push(canonical(pos as usize, 1, 1));
            }
            Idx::NewAxis => out.push(None),
            Idx::Ellipsis => {
                for _ in 0..ndim - consuming {
                    let n = shape[sel.len()];
                    keep(&mut sel, &mut out, Stride::full(n));
                }
            }
        }
    }
    while sel.len() < ndim {
        let n = shape[sel.len()];
        keep(&mut sel, &mut out, Stride::full(n));
    }
    Ok(Basic { sel, out })
}

/// Select `inner` (positions `0..outer.len`) of the positions `outer`.
fn compose_stride(outer: &Stride, inner: &Stride) -> Stride {
    if inner.len == 0 {
        return canonical(0, 0, 1);
    }
    let start = outer.at(inner.start);
    // Both steps are bounded by the axis length when their strides have two or more
    // positions, so the product cannot overflow; a length-1 stride's step is 1.
    canonical(start, inner.len, outer.step * inner.step)
}

impl Basic {
    /// The output shape for an input of `shape`.
    fn out_shape(&self) -> Vec<usize> {
        self.out
            .iter()
            .map(|o| o.map_or(1, |i| self.sel[i].len))
            .collect()
    }

    /// One index equivalent to applying `self`, then `then` (resolved against `self`'s
    /// output shape); `None` when the result is not expressible (a new axis sliced empty).
    fn then(&self, then: &Basic) -> Option<Basic> {
        let mut sel = self.sel.clone();
        for (j, o) in self.out.iter().enumerate() {
            match o {
                Some(i) => sel[*i] = compose_stride(&self.sel[*i], &then.sel[j]),
                None if then.sel[j].len == 0 => return None,
                None => {}
            }
        }
        // An input axis of `self`'s output stays that input axis; a new axis stays new.
        let out = then
            .out
            .iter()
            .map(|o| o.and_then(|j| self.out[j]))
            .collect();
        Some(Basic { sel, out })
    }
}

/// The output chunks of selecting `s` from an axis split into `lens`: for each, the input
/// chunk it comes from and the stride within that chunk. Input chunks are visited in the
/// stride's direction; chunks holding none of its positions give no output chunk.
fn axis_plan(s: &Stride, lens: &[usize]) -> Vec<(usize, Stride)> {
    if s.len == 0 {
        return vec![(0, canonical(0, 0, 1))];
    }
    let off = offsets(lens);
    let (start, step, len) = (s.start as i128, s.step as i128, s.len as i128);
    let mut plan = Vec::new();
    let mut visit = |c: usize| {
        let (lo, hi) = (off[c] as i128, off[c + 1] as i128);
        // Positions `start + k * step` for k in [k0, k1) fall in [lo, hi).
        let (k0, k1) = if step > 0 {
            let k0 = if lo > start {
                (lo - start + step - 1) / step
            } else {
                0
            };
            let k1 = if hi > start {
                (hi - start + step - 1) / step
            } else {
                0
            };
            (k0, k1.min(len))
        } else {
            let m = -step;
            let k0 = if start >= hi { (start - hi) / m + 1 } else { 0 };
            let k1 = if start >= lo { (start - lo) / m + 1 } else { 0 };
            (k0, k1.min(len))
        };
        if k1 > k0 {
            let first = (start + k0 * step - lo) as usize;
            plan.push((c, canonical(first, (k1 - k0) as usize, s.step)));
        }
    };
    if s.step > 0 {
        (0..lens.len()).for_each(&mut visit);
    } else {
        (0..lens.len()).rev().for_each(&mut visit);
    }
    plan
}

/// How a basic-index node becomes tasks: one `Slice` of one input chunk per output chunk.
pub(crate) struct BasicIndex {
    /// The resolved index, kept so that an index of this node can be combined with it.
    pub basic: Basic,
    /// Per input axis: the output chunks along it (a dropped axis has exactly one).
    plans: Vec<Vec<(usize, Stride)>>,
}

impl LowerNode for BasicIndex {
    fn lower(&self, node: &Node, inputs: &[Arc<Node>], tasks: &mut TaskSink<'_>) {
        let input = &inputs[0];
        for ix in grid_indices(&grid_counts(&node.chunks)) {
            // Output chunk index along each input axis (0 for dropped axes).
            let mut along = vec![0; self.plans.len()];
            for (pos, o) in self.basic.out.iter().enumerate() {
                if let Some(i) = o {
                    along[*i] = ix[pos];
                }
            }
            let (in_ix, ranges): (Vec<usize>, Vec<Stride>) = along
                .iter()
                .zip(&self.plans)
                .map(|(&k, plan)| plan[k])
                .unzip();
            let shape = chunk_shape(&node.chunks, &ix);
            let hint = nbytes(node, &shape);
            tasks.push(
                TaskKey::chunk(&node.name, &ix),
                &Op::Slice { ranges, shape },
                vec![TaskKey::chunk(&input.name, &in_ix)],
                hint,
            );
        }
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

/// The basic-index lowering of `node`, if it is a basic-index node.
fn as_basic(node: &Node) -> Option<(&Arc<Node>, &Basic)> {
    match &node.kind {
        NodeKind::Custom { inputs, lowering } => lowering
            .as_any()
            .and_then(|a| a.downcast_ref::<BasicIndex>())
            .map(|b| (&inputs[0], &b.basic)),
        _ => None,
    }
}

/// A node selecting `basic` from `input`.
pub(crate) fn basic_node(input: &Arc<Node>, basic: Basic) -> Array {
    let ndim = input.shape.len();
    if basic.out == (0..ndim).map(Some).collect::<Vec<_>>()
        && basic
            .sel
            .iter()
            .zip(&input.shape)
            .all(|(s, &n)| *s == canonical(0, n, 1))
    {
        return Array::wrap(input.clone());
    }
    let plans: Vec<Vec<(usize, Stride)>> = basic
        .sel
        .iter()
        .zip(&input.chunks)
        .map(|(s, lens)| axis_plan(s, lens))
        .collect();
    let chunks = basic
        .out
        .iter()
        .map(|o| match o {
            Some(i) => plans[*i].iter().map(|(_, s)| s.len).collect(),
            None => vec![1],
        })
        .collect();
    let name = Tokenizer::new("getitem")
        .str(&input.name)
        .value(&basic.sel)
        .value(&basic.out)
        .finish();
    Array::from_node(Node {
        name,
        shape: basic.out_shape(),
        chunks,
        dtype: input.dtype,
        kind: NodeKind::Custom {
            inputs: vec![input.clone()],
            lowering: Box::new(BasicIndex { basic, plans }),
        },
    })
}

impl Array {
    /// NumPy basic indexing, `x[index]`: slices ([`Idx::range`], [`Idx::full`]), integer
    /// positions that drop their axis ([`Idx::at`]), [`Idx::newaxis`] and one
    /// [`Idx::ellipsis`]. An invalid index (out of bounds, step 0, too many entries) gives
    /// an array carrying the error.
    pub fn index(&self, index: &[Idx]) -> Array {
        Array::from_result(self.try_index(index))
    }

    /// [`Array::index`], returning the error at once.
    ///
    /// Output chunks follow the input's, as in Dask: each is the part of one input chunk
    /// the index selects, so only the overlapping input chunks are computed. Indexing the
    /// result of an index combines both into one index of the original array.
    pub fn try_index(&self, index: &[Idx]) -> Result<Array> {
        let node = self.node()?;
        let basic = resolve(index, &node.shape)?;
        if let Some((input, first)) = as_basic(node)
            && let Some(combined) = first.then(&basic)
        {
            return Ok(basic_node(input, combined));
        }
        Ok(basic_node(node, basic))
    }
}

#[cfg(test)]
#[path = "index_tests.rs"]
mod tests;
