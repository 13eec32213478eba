//! Joining arrays: `concatenate` along an existing axis and `stack` along a new one, with
//! NumPy's dtype promotion; the inputs' chunks are kept along the axis, so no data moves.

use super::chunks::{ChunkGrid, chunk_shape, grid_counts, grid_indices};
use super::lower::{LowerNode, TaskSink, nbytes};
use super::rechunk::rechunk_node;
use super::{Array, Node, NodeKind};
use std::sync::Arc;
use tessera_core::key::Tokenizer;
use tessera_core::ops::{Expr, Op, Stride};
use tessera_core::{DType, Error, Result, TaskKey};

/// How a concatenation becomes tasks: output chunk `ix` is chunk `ix` of one input, with
/// the index along the axis shifted; `owners[k]` is (input, its chunk) for output chunk `k`
/// along the axis.
struct ConcatLowering {
    axis: usize,
    owners: Vec<(usize, usize)>,
}

impl LowerNode for ConcatLowering {
    fn lower(&self, node: &Node, inputs: &[Arc<Node>], tasks: &mut TaskSink<'_>) {
        for ix in grid_indices(&grid_counts(&node.chunks)) {
            let (input, c) = self.owners[ix[self.axis]];
            let mut in_ix = ix.clone();
            in_ix[self.axis] = c;
            let shape = chunk_shape(&node.chunks, &ix);
            let ranges = shape.iter().map(|&n| Stride::full(n)).collect();
            let hint = nbytes(node, &shape);
            tasks.push(
                TaskKey::chunk(&node.name, &ix),
                &Op::Slice { ranges, shape },
                vec![TaskKey::chunk(&inputs[input].name, &in_ix)],
                hint,
            );
        }
    }
}

/// `node` with its elements cast to `dtype` (one elementwise task per chunk, fused with
/// whatever elementwise chain produced it).
fn cast_node(node: &Arc<Node>, dtype: DType) -> Arc<Node> {
    if node.dtype == dtype {
        return node.clone();
    }
    let expr = Expr::Cast(dtype, Box::new(Expr::Input(0)));
    let name = Tokenizer::new("astype")
        .value(&expr)
        .str(&node.name)
        .finish();
    Arc::new(Node {
        name,
        shape: node.shape.clone(),
        chunks: node.chunks.clone(),
        dtype,
        kind: NodeKind::Elementwise {
            expr,
            inputs: vec![node.clone()],
        },
    })
}

fn shapes_of(nodes: &[&Arc<Node>]) -> String {
    nodes
        .iter()
        .map(|n| format!("{:?}", n.shape))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Join `arrays` along `axis` (NumPy's `concatenate`): every other axis must have equal
/// lengths; the dtype is the promotion of the inputs' dtypes. An invalid request gives an
/// array carrying an error that names the shapes.
pub fn concatenate(arrays: &[Array], axis: usize) -> Array {
    Array::from_result(try_concatenate(arrays, axis))
}

/// [`concatenate`], returning the error at once.
///
/// Along `axis` the result has the inputs' chunks, one after the other; the other axes take
/// the first input's chunks (inputs chunked differently there are rechunked to match).
pub fn try_concatenate(arrays: &[Array], axis: usize) -> Result<Array> {
    let nodes = arrays
        .iter()
        .map(|a| a.node())
        .collect::<Result<Vec<_>>>()?;
    let Some(first) = nodes.first() else {
        return Err(Error::shape("need at least one array to concatenate"));
    };
    let ndim = first.shape.len();
    if ndim == 0 {
        return Err(Error::shape(
            "zero-dimensional arrays cannot be concatenated",
        ));
    }
    if axis >= ndim {
        return Err(Error::shape(format!(
            "concatenate: axis {axis} is out of bounds for arrays of {ndim} axes (shapes {})",
            shapes_of(&nodes)
        )));
    }
    for (k, n) in nodes.iter().enumerate() {
        let same =
            n.shape.len() == ndim && (0..ndim).all(|a| a == axis || n.shape[a] == first.shape[a]);
        if !same {
            return Err(Error::shape(format!(
                "concatenate along axis {axis}: array {k} of shape {:?} does not match array 0 of shape {:?} (shapes {})",
                n.shape,
                first.shape,
                shapes_of(&nodes)
            )));
        }
    }
    let dtype = nodes
        .iter()
        .map(|n| n.dtype)
        .reduce(DType::promote)
        .expect("at least one");
    let total = nodes
        .iter()
        .try_fold(0usize, |acc, n| acc.checked_add(n.shape[axis]))
        .ok_or_else(|| {
            Error::shape(format!(
                "concatenating shapes {} overflows",
                shapes_of(&nodes)
            ))
        })?;
    if nodes.len() == 1 {
        return Ok(Array::wrap(cast_node(first, dtype)));
    }
    let mut inputs = Vec::with_capacity(nodes.len());
    let mut owners = Vec::new();
    let mut along = Vec::new();
    for (k, n) in nodes.iter().enumerate() {
        let mut grid: ChunkGrid = first.chunks.clone();
        grid[axis] = n.chunks[axis].clone();
        let aligned = rechunk_node(&cast_node(n, dtype), grid)?;
        // Empty inputs contribute no chunks (a length-0 axis is one empty chunk).
        if n.shape[axis] > 0 {
            for (c, &len) in n.chunks[axis].iter().enumerate() {
                owners.push((k, c));
                along.push(len);
            }
        }
        inputs.push(aligned);
    }
    if owners.is_empty() {
        owners.push((0, 0));
        along.push(0);
    }
    let mut chunks = first.chunks.clone();
    chunks[axis] = along;
    let mut shape = first.shape.clone();
    shape[axis] = total;
    super::chunks::validate_grid(&shape, &chunks)?;
    let mut token = Tokenizer::new("concatenate").u64(axis as u64);
    for n in &inputs {
        token = token.str(&n.name);
    }
    Ok(Array::from_node(Node {
        name: token.finish(),
        shape,
        chunks,
        dtype,
        kind: NodeKind::Custom {
            inputs,
            lowering: Box::new(ConcatLowering { axis, owners }),
        },
    }))
}

/// Join arrays of one shape along a new axis at position `axis` (NumPy's `stack`), with
/// dtype promotion. An invalid request gives an array carrying the error.
pub fn stack(arrays: &[Array], axis: usize) -> Array {
    Array::from_result(try_stack(arrays, axis))
}

/// [`stack`], returning the error at once.
pub fn try_stack(arrays: &[Array], axis: usize) -> Result<Array> {
    let nodes = arrays
        .iter()
        .map(|a| a.node())
        .collect::<Result<Vec<_>>>()?;
    let Some(first) = nodes.first() else {
        return Err(Error::shape("need at least one array to stack"));
    };
    if let Some(k) = nodes.iter().position(|n| n.shape != first.shape) {
        return Err(Error::shape(format!(
            "all input arrays must have the same shape to stack: array {k} has shape {:?}, array 0 {:?} (shapes {})",
            nodes[k].shape,
            first.shape,
            shapes_of(&nodes)
        )));
    }
    if axis > first.shape.len() {
        return Err(Error::shape(format!(
            "stack: axis {axis} is out of bounds for the result of {} axes (shapes {})",
            first.shape.len() + 1,
            shapes_of(&nodes)
        )));
    }
    let expanded = arrays
        .iter()
        .map(|a| a.try_expand_dims(axis))
        .collect::<Result<Vec<_>>>()?;
    try_concatenate(&expanded, axis)
}
