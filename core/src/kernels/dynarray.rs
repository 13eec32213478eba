//! Dtype-dispatched ndarrays: one enum arm per dtype, so a kernel matches on the dtype
//! once and then runs monomorphic ndarray code over whole arrays; plus size guards and casts.

use crate::chunk::{Chunk, ChunkElement};
use crate::dtype::DType;
use crate::error::{Error, Result};
use arrow_array::{Array, ArrayRef, BooleanArray};
use arrow_buffer::{BooleanBuffer, Buffer};
use ndarray::{ArrayD, ArrayViewD, CowArray, IxDyn};
use std::sync::Arc;

/// Largest number of elements a kernel will create in one chunk (2^40). Shapes beyond it
/// come from a bug or a hostile message, never from a chunk that fits in memory.
pub const MAX_CHUNK_ELEMENTS: usize = 1 << 40;

/// Largest number of axes a kernel accepts (the same limit the chunk decoder applies).
pub const MAX_NDIM: usize = 32;

/// Number of elements of `shape`, refusing shapes with too many axes or elements (also
/// when a zero-length axis would hide an overflowing product), so that no later
/// allocation or ndarray constructor can panic or abort on it.
pub fn checked_len(shape: &[usize]) -> Result<usize> {
    if shape.len() > MAX_NDIM {
        return Err(Error::shape(format!(
            "shape with {} axes exceeds the limit of {MAX_NDIM}",
            shape.len()
        )));
    }
    let mut nonzero: usize = 1;
    for &d in shape {
        if d != 0 {
            nonzero = nonzero
                .checked_mul(d)
                .filter(|&n| n <= MAX_CHUNK_ELEMENTS)
                .ok_or_else(|| {
                    Error::shape(format!(
                        "shape {shape:?} exceeds the limit of 2^40 elements per chunk"
                    ))
                })?;
        }
    }
    Ok(if shape.contains(&0) { 0 } else { nonzero })
}

/// A vector of `n` copies of `value`, reporting allocation failure as an error
/// instead of aborting the process.
pub fn try_filled<T: Clone>(n: usize, value: T) -> Result<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| {
        Error::other(format!(
            "cannot allocate {n} elements of {} bytes",
            std::mem::size_of::<T>()
        ))
    })?;
    v.resize(n, value);
    Ok(v)
}

/// A vector of `f(0), f(1), ..., f(n - 1)`, reporting allocation failure as an error.
pub fn try_from_fn<T>(n: usize, f: impl FnMut(usize) -> T) -> Result<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| {
        Error::other(format!(
            "cannot allocate {n} elements of {} bytes",
            std::mem::size_of::<T>()
        ))
    })?;
    v.extend((0..n).map(f));
    Ok(v)
}

/// An owned array of `shape` filled with `value`, after checking the shape's size.
pub fn try_full<T: Clone>(shape: &[usize], value: T) -> Result<ArrayD<T>> {
    let n = checked_len(shape)?;
    let v = try_filled(n, value)?;
    ArrayD::from_shape_vec(IxDyn(shape), v).map_err(|e| Error::shape(e.to_string()))
}

/// NumPy `astype` conversions between the element types.
///
/// Floats to ints truncate toward zero; out-of-range floats saturate and NaN becomes 0
/// (Rust's `as`; NumPy leaves these undefined). `int64 -> int32` wraps like NumPy.
/// Anything non-zero (NaN included) becomes `true`.
pub trait Cast: Copy {
    /// To `bool` (non-zero is true).
    fn to_bool(self) -> bool;
    /// To `i32`.
    fn to_i32(self) -> i32;
    /// To `i64`.
    fn to_i64(self) -> i64;
    /// To `f32`.
    fn to_f32(self) -> f32;
    /// To `f64`.
    fn to_f64(self) -> f64;
    /// From an `f64` (same rules as casting an `f64` array to this type).
    fn from_f64(v: f64) -> Self;
}

macro_rules! cast_num {
    ($t:ty) => {
        impl Cast for $t {
            #[inline(always)]
            fn to_bool(self) -> bool {
                self != (0 as $t)
            }
            #[inline(always)]
            fn to_i32(self) -> i32 {
                self as i32
            }
            #[inline(always)]
            fn to_i64(self) -> i64 {
                self as i64
            }
            #[inline(always)]
            fn to_f32(self) -> f32 {
                self as f32
            }
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn from_f64(v: f64) -> Self {
                v as $t
            }
        }
    };
}
cast_num!(i32);
cast_num!(i64);
cast_num!(f32);
cast_num!(f64);

impl Cast for bool {
    #[inline(always)]
    fn to_bool(self) -> bool {
        self
    }
    #[inline(always)]
    fn to_i32(self) -> i32 {
        self as i32
    }
    #[inline(always)]
    fn to_i64(self) -> i64 {
        self as i64
    }
    #[inline(always)]
    fn to_f32(self) -> f32 {
        self as u8 as f32
    }
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self as u8 as f64
    }
    #[inline(always)]
    fn from_f64(v: f64) -> Self {
        v != 0.0
    }
}

/// An element type a [`DynArray`] can hold: convertible to and from chunks and castable.
pub trait DynElement: ChunkElement + Cast {
    /// Wrap an owned array of this type.
    fn wrap(a: ArrayD<Self>) -> DynArray;
    /// Wrap a possibly borrowed array of this type.
    fn wrap_cow(a: CowArray<'_, Self, IxDyn>) -> DynCow<'_>;
    /// Read a chunk of this dtype (a view for numbers, unpacked for bools); errs on
    /// any other dtype.
    fn read(c: &Chunk) -> Result<CowArray<'_, Self, IxDyn>>;
}

macro_rules! dyn_element {
    ($t:ty, $v:ident, $c:ident => $read:expr) => {
        impl DynElement for $t {
            fn wrap(a: ArrayD<Self>) -> DynArray {
                DynArray::$v(a)
            }
            fn wrap_cow(a: CowArray<'_, Self, IxDyn>) -> DynCow<'_> {
                DynCow::$v(a)
            }
            fn read($c: &Chunk) -> Result<CowArray<'_, Self, IxDyn>> {
                Ok(CowArray::from($read))
            }
        }
    };
}
dyn_element!(bool, Bool, c => bool_ndarray(c)?);
dyn_element!(i32, I32, c => c.view::<i32>()?);
dyn_element!(i64, I64, c => c.view::<i64>()?);
dyn_element!(f32, F32, c => c.view::<f32>()?);
dyn_element!(f64, F64, c => c.view::<f64>()?);

/// An owned ndarray of any dtype.
#[derive(Clone, Debug, PartialEq)]
pub enum DynArray {
    /// `bool` elements.
    Bool(ArrayD<bool>),
    /// `int32` elements.
    I32(ArrayD<i32>),
    /// `int64` elements.
    I64(ArrayD<i64>),
    /// `float32` elements.
    F32(ArrayD<f32>),
    /// `float64` elements.
    F64(ArrayD<f64>),
}

/// A borrowed-or-owned ndarray of any dtype: numeric chunks are viewed without copying,
/// bool chunks (bit-packed in Arrow) are unpacked into an owned array.
#[derive(Debug)]
pub enum DynCow<'a> {
    /// `bool` elements.
    Bool(CowArray<'a, bool, IxDyn>),
    /// `int32` elements.
    I32(CowArray<'a, i32, IxDyn>),
    /// `int64` elements.
    I64(CowArray<'a, i64, IxDyn>),
    /// `float32` elements.
    F32(CowArray<'a, f32, IxDyn>),
    /// `float64` elements.
    F64(CowArray<'a, f64, IxDyn>),
}

/// Run `$body` with `$a` bound to the typed array inside any arm of a [`DynArray`] or
/// [`DynCow`] (`$e` names the enum); the body is compiled once per dtype.
macro_rules! with_dyn {
    ($v:expr, $e:ident, $a:ident => $body:expr) => {
        match $v {
            $e::Bool($a) => $body,
            $e::I32($a) => $body,
            $e::I64($a) => $body,
            $e::F32($a) => $body,
            $e::F64($a) => $body,
        }
    };
}

/// Unpack a bool chunk's bits into an owned ndarray.
pub fn bool_ndarray(c: &Chunk) -> Result<ArrayD<bool>> {
    let values = c
        .values()
        .as_any()
        .downcast_ref::<BooleanArray>()
        .ok_or_else(|| Error::dtype(format!("chunk holds {}, not bool", c.dtype())))?;
    let v: Vec<bool> = values.values().iter().collect();
    ArrayD::from_shape_vec(IxDyn(c.shape()), v).map_err(|e| Error::shape(e.to_string()))
}

/// Pack a bool ndarray into a chunk (one pass, straight into Arrow's bit layout).
fn bool_chunk(a: &ArrayD<bool>) -> Chunk {
    let n = a.len();
    let bits = match a.as_slice() {
        Some(s) => BooleanBuffer::collect_bool(n, |i| s[i]),
        None => {
            let v: Vec<bool> = a.iter().copied().collect();
            BooleanBuffer::collect_bool(n, |i| v[i])
        }
    };
    let values: ArrayRef = Arc::new(BooleanArray::new(bits, None));
    Chunk::new(a.shape().to_vec(), values).expect("length matches the shape")
}

/// A bool chunk of `shape` with every element `value`, allocated fallibly.
pub fn bool_full_chunk(shape: &[usize], value: bool) -> Result<Chunk> {
    let n = checked_len(shape)?;
    let bytes = try_filled(n.div_ceil(8), if value { 0xffu8 } else { 0 })?;
    let bits = BooleanBuffer::new(Buffer::from_vec(bytes), 0, n);
    let values: ArrayRef = Arc::new(BooleanArray::new(bits, None));
    Chunk::new(shape.to_vec(), values)
}

impl<'a> DynCow<'a> {
    /// View a chunk (zero-copy for numbers, unpacked for bools).
    pub fn from_chunk(c: &'a Chunk) -> Result<Self> {
        Ok(match c.dtype() {
            DType::Bool => DynCow::Bool(bool::read(c)?),
            DType::I32 => DynCow::I32(i32::read(c)?),
            DType::I64 => DynCow::I64(i64::read(c)?),
            DType::F32 => DynCow::F32(f32::read(c)?),
            DType::F64 => DynCow::F64(f64::read(c)?),
        })
    }

    /// The dtype of the elements.
    pub fn dtype(&self) -> DType {
        match self {
            DynCow::Bool(_) => DType::Bool,
            DynCow::I32(_) => DType::I32,
            DynCow::I64(_) => DType::I64,
            DynCow::F32(_) => DType::F32,
            DynCow::F64(_) => DType::F64,
        }
    }

    /// The array's shape.
    pub fn shape(&self) -> &[usize] {
        with_dyn!(self, DynCow, a => a.shape())
    }
}

impl DynArray {
    /// The dtype of the elements.
    pub fn dtype(&self) -> DType {
        match self {
            DynArray::Bool(_) => DType::Bool,
            DynArray::I32(_) => DType::I32,
            DynArray::I64(_) => DType::I64,
            DynArray::F32(_) => DType::F32,
            DynArray::F64(_) => DType::F64,
        }
    }

    /// The array's shape.
    pub fn shape(&self) -> &[usize] {
        with_dyn!(self, DynArray, a => a.shape())
    }

    /// Copy a chunk into an owned array.
    pub fn from_chunk(c: &Chunk) -> Result<Self> {
        Ok(match DynCow::from_chunk(c)? {
            DynCow::Bool(a) => DynArray::Bool(a.into_owned()),
            DynCow::I32(a) => DynArray::I32(a.into_owned()),
            DynCow::I64(a) => DynArray::I64(a.into_owned()),
            DynCow::F32(a) => DynArray::F32(a.into_owned()),
            DynCow::F64(a) => DynArray::F64(a.into_owned()),
        })
    }

    /// A zero-filled (`false` for bool) array of `dtype` and `shape`, allocated fallibly.
    pub fn zeros(dtype: DType, shape: &[usize]) -> Result<Self> {
        Ok(match dtype {
            DType::Bool => DynArray::Bool(try_full(shape, false)?),
            DType::I32 => DynArray::I32(try_full(shape, 0)?),
            DType::I64 => DynArray::I64(try_full(shape, 0)?),
            DType::F32 => DynArray::F32(try_full(shape, 0.0)?),
            DType::F64 => DynArray::F64(try_full(shape, 0.0)?),
        })
    }

    /// Cast to `dtype` like NumPy's `astype` (see [`Cast`]); free when the dtype is unchanged.
    pub fn cast(self, dtype: DType) -> DynArray {
        if self.dtype() == dtype {
            return self;
        }
        with_dyn!(self, DynArray, a => cast_array(a.view(), dtype))
    }

    /// Turn into a chunk (no copy for numeric arrays in standard layout).
    pub fn into_chunk(self) -> Chunk {
        match self {
            DynArray::Bool(a) => bool_chunk(&a),
            DynArray::I32(a) => Chunk::from_ndarray(a),
            DynArray::I64(a) => Chunk::from_ndarray(a),
            DynArray::F32(a) => Chunk::from_ndarray(a),
            DynArray::F64(a) => Chunk::from_ndarray(a),
        }
    }
}

/// Cast a typed view to `dtype` in one pass.
pub fn cast_array<T: Cast>(a: ArrayViewD<'_, T>, dtype: DType) -> DynArray {
    match dtype {
        DType::Bool => DynArray::Bool(a.mapv(T::to_bool)),
        DType::I32 => DynArray::I32(a.mapv(T::to_i32)),
        DType::I64 => DynArray::I64(a.mapv(T::to_i64)),
        DType::F32 => DynArray::F32(a.mapv(T::to_f32)),
        DType::F64 => DynArray::F64(a.mapv(T::to_f64)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn checked_len_refuses_hostile_shapes() {
        assert_eq!(checked_len(&[]).unwrap(), 1);
        assert_eq!(checked_len(&[3, 0, 5]).unwrap(), 0);
        assert_eq!(checked_len(&[2, 3]).unwrap(), 6);
        assert!(checked_len(&[usize::MAX, 2]).is_err());
        assert!(checked_len(&[0, usize::MAX, usize::MAX]).is_err());
        assert!(checked_len(&[1 << 20, 1 << 21]).is_err());
        assert!(checked_len(&[1; 33]).is_err());
    }

    #[test]
    fn bool_chunks_round_trip_through_bits() {
        let a = array![[true, false, true], [false, false, true]].into_dyn();
        let c = DynArray::Bool(a.clone()).into_chunk();
        assert_eq!(c.to_ndarray::<bool>().unwrap(), a);
        assert_eq!(bool_ndarray(&c).unwrap(), a);
        let t = DynArray::Bool(a.t().to_owned()).into_chunk();
        assert_eq!(t.to_ndarray::<bool>().unwrap(), a.t());
        let f = bool_full_chunk(&[3, 4], true).unwrap();
        assert!(f.to_ndarray::<bool>().unwrap().iter().all(|&b| b));
        assert_eq!(bool_full_chunk(&[0], false).unwrap().len(), 0);
    }

    #[test]
    fn casts_follow_astype() {
        let a = DynArray::F64(array![1.7, -1.7, 0.0, f64::NAN, 1e300].into_dyn());
        assert_eq!(
            a.clone().cast(DType::I32),
            DynArray::I32(array![1, -1, 0, 0, i32::MAX].into_dyn())
        );
        assert_eq!(
            a.cast(DType::Bool),
            DynArray::Bool(array![true, true, false, true, true].into_dyn())
        );
        let big = DynArray::I64(array![1i64 << 32 | 5].into_dyn());
        assert_eq!(big.cast(DType::I32), DynArray::I32(array![5].into_dyn()));
        let b = DynArray::Bool(array![true, false].into_dyn());
        assert_eq!(
            b.cast(DType::F32),
            DynArray::F32(array![1.0f32, 0.0].into_dyn())
        );
    }
}
