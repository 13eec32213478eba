//! Lazy chunked N-d arrays: `Array` is an expression over chunks that lowers to tasks.
//! Shape and dtype errors are found here, when the expression is built, never on a worker.

mod argreduce;
mod blockwise;
pub mod chunks;
mod create;
mod elementwise;
mod fuse_tasks;
mod index;
mod index_fancy;
mod join;
pub mod linalg;
mod linalg_norm;
pub(crate) mod lower;
mod map_blocks;
pub(crate) mod optimize;
mod ordering;
mod overlap;
mod percentile;
mod rechunk;
mod reduce;
mod reductions;
mod scan;
mod shape;
mod storage;
mod ufuncs;
mod unique;

pub use blockwise::{blockwise, try_blockwise};
pub use chunks::ChunkGrid;
pub use create::{arange, from_ndarray, full, ones, randint, random, random_range, zeros};
pub use elementwise::{Operand, broadcast_shapes};
pub use index::Idx;
pub use join::{concatenate, stack, try_concatenate, try_stack};
pub use linalg::tensordot;
pub use optimize::GraphStats;
pub use overlap::Boundary;
pub use rechunk::RechunkMethod;
pub use storage::{
    from_npy, from_zarr, from_zarr_chunks, try_from_npy, try_from_zarr, try_from_zarr_chunks,
};
pub use ufuncs::{try_where, where_};

use crate::client::KeyHold;
use std::sync::Arc;
use tessera_core::ops::{Expr, RandomDist, Reduction};
use tessera_core::{Chunk, DType, Error, Result, Scalar};

/// A lazy, chunked N-d array.
///
/// Operators (`&a + &b`, `&a * 2.0`) cannot return a `Result`, so an invalid
/// operation (say, shapes that do not broadcast) gives an array that carries the
/// error, found when the expression is built: [`Array::check`], [`Array::shape`]
/// and every computation report it. The `try_*` methods return it at once.
#[derive(Clone)]
pub struct Array {
    node: std::result::Result<Arc<Node>, Error>,
}

/// One node of an array expression.
pub(crate) struct Node {
    /// `group-token`, derived from the operation and its inputs.
    pub name: String,
    pub shape: Vec<usize>,
    pub chunks: ChunkGrid,
    pub dtype: DType,
    pub kind: NodeKind,
}

/// How a node's chunks are computed.
pub(crate) enum NodeKind {
    /// Created from nothing: every chunk from its index alone.
    Source(Source),
    /// Data from the client, put on workers at its first submission by each client and
    /// kept there while this node lives (the holds release it when the array is dropped).
    Literal {
        chunks: Vec<Chunk>,
        holds: std::sync::Mutex<Vec<Arc<KeyHold>>>,
    },
    /// An elementwise expression over aligned inputs (broadcast where they have length 1).
    Elementwise { expr: Expr, inputs: Vec<Arc<Node>> },
    /// Axis permutation.
    Transpose { input: Arc<Node>, axes: Vec<usize> },
    /// Tree reduction over `axes`.
    Reduce {
        input: Arc<Node>,
        reduction: Reduction,
        axes: Vec<usize>,
        split_every: usize,
    },
    /// Same values, new chunk boundaries.
    Rechunk { input: Arc<Node> },
    /// Any other operation: its tasks come from a [`lower::LowerNode`] implementation,
    /// so a new operation lives in its own file without touching this enum.
    Custom {
        inputs: Vec<Arc<Node>>,
        lowering: Box<dyn lower::LowerNode>,
    },
    /// Results held by the cluster for a client. Both fields are owned, not read:
    /// the input keeps the lineage alive, and dropping the hold releases the keys.
    #[allow(dead_code)]
    Persisted {
        input: Arc<Node>,
        hold: Arc<KeyHold>,
    },
    /// Chunks computed on the cluster from something that is not an array (a table
    /// column): held by `hold`, with no array lineage.
    #[allow(dead_code)]
    Held { hold: Arc<KeyHold> },
}

impl NodeKind {
    /// The nodes this one reads.
    pub(crate) fn inputs(&self) -> Vec<&Arc<Node>> {
        match self {
            NodeKind::Source(_)
            | NodeKind::Literal { .. }
            | NodeKind::Persisted { .. }
            | NodeKind::Held { .. } => vec![],
            NodeKind::Elementwise { inputs, .. } | NodeKind::Custom { inputs, .. } => {
                inputs.iter().collect()
            }
            NodeKind::Transpose { input, .. }
            | NodeKind::Reduce { input, .. }
            | NodeKind::Rechunk { input } => vec![input],
        }
    }

    /// Move out the input nodes (and a persisted node's lineage), leaving a leaf.
    fn take_inputs(&mut self) -> Vec<Arc<Node>> {
        let kind = std::mem::replace(self, NodeKind::Source(Source::Full(Scalar::Bool(false))));
        match kind {
            NodeKind::Source(_) | NodeKind::Literal { .. } | NodeKind::Held { .. } => vec![],
            NodeKind::Elementwise { inputs, .. } | NodeKind::Custom { inputs, .. } => inputs,
            NodeKind::Transpose { input, .. }
            | NodeKind::Reduce { input, .. }
            | NodeKind::Rechunk { input } => vec![input],
            NodeKind::Persisted { input, hold } => {
                drop(hold);
                vec![input]
            }
        }
    }
}

impl Drop for Node {
    /// Free a long expression chain iteratively: the default recursive drop of nested
    /// `Arc<Node>`s would overflow the stack after some ten thousand operations.
    fn drop(&mut self) {
        let mut stack = self.kind.take_inputs();
        while let Some(node) = stack.pop() {
            if let Ok(mut node) = Arc::try_unwrap(node) {
                stack.extend(node.kind.take_inputs());
            }
        }
    }
}

/// Creation kinds.
pub(crate) enum Source {
    Full(Scalar),
    Arange { start: f64, step: f64 },
    Random { seed: u64, dist: RandomDist },
}

impl Array {
    pub(crate) fn from_node(node: Node) -> Array {
        Array {
            node: Ok(Arc::new(node)),
        }
    }

    pub(crate) fn from_result(r: Result<Array>) -> Array {
        r.unwrap_or_else(Array::invalid)
    }

    /// An array that only carries an error.
    pub(crate) fn invalid(e: Error) -> Array {
        Array { node: Err(e) }
    }

    pub(crate) fn node(&self) -> Result<&Arc<Node>> {
        self.node.as_ref().map_err(|e| e.clone())
    }

    pub(crate) fn wrap(node: Arc<Node>) -> Array {
        Array { node: Ok(node) }
    }

    /// `Ok` when the expression is valid, else the error found while building it.
    pub fn check(&self) -> Result<()> {
        self.node().map(|_| ())
    }

    /// The shape, or the build error.
    pub fn shape(&self) -> Result<&[usize]> {
        Ok(&self.node()?.shape)
    }

    /// Number of axes, or the build error.
    pub fn ndim(&self) -> Result<usize> {
        Ok(self.node()?.shape.len())
    }

    /// Number of elements, or the build error.
    pub fn size(&self) -> Result<usize> {
        Ok(self.node()?.shape.iter().product())
    }

    /// The element type, or the build error.
    pub fn dtype(&self) -> Result<DType> {
        Ok(self.node()?.dtype)
    }

    /// Chunk lengths per axis, or the build error.
    pub fn chunks(&self) -> Result<&ChunkGrid> {
        Ok(&self.node()?.chunks)
    }

    /// Number of chunks (tasks for the final layer), or the build error.
    pub fn num_chunks(&self) -> Result<usize> {
        Ok(self.node()?.chunks.iter().map(|c| c.len()).product())
    }

    /// The array's name (`group-token`): equal expressions have equal names.
    pub fn name(&self) -> Result<&str> {
        Ok(&self.node()?.name)
    }

    /// Sizes of this expression's task graph as written and after optimization (fusion of
    /// elementwise chains, culling of unneeded tasks, task fusion): what
    /// [`crate::Client::compute`] submits is `tasks_submitted` tasks.
    pub fn graph_stats(&self) -> Result<GraphStats> {
        Ok(lower::graph_stats(self.node()?))
    }

    /// Reverse the axes (NumPy's `.T`).
    pub fn t(&self) -> Array {
        match self.ndim() {
            Ok(n) => self.transpose(&(0..n).rev().collect::<Vec<_>>()),
            Err(e) => Array::invalid(e),
        }
    }

    /// Permute the axes: output axis `i` is input axis `axes[i]`.
    pub fn transpose(&self, axes: &[usize]) -> Array {
        Array::from_result(self.try_transpose(axes))
    }

    /// [`Array::transpose`], returning the error at once.
    pub fn try_transpose(&self, axes: &[usize]) -> Result<Array> {
        let node = self.node()?;
        let n = node.shape.len();
        let mut seen = vec![false; n];
        if axes.len() != n
            || axes
                .iter()
                .any(|&a| a >= n || std::mem::replace(&mut seen[a], true))
        {
            return Err(Error::shape(format!(
                "axes {axes:?} are not a permutation of the {n} axes of an array of shape {:?}",
                node.shape
            )));
        }
        if axes.iter().enumerate().all(|(i, &a)| i == a) {
            return Ok(self.clone());
        }
        let name = tessera_core::key::Tokenizer::new("transpose")
            .str(&node.name)
            .value(&axes)
            .finish();
        Ok(Array::from_node(Node {
            name,
            shape: axes.iter().map(|&a| node.shape[a]).collect(),
            chunks: axes.iter().map(|&a| node.chunks[a].clone()).collect(),
            dtype: node.dtype,
            kind: NodeKind::Transpose {
                input: node.clone(),
                axes: axes.to_vec(),
            },
        }))
    }
}

impl std::fmt::Debug for Array {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.node {
            Ok(n) => {
                let counts: Vec<usize> = n.chunks.iter().map(|c| c.len()).collect();
                write!(
                    f,
                    "tessera.Array<{}, shape={:?}, dtype={}, chunks={:?} per axis, chunk grid {:?}>",
                    n.name,
                    n.shape,
                    n.dtype,
                    n.chunks
                        .iter()
                        .map(|c| c.first().copied().unwrap_or(0))
                        .collect::<Vec<_>>(),
                    counts
                )
            }
            Err(e) => write!(f, "tessera.Array<invalid: {e}>"),
        }
    }
}
