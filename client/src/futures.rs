//! Futures for computations running on the cluster: wait, check, fetch the result, or
//! stream completions in finishing order (`as_completed`).

use crate::array::Node;
use crate::array::chunks::{grid_counts, grid_indices, offsets};
use crate::client::{Client, KeyHold};
use futures::StreamExt;
use ndarray::{ArrayD, IxDyn, SliceInfoElem};
use std::sync::Arc;
use tessera_core::chunk::ChunkElement;
use tessera_core::{DType, Error, Result, TaskKey};

/// A computation submitted to the cluster; its chunks stay held while the future lives.
#[derive(Clone)]
pub struct ArrayFuture {
    client: Client,
    node: Arc<Node>,
    hold: Arc<KeyHold>,
}

impl ArrayFuture {
    pub(crate) fn new(client: Client, node: Arc<Node>, hold: Arc<KeyHold>) -> Self {
        ArrayFuture { client, node, hold }
    }

    /// Keys of the result's chunks, in C order.
    pub fn keys(&self) -> &[TaskKey] {
        self.hold.keys()
    }

    /// Shape of the result.
    pub fn shape(&self) -> &[usize] {
        &self.node.shape
    }

    /// Element type of the result.
    pub fn dtype(&self) -> DType {
        self.node.dtype
    }

    /// Whether every chunk is computed or something erred (never blocks).
    pub fn done(&self) -> bool {
        self.keys().iter().all(|k| self.client.key_done(k))
    }

    /// Block until every chunk is computed, or return the first task error.
    pub fn wait(&self) -> Result<()> {
        self.client.block_on(self.wait_async())
    }

    pub(crate) async fn wait_async(&self) -> Result<()> {
        for key in self.keys() {
            self.client.wait_key(key).await?;
        }
        Ok(())
    }

    /// Block until computed and fetch the result from the workers holding it.
    pub fn result<T: ChunkElement, D: ndarray::Dimension>(&self) -> Result<ndarray::Array<T, D>> {
        if T::DTYPE != self.node.dtype {
            return Err(Error::dtype(format!(
                "the array holds {}, but the result was asked as {}",
                self.node.dtype,
                T::DTYPE
            )));
        }
        let out = self.client.block_on(self.fetch::<T>())?;
        out.into_dimensionality::<D>().map_err(|_| {
            Error::shape(format!(
                "the result has {} axes (shape {:?}); ask for IxDyn or the matching dimension",
                self.node.shape.len(),
                self.node.shape
            ))
        })
    }

    async fn fetch<T: ChunkElement>(&self) -> Result<ArrayD<T>> {
        self.wait_async().await?;
        let client = &self.client;
        let chunks: Vec<_> = futures::stream::iter(self.keys().iter().map(|k| client.fetch_key(k)))
            .buffered(8)
            .collect()
            .await;
        let mut out = ArrayD::<T>::from_elem(IxDyn(&self.node.shape), T::default());
        let offs: Vec<Vec<usize>> = self.node.chunks.iter().map(|c| offsets(c)).collect();
        for (ix, chunk) in grid_indices(&grid_counts(&self.node.chunks))
            .iter()
            .zip(chunks)
        {
            let chunk = chunk?;
            let block = chunk.to_ndarray::<T>()?;
            let expected: Vec<usize> = ix
                .iter()
                .enumerate()
                .map(|(a, &i)| self.node.chunks[a][i])
                .collect();
            if block.shape() != expected.as_slice() {
                return Err(Error::shape(format!(
                    "chunk {ix:?} came back with shape {:?}, expected {expected:?}",
                    block.shape()
                )));
            }
            let info: Vec<SliceInfoElem> = ix
                .iter()
                .enumerate()
                .map(|(a, &i)| SliceInfoElem::Slice {
                    start: offs[a][i] as isize,
                    end: Some(offs[a][i + 1] as isize),
                    step: 1,
                })
                .collect();
            out.slice_mut(info.as_slice()).assign(&block);
        }
        Ok(out)
    }
}

/// Futures in the order they finish.
pub struct AsCompleted {
    client: Client,
    pending: Vec<ArrayFuture>,
}

impl AsCompleted {
    pub(crate) fn new(client: Client, pending: Vec<ArrayFuture>) -> Self {
        AsCompleted { client, pending }
    }
}

impl Iterator for AsCompleted {
    type Item = ArrayFuture;

    fn next(&mut self) -> Option<ArrayFuture> {
        if self.pending.is_empty() {
            return None;
        }
        let waits = self
            .pending
            .iter()
            .map(|f| Box::pin(async move { f.wait_async().await }))
            .collect::<Vec<_>>();
        let (_, index, _) = self.client.block_on(futures::future::select_all(waits));
        Some(self.pending.swap_remove(index))
    }
}
