//! User kernels: apply a Rust function registered by name in the worker binary to every
//! chunk (`map_blocks`). Workers that do not link the kernel err the task, naming it.

use super::chunks::{chunk_shape, grid_counts, grid_indices};
use super::lower::{LowerNode, TaskSink, nbytes};
use super::{Array, Node, NodeKind};
use std::sync::Arc;
use tessera_core::key::Tokenizer;
use tessera_core::ops::Op;
use tessera_core::{DType, Error, Result, TaskKey};

impl Array {
    /// Apply the kernel registered as `kernel` (see [`crate::register_kernel`]) to every
    /// chunk; the kernel must return a chunk of the same shape with dtype `dtype`.
    /// `args` reach the kernel unchanged.
    pub fn map_blocks(&self, kernel: &str, args: &[u8], dtype: DType) -> Array {
        Array::from_result(self.try_map_blocks(kernel, args, dtype))
    }

    /// [`Array::map_blocks`], returning a build error at once.
    pub fn try_map_blocks(&self, kernel: &str, args: &[u8], dtype: DType) -> Result<Array> {
        let node = self.node()?;
        if kernel.is_empty() || kernel.contains(['-', ':']) {
            return Err(Error::other(format!(
                "kernel name {kernel:?} must be non-empty and contain neither '-' nor ':'"
            )));
        }
        let name = Tokenizer::new(kernel)
            .str(&node.name)
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
                lowering: Box::new(MapBlocks {
                    kernel: kernel.to_string(),
                    args: args.to_vec(),
                }),
            },
        }))
    }
}

/// One `Op::Kernel` task per chunk, reading the input chunk at the same index.
struct MapBlocks {
    kernel: String,
    args: Vec<u8>,
}

impl LowerNode for MapBlocks {
    fn lower(&self, node: &Node, inputs: &[Arc<Node>], tasks: &mut TaskSink<'_>) {
        let op = Op::Kernel {
            name: self.kernel.clone(),
            args: self.args.clone(),
        };
        for ix in grid_indices(&grid_counts(&node.chunks)) {
            let hint = nbytes(node, &chunk_shape(&node.chunks, &ix));
            tasks.push(
                TaskKey::chunk(&node.name, &ix),
                &op,
                vec![TaskKey::chunk(&inputs[0].name, &ix)],
                hint,
            );
        }
    }
}
