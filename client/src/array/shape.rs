//! Shape manipulation: `reshape` (chunk-local where chunk boundaries allow, after a rechunk
//! where they do not), `squeeze`, `expand_dims`, `swapaxes`, `moveaxis` and `broadcast_to`.

use super::chunks::{ChunkGrid, chunk_shape, grid_counts, grid_indices, normalize_chunks, offsets};
use super::lower::{LowerNode, TaskSink, nbytes};
use super::rechunk::rechunk_node;
use super::{Array, Node, NodeKind};
use std::ops::Range;
use std::sync::Arc;
use tessera_core::key::Tokenizer;
use tessera_core::ops::{Expr, Op, Stride};
use tessera_core::{Error, Result, Scalar, TaskKey};

/// How a reshape node becomes tasks: output chunk `ix` is input chunk `in_ix` (same
/// elements, C order) under the output chunk's shape. `leads` pairs the input axis whose
/// chunk index follows the output axis's; every other input axis is one chunk.
struct ReshapeLowering {
    leads: Vec<(usize, usize)>,
}

impl LowerNode for ReshapeLowering {
    fn lower(&self, node: &Node, inputs: &[Arc<Node>], tasks: &mut TaskSink<'_>) {
        let input = &inputs[0];
        for ix in grid_indices(&grid_counts(&node.chunks)) {
            let mut in_ix = vec![0; input.shape.len()];
            for &(i, o) in &self.leads {
                in_ix[i] = ix[o];
            }
            let ranges = chunk_shape(&input.chunks, &in_ix)
                .into_iter()
                .map(Stride::full)
                .collect();
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
}

/// An empty array of any shape: its chunks come from nothing.
struct EmptyLowering;

impl LowerNode for EmptyLowering {
    fn lower(&self, node: &Node, _inputs: &[Arc<Node>], tasks: &mut TaskSink<'_>) {
        let value = Scalar::I64(0).cast(node.dtype);
        for ix in grid_indices(&grid_counts(&node.chunks)) {
            let shape = chunk_shape(&node.chunks, &ix);
            tasks.push(
                TaskKey::chunk(&node.name, &ix),
                &Op::Full { shape, value },
                vec![],
                0,
            );
        }
    }
}

/// The shape `spec` asks for (one `-1` is inferred) for an array of `old` shape.
fn resolve_shape(old: &[usize], spec: &[isize]) -> Result<Vec<usize>> {
    let size: usize = old.iter().product();
    let refuse = |why: &str| {
        Error::shape(format!(
            "cannot reshape array of shape {old:?} (size {size}) into shape {spec:?}{why}"
        ))
    };
    if spec.iter().filter(|&&d| d == -1).count() > 1 {
        return Err(refuse(": only one dimension can be -1"));
    }
    if spec.iter().any(|&d| d < -1) {
        return Err(refuse(
            ": negative dimensions other than -1 are not allowed",
        ));
    }
    let known = spec
        .iter()
        .filter(|&&d| d >= 0)
        .try_fold(1usize, |acc, &d| acc.checked_mul(d as usize))
        .ok_or_else(|| refuse(""))?;
    let inferred = if spec.contains(&-1) {
        if known == 0 || !size.is_multiple_of(known) {
            return Err(refuse(""));
        }
        size / known
    } else {
        if known != size {
            return Err(refuse(""));
        }
        0
    };
    Ok(spec
        .iter()
        .map(|&d| if d == -1 { inferred } else { d as usize })
        .collect())
}

/// Pair up runs of input and output axes with equal products (sizes must be equal and
/// non-zero). Input axes left over at the end have length 1, as have output axes.
fn groups(old: &[usize], new: &[usize]) -> Vec<(Range<usize>, Range<usize>)> {
    let (mut i, mut o) = (0, 0);
    let mut out = Vec::new();
    while i < old.len() && o < new.len() {
        let (i0, o0) = (i, o);
        let (mut pi, mut po) = (old[i], new[o]);
        i += 1;
        o += 1;
        while pi != po {
            if pi < po {
                pi *= old[i];
                i += 1;
            } else {
                po *= new[o];
                o += 1;
            }
        }
        out.push((i0..i, o0..o));
    }
    out
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 { a } else { gcd(b, a % b) }
}

impl Array {
    /// A view of the elements in C order under a new `shape` (one entry may be `-1`,
    /// inferred from the size), like NumPy's `reshape`.
    pub fn reshape(&self, shape: &[isize]) -> Array {
        Array::from_result(self.try_reshape(shape))
    }

    /// [`Array::reshape`], returning the error at once.
    ///
    /// As in Dask, axes are paired into runs whose sizes match; within a run the trailing
    /// input axes must be whole chunks and the leading axis's chunk boundaries must fall on
    /// whole rows of the output. Where they already do, every output chunk is one input
    /// chunk (no data moves); otherwise the input is rechunked first, merging the trailing
    /// axes into full chunks and shortening the leading axis's chunks to keep their size.
    pub fn try_reshape(&self, shape: &[isize]) -> Result<Array> {
        let node = self.node()?;
        let new = resolve_shape(&node.shape, shape)?;
        if new == node.shape {
            return Ok(self.clone());
        }
        super::chunks::validate_grid(&new, &new.iter().map(|&d| vec![d]).collect())?;
        let name = Tokenizer::new("reshape")
            .str(&node.name)
            .value(&new)
            .finish();
        if new.contains(&0) {
            return Ok(Array::from_node(Node {
                name,
                chunks: new.iter().map(|&d| vec![d]).collect(),
                shape: new,
                dtype: node.dtype,
                kind: NodeKind::Custom {
                    inputs: vec![],
                    lowering: Box::new(EmptyLowering),
                },
            }));
        }
        let old = &node.shape;
        let mut in_grid: ChunkGrid = node.chunks.clone();
        let mut out_grid: ChunkGrid = new.iter().map(|&d| vec![d]).collect();
        let mut leads = Vec::new();
        for (ins, outs) in groups(old, &new) {
            let Some(li) = ins.clone().find(|&a| old[a] > 1) else {
                continue;
            };
            let lo = outs.clone().find(|&a| new[a] > 1).expect("equal products");
            let in_inner: usize = old[li + 1..ins.end].iter().product();
            let out_inner: usize = new[lo + 1..outs.end].iter().product();
            let g = out_inner / gcd(in_inner, out_inner);
            let lens = &node.chunks[li];
            let aligned = offsets(lens)[1..lens.len()]
                .iter()
                .all(|b| b.is_multiple_of(g));
            let whole_trailing = (li + 1..ins.end).all(|a| node.chunks[a].len() == 1);
            if !aligned || !whole_trailing {
                // Keep chunks about as large as before: fewer rows when trailing axes merge.
                let elems: usize = ins.clone().map(|a| node.chunks[a][0]).product();
                let rows = (elems / in_inner).max(1);
                let rows = (rows / g).max(1) * g;
                in_grid[li] = normalize_chunks(&[old[li]], &[rows])?.remove(0);
                for a in li + 1..ins.end {
                    in_grid[a] = vec![old[a]];
                }
            }
            out_grid[lo] = in_grid[li]
                .iter()
                .map(|r| r * in_inner / out_inner)
                .collect();
            leads.push((li, lo));
        }
        let input = rechunk_node(node, in_grid)?;
        Ok(Array::from_node(Node {
            name,
            shape: new,
            chunks: out_grid,
            dtype: node.dtype,
            kind: NodeKind::Custom {
                inputs: vec![input],
                lowering: Box::new(ReshapeLowering { leads }),
            },
        }))
    }

    /// Remove axes of length 1: the given `axes`, or all of them when `None`.
    pub fn squeeze(&self, axes: Option<&[usize]>) -> Array {
        Array::from_result(self.try_squeeze(axes))
    }

    /// [`Array::squeeze`], returning the error at once. Never moves data.
    pub fn try_squeeze(&self, axes: Option<&[usize]>) -> Result<Array> {
        let shape = self.shape()?.to_vec();
        let drop: Vec<usize> = match axes {
            None => (0..shape.len()).filter(|&a| shape[a] == 1).collect(),
            Some(axes) => {
                for &a in axes {
                    if a >= shape.len() {
                        return Err(Error::shape(format!(
                            "squeeze: axis {a} is out of bounds for an array of shape {shape:?}"
                        )));
                    }
                    if shape[a] != 1 {
                        return Err(Error::shape(format!(
                            "cannot squeeze axis {a} of length {} (shape {shape:?}): only axes of length 1",
                            shape[a]
                        )));
                    }
                }
                axes.to_vec()
            }
        };
        let kept: Vec<isize> = (0..shape.len())
            .filter(|a| !drop.contains(a))
            .map(|a| shape[a] as isize)
            .collect();
        self.try_reshape(&kept)
    }

    /// Insert an axis of length 1 at position `axis` (`0..=ndim`).
    pub fn expand_dims(&self, axis: usize) -> Array {
        Array::from_result(self.try_expand_dims(axis))
    }

    /// [`Array::expand_dims`], returning the error at once. Never moves data.
    pub fn try_expand_dims(&self, axis: usize) -> Result<Array> {
        let shape = self.shape()?;
        if axis > shape.len() {
            return Err(Error::shape(format!(
                "expand_dims: axis {axis} is out of bounds for the result of expanding shape {shape:?} ({} axes)",
                shape.len() + 1
            )));
        }
        let mut new: Vec<isize> = shape.iter().map(|&d| d as isize).collect();
        new.insert(axis, 1);
        let node = self.node()?;
        // Not through `try_reshape`: an empty array keeps its chunks this way.
        let mut chunks = node.chunks.clone();
        chunks.insert(axis, vec![1]);
        let leads = (0..shape.len())
            .map(|a| (a, if a < axis { a } else { a + 1 }))
            .collect();
        let name = Tokenizer::new("expand_dims")
            .str(&node.name)
            .u64(axis as u64)
            .finish();
        Ok(Array::from_node(Node {
            name,
            shape: new.iter().map(|&d| d as usize).collect(),
            chunks,
            dtype: node.dtype,
            kind: NodeKind::Custom {
                inputs: vec![node.clone()],
                lowering: Box::new(ReshapeLowering { leads }),
            },
        }))
    }

    fn check_axes(&self, what: &str, axes: &[usize]) -> Result<usize> {
        let shape = self.shape()?;
        for &a in axes {
            if a >= shape.len() {
                return Err(Error::shape(format!(
                    "{what}: axis {a} is out of bounds for an array of shape {shape:?} ({} axes)",
                    shape.len()
                )));
            }
        }
        Ok(shape.len())
    }

    /// Exchange axes `a` and `b`.
    pub fn swapaxes(&self, a: usize, b: usize) -> Array {
        Array::from_result(self.try_swapaxes(a, b))
    }

    /// [`Array::swapaxes`], returning the error at once.
    pub fn try_swapaxes(&self, a: usize, b: usize) -> Result<Array> {
        let n = self.check_axes("swapaxes", &[a, b])?;
        let mut perm: Vec<usize> = (0..n).collect();
        perm.swap(a, b);
        self.try_transpose(&perm)
    }

    /// Move axis `src` to position `dst`, keeping the order of the others.
    pub fn moveaxis(&self, src: usize, dst: usize) -> Array {
        Array::from_result(self.try_moveaxis(src, dst))
    }

    /// [`Array::moveaxis`], returning the error at once.
    pub fn try_moveaxis(&self, src: usize, dst: usize) -> Result<Array> {
        let n = self.check_axes("moveaxis", &[src, dst])?;
        let mut perm: Vec<usize> = (0..n).filter(|&a| a != src).collect();
        perm.insert(dst, src);
        self.try_transpose(&perm)
    }

    /// The array repeated along new leading axes and along its axes of length 1 to
    /// `shape` (NumPy's broadcasting rules). New and stretched axes are one chunk each,
    /// as in Dask; no data is copied until a chunk is computed.
    pub fn broadcast_to(&self, shape: &[usize]) -> Array {
        Array::from_result(self.try_broadcast_to(shape))
    }

    /// [`Array::broadcast_to`], returning the error at once.
    pub fn try_broadcast_to(&self, shape: &[usize]) -> Result<Array> {
        let node = self.node()?;
        let old = &node.shape;
        let pad = shape.len().checked_sub(old.len());
        let fits = pad.is_some_and(|pad| {
            old.iter()
                .zip(&shape[pad..])
                .all(|(&o, &n)| o == n || o == 1)
        });
        let Some(pad) = pad.filter(|_| fits) else {
            return Err(Error::shape(format!(
                "cannot broadcast an array of shape {old:?} to shape {shape:?}"
            )));
        };
        if shape == old.as_slice() {
            return Ok(self.clone());
        }
        let chunks: ChunkGrid = (0..shape.len())
            .map(|a| match a.checked_sub(pad) {
                Some(i) if old[i] == shape[a] => node.chunks[i].clone(),
                _ => vec![shape[a]],
            })
            .collect();
        super::chunks::validate_grid(shape, &chunks)?;
        let name = Tokenizer::new("broadcast_to")
            .str(&node.name)
            .value(&shape)
            .finish();
        Ok(Array::from_node(Node {
            name,
            shape: shape.to_vec(),
            chunks,
            dtype: node.dtype,
            kind: NodeKind::Elementwise {
                expr: Expr::Input(0),
                inputs: vec![node.clone()],
            },
        }))
    }
}
