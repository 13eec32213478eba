//! Chunk grids: normalizing a chunk spec into per-axis chunk lengths, and walking a grid.
//! Pure arithmetic shared by array construction and graph lowering.

use tessera_core::{Error, Result};

/// Per-axis chunk lengths of an array, e.g. `[[2, 2, 1], [3]]` for shape `[5, 3]`.
pub type ChunkGrid = Vec<Vec<usize>>;

/// Most chunks an array may have (each becomes at least one task).
pub const MAX_CHUNKS: usize = 100_000_000;

/// Refuse shapes whose element count overflows and grids with too many chunks.
fn check_sizes(shape: &[usize], counts: impl Iterator<Item = usize>) -> Result<()> {
    shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| {
            Error::shape(format!(
                "shape {shape:?} has more elements than fit in memory addresses"
            ))
        })?;
    let chunks = counts.into_iter().try_fold(1usize, |acc, c| {
        acc.checked_mul(c).filter(|&n| n <= MAX_CHUNKS)
    });
    if chunks.is_none() {
        return Err(Error::Chunks(format!(
            "shape {shape:?} would be split into more than {MAX_CHUNKS} chunks; use larger chunks"
        )));
    }
    Ok(())
}

/// Split `shape` into blocks of `chunk_shape` (the last block of an axis may be shorter;
/// a zero-length axis has one empty chunk, as in Dask).
pub fn normalize_chunks(shape: &[usize], chunk_shape: &[usize]) -> Result<ChunkGrid> {
    if shape.len() != chunk_shape.len() {
        return Err(Error::Chunks(format!(
            "chunk shape {chunk_shape:?} has {} axes but the array shape {shape:?} has {}",
            chunk_shape.len(),
            shape.len()
        )));
    }
    if chunk_shape.contains(&0)
        && shape
            .iter()
            .zip(chunk_shape)
            .any(|(&n, &c)| c == 0 && n > 0)
    {
        let axis = shape
            .iter()
            .zip(chunk_shape)
            .position(|(&n, &c)| c == 0 && n > 0)
            .unwrap_or(0);
        return Err(Error::Chunks(format!(
            "chunk length 0 on axis {axis} of shape {shape:?} (chunks {chunk_shape:?}); chunks must be at least 1"
        )));
    }
    check_sizes(
        shape,
        shape
            .iter()
            .zip(chunk_shape)
            .map(|(&n, &c)| if n == 0 { 1 } else { n.div_ceil(c) }),
    )?;
    shape
        .iter()
        .zip(chunk_shape)
        .enumerate()
        .map(|(axis, (&n, &c))| {
            if n == 0 {
                return Ok(vec![0]);
            }
            if c == 0 {
                return Err(Error::Chunks(format!(
                    "chunk length 0 on axis {axis} of shape {shape:?} (chunks {chunk_shape:?}); chunks must be at least 1"
                )));
            }
            let c = c.min(n);
            let mut v = vec![c; n / c];
            if n % c != 0 {
                v.push(n % c);
            }
            Ok(v)
        })
        .collect()
}

/// Check explicit per-axis chunk lengths against a shape.
pub fn validate_grid(shape: &[usize], grid: &ChunkGrid) -> Result<()> {
    if shape.len() != grid.len() {
        return Err(Error::Chunks(format!(
            "chunks {grid:?} have {} axes but the shape {shape:?} has {}",
            grid.len(),
            shape.len()
        )));
    }
    check_sizes(shape, grid.iter().map(|lens| lens.len()))?;
    for (axis, (&n, lens)) in shape.iter().zip(grid).enumerate() {
        let total = lens.iter().try_fold(0usize, |acc, &l| acc.checked_add(l));
        if lens.is_empty() || total != Some(n) || (n > 0 && lens.contains(&0)) {
            return Err(Error::Chunks(format!(
                "chunks {lens:?} do not tile axis {axis} of length {n} (shape {shape:?})"
            )));
        }
    }
    Ok(())
}

/// Number of chunks along each axis.
pub fn grid_counts(grid: &ChunkGrid) -> Vec<usize> {
    grid.iter().map(|c| c.len()).collect()
}

/// Every chunk index of a grid with `counts` chunks per axis, in C order.
pub fn grid_indices(counts: &[usize]) -> Vec<Vec<usize>> {
    let total: usize = counts.iter().product();
    let mut out = Vec::with_capacity(total);
    if total == 0 {
        return out;
    }
    let mut idx = vec![0usize; counts.len()];
    for _ in 0..total {
        out.push(idx.clone());
        for axis in (0..counts.len()).rev() {
            idx[axis] += 1;
            if idx[axis] < counts[axis] {
                break;
            }
            idx[axis] = 0;
        }
    }
    out
}

/// Shape of the chunk at `index`.
pub fn chunk_shape(grid: &ChunkGrid, index: &[usize]) -> Vec<usize> {
    grid.iter().zip(index).map(|(lens, &i)| lens[i]).collect()
}

/// Start offset of each chunk along one axis (plus the total at the end).
pub fn offsets(lens: &[usize]) -> Vec<usize> {
    let mut out = Vec::with_capacity(lens.len() + 1);
    let mut acc = 0;
    out.push(0);
    for &l in lens {
        acc += l;
        out.push(acc);
    }
    out
}

/// Linear (C-order) position of `index` in a grid with `counts`.
pub fn linear_index(counts: &[usize], index: &[usize]) -> usize {
    index
        .iter()
        .zip(counts)
        .fold(0, |acc, (&i, &n)| acc * n + i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_handles_remainders_and_empty_axes() {
        assert_eq!(
            normalize_chunks(&[5, 3], &[2, 3]).unwrap(),
            vec![vec![2, 2, 1], vec![3]]
        );
        assert_eq!(
            normalize_chunks(&[0, 4], &[2, 10]).unwrap(),
            vec![vec![0], vec![4]]
        );
        assert!(normalize_chunks(&[5], &[0]).is_err());
        assert!(normalize_chunks(&[5], &[1, 1]).is_err());
    }

    #[test]
    fn grid_walks_in_c_order() {
        let idx = grid_indices(&[2, 3]);
        assert_eq!(idx.len(), 6);
        assert_eq!(idx[1], vec![0, 1]);
        assert_eq!(idx[3], vec![1, 0]);
        assert_eq!(linear_index(&[2, 3], &[1, 2]), 5);
        assert_eq!(grid_indices(&[]), vec![Vec::<usize>::new()]);
        assert_eq!(offsets(&[2, 2, 1]), vec![0, 2, 4, 5]);
    }

    #[test]
    fn huge_shapes_are_refused_not_allocated() {
        assert!(normalize_chunks(&[1 << 40], &[1]).is_err());
        assert!(normalize_chunks(&[1 << 40, 1 << 40, 0], &[1 << 40, 1 << 40, 1]).is_err());
        assert!(normalize_chunks(&[1 << 32, 1 << 32, 2], &[1 << 32, 1 << 32, 2]).is_err());
        assert!(validate_grid(&[usize::MAX], &vec![vec![usize::MAX, 1]]).is_err());
    }

    #[test]
    fn validate_grid_rejects_bad_tilings() {
        assert!(validate_grid(&[5], &vec![vec![2, 3]]).is_ok());
        assert!(validate_grid(&[5], &vec![vec![2, 2]]).is_err());
        assert!(validate_grid(&[5], &vec![vec![5, 0]]).is_err());
    }
}
