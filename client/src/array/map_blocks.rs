//! User kernels: apply a Rust function registered by name in the worker binary to every
//! chunk (`map_blocks`). Workers that do not link the kernel err the task, naming it.

use super::{Array, Node, NodeKind};
use tessera_core::key::Tokenizer;
use tessera_core::{DType, Error, Result};

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
            kind: NodeKind::MapBlocks {
                input: node.clone(),
                kernel: kernel.to_string(),
                args: args.to_vec(),
            },
        }))
    }
}
