//! `unique` of int and bool arrays: distinct values per chunk, merged in a tree, fetched as
//! one 1-d result whose length is only known once computed (hence a `Client` call).
//!
//! Dask marks such a length unknown (NaN chunks) and lets the array flow on; here the
//! result length is data-dependent, so `Client::compute_unique` computes and returns the
//! values directly (sorted ascending, as `np.unique` / `dask.array.unique`). Every merge
//! holds at most `DEFAULT_SPLIT_EVERY` inputs of distinct values, so memory per task is
//! bounded by the number of distinct values, not by the array size.

use super::chunks::{grid_counts, grid_indices};
use super::lower::{LowerNode, TaskSink, lower};
use super::reduce::DEFAULT_SPLIT_EVERY;
use super::{Array, Node, NodeKind};
use crate::client::Client;
use std::sync::Arc;
use tessera_core::chunk::ChunkElement;
use tessera_core::key::Tokenizer;
use tessera_core::ops::Op;
use tessera_core::{Error, Result, TaskKey};

impl Client {
    /// The distinct values of an int or bool `array`, ascending (NumPy's `unique`),
    /// computed on the cluster: distinct values of each chunk, merged in a tree of at most
    /// `DEFAULT_SPLIT_EVERY` inputs per task. A float array, or a `T` that is not the
    /// array's dtype, is refused naming both.
    pub fn compute_unique<T: ChunkElement>(&self, array: &Array) -> Result<ndarray::Array1<T>> {
        let node = unique_node(array)?;
        let key = TaskKey::chunk(&node.name, &[0]);
        let hold = self.block_on(self.submit_lowered(lower(&node)))?;
        let chunk = self.block_on(self.fetch_key(&key));
        drop(hold);
        chunk?
            .to_ndarray::<T>()?
            .into_dimensionality::<ndarray::Ix1>()
            .map_err(|e| Error::shape(format!("unique: the result is not 1-d: {e}")))
    }
}

/// The internal one-chunk node whose chunk is the unique values. Its declared shape is an
/// upper bound (the input's size): it is never wrapped as an `Array`, only lowered.
fn unique_node(array: &Array) -> Result<Arc<Node>> {
    let node = array.node()?;
    if node.dtype.is_float() {
        return Err(Error::dtype(format!(
            "unique needs an int or bool array, got {} of shape {:?}",
            node.dtype, node.shape
        )));
    }
    let size: usize = node.shape.iter().product();
    let name = Tokenizer::new("unique").str(&node.name).finish();
    Ok(Arc::new(Node {
        name,
        shape: vec![size],
        chunks: vec![vec![size]],
        dtype: node.dtype,
        kind: NodeKind::Custom {
            inputs: vec![node.clone()],
            lowering: Box::new(UniqueTree),
        },
    }))
}

/// Lowering: one `Unique` task per input chunk, merges of `DEFAULT_SPLIT_EVERY`, one root.
struct UniqueTree;

impl LowerNode for UniqueTree {
    fn lower(&self, node: &Node, inputs: &[Arc<Node>], tasks: &mut TaskSink<'_>) {
        let input = &inputs[0];
        let hint = node.dtype.itemsize() as u64;
        let partial = Tokenizer::new("unique-partial").str(&node.name).finish();
        let mut level: Vec<TaskKey> = grid_indices(&grid_counts(&input.chunks))
            .into_iter()
            .map(|ix| {
                let key = TaskKey::chunk(&partial, &ix);
                tasks.push(
                    key.clone(),
                    &Op::Unique,
                    vec![TaskKey::chunk(&input.name, &ix)],
                    hint,
                );
                key
            })
            .collect();
        let mut depth = 0u64;
        while level.len() > DEFAULT_SPLIT_EVERY {
            depth += 1;
            let layer = Tokenizer::new("unique-merge")
                .str(&node.name)
                .u64(depth)
                .finish();
            level = level
                .chunks(DEFAULT_SPLIT_EVERY)
                .enumerate()
                .map(|(g, group)| {
                    let key = TaskKey::chunk(&layer, &[g]);
                    tasks.push(key.clone(), &Op::Unique, group.to_vec(), hint);
                    key
                })
                .collect();
        }
        tasks.push(TaskKey::chunk(&node.name, &[0]), &Op::Unique, level, hint);
    }
}
