//! Storage: arrays read from and written to `.npy` files and Zarr v3 stores, each task on
//! its own region, so chunk bytes move only between the files and the workers.
//!
//! Reading builds one task per chunk that reads that chunk's region (the client reads only
//! the header or metadata, to learn shape and dtype). Writing first creates the file or
//! store metadata on the client, at once, the way Dask's `to_zarr` does; the returned
//! array then has one write task per chunk, each returning a tiny marker (the bytes it
//! wrote), so computing it moves no chunk bytes to the client or the scheduler. Paths must
//! be visible to every worker (a shared or local filesystem); relative paths are made
//! absolute on the client.

mod npy;
mod zarr;

pub use npy::{from_npy, try_from_npy};
pub use zarr::{from_zarr, from_zarr_chunks, try_from_zarr, try_from_zarr_chunks};

use super::chunks::{ChunkGrid, grid_counts, grid_indices, offsets};
use super::lower::{LowerNode, TaskSink, nbytes};
use super::{Array, Node, NodeKind};
use crate::Client;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tessera_core::kernels::storage::NpyHeader;
use tessera_core::key::Tokenizer;
use tessera_core::ops::Op;
use tessera_core::{DType, Error, Result, TaskKey};

/// The path made absolute (workers may run elsewhere in the tree), as UTF-8 text.
fn absolute(path: &Path) -> Result<(PathBuf, String)> {
    let abs = std::path::absolute(path)
        .map_err(|e| Error::other(format!("cannot resolve the path {}: {e}", path.display())))?;
    let text = abs
        .to_str()
        .ok_or_else(|| Error::other(format!("path {} is not UTF-8", abs.display())))?
        .to_string();
    Ok((abs, text))
}

/// Length and modification time of a file: part of a read's key, so that reading a file
/// that was rewritten is a new computation, not a stale cached result.
fn stamp(path: &Path) -> Result<(u64, u128)> {
    let meta = std::fs::metadata(path)
        .map_err(|e| Error::other(format!("cannot stat {}: {e}", path.display())))?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    Ok((meta.len(), mtime))
}

/// A value unique to one write call: writes are side effects, so two calls writing equal
/// arrays must be two computations (keys are otherwise derived from the expression alone).
fn write_nonce() -> u64 {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    t ^ (u64::from(std::process::id()) << 40) ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// The region of the array that chunk `ix` of `grid` covers.
fn chunk_region(grid: &ChunkGrid, ix: &[usize]) -> Vec<Range<usize>> {
    grid.iter()
        .zip(ix)
        .map(|(lens, &i)| {
            let off = offsets(lens);
            off[i]..off[i + 1]
        })
        .collect()
}

/// Which file or store a storage task touches.
#[derive(Clone)]
enum Target {
    Npy {
        path: String,
        header: NpyHeader,
    },
    Zarr {
        path: String,
        shape: Vec<usize>,
        dtype: DType,
    },
}

impl Target {
    fn read_op(&self, region: Vec<Range<usize>>) -> Op {
        match self.clone() {
            Target::Npy { path, header } => Op::NpyRead {
                path,
                header,
                region,
            },
            Target::Zarr { path, shape, dtype } => Op::ZarrRead {
                path,
                shape,
                dtype,
                region,
            },
        }
    }

    fn write_op(&self, ix: &[usize], region: Vec<Range<usize>>) -> Op {
        match self.clone() {
            Target::Npy { path, header } => Op::NpyWrite {
                path,
                header,
                region,
            },
            Target::Zarr { path, shape, dtype } => Op::ZarrWrite {
                path,
                shape,
                dtype,
                chunk: ix.to_vec(),
                region,
            },
        }
    }
}

/// One read task per chunk of the node, each reading its own region; no inputs.
struct ReadChunks(Target);

impl LowerNode for ReadChunks {
    fn lower(&self, node: &Node, _inputs: &[Arc<Node>], tasks: &mut TaskSink<'_>) {
        for ix in grid_indices(&grid_counts(&node.chunks)) {
            let region = chunk_region(&node.chunks, &ix);
            let shape: Vec<usize> = region.iter().map(|r| r.end - r.start).collect();
            let op = self.0.read_op(region);
            tasks.push(
                TaskKey::chunk(&node.name, &ix),
                &op,
                vec![],
                nbytes(node, &shape),
            );
        }
    }
}

/// One write task per chunk of the input, each writing it and returning a marker.
struct WriteChunks(Target);

impl LowerNode for WriteChunks {
    fn lower(&self, node: &Node, inputs: &[Arc<Node>], tasks: &mut TaskSink<'_>) {
        let data = &inputs[0];
        for ix in grid_indices(&grid_counts(&data.chunks)) {
            let op = self.0.write_op(&ix, chunk_region(&data.chunks, &ix));
            tasks.push(
                TaskKey::chunk(&node.name, &ix),
                &op,
                vec![TaskKey::chunk(&data.name, &ix)],
                8,
            );
        }
    }
}

/// An array read from `target`, split along `grid`.
fn read_array(
    name: String,
    shape: Vec<usize>,
    dtype: DType,
    grid: ChunkGrid,
    target: Target,
) -> Array {
    Array::from_node(Node {
        name,
        shape,
        chunks: grid,
        dtype,
        kind: NodeKind::Custom {
            inputs: vec![],
            lowering: Box::new(ReadChunks(target)),
        },
    })
}

/// The result of writing `data`'s chunks to `target`: an `int64` array with one element
/// per chunk of `data` (its shape is the chunk grid's), holding the bytes each task wrote.
fn write_array(group: &str, data: &Arc<Node>, path: &str, target: Target) -> Array {
    let counts = grid_counts(&data.chunks);
    let name = Tokenizer::new(group)
        .str(&data.name)
        .str(path)
        .u64(write_nonce())
        .finish();
    Array::from_node(Node {
        name,
        shape: counts.clone(),
        chunks: counts.iter().map(|&c| vec![1; c]).collect(),
        dtype: DType::I64,
        kind: NodeKind::Custom {
            inputs: vec![data.clone()],
            lowering: Box::new(WriteChunks(target)),
        },
    })
}

impl Client {
    /// Write `array` to a new `.npy` file at `path` (C order, little-endian), each worker
    /// writing its own chunks into the file; returns the number of data bytes written.
    pub fn to_npy(&self, array: &Array, path: impl AsRef<Path>) -> Result<u64> {
        self.run_writes(&array.try_to_npy(path)?)
    }

    /// Write `array` to a new Zarr v3 store at `path` with chunks of `chunks` (default: the
    /// array's own chunks when they form a regular grid), each worker writing its own store
    /// chunks; returns the number of (uncompressed) data bytes written.
    pub fn to_zarr(
        &self,
        array: &Array,
        path: impl AsRef<Path>,
        chunks: Option<&[usize]>,
    ) -> Result<u64> {
        self.run_writes(&array.try_to_zarr(path, chunks)?)
    }

    /// Compute a write array (from [`Array::to_npy`] or [`Array::to_zarr`]) and add up the
    /// bytes its tasks wrote: only the tasks' 8-byte markers reach the client.
    pub fn run_writes(&self, writes: &Array) -> Result<u64> {
        let written: ndarray::ArrayD<i64> = self.compute(writes)?;
        Ok(written.iter().map(|&b| b.max(0) as u64).sum())
    }
}
