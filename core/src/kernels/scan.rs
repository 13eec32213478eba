//! Scans along an axis (`cumsum`, `cumprod`, `nancumsum`, `nancumprod`): the per-chunk scan
//! started from a carry, and the carry into the next chunk (this chunk's total plus its own).

use super::dynarray::{DynArray, DynElement};
use crate::chunk::Chunk;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::ops::ScanKind;
use ndarray::{ArrayD, ArrayViewD, Axis, IxDyn, Zip};

/// Result element types of a scan (`int64` for bool and ints, else the float itself).
trait ScanElem: DynElement + std::ops::Add<Output = Self> + std::ops::Mul<Output = Self> {
    fn take(d: DynArray) -> Option<ArrayD<Self>>;
    fn combine(kind: ScanKind, a: Self, b: Self) -> Self;
    fn identity(kind: ScanKind) -> Self;
    /// NaN replaced by the identity for the NaN-ignoring kinds.
    fn clean(kind: ScanKind, x: Self) -> Self;
}

impl ScanElem for i64 {
    fn take(d: DynArray) -> Option<ArrayD<Self>> {
        match d {
            DynArray::I64(a) => Some(a),
            _ => None,
        }
    }
    #[inline(always)]
    fn combine(kind: ScanKind, a: i64, b: i64) -> i64 {
        match kind {
            ScanKind::Sum | ScanKind::NanSum => a.wrapping_add(b),
            ScanKind::Prod | ScanKind::NanProd => a.wrapping_mul(b),
        }
    }
    fn identity(kind: ScanKind) -> i64 {
        match kind {
            ScanKind::Sum | ScanKind::NanSum => 0,
            ScanKind::Prod | ScanKind::NanProd => 1,
        }
    }
    #[inline(always)]
    fn clean(_: ScanKind, x: i64) -> i64 {
        x
    }
}

macro_rules! scan_float {
    ($t:ty, $v:ident) => {
        impl ScanElem for $t {
            fn take(d: DynArray) -> Option<ArrayD<Self>> {
                match d {
                    DynArray::$v(a) => Some(a),
                    _ => None,
                }
            }
            #[inline(always)]
            fn combine(kind: ScanKind, a: $t, b: $t) -> $t {
                match kind {
                    ScanKind::Sum | ScanKind::NanSum => a + b,
                    ScanKind::Prod | ScanKind::NanProd => a * b,
                }
            }
            fn identity(kind: ScanKind) -> $t {
                match kind {
                    ScanKind::Sum | ScanKind::NanSum => 0.0,
                    ScanKind::Prod | ScanKind::NanProd => 1.0,
                }
            }
            #[inline(always)]
            fn clean(kind: ScanKind, x: $t) -> $t {
                if x.is_nan() && matches!(kind, ScanKind::NanSum | ScanKind::NanProd) {
                    Self::identity(kind)
                } else {
                    x
                }
            }
        }
    };
}
scan_float!(f32, F32);
scan_float!(f64, F64);

/// Check the op's inputs: one chunk and an optional carry of the result dtype whose shape
/// is the chunk's with `axis` of length 1. Returns the result dtype.
fn check(what: &str, axis: usize, inputs: &[Chunk]) -> Result<DType> {
    let (x, carry) = match inputs {
        [x] => (x, None),
        [x, c] => (x, Some(c)),
        _ => {
            return Err(Error::other(format!(
                "{what} takes 1 or 2 input chunks, got {}",
                inputs.len()
            )));
        }
    };
    if axis >= x.shape().len() {
        return Err(Error::shape(format!(
            "{what}: axis {axis} is out of range for a chunk of shape {:?}",
            x.shape()
        )));
    }
    let rd = x.dtype().sum_result();
    if let Some(c) = carry {
        let mut want = x.shape().to_vec();
        want[axis] = 1;
        if c.dtype() != rd || c.shape() != want.as_slice() {
            return Err(Error::shape(format!(
                "{what}: carry is {} {:?}, expected {rd} {want:?}",
                c.dtype(),
                c.shape()
            )));
        }
    }
    Ok(rd)
}

fn typed<R: ScanElem>(c: &Chunk) -> Result<ArrayD<R>> {
    R::take(DynArray::from_chunk(c)?.cast(R::DTYPE))
        .ok_or_else(|| Error::dtype(format!("scan: cannot read {} as {}", c.dtype(), R::DTYPE)))
}

/// `Op::Scan`: the running total of `inputs[0]` along `axis`, started from `inputs[1]`.
pub(crate) fn scan(kind: ScanKind, axis: usize, inputs: &[Chunk]) -> Result<Chunk> {
    match check("scan", axis, inputs)? {
        DType::I64 => scan_t::<i64>(kind, axis, inputs),
        DType::F32 => scan_t::<f32>(kind, axis, inputs),
        DType::F64 => scan_t::<f64>(kind, axis, inputs),
        d => Err(Error::dtype(format!("scan: no accumulator of dtype {d}"))),
    }
}

fn scan_t<R: ScanElem>(kind: ScanKind, axis: usize, inputs: &[Chunk]) -> Result<Chunk> {
    let mut out = typed::<R>(&inputs[0])?;
    out.mapv_inplace(|x| R::clean(kind, x));
    let len = out.shape()[axis];
    if len == 0 {
        return Ok(R::wrap(out).into_chunk());
    }
    if let Some(c) = inputs.get(1) {
        let carry = typed::<R>(c)?;
        Zip::from(out.index_axis_mut(Axis(axis), 0))
            .and(carry.index_axis(Axis(axis), 0))
            .for_each(|o, &c| *o = R::combine(kind, c, *o));
    }
    for i in 1..len {
        let (prev, mut cur) = out.view_mut().split_at(Axis(axis), i);
        Zip::from(cur.index_axis_mut(Axis(axis), 0))
            .and(prev.index_axis(Axis(axis), i - 1))
            .for_each(|o, &p| *o = R::combine(kind, p, *o));
    }
    Ok(R::wrap(out).into_chunk())
}

/// `Op::ScanCarry`: the total of `inputs[0]` along `axis` (kept as length 1), combined
/// with the carry `inputs[1]` into that chunk.
pub(crate) fn carry(kind: ScanKind, axis: usize, inputs: &[Chunk]) -> Result<Chunk> {
    match check("scan-carry", axis, inputs)? {
        DType::I64 => carry_t::<i64>(kind, axis, inputs),
        DType::F32 => carry_t::<f32>(kind, axis, inputs),
        DType::F64 => carry_t::<f64>(kind, axis, inputs),
        d => Err(Error::dtype(format!(
            "scan-carry: no accumulator of dtype {d}"
        ))),
    }
}

fn carry_t<R: ScanElem>(kind: ScanKind, axis: usize, inputs: &[Chunk]) -> Result<Chunk> {
    let x = typed::<R>(&inputs[0])?;
    let mut shape = x.shape().to_vec();
    shape[axis] = 1;
    let mut total = match inputs.get(1) {
        Some(c) => typed::<R>(c)?,
        None => super::dynarray::try_full(&shape, R::identity(kind))?,
    };
    {
        let mut t = total.index_axis_mut(Axis(axis), 0);
        let xv: ArrayViewD<'_, R> = x.view();
        for row in xv.axis_iter(Axis(axis)) {
            Zip::from(&mut t)
                .and(&row)
                .for_each(|t, &v| *t = R::combine(kind, *t, R::clean(kind, v)));
        }
    }
    let total = total
        .into_shape_with_order(IxDyn(&shape))
        .map_err(|e| Error::shape(e.to_string()))?;
    Ok(R::wrap(total).into_chunk())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn chunked_scan_with_carries_equals_the_whole_scan() {
        let a = array![[1i32, 2, 3, 4, 5], [6, 7, 8, 9, 10]].into_dyn();
        let whole = scan(ScanKind::Sum, 1, &[Chunk::from_ndarray(a.clone())]).unwrap();
        assert_eq!(whole.dtype(), DType::I64);
        let l = Chunk::from_ndarray(a.slice(ndarray::s![.., ..2]).to_owned().into_dyn());
        let r = Chunk::from_ndarray(a.slice(ndarray::s![.., 2..]).to_owned().into_dyn());
        let c = carry(ScanKind::Sum, 1, std::slice::from_ref(&l)).unwrap();
        assert_eq!(
            c.to_ndarray::<i64>().unwrap(),
            array![[3i64], [13]].into_dyn()
        );
        let right = scan(ScanKind::Sum, 1, &[r, c]).unwrap();
        assert_eq!(
            right.to_ndarray::<i64>().unwrap(),
            whole
                .to_ndarray::<i64>()
                .unwrap()
                .slice(ndarray::s![.., 2..])
                .to_owned()
                .into_dyn()
        );
    }

    #[test]
    fn nan_kinds_skip_nan_and_floats_keep_their_type() {
        let a = Chunk::from_ndarray(array![1.0f32, f32::NAN, 2.0].into_dyn());
        let s = scan(ScanKind::NanSum, 0, std::slice::from_ref(&a)).unwrap();
        assert_eq!(
            s.to_ndarray::<f32>().unwrap(),
            array![1.0f32, 1.0, 3.0].into_dyn()
        );
        let p = scan(ScanKind::Prod, 0, std::slice::from_ref(&a)).unwrap();
        let p = p.to_ndarray::<f32>().unwrap();
        assert_eq!(p[0], 1.0);
        assert!(p[1].is_nan() && p[2].is_nan());
        let b = Chunk::from_ndarray(array![true, false, true].into_dyn());
        let s = scan(ScanKind::Sum, 0, &[b]).unwrap();
        assert_eq!(
            s.to_ndarray::<i64>().unwrap(),
            array![1i64, 1, 2].into_dyn()
        );
    }

    #[test]
    fn hostile_scans_err() {
        let a = Chunk::from_ndarray(array![[1.0, 2.0]].into_dyn());
        assert!(scan(ScanKind::Sum, 2, std::slice::from_ref(&a)).is_err());
        assert!(scan(ScanKind::Sum, 0, &[]).is_err());
        assert!(scan(ScanKind::Sum, 0, &[a.clone(), a.clone(), a.clone()]).is_err());
        let bad_carry = Chunk::from_ndarray(array![[1i64, 2]].into_dyn());
        assert!(scan(ScanKind::Sum, 0, &[a.clone(), bad_carry]).is_err());
        let wrong_shape = Chunk::from_ndarray(array![[1.0]].into_dyn());
        assert!(scan(ScanKind::Sum, 0, &[a.clone(), wrong_shape.clone()]).is_err());
        assert!(carry(ScanKind::Sum, 0, &[a, wrong_shape]).is_err());
        let empty = Chunk::from_ndarray(ArrayD::<f64>::zeros(IxDyn(&[0, 3])));
        let c = carry(ScanKind::Prod, 0, std::slice::from_ref(&empty)).unwrap();
        assert_eq!(
            c.to_ndarray::<f64>().unwrap(),
            ArrayD::from_elem(IxDyn(&[1, 3]), 1.0)
        );
        assert_eq!(scan(ScanKind::Sum, 0, &[empty]).unwrap().shape(), &[0, 3]);
    }
}
