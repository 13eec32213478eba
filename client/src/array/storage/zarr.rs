//! Zarr v3 stores as arrays: `from_zarr` opens the metadata on the client and reads one
//! region per task; `Array::to_zarr` writes the metadata and then one store chunk per task.

use super::{Target, absolute, read_array, stamp, write_array};
use crate::array::Array;
use crate::array::chunks::{ChunkGrid, normalize_chunks};
use std::path::Path;
use tessera_core::kernels::storage::{ZarrInfo, zarr_create, zarr_info};
use tessera_core::key::Tokenizer;
use tessera_core::{Error, Result};

/// The Zarr v3 array stored at `path`, chunked like the store.
pub fn from_zarr(path: impl AsRef<Path>) -> Array {
    Array::from_result(try_from_zarr(path))
}

/// [`from_zarr`], returning the error at once.
pub fn try_from_zarr(path: impl AsRef<Path>) -> Result<Array> {
    open(path.as_ref(), None)
}

/// The Zarr v3 array at `path` in blocks of `chunks`. Any chunking works: each task reads
/// its own region, decoding the store chunks it overlaps, so chunks that are whole
/// multiples of the store's read each store chunk once, and others read some twice.
pub fn from_zarr_chunks(path: impl AsRef<Path>, chunks: &[usize]) -> Array {
    Array::from_result(try_from_zarr_chunks(path, chunks))
}

/// [`from_zarr_chunks`], returning the error at once.
pub fn try_from_zarr_chunks(path: impl AsRef<Path>, chunks: &[usize]) -> Result<Array> {
    open(path.as_ref(), Some(chunks))
}

fn open(path: &Path, chunks: Option<&[usize]>) -> Result<Array> {
    let (abs, text) = absolute(path)?;
    let ZarrInfo { shape, dtype, grid } = zarr_info(&abs)?;
    let grid = match chunks {
        Some(c) => normalize_chunks(&shape, c)?,
        None => grid,
    };
    let name = Tokenizer::new("from-zarr")
        .str(&text)
        .value(&stamp(&abs.join("zarr.json"))?)
        .value(&shape)
        .value(&dtype)
        .value(&grid)
        .finish();
    Ok(read_array(
        name,
        shape.clone(),
        dtype,
        grid,
        Target::Zarr {
            path: text,
            shape,
            dtype,
        },
    ))
}

/// The regular chunk shape of a grid (every chunk but an axis's last has the first's
/// length, and the last is no longer), or `None` when the grid is irregular.
fn regular_chunk_shape(shape: &[usize], grid: &ChunkGrid) -> Option<Vec<usize>> {
    shape
        .iter()
        .zip(grid)
        .map(|(&n, lens)| {
            if n == 0 {
                return Some(1);
            }
            let first = lens[0];
            let (last, body) = lens.split_last()?;
            (body.iter().all(|&l| l == first) && *last <= first).then_some(first)
        })
        .collect()
}

impl Array {
    /// Write this array to a new Zarr v3 store at `path` (a directory that must not exist)
    /// in chunks of `chunks`, or of the array's own chunks when `None` and they form a
    /// regular grid (else of its largest chunk per axis). The array is rechunked to the
    /// store's grid first when they differ. The metadata (`zarr.json`) is written now; the
    /// returned array's tasks (one per store chunk, see [`crate::Client::run_writes`]) each
    /// write one chunk, compressed with zstd as zarr-python does by default.
    pub fn to_zarr(&self, path: impl AsRef<Path>, chunks: Option<&[usize]>) -> Array {
        Array::from_result(self.try_to_zarr(path, chunks))
    }

    /// [`Array::to_zarr`], returning the error at once.
    pub fn try_to_zarr(&self, path: impl AsRef<Path>, chunks: Option<&[usize]>) -> Result<Array> {
        let node = self.node()?;
        let (abs, text) = absolute(path.as_ref())?;
        let chunk_shape: Vec<usize> = match chunks {
            Some(c) => {
                normalize_chunks(&node.shape, c)?;
                c.iter().map(|&l| l.max(1)).collect()
            }
            None => regular_chunk_shape(&node.shape, &node.chunks).unwrap_or_else(|| {
                node.chunks
                    .iter()
                    .map(|lens| lens.iter().copied().max().unwrap_or(1).max(1))
                    .collect()
            }),
        };
        let grid = normalize_chunks(&node.shape, &chunk_shape)?;
        let data = if grid == node.chunks {
            self.clone()
        } else {
            self.rechunk(&chunk_shape)
        };
        let data_node = data.node()?;
        if data_node.chunks != grid {
            return Err(Error::Chunks(format!(
                "rechunking to the store's chunks {chunk_shape:?} gave chunks {:?}",
                data_node.chunks
            )));
        }
        zarr_create(&abs, &node.shape, node.dtype, &chunk_shape)?;
        Ok(write_array(
            "to-zarr",
            data_node,
            &text,
            super::Target::Zarr {
                path: text.clone(),
                shape: node.shape.clone(),
                dtype: node.dtype,
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_grids_are_recognised() {
        assert_eq!(
            regular_chunk_shape(&[5, 3], &vec![vec![2, 2, 1], vec![3]]),
            Some(vec![2, 3])
        );
        assert_eq!(regular_chunk_shape(&[5], &vec![vec![2, 3]]), None);
        assert_eq!(
            regular_chunk_shape(&[0, 2], &vec![vec![0], vec![2]]),
            Some(vec![1, 2])
        );
        assert_eq!(regular_chunk_shape(&[], &vec![]), Some(vec![]));
    }
}
