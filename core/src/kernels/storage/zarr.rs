//! Zarr v3 array stores on a filesystem, through `zarrs`: opening and creating the array
//! metadata (`zarr.json`), and the kernels that read a region or write one store chunk.
//!
//! Arrays are written with the `bytes` and `zstd` codecs (zarr-python's defaults for v3)
//! and a fill value of zero (`false`), so chunks that are all zero are not stored at all.

use super::{
    StorageElement, check_dtype, check_region, with_storage_type, with_values, write_marker,
};
use crate::chunk::Chunk;
use crate::dtype::DType;
use crate::error::{Error, Result};
use ndarray::{ArrayD, IxDyn};
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;
use zarrs::array::data_type::{
    BoolDataType, Float32DataType, Float64DataType, Int32DataType, Int64DataType,
};
use zarrs::array::{ArrayBuilder, FillValue, data_type};
use zarrs::filesystem::FilesystemStore;

/// A filesystem Zarr array, opened with its metadata.
type StoreArray = zarrs::array::Array<FilesystemStore>;

/// What an existing Zarr array store holds.
#[derive(Clone, Debug, PartialEq)]
pub struct ZarrInfo {
    /// The array's shape.
    pub shape: Vec<usize>,
    /// Its element type.
    pub dtype: DType,
    /// Its chunk grid as per-axis chunk lengths, cut at the array's edge (an empty axis
    /// has one empty chunk, as in Tessera's grids).
    pub grid: Vec<Vec<usize>>,
}

fn open(path: &str) -> Result<StoreArray> {
    let store = FilesystemStore::new(path)
        .map_err(|e| Error::other(format!("cannot open the Zarr store {path}: {e}")))?;
    StoreArray::open(Arc::new(store), "/")
        .map_err(|e| Error::other(format!("cannot open the Zarr array at {path}: {e}")))
}

fn to_usize(path: &str, v: &[u64]) -> Result<Vec<usize>> {
    v.iter()
        .map(|&d| {
            usize::try_from(d)
                .map_err(|_| Error::shape(format!("{path}: dimension {d} does not fit in memory")))
        })
        .collect()
}

fn dtype_of(path: &str, array: &StoreArray) -> Result<DType> {
    let dt = array.data_type();
    Ok(if dt.is::<BoolDataType>() {
        DType::Bool
    } else if dt.is::<Int32DataType>() {
        DType::I32
    } else if dt.is::<Int64DataType>() {
        DType::I64
    } else if dt.is::<Float32DataType>() {
        DType::F32
    } else if dt.is::<Float64DataType>() {
        DType::F64
    } else {
        return Err(Error::dtype(format!(
            "{path}: Zarr data type {dt} is not supported (bool, int32, int64, float32, float64 are)"
        )));
    })
}

/// Open the Zarr v3 array at `path` and describe it; errs (naming the store) on missing or
/// malformed metadata and on data types Tessera does not hold.
pub fn zarr_info(path: &Path) -> Result<ZarrInfo> {
    let name = path.display().to_string();
    let array = open(&name)?;
    let shape = to_usize(&name, array.shape())?;
    crate::kernels::dynarray::checked_len(&shape)
        .map_err(|e| Error::shape(format!("{name}: {e}")))?;
    let dtype = dtype_of(&name, &array)?;
    let counts = to_usize(&name, array.chunk_grid_shape())?;
    if shape.contains(&0) {
        // No store chunk exists to ask about; an empty array needs one (empty) chunk.
        let grid = shape.iter().map(|&n| vec![n]).collect();
        return Ok(ZarrInfo { shape, dtype, grid });
    }
    let mut grid = Vec::with_capacity(shape.len());
    for axis in 0..shape.len() {
        let mut lens = Vec::with_capacity(counts[axis]);
        for c in 0..counts[axis] {
            let mut ix = vec![0u64; shape.len()];
            ix[axis] = c as u64;
            let sub = array
                .chunk_subset_bounded(&ix)
                .map_err(|e| Error::other(format!("{name}: chunk {ix:?}: {e}")))?;
            lens.push(sub.shape()[axis] as usize);
        }
        if lens.iter().sum::<usize>() != shape[axis] || lens.contains(&0) {
            return Err(Error::Chunks(format!(
                "{name}: the chunk grid {lens:?} does not tile axis {axis} of shape {shape:?}"
            )));
        }
        grid.push(lens);
    }
    Ok(ZarrInfo { shape, dtype, grid })
}

/// Write the metadata (`zarr.json`) of a new Zarr v3 array at `path` with a regular grid of
/// `chunk_shape` (every length at least 1), `bytes` + `zstd` codecs and a zero fill value.
/// `path` must not exist yet: a store is never overwritten.
pub fn zarr_create(
    path: &Path,
    shape: &[usize],
    dtype: DType,
    chunk_shape: &[usize],
) -> Result<()> {
    let name = path.display();
    if path.exists() {
        return Err(Error::other(format!(
            "{name} already exists; to_zarr writes new stores only"
        )));
    }
    if chunk_shape.len() != shape.len() || chunk_shape.contains(&0) {
        return Err(Error::Chunks(format!(
            "{name}: Zarr chunk shape {chunk_shape:?} must have one length of at least 1 per axis of shape {shape:?}"
        )));
    }
    let (data_type, fill) = match dtype {
        DType::Bool => (data_type::bool(), FillValue::from(false)),
        DType::I32 => (data_type::int32(), FillValue::from(0i32)),
        DType::I64 => (data_type::int64(), FillValue::from(0i64)),
        DType::F32 => (data_type::float32(), FillValue::from(0f32)),
        DType::F64 => (data_type::float64(), FillValue::from(0f64)),
    };
    std::fs::create_dir_all(path)
        .map_err(|e| Error::other(format!("cannot create the directory {name}: {e}")))?;
    let store = FilesystemStore::new(path)
        .map_err(|e| Error::other(format!("cannot open the Zarr store {name}: {e}")))?;
    let to_u64 = |v: &[usize]| v.iter().map(|&d| d as u64).collect::<Vec<u64>>();
    let array = ArrayBuilder::new(
        to_u64(shape),
        to_u64(chunk_shape).as_slice(),
        data_type,
        fill,
    )
    .bytes_to_bytes_codecs(vec![Arc::new(zarrs::array::codec::ZstdCodec::new(
        0, false,
    ))])
    .build(Arc::new(store), "/")
    .map_err(|e| Error::other(format!("cannot describe the Zarr array {name}: {e}")))?;
    array
        .store_metadata()
        .map_err(|e| Error::other(format!("cannot write the metadata of {name}: {e}")))
}

/// Open the store at `path` and check it still has `shape` and `dtype`.
fn open_checked(path: &str, shape: &[usize], dtype: DType) -> Result<StoreArray> {
    let array = open(path)?;
    let found = to_usize(path, array.shape())?;
    let found_dtype = dtype_of(path, &array)?;
    if found != shape || found_dtype != dtype {
        return Err(Error::other(format!(
            "{path} changed since the array was built: it holds {found_dtype} of shape {found:?}, expected {dtype} of shape {shape:?}"
        )));
    }
    Ok(array)
}

fn ranges_u64(region: &[Range<usize>]) -> Vec<Range<u64>> {
    region
        .iter()
        .map(|r| r.start as u64..r.end as u64)
        .collect()
}

/// `ZarrRead`: the region of the array, decoded from the store chunks it overlaps (missing
/// chunks read as the fill value).
pub(crate) fn read(
    path: &str,
    shape: &[usize],
    dtype: DType,
    region: &[Range<usize>],
) -> Result<Chunk> {
    let lens = check_region(path, shape, region)?;
    if lens.contains(&0) {
        return crate::kernels::DynArray::zeros(dtype, &lens).map(|a| a.into_chunk());
    }
    let array = open_checked(path, shape, dtype)?;
    with_storage_type!(dtype, T => read_typed::<T>(path, &array, region, &lens))
}

fn read_typed<T: StorageElement>(
    path: &str,
    array: &StoreArray,
    region: &[Range<usize>],
    lens: &[usize],
) -> Result<Chunk> {
    let ranges = ranges_u64(region);
    let values: Vec<T> = array
        .retrieve_array_subset::<Vec<T>>(&ranges.as_slice())
        .map_err(|e| Error::other(format!("{path}: cannot read region {region:?}: {e}")))?;
    let a = ArrayD::from_shape_vec(IxDyn(lens), values).map_err(|e| {
        Error::other(format!(
            "{path}: region {region:?} decoded to the wrong size: {e}"
        ))
    })?;
    Ok(T::wrap(a).into_chunk())
}

/// `ZarrWrite`: store `input` as chunk `chunk` (an edge chunk is padded with the fill value
/// by `zarrs`); the marker of the element bytes written.
pub(crate) fn write(
    path: &str,
    shape: &[usize],
    dtype: DType,
    chunk: &[usize],
    region: &[Range<usize>],
    input: &Chunk,
) -> Result<Chunk> {
    let lens = check_region(path, shape, region)?;
    check_dtype(path, input, dtype)?;
    if input.shape() != lens.as_slice() {
        return Err(Error::shape(format!(
            "{path}: a chunk of shape {:?} cannot fill region {region:?}",
            input.shape()
        )));
    }
    if lens.contains(&0) {
        // An empty array has no store chunks.
        return Ok(write_marker(region.len(), 0));
    }
    let array = open_checked(path, shape, dtype)?;
    let ix: Vec<u64> = chunk.iter().map(|&c| c as u64).collect();
    let bounded = array
        .chunk_subset_bounded(&ix)
        .map_err(|e| Error::other(format!("{path}: chunk {chunk:?}: {e}")))?;
    if bounded.to_ranges() != ranges_u64(region) {
        return Err(Error::Chunks(format!(
            "{path}: region {region:?} is not chunk {chunk:?} of the store, which covers {:?}",
            bounded.to_ranges()
        )));
    }
    let full = array
        .chunk_subset(&ix)
        .map_err(|e| Error::other(format!("{path}: chunk {chunk:?}: {e}")))?;
    let written = with_storage_type!(dtype, T => with_values::<T, u64>(input, |values| {
        let stored = if full == bounded {
            array.store_chunk(&ix, values)
        } else {
            array.store_array_subset(&bounded, values)
        };
        stored.map_err(|e| Error::other(format!("{path}: cannot write chunk {chunk:?}: {e}")))?;
        Ok((values.len() * T::SIZE) as u64)
    }))?;
    Ok(write_marker(region.len(), written))
}
