//! Array creation: constants, ranges, seeded random values and in-memory ndarrays.
//! Every function checks its shape and chunk spec when called.

use super::chunks::{chunk_shape, grid_counts, grid_indices, normalize_chunks};
use super::{Array, Node, NodeKind, Source};
use ndarray::{ArrayBase, Data, Dimension, IxDyn, SliceInfoElem};
use tessera_core::chunk::ChunkElement;
use tessera_core::key::Tokenizer;
use tessera_core::ops::RandomDist;
use tessera_core::{Chunk, DType, Element, Error, Result, Scalar};

fn source(
    group: &str,
    shape: &[usize],
    chunks: &[usize],
    dtype: DType,
    src: Source,
    token: Tokenizer,
) -> Result<Array> {
    let grid = normalize_chunks(shape, chunks)?;
    let name = token.value(&shape).value(&grid).value(&dtype).finish();
    debug_assert!(name.starts_with(group));
    Ok(Array::from_node(Node {
        name,
        shape: shape.to_vec(),
        chunks: grid,
        dtype,
        kind: NodeKind::Source(src),
    }))
}

/// An array of `shape` filled with `value`, in blocks of `chunks`.
pub fn full<T: Element>(shape: &[usize], chunks: &[usize], value: T) -> Array {
    full_scalar(shape, chunks, value.to_scalar())
}

fn full_scalar(shape: &[usize], chunks: &[usize], v: Scalar) -> Array {
    Array::from_result(source(
        "full",
        shape,
        chunks,
        v.dtype(),
        Source::Full(v),
        Tokenizer::new("full").value(&v),
    ))
}

/// An array of zeros.
pub fn zeros<T: Element>(shape: &[usize], chunks: &[usize]) -> Array {
    full(shape, chunks, T::default())
}

/// An array of ones.
pub fn ones<T: Element>(shape: &[usize], chunks: &[usize]) -> Array {
    full_scalar(shape, chunks, Scalar::I64(1).cast(T::DTYPE))
}

/// Evenly spaced values `start, start + step, ...` below `stop` (NumPy's `arange`),
/// 1-d, in chunks of `chunk` elements, of dtype `T`.
pub fn arange<T: Element>(start: f64, stop: f64, step: f64, chunk: usize) -> Array {
    Array::from_result((|| {
        if T::DTYPE == DType::Bool {
            return Err(Error::dtype("arange of bool is not supported"));
        }
        if step == 0.0 || !step.is_finite() || !start.is_finite() || !stop.is_finite() {
            return Err(Error::other(format!(
                "arange needs finite start, stop and a non-zero step (got {start}, {stop}, {step})"
            )));
        }
        let len = ((stop - start) / step).ceil().max(0.0);
        if len > (1u64 << 40) as f64 {
            return Err(Error::shape(format!(
                "arange({start}, {stop}, {step}) would have {len:e} elements"
            )));
        }
        let len = len as usize;
        let token = Tokenizer::new("arange").value(&(start, step));
        source(
            "arange",
            &[len],
            &[chunk],
            T::DTYPE,
            Source::Arange { start, step },
            token,
        )
    })())
}

/// Seeded uniform random floats in `[0, 1)` (`T` is `f64` or `f32`).
pub fn random<T: Element>(shape: &[usize], chunks: &[usize], seed: u64) -> Array {
    random_range::<T>(0.0, 1.0, shape, chunks, seed)
}

/// Seeded uniform random floats in `[low, high)` (`T` is `f64` or `f32`).
pub fn random_range<T: Element>(
    low: f64,
    high: f64,
    shape: &[usize],
    chunks: &[usize],
    seed: u64,
) -> Array {
    Array::from_result((|| {
        if !T::DTYPE.is_float() {
            return Err(Error::dtype(format!(
                "random draws floats; {} is not a float dtype (use randint for integers)",
                T::DTYPE
            )));
        }
        if !low.is_finite() || !high.is_finite() || low >= high {
            return Err(Error::other(format!(
                "random needs finite low < high, got [{low}, {high})"
            )));
        }
        let dist = RandomDist::Uniform { low, high };
        let token = Tokenizer::new("random").u64(seed).value(&dist);
        source(
            "random",
            shape,
            chunks,
            T::DTYPE,
            Source::Random { seed, dist },
            token,
        )
    })())
}

/// Seeded uniform random integers in `[low, high)` (`T` is `i64` or `i32`).
pub fn randint<T: Element>(
    low: i64,
    high: i64,
    shape: &[usize],
    chunks: &[usize],
    seed: u64,
) -> Array {
    Array::from_result((|| {
        if !T::DTYPE.is_int() {
            return Err(Error::dtype(format!(
                "randint draws integers; {} is not an integer dtype",
                T::DTYPE
            )));
        }
        if low >= high {
            return Err(Error::other(format!(
                "randint needs low < high, got [{low}, {high})"
            )));
        }
        if T::DTYPE == DType::I32 && (low < i32::MIN as i64 || high - 1 > i32::MAX as i64) {
            return Err(Error::dtype(format!("[{low}, {high}) does not fit int32")));
        }
        let dist = RandomDist::Integers { low, high };
        let token = Tokenizer::new("randint").u64(seed).value(&dist);
        source(
            "randint",
            shape,
            chunks,
            T::DTYPE,
            Source::Random { seed, dist },
            token,
        )
    })())
}

/// A chunked array holding a copy of `data`, split into blocks of `chunks`.
/// The chunks are put on workers when first computed; the name hashes the contents,
/// so the same data gives the same keys.
pub fn from_ndarray<T, S, D>(data: &ArrayBase<S, D>, chunks: &[usize]) -> Array
where
    T: ChunkElement,
    S: Data<Elem = T>,
    D: Dimension,
{
    Array::from_result((|| {
        let data = data.view().into_dyn();
        let shape = data.shape().to_vec();
        let grid = normalize_chunks(&shape, chunks)?;
        let mut tokenizer = Tokenizer::new("array")
            .value(&shape)
            .value(&grid)
            .value(&T::DTYPE);
        let mut pieces = Vec::new();
        for index in grid_indices(&grid_counts(&grid)) {
            let starts: Vec<usize> = index
                .iter()
                .enumerate()
                .map(|(axis, &i)| grid[axis][..i].iter().sum())
                .collect();
            let cshape = chunk_shape(&grid, &index);
            let info: Vec<SliceInfoElem> = starts
                .iter()
                .zip(&cshape)
                .map(|(&s, &l)| SliceInfoElem::Slice {
                    start: s as isize,
                    end: Some((s + l) as isize),
                    step: 1,
                })
                .collect();
            let block = data
                .slice(info.as_slice())
                .to_owned()
                .into_dimensionality::<IxDyn>()
                .expect("dyn");
            let chunk = Chunk::from_ndarray(block);
            for buffer in chunk.values().to_data().buffers() {
                tokenizer = tokenizer.bytes(buffer.as_slice());
            }
            pieces.push(chunk);
        }
        let name = tokenizer.u64(literal_nonce()).finish();
        Ok(Array::from_node(Node {
            name,
            shape,
            chunks: grid,
            dtype: T::DTYPE,
            kind: NodeKind::Literal {
                chunks: pieces,
                holds: Default::default(),
            },
        }))
    })())
}

/// A value no other literal array of any client gets: mixed into each `from_ndarray`
/// name so that every literal's keys are its own.
///
/// Content-derived keys alone raced: dropping an array releases its keys (the scheduler
/// then tells the holder to free them) while an equal array built next puts the same keys
/// again, and the late free deleted the fresh copy ("scattered data ... is lost"). Client
/// data has no lineage to share, so unique keys cost nothing but cross-array reuse.
fn literal_nonce() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEED: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let seed = *SEED.get_or_init(|| {
        // RandomState is seeded from the OS per process; add the pid and the time anyway.
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        if let Ok(t) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            h.write_u128(t.as_nanos());
        }
        h.finish()
    });
    seed ^ COUNTER
        .fetch_add(1, Ordering::Relaxed)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
}
